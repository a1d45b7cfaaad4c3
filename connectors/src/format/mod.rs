//! Formats: how the bytes of one message become rows, and rows become bytes.
//!
//! A format is separate from the transport that carries the bytes (Kafka, Redis Streams,
//! NATS, files): every connector takes its `'format'` option (or `'key.format'` /
//! `'value.format'`) and asks this module for a [`Decoder`] or an [`Encoder`].
//!
//! ```text
//! WITH ('format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601', ...)
//!        │ Format::from_options(prefix, options, columns)   (unknown json.* options rejected)
//!        ▼
//!   Format ──decoder(columns)──▶ Decoder::decode(bytes) ──▶ [(Row, diff)]   (one message)
//!          └─encoder(columns)──▶ Encoder::encode(row, diff) ──▶ bytes      (one message)
//! ```
//!
//! A decoder returns zero or more `(row, diff)` updates per message: `json`, `csv` and
//! `raw` give one insert; `debezium-json` gives an insert, a delete, or both for an
//! update. A message that cannot be decoded is a [`FormatError`] naming the field, the
//! value and what was expected; the runtime counts it and sends it to the dead-letter
//! destination, and the stream goes on.

pub mod avro;
pub mod csv;
pub mod debezium;
pub mod json;
pub mod parquet;
pub mod raw;

use std::fmt;

use laaster_repr::{Diff, RelationDesc, Row};

/// One message that could not be decoded (or one row that could not be encoded): what,
/// where, why, and what would work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// What went wrong, e.g. `field "bid.price": expected BIGINT, got string "abc"`.
    pub message: String,
    /// Where: the field path or column, when known.
    pub field: Option<String>,
    /// What would work.
    pub hint: Option<String>,
}

impl FormatError {
    pub fn new(message: impl Into<String>) -> FormatError {
        FormatError {
            message: message.into(),
            field: None,
            hint: None,
        }
    }

    pub fn at(mut self, field: impl Into<String>) -> FormatError {
        self.field = Some(field.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> FormatError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field \"{field}\": {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for FormatError {}

/// A bad `WITH` option for a format, found at `CREATE` time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OptionError {
    pub message: String,
    pub hint: String,
}

impl OptionError {
    pub(crate) fn new(message: impl Into<String>, hint: impl Into<String>) -> OptionError {
        OptionError {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Turns one message into updates.
pub trait Decoder: Send {
    /// Appends the updates `payload` stands for to `out`. On error nothing is appended.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<(Row, Diff)>) -> Result<(), FormatError>;
}

/// Turns one update into one message.
pub trait Encoder: Send {
    /// Appends the message for `(row, diff)` to `out` (cleared by the caller). A diff
    /// of `+n`/`-n` stands for one insert/delete; callers repeat rows for multiplicities.
    fn encode(&mut self, row: &Row, diff: Diff, out: &mut Vec<u8>) -> Result<(), FormatError>;
}

/// A parsed format and its options.
#[derive(Clone, Debug, PartialEq)]
pub enum Format {
    Json(json::JsonOptions),
    Csv(csv::CsvOptions),
    Raw,
    DebeziumJson(json::JsonOptions),
    /// Parquet files (filesystem connector only): see [`parquet`].
    Parquet,
    /// Binary Avro, optionally with the Confluent framing: see [`avro`].
    Avro(avro::AvroOptions),
}

/// The formats [`Format::from_options`] knows, for hints.
pub const FORMATS: &[&str] = &["json", "csv", "raw", "debezium-json", "parquet", "avro"];

impl Format {
    /// Reads the format named by option `key` (`format`, `value.format`, `key.format`)
    /// and its own options (`json.*`, `csv.*`, `debezium-json.*`; with a `value.` or
    /// `key.` prefix when `key` has one). Rejects an unknown format, unknown options of
    /// the chosen format, and a table shape the format cannot fill.
    pub fn from_options(
        key: &str,
        options: &[(String, String)],
        columns: &RelationDesc,
    ) -> Result<Format, OptionError> {
        let prefix = key.strip_suffix("format").unwrap_or("");
        let Some((_, name)) = options.iter().find(|(k, _)| k == key) else {
            return Err(OptionError::new(
                format!("missing option '{key}'"),
                format!("add '{key}' = 'json' (or one of: {})", FORMATS.join(", ")),
            ));
        };
        let own = |family: &str| -> Vec<(String, String)> {
            let start = format!("{prefix}{family}.");
            options
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(&start)
                        .map(|rest| (rest.to_string(), v.clone()))
                })
                .collect()
        };
        match name.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json(json::JsonOptions::parse(
                &format!("{prefix}json."),
                &own("json"),
            )?)),
            "debezium-json" => Ok(Format::DebeziumJson(json::JsonOptions::parse(
                &format!("{prefix}debezium-json."),
                &own("debezium-json"),
            )?)),
            "csv" => Ok(Format::Csv(csv::CsvOptions::parse(
                &format!("{prefix}csv."),
                &own("csv"),
            )?)),
            "raw" => {
                raw::check_columns(columns)?;
                Ok(Format::Raw)
            }
            "parquet" => match own("parquet").first() {
                Some((k, _)) => Err(unknown_option(&format!("{prefix}parquet."), k, &[])),
                None => Ok(Format::Parquet),
            },
            "avro" => {
                let registry = options
                    .iter()
                    .find(|(k, _)| *k == format!("{prefix}schema-registry.url"))
                    .map(|(_, v)| v.clone());
                if let Some((k, _)) = own("schema-registry").iter().find(|(k, _)| k != "url") {
                    return Err(unknown_option(
                        &format!("{prefix}schema-registry."),
                        k,
                        &["url"],
                    ));
                }
                let options =
                    avro::AvroOptions::parse(&format!("{prefix}avro."), &own("avro"), registry)?;
                avro::check_columns(&options, columns)?;
                Ok(Format::Avro(options))
            }
            other => Err(OptionError::new(
                format!("unknown format '{other}' for option '{key}'"),
                format!("supported formats: {}", FORMATS.join(", ")),
            )),
        }
    }

    /// The option keys [`Format::from_options`] consumed, so a connector can reject the
    /// rest as unknown.
    pub fn is_format_option(key_option: &str, option: &str) -> bool {
        let prefix = key_option.strip_suffix("format").unwrap_or("");
        option == key_option
            || [
                "json.",
                "csv.",
                "debezium-json.",
                "raw.",
                "parquet.",
                "avro.",
                "schema-registry.",
            ]
            .iter()
            .any(|family| option.starts_with(&format!("{prefix}{family}")))
    }

    /// A decoder of messages into rows of `columns`.
    pub fn decoder(&self, columns: &RelationDesc) -> Box<dyn Decoder> {
        match self {
            Format::Json(options) => Box::new(json::JsonDecoder::new(columns, options.clone())),
            Format::Csv(options) => Box::new(csv::CsvDecoder::new(columns, options.clone())),
            Format::Raw => Box::new(raw::RawDecoder::new(columns)),
            Format::DebeziumJson(options) => {
                Box::new(debezium::DebeziumDecoder::new(columns, options.clone()))
            }
            Format::Parquet => Box::new(parquet::ParquetRowDecoder),
            Format::Avro(options) => Box::new(avro::AvroDecoder::new(columns, options.clone())),
        }
    }

    /// An encoder of rows of `columns` into messages.
    pub fn encoder(&self, columns: &RelationDesc) -> Box<dyn Encoder> {
        match self {
            Format::Json(options) => Box::new(json::JsonEncoder::new(columns, options.clone())),
            Format::Csv(options) => Box::new(csv::CsvEncoder::new(columns, options.clone())),
            Format::Raw => Box::new(raw::RawEncoder),
            Format::DebeziumJson(options) => {
                Box::new(debezium::DebeziumEncoder::new(columns, options.clone()))
            }
            Format::Parquet => Box::new(parquet::ParquetMessageEncoder),
            Format::Avro(options) => Box::new(avro::AvroEncoder::new(columns, options.clone())),
        }
    }
}

/// Parses a boolean option value (`true`/`false`, case-insensitive).
pub(crate) fn bool_option(key: &str, value: &str) -> Result<bool, OptionError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(OptionError::new(
            format!("option '{key}' must be 'true' or 'false', not '{value}'"),
            format!("write '{key}' = 'true'"),
        )),
    }
}

/// The error for an option key a format does not know, with the closest known key.
pub(crate) fn unknown_option(prefix: &str, key: &str, known: &[&str]) -> OptionError {
    let best = known
        .iter()
        .map(|k| (strsim::levenshtein(k, key), *k))
        .min()
        .filter(|(distance, _)| *distance <= 3);
    let hint = match best {
        Some((_, k)) => format!("perhaps you meant '{prefix}{k}'"),
        None => format!(
            "known options: {}",
            known
                .iter()
                .map(|k| format!("'{prefix}{k}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    OptionError::new(format!("unknown option '{prefix}{key}'"), hint)
}
