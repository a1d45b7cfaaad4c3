//! Text input and output of datums in Postgres' formats: [`format_datum`] prints a value
//! as `psql` would; [`parse_datum`] reads a value of a type from text (casts from text,
//! typed literals like `DATE '2024-01-01'`).
//!
//! Numbers, booleans, bytea, arrays and records live here; dates, times, timestamps and
//! intervals (and the calendar arithmetic they need) live in [`datetime`]; jsonb lives in
//! [`crate::jsonb`].

pub mod datetime;

use std::fmt::Write;
use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::{Decimal, RoundingStrategy};

pub use datetime::{
    format_date, format_interval, format_time, format_timestamp, format_timestamptz, parse_date,
    parse_interval, parse_time, parse_timestamp, parse_timestamptz,
};

use crate::{Datum, EvalError, ScalarType};

/// Formats a datum as Postgres' text output. `NULL` formats as `NULL`.
pub fn format_datum(datum: &Datum) -> String {
    let mut out = String::new();
    write_datum(&mut out, datum);
    out
}

/// Appends Postgres' text output of `datum` to `out`.
pub fn write_datum(out: &mut String, datum: &Datum) {
    match datum {
        Datum::Null => out.push_str("NULL"),
        Datum::Bool(true) => out.push('t'),
        Datum::Bool(false) => out.push('f'),
        Datum::Int16(v) => write_display(out, v),
        Datum::Int32(v) => write_display(out, v),
        Datum::Int64(v) => write_display(out, v),
        Datum::Float32(v) => out.push_str(&format_float32(v.0)),
        Datum::Float64(v) => out.push_str(&format_float64(v.0)),
        Datum::Decimal(v) => out.push_str(&format_decimal(v)),
        Datum::Text(s) => out.push_str(s),
        Datum::Jsonb(s) => out.push_str(s),
        Datum::Bytes(b) => write_bytea(out, b),
        Datum::Date(d) => out.push_str(&format_date(*d)),
        Datum::Time(t) => out.push_str(&format_time(*t)),
        Datum::Timestamp(ts) => out.push_str(&format_timestamp(*ts)),
        Datum::TimestampTz(ts) => out.push_str(&format_timestamptz(*ts)),
        Datum::Interval(iv) => out.push_str(&format_interval(iv)),
        Datum::Array(elements) => write_array(out, elements),
        Datum::Record(fields) => write_record(out, fields),
    }
}

fn write_display(out: &mut String, value: &impl std::fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{value}");
}

/// Postgres' output of a `numeric`: the value with its scale, and no negative zero.
pub fn format_decimal(value: &Decimal) -> String {
    if value.is_zero() && value.is_sign_negative() {
        let mut positive = *value;
        positive.set_sign_positive(true);
        return positive.to_string();
    }
    value.to_string()
}

/// Postgres' text for the values that have no digits to print: NaN, the infinities and
/// the signed zeros (`f32` values widen to `f64` exactly).
fn special_float(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value.is_infinite() {
        Some(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else if value == 0.0 {
        Some(if value.is_sign_negative() { "-0" } else { "0" })
    } else {
        None
    }
}

/// Postgres 15's `float8` output: the shortest text that reads back as the same value,
/// in fixed notation for decimal exponents -4..15 and `1e+20` style otherwise.
pub fn format_float64(value: f64) -> String {
    if let Some(text) = special_float(value) {
        return text.to_string();
    }
    // Rust's shortest digits, re-rounded half to even at that length (Rust's shortest
    // mode may round a tie up where Postgres' Ryu picks the even digit), skipping
    // decimals that sit exactly between two doubles.
    let shortest_len = significant_digits(&format!("{value:e}"));
    let scientific = (shortest_len.saturating_sub(1)..17)
        .map(|precision| format!("{value:.precision$e}"))
        .find(|s| s.parse::<f64>() == Ok(value) && !is_exact_midpoint_f64(value, s))
        .unwrap_or_else(|| format!("{value:.16e}"));
    shortest_to_pg(&scientific, 15)
}

/// Postgres 15's `float4` output (shortest round trip for `f32`, fixed notation for
/// decimal exponents -4..6).
pub fn format_float32(value: f32) -> String {
    if let Some(text) = special_float(f64::from(value)) {
        return text.to_string();
    }
    let shortest_len = significant_digits(&format!("{value:e}"));
    let scientific = (shortest_len.saturating_sub(1)..9)
        .map(|precision| format!("{value:.precision$e}"))
        .find(|s| s.parse::<f32>() == Ok(value) && !is_exact_midpoint_f32(value, s))
        .unwrap_or_else(|| format!("{value:.8e}"));
    shortest_to_pg(&scientific, 6)
}

/// How many significant digits the mantissa of `{:e}` text has.
fn significant_digits(scientific: &str) -> usize {
    scientific
        .split('e')
        .next()
        .map_or(1, |m| m.bytes().filter(u8::is_ascii_digit).count())
}

/// Whether the decimal in `scientific` (`{:e}` text) lies exactly halfway between
/// `value` and a neighbor. Rust's shortest output may pick such a boundary (it reads
/// back as `value` under round-half-even); Postgres' Ryu never does, so Laaster then
/// prints one more digit, as Postgres does.
fn is_exact_midpoint_f64(value: f64, scientific: &str) -> bool {
    let bits = value.abs().to_bits();
    let exponent_bits = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = if exponent_bits == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), exponent_bits - 1075)
    };
    let lower_is_closer = exponent_bits > 1 && fraction == 0;
    is_exact_midpoint(mantissa, exponent, lower_is_closer, scientific)
}

fn is_exact_midpoint_f32(value: f32, scientific: &str) -> bool {
    let bits = value.abs().to_bits();
    let exponent_bits = ((bits >> 23) & 0xff) as i32;
    let fraction = u64::from(bits & ((1 << 23) - 1));
    let (mantissa, exponent) = if exponent_bits == 0 {
        (fraction, -149)
    } else {
        (fraction | (1 << 23), exponent_bits - 150)
    };
    let lower_is_closer = exponent_bits > 1 && fraction == 0;
    is_exact_midpoint(mantissa, exponent, lower_is_closer, scientific)
}

/// Whether the decimal `scientific` equals one of the midpoints around
/// `mantissa * 2^exponent` (the lower one is a quarter step away at a power of two).
fn is_exact_midpoint(
    mantissa: u64,
    exponent: i32,
    lower_is_closer: bool,
    scientific: &str,
) -> bool {
    let (digits_text, exp10) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let Ok(exp10) = exp10.parse::<i32>() else {
        return false;
    };
    let digits_text = digits_text.trim_start_matches('-');
    let fraction_len = digits_text.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    let Ok(digits) = digits_text.replace('.', "").parse::<u128>() else {
        return false;
    };
    if digits == 0 {
        return false;
    }
    let decimal_exponent = exp10 - fraction_len;
    let mantissa = u128::from(mantissa);
    let upper = (2 * mantissa + 1, exponent - 1);
    let lower = if lower_is_closer {
        (4 * mantissa - 1, exponent - 2)
    } else {
        (2 * mantissa - 1, exponent - 1)
    };
    [upper, lower]
        .into_iter()
        .any(|(odd, exp2)| decimal_equals(digits, decimal_exponent, odd, exp2))
}

/// Whether `digits * 10^exp10 == odd * 2^exp2` (`odd` odd), exactly.
fn decimal_equals(digits: u128, exp10: i32, odd: u128, exp2: i32) -> bool {
    let twos = digits.trailing_zeros() as i32;
    let digits_odd = digits >> twos;
    if twos + exp10 != exp2 {
        return false;
    }
    let five_power = |n: i32| 5u128.checked_pow(n.unsigned_abs());
    if exp10 >= 0 {
        five_power(exp10)
            .and_then(|p| digits_odd.checked_mul(p))
            .is_some_and(|v| v == odd)
    } else {
        five_power(exp10)
            .and_then(|p| odd.checked_mul(p))
            .is_some_and(|v| v == digits_odd)
    }
}

/// Rewrites Rust's shortest `{:e}` output (`-1.25e-7`) in Postgres' layout.
fn shortest_to_pg(scientific: &str, fixed_below: i32) -> String {
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if (-4..fixed_below).contains(&exponent) {
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                out.push_str(digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    }
    out
}

/// Appends bytea's hex output (`\x0102`).
fn write_bytea(out: &mut String, bytes: &[u8]) {
    out.reserve(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// Whether an array element's text must be quoted (Postgres' `array_out` rules).
fn array_element_needs_quotes(text: &str) -> bool {
    text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text
            .chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || is_array_space(c))
}

fn is_array_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

fn write_array(out: &mut String, elements: &[Datum]) {
    out.push('{');
    for (i, element) in elements.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match element {
            Datum::Null => out.push_str("NULL"),
            Datum::Array(inner) => write_array(out, inner),
            other => {
                let text = format_datum(other);
                if array_element_needs_quotes(&text) {
                    out.push('"');
                    for c in text.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                } else {
                    out.push_str(&text);
                }
            }
        }
    }
    out.push('}');
}

fn write_record(out: &mut String, fields: &[Datum]) {
    out.push('(');
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.is_null() {
            continue;
        }
        let text = format_datum(field);
        let quote = text.is_empty()
            || text
                .chars()
                .any(|c| matches!(c, '(' | ')' | ',' | '"' | '\\') || c.is_ascii_whitespace());
        if quote {
            out.push('"');
            for c in text.chars() {
                if c == '"' || c == '\\' {
                    out.push(c);
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str(&text);
        }
    }
    out.push(')');
}

/// Parses text as a value of `typ`.
pub fn parse_datum(text: &str, typ: &ScalarType) -> Result<Datum, EvalError> {
    match typ {
        ScalarType::Unknown | ScalarType::Text => Ok(Datum::text(text)),
        ScalarType::VarChar { max_length } => parse_varchar(text, *max_length),
        ScalarType::Bool => parse_bool(text).map(Datum::Bool),
        ScalarType::Int16 => parse_integer(text, typ).map(|v| Datum::Int16(v as i16)),
        ScalarType::Int32 => parse_integer(text, typ).map(|v| Datum::Int32(v as i32)),
        ScalarType::Int64 => parse_integer(text, typ).map(Datum::Int64),
        ScalarType::Float32 => parse_float32(text).map(Datum::float32),
        ScalarType::Float64 => parse_float64(text).map(Datum::float64),
        ScalarType::Decimal { precision, scale } => {
            let value = parse_decimal(text)?;
            apply_decimal_typmod(value, *precision, *scale).map(Datum::Decimal)
        }
        ScalarType::Bytea => parse_bytea(text).map(|b| Datum::Bytes(Arc::from(b))),
        ScalarType::Date => parse_date(text).map(Datum::Date),
        ScalarType::Time => parse_time(text).map(Datum::Time),
        ScalarType::Timestamp => parse_timestamp(text).map(Datum::Timestamp),
        ScalarType::TimestampTz => parse_timestamptz(text).map(Datum::TimestampTz),
        ScalarType::Interval => parse_interval(text).map(Datum::Interval),
        ScalarType::Jsonb => crate::jsonb::canonical_jsonb(text)
            .map(|s| Datum::Jsonb(crate::jsonb::JsonbText::from_canonical(s))),
        ScalarType::Array(element) => parse_array(text, element),
        ScalarType::Record(fields) => parse_record(text, fields),
    }
}

fn invalid_input(typ: &str, text: &str) -> EvalError {
    EvalError::InvalidInputSyntax {
        typ: typ.to_string(),
        input: text.to_string(),
    }
}

/// A `varchar(n)` value read from text: longer input is an error unless the excess is
/// only spaces (Postgres' assignment rule).
fn parse_varchar(text: &str, max_length: Option<u32>) -> Result<Datum, EvalError> {
    let Some(max) = max_length else {
        return Ok(Datum::text(text));
    };
    let max = max as usize;
    match text.char_indices().nth(max) {
        None => Ok(Datum::text(text)),
        Some((cut, _)) if text[cut..].chars().all(|c| c == ' ') => Ok(Datum::text(&text[..cut])),
        Some(_) => Err(EvalError::ValueTooLong(format!("character varying({max})"))),
    }
}

/// Postgres' boolean input: any prefix of `true`/`false`/`yes`/`no`, `on`/`off`, `1`/`0`,
/// case-insensitive, surrounding whitespace allowed.
pub fn parse_bool(text: &str) -> Result<bool, EvalError> {
    let trimmed = text.trim().to_ascii_lowercase();
    let t = trimmed.as_str();
    let is_prefix = |word: &str, min: usize| t.len() >= min && word.starts_with(t);
    if is_prefix("true", 1) || is_prefix("yes", 1) || is_prefix("on", 2) || t == "1" {
        Ok(true)
    } else if is_prefix("false", 1) || is_prefix("no", 1) || is_prefix("off", 2) || t == "0" {
        Ok(false)
    } else {
        Err(invalid_input("boolean", text))
    }
}

/// Integer input for `smallint`/`integer`/`bigint` (`typ`), returning the value widened
/// to `i64` after the range check.
pub fn parse_integer(text: &str, typ: &ScalarType) -> Result<i64, EvalError> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let name = typ.to_string();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return Err(invalid_input(&name, text));
    }
    if digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return Err(invalid_input(&name, text));
    }
    let out_of_range = || {
        EvalError::NumericValueOutOfRange(format!(
            "value \"{text}\" is out of range for type {name}"
        ))
    };
    let mut value: i128 = 0;
    for b in digits.bytes().filter(|b| *b != b'_') {
        value = value * 10 + i128::from(b - b'0');
        if value > i128::from(u64::MAX) {
            return Err(out_of_range());
        }
    }
    if negative {
        value = -value;
    }
    let (min, max) = match typ {
        ScalarType::Int16 => (i128::from(i16::MIN), i128::from(i16::MAX)),
        ScalarType::Int32 => (i128::from(i32::MIN), i128::from(i32::MAX)),
        _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
    };
    if value < min || value > max {
        return Err(out_of_range());
    }
    Ok(value as i64)
}

/// Validates the text of a float: Rust's parser is more permissive (`inf` is fine, but
/// Rust also accepts things Postgres does not, like `infinity` with a `+` in odd places).
fn float_text(text: &str) -> Option<&str> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.is_empty() {
        return None;
    }
    let body = trimmed.trim_start_matches(['+', '-']);
    if trimmed.len() - body.len() > 1 {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "nan" | "inf" | "infinity") {
        return Some(trimmed);
    }
    let valid = body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    valid.then_some(trimmed)
}

/// Whether the mantissa of a float's text has a non-zero digit (so a parsed zero is an
/// underflow).
fn has_nonzero_mantissa(text: &str) -> bool {
    text.split(['e', 'E'])
        .next()
        .is_some_and(|m| m.bytes().any(|b| (b'1'..=b'9').contains(&b)))
}

/// `double precision` input, with Postgres' range errors.
pub fn parse_float64(text: &str) -> Result<f64, EvalError> {
    let invalid = || invalid_input("double precision", text);
    let trimmed = float_text(text).ok_or_else(invalid)?;
    let value: f64 = trimmed.parse().map_err(|_| invalid())?;
    let lower = trimmed.to_ascii_lowercase();
    if (value.is_infinite() && !lower.contains("inf"))
        || (value == 0.0 && has_nonzero_mantissa(trimmed))
    {
        return Err(EvalError::NumericValueOutOfRange(format!(
            "\"{text}\" is out of range for type double precision"
        )));
    }
    Ok(value)
}

/// `real` input, with Postgres' range errors.
pub fn parse_float32(text: &str) -> Result<f32, EvalError> {
    let invalid = || invalid_input("real", text);
    let trimmed = float_text(text).ok_or_else(invalid)?;
    let value: f32 = trimmed.parse().map_err(|_| invalid())?;
    let lower = trimmed.to_ascii_lowercase();
    if (value.is_infinite() && !lower.contains("inf"))
        || (value == 0.0 && has_nonzero_mantissa(trimmed))
    {
        return Err(EvalError::NumericValueOutOfRange(format!(
            "\"{text}\" is out of range for type real"
        )));
    }
    Ok(value)
}

/// Rewrites a decimal number's text (`-1.50e3`, `.5`, `1e-5`) as plain decimal text with
/// Postgres' display scale (`-1500`, `0.5`, `0.00001`). `None` if it is not a number.
pub fn normalize_number_text(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &text[int_start..i];
    let mut frac_digits = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &text[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut exponent: i64 = 0;
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let exp_text = &text[i + 1..];
        let digits = exp_text.trim_start_matches(['+', '-']);
        if digits.is_empty()
            || exp_text.len() - digits.len() > 1
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.len() > 6
        {
            return None;
        }
        exponent = exp_text.parse().ok()?;
        i = bytes.len();
    }
    if i != bytes.len() || exponent.abs() > 1000 {
        return None;
    }
    let digits = format!("{int_digits}{frac_digits}");
    let point = int_digits.len() as i64 + exponent;
    let scale = (frac_digits.len() as i64 - exponent).max(0) as usize;
    let (int_part, frac_part) = if point <= 0 {
        let mut frac = "0".repeat((-point) as usize);
        frac.push_str(&digits);
        (String::new(), frac)
    } else if point as usize >= digits.len() {
        let mut int = digits.clone();
        int.push_str(&"0".repeat(point as usize - digits.len()));
        (int, String::new())
    } else {
        let (a, b) = digits.split_at(point as usize);
        (a.to_string(), b.to_string())
    };
    let mut frac_part = frac_part;
    frac_part.truncate(scale);
    while frac_part.len() < scale {
        frac_part.push('0');
    }
    let int_part = int_part.trim_start_matches('0');
    let is_zero = int_part.is_empty() && frac_part.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(int_part.len() + frac_part.len() + 3);
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(if int_part.is_empty() { "0" } else { int_part });
    if !frac_part.is_empty() {
        out.push('.');
        out.push_str(&frac_part);
    }
    Some(out)
}

/// `numeric` input (unconstrained).
pub fn parse_decimal(text: &str) -> Result<Decimal, EvalError> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let lower = trimmed.to_ascii_lowercase();
    if matches!(
        lower.trim_start_matches(['+', '-']),
        "nan" | "inf" | "infinity"
    ) {
        return Err(EvalError::FeatureNotSupported(format!(
            "numeric value \"{trimmed}\" is not supported (NaN and infinity are not representable)"
        )));
    }
    let normalized =
        normalize_number_text(trimmed).ok_or_else(|| invalid_input("numeric", text))?;
    decimal_from_plain_text(&normalized)
}

/// A `Decimal` from plain decimal text (no exponent). Fractional digits beyond what the
/// 96-bit mantissa holds are rounded; too many integer digits overflow.
pub fn decimal_from_plain_text(text: &str) -> Result<Decimal, EvalError> {
    match Decimal::from_str(text) {
        Ok(value) => Ok(value),
        Err(_) => {
            // Too many digits: keep what fits by rounding the fraction away.
            let (int_part, frac_part) = text.split_once('.').unwrap_or((text, ""));
            let int_digits = int_part.trim_start_matches('-').len();
            if int_digits > 28 {
                return Err(EvalError::NumericFieldOverflow);
            }
            let keep = 28usize.saturating_sub(int_digits);
            let mut value =
                Decimal::from_str(int_part).map_err(|_| EvalError::NumericFieldOverflow)?;
            let frac: String = frac_part.chars().take(keep + 1).collect();
            if !frac.is_empty() {
                let full = format!("{int_part}.{frac}");
                value = Decimal::from_str(&full)
                    .map(|v| {
                        v.round_dp_with_strategy(
                            keep as u32,
                            RoundingStrategy::MidpointAwayFromZero,
                        )
                    })
                    .map_err(|_| EvalError::NumericFieldOverflow)?;
            }
            Ok(value)
        }
    }
}

/// Sets `value`'s scale to exactly `scale` (rounding half away from zero when reducing);
/// the scale is capped at what the 96-bit mantissa can hold.
pub fn decimal_with_scale(value: Decimal, scale: u32) -> Decimal {
    let scale = scale.min(28);
    if scale <= value.scale() {
        value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero)
    } else {
        let mut v = value;
        v.rescale(scale);
        v
    }
}

/// Applies a `numeric(precision, scale)` modifier: rounds to the scale and errors with
/// `numeric field overflow` if the integer part has more than `precision - scale` digits.
pub fn apply_decimal_typmod(
    value: Decimal,
    precision: Option<u8>,
    scale: Option<u8>,
) -> Result<Decimal, EvalError> {
    let Some(precision) = precision else {
        return Ok(value);
    };
    let scale = scale.unwrap_or(0);
    let rounded = decimal_with_scale(value, u32::from(scale));
    let int_digits = i32::from(precision) - i32::from(scale);
    if int_digits < 28 {
        let limit = if int_digits >= 0 {
            Decimal::from_i128_with_scale(10i128.pow(int_digits as u32), 0)
        } else {
            Decimal::new(1, int_digits.unsigned_abs())
        };
        if rounded.abs() >= limit {
            return Err(EvalError::NumericFieldOverflow);
        }
    }
    Ok(rounded)
}

/// `bytea` input: hex (`\x0102`) or the escape format (`a\\b\001`).
pub fn parse_bytea(text: &str) -> Result<Vec<u8>, EvalError> {
    if let Some(hex) = text
        .strip_prefix("\\x")
        .or_else(|| text.strip_prefix("\\X"))
    {
        let mut out = Vec::with_capacity(hex.len() / 2);
        let mut chars = hex.chars().filter(|c| !c.is_ascii_whitespace());
        while let Some(high) = chars.next() {
            let hi = high.to_digit(16).ok_or_else(|| {
                EvalError::InvalidParameter(format!("invalid hexadecimal digit: \"{high}\""))
            })?;
            let low = chars.next().ok_or_else(|| {
                EvalError::InvalidParameter(
                    "invalid hexadecimal data: odd number of digits".to_string(),
                )
            })?;
            let lo = low.to_digit(16).ok_or_else(|| {
                EvalError::InvalidParameter(format!("invalid hexadecimal digit: \"{low}\""))
            })?;
            out.push((hi * 16 + lo) as u8);
        }
        return Ok(out);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if bytes.len() >= i + 4
            && (b'0'..=b'3').contains(&bytes[i + 1])
            && (b'0'..=b'7').contains(&bytes[i + 2])
            && (b'0'..=b'7').contains(&bytes[i + 3])
        {
            out.push(
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'),
            );
            i += 4;
        } else {
            return Err(invalid_input("bytea", text));
        }
    }
    Ok(out)
}

/// Postgres' error for a bad array literal (Postgres adds `_detail` as a DETAIL line).
fn malformed_array(text: &str, _detail: &str) -> EvalError {
    EvalError::InvalidTextRepresentation(format!("malformed array literal: \"{text}\""))
}

/// Array input: `{1,2,NULL}`, `{"a b",c}`, nested braces for arrays of arrays.
pub fn parse_array(text: &str, element: &ScalarType) -> Result<Datum, EvalError> {
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    skip_array_space(&chars, &mut pos);
    let value = parse_array_level(text, &chars, &mut pos, element)?;
    skip_array_space(&chars, &mut pos);
    if pos != chars.len() {
        return Err(malformed_array(text, "Junk after closing right brace."));
    }
    Ok(value)
}

fn skip_array_space(chars: &[char], pos: &mut usize) {
    while *pos < chars.len() && is_array_space(chars[*pos]) {
        *pos += 1;
    }
}

fn parse_array_level(
    text: &str,
    chars: &[char],
    pos: &mut usize,
    element: &ScalarType,
) -> Result<Datum, EvalError> {
    if chars.get(*pos) != Some(&'{') {
        return Err(malformed_array(
            text,
            "Array value must start with \"{\" or dimension information.",
        ));
    }
    *pos += 1;
    let mut elements = Vec::new();
    skip_array_space(chars, pos);
    if chars.get(*pos) == Some(&'}') {
        *pos += 1;
        return Ok(Datum::Array(Arc::from(elements)));
    }
    loop {
        skip_array_space(chars, pos);
        match chars.get(*pos) {
            None => return Err(malformed_array(text, "Unexpected end of input.")),
            Some('{') => match element {
                ScalarType::Array(inner) => {
                    elements.push(parse_array_level(text, chars, pos, inner)?);
                }
                _ => {
                    // A multi-dimensional literal for a one-dimensional type: keep the
                    // nesting as arrays of the same element type.
                    elements.push(parse_array_level(text, chars, pos, element)?);
                }
            },
            Some('"') => {
                *pos += 1;
                let mut value = String::new();
                loop {
                    match chars.get(*pos) {
                        None => return Err(malformed_array(text, "Unexpected end of input.")),
                        Some('\\') => {
                            let escaped = chars
                                .get(*pos + 1)
                                .ok_or_else(|| malformed_array(text, "Unexpected end of input."))?;
                            value.push(*escaped);
                            *pos += 2;
                        }
                        Some('"') => {
                            *pos += 1;
                            break;
                        }
                        Some(c) => {
                            value.push(*c);
                            *pos += 1;
                        }
                    }
                }
                elements.push(parse_datum(&value, element)?);
            }
            Some(_) => {
                let mut value = String::new();
                let mut trailing_space_from = None;
                while let Some(&c) = chars.get(*pos) {
                    if c == ',' || c == '}' {
                        break;
                    }
                    if c == '{' || c == '"' {
                        return Err(malformed_array(text, "Unexpected character."));
                    }
                    if c == '\\' {
                        let escaped = chars
                            .get(*pos + 1)
                            .ok_or_else(|| malformed_array(text, "Unexpected end of input."))?;
                        value.push(*escaped);
                        trailing_space_from = None;
                        *pos += 2;
                        continue;
                    }
                    if is_array_space(c) {
                        trailing_space_from.get_or_insert(value.len());
                    } else {
                        trailing_space_from = None;
                    }
                    value.push(c);
                    *pos += 1;
                }
                if let Some(cut) = trailing_space_from {
                    value.truncate(cut);
                }
                if value.eq_ignore_ascii_case("NULL") {
                    elements.push(Datum::Null);
                } else {
                    elements.push(parse_datum(&value, element)?);
                }
            }
        }
        skip_array_space(chars, pos);
        match chars.get(*pos) {
            Some(',') => *pos += 1,
            Some('}') => {
                *pos += 1;
                return Ok(Datum::Array(Arc::from(elements)));
            }
            None => return Err(malformed_array(text, "Unexpected end of input.")),
            Some(_) => return Err(malformed_array(text, "Unexpected array element.")),
        }
    }
}

/// Record input: `(1,abc,,"a b")` (an empty field is `NULL`; `""` is the empty string).
pub fn parse_record(text: &str, fields: &[(String, ScalarType)]) -> Result<Datum, EvalError> {
    let malformed = |_detail: &str| {
        EvalError::InvalidTextRepresentation(format!("malformed record literal: \"{text}\""))
    };
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| malformed("Missing left or right parenthesis."))?;
    let mut raw: Vec<Option<String>> = Vec::new();
    let mut current = String::new();
    let mut quoted_or_nonempty = false;
    let mut chars = inner.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => {
                in_quotes = !in_quotes;
                quoted_or_nonempty = true;
            }
            '\\' => {
                let escaped = chars
                    .next()
                    .ok_or_else(|| malformed("Unexpected end of input."))?;
                current.push(escaped);
                quoted_or_nonempty = true;
            }
            ',' if !in_quotes => {
                raw.push(quoted_or_nonempty.then(|| std::mem::take(&mut current)));
                quoted_or_nonempty = false;
            }
            c => {
                current.push(c);
                quoted_or_nonempty = true;
            }
        }
    }
    if in_quotes {
        return Err(malformed("Unexpected end of input."));
    }
    raw.push(quoted_or_nonempty.then_some(current));
    if raw.len() != fields.len() {
        return Err(malformed(if raw.len() < fields.len() {
            "Too few columns."
        } else {
            "Too many columns."
        }));
    }
    let values = raw
        .iter()
        .zip(fields)
        .map(|(value, (_, typ))| match value {
            None => Ok(Datum::Null),
            Some(v) => parse_datum(v, typ),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Datum::Record(Arc::from(values)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Interval;

    fn round_trip(text: &str, typ: &ScalarType) -> String {
        format_datum(&parse_datum(text, typ).unwrap())
    }

    #[test]
    fn floats_print_like_postgres_15() {
        assert_eq!(format_float64(1.5), "1.5");
        assert_eq!(format_float64(0.1), "0.1");
        assert_eq!(format_float64(1e20), "1e+20");
        assert_eq!(format_float64(1e15), "1e+15");
        assert_eq!(format_float64(1e14), "100000000000000");
        assert_eq!(format_float64(1e-5), "1e-05");
        assert_eq!(format_float64(0.0001), "0.0001");
        assert_eq!(
            format_float64(1.2345678901234567e19),
            "1.2345678901234567e+19"
        );
        assert_eq!(
            format_float64(123456789012345678.0),
            "1.2345678901234568e+17"
        );
        assert_eq!(format_float64(f64::INFINITY), "Infinity");
        assert_eq!(format_float64(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(format_float64(f64::NAN), "NaN");
        assert_eq!(format_float64(-0.0), "-0");
        assert_eq!(format_float32(1e6), "1e+06");
        assert_eq!(format_float32(123456.0), "123456");
        assert_eq!(format_float32(1e-4), "0.0001");
        // Shortest decimals that sit exactly between two floats are not used.
        assert_eq!(format_float32(806_088_832.0), "8.0608883e+08");
        assert_eq!(format_float32(2_351_929.2), "2.3519292e+06");
        assert_eq!(
            format_float64(2.721777891330513e16),
            "2.7217778913305128e+16"
        );
        assert_eq!(
            format_float64(1.32417042378061e17),
            "1.3241704237806099e+17"
        );
        assert_eq!(format_float64(f64::from(0.1f32)), "0.10000000149011612");
        assert_eq!(format_float64(f64::from(123.456f32)), "123.45600128173828");
    }

    #[test]
    fn integers_parse_with_postgres_errors() {
        assert_eq!(
            parse_datum(" 12 ", &ScalarType::Int32).unwrap(),
            Datum::Int32(12)
        );
        assert_eq!(
            parse_datum("+5", &ScalarType::Int32).unwrap(),
            Datum::Int32(5)
        );
        assert_eq!(
            parse_datum("-0", &ScalarType::Int16).unwrap(),
            Datum::Int16(0)
        );
        assert_eq!(
            parse_datum("abc", &ScalarType::Int32)
                .unwrap_err()
                .to_string(),
            "invalid input syntax for type integer: \"abc\""
        );
        assert_eq!(
            parse_datum("99999999999", &ScalarType::Int32)
                .unwrap_err()
                .to_string(),
            "value \"99999999999\" is out of range for type integer"
        );
        assert!(parse_datum("1.5", &ScalarType::Int64).is_err());
        assert!(parse_datum("", &ScalarType::Int64).is_err());
        assert_eq!(
            parse_datum("-9223372036854775808", &ScalarType::Int64).unwrap(),
            Datum::Int64(i64::MIN)
        );
        assert!(parse_datum("32768", &ScalarType::Int16).is_err());
    }

    #[test]
    fn floats_parse() {
        assert_eq!(round_trip("NaN", &ScalarType::Float64), "NaN");
        assert_eq!(round_trip("-inf", &ScalarType::Float64), "-Infinity");
        assert_eq!(round_trip(" -Infinity ", &ScalarType::Float64), "-Infinity");
        assert_eq!(round_trip("-0", &ScalarType::Float64), "-0");
        assert_eq!(round_trip("1.5", &ScalarType::Float32), "1.5");
        assert_eq!(
            parse_datum("1e400", &ScalarType::Float64)
                .unwrap_err()
                .to_string(),
            "\"1e400\" is out of range for type double precision"
        );
        assert!(parse_datum("1e-400", &ScalarType::Float64).is_err());
        assert_eq!(
            parse_datum("x", &ScalarType::Float64)
                .unwrap_err()
                .to_string(),
            "invalid input syntax for type double precision: \"x\""
        );
    }

    #[test]
    fn numerics_parse_with_typmod() {
        let numeric = ScalarType::NUMERIC;
        assert_eq!(round_trip("1.50", &numeric), "1.50");
        assert_eq!(round_trip("1.0E+2", &numeric), "100");
        assert_eq!(round_trip("  1.5  ", &numeric), "1.5");
        assert_eq!(round_trip("1e-5", &numeric), "0.00001");
        assert_eq!(round_trip("-0.0", &numeric), "0.0");
        assert_eq!(round_trip(".5", &numeric), "0.5");
        let typed = |p, s| ScalarType::Decimal {
            precision: Some(p),
            scale: Some(s),
        };
        assert_eq!(round_trip("1.5", &typed(4, 2)), "1.50");
        assert_eq!(round_trip("1.005", &typed(4, 2)), "1.01");
        assert_eq!(round_trip("1.5", &typed(1, 0)), "2");
        assert_eq!(
            parse_datum("123.456", &typed(4, 2)).unwrap_err(),
            EvalError::NumericFieldOverflow
        );
        assert_eq!(
            parse_datum("99.995", &typed(4, 2)).unwrap_err(),
            EvalError::NumericFieldOverflow
        );
        assert!(parse_datum("x", &numeric).is_err());
        assert!(parse_datum("1_000", &numeric).is_err());
    }

    #[test]
    fn booleans_parse() {
        for t in ["t", "true", "TRUE", " yes ", "on", "1", "y", "tr"] {
            assert!(parse_bool(t).unwrap(), "{t}");
        }
        for f in ["f", "false", "no", "off", "0", "n", "of"] {
            assert!(!parse_bool(f).unwrap(), "{f}");
        }
        assert_eq!(
            parse_bool("o").unwrap_err().to_string(),
            "invalid input syntax for type boolean: \"o\""
        );
        assert_eq!(format_datum(&Datum::Bool(true)), "t");
    }

    #[test]
    fn bytea_round_trips() {
        assert_eq!(round_trip("\\x0102", &ScalarType::Bytea), "\\x0102");
        assert_eq!(round_trip("ab\\\\c", &ScalarType::Bytea), "\\x61625c63");
        assert_eq!(round_trip("a\\001", &ScalarType::Bytea), "\\x6101");
        assert_eq!(
            parse_datum("\\xzz", &ScalarType::Bytea)
                .unwrap_err()
                .to_string(),
            "invalid hexadecimal digit: \"z\""
        );
    }

    #[test]
    fn arrays_quote_like_postgres() {
        let ints = ScalarType::Array(Box::new(ScalarType::Int32));
        assert_eq!(round_trip("{1,2,NULL}", &ints), "{1,2,NULL}");
        assert_eq!(round_trip("{}", &ints), "{}");
        assert_eq!(round_trip("{{1,2},{3,4}}", &ints), "{{1,2},{3,4}}");
        let texts = ScalarType::Array(Box::new(ScalarType::Text));
        assert_eq!(
            round_trip("{  a , \"b c\" , NULL }", &texts),
            "{a,\"b c\",NULL}"
        );
        let array = Datum::Array(Arc::from(vec![
            Datum::text("a b"),
            Datum::text(""),
            Datum::text("NULL"),
            Datum::text("null"),
            Datum::text("x\"y"),
            Datum::text("a\\b"),
            Datum::text("{"),
            Datum::text("x,y"),
            Datum::text("plain"),
        ]));
        let printed = format_datum(&array);
        assert_eq!(
            printed,
            r#"{"a b","","NULL","null","x\"y","a\\b","{","x,y",plain}"#
        );
        assert_eq!(
            format_datum(&parse_datum(&printed, &texts).unwrap()),
            printed
        );
        assert!(parse_datum("{1,2", &ints).is_err());
        let floats = Datum::Array(Arc::from(vec![Datum::float64(1.5), Datum::Null]));
        assert_eq!(format_datum(&floats), "{1.5,NULL}");
    }

    #[test]
    fn records_quote_like_postgres() {
        let record = Datum::Record(Arc::from(vec![
            Datum::Int32(1),
            Datum::text("abc"),
            Datum::Null,
            Datum::text("a b"),
            Datum::text(""),
        ]));
        assert_eq!(format_datum(&record), "(1,abc,,\"a b\",\"\")");
        let nested = Datum::Array(Arc::from(vec![Datum::Record(Arc::from(vec![
            Datum::Int32(1),
            Datum::text("a"),
        ]))]));
        assert_eq!(format_datum(&nested), "{\"(1,a)\"}");
        let typ = vec![
            ("a".to_string(), ScalarType::Int32),
            ("b".to_string(), ScalarType::Text),
            ("c".to_string(), ScalarType::Text),
            ("d".to_string(), ScalarType::Text),
            ("e".to_string(), ScalarType::Text),
        ];
        assert_eq!(parse_record("(1,abc,,\"a b\",\"\")", &typ).unwrap(), record);
    }

    #[test]
    fn varchar_input_checks_length() {
        let typ = ScalarType::VarChar {
            max_length: Some(2),
        };
        assert_eq!(round_trip("ab  ", &typ), "ab");
        assert_eq!(
            parse_datum("abc", &typ).unwrap_err().to_string(),
            "value too long for type character varying(2)"
        );
    }

    #[test]
    fn temporal_types_round_trip() {
        let cases: &[(&str, ScalarType, &str)] = &[
            ("2024-01-02", ScalarType::Date, "2024-01-02"),
            ("03:04:05.5", ScalarType::Time, "03:04:05.5"),
            ("24:00:00", ScalarType::Time, "24:00:00"),
            (
                "2024-01-02 03:04:05.120",
                ScalarType::Timestamp,
                "2024-01-02 03:04:05.12",
            ),
            (
                "2024-01-02T03:04:05",
                ScalarType::Timestamp,
                "2024-01-02 03:04:05",
            ),
            ("2024-01-02", ScalarType::Timestamp, "2024-01-02 00:00:00"),
            (
                "2024-01-02 03:04:05.1234567",
                ScalarType::Timestamp,
                "2024-01-02 03:04:05.123457",
            ),
            (
                "2024-01-02 03:04:05+02",
                ScalarType::TimestampTz,
                "2024-01-02 01:04:05+00",
            ),
            (
                "2024-01-02 03:04:05Z",
                ScalarType::TimestampTz,
                "2024-01-02 03:04:05+00",
            ),
            (
                "2024-01-02 03:04:05-02:30",
                ScalarType::TimestampTz,
                "2024-01-02 05:34:05+00",
            ),
            (
                "0001-01-01 BC 00:00",
                ScalarType::Timestamp,
                "0001-01-01 00:00:00 BC",
            ),
            ("infinity", ScalarType::Timestamp, "infinity"),
            ("-infinity", ScalarType::Date, "-infinity"),
            ("1 day", ScalarType::Interval, "1 day"),
        ];
        for (input, typ, expected) in cases {
            assert_eq!(&round_trip(input, typ), expected, "{input}::{typ}");
            assert_eq!(&round_trip(expected, typ), expected, "{expected}::{typ}");
        }
        assert_eq!(
            format_datum(&Datum::Interval(Interval::new(14, 3, 14_706_000_000))),
            "1 year 2 mons 3 days 04:05:06"
        );
    }

    #[test]
    fn number_text_normalizes_like_numeric() {
        assert_eq!(normalize_number_text("1e5").unwrap(), "100000");
        assert_eq!(normalize_number_text("1.50").unwrap(), "1.50");
        assert_eq!(normalize_number_text("-0").unwrap(), "0");
        assert_eq!(normalize_number_text("1.0E+2").unwrap(), "100");
        assert_eq!(normalize_number_text("1.5e-3").unwrap(), "0.0015");
        assert_eq!(normalize_number_text("12.5e1").unwrap(), "125");
        assert_eq!(normalize_number_text("0012.50").unwrap(), "12.50");
        assert!(normalize_number_text("1e").is_none());
        assert!(normalize_number_text(".").is_none());
        assert!(normalize_number_text("1.2.3").is_none());
    }
}
