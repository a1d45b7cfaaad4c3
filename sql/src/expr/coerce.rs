//! Types of planned expressions and Postgres' coercion rules: implicit casts, common
//! types for CASE/UNION/comparisons, explicit and assignment casts, and constant folding.

use laaster_repr::strconv::parse_datum;
use laaster_repr::{ColumnType, Datum, Func, ScalarExpr, ScalarType};

use crate::error::PlanError;

/// A planned expression with its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Typed {
    pub expr: ScalarExpr,
    pub typ: ColumnType,
}

impl Typed {
    pub fn new(expr: ScalarExpr, scalar: ScalarType, nullable: bool) -> Typed {
        Typed {
            expr,
            typ: ColumnType::new(scalar, nullable),
        }
    }

    pub fn scalar(&self) -> &ScalarType {
        &self.typ.scalar
    }

    /// An untyped string literal (`'abc'` before context gives it a type).
    pub fn unknown_string(text: &str) -> Typed {
        Typed::new(
            ScalarExpr::literal(Datum::text(text), ScalarType::Text),
            ScalarType::Unknown,
            false,
        )
    }

    /// The untyped `NULL` literal.
    pub fn null() -> Typed {
        Typed::new(
            ScalarExpr::null(ScalarType::Unknown),
            ScalarType::Unknown,
            true,
        )
    }

    pub fn bool_literal(b: bool) -> Typed {
        Typed::new(
            ScalarExpr::literal(Datum::Bool(b), ScalarType::Bool),
            ScalarType::Bool,
            false,
        )
    }

    pub fn is_unknown(&self) -> bool {
        self.typ.scalar == ScalarType::Unknown
    }
}

/// Position of a numeric type in Postgres' promotion order.
fn numeric_rank(t: &ScalarType) -> Option<u8> {
    match t {
        ScalarType::Int16 => Some(0),
        ScalarType::Int32 => Some(1),
        ScalarType::Int64 => Some(2),
        ScalarType::Decimal { .. } => Some(3),
        ScalarType::Float32 => Some(4),
        ScalarType::Float64 => Some(5),
        _ => None,
    }
}

fn temporal_rank(t: &ScalarType) -> Option<u8> {
    match t {
        ScalarType::Date => Some(0),
        ScalarType::Timestamp => Some(1),
        ScalarType::TimestampTz => Some(2),
        _ => None,
    }
}

/// Whether Postgres converts `from` to `to` implicitly (in expressions).
pub fn can_implicit(from: &ScalarType, to: &ScalarType) -> bool {
    if from == &ScalarType::Unknown || from.same_base(to) {
        return true;
    }
    if let (Some(a), Some(b)) = (numeric_rank(from), numeric_rank(to)) {
        return a <= b;
    }
    if let (Some(a), Some(b)) = (temporal_rank(from), temporal_rank(to)) {
        return a <= b;
    }
    match (from, to) {
        (ScalarType::Array(a), ScalarType::Array(b)) => can_implicit(a, b),
        _ => from.is_string() && to.is_string(),
    }
}

/// Whether a value of `from` may be stored into a column of type `to`.
pub fn can_assign(from: &ScalarType, to: &ScalarType) -> bool {
    can_implicit(from, to)
        || (from.is_numeric() && to.is_numeric())
        || to.is_string()
        || (from.is_temporal() && to.is_temporal() && to != &ScalarType::Time)
        || matches!(
            (from, to),
            (
                ScalarType::Timestamp | ScalarType::TimestampTz,
                ScalarType::Time
            )
        )
}

/// Whether `CAST(from AS to)` exists.
pub fn can_explicit(from: &ScalarType, to: &ScalarType) -> bool {
    if can_assign(from, to) || from.is_string() {
        return true;
    }
    match (from, to) {
        (ScalarType::Bool, t) | (t, ScalarType::Bool) => t.is_integer(),
        (ScalarType::Jsonb, t) => t.is_numeric() || t == &ScalarType::Bool,
        (ScalarType::Interval, ScalarType::Time) | (ScalarType::Time, ScalarType::Interval) => true,
        (ScalarType::Array(a), ScalarType::Array(b)) => can_explicit(a, b),
        _ => false,
    }
}

/// The type both arguments of a comparison are converted to, if any.
pub fn comparison_type(left: &ScalarType, right: &ScalarType) -> Option<ScalarType> {
    match (left, right) {
        (ScalarType::Unknown, ScalarType::Unknown) => Some(ScalarType::Text),
        (ScalarType::Unknown, t) | (t, ScalarType::Unknown) => Some(t.base_for_compare()),
        _ => common_type(left, right),
    }
}

/// Postgres' common supertype of two known types (UNION, CASE, IN, comparisons).
pub fn common_type(left: &ScalarType, right: &ScalarType) -> Option<ScalarType> {
    if left == right {
        return Some(left.clone());
    }
    if left.same_base(right) {
        return Some(left.base());
    }
    if let (Some(a), Some(b)) = (numeric_rank(left), numeric_rank(right)) {
        // Mixed exact/float promotes to double precision.
        if (a >= 4 || b >= 4) && (a <= 3 || b <= 3) {
            return Some(ScalarType::Float64);
        }
        return Some(if a >= b { left.base() } else { right.base() });
    }
    if let (Some(a), Some(b)) = (temporal_rank(left), temporal_rank(right)) {
        return Some(if a >= b { left.clone() } else { right.clone() });
    }
    if left.is_string() && right.is_string() {
        return Some(ScalarType::Text);
    }
    match (left, right) {
        (ScalarType::Array(a), ScalarType::Array(b)) => {
            common_type(a, b).map(|t| ScalarType::Array(Box::new(t)))
        }
        _ => None,
    }
}

trait CompareBase {
    fn base_for_compare(&self) -> ScalarType;
}

impl CompareBase for ScalarType {
    fn base_for_compare(&self) -> ScalarType {
        match self {
            ScalarType::VarChar { .. } => ScalarType::Text,
            other => other.clone(),
        }
    }
}

/// The common type of many values (`context` names the construct for errors, e.g.
/// "CASE", "UNION", "COALESCE"). All-unknown resolves to text, like Postgres.
pub fn unify_types(types: &[&ScalarType], context: &str) -> Result<ScalarType, PlanError> {
    let mut result: Option<ScalarType> = None;
    for &t in types {
        if t == &ScalarType::Unknown {
            continue;
        }
        result = Some(match result {
            None => t.clone(),
            Some(current) => common_type(&current, t).ok_or_else(|| PlanError::TypeMismatch {
                context: context.to_string(),
                left: current.clone(),
                right: t.clone(),
            })?,
        });
    }
    Ok(result.unwrap_or(ScalarType::Text))
}

/// The preferred type of its category in Postgres (`typispreferred`).
fn is_preferred(t: &ScalarType) -> bool {
    matches!(
        t,
        ScalarType::Float64
            | ScalarType::Text
            | ScalarType::TimestampTz
            | ScalarType::Interval
            | ScalarType::Bool
    )
}

/// How a call resolved among overloads.
#[derive(Debug, PartialEq)]
pub enum Overload {
    /// The index of the chosen signature.
    Found(usize),
    /// No signature accepts the arguments ("function f(...) does not exist").
    None,
    /// Several signatures fit equally well ("function f(...) is not unique").
    Ambiguous,
}

/// Chooses among the signatures of an overloaded function like Postgres'
/// `func_select_candidate`: keep the signatures every argument converts to implicitly,
/// then (while more than one is left) those with the most exact type matches, then those
/// with the most exact-or-preferred matches at known arguments, then those taking a
/// preferred type at the `unknown` (string literal/NULL) arguments. So `power(float8,
/// numeric)` picks `(float8, float8)` (numeric converts implicitly to double, not the
/// other way), `power(int, numeric)` picks `(numeric, numeric)` and `power(int, int)`
/// picks the preferred `(float8, float8)`.
pub fn select_overload(args: &[&ScalarType], signatures: &[&[ScalarType]]) -> Overload {
    let mut candidates: Vec<usize> = (0..signatures.len())
        .filter(|&i| {
            let sig = signatures[i];
            sig.len() == args.len() && args.iter().zip(sig).all(|(a, t)| can_implicit(a, t))
        })
        .collect();
    /// Whether argument type `a` scores at parameter type `t`.
    type Score = fn(&ScalarType, &ScalarType) -> bool;
    fn known(a: &ScalarType) -> bool {
        a != &ScalarType::Unknown
    }
    let scores: [Score; 3] = [
        |a, t| known(a) && a.same_base(t),
        |a, t| known(a) && (a.same_base(t) || is_preferred(t)),
        |a, t| !known(a) && is_preferred(t),
    ];
    for score in scores {
        if candidates.len() <= 1 {
            break;
        }
        let count = |i: &usize| {
            args.iter()
                .zip(signatures[*i])
                .filter(|(a, t)| score(a, t))
                .count()
        };
        let best = candidates.iter().map(count).max().unwrap_or(0);
        candidates.retain(|i| count(i) == best);
    }
    match candidates.as_slice() {
        [] => Overload::None,
        [i] => Overload::Found(*i),
        _ => Overload::Ambiguous,
    }
}

/// Converts `value` to `to` implicitly; `Err` carries nothing: the caller words the error.
pub fn coerce(value: Typed, to: &ScalarType) -> Result<Typed, ()> {
    if value.scalar() == to {
        return Ok(value);
    }
    if !can_implicit(value.scalar(), to) {
        return Err(());
    }
    Ok(cast_unchecked(value, to))
}

/// Coerces, with a `TypeMismatch`-style error naming `context` on failure.
pub fn coerce_or(value: Typed, to: &ScalarType, context: &str) -> Result<Typed, PlanError> {
    let from = value.scalar().clone();
    coerce(value, to).map_err(|()| PlanError::TypeMismatch {
        context: context.to_string(),
        left: from,
        right: to.clone(),
    })
}

/// `CAST(value AS to)`: Postgres' explicit cast rules.
pub fn cast_explicit(value: Typed, to: &ScalarType) -> Result<Typed, PlanError> {
    if value.scalar() == to {
        return Ok(value);
    }
    if !can_explicit(value.scalar(), to) {
        return Err(PlanError::InvalidCast {
            from: value.scalar().clone(),
            to: to.clone(),
        });
    }
    Ok(cast_unchecked(value, to))
}

/// Inserts the cast (or retypes a literal) without checking that it is allowed.
pub fn cast_unchecked(value: Typed, to: &ScalarType) -> Typed {
    let nullable = value.typ.nullable;
    match value.expr {
        ScalarExpr::Literal(Datum::Null, _) => {
            Typed::new(ScalarExpr::null(to.clone()), to.clone(), true)
        }
        ScalarExpr::Literal(Datum::Text(text), _) if value.typ.scalar == ScalarType::Unknown => {
            match parse_datum(&text, to) {
                Ok(datum) => Typed::new(ScalarExpr::literal(datum, to.clone()), to.clone(), false),
                // Invalid input is reported when the expression is evaluated.
                Err(_) => Typed::new(
                    ScalarExpr::call1(
                        Func::Cast(to.clone()),
                        ScalarExpr::literal(Datum::Text(text), ScalarType::Text),
                    ),
                    to.clone(),
                    false,
                ),
            }
        }
        expr if value.typ.scalar.same_base(to)
            && !matches!(
                to,
                ScalarType::VarChar {
                    max_length: Some(_)
                } | ScalarType::Decimal {
                    precision: Some(_),
                    ..
                }
            ) =>
        {
            Typed::new(expr, to.clone(), nullable)
        }
        expr => fold(Typed::new(
            ScalarExpr::call1(Func::Cast(to.clone()), expr),
            to.clone(),
            nullable,
        )),
    }
}

/// Evaluates a constant expression now. A failing evaluation is left in place so the
/// error surfaces (as data) when the query runs, not while planning.
pub fn fold(value: Typed) -> Typed {
    if value.expr.is_literal()
        || value.typ.scalar == ScalarType::Unknown
        || !value.expr.is_constant()
    {
        return value;
    }
    let mut has_error = false;
    value
        .expr
        .visit(&mut |e| has_error |= matches!(e, ScalarExpr::Error(_)));
    if has_error {
        return value;
    }
    match value.expr.eval(&[]) {
        Ok(datum) => {
            let nullable = datum.is_null();
            Typed::new(
                ScalarExpr::literal(datum, value.typ.scalar.clone()),
                value.typ.scalar,
                nullable,
            )
        }
        Err(_) => value,
    }
}

/// Resolves an expression left `unknown` (a bare string literal or NULL) to text.
pub fn resolve_unknown(value: Typed) -> Typed {
    if value.is_unknown() {
        cast_unchecked(value, &ScalarType::Text)
    } else {
        value
    }
}

/// Requires a boolean (Postgres: "argument of WHERE must be type boolean").
pub fn require_bool(value: Typed, construct: &str) -> Result<Typed, PlanError> {
    match value.scalar() {
        ScalarType::Bool => Ok(value),
        ScalarType::Unknown => Ok(cast_unchecked(value, &ScalarType::Bool)),
        other => Err(PlanError::Response(laaster_repr::ErrorResponse::new(
            "42804",
            format!("argument of {construct} must be type boolean, not type {other}"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOAT_OR_NUMERIC: &[&[ScalarType]] = &[
        &[ScalarType::Float64, ScalarType::Float64],
        &[ScalarType::NUMERIC, ScalarType::NUMERIC],
    ];

    fn power(left: ScalarType, right: ScalarType) -> Overload {
        select_overload(&[&left, &right], FLOAT_OR_NUMERIC)
    }

    #[test]
    fn overloads_resolve_like_postgres() {
        use ScalarType as T;
        let numeric = || T::Decimal {
            precision: Some(3),
            scale: Some(1),
        };
        // numeric converts implicitly to double precision, never the other way.
        assert_eq!(power(T::Float64, numeric()), Overload::Found(0));
        assert_eq!(power(numeric(), T::Float32), Overload::Found(0));
        // An exact match wins over a conversion to the preferred type.
        assert_eq!(power(T::Int32, numeric()), Overload::Found(1));
        assert_eq!(power(numeric(), T::NUMERIC), Overload::Found(1));
        // Otherwise the preferred type of the category (double precision) wins.
        assert_eq!(power(T::Int32, T::Int64), Overload::Found(0));
        assert_eq!(power(T::Unknown, T::Unknown), Overload::Found(0));
        assert_eq!(power(T::Unknown, T::NUMERIC), Overload::Found(1));
        assert_eq!(power(T::Text, T::Int32), Overload::None);
        let ints: &[&[ScalarType]] = &[
            &[T::Int16, T::Int16],
            &[T::Int32, T::Int32],
            &[T::Int64, T::Int64],
        ];
        assert_eq!(
            select_overload(&[&T::Int16, &T::Int64], ints),
            Overload::Found(2)
        );
        assert_eq!(
            select_overload(&[&T::Int16, &T::Int32], ints),
            Overload::Found(1)
        );
        assert_eq!(
            select_overload(&[&T::Float64, &T::Int32], ints),
            Overload::None
        );
        assert_eq!(
            select_overload(&[&T::Unknown, &T::Unknown], ints),
            Overload::Ambiguous
        );
    }
}
