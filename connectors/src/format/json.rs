//! `'format' = 'json'`: one JSON object per message, one field per column.
//!
//! Decoding, by column type:
//!
//! | column type | JSON accepted |
//! | --- | --- |
//! | `BOOLEAN` | `true`/`false`, or a string Postgres accepts (`"t"`, `"yes"`, ...) |
//! | integers, `REAL`, `DOUBLE` | numbers (range-checked), or numeric strings |
//! | `DECIMAL` | numbers (exact when they fit an `f64` or `i64`), or strings (always exact) |
//! | `TEXT`, `VARCHAR` | strings; numbers and booleans as their text; objects/arrays as JSON text |
//! | `BYTEA` | base64 strings (Flink's encoding) |
//! | `DATE`, `TIME`, `INTERVAL` | strings in Postgres input syntax; `DATE` also days since epoch |
//! | `TIMESTAMP`, `TIMESTAMPTZ` | `"2015-07-15 00:00:00.001"` (SQL), `"2015-07-15T00:00:00.001Z"` (ISO-8601), or a number of epoch milliseconds |
//! | `JSONB` | any value |
//! | arrays | JSON arrays, element by element |
//! | `ROW(...)` | objects, field by field (nested to any depth) |
//!
//! A missing field is `NULL`, or an error with `'json.fail-on-missing-field' = 'true'`.
//! Fields the table does not declare are ignored. Encoding writes the same shapes back:
//! timestamps as SQL text (or ISO-8601 with `'json.timestamp-format.standard' =
//! 'ISO-8601'`), decimals as exact JSON numbers, `BYTEA` as base64, non-finite floats as
//! the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.

use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use laaster_repr::strconv::{format_datum, parse_datum};
use laaster_repr::{Datum, Diff, RelationDesc, Row, ScalarType};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{Decoder, Encoder, FormatError, OptionError, bool_option, unknown_option};

/// How timestamps are written (reading accepts both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampStandard {
    /// `2015-07-15 00:00:00.001` (Flink's default `SQL`).
    #[default]
    Sql,
    /// `2015-07-15T00:00:00.001` (`Z` appended for `TIMESTAMPTZ`).
    Iso8601,
}

/// The `json.*` options.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct JsonOptions {
    pub timestamp_standard: TimestampStandard,
    /// A missing field is an error instead of `NULL`.
    pub fail_on_missing_field: bool,
    /// Bad messages are skipped (still counted) instead of going to the dead-letter
    /// destination.
    pub ignore_parse_errors: bool,
}

const KNOWN: &[&str] = &[
    "timestamp-format.standard",
    "fail-on-missing-field",
    "ignore-parse-errors",
];

impl JsonOptions {
    /// Parses options given without their prefix (`timestamp-format.standard`, ...).
    pub fn parse(prefix: &str, options: &[(String, String)]) -> Result<JsonOptions, OptionError> {
        let mut parsed = JsonOptions::default();
        for (key, value) in options {
            let full = format!("{prefix}{key}");
            match key.as_str() {
                "timestamp-format.standard" => {
                    parsed.timestamp_standard = match value.to_ascii_uppercase().as_str() {
                        "SQL" => TimestampStandard::Sql,
                        "ISO-8601" => TimestampStandard::Iso8601,
                        _ => {
                            return Err(OptionError::new(
                                format!(
                                    "option '{full}' must be 'SQL' or 'ISO-8601', not '{value}'"
                                ),
                                format!("write '{full}' = 'ISO-8601'"),
                            ));
                        }
                    }
                }
                "fail-on-missing-field" => {
                    parsed.fail_on_missing_field = bool_option(&full, value)?
                }
                "ignore-parse-errors" => parsed.ignore_parse_errors = bool_option(&full, value)?,
                other => return Err(unknown_option(prefix, other, KNOWN)),
            }
        }
        Ok(parsed)
    }
}

/// Decodes JSON objects into rows.
pub struct JsonDecoder {
    columns: Vec<(String, ScalarType)>,
    options: JsonOptions,
}

impl JsonDecoder {
    pub fn new(columns: &RelationDesc, options: JsonOptions) -> JsonDecoder {
        JsonDecoder {
            columns: columns
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.typ.scalar.clone()))
                .collect(),
            options,
        }
    }

    /// Converts a parsed object into a row (used by `debezium-json` for `before`/`after`).
    pub(crate) fn object_to_row(&self, value: &Value, path: &str) -> Result<Row, FormatError> {
        let Value::Object(object) = value else {
            return Err(FormatError::new(format!(
                "expected a JSON object, got {}",
                describe(value)
            ))
            .at(if path.is_empty() { "(message)" } else { path })
            .hint("each message must be one JSON object with one field per column"));
        };
        let mut datums = Vec::with_capacity(self.columns.len());
        for (name, typ) in &self.columns {
            let field_path = join_path(path, name);
            match object.get(name) {
                Some(v) => datums.push(json_to_datum(v, typ, &field_path, &self.options)?),
                None if self.options.fail_on_missing_field => {
                    return Err(FormatError::new("field is missing").at(field_path).hint(
                        "send the field, or drop 'json.fail-on-missing-field' to read it as NULL",
                    ));
                }
                None => datums.push(Datum::Null),
            }
        }
        Ok(Row::new(datums))
    }
}

impl Decoder for JsonDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<(Row, Diff)>) -> Result<(), FormatError> {
        let value = parse(payload)?;
        out.push((self.object_to_row(&value, "")?, 1));
        Ok(())
    }
}

/// Parses one message as JSON, with the position of a syntax error.
pub(crate) fn parse(payload: &[u8]) -> Result<Value, FormatError> {
    serde_json::from_slice(payload).map_err(|e| {
        FormatError::new(format!(
            "invalid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
        .hint(format!("the message starts with {}", preview(payload)))
    })
}

fn preview(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(60)]);
    if payload.len() > 60 {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}

fn join_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".into(),
        Value::Bool(b) => return format!("boolean {b}"),
        Value::Number(n) => return format!("number {n}"),
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let text = value.to_string();
    if text.len() > 40 {
        format!("{kind} {}...", &text[..text.floor_char_boundary(40)])
    } else {
        format!("{kind} {text}")
    }
}

fn mismatch(value: &Value, typ: &ScalarType, path: &str) -> FormatError {
    FormatError::new(format!(
        "expected {}, got {}",
        typ.to_string().to_uppercase(),
        describe(value)
    ))
    .at(path)
}

/// Converts one JSON value into a datum of `typ`.
pub(crate) fn json_to_datum(
    value: &Value,
    typ: &ScalarType,
    path: &str,
    options: &JsonOptions,
) -> Result<Datum, FormatError> {
    if value.is_null() {
        return Ok(Datum::Null);
    }
    let from_text = |text: &str| {
        parse_datum(text, typ).map_err(|e| {
            FormatError::new(format!("{e}"))
                .at(path)
                .hint(format!("send a {} value", typ.to_string().to_uppercase()))
        })
    };
    match (typ, value) {
        (_, Value::String(s)) if !matches!(typ, ScalarType::Bytea | ScalarType::Jsonb) => {
            from_text(s)
        }
        (ScalarType::Bool, Value::Bool(b)) => Ok(Datum::Bool(*b)),
        (ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64, Value::Number(n)) => {
            let Some(v) = n.as_i64() else {
                return Err(mismatch(value, typ, path)
                    .hint("integer columns take whole numbers within the type's range"));
            };
            let out_of_range = || {
                FormatError::new(format!(
                    "{v} is out of range for {}",
                    typ.to_string().to_uppercase()
                ))
                .at(path)
                .hint("declare the column as BIGINT")
            };
            Ok(match typ {
                ScalarType::Int16 => Datum::Int16(i16::try_from(v).map_err(|_| out_of_range())?),
                ScalarType::Int32 => Datum::Int32(i32::try_from(v).map_err(|_| out_of_range())?),
                _ => Datum::Int64(v),
            })
        }
        (ScalarType::Float32, Value::Number(n)) => Ok(Datum::float32(
            n.as_f64().ok_or_else(|| mismatch(value, typ, path))? as f32,
        )),
        (ScalarType::Float64, Value::Number(n)) => Ok(Datum::float64(
            n.as_f64().ok_or_else(|| mismatch(value, typ, path))?,
        )),
        (ScalarType::Decimal { .. }, Value::Number(n)) => {
            if let Some(v) = n.as_i64() {
                from_text(&v.to_string())
            } else if let Some(v) = n.as_u64() {
                from_text(&v.to_string())
            } else {
                // serde_json keeps other numbers as the nearest f64; its shortest
                // round-trip text is the number as written for up to 17 digits.
                let v = n.as_f64().ok_or_else(|| mismatch(value, typ, path))?;
                let text = format!("{v}");
                Decimal::from_scientific(&text)
                    .or_else(|_| text.parse::<Decimal>())
                    .map_err(|_| mismatch(value, typ, path))?;
                from_text(&text)
            }
        }
        (ScalarType::Text | ScalarType::VarChar { .. }, Value::Number(_) | Value::Bool(_)) => {
            from_text(&value.to_string())
        }
        (ScalarType::Text | ScalarType::VarChar { .. }, Value::Object(_) | Value::Array(_)) => {
            from_text(&value.to_string())
        }
        (ScalarType::Bytea, Value::String(s)) => BASE64
            .decode(s.as_bytes())
            .map(|bytes| Datum::Bytes(Arc::from(bytes)))
            .map_err(|e| {
                FormatError::new(format!("invalid base64: {e}"))
                    .at(path)
                    .hint("BYTEA fields are base64 strings")
            }),
        (ScalarType::Date, Value::Number(n)) => n
            .as_i64()
            .and_then(|days| i32::try_from(days).ok())
            .map(Datum::Date)
            .ok_or_else(|| {
                mismatch(value, typ, path).hint("dates are strings or days since 1970-01-01")
            }),
        (ScalarType::Timestamp | ScalarType::TimestampTz, Value::Number(n)) => {
            let Some(millis) = n.as_i64() else {
                return Err(
                    mismatch(value, typ, path).hint("epoch timestamps are whole milliseconds")
                );
            };
            let micros = millis.checked_mul(1000).ok_or_else(|| {
                FormatError::new(format!("timestamp {millis} ms is out of range")).at(path)
            })?;
            Ok(match typ {
                ScalarType::Timestamp => Datum::Timestamp(micros),
                _ => Datum::TimestampTz(micros),
            })
        }
        (ScalarType::Jsonb, v) => from_text(&v.to_string()),
        (ScalarType::Array(element), Value::Array(items)) => {
            let mut datums = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                datums.push(json_to_datum(
                    item,
                    element,
                    &format!("{path}[{i}]"),
                    options,
                )?);
            }
            Ok(Datum::Array(Arc::from(datums)))
        }
        (ScalarType::Record(fields), Value::Object(object)) => {
            let mut datums = Vec::with_capacity(fields.len());
            for (name, field_type) in fields {
                let field_path = join_path(path, name);
                match object.get(name) {
                    Some(v) => datums.push(json_to_datum(v, field_type, &field_path, options)?),
                    None if options.fail_on_missing_field => {
                        return Err(FormatError::new("field is missing").at(field_path));
                    }
                    None => datums.push(Datum::Null),
                }
            }
            Ok(Datum::Record(Arc::from(datums)))
        }
        _ => Err(mismatch(value, typ, path)),
    }
}

/// Encodes rows as JSON objects.
pub struct JsonEncoder {
    columns: Vec<(String, ScalarType)>,
    options: JsonOptions,
    text: String,
}

impl JsonEncoder {
    pub fn new(columns: &RelationDesc, options: JsonOptions) -> JsonEncoder {
        JsonEncoder {
            columns: columns
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.typ.scalar.clone()))
                .collect(),
            options,
            text: String::new(),
        }
    }

    /// Writes `row` as one JSON object to `out`.
    pub(crate) fn write_object(&self, row: &Row, out: &mut String) {
        out.push('{');
        for (i, ((name, typ), datum)) in self.columns.iter().zip(row.iter()).enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(out, name);
            out.push(':');
            write_datum(out, datum, typ, self.options.timestamp_standard);
        }
        out.push('}');
    }
}

impl Encoder for JsonEncoder {
    fn encode(&mut self, row: &Row, _diff: Diff, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        self.write_object(row, &mut text);
        out.extend_from_slice(text.as_bytes());
        self.text = text;
        Ok(())
    }
}

/// Writes a JSON string literal.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes one datum of `typ` as a JSON value.
pub(crate) fn write_datum(
    out: &mut String,
    datum: &Datum,
    typ: &ScalarType,
    ts: TimestampStandard,
) {
    match datum {
        Datum::Null => out.push_str("null"),
        Datum::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Datum::Int16(v) => {
            let _ = write!(out, "{v}");
        }
        Datum::Int32(v) => {
            let _ = write!(out, "{v}");
        }
        Datum::Int64(v) => {
            let _ = write!(out, "{v}");
        }
        Datum::Float32(v) if v.0.is_finite() => out.push_str(&format_datum(datum)),
        Datum::Float64(v) if v.0.is_finite() => out.push_str(&format_datum(datum)),
        Datum::Float32(_) | Datum::Float64(_) => write_string(out, &format_datum(datum)),
        Datum::Decimal(_) => out.push_str(&format_datum(datum)),
        Datum::Bytes(bytes) => write_string(out, &BASE64.encode(bytes)),
        Datum::Timestamp(_) | Datum::TimestampTz(_) => {
            let text = format_datum(datum);
            match ts {
                TimestampStandard::Sql => write_string(out, &text),
                TimestampStandard::Iso8601 => {
                    let mut iso = text.replacen(' ', "T", 1);
                    if let Some(stripped) = iso.strip_suffix("+00") {
                        iso = format!("{stripped}Z");
                    }
                    write_string(out, &iso)
                }
            }
        }
        Datum::Jsonb(text) => out.push_str(text.as_str()),
        Datum::Array(items) => {
            let element = match typ {
                ScalarType::Array(element) => element.as_ref().clone(),
                _ => ScalarType::Unknown,
            };
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_datum(out, item, &element, ts);
            }
            out.push(']');
        }
        Datum::Record(fields) => {
            out.push('{');
            for (i, datum) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let (name, field_type) = match typ {
                    ScalarType::Record(declared) if i < declared.len() => {
                        (declared[i].0.clone(), declared[i].1.clone())
                    }
                    _ => (format!("f{}", i + 1), ScalarType::Unknown),
                };
                write_string(out, &name);
                out.push(':');
                write_datum(out, datum, &field_type, ts);
            }
            out.push('}');
        }
        Datum::Text(_) | Datum::Date(_) | Datum::Time(_) | Datum::Interval(_) => {
            write_string(out, &format_datum(datum))
        }
    }
}

#[cfg(test)]
mod tests {
    use laaster_repr::{ColumnType, RelationDesc};

    use super::*;

    fn desc(columns: &[(&str, ScalarType)]) -> RelationDesc {
        RelationDesc::new(
            columns
                .iter()
                .map(|(n, t)| laaster_repr::Column {
                    name: n.to_string(),
                    typ: ColumnType::nullable(t.clone()),
                })
                .collect(),
        )
    }

    fn decode(
        columns: &RelationDesc,
        options: JsonOptions,
        text: &str,
    ) -> Result<Row, FormatError> {
        let mut out = Vec::new();
        JsonDecoder::new(columns, options).decode(text.as_bytes(), &mut out)?;
        assert_eq!(out.len(), 1);
        Ok(out.pop().unwrap().0)
    }

    fn bid_desc() -> RelationDesc {
        desc(&[
            ("event_type", ScalarType::Int32),
            (
                "bid",
                ScalarType::Record(vec![
                    ("auction".into(), ScalarType::Int64),
                    ("price".into(), ScalarType::Int64),
                    ("dateTime".into(), ScalarType::Timestamp),
                ]),
            ),
            ("amount", ScalarType::NUMERIC),
            ("tags", ScalarType::Array(Box::new(ScalarType::Text))),
            ("payload", ScalarType::Bytea),
            ("doc", ScalarType::Jsonb),
        ])
    }

    #[test]
    fn nested_records_timestamps_and_round_trip() {
        let columns = bid_desc();
        let text = r#"{"event_type":2,"bid":{"auction":1000,"price":1234,"dateTime":"2015-07-15 00:00:00.001"},
                       "amount":12.50,"tags":["a","b\"c"],"payload":"AAEC","doc":{"b":1,"a":[true,null]},"extra":1}"#;
        let row = decode(&columns, JsonOptions::default(), text).unwrap();
        assert_eq!(
            format_datum(&row[1]),
            "(1000,1234,\"2015-07-15 00:00:00.001\")"
        );
        // A JSON number goes through f64: the value is exact, trailing zeros are not kept
        // (a DECIMAL(p, s) column re-applies its scale; strings are read exactly).
        assert_eq!(format_datum(&row[2]), "12.5");
        assert_eq!(format_datum(&row[4]), "\\x000102");
        assert_eq!(format_datum(&row[5]), "{\"a\": [true, null], \"b\": 1}");
        let mut out = Vec::new();
        JsonEncoder::new(&columns, JsonOptions::default())
            .encode(&row, 1, &mut out)
            .unwrap();
        let encoded = String::from_utf8(out).unwrap();
        assert_eq!(
            encoded,
            r#"{"event_type":2,"bid":{"auction":1000,"price":1234,"dateTime":"2015-07-15 00:00:00.001"},"amount":12.5,"tags":["a","b\"c"],"payload":"AAEC","doc":{"a": [true, null], "b": 1}}"#
        );
        assert_eq!(
            decode(&columns, JsonOptions::default(), &encoded).unwrap(),
            row
        );
    }

    #[test]
    fn iso_and_epoch_timestamps() {
        let columns = desc(&[("a", ScalarType::Timestamp), ("b", ScalarType::TimestampTz)]);
        let iso = decode(
            &columns,
            JsonOptions::default(),
            r#"{"a":"2015-07-15T00:00:00.001","b":"2015-07-15T02:00:00.001+02:00"}"#,
        )
        .unwrap();
        let epoch = decode(
            &columns,
            JsonOptions::default(),
            r#"{"a":1436918400001,"b":1436918400001}"#,
        )
        .unwrap();
        assert_eq!(iso, epoch);
        let options = JsonOptions {
            timestamp_standard: TimestampStandard::Iso8601,
            ..JsonOptions::default()
        };
        let mut out = Vec::new();
        JsonEncoder::new(&columns, options)
            .encode(&iso, 1, &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"2015-07-15T00:00:00.001","b":"2015-07-15T00:00:00.001Z"}"#
        );
    }

    #[test]
    fn errors_name_the_field_and_value() {
        let columns = bid_desc();
        let err = decode(
            &columns,
            JsonOptions::default(),
            r#"{"bid":{"price":"abc"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("bid.price"));
        assert!(err.to_string().contains("abc"), "{err}");
        let err = decode(
            &columns,
            JsonOptions::default(),
            r#"{"event_type":3000000000}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = decode(&columns, JsonOptions::default(), r#"{"event_type": 1,"#).unwrap_err();
        assert!(err.message.starts_with("invalid JSON at line 1"), "{err}");
        let err = decode(&columns, JsonOptions::default(), "[1,2]").unwrap_err();
        assert!(err.message.contains("expected a JSON object"), "{err}");
        let strict = JsonOptions {
            fail_on_missing_field: true,
            ..JsonOptions::default()
        };
        let err = decode(&columns, strict, r#"{"event_type":1}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("bid"));
        // A missing field is NULL by default.
        let row = decode(&columns, JsonOptions::default(), r#"{"event_type":1}"#).unwrap();
        assert_eq!(row[1], Datum::Null);
    }

    #[test]
    fn options_are_checked() {
        let err = JsonOptions::parse("json.", &[("fail-on-missing-feld".into(), "true".into())])
            .unwrap_err();
        assert_eq!(err.hint, "perhaps you meant 'json.fail-on-missing-field'");
        let err = JsonOptions::parse("json.", &[("ignore-parse-errors".into(), "yes".into())])
            .unwrap_err();
        assert!(err.message.contains("'true' or 'false'"));
    }
}
