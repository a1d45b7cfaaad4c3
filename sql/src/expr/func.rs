//! Function calls: resolving a SQL function name and argument types to a [`Func`] with
//! Postgres' result type.

use laaster_repr::datum::MICROS_PER_DAY;
use laaster_repr::scalar::{DateTimeField, TrimSide};
use laaster_repr::{Datum, ErrorResponse, Func, ScalarExpr, ScalarType};
use sqlparser::ast;

use super::coerce::{
    Overload, Typed, can_implicit, cast_unchecked, coerce, fold, select_overload, unify_types,
};
use super::literal::datetime_field;
use super::scope::normalize_ident;
use super::{ExprCx, response, unsupported};
use crate::error::{PlanError, closest_name};
use crate::query::{Planner, QueryContext};

/// Names of the aggregate functions Laaster plans (see `query::aggregate`).
pub(crate) const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "every",
    "string_agg",
    "array_agg",
];

const SCALAR_FUNCTIONS: &[&str] = &[
    "lower",
    "upper",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "substring",
    "substr",
    "concat",
    "replace",
    "split_part",
    "left",
    "right",
    "lpad",
    "rpad",
    "regexp_match",
    "regexp_replace",
    "starts_with",
    "position",
    "strpos",
    "btrim",
    "ltrim",
    "rtrim",
    "abs",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "trunc",
    "mod",
    "power",
    "pow",
    "sqrt",
    "ln",
    "log",
    "log10",
    "exp",
    "sign",
    "greatest",
    "least",
    "nullif",
    "coalesce",
    "date_part",
    "date_trunc",
    "to_char",
    "now",
    "current_timestamp",
    "localtimestamp",
    "current_date",
    // Flink's built-ins.
    "proctime",
    "count_char",
    "date_format",
    "regexp_extract",
    "split_index",
    "year",
    "quarter",
    "month",
    "week",
    "dayofyear",
    "dayofmonth",
    "dayofweek",
    "hour",
    "minute",
    "second",
    "array_length",
    "cardinality",
    "row",
];

/// The function's normalized name (last part of a possibly qualified name).
pub(crate) fn function_name(function: &ast::Function) -> String {
    match function.name.0.last() {
        Some(ast::ObjectNamePart::Identifier(ident)) => normalize_ident(ident),
        _ => function.name.to_string().to_lowercase(),
    }
}

/// The plain argument expressions of a call (no `*`, no named arguments).
pub(crate) fn function_args(function: &ast::Function) -> Result<Vec<&ast::Expr>, PlanError> {
    let list = match &function.args {
        ast::FunctionArguments::None => return Ok(Vec::new()),
        ast::FunctionArguments::Subquery(_) => {
            return Err(unsupported(format!("function call {function}"), None));
        }
        ast::FunctionArguments::List(list) => list,
    };
    list.args
        .iter()
        .map(|arg| match arg {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Ok(e),
            _ => Err(unsupported(
                format!("argument {arg} in {}", function.name),
                None,
            )),
        })
        .collect()
}

impl Planner<'_> {
    pub(super) fn plan_function(
        &self,
        cx: &mut ExprCx,
        function: &ast::Function,
    ) -> Result<Typed, PlanError> {
        let name = function_name(function);
        if function.over.is_some() {
            return Err(response(
                "42P20",
                format!("window functions are not allowed in {}", cx.clause),
            ));
        }
        if AGGREGATES.contains(&name.as_str()) {
            return Err(response(
                "42803",
                format!("aggregate functions are not allowed in {}", cx.clause),
            ));
        }
        if function.filter.is_some() || !function.within_group.is_empty() {
            return Err(unsupported(
                format!("FILTER or WITHIN GROUP on {name}()"),
                None,
            ));
        }
        if let ast::FunctionArguments::List(list) = &function.args
            && (list.duplicate_treatment.is_some() || !list.clauses.is_empty())
        {
            return Err(response(
                "42809",
                format!("DISTINCT or ORDER BY specified, but {name} is not an aggregate function"),
            ));
        }
        let args = function_args(function)?;
        if matches!(name.as_str(), "date_part" | "extract")
            && let [ast::Expr::Value(v), value] = args.as_slice()
            && let ast::Value::SingleQuotedString(field) = &v.value
        {
            let field = datetime_field(field)?;
            let value = self.plan_expr(cx, value)?;
            return extract(value, field, true);
        }
        let args = args
            .into_iter()
            .map(|a| self.plan_expr(cx, a))
            .collect::<Result<Vec<_>, _>>()?;
        call_builtin(self, &name, args)
    }

    fn now_literal(&self, typ: ScalarType) -> Result<Typed, PlanError> {
        if self.qctx == QueryContext::Maintained {
            return Err(PlanError::Response(
                laaster_repr::ErrorResponse::new(
                    "0A000",
                    "now() is not allowed in materialized views or subscriptions",
                )
                .with_hint(
                    "A maintained query's result may not depend on the wall clock; filter on an \
                     event-time column compared with a literal, or read the view with an ad hoc \
                     SELECT that applies now().",
                ),
            ));
        }
        let micros = self.ctx.now_micros;
        let datum = match typ {
            ScalarType::Date => {
                Datum::Date(i32::try_from(micros.div_euclid(MICROS_PER_DAY)).unwrap_or(i32::MAX))
            }
            // The session time zone is UTC, so local time is UTC time.
            ScalarType::Timestamp => Datum::Timestamp(micros),
            _ => Datum::TimestampTz(micros),
        };
        Ok(Typed::new(
            ScalarExpr::literal(datum, typ.clone()),
            typ,
            false,
        ))
    }
}

fn lit_i32(v: i32) -> Typed {
    Typed::new(
        ScalarExpr::literal(Datum::Int32(v), ScalarType::Int32),
        ScalarType::Int32,
        false,
    )
}

fn call(func: Func, args: Vec<Typed>, result: ScalarType) -> Typed {
    let nullable = args.iter().any(|a| a.typ.nullable);
    fold(Typed::new(
        ScalarExpr::call(func, args.into_iter().map(|a| a.expr).collect()),
        result,
        nullable,
    ))
}

/// `extract(field FROM value)` (numeric) or `date_part('field', value)` (double).
pub(crate) fn extract(
    value: Typed,
    field: DateTimeField,
    date_part: bool,
) -> Result<Typed, PlanError> {
    let value = if value.is_unknown() {
        cast_unchecked(value, &ScalarType::Timestamp)
    } else {
        value
    };
    if !value.scalar().is_temporal() && value.scalar() != &ScalarType::Interval {
        return Err(PlanError::UnknownFunction {
            name: if date_part { "date_part" } else { "extract" }.into(),
            arg_types: vec![ScalarType::Text, value.scalar().clone()],
            suggestion: None,
        });
    }
    Ok(if date_part {
        call(Func::DatePart(field), vec![value], ScalarType::Float64)
    } else {
        call(Func::Extract(field), vec![value], ScalarType::NUMERIC)
    })
}

/// Flink's `YEAR(x)`, `HOUR(x)`, ... shorthands for `EXTRACT(field FROM x)`, returning
/// bigint (`SECOND` without its fraction, `DAYOFWEEK` 1 = Sunday .. 7 = Saturday).
fn flink_extract(name: &str, field: DateTimeField, args: Vec<Typed>) -> Result<Typed, PlanError> {
    let mut args = args;
    let (Some(value), true) = (args.pop(), args.is_empty()) else {
        return Err(no_function(name, &args));
    };
    let time_of_day = matches!(
        field,
        DateTimeField::Hour | DateTimeField::Minute | DateTimeField::Second
    );
    let value = match value.scalar() {
        ScalarType::Timestamp | ScalarType::TimestampTz => value,
        ScalarType::Time if time_of_day => value,
        ScalarType::Date if !time_of_day => value,
        ScalarType::Date | ScalarType::Unknown => cast_unchecked(value, &ScalarType::Timestamp),
        _ => return Err(no_function(name, &[value])),
    };
    let result = call(Func::ExtractBigint(field), vec![value], ScalarType::Int64);
    if field != DateTimeField::DayOfWeek {
        return Ok(result);
    }
    // Postgres' day of week (Sunday 0 .. Saturday 6) to Flink's (Sunday 1 .. Saturday 7).
    let nullable = result.typ.nullable;
    let one = ScalarExpr::literal(Datum::Int64(1), ScalarType::Int64);
    let expr = ScalarExpr::call2(Func::Add, result.expr, one);
    Ok(fold(Typed::new(expr, ScalarType::Int64, nullable)))
}

/// `ARRAY[...]`.
pub(crate) fn make_array(elements: Vec<Typed>) -> Result<Typed, PlanError> {
    let types: Vec<&ScalarType> = elements.iter().map(Typed::scalar).collect();
    let element = unify_types(&types, "ARRAY")?;
    let args = elements
        .into_iter()
        .map(|e| cast_unchecked(e, &element).expr)
        .collect();
    Ok(fold(Typed::new(
        ScalarExpr::call(Func::MakeArray, args),
        ScalarType::Array(Box::new(element)),
        false,
    )))
}

/// `ROW(a, b)` / `(a, b)`. String literals and NULLs keep the type `unknown` in the
/// record's type until the row is output (see `coerce::resolve_unknown`) or converted to
/// a row type, so `ROW('2024-01-01', NULL)` can be stored into a row of a date and an
/// integer, like Postgres does.
pub(crate) fn make_record(items: Vec<Typed>) -> Typed {
    let fields = items
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("f{}", i + 1), t.scalar().clone()))
        .collect();
    fold(Typed::new(
        ScalarExpr::call(
            Func::MakeRecord,
            items.into_iter().map(|t| t.expr).collect(),
        ),
        ScalarType::Record(fields),
        false,
    ))
}

/// `record.field`: the field's value (NULL for a NULL record), of the field's type.
pub(crate) fn record_field(record: Typed, field: &str) -> Result<Typed, PlanError> {
    let ScalarType::Record(fields) = record.scalar() else {
        return Err(response(
            "42809",
            format!(
                "column notation .{field} applied to type {}, which is not a composite type",
                record.scalar()
            ),
        ));
    };
    let Some(index) = fields.iter().position(|(name, _)| name == field) else {
        return Err(response(
            "42703",
            format!(
                "column \"{field}\" not found in data type {}",
                super::coerce::resolve_unknown_type(record.scalar())
            ),
        ));
    };
    let typ = fields[index].1.clone();
    Ok(fold(Typed::new(
        ScalarExpr::call1(Func::RecordGet(index), record.expr),
        typ,
        true,
    )))
}

/// `a[i]`.
pub(crate) fn array_index(array: Typed, index: Typed) -> Result<Typed, PlanError> {
    let ScalarType::Array(element) = array.scalar().clone() else {
        return Err(response(
            "42804",
            format!(
                "cannot subscript type {} because it is not an array",
                array.scalar()
            ),
        ));
    };
    let index = coerce(index, &ScalarType::Int32)
        .map_err(|()| response("42804", "array subscript must have type integer"))?;
    let mut result = call(Func::ArrayIndex, vec![array, index], *element);
    result.typ.nullable = true;
    Ok(result)
}

fn no_function(name: &str, args: &[Typed]) -> PlanError {
    let known = SCALAR_FUNCTIONS.iter().chain(AGGREGATES).copied();
    let suggestion = closest_name(name, known).filter(|s| s != name);
    PlanError::UnknownFunction {
        name: name.to_string(),
        arg_types: args.iter().map(|a| a.scalar().clone()).collect(),
        suggestion,
    }
}

/// Converts arguments to the listed types, or fails with "function f(...) does not exist".
fn expect(name: &str, args: Vec<Typed>, types: &[ScalarType]) -> Result<Vec<Typed>, PlanError> {
    if args.len() != types.len() {
        return Err(no_function(name, &args));
    }
    let mut out = Vec::new();
    for (arg, typ) in args.iter().zip(types) {
        match coerce(arg.clone(), typ) {
            Ok(a) => out.push(a),
            Err(()) => return Err(no_function(name, &args)),
        }
    }
    Ok(out)
}

/// Resolves an overloaded function among `signatures` (Postgres' rules, see
/// [`select_overload`]) and converts the arguments; returns the chosen signature's index.
fn overload(
    name: &str,
    args: Vec<Typed>,
    signatures: &[&[ScalarType]],
) -> Result<(usize, Vec<Typed>), PlanError> {
    let types: Vec<&ScalarType> = args.iter().map(Typed::scalar).collect();
    match select_overload(&types, signatures) {
        Overload::Found(i) => {
            let args = args
                .into_iter()
                .zip(signatures[i])
                .map(|(arg, typ)| cast_unchecked(arg, typ))
                .collect();
            Ok((i, args))
        }
        Overload::None => Err(no_function(name, &args)),
        Overload::Ambiguous => Err(PlanError::Response(
            ErrorResponse::new(
                "42725",
                format!(
                    "function {name}({}) is not unique",
                    types
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_hint(
                "Could not choose a best candidate function. You might need to add explicit type casts.",
            ),
        )),
    }
}

/// The "double precision or numeric" overloads of the math functions.
const FLOAT_OR_NUMERIC_1: &[&[ScalarType]] = &[&[ScalarType::Float64], &[ScalarType::NUMERIC]];
const FLOAT_OR_NUMERIC_2: &[&[ScalarType]] = &[
    &[ScalarType::Float64, ScalarType::Float64],
    &[ScalarType::NUMERIC, ScalarType::NUMERIC],
];

/// A math function over one argument: numeric stays numeric, other numbers go to double.
fn numeric_math(name: &str, func: Func, args: Vec<Typed>) -> Result<Typed, PlanError> {
    let (_, args) = overload(name, args, FLOAT_OR_NUMERIC_1)?;
    let typ = args[0].scalar().clone();
    Ok(call(func, args, typ))
}

fn text_args(name: &str, args: Vec<Typed>, tail: &[ScalarType]) -> Result<Vec<Typed>, PlanError> {
    let mut types = vec![ScalarType::Text];
    types.extend_from_slice(tail);
    expect(name, args, &types)
}

/// Resolves a built-in scalar function call.
pub(crate) fn call_builtin(
    planner: &Planner,
    name: &str,
    args: Vec<Typed>,
) -> Result<Typed, PlanError> {
    use ScalarType as T;
    let text = T::Text;
    let int = T::Int32;
    Ok(match (name, args.len()) {
        ("lower", 1) => call(Func::Lower, text_args(name, args, &[])?, T::Text),
        ("upper", 1) => call(Func::Upper, text_args(name, args, &[])?, T::Text),
        ("length" | "char_length" | "character_length", 1) => {
            let args = if args[0].scalar() == &T::Bytea {
                args
            } else {
                text_args(name, args, &[])?
            };
            call(Func::Length, args, T::Int32)
        }
        ("octet_length", 1) => {
            let args = if args[0].scalar() == &T::Bytea {
                args
            } else {
                text_args(name, args, &[])?
            };
            call(Func::OctetLength, args, T::Int32)
        }
        ("substring" | "substr", 2) => {
            call(Func::Substring, text_args(name, args, &[int])?, T::Text)
        }
        ("substring" | "substr", 3) => call(
            Func::Substring,
            text_args(name, args, &[int.clone(), int])?,
            T::Text,
        ),
        ("concat", _) => {
            let args: Vec<Typed> = args
                .into_iter()
                .map(super::coerce::resolve_unknown)
                .collect();
            let mut result = call(Func::Concat, args, T::Text);
            result.typ.nullable = false;
            result
        }
        ("replace", 3) => call(
            Func::Replace,
            text_args(name, args, &[text.clone(), text])?,
            T::Text,
        ),
        ("split_part", 3) => call(
            Func::SplitPart,
            text_args(name, args, &[text, int])?,
            T::Text,
        ),
        ("left", 2) => call(Func::Left, text_args(name, args, &[int])?, T::Text),
        ("right", 2) => call(Func::Right, text_args(name, args, &[int])?, T::Text),
        ("lpad" | "rpad", 2 | 3) => {
            let func = if name == "lpad" {
                Func::Lpad
            } else {
                Func::Rpad
            };
            let tail: &[T] = if args.len() == 2 {
                &[T::Int32]
            } else {
                &[T::Int32, T::Text]
            };
            call(func, text_args(name, args, tail)?, T::Text)
        }
        ("regexp_match", 2 | 3) => {
            let tail = vec![T::Text; args.len() - 1];
            let mut result = call(
                Func::RegexpMatch,
                text_args(name, args, &tail)?,
                T::Array(Box::new(T::Text)),
            );
            result.typ.nullable = true;
            result
        }
        ("regexp_replace", 3 | 4) => {
            let tail = vec![T::Text; args.len() - 1];
            call(Func::RegexpReplace, text_args(name, args, &tail)?, T::Text)
        }
        ("starts_with", 2) => call(Func::StartsWith, text_args(name, args, &[text])?, T::Bool),
        ("position", 2) => call(Func::Position, text_args(name, args, &[text])?, T::Int32),
        ("strpos", 2) => {
            let mut args = text_args(name, args, &[text])?;
            args.swap(0, 1);
            call(Func::Position, args, T::Int32)
        }
        ("btrim" | "ltrim" | "rtrim", 1 | 2) => {
            let side = match name {
                "ltrim" => TrimSide::Leading,
                "rtrim" => TrimSide::Trailing,
                _ => TrimSide::Both,
            };
            let tail = vec![T::Text; args.len() - 1];
            call(Func::Trim(side), text_args(name, args, &tail)?, T::Text)
        }
        ("abs", 1) => {
            let arg = args.into_iter().next().map(super::coerce::resolve_unknown);
            match arg {
                Some(a) if a.scalar().is_numeric() || a.scalar() == &T::Interval => {
                    let typ = a.scalar().base();
                    call(Func::Abs, vec![a], typ)
                }
                Some(a) => return Err(no_function(name, &[a])),
                None => return Err(no_function(name, &[])),
            }
        }
        ("round", 1) => numeric_math(name, Func::Round, args)?,
        ("trunc", 1) => numeric_math(name, Func::Trunc, args)?,
        ("round" | "trunc", 2) => {
            let func = if name == "round" {
                Func::Round
            } else {
                Func::Trunc
            };
            call(
                func,
                expect(name, args, &[T::NUMERIC, T::Int32])?,
                T::NUMERIC,
            )
        }
        ("floor", 1) => numeric_math(name, Func::Floor, args)?,
        ("ceil" | "ceiling", 1) => numeric_math(name, Func::Ceil, args)?,
        ("sign", 1) => numeric_math(name, Func::Sign, args)?,
        ("sqrt", 1) => numeric_math(name, Func::Sqrt, args)?,
        ("ln", 1) => numeric_math(name, Func::Ln, args)?,
        ("log" | "log10", 1) => numeric_math(name, Func::Log10, args)?,
        ("exp", 1) => numeric_math(name, Func::Exp, args)?,
        ("power" | "pow", 2) => {
            let (_, args) = overload(name, args, FLOAT_OR_NUMERIC_2)?;
            let typ = args[0].scalar().clone();
            call(Func::Power, args, typ)
        }
        ("mod", 2) => {
            let (_, args) = overload(
                name,
                args,
                &[
                    &[T::Int16, T::Int16],
                    &[T::Int32, T::Int32],
                    &[T::Int64, T::Int64],
                    &[T::NUMERIC, T::NUMERIC],
                ],
            )?;
            let typ = args[0].scalar().clone();
            call(Func::Mod, args, typ)
        }
        ("greatest" | "least" | "coalesce", n) if n > 0 => {
            let types: Vec<&T> = args.iter().map(Typed::scalar).collect();
            let common = unify_types(&types, &name.to_uppercase())?;
            let nullable = args.iter().all(|a| a.typ.nullable);
            let any_nullable = args.iter().any(|a| a.typ.nullable);
            let exprs: Vec<ScalarExpr> = args
                .into_iter()
                .map(|a| cast_unchecked(a, &common).expr)
                .collect();
            let (expr, nullable) = match name {
                "coalesce" => (ScalarExpr::Coalesce(exprs), nullable),
                "greatest" => (
                    ScalarExpr::call(Func::Greatest, exprs),
                    any_nullable && nullable,
                ),
                _ => (
                    ScalarExpr::call(Func::Least, exprs),
                    any_nullable && nullable,
                ),
            };
            fold(Typed::new(expr, common, nullable))
        }
        ("nullif", 2) => {
            let common = unify_types(&[args[0].scalar(), args[1].scalar()], "NULLIF")?;
            let args: Vec<Typed> = args
                .into_iter()
                .map(|a| cast_unchecked(a, &common))
                .collect();
            let mut result = call(Func::NullIf, args, common);
            result.typ.nullable = true;
            result
        }
        ("date_trunc", 2) => {
            let mut args = args.into_iter();
            let (Some(unit), Some(value)) = (args.next(), args.next()) else {
                return Err(no_function(name, &[]));
            };
            let unit = cast_unchecked(unit, &T::Text);
            let value = match value.scalar() {
                T::Timestamp | T::TimestampTz | T::Interval => value,
                T::Date | T::Unknown => cast_unchecked(value, &T::Timestamp),
                _ => return Err(no_function(name, &[unit, value])),
            };
            let typ = value.scalar().clone();
            call(Func::DateTrunc, vec![unit, value], typ)
        }
        ("to_char", 2) => {
            let mut args = args;
            let format = cast_unchecked(args.remove(1), &T::Text);
            let value = args.remove(0);
            if !(value.scalar().is_temporal()
                || value.scalar().is_numeric()
                || value.scalar() == &T::Interval)
            {
                return Err(no_function(name, &[value, format]));
            }
            call(Func::ToChar, vec![value, format], T::Text)
        }
        ("now" | "current_timestamp" | "transaction_timestamp" | "statement_timestamp", 0) => {
            planner.now_literal(T::TimestampTz)?
        }
        ("localtimestamp", 0) => planner.now_literal(T::Timestamp)?,
        // Flink's processing-time attribute: evaluated when the row is processed (see
        // `crate::query::proctime` for where it may appear in maintained queries).
        ("proctime", 0) => call(Func::Proctime, vec![], T::Timestamp),
        ("count_char", 2) => {
            if !args.iter().all(|a| can_implicit(a.scalar(), &T::Text)) {
                return Err(no_function(name, &args));
            }
            let args = args
                .into_iter()
                .map(|a| cast_unchecked(a, &T::Text))
                .collect();
            call(Func::CountChar, args, T::Int64)
        }
        ("current_date", 0) => planner.now_literal(T::Date)?,
        ("date_format", 2) => {
            let value_ok = matches!(
                args[0].scalar(),
                T::Timestamp | T::TimestampTz | T::Date | T::Unknown
            ) || args[0].scalar().is_string();
            if !value_ok || !can_implicit(args[1].scalar(), &T::Text) {
                return Err(no_function(name, &args));
            }
            let mut args = args.into_iter();
            let (Some(value), Some(format)) = (args.next(), args.next()) else {
                return Err(no_function(name, &[]));
            };
            // Flink's DATE_FORMAT(string, format) reads the string as a timestamp.
            let value = match value.scalar() {
                T::Timestamp | T::TimestampTz => value,
                _ => cast_unchecked(value, &T::Timestamp),
            };
            let format = cast_unchecked(format, &T::Text);
            call(Func::DateFormat, vec![value, format], T::Text)
        }
        ("regexp_extract", 2 | 3) => {
            let tail: &[T] = if args.len() == 2 {
                &[T::Text]
            } else {
                &[T::Text, T::Int32]
            };
            let mut result = call(Func::RegexpExtract, text_args(name, args, tail)?, T::Text);
            result.typ.nullable = true;
            result
        }
        ("split_index", 3) => {
            let mut result = call(
                Func::SplitIndex,
                text_args(name, args, &[text, int])?,
                T::Text,
            );
            result.typ.nullable = true;
            result
        }
        ("year", _) => flink_extract(name, DateTimeField::Year, args)?,
        ("quarter", _) => flink_extract(name, DateTimeField::Quarter, args)?,
        ("month", _) => flink_extract(name, DateTimeField::Month, args)?,
        ("week", _) => flink_extract(name, DateTimeField::Week, args)?,
        ("dayofyear", _) => flink_extract(name, DateTimeField::DayOfYear, args)?,
        ("dayofmonth", _) => flink_extract(name, DateTimeField::Day, args)?,
        ("dayofweek", _) => flink_extract(name, DateTimeField::DayOfWeek, args)?,
        ("hour", _) => flink_extract(name, DateTimeField::Hour, args)?,
        ("minute", _) => flink_extract(name, DateTimeField::Minute, args)?,
        ("second", _) => flink_extract(name, DateTimeField::Second, args)?,
        ("array_length", 2) => {
            if !matches!(args[0].scalar(), T::Array(_)) {
                return Err(no_function(name, &args));
            }
            let mut args = args;
            let dim = coerce(args.remove(1), &T::Int32).map_err(|()| no_function(name, &[]))?;
            let mut result = call(Func::ArrayLength, vec![args.remove(0), dim], T::Int32);
            result.typ.nullable = true;
            result
        }
        ("cardinality", 1) => {
            if !matches!(args[0].scalar(), T::Array(_)) {
                return Err(no_function(name, &args));
            }
            let nullable = args[0].typ.nullable;
            let array = args
                .into_iter()
                .next()
                .map(|a| a.expr)
                .unwrap_or(ScalarExpr::null(T::Unknown));
            let length = ScalarExpr::call(Func::ArrayLength, vec![array.clone(), lit_i32(1).expr]);
            let expr = ScalarExpr::If {
                cond: Box::new(ScalarExpr::call1(Func::IsNull, array)),
                then: Box::new(ScalarExpr::null(T::Int32)),
                els: Box::new(ScalarExpr::Coalesce(vec![length, lit_i32(0).expr])),
            };
            fold(Typed::new(expr, T::Int32, nullable))
        }
        ("row", _) => make_record(args),
        ("date_part", 2) => {
            return Err(unsupported(
                "date_part with a field that is not a literal",
                Some("Write the field as a string literal, e.g. date_part('year', ts)."),
            ));
        }
        _ => return Err(no_function(name, &args)),
    })
}
