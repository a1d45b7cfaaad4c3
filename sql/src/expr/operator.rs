//! Binary operators: logic, comparison, arithmetic (with Postgres' numeric promotion and
//! date/time rules), `||` and jsonb access.

use laaster_repr::{Datum, Func, ScalarExpr, ScalarType};
use sqlparser::ast::{self, BinaryOperator as Op};

use super::coerce::{Typed, cast_unchecked, common_type, fold, require_bool};
use super::{ExprCx, comparable, response, to_text, unsupported};
use crate::error::PlanError;
use crate::query::Planner;

impl Planner<'_> {
    pub(super) fn plan_binary(
        &self,
        cx: &mut ExprCx,
        left: &ast::Expr,
        op: &Op,
        right: &ast::Expr,
    ) -> Result<Typed, PlanError> {
        match op {
            Op::And | Op::Or => {
                let name = if matches!(op, Op::And) { "AND" } else { "OR" };
                let l = require_bool(self.plan_expr(cx, left)?, name)?;
                let r = require_bool(self.plan_expr(cx, right)?, name)?;
                let nullable = l.typ.nullable || r.typ.nullable;
                let mut args = Vec::new();
                for value in [l.expr, r.expr] {
                    match (op, value) {
                        (Op::And, ScalarExpr::And(inner)) | (Op::Or, ScalarExpr::Or(inner)) => {
                            args.extend(inner)
                        }
                        (_, other) => args.push(other),
                    }
                }
                let expr = if matches!(op, Op::And) {
                    ScalarExpr::And(args)
                } else {
                    ScalarExpr::Or(args)
                };
                Ok(fold(Typed::new(expr, ScalarType::Bool, nullable)))
            }
            Op::Eq | Op::NotEq | Op::Lt | Op::LtEq | Op::Gt | Op::GtEq => {
                let l = self.plan_expr(cx, left)?;
                let r = self.plan_expr(cx, right)?;
                compare(op, l, r)
            }
            Op::Plus | Op::Minus | Op::Multiply | Op::Divide | Op::Modulo => {
                let l = self.plan_expr(cx, left)?;
                let r = self.plan_expr(cx, right)?;
                arithmetic(op, l, r)
            }
            Op::StringConcat => {
                let l = self.plan_expr(cx, left)?;
                let r = self.plan_expr(cx, right)?;
                concat(l, r)
            }
            Op::Arrow | Op::LongArrow => {
                let l = self.plan_expr(cx, left)?;
                let r = self.plan_expr(cx, right)?;
                jsonb_get(l, r, matches!(op, Op::LongArrow))
            }
            Op::PGLikeMatch | Op::PGILikeMatch | Op::PGNotLikeMatch | Op::PGNotILikeMatch => {
                let l = to_text(self.plan_expr(cx, left)?, "~~")?;
                let r = to_text(self.plan_expr(cx, right)?, "~~")?;
                let case_insensitive = matches!(op, Op::PGILikeMatch | Op::PGNotILikeMatch);
                let mut expr = ScalarExpr::call2(Func::Like { case_insensitive }, l.expr, r.expr);
                if matches!(op, Op::PGNotLikeMatch | Op::PGNotILikeMatch) {
                    expr = ScalarExpr::call1(Func::Not, expr);
                }
                Ok(fold(Typed::new(
                    expr,
                    ScalarType::Bool,
                    l.typ.nullable || r.typ.nullable,
                )))
            }
            Op::PGRegexMatch | Op::PGRegexIMatch | Op::PGRegexNotMatch | Op::PGRegexNotIMatch => {
                Err(unsupported(
                    format!("operator {op}"),
                    Some("Use regexp_match(text, pattern) IS NOT NULL."),
                ))
            }
            other => Err(unsupported(format!("operator {other}"), None)),
        }
    }
}

/// The Func of a comparison operator.
pub(crate) fn comparison_func(op: &Op) -> Option<Func> {
    Some(match op {
        Op::Eq => Func::Eq,
        Op::NotEq => Func::NotEq,
        Op::Lt => Func::Lt,
        Op::LtEq => Func::Lte,
        Op::Gt => Func::Gt,
        Op::GtEq => Func::Gte,
        _ => return None,
    })
}

/// `l op r` for a comparison operator. Two row constructors compare field by field
/// (see [`compare_rows`]); any other values, records included, compare as one value.
pub(crate) fn compare(op: &Op, l: Typed, r: Typed) -> Result<Typed, PlanError> {
    if let (Some(lf), Some(rf)) = (row_constructor_fields(&l), row_constructor_fields(&r)) {
        return compare_rows(op, lf, rf);
    }
    compare_values(op, l, r)
}

/// The fields of a row constructor (`ROW(a, b)` / `(a, b)`, possibly folded to a record
/// literal). `None` for any other expression, including record-typed columns.
pub(crate) fn row_constructor_fields(value: &Typed) -> Option<Vec<Typed>> {
    let ScalarType::Record(types) = value.scalar() else {
        return None;
    };
    match &value.expr {
        ScalarExpr::Call {
            func: Func::MakeRecord,
            args,
        } if args.len() == types.len() => Some(
            args.iter()
                .zip(types)
                .map(|(arg, (_, typ))| Typed::new(arg.clone(), typ.clone(), true))
                .collect(),
        ),
        ScalarExpr::Literal(Datum::Record(fields), _) if fields.len() == types.len() => Some(
            fields
                .iter()
                .zip(types)
                .map(|(datum, (_, typ))| {
                    Typed::new(
                        ScalarExpr::literal(datum.clone(), typ.clone()),
                        typ.clone(),
                        datum.is_null(),
                    )
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Compares two row constructors field-wise with three-valued logic, as Postgres does
/// (`make_row_comparison_op`): `=` is the AND of the fields' `=`, `<>` the OR of their
/// `<>`, and `<`, `<=`, `>`, `>=` are decided by the first pair of fields that is not
/// equal (NULL if that pair holds a NULL). So `ROW(1, NULL) = ROW(1, NULL)` is NULL,
/// unlike the comparison of two record *values* (`record_eq`, where NULL fields are
/// equal). Fields compare as values: nested row constructors are not expanded.
fn compare_rows(op: &Op, l: Vec<Typed>, r: Vec<Typed>) -> Result<Typed, PlanError> {
    if l.len() != r.len() {
        return Err(response(
            "42601",
            "unequal number of entries in row expressions",
        ));
    }
    if l.is_empty() {
        return Err(unsupported("comparison of empty rows", None));
    }
    let mut fields: Vec<Typed> = Vec::new();
    match op {
        Op::Eq | Op::NotEq => {
            for (a, b) in l.into_iter().zip(r) {
                fields.push(compare_values(op, a, b)?);
            }
            let nullable = fields.iter().any(|f| f.typ.nullable);
            let exprs = fields.into_iter().map(|f| f.expr).collect();
            let expr = if matches!(op, Op::Eq) {
                ScalarExpr::And(exprs)
            } else {
                ScalarExpr::Or(exprs)
            };
            Ok(fold(Typed::new(expr, ScalarType::Bool, nullable)))
        }
        _ => {
            // Built from the last field backwards: a field pair that is equal defers to
            // the rest; otherwise (unequal, or NULL) the strict comparison decides.
            let strict = match op {
                Op::Lt | Op::LtEq => Op::Lt,
                Op::Gt | Op::GtEq => Op::Gt,
                _ => return Err(unsupported(format!("operator {op} on rows"), None)),
            };
            let mut pairs: Vec<(Typed, Typed)> = l.into_iter().zip(r).collect();
            let (a, b) = pairs.pop().expect("rows are not empty");
            let mut result = compare_values(op, a, b)?;
            for (a, b) in pairs.into_iter().rev() {
                let equal = compare_values(&Op::Eq, a.clone(), b.clone())?;
                let decided = compare_values(&strict, a, b)?;
                let nullable = result.typ.nullable || decided.typ.nullable;
                result = fold(Typed::new(
                    ScalarExpr::If {
                        cond: Box::new(equal.expr),
                        then: Box::new(result.expr),
                        els: Box::new(decided.expr),
                    },
                    ScalarType::Bool,
                    nullable,
                ));
            }
            Ok(result)
        }
    }
}

/// `l op r` for two single values (no row expansion).
fn compare_values(op: &Op, l: Typed, r: Typed) -> Result<Typed, PlanError> {
    let func = comparison_func(op).ok_or_else(|| unsupported(format!("operator {op}"), None))?;
    let (l, r) = comparable(l, r, &op.to_string())?;
    let nullable = l.typ.nullable || r.typ.nullable;
    Ok(fold(Typed::new(
        ScalarExpr::call2(func, l.expr, r.expr),
        ScalarType::Bool,
        nullable,
    )))
}

fn no_operator(op: &Op, l: &Typed, r: &Typed) -> PlanError {
    PlanError::UnknownOperator {
        op: op.to_string(),
        left: l.scalar().clone(),
        right: r.scalar().clone(),
    }
}

/// Gives an unknown-typed operand the type the other operand suggests.
fn resolve_unknown_operand(op: &Op, known: &ScalarType) -> ScalarType {
    match known {
        ScalarType::Timestamp | ScalarType::TimestampTz | ScalarType::Time
            if matches!(op, Op::Plus) =>
        {
            ScalarType::Interval
        }
        ScalarType::Date if matches!(op, Op::Plus | Op::Minus) => ScalarType::Int32,
        other => other.base(),
    }
}

pub(crate) fn arithmetic(op: &Op, l: Typed, r: Typed) -> Result<Typed, PlanError> {
    let (l, r) = match (l.is_unknown(), r.is_unknown()) {
        (true, true) => return Err(no_operator(op, &l, &r)),
        (true, false) => {
            let t = resolve_unknown_operand(op, r.scalar());
            (cast_unchecked(l, &t), r)
        }
        (false, true) => {
            let t = resolve_unknown_operand(op, l.scalar());
            (l, cast_unchecked(r, &t))
        }
        _ => (l, r),
    };
    let nullable = l.typ.nullable || r.typ.nullable;
    let func = match op {
        Op::Plus => Func::Add,
        Op::Minus => Func::Sub,
        Op::Multiply => Func::Mul,
        Op::Divide => Func::Div,
        _ => Func::Mod,
    };
    let (lt, rt) = (l.scalar().clone(), r.scalar().clone());
    if lt.is_numeric() && rt.is_numeric() {
        let common = common_type(&lt, &rt).ok_or_else(|| no_operator(op, &l, &r))?;
        if matches!(func, Func::Mod) && common.is_float() {
            return Err(no_operator(op, &l, &r));
        }
        let (l, r) = (cast_unchecked(l, &common), cast_unchecked(r, &common));
        return Ok(fold(Typed::new(
            ScalarExpr::call2(func, l.expr, r.expr),
            common.base(),
            nullable,
        )));
    }
    use ScalarType as T;
    let plus = matches!(op, Op::Plus);
    let minus = matches!(op, Op::Minus);
    let times = matches!(op, Op::Multiply);
    let divide = matches!(op, Op::Divide);
    let (l, r, result) = match (&lt, &rt) {
        (T::Date, t) if t.is_integer() && (plus || minus) => {
            (l, cast_unchecked(r, &T::Int32), T::Date)
        }
        (t, T::Date) if t.is_integer() && plus => (cast_unchecked(l, &T::Int32), r, T::Date),
        (T::Date, T::Date) if minus => (l, r, T::Int32),
        (T::Date, T::Interval) if plus || minus => {
            (cast_unchecked(l, &T::Timestamp), r, T::Timestamp)
        }
        (T::Interval, T::Date) if plus => (l, cast_unchecked(r, &T::Timestamp), T::Timestamp),
        (T::Date, T::Time) if plus => (l, r, T::Timestamp),
        (T::Timestamp | T::TimestampTz | T::Time, T::Interval) if plus || minus => {
            (l, r, lt.clone())
        }
        (T::Interval, T::Timestamp | T::TimestampTz | T::Time) if plus => (l, r, rt.clone()),
        (T::Timestamp, T::Timestamp) | (T::TimestampTz, T::TimestampTz) | (T::Time, T::Time)
            if minus =>
        {
            (l, r, T::Interval)
        }
        (T::Timestamp, T::TimestampTz) | (T::TimestampTz, T::Timestamp) if minus => (
            cast_unchecked(l, &T::TimestampTz),
            cast_unchecked(r, &T::TimestampTz),
            T::Interval,
        ),
        (T::Interval, T::Interval) if plus || minus => (l, r, T::Interval),
        (T::Interval, t) if t.is_numeric() && (times || divide) => {
            (l, cast_unchecked(r, &T::Float64), T::Interval)
        }
        (t, T::Interval) if t.is_numeric() && times => {
            (cast_unchecked(l, &T::Float64), r, T::Interval)
        }
        _ => return Err(no_operator(op, &l, &r)),
    };
    Ok(fold(Typed::new(
        ScalarExpr::call2(func, l.expr, r.expr),
        result,
        nullable,
    )))
}

/// `l || r`: text concatenation (either side text), array concatenation, jsonb merge.
pub(crate) fn concat(l: Typed, r: Typed) -> Result<Typed, PlanError> {
    let nullable = l.typ.nullable || r.typ.nullable;
    let (lt, rt) = (l.scalar().clone(), r.scalar().clone());
    let result = match (&lt, &rt) {
        (ScalarType::Array(a), ScalarType::Array(b)) => {
            let element =
                common_type(a, b).ok_or_else(|| no_operator(&Op::StringConcat, &l, &r))?;
            let typ = ScalarType::Array(Box::new(element));
            let (l, r) = (cast_unchecked(l, &typ), cast_unchecked(r, &typ));
            return Ok(fold(Typed::new(
                ScalarExpr::call2(Func::ConcatOp, l.expr, r.expr),
                typ,
                nullable,
            )));
        }
        (ScalarType::Array(element), _) => {
            let r = cast_unchecked(r, element);
            return Ok(fold(Typed::new(
                ScalarExpr::call2(Func::ConcatOp, l.expr, r.expr),
                lt.clone(),
                nullable,
            )));
        }
        (_, ScalarType::Array(element)) => {
            let l = cast_unchecked(l, element);
            return Ok(fold(Typed::new(
                ScalarExpr::call2(Func::ConcatOp, l.expr, r.expr),
                rt.clone(),
                nullable,
            )));
        }
        (ScalarType::Jsonb, ScalarType::Jsonb | ScalarType::Unknown)
        | (ScalarType::Unknown, ScalarType::Jsonb) => ScalarType::Jsonb,
        _ if lt.is_string() || rt.is_string() || l.is_unknown() || r.is_unknown() => {
            ScalarType::Text
        }
        _ => return Err(no_operator(&Op::StringConcat, &l, &r)),
    };
    let (l, r) = (cast_unchecked(l, &result), cast_unchecked(r, &result));
    Ok(fold(Typed::new(
        ScalarExpr::call2(Func::ConcatOp, l.expr, r.expr),
        result,
        nullable,
    )))
}

/// `j -> key` and `j ->> key`.
fn jsonb_get(l: Typed, r: Typed, as_text: bool) -> Result<Typed, PlanError> {
    let op = if as_text { Op::LongArrow } else { Op::Arrow };
    let l = match l.scalar() {
        ScalarType::Jsonb => l,
        ScalarType::Unknown => cast_unchecked(l, &ScalarType::Jsonb),
        _ => return Err(no_operator(&op, &l, &r)),
    };
    let r = match r.scalar() {
        t if t.is_integer() => cast_unchecked(r, &ScalarType::Int32),
        t if t.is_string() => cast_unchecked(r, &ScalarType::Text),
        ScalarType::Unknown => cast_unchecked(r, &ScalarType::Text),
        _ => return Err(no_operator(&op, &l, &r)),
    };
    let (func, typ) = if as_text {
        (Func::JsonbGetText, ScalarType::Text)
    } else {
        (Func::JsonbGet, ScalarType::Jsonb)
    };
    Ok(fold(Typed::new(
        ScalarExpr::call2(func, l.expr, r.expr),
        typ,
        true,
    )))
}
