//! From a source table's `WITH` options to a running connector: the one place that
//! knows every built-in source connector.

use laaster_connectors::datagen::DatagenConfig;
use laaster_connectors::metadata::MetadataColumn;
use laaster_connectors::nexmark::{NexmarkConfig, NexmarkStream, event_schema};
use laaster_dataflow::external::SourceChanges;
use laaster_dataflow::source::SourceConnector;
use laaster_repr::{ErrorResponse, RelationDesc, ScalarType};
use laaster_sql::plans::CreateSourcePlan;

/// The connectors `CREATE TABLE ... WITH ('connector' = ...)` accepts.
pub const SOURCE_CONNECTORS: &[&str] = &[
    "datagen",
    "nexmark",
    "redis-streams",
    "nats-jetstream",
    "filesystem",
];

/// What to do with rows behind the watermark (`'late-data'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LateData {
    /// Drop them (counted in SHOW SOURCES).
    Drop,
    /// Also write them to the table `<source>_late`.
    SideTable,
}

/// The source options the engine handles itself (the rest go to the connector).
#[derive(Clone, Debug)]
pub(crate) struct EngineOptions {
    /// `'late-data'`.
    pub late: LateData,
    /// `'scan.retain'`: keep every row in an arrangement (ad hoc queries can read it).
    pub retain: bool,
    /// `'source.idle-timeout'`.
    pub idle_timeout: Option<std::time::Duration>,
    /// `'allowed-lateness'`, in microseconds.
    pub allowed_lateness: i64,
    /// `'scan.mode' = 'upsert'`: each message is the latest row of its PRIMARY KEY.
    pub upsert: bool,
    /// `'scan.watermark.alignment.max-drift'`, in microseconds (`Some(None)`: `'off'`).
    pub max_drift: Option<Option<i64>>,
}

/// The watermark alignment of sources that do not set
/// `'scan.watermark.alignment.max-drift'`: generated sources (nexmark, datagen), whose
/// workers' shares advance at the same pace by construction, align within one second of
/// event time; external sources, whose splits may be empty or backlogged, do not align
/// unless asked (as in Flink).
pub(crate) const GENERATED_MAX_DRIFT_MICROS: i64 = 1_000_000;

fn invalid(option: &str, value: &str, hint: &str) -> ErrorResponse {
    ErrorResponse::new(
        "22023",
        format!("invalid value for option '{option}': \"{value}\""),
    )
    .with_hint(hint.to_string())
}

/// A duration as Flink writes them: `500 ms`, `5 s`, `5s`, `1 min`, `2 h`; a bare number
/// is milliseconds.
pub(crate) fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let amount: u64 = text[..split].parse().ok()?;
    let millis = match text[split..].trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => amount,
        "s" | "sec" | "secs" | "second" | "seconds" => amount.checked_mul(1000)?,
        "min" | "mins" | "minute" | "minutes" => amount.checked_mul(60_000)?,
        "h" | "hour" | "hours" => amount.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(std::time::Duration::from_millis(millis))
}

const DURATION_HINT: &str =
    "Write a duration such as '500 ms', '5 s', '1 min' (a bare number is milliseconds).";

/// Splits the engine's options from the connector's.
pub(crate) fn split_options(
    source: &CreateSourcePlan,
) -> Result<(EngineOptions, Vec<(String, String)>), ErrorResponse> {
    let mut engine = EngineOptions {
        late: LateData::Drop,
        retain: false,
        idle_timeout: None,
        allowed_lateness: 0,
        upsert: false,
        max_drift: None,
    };
    let mut rest = Vec::new();
    for (key, value) in &source.options {
        match key.to_ascii_lowercase().as_str() {
            "late-data" => {
                engine.late = match value.to_ascii_lowercase().as_str() {
                    "drop" => LateData::Drop,
                    "side-table" => LateData::SideTable,
                    other => {
                        return Err(invalid(
                            "late-data",
                            other,
                            "Use 'drop' (the default; late rows are counted in SHOW SOURCES) or 'side-table' (late rows also go to the table <source>_late).",
                        ));
                    }
                };
            }
            "scan.retain" => {
                engine.retain = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(invalid(
                            "scan.retain",
                            other,
                            "Use 'true' (keep every row, so ad hoc queries can read the source) or 'false' (the default: stream it to the views that read it).",
                        ));
                    }
                };
            }
            "source.idle-timeout" => {
                engine.idle_timeout = Some(
                    parse_duration(value)
                        .ok_or_else(|| invalid("source.idle-timeout", value, DURATION_HINT))?,
                );
            }
            "allowed-lateness" => {
                let lateness = parse_duration(value)
                    .ok_or_else(|| invalid("allowed-lateness", value, DURATION_HINT))?;
                engine.allowed_lateness = i64::try_from(lateness.as_micros())
                    .map_err(|_| invalid("allowed-lateness", value, DURATION_HINT))?;
            }
            "scan.watermark.alignment.max-drift" => {
                engine.max_drift = Some(if value.trim().eq_ignore_ascii_case("off") {
                    None
                } else {
                    let hint = "Write a duration such as '1 s' or '500 ms' (how far one worker's reader may run ahead of the slowest in event time), or 'off'.";
                    let drift = parse_duration(value).ok_or_else(|| {
                        invalid("scan.watermark.alignment.max-drift", value, hint)
                    })?;
                    Some(
                        i64::try_from(drift.as_micros()).map_err(|_| {
                            invalid("scan.watermark.alignment.max-drift", value, hint)
                        })?,
                    )
                });
            }
            "scan.mode" => {
                engine.upsert = match value.to_ascii_lowercase().as_str() {
                    "append" | "append-only" => false,
                    "upsert" => true,
                    other => {
                        return Err(invalid(
                            "scan.mode",
                            other,
                            "Use 'append' (the default: each message is new rows) or 'upsert' (each message is the latest row of its PRIMARY KEY; an empty value or a Debezium delete deletes it).",
                        ));
                    }
                };
            }
            _ => rest.push((key.clone(), value.clone())),
        }
    }
    if engine.late == LateData::SideTable && source.watermark.is_none() {
        return Err(ErrorResponse::new(
            "22023",
            format!(
                "source table \"{}\" has 'late-data' = 'side-table' but no WATERMARK",
                source.name
            ),
        )
        .with_detail("Only rows behind a watermark are late.")
        .with_hint(
            "Declare WATERMARK FOR <time column> AS <time column> - INTERVAL '...' SECOND.",
        ));
    }
    Ok((engine, rest))
}

/// Whether `name` is an external source connector of the registry.
fn external_connector(name: &str) -> bool {
    laaster_connectors::registry::CONNECTORS
        .iter()
        .any(|(connector, source, _, _)| *connector == name && *source)
}

/// Whether `name` is a source or a sink of the connector registry.
pub(crate) fn registry_connector(name: &str) -> Option<(bool, bool)> {
    laaster_connectors::registry::CONNECTORS
        .iter()
        .find(|(connector, _, _, _)| *connector == name)
        .map(|(_, source, sink, _)| (*source, *sink))
}

/// Validates the options and the declared columns against the connector.
pub(crate) fn source_connector(
    source: &CreateSourcePlan,
    options: &[(String, String)],
    engine: &EngineOptions,
) -> Result<SourceConnector, ErrorResponse> {
    let metadata = metadata_columns(source)?;
    match source.connector.as_str() {
        "datagen" | "nexmark" if engine.upsert => Err(ErrorResponse::new(
            "0A000",
            format!("connector \"{}\" has no 'scan.mode' = 'upsert'", source.connector),
        )
        .with_hint("Upsert sources read an external system (redis-streams, nats-jetstream, filesystem, ...).")),
        "datagen" => {
            let physical = RelationDesc::new(
                source.desc.columns[..source.physical_arity.min(source.desc.arity())].to_vec(),
            );
            let config = DatagenConfig::from_options(&physical, options)
                .map_err(|e| ErrorResponse::new("22023", e.message.clone()).with_hint(e.hint))?;
            Ok(SourceConnector::Datagen(std::sync::Arc::new(config)))
        }
        "nexmark" => {
            let config = NexmarkConfig::from_options(options).map_err(|e| {
                let mut response = ErrorResponse::new("22023", e.to_string());
                let rendered = e.render();
                if rendered != e.to_string() {
                    response = response.with_detail(rendered);
                }
                response
            })?;
            check_physical_columns(source, &event_schema())?;
            let stream = NexmarkStream::new(config)
                .map_err(|e| ErrorResponse::new("22023", e.to_string()))?;
            Ok(SourceConnector::Nexmark(stream))
        }
        other if external_connector(other) => {
            let physical = RelationDesc::new(
                source.desc.columns[..source.physical_arity.min(source.desc.arity())].to_vec(),
            );
            // The format decodes the value columns: the physical ones but metadata.
            let value = value_columns(&physical, &metadata);
            let def = laaster_connectors::registry::external_source(other, options, &value)
                .map_err(|e| ErrorResponse::new("22023", e.message).with_hint(e.hint))?
                .ok_or_else(|| {
                    ErrorResponse::new("0A000", format!("connector \"{other}\" is not a source"))
                        .with_hint("Declare it as a sink table and INSERT INTO it.")
                })?;
            let debezium = matches!(
                def.format,
                laaster_connectors::format::Format::DebeziumJson(_)
            );
            let changes = match (engine.upsert, debezium) {
                (true, _) => {
                    let Some(key) = source.primary_key.clone() else {
                        return Err(ErrorResponse::new(
                            "42P16",
                            format!(
                                "upsert source \"{}\" needs a PRIMARY KEY",
                                source.name
                            ),
                        )
                        .with_detail("A later message with the same key replaces the earlier one.")
                        .with_hint("Declare PRIMARY KEY (<column>, ...) NOT ENFORCED."));
                    };
                    SourceChanges::Upsert { key }
                }
                (false, true) => SourceChanges::Debezium,
                (false, false) => SourceChanges::Append,
            };
            if changes != SourceChanges::Append && source.watermark.is_some() {
                return Err(ErrorResponse::new(
                    "0A000",
                    format!(
                        "source table \"{}\" carries changes and cannot have a WATERMARK yet",
                        source.name
                    ),
                )
                .with_detail(
                    "Event-time windows over a source close on its watermark and need insertions only; a 'debezium-json' or upsert source also retracts rows.",
                )
                .with_hint("Drop the WATERMARK clause, or read the changes with a plain 'json' source."));
            }
            Ok(SourceConnector::External {
                def: std::sync::Arc::new(def),
                name: source.name.clone(),
                columns: physical,
                metadata,
                changes,
            })
        }
        other => Err(ErrorResponse::new(
            "0A000",
            format!("connector \"{other}\" is not supported"),
        )
        .with_hint(format!(
            "Source connectors: {}.",
            SOURCE_CONNECTORS.join(", ")
        ))),
    }
}

/// The source's metadata columns (`METADATA FROM 'key'`), checked against its connector:
/// a connector without metadata, an unknown key or a type the key's values do not fit is
/// refused here, at CREATE.
fn metadata_columns(source: &CreateSourcePlan) -> Result<Vec<MetadataColumn>, ErrorResponse> {
    source
        .metadata
        .iter()
        .map(|(index, key)| {
            let column = &source.desc.columns[*index];
            laaster_connectors::metadata::metadata_column(
                &source.connector,
                *index,
                &column.name,
                key,
                &column.typ.scalar,
            )
            .map_err(|e| ErrorResponse::new("42P16", e.message).with_hint(e.hint))
        })
        .collect()
}

/// The physical columns a source's format decodes: all but the metadata columns.
pub(crate) fn value_columns(physical: &RelationDesc, metadata: &[MetadataColumn]) -> RelationDesc {
    RelationDesc::new(
        physical
            .columns
            .iter()
            .enumerate()
            .filter(|(index, _)| !metadata.iter().any(|m| m.index == *index))
            .map(|(_, column)| column.clone())
            .collect(),
    )
}

/// The declared physical columns must have the connector's types, in order (names
/// may differ).
fn check_physical_columns(
    source: &CreateSourcePlan,
    produced: &RelationDesc,
) -> Result<(), ErrorResponse> {
    let declared = &source.desc.columns[..source.physical_arity.min(source.desc.arity())];
    let matches = declared.len() == produced.arity()
        && declared
            .iter()
            .zip(&produced.columns)
            .all(|(d, p)| compatible(&d.typ.scalar, &p.typ.scalar));
    if matches {
        return Ok(());
    }
    let describe = |columns: Vec<String>| columns.join(", ");
    Err(ErrorResponse::new(
        "42804",
        format!(
            "the columns of \"{}\" do not match what connector \"{}\" produces",
            source.name, source.connector
        ),
    )
    .with_detail(format!(
        "Declared: {}. The connector produces: {}.",
        describe(
            declared
                .iter()
                .map(|c| format!("{} {}", c.name, c.typ.scalar))
                .collect()
        ),
        describe(
            produced
                .columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.typ.scalar))
                .collect()
        ),
    ))
    .with_hint("Declare the physical columns as in Flink's Nexmark DDL (ddl_gen.sql)."))
}

/// Same shape: same base types, records field by field (names ignored).
fn compatible(declared: &ScalarType, produced: &ScalarType) -> bool {
    match (declared, produced) {
        (ScalarType::Record(a), ScalarType::Record(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((_, x), (_, y))| compatible(x, y))
        }
        (ScalarType::Array(a), ScalarType::Array(b)) => compatible(a, b),
        (a, b) => a.same_base(b),
    }
}

/// The option an error names as unknown (`unknown option 'k' ...`), as the connector
/// registry and the formats report it.
fn unknown_option(error: &ErrorResponse) -> Option<String> {
    let rest = error.message.strip_prefix("unknown option '")?;
    Some(rest[..rest.find('\'')?].to_string())
}

/// Runs `check` on `options`, leaving out each option it reports as unknown, until it
/// accepts them or fails for another reason. Returns its last answer and the options
/// left out. Used for connectors that are both sources and sinks: one table's options
/// hold both directions' keys, and each direction ignores the other's.
pub(crate) fn without_unknown_options<T>(
    options: &[(String, String)],
    check: impl Fn(&[(String, String)]) -> Result<T, ErrorResponse>,
) -> (Result<T, ErrorResponse>, Vec<String>) {
    let mut kept = options.to_vec();
    let mut left_out = Vec::new();
    loop {
        match check(&kept) {
            Err(e) => match unknown_option(&e) {
                Some(key) if kept.iter().any(|(k, _)| *k == key) => {
                    kept.retain(|(k, _)| *k != key);
                    left_out.push(key);
                }
                _ => return (Err(e), left_out),
            },
            ok => return (ok, left_out),
        }
    }
}
