//! Casts between SQL types with Postgres semantics: [`cast_datum`].
//!
//! The planner decides which casts exist (and which are implicit); this module only
//! converts values. Rules that differ from "format then parse": float → integer rounds
//! half to even (Postgres' `rint`), numeric → integer rounds half away from zero,
//! `boolean` → text is `true`/`false`, float → numeric keeps 15 (`real`: 6) significant
//! digits, and date/time conversions use UTC.

use std::sync::Arc;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::datum::MICROS_PER_DAY;
use crate::jsonb::{JsonValue, parse_json};
use crate::strconv::datetime::{check_date, check_timestamp, split_timestamp};
use crate::strconv::{
    apply_decimal_typmod, decimal_from_plain_text, format_datum, normalize_number_text, parse_datum,
};
use crate::{Datum, EvalError, Interval, ScalarType};

/// Postgres' name of the type a datum variant holds (for error messages).
pub fn datum_type_name(datum: &Datum) -> &'static str {
    match datum {
        Datum::Null => "unknown",
        Datum::Bool(_) => "boolean",
        Datum::Int16(_) => "smallint",
        Datum::Int32(_) => "integer",
        Datum::Int64(_) => "bigint",
        Datum::Float32(_) => "real",
        Datum::Float64(_) => "double precision",
        Datum::Decimal(_) => "numeric",
        Datum::Text(_) => "text",
        Datum::Bytes(_) => "bytea",
        Datum::Date(_) => "date",
        Datum::Time(_) => "time without time zone",
        Datum::Timestamp(_) => "timestamp without time zone",
        Datum::TimestampTz(_) => "timestamp with time zone",
        Datum::Interval(_) => "interval",
        Datum::Jsonb(_) => "jsonb",
        Datum::Array(_) => "array",
        Datum::Record(_) => "record",
    }
}

fn cannot_cast(datum: &Datum, to: &ScalarType) -> EvalError {
    EvalError::CannotCoerce(format!(
        "cannot cast type {} to {}",
        datum_type_name(datum),
        to
    ))
}

fn out_of_range(to: &ScalarType) -> EvalError {
    EvalError::OutOfRange(to.to_string())
}

/// Casts `datum` to `to` with Postgres semantics. `NULL` casts to `NULL`.
pub fn cast_datum(datum: &Datum, to: &ScalarType) -> Result<Datum, EvalError> {
    match (datum, to) {
        (Datum::Null, _) => Ok(Datum::Null),
        (_, ScalarType::Unknown) => Ok(datum.clone()),
        (Datum::Text(s), _) => parse_datum(s, to).or_else(|err| match (to, err) {
            // An explicit cast to varchar(n) truncates instead of failing.
            (ScalarType::VarChar { max_length }, EvalError::ValueTooLong(_)) => {
                Ok(truncate_chars(s, *max_length))
            }
            (_, err) => Err(err),
        }),
        (_, ScalarType::Text) => Ok(Datum::text(&cast_to_text(datum))),
        (_, ScalarType::VarChar { max_length }) => {
            Ok(truncate_chars(&cast_to_text(datum), *max_length))
        }
        (_, ScalarType::Bool) => cast_to_bool(datum, to),
        (_, ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64) => {
            let value = cast_to_i64(datum, to)?;
            integer_datum(value, to)
        }
        (_, ScalarType::Float32) => cast_to_f32(datum, to).map(Datum::float32),
        (_, ScalarType::Float64) => cast_to_f64(datum, to).map(Datum::float64),
        (_, ScalarType::Decimal { precision, scale }) => {
            let value = cast_to_decimal(datum, to)?;
            apply_decimal_typmod(value, *precision, *scale).map(Datum::Decimal)
        }
        (Datum::Bytes(_), ScalarType::Bytea) => Ok(datum.clone()),
        (_, ScalarType::Date) => match datum {
            Datum::Date(_) => Ok(datum.clone()),
            Datum::Timestamp(ts) | Datum::TimestampTz(ts) => {
                timestamp_to_date(*ts).map(Datum::Date)
            }
            _ => Err(cannot_cast(datum, to)),
        },
        (_, ScalarType::Time) => match datum {
            Datum::Time(_) => Ok(datum.clone()),
            Datum::Timestamp(ts) | Datum::TimestampTz(ts) => {
                if is_infinite_timestamp(*ts) {
                    return Err(EvalError::OutOfRange("time".to_string()));
                }
                Ok(Datum::Time(split_timestamp(*ts).1))
            }
            Datum::Interval(iv) => Ok(Datum::Time(iv.micros.rem_euclid(MICROS_PER_DAY))),
            _ => Err(cannot_cast(datum, to)),
        },
        (_, ScalarType::Timestamp) => match datum {
            Datum::Timestamp(_) => Ok(datum.clone()),
            Datum::TimestampTz(ts) => Ok(Datum::Timestamp(*ts)),
            Datum::Date(days) => date_to_timestamp(*days).map(Datum::Timestamp),
            _ => Err(cannot_cast(datum, to)),
        },
        (_, ScalarType::TimestampTz) => match datum {
            Datum::TimestampTz(_) => Ok(datum.clone()),
            Datum::Timestamp(ts) => Ok(Datum::TimestampTz(*ts)),
            Datum::Date(days) => date_to_timestamp(*days).map(Datum::TimestampTz),
            _ => Err(cannot_cast(datum, to)),
        },
        (_, ScalarType::Interval) => match datum {
            Datum::Interval(_) => Ok(datum.clone()),
            Datum::Time(micros) => Ok(Datum::Interval(Interval::new(0, 0, *micros))),
            _ => Err(cannot_cast(datum, to)),
        },
        (Datum::Jsonb(_), ScalarType::Jsonb) => Ok(datum.clone()),
        (Datum::Array(elements), ScalarType::Array(element_type)) => {
            let cast = elements
                .iter()
                .map(|e| match (e, element_type.as_ref()) {
                    // Nested arrays (multi-dimensional literals) keep their element type.
                    (Datum::Array(_), t) if !matches!(t, ScalarType::Array(_)) => cast_datum(e, to),
                    _ => cast_datum(e, element_type),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Datum::Array(Arc::from(cast)))
        }
        (Datum::Record(values), ScalarType::Record(fields)) => {
            if values.len() != fields.len() {
                return Err(EvalError::CannotCoerce(format!(
                    "cannot cast a record of {} fields to {}",
                    values.len(),
                    to
                )));
            }
            let cast = values
                .iter()
                .zip(fields)
                .map(|(v, (_, t))| cast_datum(v, t))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Datum::Record(Arc::from(cast)))
        }
        _ => Err(cannot_cast(datum, to)),
    }
}

/// Text of a value for a cast to text: the output function, except `boolean` (which
/// casts to `true`/`false`).
pub fn cast_to_text(datum: &Datum) -> String {
    match datum {
        Datum::Bool(true) => "true".to_string(),
        Datum::Bool(false) => "false".to_string(),
        other => format_datum(other),
    }
}

/// The first `max_length` characters of `text` (explicit cast to `varchar(n)`).
fn truncate_chars(text: &str, max_length: Option<u32>) -> Datum {
    match max_length.and_then(|n| text.char_indices().nth(n as usize)) {
        Some((cut, _)) => Datum::text(&text[..cut]),
        None => Datum::text(text),
    }
}

fn integer_datum(value: i64, to: &ScalarType) -> Result<Datum, EvalError> {
    match to {
        ScalarType::Int16 => i16::try_from(value)
            .map(Datum::Int16)
            .map_err(|_| out_of_range(to)),
        ScalarType::Int32 => i32::try_from(value)
            .map(Datum::Int32)
            .map_err(|_| out_of_range(to)),
        _ => Ok(Datum::Int64(value)),
    }
}

fn json_scalar(canonical: &str, to: &ScalarType) -> Result<JsonValue, EvalError> {
    let value = parse_json(canonical)?;
    match value {
        JsonValue::Number(_) | JsonValue::Bool(_) => Ok(value),
        other => Err(EvalError::InvalidParameter(format!(
            "cannot cast jsonb {} to type {}",
            other.kind(),
            to
        ))),
    }
}

fn json_number(canonical: &str, to: &ScalarType) -> Result<Decimal, EvalError> {
    match json_scalar(canonical, to)? {
        JsonValue::Number(n) => decimal_from_plain_text(&n),
        other => Err(EvalError::InvalidParameter(format!(
            "cannot cast jsonb {} to type {}",
            other.kind(),
            to
        ))),
    }
}

fn cast_to_bool(datum: &Datum, to: &ScalarType) -> Result<Datum, EvalError> {
    match datum {
        Datum::Bool(_) => Ok(datum.clone()),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => {
            Ok(Datum::Bool(datum.as_i64() != Some(0)))
        }
        Datum::Jsonb(s) => match json_scalar(s, to)? {
            JsonValue::Bool(b) => Ok(Datum::Bool(b)),
            other => Err(EvalError::InvalidParameter(format!(
                "cannot cast jsonb {} to type boolean",
                other.kind()
            ))),
        },
        _ => Err(cannot_cast(datum, to)),
    }
}

/// Whether a float fits an `i64` the way Postgres checks (`FLOAT8_FITS_IN_INT64`).
fn f64_to_i64(value: f64) -> Option<i64> {
    (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0)
        .contains(&value)
        .then_some(value as i64)
}

fn cast_to_i64(datum: &Datum, to: &ScalarType) -> Result<i64, EvalError> {
    match datum {
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => {
            datum.as_i64().ok_or_else(|| cannot_cast(datum, to))
        }
        Datum::Bool(b) => Ok(i64::from(*b)),
        Datum::Float32(f) => {
            f64_to_i64(f64::from(f.0.round_ties_even())).ok_or_else(|| out_of_range(to))
        }
        Datum::Float64(f) => f64_to_i64(f.0.round_ties_even()).ok_or_else(|| out_of_range(to)),
        Datum::Decimal(d) => decimal_to_i64(d).ok_or_else(|| out_of_range(to)),
        Datum::Jsonb(s) => {
            let value = json_number(s, to)?;
            decimal_to_i64(&value).ok_or_else(|| out_of_range(to))
        }
        _ => Err(cannot_cast(datum, to)),
    }
}

/// Rounds half away from zero to an integer (numeric → integer casts).
pub fn decimal_to_i64(value: &Decimal) -> Option<i64> {
    value
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
}

/// A numeric as the nearest double (correctly rounded, via its text).
pub fn decimal_to_f64(value: &Decimal) -> f64 {
    value.to_string().parse().unwrap_or(f64::NAN)
}

fn cast_to_f64(datum: &Datum, to: &ScalarType) -> Result<f64, EvalError> {
    match datum {
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => {
            Ok(datum.as_i64().unwrap_or_default() as f64)
        }
        Datum::Float32(f) => Ok(f64::from(f.0)),
        Datum::Float64(f) => Ok(f.0),
        Datum::Decimal(d) => Ok(decimal_to_f64(d)),
        Datum::Jsonb(s) => json_number(s, to).map(|d| decimal_to_f64(&d)),
        _ => Err(cannot_cast(datum, to)),
    }
}

fn cast_to_f32(datum: &Datum, to: &ScalarType) -> Result<f32, EvalError> {
    match datum {
        Datum::Float32(f) => Ok(f.0),
        Datum::Decimal(d) => Ok(d.to_string().parse().unwrap_or(f32::NAN)),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => {
            Ok(datum.as_i64().unwrap_or_default() as f32)
        }
        _ => {
            let wide = cast_to_f64(datum, to)?;
            let narrow = wide as f32;
            if narrow.is_infinite() && wide.is_finite() {
                Err(EvalError::NumericValueOutOfRange(
                    "value out of range: overflow".to_string(),
                ))
            } else if narrow == 0.0 && wide != 0.0 {
                Err(EvalError::NumericValueOutOfRange(
                    "value out of range: underflow".to_string(),
                ))
            } else {
                Ok(narrow)
            }
        }
    }
}

fn cast_to_decimal(datum: &Datum, to: &ScalarType) -> Result<Decimal, EvalError> {
    match datum {
        Datum::Decimal(d) => Ok(*d),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => {
            Ok(Decimal::from(datum.as_i64().unwrap_or_default()))
        }
        Datum::Float32(f) => float_to_decimal(f64::from(f.0), 6),
        Datum::Float64(f) => float_to_decimal(f.0, 15),
        Datum::Jsonb(s) => json_number(s, to),
        _ => Err(cannot_cast(datum, to)),
    }
}

/// Float → numeric keeping `digits` significant digits (Postgres prints the float with
/// `%.{digits}g` and reads that back).
pub fn float_to_decimal(value: f64, digits: usize) -> Result<Decimal, EvalError> {
    if value.is_nan() {
        return Err(EvalError::FeatureNotSupported(
            "cannot convert NaN to numeric".to_string(),
        ));
    }
    if value.is_infinite() {
        return Err(EvalError::FeatureNotSupported(
            "cannot convert infinity to numeric".to_string(),
        ));
    }
    let scientific = format!("{:.*e}", digits.saturating_sub(1), value);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    let text = normalize_number_text(&format!("{mantissa}e{exponent}"))
        .ok_or(EvalError::NumericFieldOverflow)?;
    decimal_from_plain_text(&text)
}

fn is_infinite_timestamp(micros: i64) -> bool {
    micros == i64::MAX || micros == i64::MIN
}

/// `timestamp` → `date` (floor to the day).
pub fn timestamp_to_date(micros: i64) -> Result<i32, EvalError> {
    match micros {
        i64::MAX => Ok(i32::MAX),
        i64::MIN => Ok(i32::MIN),
        _ => check_date(split_timestamp(micros).0),
    }
}

/// `date` → `timestamp` (midnight).
pub fn date_to_timestamp(days: i32) -> Result<i64, EvalError> {
    match days {
        i32::MAX => Ok(i64::MAX),
        i32::MIN => Ok(i64::MIN),
        _ => i64::from(days)
            .checked_mul(MICROS_PER_DAY)
            .ok_or_else(|| EvalError::OutOfRange("timestamp".to_string()))
            .and_then(check_timestamp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cast(datum: Datum, to: ScalarType) -> Result<Datum, EvalError> {
        cast_datum(&datum, &to)
    }

    fn cast_text(datum: Datum, to: ScalarType) -> String {
        format_datum(&cast(datum, to).unwrap())
    }

    #[test]
    fn numeric_casts_round_like_postgres() {
        assert_eq!(
            cast(Datum::float64(2.5), ScalarType::Int32).unwrap(),
            Datum::Int32(2)
        );
        assert_eq!(
            cast(Datum::float64(3.5), ScalarType::Int32).unwrap(),
            Datum::Int32(4)
        );
        assert_eq!(
            cast(Datum::Decimal(Decimal::new(25, 1)), ScalarType::Int32).unwrap(),
            Datum::Int32(3)
        );
        assert_eq!(
            cast(Datum::Decimal(Decimal::new(-25, 1)), ScalarType::Int32).unwrap(),
            Datum::Int32(-3)
        );
        assert_eq!(
            cast(Datum::Int64(2_147_483_648), ScalarType::Int32)
                .unwrap_err()
                .to_string(),
            "integer out of range"
        );
        assert_eq!(
            cast(Datum::float64(f64::NAN), ScalarType::Int32)
                .unwrap_err()
                .to_string(),
            "integer out of range"
        );
        assert_eq!(
            cast(Datum::float64(f64::INFINITY), ScalarType::Int64)
                .unwrap_err()
                .to_string(),
            "bigint out of range"
        );
        assert_eq!(
            cast(Datum::Int32(40000), ScalarType::Int16)
                .unwrap_err()
                .to_string(),
            "smallint out of range"
        );
        assert_eq!(cast_text(Datum::float64(0.1), ScalarType::NUMERIC), "0.1");
        assert_eq!(
            cast_text(Datum::float64(1.0 / 3.0), ScalarType::NUMERIC),
            "0.333333333333333"
        );
        assert_eq!(
            cast_text(Datum::float64(1e20), ScalarType::NUMERIC),
            "100000000000000000000"
        );
        assert_eq!(
            cast_text(Datum::float64(1e-5), ScalarType::NUMERIC),
            "0.00001"
        );
        assert_eq!(cast_text(Datum::float32(0.1), ScalarType::NUMERIC), "0.1");
        assert_eq!(
            cast_text(Datum::float32(0.1), ScalarType::Float64),
            "0.10000000149011612"
        );
        assert_eq!(
            cast(Datum::float64(1e300), ScalarType::Float32)
                .unwrap_err()
                .to_string(),
            "value out of range: overflow"
        );
        let typed = ScalarType::Decimal {
            precision: Some(4),
            scale: Some(2),
        };
        assert_eq!(cast_text(Datum::Int32(5), typed.clone()), "5.00");
        assert_eq!(
            cast(Datum::Int32(100), typed).unwrap_err(),
            EvalError::NumericFieldOverflow
        );
    }

    #[test]
    fn text_casts() {
        assert_eq!(cast_text(Datum::Bool(true), ScalarType::Text), "true");
        assert_eq!(cast_text(Datum::float64(1.5), ScalarType::Text), "1.5");
        let varchar = ScalarType::VarChar {
            max_length: Some(2),
        };
        assert_eq!(cast_text(Datum::text("abc"), varchar.clone()), "ab");
        assert_eq!(cast_text(Datum::Int32(12345), varchar), "12");
        assert_eq!(cast_text(Datum::text(" 12 "), ScalarType::Int32), "12");
        assert_eq!(
            cast(Datum::text("abc"), ScalarType::Int32)
                .unwrap_err()
                .to_string(),
            "invalid input syntax for type integer: \"abc\""
        );
        assert_eq!(
            cast_text(Datum::text("{\"b\":1,\"a\":2}"), ScalarType::Jsonb),
            "{\"a\": 2, \"b\": 1}"
        );
        assert_eq!(
            cast_text(
                Datum::text("{1,NULL}"),
                ScalarType::Array(Box::new(ScalarType::Int64))
            ),
            "{1,NULL}"
        );
        let record = Datum::Record(Arc::from(vec![Datum::Int32(1), Datum::text("a b")]));
        assert_eq!(cast_text(record, ScalarType::Text), "(1,\"a b\")");
    }

    #[test]
    fn jsonb_casts() {
        let j = |s: &str| Datum::Jsonb(crate::jsonb::JsonbText::from_canonical(s));
        assert_eq!(cast(j("1.5"), ScalarType::Int32).unwrap(), Datum::Int32(2));
        assert_eq!(
            cast(j("true"), ScalarType::Bool).unwrap(),
            Datum::Bool(true)
        );
        assert_eq!(cast_text(j("1.50"), ScalarType::NUMERIC), "1.50");
        assert_eq!(
            cast(j("{\"a\": 1}"), ScalarType::Int32)
                .unwrap_err()
                .to_string(),
            "cannot cast jsonb object to type integer"
        );
        assert_eq!(
            cast(j("\"a\""), ScalarType::Int32).unwrap_err().to_string(),
            "cannot cast jsonb string to type integer"
        );
        assert_eq!(cast_text(j("\"a\""), ScalarType::Text), "\"a\"");
    }

    #[test]
    fn temporal_casts() {
        let ts = crate::strconv::parse_timestamp("2024-01-02 03:04:05").unwrap();
        assert_eq!(
            cast_text(Datum::Timestamp(ts), ScalarType::Date),
            "2024-01-02"
        );
        assert_eq!(
            cast_text(Datum::Timestamp(ts), ScalarType::Time),
            "03:04:05"
        );
        assert_eq!(
            cast_text(Datum::Timestamp(ts), ScalarType::TimestampTz),
            "2024-01-02 03:04:05+00"
        );
        assert_eq!(
            cast_text(Datum::Date(19_724), ScalarType::Timestamp),
            "2024-01-02 00:00:00"
        );
        let before_epoch = crate::strconv::parse_timestamp("1969-12-31 23:00:00").unwrap();
        assert_eq!(
            cast_text(Datum::Timestamp(before_epoch), ScalarType::Date),
            "1969-12-31"
        );
        assert_eq!(
            cast_text(Datum::Time(3_600_000_000), ScalarType::Interval),
            "01:00:00"
        );
        assert_eq!(
            cast_text(
                Datum::Interval(Interval::new(0, 1, -3_600_000_000)),
                ScalarType::Time
            ),
            "23:00:00"
        );
        assert_eq!(cast_text(Datum::Bool(true), ScalarType::Int32), "1");
        assert_eq!(cast_text(Datum::Int32(0), ScalarType::Bool), "f");
    }
}
