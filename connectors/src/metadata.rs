//! Metadata columns: values a source table reads from a message's envelope rather than
//! from its value, declared as in Flink:
//!
//! ```sql
//! CREATE TABLE clicks (
//!   url STRING,                                         -- from the value ('format')
//!   k BYTES METADATA FROM 'key',                        -- the message key, raw
//!   part INT METADATA FROM 'partition' VIRTUAL,
//!   off BIGINT METADATA FROM 'offset' VIRTUAL,
//!   ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
//!   headers JSONB METADATA                              -- FROM omitted: the column's name
//! ) WITH ('connector' = 'kafka', ...);
//! ```
//!
//! Only `kafka` has metadata ([`metadata_keys`]); on other connectors a metadata column
//! is refused at `CREATE`. The keys, and the types a column may declare for each:
//!
//! | key | value | column types |
//! | --- | --- | --- |
//! | `topic` | the record's topic | `STRING`/`TEXT` |
//! | `partition` | its partition | `INT` (or `BIGINT`) |
//! | `offset` | its offset | `BIGINT` |
//! | `timestamp` | its timestamp (ms), `NULL` when the broker gave none | `TIMESTAMP_LTZ(3)`/`TIMESTAMPTZ`, or `TIMESTAMP` (UTC) |
//! | `timestamp-type` | `CreateTime`, `LogAppendTime` or `NoTimestampType` | `STRING` |
//! | `headers` | its headers | `JSONB` (below), or `ARRAY<ROW<key STRING, value BYTES>>` |
//! | `key` | the message key, `NULL` when it has none | `BYTES`/`BYTEA`, or `STRING` (UTF-8) |
//!
//! Headers: Flink's type is `MAP<STRING, BYTES>`; Laaster has no map type. As `JSONB` the
//! headers are an object of name → value as a JSON string (`null` for a header without a
//! value; when a name repeats, the last value wins, as in Flink's map). A value that is
//! not UTF-8 cannot be a JSON string: the message is then a bad message (the source's
//! `'on-error'` counts it, naming the header) — declare the column
//! `ARRAY<ROW<key STRING, value BYTES>>` to read binary headers exactly, in order and
//! with repeated names. A key declared `STRING` that is not UTF-8 is a bad message the
//! same way.
//!
//! Flink's `'key.format'` + `'key.fields'` (decoding the key into several columns) is
//! not supported: `METADATA FROM 'key'` gives the key's bytes (or text), which a computed
//! column or a view can decode. `'leader-epoch'` is refused: the Kafka client library
//! does not expose it. Metadata columns are read-only (Flink's `VIRTUAL` is accepted and
//! changes nothing), so a Kafka table with them is not writable by `INSERT INTO`.

use laaster_repr::{Datum, ScalarType};

use crate::api::Message;
use crate::format::{FormatError, OptionError};

/// What a metadata column reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataKey {
    Topic,
    Partition,
    Offset,
    Timestamp,
    TimestampType,
    Headers,
    Key,
}

/// Kafka's metadata keys (Flink's names) and the column types each takes.
const KAFKA_KEYS: &[(&str, MetadataKey, &str)] = &[
    ("topic", MetadataKey::Topic, "STRING"),
    ("partition", MetadataKey::Partition, "INT or BIGINT"),
    ("offset", MetadataKey::Offset, "BIGINT"),
    (
        "timestamp",
        MetadataKey::Timestamp,
        "TIMESTAMP_LTZ(3) (TIMESTAMPTZ) or TIMESTAMP(3)",
    ),
    ("timestamp-type", MetadataKey::TimestampType, "STRING"),
    (
        "headers",
        MetadataKey::Headers,
        "JSONB or ARRAY<ROW<key STRING, value BYTES>>",
    ),
    ("key", MetadataKey::Key, "BYTES or STRING"),
];

/// The metadata keys of `connector` with the column types each takes (empty for
/// connectors without metadata).
pub fn metadata_keys(connector: &str) -> &'static [(&'static str, MetadataKey, &'static str)] {
    match connector {
        "kafka" => KAFKA_KEYS,
        _ => &[],
    }
}

/// A checked metadata column of a source table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataColumn {
    /// The column's position among the table's physical columns.
    pub index: usize,
    pub name: String,
    pub key: MetadataKey,
    /// The declared type (one the key takes).
    pub typ: ScalarType,
}

/// Whether a column of type `typ` can hold `key`'s values.
fn type_fits(key: MetadataKey, typ: &ScalarType) -> bool {
    match key {
        MetadataKey::Topic | MetadataKey::TimestampType => {
            matches!(typ, ScalarType::Text | ScalarType::VarChar { .. })
        }
        MetadataKey::Partition => matches!(typ, ScalarType::Int32 | ScalarType::Int64),
        MetadataKey::Offset => matches!(typ, ScalarType::Int64),
        MetadataKey::Timestamp => matches!(typ, ScalarType::TimestampTz | ScalarType::Timestamp),
        MetadataKey::Key => matches!(
            typ,
            ScalarType::Bytea | ScalarType::Text | ScalarType::VarChar { .. }
        ),
        MetadataKey::Headers => match typ {
            ScalarType::Jsonb => true,
            ScalarType::Array(element) => matches!(
                element.as_ref(),
                ScalarType::Record(fields)
                    if matches!(fields.as_slice(), [(_, ScalarType::Text), (_, ScalarType::Bytea)])
            ),
            _ => false,
        },
    }
}

/// Checks the column `name` (physical column `index`, declared `typ`) reading metadata
/// `key` of `connector`, at `CREATE` time.
pub fn metadata_column(
    connector: &str,
    index: usize,
    name: &str,
    key: &str,
    typ: &ScalarType,
) -> Result<MetadataColumn, OptionError> {
    let keys = metadata_keys(connector);
    if keys.is_empty() {
        return Err(OptionError {
            message: format!(
                "connector '{connector}' has no metadata: column \"{name}\" cannot be METADATA FROM '{key}'"
            ),
            hint: "METADATA columns read Kafka records' envelopes ('connector' = 'kafka'); declare the column without METADATA to read it from the message value".into(),
        });
    }
    let names: Vec<&str> = keys.iter().map(|(k, _, _)| *k).collect();
    let Some((_, found, types)) = keys.iter().find(|(k, _, _)| *k == key) else {
        if key == "leader-epoch" {
            return Err(OptionError {
                message: format!(
                    "metadata key 'leader-epoch' (column \"{name}\") is not available: the Kafka client library does not expose it"
                ),
                hint: format!("metadata keys of '{connector}': {}", names.join(", ")),
            });
        }
        let closest = names
            .iter()
            .map(|k| (strsim::levenshtein(k, key), *k))
            .min()
            .filter(|(distance, _)| *distance <= 3);
        return Err(OptionError {
            message: format!(
                "unknown metadata key '{key}' for column \"{name}\" of connector '{connector}'"
            ),
            hint: match closest {
                Some((_, k)) => format!(
                    "perhaps you meant '{k}'; metadata keys of '{connector}': {}",
                    names.join(", ")
                ),
                None => format!("metadata keys of '{connector}': {}", names.join(", ")),
            },
        });
    };
    if !type_fits(*found, typ) {
        return Err(OptionError {
            message: format!(
                "metadata column \"{name}\" (METADATA FROM '{key}') cannot be of type {typ}"
            ),
            hint: format!("declare it as {types}"),
        });
    }
    Ok(MetadataColumn {
        index,
        name: name.to_string(),
        key: *found,
        typ: typ.clone(),
    })
}

impl MetadataColumn {
    /// The column's value for `message`. A value the declared type cannot hold (a key or
    /// header value that is not UTF-8 where text is declared) is a bad message.
    pub fn value(&self, message: &Message) -> Result<Datum, FormatError> {
        let metadata = &message.metadata;
        Ok(match self.key {
            MetadataKey::Topic => metadata.topic.as_deref().map_or(Datum::Null, Datum::text),
            MetadataKey::Partition => match (metadata.partition, &self.typ) {
                (None, _) => Datum::Null,
                (Some(p), ScalarType::Int64) => Datum::Int64(i64::from(p)),
                (Some(p), _) => Datum::Int32(p),
            },
            MetadataKey::Offset => metadata.offset.map_or(Datum::Null, Datum::Int64),
            MetadataKey::Timestamp => {
                match metadata.timestamp.and_then(|ms| ms.checked_mul(1000)) {
                    None => Datum::Null,
                    Some(micros) if self.typ == ScalarType::Timestamp => Datum::Timestamp(micros),
                    Some(micros) => Datum::TimestampTz(micros),
                }
            }
            MetadataKey::TimestampType => metadata.timestamp_type.map_or(Datum::Null, Datum::text),
            MetadataKey::Key => match &message.key {
                None => Datum::Null,
                Some(bytes) if self.typ == ScalarType::Bytea => {
                    Datum::Bytes(bytes.as_slice().into())
                }
                Some(bytes) => Datum::text(std::str::from_utf8(bytes).map_err(|_| {
                    FormatError::new(format!(
                        "the message key is not UTF-8, so it cannot be the text column \"{}\"",
                        self.name
                    ))
                    .at(self.name.clone())
                    .hint("declare the key column as BYTES to read any key")
                })?),
            },
            MetadataKey::Headers if self.typ == ScalarType::Jsonb => self.headers_json(message)?,
            MetadataKey::Headers => Datum::Array(
                metadata
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        Datum::Record(
                            vec![
                                Datum::text(name),
                                value
                                    .as_deref()
                                    .map_or(Datum::Null, |v| Datum::Bytes(v.into())),
                            ]
                            .into(),
                        )
                    })
                    .collect::<Vec<_>>()
                    .into(),
            ),
        })
    }

    /// The headers as a JSONB object of name → value text.
    fn headers_json(&self, message: &Message) -> Result<Datum, FormatError> {
        let mut object = serde_json::Map::new();
        for (name, value) in &message.metadata.headers {
            let value = match value {
                None => serde_json::Value::Null,
                Some(bytes) => serde_json::Value::String(
                    std::str::from_utf8(bytes)
                        .map_err(|_| {
                            FormatError::new(format!(
                                "header '{name}' is not UTF-8, so it cannot be a value of the JSONB column \"{}\"",
                                self.name
                            ))
                            .at(self.name.clone())
                            .hint("declare the headers column as ARRAY<ROW<key STRING, value BYTES>> to read binary headers")
                        })?
                        .to_string(),
                ),
            };
            object.insert(name.clone(), value);
        }
        let text = serde_json::Value::Object(object).to_string();
        let canonical = laaster_repr::jsonb::canonical_jsonb(&text)
            .map_err(|e| FormatError::new(format!("headers: {e}")).at(self.name.clone()))?;
        Ok(Datum::Jsonb(
            laaster_repr::jsonb::JsonbText::from_canonical(canonical),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MessageMetadata, Position};

    fn message() -> Message {
        Message {
            position: Position {
                partition: "t-1".into(),
                offset: "7".into(),
            },
            key: Some(b"k1".to_vec()),
            payload: b"{}".to_vec(),
            metadata: MessageMetadata {
                topic: Some("t".into()),
                partition: Some(1),
                offset: Some(7),
                timestamp: Some(1_700_000_000_123),
                timestamp_type: Some("CreateTime"),
                headers: vec![
                    ("a".into(), Some(b"1".to_vec())),
                    ("b".into(), None),
                    ("bin".into(), Some(vec![0xff, 0x00])),
                ],
            },
        }
    }

    #[test]
    fn keys_and_types_are_checked() {
        let err = metadata_column("kafka", 0, "p", "parition", &ScalarType::Int32).unwrap_err();
        assert_eq!(
            err.message,
            "unknown metadata key 'parition' for column \"p\" of connector 'kafka'"
        );
        assert!(
            err.hint.starts_with("perhaps you meant 'partition'"),
            "{err:?}"
        );
        assert!(err.hint.contains("timestamp-type, headers, key"), "{err:?}");
        let err = metadata_column("kafka", 0, "o", "offset", &ScalarType::Int32).unwrap_err();
        assert_eq!(err.hint, "declare it as BIGINT");
        let err = metadata_column("redis-streams", 0, "k", "key", &ScalarType::Bytea).unwrap_err();
        assert!(err.message.contains("has no metadata"), "{err:?}");
        let err = metadata_column("kafka", 0, "e", "leader-epoch", &ScalarType::Int32).unwrap_err();
        assert!(err.message.contains("not available"), "{err:?}");
        assert!(metadata_column("kafka", 0, "ts", "timestamp", &ScalarType::TimestampTz).is_ok());
    }

    #[test]
    fn values_come_from_the_envelope() {
        let m = message();
        let column =
            |key: &str, typ: ScalarType| metadata_column("kafka", 0, "c", key, &typ).unwrap();
        assert_eq!(
            column("topic", ScalarType::Text).value(&m).unwrap(),
            Datum::text("t")
        );
        assert_eq!(
            column("partition", ScalarType::Int32).value(&m).unwrap(),
            Datum::Int32(1)
        );
        assert_eq!(
            column("offset", ScalarType::Int64).value(&m).unwrap(),
            Datum::Int64(7)
        );
        assert_eq!(
            column("timestamp", ScalarType::TimestampTz)
                .value(&m)
                .unwrap(),
            Datum::TimestampTz(1_700_000_000_123_000)
        );
        assert_eq!(
            column("key", ScalarType::Text).value(&m).unwrap(),
            Datum::text("k1")
        );
        let err = column("headers", ScalarType::Jsonb).value(&m).unwrap_err();
        assert!(err.message.contains("header 'bin' is not UTF-8"), "{err}");
        let array = ScalarType::Array(Box::new(ScalarType::Record(vec![
            ("key".into(), ScalarType::Text),
            ("value".into(), ScalarType::Bytea),
        ])));
        let Datum::Array(headers) = column("headers", array).value(&m).unwrap() else {
            panic!("not an array");
        };
        assert_eq!(headers.len(), 3);
        let mut text_only = m.clone();
        text_only.metadata.headers.pop();
        let Datum::Jsonb(json) = column("headers", ScalarType::Jsonb)
            .value(&text_only)
            .unwrap()
        else {
            panic!("not jsonb");
        };
        assert_eq!(json.as_str(), r#"{"a": "1", "b": null}"#);
    }
}
