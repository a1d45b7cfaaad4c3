//! Literals: numbers, strings, booleans, typed strings (`DATE '...'`) and intervals.

use std::str::FromStr;

use laaster_repr::datum::MICROS_PER_DAY;
use laaster_repr::scalar::DateTimeField;
use laaster_repr::strconv::parse_datum;
use laaster_repr::{Datum, Func, Interval, ScalarExpr, ScalarType};
use rust_decimal::Decimal;
use sqlparser::ast;

use super::coerce::Typed;
use super::types::type_from_ast;
use super::{response, unsupported};
use crate::error::PlanError;

pub(super) fn plan_value(value: &ast::Value) -> Result<Typed, PlanError> {
    use ast::Value as V;
    Ok(match value {
        V::Number(text, _) => plan_number(text)?,
        V::SingleQuotedString(s)
        | V::EscapedStringLiteral(s)
        | V::UnicodeStringLiteral(s)
        | V::NationalStringLiteral(s)
        | V::TripleSingleQuotedString(s) => Typed::unknown_string(s),
        V::DollarQuotedString(s) => Typed::unknown_string(&s.value),
        V::Boolean(b) => Typed::bool_literal(*b),
        V::Null => Typed::null(),
        V::HexStringLiteral(_) | V::SingleQuotedByteStringLiteral(_) => {
            return Err(unsupported(
                "byte string literals",
                Some("Use '\\x...'::bytea."),
            ));
        }
        V::Placeholder(p) => return Err(unsupported(format!("parameter {p}"), None)),
        other => return Err(unsupported(format!("literal {other}"), None)),
    })
}

/// An integer literal is `integer` if it fits, else `bigint`, else `numeric`; a literal
/// with a point or exponent is `numeric`.
pub(super) fn plan_number(text: &str) -> Result<Typed, PlanError> {
    let literal =
        |datum, typ: ScalarType| Typed::new(ScalarExpr::literal(datum, typ.clone()), typ, false);
    if let Ok(v) = text.parse::<i32>() {
        return Ok(literal(Datum::Int32(v), ScalarType::Int32));
    }
    if let Ok(v) = text.parse::<i64>() {
        return Ok(literal(Datum::Int64(v), ScalarType::Int64));
    }
    let decimal = Decimal::from_str(text).or_else(|_| Decimal::from_scientific(text));
    match decimal {
        Ok(d) => Ok(literal(
            Datum::Decimal(d.normalize_if_exponent(text)),
            ScalarType::NUMERIC,
        )),
        // Beyond numeric's 28 digits (e.g. `1e300`), an exponent literal becomes
        // double precision: it keeps its magnitude, where Postgres would keep every digit.
        Err(_) => match text.parse::<f64>() {
            Ok(f) if f.is_finite() && text.contains(['e', 'E']) => {
                Ok(literal(Datum::float64(f), ScalarType::Float64))
            }
            _ => Err(response(
                "22003",
                format!("numeric literal {text} is out of range (at most 28 significant digits)"),
            )),
        },
    }
}

trait NormalizeExponent {
    fn normalize_if_exponent(self, text: &str) -> Decimal;
}

impl NormalizeExponent for Decimal {
    fn normalize_if_exponent(self, text: &str) -> Decimal {
        if text.contains(['e', 'E']) && self.scale() > 0 {
            self.normalize()
        } else {
            self
        }
    }
}

/// `DATE '2024-01-01'`, `TIMESTAMP '...'`, `INTERVAL '...'` as a typed literal; text
/// that does not parse is cast at run time, so the error is reported as data.
pub(super) fn plan_typed_string(typed: &ast::TypedString) -> Result<Typed, PlanError> {
    let typ = type_from_ast(&typed.data_type)?;
    let text = match &typed.value.value {
        ast::Value::SingleQuotedString(s) | ast::Value::EscapedStringLiteral(s) => s.clone(),
        other => return Err(unsupported(format!("typed literal {other}"), None)),
    };
    Ok(typed_text(&text, typ))
}

fn typed_text(text: &str, typ: ScalarType) -> Typed {
    match parse_datum(text, &typ) {
        Ok(datum) => Typed::new(ScalarExpr::literal(datum, typ.clone()), typ, false),
        Err(_) => Typed::new(
            ScalarExpr::call1(
                Func::Cast(typ.clone()),
                ScalarExpr::literal(Datum::text(text), ScalarType::Text),
            ),
            typ,
            false,
        ),
    }
}

/// `INTERVAL '1 day'`, `INTERVAL '1' DAY`, `INTERVAL '2' HOUR`.
pub(super) fn plan_interval(interval: &ast::Interval) -> Result<Typed, PlanError> {
    let text = match interval.value.as_ref() {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => s.clone(),
            ast::Value::Number(n, _) => n.clone(),
            other => return Err(unsupported(format!("interval value {other}"), None)),
        },
        other => return Err(unsupported(format!("interval value {other}"), None)),
    };
    if interval.last_field.is_some() {
        return Err(unsupported(
            "INTERVAL ... TO ...",
            Some("Write INTERVAL '1 day 2 hours'."),
        ));
    }
    let Some(field) = &interval.leading_field else {
        return Ok(typed_text(&text, ScalarType::Interval));
    };
    let Ok(amount) = text.trim().parse::<f64>() else {
        return Ok(typed_text(&format!("{text} {field}"), ScalarType::Interval));
    };
    let unit = field.to_string().to_lowercase();
    let value = match unit.trim_end_matches('s') {
        "year" => Interval::new((amount * 12.0) as i32, 0, 0),
        "month" => Interval::new(amount as i32, 0, 0),
        "week" => Interval::new(0, (amount * 7.0) as i32, 0),
        "day" => Interval::new(
            0,
            amount as i32,
            ((amount.fract()) * MICROS_PER_DAY as f64) as i64,
        ),
        "hour" => Interval::new(0, 0, (amount * 3_600_000_000.0) as i64),
        "minute" => Interval::new(0, 0, (amount * 60_000_000.0) as i64),
        "second" => Interval::new(0, 0, (amount * 1_000_000.0) as i64),
        _ => return Err(unsupported(format!("INTERVAL ... {field}"), None)),
    };
    Ok(Typed::new(
        ScalarExpr::literal(Datum::Interval(value), ScalarType::Interval),
        ScalarType::Interval,
        false,
    ))
}

/// The field named in `extract(field FROM ...)` or `date_part('field', ...)`.
pub(super) fn datetime_field(name: &str) -> Result<DateTimeField, PlanError> {
    let name = name.trim_matches('\'').to_lowercase();
    Ok(match name.as_str() {
        "millennium" | "millennia" | "millenium" => DateTimeField::Millennium,
        "century" | "centuries" => DateTimeField::Century,
        "decade" | "decades" => DateTimeField::Decade,
        "year" | "years" => DateTimeField::Year,
        "quarter" => DateTimeField::Quarter,
        "month" | "months" => DateTimeField::Month,
        "week" | "weeks" => DateTimeField::Week,
        "day" | "days" => DateTimeField::Day,
        "dow" | "dayofweek" => DateTimeField::DayOfWeek,
        "isodow" => DateTimeField::IsoDayOfWeek,
        "doy" | "dayofyear" => DateTimeField::DayOfYear,
        "hour" | "hours" => DateTimeField::Hour,
        "minute" | "minutes" => DateTimeField::Minute,
        "second" | "seconds" => DateTimeField::Second,
        "millisecond" | "milliseconds" => DateTimeField::Milliseconds,
        "microsecond" | "microseconds" => DateTimeField::Microseconds,
        "epoch" => DateTimeField::Epoch,
        other => {
            return Err(response(
                "22023",
                format!("unit \"{other}\" not recognized"),
            ));
        }
    })
}
