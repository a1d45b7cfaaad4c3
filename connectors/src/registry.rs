//! The one list of external connectors, and their typed options.
//!
//! [`external_source`] and [`external_sink`] turn a `WITH (...)` option list into a
//! checked configuration, or an [`OptionError`] naming the option, why, and what would
//! work. Every option must be known to the connector or its format: a misspelled key is
//! refused at `CREATE` time with the closest known key. The built-in generators
//! (`nexmark`, `datagen`) and `blackhole`/`print` are the engine's own and are not listed
//! here.

use std::sync::Arc;
use std::time::Duration;

use laaster_repr::RelationDesc;

use crate::api::{ConnectorError, OnError, SinkConfig, SinkWriter, SourceConfig, SourceReader};
use crate::file::{FileReader, FileSourceOptions, FileWriter, parse_size};
use crate::format::parquet::{ParquetReader, ParquetWriter};
use crate::format::{Format, OptionError};
use crate::kafka::{
    KafkaReader, KafkaSinkOptions, KafkaSourceOptions, KafkaWriter, SinkMode, StartupMode,
};
use crate::nats::{NatsOptions, NatsReader, NatsWriter};
use crate::postgres::{
    PostgresCdcOptions, PostgresCdcReader, PostgresSinkOptions, PostgresSinkWriter,
    StartupMode as PostgresStartup,
};
use crate::redis::{StreamReader, StreamSourceOptions, StreamWriter, UpsertWriter};

/// Every external connector: name, whether it is a source, a sink, and its options.
pub const CONNECTORS: &[(&str, bool, bool, &str)] = &[
    (
        "redis-streams",
        true,
        true,
        "url, stream, group, consumer, field, scan.startup.mode",
    ),
    ("redis", false, true, "url, hash | key.prefix, key.columns"),
    (
        "nats-jetstream",
        true,
        true,
        "url, stream, subject, consumer, scan.startup.mode",
    ),
    (
        "filesystem",
        true,
        true,
        "path, source.monitor-interval, sink.rolling-policy.file-size",
    ),
    (
        "kafka",
        true,
        true,
        "topic, properties.bootstrap.servers, properties.group.id, scan.startup.mode, \
         scan.startup.specific-offsets, key.columns, key.format, sink.mode, \
         sink.delivery-guarantee, properties.*",
    ),
    (
        "postgres",
        false,
        true,
        "url, table-name, key.columns, sink.buffer-flush.max-rows",
    ),
    (
        "postgres-cdc",
        true,
        false,
        "url, schema-name, table-name, slot.name, publication.name, scan.startup.mode",
    ),
];

/// A checked source definition.
#[derive(Clone, Debug)]
pub struct SourceDef {
    pub config: Arc<dyn SourceConfig>,
    pub format: Format,
    pub on_error: OnError,
}

/// A checked sink definition.
#[derive(Clone, Debug)]
pub struct SinkDef {
    pub config: Arc<dyn SinkConfig>,
}

/// The options given, with a record of which were used.
struct Options<'a> {
    connector: &'a str,
    given: &'a [(String, String)],
    used: Vec<String>,
}

impl<'a> Options<'a> {
    fn new(connector: &'a str, given: &'a [(String, String)]) -> Options<'a> {
        Options {
            connector,
            given,
            used: vec!["connector".into()],
        }
    }

    fn get(&mut self, key: &str) -> Option<String> {
        self.used.push(key.to_string());
        self.given
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn get_or(&mut self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or_else(|| default.to_string())
    }

    fn require(&mut self, key: &str, example: &str) -> Result<String, OptionError> {
        self.get(key).ok_or_else(|| OptionError {
            message: format!("connector '{}' needs option '{key}'", self.connector),
            hint: format!("add '{key}' = '{example}'"),
        })
    }

    fn startup_earliest(&mut self) -> Result<bool, OptionError> {
        match self
            .get_or("scan.startup.mode", "earliest")
            .to_ascii_lowercase()
            .as_str()
        {
            "earliest" | "earliest-offset" => Ok(true),
            "latest" | "latest-offset" => Ok(false),
            other => Err(OptionError {
                message: format!(
                    "option 'scan.startup.mode' must be 'earliest' or 'latest', not '{other}'"
                ),
                hint: "'earliest' reads what is already there; 'latest' only what arrives later"
                    .into(),
            }),
        }
    }

    /// The format (if the connector takes one) and a check that nothing else was given.
    fn finish(
        mut self,
        columns: &RelationDesc,
        format_default: Option<&str>,
    ) -> Result<Format, OptionError> {
        let format = match (
            self.given.iter().any(|(k, _)| k == "format"),
            format_default,
        ) {
            (true, _) => Format::from_options("format", self.given, columns)?,
            (false, Some(default)) => Format::from_options(
                "format",
                &[("format".to_string(), default.to_string())],
                columns,
            )?,
            (false, None) => Format::from_options("format", self.given, columns)?,
        };
        self.used.push("on-error".into());
        let known: Vec<String> = self.used.clone();
        for (key, _) in self.given {
            if known.contains(key) || Format::is_format_option("format", key) {
                continue;
            }
            let best = known
                .iter()
                .map(|k| (strsim::levenshtein(k, key), k))
                .min()
                .filter(|(d, _)| *d <= 3);
            return Err(OptionError {
                message: format!("unknown option '{key}' for connector '{}'", self.connector),
                hint: match best {
                    Some((_, k)) => format!("perhaps you meant '{k}'"),
                    None => format!("options of '{}': {}", self.connector, known[1..].join(", ")),
                },
            });
        }
        Ok(format)
    }
}

fn on_error(options: &[(String, String)]) -> Result<OnError, OptionError> {
    match options.iter().find(|(k, _)| k == "on-error") {
        None => Ok(OnError::default()),
        Some((_, v)) => OnError::parse(v).map_err(|e| OptionError {
            message: e.message,
            hint: e.hint.unwrap_or_default(),
        }),
    }
}

fn duration(key: &str, text: &str) -> Result<Duration, OptionError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| OptionError {
        message: format!(
            "option '{key}' must be a duration such as '1 s' or '500 ms', not '{text}'"
        ),
        hint: format!("write '{key}' = '1 s'"),
    })?;
    match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" | "sec" | "second" | "seconds" => Ok(Duration::from_secs(number)),
        "min" | "minute" | "minutes" => Ok(Duration::from_secs(number * 60)),
        other => Err(OptionError {
            message: format!("option '{key}': unknown unit '{other}'"),
            hint: "units: ms, s, min".into(),
        }),
    }
}

#[derive(Debug)]
struct RedisStreamsSource(StreamSourceOptions);

impl SourceConfig for RedisStreamsSource {
    fn open(&self, split: usize, _splits: usize) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Ok(Box::new(StreamReader::open(&self.0, split)?))
    }

    fn open_for(
        &self,
        consumer: &str,
        split: usize,
        _splits: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let mut options = self.0.clone();
        options.group = format!("{}-{consumer}", options.group);
        Ok(Box::new(StreamReader::open(&options, split)?))
    }

    /// Destroys the consumer's group, `<group>-<consumer>` (its position and pending
    /// entries), so a dropped view leaves nothing in Redis.
    fn release(&self, consumer: &str, _split: usize, _splits: usize) -> Result<(), ConnectorError> {
        let mut options = self.0.clone();
        options.group = format!("{}-{consumer}", options.group);
        crate::redis::destroy_group(&options)
    }
}

#[derive(Debug)]
struct NatsSource(NatsOptions);

impl SourceConfig for NatsSource {
    fn open(&self, _split: usize, _splits: usize) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Ok(Box::new(NatsReader::open(&self.0)?))
    }

    fn open_for(
        &self,
        consumer: &str,
        _split: usize,
        _splits: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let mut options = self.0.clone();
        options.consumer = format!("{}-{consumer}", options.consumer);
        Ok(Box::new(NatsReader::open(&options)?))
    }

    /// Deletes the consumer's durable consumer, `<consumer>-<consumer name>`.
    fn release(&self, consumer: &str, _split: usize, _splits: usize) -> Result<(), ConnectorError> {
        let mut options = self.0.clone();
        options.consumer = format!("{}-{consumer}", options.consumer);
        crate::nats::delete_consumer(&options)
    }
}

#[derive(Debug)]
struct FileSource(FileSourceOptions);

/// A filesystem source of Parquet files (it needs the table's columns to read them).
#[derive(Debug)]
struct ParquetSource(FileSourceOptions, RelationDesc);

impl SourceConfig for ParquetSource {
    fn open(&self, split: usize, splits: usize) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Ok(Box::new(ParquetReader::open(
            &self.0, &self.1, split, splits,
        )?))
    }
}

/// Refuses a format the connector cannot carry: Parquet is a file format (only
/// `filesystem`), and binary Avro cannot be split into lines (every connector but
/// `filesystem`).
fn check_format_fits(connector: &str, format: &Format) -> Result<(), OptionError> {
    match (connector, format) {
        ("filesystem", Format::Avro(_)) => Err(OptionError {
            message: "connector 'filesystem' reads and writes lines or Parquet files; binary Avro records cannot be split into lines".into(),
            hint: "use 'format' = 'parquet' (or json/csv) for files, and 'avro' with kafka, redis-streams or nats-jetstream".into(),
        }),
        (other, Format::Parquet) if other != "filesystem" => Err(OptionError {
            message: format!("format 'parquet' is a file format; connector '{other}' carries messages"),
            hint: "use 'format' = 'avro' or 'json' for messages, or 'connector' = 'filesystem' for Parquet files".into(),
        }),
        _ => Ok(()),
    }
}

fn format_is(options: &[(String, String)], name: &str) -> bool {
    options
        .iter()
        .any(|(k, v)| k == "format" && v.eq_ignore_ascii_case(name))
}

impl SourceConfig for FileSource {
    fn open(&self, split: usize, splits: usize) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Ok(Box::new(FileReader::open(&self.0, split, splits)?))
    }
}

#[derive(Debug)]
struct KafkaSource(KafkaSourceOptions);

impl SourceConfig for KafkaSource {
    fn open(&self, split: usize, splits: usize) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Ok(Box::new(KafkaReader::open(&self.0, split, splits)?))
    }

    /// Each consumer (view) commits to its own group, `<properties.group.id>-<consumer>`,
    /// so its offsets (and `group-offsets` resumption) are its own.
    fn open_for(
        &self,
        consumer: &str,
        split: usize,
        splits: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let options = KafkaSourceOptions {
            group_id: format!("{}-{consumer}", self.0.group_id),
            ..self.0.clone()
        };
        Ok(Box::new(KafkaReader::open(&options, split, splits)?))
    }

    /// Deletes the consumer's group, `<properties.group.id>-<consumer>` (its committed
    /// offsets).
    fn release(&self, consumer: &str, _split: usize, _splits: usize) -> Result<(), ConnectorError> {
        crate::kafka::delete_group(
            &self.0.bootstrap_servers,
            &format!("{}-{consumer}", self.0.group_id),
        )
    }
}

fn option_error(e: ConnectorError) -> OptionError {
    OptionError {
        message: e.message,
        hint: e.hint.unwrap_or_default(),
    }
}

/// Kafka's `'properties.*'` options other than the two named ones, without the prefix,
/// checked by librdkafka.
fn kafka_properties(o: &mut Options) -> Result<Vec<(String, String)>, OptionError> {
    let names: Vec<String> = o
        .given
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| {
            k.starts_with("properties.")
                && k != "properties.bootstrap.servers"
                && k != "properties.group.id"
        })
        .collect();
    let mut properties = Vec::new();
    for name in names {
        if let Some(value) = o.get(&name) {
            properties.push((name["properties.".len()..].to_string(), value));
        }
    }
    crate::kafka::check_properties(&properties).map_err(option_error)?;
    Ok(properties)
}

/// The source definition for `options` if `connector` is an external source; `None`
/// for connectors this registry does not know (the engine's own, or unknown ones).
pub fn external_source(
    connector: &str,
    options: &[(String, String)],
    columns: &RelationDesc,
) -> Result<Option<SourceDef>, OptionError> {
    if connector == "postgres-cdc" {
        return postgres_cdc_source(options, columns).map(Some);
    }
    let mut o = Options::new(connector, options);
    let config: Arc<dyn SourceConfig> = match connector {
        "redis-streams" => {
            let stream = o.require("stream", "votes")?;
            Arc::new(RedisStreamsSource(StreamSourceOptions {
                url: o.get_or("url", "redis://127.0.0.1:6379"),
                stream,
                group: o.get_or("group", "laaster"),
                consumer: o.get_or("consumer", "laaster"),
                field: o.get_or("field", "data"),
                from_earliest: o.startup_earliest()?,
            }))
        }
        "nats-jetstream" => {
            let stream = o.require("stream", "VOTES")?;
            let subject = o.require("subject", "votes.>")?;
            Arc::new(NatsSource(NatsOptions {
                url: o.get_or("url", "nats://127.0.0.1:4222"),
                stream,
                subject,
                consumer: o.get_or("consumer", "laaster"),
                from_earliest: o.startup_earliest()?,
            }))
        }
        "filesystem" => {
            let path = o.require("path", "/data/events/*.jsonl")?;
            let monitor_interval = match o.get("source.monitor-interval") {
                Some(text) => Some(duration("source.monitor-interval", &text)?),
                None => None,
            };
            let options = FileSourceOptions {
                path,
                monitor_interval,
            };
            if format_is(o.given, "parquet") {
                Arc::new(ParquetSource(options, columns.clone()))
            } else {
                Arc::new(FileSource(options))
            }
        }
        "kafka" => {
            let topic = o.require("topic", "votes")?;
            let bootstrap_servers = o.require("properties.bootstrap.servers", "127.0.0.1:9092")?;
            let group_id = o.get_or("properties.group.id", "laaster");
            let mode = o.get_or("scan.startup.mode", "group-offsets");
            let specific = o.get("scan.startup.specific-offsets");
            let startup = StartupMode::parse(&mode, specific.as_deref()).map_err(option_error)?;
            Arc::new(KafkaSource(KafkaSourceOptions {
                topic,
                bootstrap_servers,
                group_id,
                startup,
                properties: kafka_properties(&mut o)?,
            }))
        }
        _ => return Ok(None),
    };
    let format = o.finish(columns, None)?;
    check_format_fits(connector, &format)?;
    Ok(Some(SourceDef {
        config,
        format,
        on_error: on_error(options)?,
    }))
}

#[derive(Debug)]
enum SinkKind {
    RedisStream {
        url: String,
        stream: String,
        field: String,
    },
    RedisUpsert {
        url: String,
        hash: Option<String>,
        prefix: String,
        key_columns: Vec<usize>,
    },
    Nats(NatsOptions),
    File {
        path: String,
        extension: String,
        max_bytes: u64,
        retractions: bool,
    },
    Parquet {
        path: String,
        max_bytes: u64,
    },
    Kafka {
        options: KafkaSinkOptions,
        /// `'key.format'`; `None`: the value's format.
        key_format: Option<Format>,
        /// The key columns' description, when there are key columns.
        key_desc: Option<RelationDesc>,
    },
}

#[derive(Debug)]
struct ExternalSink {
    kind: SinkKind,
    format: Format,
    columns: RelationDesc,
}

impl SinkConfig for ExternalSink {
    fn open(&self, worker: usize, _workers: usize) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        let encoder = self.format.encoder(&self.columns);
        Ok(match &self.kind {
            SinkKind::RedisStream { url, stream, field } => {
                Box::new(StreamWriter::open(url, stream, field, encoder)?)
            }
            SinkKind::RedisUpsert {
                url,
                hash,
                prefix,
                key_columns,
            } => Box::new(UpsertWriter::open(
                url,
                hash.clone(),
                prefix.clone(),
                key_columns.clone(),
                encoder,
            )?),
            SinkKind::Nats(options) => Box::new(NatsWriter::open(options, encoder)?),
            SinkKind::File {
                path,
                extension,
                max_bytes,
                retractions,
            } => Box::new(FileWriter::open(
                path,
                worker,
                extension,
                *max_bytes,
                *retractions,
                encoder,
            )?),
            SinkKind::Parquet { path, max_bytes } => Box::new(ParquetWriter::open(
                path,
                worker,
                *max_bytes,
                &self.columns,
            )?),
            SinkKind::Kafka {
                options,
                key_format,
                key_desc,
            } => {
                let options = KafkaSinkOptions {
                    format_writes_retractions: matches!(self.format, Format::DebeziumJson(_)),
                    ..options.clone()
                };
                let key_encoder = key_desc
                    .as_ref()
                    .map(|desc| key_format.as_ref().unwrap_or(&self.format).encoder(desc));
                Box::new(KafkaWriter::open(&options, encoder, key_encoder)?)
            }
        })
    }
}

/// The key columns named by `'key.columns'` (comma-separated), as indexes.
fn key_columns(keys: &str, columns: &RelationDesc) -> Result<Vec<usize>, OptionError> {
    let mut indexes = Vec::new();
    for name in keys.split(',').map(str::trim) {
        let Some(index) = columns.index_of(name) else {
            return Err(OptionError {
                message: format!("'key.columns' names '{name}', which is not a column of the sink"),
                hint: format!(
                    "columns: {}",
                    columns.names().collect::<Vec<_>>().join(", ")
                ),
            });
        };
        indexes.push(index);
    }
    Ok(indexes)
}

/// A Kafka sink's options (the value format is read by [`Options::finish`]).
fn kafka_sink(
    o: &mut Options,
    given: &[(String, String)],
    columns: &RelationDesc,
) -> Result<SinkKind, OptionError> {
    let topic = o.require("topic", "tally")?;
    let bootstrap_servers = o.require("properties.bootstrap.servers", "127.0.0.1:9092")?;
    let key_columns = match o.get("key.columns") {
        Some(keys) => key_columns(&keys, columns)?,
        None => Vec::new(),
    };
    let mode = match o
        .get_or("sink.mode", "append")
        .to_ascii_lowercase()
        .as_str()
    {
        "append" | "append-only" => SinkMode::Append,
        "upsert" => SinkMode::Upsert,
        other => {
            return Err(OptionError {
                message: format!("option 'sink.mode' must be 'append' or 'upsert', not '{other}'"),
                hint: "'upsert' keeps the latest row per 'key.columns' and writes deletes as tombstones".into(),
            });
        }
    };
    if mode == SinkMode::Upsert && key_columns.is_empty() {
        return Err(OptionError {
            message: "'sink.mode' = 'upsert' needs 'key.columns'".into(),
            hint: "add 'key.columns' = '<the view's key columns>'".into(),
        });
    }
    let flush_on_complete = match o
        .get_or("sink.delivery-guarantee", "at-least-once")
        .to_ascii_lowercase()
        .as_str()
    {
        "at-least-once" => true,
        "none" => false,
        other => {
            return Err(OptionError {
                message: format!(
                    "option 'sink.delivery-guarantee' must be 'at-least-once' or 'none', not '{other}'"
                ),
                hint: "'exactly-once' (Kafka transactions) is not supported".into(),
            });
        }
    };
    let key_desc = (!key_columns.is_empty()).then(|| {
        RelationDesc::new(
            key_columns
                .iter()
                .map(|&i| columns.columns[i].clone())
                .collect(),
        )
    });
    let key_format = match (given.iter().any(|(k, _)| k == "key.format"), &key_desc) {
        (false, _) => None,
        (true, None) => {
            return Err(OptionError {
                message: "option 'key.format' needs 'key.columns'".into(),
                hint: "add 'key.columns' = '<the columns forming the message key>'".into(),
            });
        }
        (true, Some(desc)) => {
            for (k, _) in given {
                if Format::is_format_option("key.format", k) {
                    o.used.push(k.clone());
                }
            }
            Some(Format::from_options("key.format", given, desc)?)
        }
    };
    Ok(SinkKind::Kafka {
        options: KafkaSinkOptions {
            topic,
            bootstrap_servers,
            key_columns,
            mode,
            flush_on_complete,
            format_writes_retractions: false,
            properties: kafka_properties(o)?,
        },
        key_format,
        key_desc,
    })
}

/// The sink definition for `options` if `connector` is an external sink.
pub fn external_sink(
    connector: &str,
    options: &[(String, String)],
    columns: &RelationDesc,
) -> Result<Option<SinkDef>, OptionError> {
    if connector == "postgres" {
        return postgres_sink(options, columns).map(Some);
    }
    let mut o = Options::new(connector, options);
    let kind = match connector {
        "redis-streams" => SinkKind::RedisStream {
            url: o.get_or("url", "redis://127.0.0.1:6379"),
            stream: o.require("stream", "tally-changes")?,
            field: o.get_or("field", "data"),
        },
        "redis" => {
            let keys = o.require("key.columns", "contestant")?;
            let mut key_columns = Vec::new();
            for name in keys.split(',').map(str::trim) {
                let Some(index) = columns.index_of(name) else {
                    return Err(OptionError {
                        message: format!(
                            "'key.columns' names '{name}', which is not a column of the sink"
                        ),
                        hint: format!(
                            "columns: {}",
                            columns.names().collect::<Vec<_>>().join(", ")
                        ),
                    });
                };
                key_columns.push(index);
            }
            let hash = o.get("hash");
            let prefix = o.get_or("key.prefix", "");
            if hash.is_none() && prefix.is_empty() {
                return Err(OptionError {
                    message: "connector 'redis' needs 'hash' (one hash, a field per row) or 'key.prefix' (a key per row)".into(),
                    hint: "add 'hash' = 'tally'".into(),
                });
            }
            SinkKind::RedisUpsert {
                url: o.get_or("url", "redis://127.0.0.1:6379"),
                hash,
                prefix,
                key_columns,
            }
        }
        "nats-jetstream" => {
            let stream = o.require("stream", "TALLY")?;
            let subject = o.require("subject", "tally.changes")?;
            SinkKind::Nats(NatsOptions {
                url: o.get_or("url", "nats://127.0.0.1:4222"),
                stream,
                subject,
                consumer: String::new(),
                from_earliest: true,
            })
        }
        "filesystem" => {
            let path = o.require("path", "/data/out")?;
            let size = o.get_or("sink.rolling-policy.file-size", "128MB");
            let max_bytes = parse_size(&size).ok_or_else(|| OptionError {
                message: format!("option 'sink.rolling-policy.file-size' must be a size such as '128MB', not '{size}'"),
                hint: "units: B, KB, MB, GB".into(),
            })?;
            let format = options
                .iter()
                .find(|(k, _)| k == "format")
                .map(|(_, v)| v.to_ascii_lowercase())
                .unwrap_or_default();
            if format == "parquet" {
                // The engine tells its 'sink.mode' to connectors that take it: Parquet
                // files are append-only, so an upsert sink is refused here.
                if let Some(mode) = o.get("sink.mode")
                    && mode != "append"
                {
                    return Err(OptionError {
                        message: format!("Parquet files are append-only: 'sink.mode' = '{mode}' would need to update or delete rows already written"),
                        hint: "use 'sink.mode' = 'append-only' (the default without a key), or a sink that can update rows (postgres, redis, kafka with 'sink.mode' = 'upsert')".into(),
                    });
                }
                SinkKind::Parquet { path, max_bytes }
            } else {
                SinkKind::File {
                    path,
                    extension: match format.as_str() {
                        "csv" => "csv".into(),
                        "raw" => "txt".into(),
                        _ => "jsonl".into(),
                    },
                    max_bytes,
                    retractions: format == "debezium-json",
                }
            }
        }
        "kafka" => kafka_sink(&mut o, options, columns)?,
        _ => return Ok(None),
    };
    let format = o.finish(columns, Some("json"))?;
    check_format_fits(connector, &format)?;
    Ok(Some(SinkDef {
        config: Arc::new(ExternalSink {
            kind,
            format,
            columns: columns.clone(),
        }),
    }))
}

#[derive(Debug)]
struct PostgresCdcSource(PostgresCdcOptions);

impl SourceConfig for PostgresCdcSource {
    fn open(&self, split: usize, _splits: usize) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Ok(Box::new(PostgresCdcReader::open(&self.0, split)?))
    }

    /// Each consumer (view) reads through its own slot, `<slot.name>_<consumer>`, so
    /// several views can read one table; the publication is shared.
    fn open_for(
        &self,
        consumer: &str,
        split: usize,
        _splits: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let options = PostgresCdcOptions {
            slot: crate::postgres::consumer_slot(&self.0.slot, consumer),
            ..self.0.clone()
        };
        Ok(Box::new(PostgresCdcReader::open(&options, split)?))
    }

    /// Drops the consumer's slot (a slot left behind holds WAL forever). Only split 0
    /// reads, so only split 0 releases: once its reader is closed the slot is idle.
    fn release(&self, consumer: &str, split: usize, _splits: usize) -> Result<(), ConnectorError> {
        if split != 0 {
            return Ok(());
        }
        crate::postgres::drop_slot(
            &self.0.url,
            &crate::postgres::consumer_slot(&self.0.slot, consumer),
        )
    }
}

/// `'connector' = 'postgres-cdc'`: change events of one table through a logical
/// replication slot; 'format' is 'debezium-json' (the default) or 'json' (inserts only).
fn postgres_cdc_source(
    options: &[(String, String)],
    columns: &RelationDesc,
) -> Result<SourceDef, OptionError> {
    let mut o = Options::new("postgres-cdc", options);
    let url = o.require("url", "postgres://postgres@127.0.0.1:5432/test")?;
    let table = o.require("table-name", "orders")?;
    let slot = o.require("slot.name", "laaster_orders")?;
    if slot.is_empty()
        || !slot
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(OptionError {
            message: format!(
                "option 'slot.name' must be lower-case letters, digits and '_', not '{slot}'"
            ),
            hint:
                "PostgreSQL's rule for replication slot names; write 'slot.name' = 'laaster_orders'"
                    .into(),
        });
    }
    let startup = match o
        .get_or("scan.startup.mode", "initial")
        .to_ascii_lowercase()
        .as_str()
    {
        "initial" => PostgresStartup::Initial,
        "latest-offset" => PostgresStartup::LatestOffset,
        other => {
            return Err(OptionError {
                message: format!(
                    "option 'scan.startup.mode' must be 'initial' or 'latest-offset', not '{other}'"
                ),
                hint: "'initial' reads the table, then its changes; 'latest-offset' only changes from now on".into(),
            });
        }
    };
    let config = PostgresCdcOptions {
        url,
        schema: o.get_or("schema-name", "public"),
        table,
        publication: o.get_or("publication.name", &slot),
        slot,
        startup,
        changelog: true,
    };
    let format = o.finish(columns, Some("debezium-json"))?;
    let changelog = match format {
        Format::DebeziumJson(_) => true,
        Format::Json(_) => false,
        _ => {
            return Err(OptionError {
                message: "connector 'postgres-cdc' produces change events: 'format' must be 'debezium-json' (the default) or 'json'".into(),
                hint: "leave 'format' out for inserts, updates and deletes".into(),
            });
        }
    };
    Ok(SourceDef {
        config: Arc::new(PostgresCdcSource(PostgresCdcOptions {
            changelog,
            ..config
        })),
        format,
        on_error: on_error(options)?,
    })
}

#[derive(Debug)]
struct PostgresSink {
    options: PostgresSinkOptions,
    columns: RelationDesc,
}

impl SinkConfig for PostgresSink {
    fn open(&self, _worker: usize, _workers: usize) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Ok(Box::new(PostgresSinkWriter::open(
            &self.options,
            &self.columns,
        )?))
    }
}

/// `'connector' = 'postgres'`: upserts by key (or appends) into a PostgreSQL table.
fn postgres_sink(
    options: &[(String, String)],
    columns: &RelationDesc,
) -> Result<SinkDef, OptionError> {
    let mut o = Options::new("postgres", options);
    if options.iter().any(|(k, _)| k == "format") {
        return Err(OptionError {
            message: "connector 'postgres' writes table columns and takes no 'format'".into(),
            hint: "remove 'format'".into(),
        });
    }
    let url = o.require("url", "postgres://postgres@127.0.0.1:5432/test")?;
    let table = o.require("table-name", "public.tally")?;
    let key_columns = match o.get("key.columns") {
        None => None,
        Some(text) => {
            let names: Vec<String> = text.split(',').map(|n| n.trim().to_string()).collect();
            if let Some(name) = names.iter().find(|n| columns.index_of(n).is_none()) {
                return Err(OptionError {
                    message: format!(
                        "'key.columns' names '{name}', which is not a column of the sink"
                    ),
                    hint: format!(
                        "columns: {}",
                        columns.names().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            Some(names)
        }
    };
    let rows = o.get_or("sink.buffer-flush.max-rows", "1000");
    let max_rows = match rows.trim().parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => {
            return Err(OptionError {
                message: format!(
                    "option 'sink.buffer-flush.max-rows' must be a positive number, not '{rows}'"
                ),
                hint: "write 'sink.buffer-flush.max-rows' = '1000'".into(),
            });
        }
    };
    o.finish(columns, Some("json"))?;
    Ok(SinkDef {
        config: Arc::new(PostgresSink {
            options: PostgresSinkOptions {
                url,
                table,
                key_columns,
                max_rows,
            },
            columns: columns.clone(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use laaster_repr::{Column, ColumnType, ScalarType};

    use super::*;

    fn columns() -> RelationDesc {
        RelationDesc::new(vec![Column {
            name: "contestant".into(),
            typ: ColumnType::nullable(ScalarType::Text),
        }])
    }

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_checked_at_create_time() {
        let err =
            external_source("redis-streams", &opts(&[("format", "json")]), &columns()).unwrap_err();
        assert_eq!(
            err.message,
            "connector 'redis-streams' needs option 'stream'"
        );
        let err = external_source(
            "redis-streams",
            &opts(&[("stream", "s"), ("format", "json"), ("grup", "g")]),
            &columns(),
        )
        .unwrap_err();
        assert_eq!(err.hint, "perhaps you meant 'group'");
        let err =
            external_source("filesystem", &opts(&[("path", "/tmp")]), &columns()).unwrap_err();
        assert!(err.message.contains("missing option 'format'"), "{err:?}");
        let err = external_source(
            "filesystem",
            &opts(&[
                ("path", "/tmp"),
                ("format", "json"),
                ("on-error", "explode"),
            ]),
            &columns(),
        )
        .unwrap_err();
        assert!(err.message.contains("'fail', 'skip' or 'dead-letter'"));
        let ok = external_source(
            "nats-jetstream",
            &opts(&[
                ("stream", "S"),
                ("subject", "s.>"),
                ("format", "json"),
                ("json.fail-on-missing-field", "true"),
                ("on-error", "dead-letter"),
            ]),
            &columns(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(ok.on_error, OnError::DeadLetter);
        assert!(
            external_source("nexmark", &[], &columns())
                .unwrap()
                .is_none()
        );
        let err = external_sink(
            "redis",
            &opts(&[("key.columns", "who"), ("hash", "h")]),
            &columns(),
        )
        .unwrap_err();
        assert!(err.message.contains("'who'"));
        assert!(
            external_sink(
                "redis",
                &opts(&[("key.columns", "contestant"), ("hash", "h")]),
                &columns()
            )
            .unwrap()
            .is_some()
        );
    }
}
