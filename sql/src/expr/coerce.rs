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
        (ScalarType::Record(a), ScalarType::Record(b)) => fields_convert(a, b, can_implicit),
        _ => from.is_string() && to.is_string(),
    }
}

/// Whether two records have as many fields and each field of `from` converts to the
/// field of `to` at the same position (names do not matter, as for Postgres' anonymous
/// `record`).
fn fields_convert(
    from: &[(String, ScalarType)],
    to: &[(String, ScalarType)],
    convert: fn(&ScalarType, &ScalarType) -> bool,
) -> bool {
    from.len() == to.len() && from.iter().zip(to).all(|((_, a), (_, b))| convert(a, b))
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
        || matches!((from, to), (ScalarType::Record(a), ScalarType::Record(b))
            if fields_convert(a, b, can_assign))
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
        (ScalarType::Record(a), ScalarType::Record(b)) => fields_convert(a, b, can_explicit),
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
        (ScalarType::Record(a), ScalarType::Record(b)) if a.len() == b.len() => {
            // Field by field; a field still `unknown` (a string literal or NULL in a row
            // constructor) takes the other side's type. The names of a row constructor
            // (`f1`, `f2`, ...) give way to real ones.
            let names = if is_anonymous(a) { b } else { a };
            a.iter()
                .zip(b)
                .zip(names)
                .map(|(((_, x), (_, y)), (name, _))| {
                    let field = match (x, y) {
                        (ScalarType::Unknown, t) | (t, ScalarType::Unknown) => Some(t.clone()),
                        _ => common_type(x, y),
                    };
                    field.map(|t| (name.clone(), t))
                })
                .collect::<Option<Vec<_>>>()
                .map(ScalarType::Record)
        }
        _ => None,
    }
}

/// Whether a record's fields carry the default names of a row constructor (`f1`, ...).
fn is_anonymous(fields: &[(String, ScalarType)]) -> bool {
    fields
        .iter()
        .enumerate()
        .all(|(i, (name, _))| *name == format!("f{}", i + 1))
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
    if let (ScalarType::Record(from), ScalarType::Record(fields)) = (value.scalar(), to) {
        if from.len() == fields.len() && !can_explicit(value.scalar(), to) {
            return Err(PlanError::InvalidCast {
                from: resolve_unknown_type(value.scalar()),
                to: to.clone(),
            });
        }
        return cast_record(value, to, &cast_explicit);
    }
    if !can_explicit(value.scalar(), to) {
        return Err(PlanError::InvalidCast {
            from: value.scalar().clone(),
            to: to.clone(),
        });
    }
    Ok(cast_unchecked(value, to))
}

/// Converts a record to another record type field by field, each field with
/// `cast_field` (an explicit or an assignment cast), so nested records, `varchar(n)`
/// fields and string literals in row constructors follow the same rules as top-level
/// values. A row constructor is rebuilt from its converted fields; any other record
/// value is taken apart with `RecordGet` (a NULL record stays NULL).
pub(crate) fn cast_record(
    value: Typed,
    to: &ScalarType,
    cast_field: &dyn Fn(Typed, &ScalarType) -> Result<Typed, PlanError>,
) -> Result<Typed, PlanError> {
    let (ScalarType::Record(from_fields), ScalarType::Record(to_fields)) = (value.scalar(), to)
    else {
        return cast_field(value, to);
    };
    if from_fields.len() != to_fields.len() {
        let detail = if from_fields.len() > to_fields.len() {
            "Input has too many columns."
        } else {
            "Input has too few columns."
        };
        return Err(PlanError::Response(
            laaster_repr::ErrorResponse::new(
                "42846",
                format!(
                    "cannot cast type {} to {to}",
                    resolve_unknown_type(value.scalar())
                ),
            )
            .with_detail(detail),
        ));
    }
    let constructor = super::operator::row_constructor_fields(&value);
    let is_constructor = constructor.is_some();
    let fields: Vec<Typed> = match constructor {
        Some(fields) => fields,
        None => from_fields
            .iter()
            .enumerate()
            .map(|(i, (_, typ))| {
                Typed::new(
                    ScalarExpr::call1(Func::RecordGet(i), value.expr.clone()),
                    typ.clone(),
                    true,
                )
            })
            .collect(),
    };
    let cast = fields
        .into_iter()
        .zip(to_fields)
        .map(|(field, (_, typ))| cast_field(field, typ).map(|t| t.expr))
        .collect::<Result<Vec<_>, _>>()?;
    let record = ScalarExpr::call(Func::MakeRecord, cast);
    let expr = if is_constructor {
        record
    } else {
        ScalarExpr::If {
            cond: Box::new(ScalarExpr::call1(Func::IsNull, value.expr.clone())),
            then: Box::new(ScalarExpr::null(to.clone())),
            els: Box::new(record),
        }
    };
    let nullable = !is_constructor && value.typ.nullable;
    Ok(fold(Typed::new(expr, to.clone(), nullable)))
}

/// The type with `unknown` fields of records (string literals and NULLs in row
/// constructors) resolved to text, as Postgres does when a row is output.
pub fn resolve_unknown_type(typ: &ScalarType) -> ScalarType {
    match typ {
        ScalarType::Unknown => ScalarType::Text,
        ScalarType::Record(fields) => ScalarType::Record(
            fields
                .iter()
                .map(|(name, t)| (name.clone(), resolve_unknown_type(t)))
                .collect(),
        ),
        ScalarType::Array(element) => ScalarType::Array(Box::new(resolve_unknown_type(element))),
        other => other.clone(),
    }
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

/// Resolves an expression left `unknown` (a bare string literal or NULL) to text, and
/// the `unknown` fields of a record (a row constructor's string literals and NULLs): their
/// values are already text or NULL, so only the type changes.
pub fn resolve_unknown(value: Typed) -> Typed {
    if value.is_unknown() {
        cast_unchecked(value, &ScalarType::Text)
    } else if matches!(value.scalar(), ScalarType::Record(_)) {
        let typ = resolve_unknown_type(value.scalar());
        retype(value, typ)
    } else {
        value
    }
}

/// `value` with its type replaced (the values stay as they are).
fn retype(value: Typed, scalar: ScalarType) -> Typed {
    let expr = match value.expr {
        ScalarExpr::Literal(datum, _) => ScalarExpr::literal(datum, scalar.clone()),
        expr => expr,
    };
    Typed::new(expr, scalar, value.typ.nullable)
}

/// Resolves only a top-level `unknown` to text; records keep their `unknown` fields (so
/// an INSERT can still read `ROW('2024-01-01', 1)` into a row with a date field).
pub fn resolve_unknown_shallow(value: Typed) -> Typed {
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
