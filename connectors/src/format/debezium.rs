//! `'format' = 'debezium-json'`: Debezium change events become inserts, updates and
//! deletes.
//!
//! A message is `{"before": {...}|null, "after": {...}|null, "op": "c"|"r"|"u"|"d", ...}`,
//! optionally wrapped as `{"schema": ..., "payload": {...}}` (Debezium's
//! `value.converter.schemas.enable=true`; detected, no option needed). `before` and
//! `after` hold one field per column, decoded as in [`super::json`].
//!
//! | op | updates |
//! | --- | --- |
//! | `c` (create), `r` (snapshot read) | `+after` |
//! | `u` (update) | `-before`, `+after` |
//! | `d` (delete) | `-before` |
//!
//! A tombstone (an empty message or JSON `null`, which Kafka log compaction uses) gives
//! no update. An update or delete without `before` is an error: the source database must
//! log old rows (PostgreSQL: `ALTER TABLE t REPLICA IDENTITY FULL`).
//!
//! Encoding writes `+row` as `{"before":null,"after":{...},"op":"c"}` and `-row` as
//! `{"before":{...},"after":null,"op":"d"}`.

use laaster_repr::{Diff, RelationDesc, Row};
use serde_json::Value;

use super::json::{JsonDecoder, JsonEncoder, JsonOptions, parse};
use super::{Decoder, Encoder, FormatError};

/// Decodes Debezium change events.
pub struct DebeziumDecoder {
    json: JsonDecoder,
}

impl DebeziumDecoder {
    pub fn new(columns: &RelationDesc, options: JsonOptions) -> DebeziumDecoder {
        DebeziumDecoder {
            json: JsonDecoder::new(columns, options),
        }
    }

    fn image(
        &self,
        envelope: &serde_json::Map<String, Value>,
        side: &str,
        op: &str,
    ) -> Result<Row, FormatError> {
        match envelope.get(side) {
            Some(value) if !value.is_null() => self.json.object_to_row(value, side),
            _ => Err(FormatError::new(format!(
                "a change with op \"{op}\" has no \"{side}\" image"
            ))
            .at(side)
            .hint(if side == "before" {
                "the source must log old rows: in PostgreSQL, ALTER TABLE ... REPLICA IDENTITY FULL"
            } else {
                "Debezium puts the new row in \"after\""
            })),
        }
    }
}

impl Decoder for DebeziumDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<(Row, Diff)>) -> Result<(), FormatError> {
        if payload.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let value = parse(payload)?;
        let value = match value {
            Value::Null => return Ok(()),
            Value::Object(mut object)
                if !object.contains_key("op") && object.contains_key("payload") =>
            {
                match object.remove("payload") {
                    Some(Value::Null) | None => return Ok(()),
                    Some(inner) => inner,
                }
            }
            other => other,
        };
        let Value::Object(envelope) = value else {
            return Err(
                FormatError::new("expected a Debezium change event (a JSON object)")
                    .hint("each message is {\"before\": ..., \"after\": ..., \"op\": \"c|u|d|r\"}"),
            );
        };
        let op = match envelope.get("op") {
            Some(Value::String(op)) => op.as_str(),
            Some(other) => {
                return Err(
                    FormatError::new(format!("\"op\" must be a string, got {other}")).at("op"),
                );
            }
            None => {
                return Err(FormatError::new("the change event has no \"op\" field")
                    .at("op")
                    .hint("is this really Debezium JSON? plain rows use 'format' = 'json'"));
            }
        };
        match op {
            "c" | "r" => out.push((self.image(&envelope, "after", op)?, 1)),
            "u" => {
                let before = self.image(&envelope, "before", op)?;
                let after = self.image(&envelope, "after", op)?;
                out.push((before, -1));
                out.push((after, 1));
            }
            "d" => out.push((self.image(&envelope, "before", op)?, -1)),
            other => {
                return Err(FormatError::new(format!("unknown op \"{other}\""))
                    .at("op")
                    .hint("Debezium ops are c, r, u and d"));
            }
        }
        Ok(())
    }
}

/// Encodes updates as Debezium change events.
pub struct DebeziumEncoder {
    json: JsonEncoder,
    text: String,
}

impl DebeziumEncoder {
    pub fn new(columns: &RelationDesc, options: JsonOptions) -> DebeziumEncoder {
        DebeziumEncoder {
            json: JsonEncoder::new(columns, options),
            text: String::new(),
        }
    }
}

impl Encoder for DebeziumEncoder {
    fn encode(&mut self, row: &Row, diff: Diff, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        if diff > 0 {
            text.push_str("{\"before\":null,\"after\":");
            self.json.write_object(row, &mut text);
            text.push_str(",\"op\":\"c\"}");
        } else {
            text.push_str("{\"before\":");
            self.json.write_object(row, &mut text);
            text.push_str(",\"after\":null,\"op\":\"d\"}");
        }
        out.extend_from_slice(text.as_bytes());
        self.text = text;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use laaster_repr::strconv::format_datum;
    use laaster_repr::{Column, ColumnType, ScalarType};

    use super::*;

    fn columns() -> RelationDesc {
        RelationDesc::new(vec![
            Column {
                name: "id".into(),
                typ: ColumnType::nullable(ScalarType::Int32),
            },
            Column {
                name: "name".into(),
                typ: ColumnType::nullable(ScalarType::Text),
            },
        ])
    }

    fn decode(text: &str) -> Result<Vec<(String, Diff)>, FormatError> {
        let mut out = Vec::new();
        DebeziumDecoder::new(&columns(), JsonOptions::default())
            .decode(text.as_bytes(), &mut out)?;
        Ok(out
            .into_iter()
            .map(|(row, diff)| {
                (
                    row.iter().map(format_datum).collect::<Vec<_>>().join(","),
                    diff,
                )
            })
            .collect())
    }

    #[test]
    fn ops_become_updates() {
        assert_eq!(
            decode(r#"{"before":null,"after":{"id":1,"name":"a"},"op":"c","ts_ms":1}"#).unwrap(),
            vec![("1,a".to_string(), 1)]
        );
        assert_eq!(
            decode(r#"{"schema":{},"payload":{"before":{"id":1,"name":"a"},"after":{"id":1,"name":"b"},"op":"u"}}"#)
                .unwrap(),
            vec![("1,a".to_string(), -1), ("1,b".to_string(), 1)]
        );
        assert_eq!(
            decode(r#"{"before":{"id":1,"name":"b"},"after":null,"op":"d"}"#).unwrap(),
            vec![("1,b".to_string(), -1)]
        );
        assert!(decode("").unwrap().is_empty());
        assert!(decode("null").unwrap().is_empty());
    }

    #[test]
    fn bad_events_are_explained() {
        let err = decode(r#"{"before":null,"after":{"id":1},"op":"u"}"#).unwrap_err();
        assert!(
            err.hint
                .as_deref()
                .unwrap()
                .contains("REPLICA IDENTITY FULL"),
            "{err}"
        );
        let err = decode(r#"{"id":1}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("op"));
        let err = decode(r#"{"op":"x","after":{}}"#).unwrap_err();
        assert!(err.message.contains("unknown op"));
    }

    #[test]
    fn encoder_round_trips() {
        let row = Row::new(vec![
            laaster_repr::Datum::Int32(3),
            laaster_repr::Datum::text("z"),
        ]);
        let mut encoder = DebeziumEncoder::new(&columns(), JsonOptions::default());
        for diff in [1, -1] {
            let mut out = Vec::new();
            encoder.encode(&row, diff, &mut out).unwrap();
            let decoded = decode(std::str::from_utf8(&out).unwrap()).unwrap();
            assert_eq!(decoded, vec![("3,z".to_string(), diff)]);
        }
    }
}
