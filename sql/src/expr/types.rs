//! SQL type names to [`ScalarType`], and assignment casts.

use laaster_repr::{EvalError, Func, ScalarExpr, ScalarType};
use sqlparser::ast::{self, DataType};

use super::coerce::{Typed, can_assign, cast_unchecked};
use super::scope::normalize_ident;
use crate::error::PlanError;

pub(crate) fn type_from_ast(data_type: &DataType) -> Result<ScalarType, PlanError> {
    Ok(match data_type {
        DataType::Bool | DataType::Boolean => ScalarType::Bool,
        DataType::SmallInt(_) | DataType::Int2(_) => ScalarType::Int16,
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => ScalarType::Int32,
        DataType::BigInt(_) | DataType::Int8(_) => ScalarType::Int64,
        DataType::Real | DataType::Float4 => ScalarType::Float32,
        DataType::DoublePrecision | DataType::Float8 => ScalarType::Float64,
        DataType::Double(ast::ExactNumberInfo::None) => ScalarType::Float64,
        DataType::Float(info) => match info {
            ast::ExactNumberInfo::Precision(p) if *p <= 24 => ScalarType::Float32,
            _ => ScalarType::Float64,
        },
        DataType::Numeric(info) | DataType::Decimal(info) | DataType::Dec(info) => {
            numeric_type(info)?
        }
        DataType::Text | DataType::String(None) => ScalarType::Text,
        DataType::Varchar(length)
        | DataType::CharacterVarying(length)
        | DataType::CharVarying(length) => ScalarType::VarChar {
            max_length: char_length(length)?,
        },
        DataType::Char(_) | DataType::Character(_) => ScalarType::Text,
        // Flink's `BYTES`.
        DataType::Bytea | DataType::Bytes(None) => ScalarType::Bytea,
        DataType::Date => ScalarType::Date,
        DataType::Time(_, ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone) => {
            ScalarType::Time
        }
        DataType::Timestamp(_, ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone) => {
            ScalarType::Timestamp
        }
        DataType::Timestamp(_, ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz) => {
            ScalarType::TimestampTz
        }
        DataType::Interval { .. } => ScalarType::Interval,
        DataType::JSON | DataType::JSONB => ScalarType::Jsonb,
        DataType::Array(
            ast::ArrayElemTypeDef::SquareBracket(inner, _)
            | ast::ArrayElemTypeDef::AngleBracket(inner)
            | ast::ArrayElemTypeDef::Parenthesis(inner),
        ) => ScalarType::Array(Box::new(type_from_ast(inner)?)),
        DataType::Struct(fields, _) => ScalarType::Record(
            fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let name = f
                        .field_name
                        .as_ref()
                        .map_or_else(|| format!("f{}", i + 1), normalize_ident);
                    Ok((name, type_from_ast(&f.field_type)?))
                })
                .collect::<Result<_, PlanError>>()?,
        ),
        DataType::Custom(name, modifiers) => custom_type(name, modifiers, data_type)?,
        _ => return Err(unsupported_type(data_type)),
    })
}

fn custom_type(
    name: &ast::ObjectName,
    modifiers: &[ast::TypeModifier],
    data_type: &DataType,
) -> Result<ScalarType, PlanError> {
    let name = name.to_string().to_lowercase();
    Ok(match name.as_str() {
        // Flink's `TIMESTAMP_LTZ(p)`: an instant, as TIMESTAMPTZ (microseconds).
        "timestamptz" | "timestamp_ltz" => ScalarType::TimestampTz,
        "float" | "float8" => ScalarType::Float64,
        "int2" => ScalarType::Int16,
        "int4" => ScalarType::Int32,
        "int8" => ScalarType::Int64,
        "bpchar" => ScalarType::Text,
        "jsonb" | "json" => ScalarType::Jsonb,
        "string" => ScalarType::Text,
        "varchar" => ScalarType::VarChar {
            max_length: match modifiers.first() {
                Some(ast::TypeModifier::Number(n, _)) => n.parse().ok(),
                _ => None,
            },
        },
        _ => return Err(unsupported_type(data_type)),
    })
}

fn numeric_type(info: &ast::ExactNumberInfo) -> Result<ScalarType, PlanError> {
    let (precision, scale) = match info {
        ast::ExactNumberInfo::None => (None, None),
        ast::ExactNumberInfo::Precision(p) => (Some(*p), Some(0)),
        ast::ExactNumberInfo::PrecisionAndScale(p, s) => (Some(*p), Some(*s)),
    };
    let precision = match precision {
        None => None,
        Some(p) if (1..=28).contains(&p) => Some(p as u8),
        Some(p) => {
            return Err(PlanError::Response(laaster_repr::ErrorResponse::new(
                "22023",
                format!("NUMERIC precision {p} must be between 1 and 28"),
            )));
        }
    };
    let scale = match scale {
        None => None,
        Some(s) if s >= 0 && s <= i64::from(precision.unwrap_or(28)) => Some(s as u8),
        Some(s) => {
            return Err(PlanError::Response(laaster_repr::ErrorResponse::new(
                "22023",
                format!(
                    "NUMERIC scale {s} must be between 0 and precision {}",
                    precision.unwrap_or(28)
                ),
            )));
        }
    };
    Ok(ScalarType::Decimal { precision, scale })
}

fn char_length(length: &Option<ast::CharacterLength>) -> Result<Option<u32>, PlanError> {
    match length {
        None | Some(ast::CharacterLength::Max) => Ok(None),
        Some(ast::CharacterLength::IntegerLength { length, .. }) => u32::try_from(*length)
            .ok()
            .filter(|l| *l >= 1)
            .map(Some)
            .ok_or_else(|| {
                PlanError::Response(laaster_repr::ErrorResponse::new(
                    "22023",
                    "length for type varchar must be at least 1",
                ))
            }),
    }
}

fn unsupported_type(data_type: &DataType) -> PlanError {
    PlanError::Unsupported {
        feature: format!("type {data_type}"),
        hint: Some(
            "Supported types: boolean, smallint, integer, bigint, real, double precision, \
             numeric, text, varchar, bytea, date, time, timestamp, timestamptz, interval, \
             jsonb, arrays, ROW(name type, ...)."
                .into(),
        ),
    }
}

pub(crate) fn assignment_cast(
    expr: ScalarExpr,
    from: &ScalarType,
    to: &ScalarType,
) -> Result<ScalarExpr, PlanError> {
    if from == to {
        return Ok(expr);
    }
    if let (ScalarType::Record(_), ScalarType::Record(_)) = (from, to) {
        // Field by field, each with the assignment rules (an arity mismatch is
        // reported naming both types).
        let value = Typed::new(expr, from.clone(), true);
        let field = |field: Typed, to: &ScalarType| {
            let from = field.scalar().clone();
            assignment_cast(field.expr, &from, to).map(|expr| Typed::new(expr, to.clone(), true))
        };
        if let ScalarType::Record(fields) = from
            && let ScalarType::Record(targets) = to
            && fields.len() == targets.len()
            && !can_assign(from, to)
        {
            return Err(PlanError::InvalidCast {
                from: super::coerce::resolve_unknown_type(from),
                to: to.clone(),
            });
        }
        return Ok(super::coerce::cast_record(value, to, &field)?.expr);
    }
    if !can_assign(from, to) {
        return Err(PlanError::InvalidCast {
            from: from.clone(),
            to: to.clone(),
        });
    }
    let value = Typed::new(expr, from.clone(), true);
    if let ScalarType::VarChar {
        max_length: Some(n),
    } = to
    {
        let text = cast_unchecked(value, &ScalarType::Text).expr;
        let too_long = ScalarExpr::call2(
            Func::Gt,
            ScalarExpr::call1(Func::Length, text.clone()),
            ScalarExpr::literal(laaster_repr::Datum::Int32(*n as i32), ScalarType::Int32),
        );
        let checked = ScalarExpr::If {
            cond: Box::new(too_long),
            then: Box::new(ScalarExpr::Error(EvalError::ValueTooLong(to.to_string()))),
            els: Box::new(text),
        };
        return Ok(super::coerce::fold(Typed::new(checked, to.clone(), true)).expr);
    }
    Ok(cast_unchecked(value, to).expr)
}
