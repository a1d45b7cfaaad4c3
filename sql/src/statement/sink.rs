//! Sink tables: `CREATE TABLE name (...) WITH ('connector' = 'blackhole' | 'print')`.
//!
//! A sink table has columns but no rows of its own: `INSERT INTO name SELECT ...` starts
//! a continuous dataflow that writes every change of the query to the connector
//! (planned in [`super::dml`] as [`StatementPlan::InsertIntoSink`]). Reading, updating
//! or deleting from a sink table is refused. Connectors, as Flink's:
//!
//! - `blackhole`: discards the rows (counts them; `SHOW SINKS`). No options.
//! - `print`: prints each change to standard output as `+I[...]` / `-D[...]`. Options
//!   `'print-identifier'` (a prefix) and `'standard-error'` (`true` prints to stderr).

use laaster_repr::{ErrorResponse, RelationDesc};

use crate::error::PlanError;
use crate::plans::{CreateSinkPlan, StatementPlan};

/// The sink connectors and the options each accepts.
const SINK_CONNECTORS: &[(&str, &[&str])] = &[
    ("blackhole", &[]),
    (
        "print",
        &["print-identifier", "standard-error", "sink.parallelism"],
    ),
];

/// Sink-only connectors of the connector registry; their options are checked by the
/// registry when the engine creates the sink.
const EXTERNAL_SINK_CONNECTORS: &[&str] = &["redis"];

/// Whether `connector` (lower-cased) names a sink connector.
pub(super) fn is_sink_connector(connector: &str) -> bool {
    SINK_CONNECTORS.iter().any(|(name, _)| *name == connector)
        || EXTERNAL_SINK_CONNECTORS.contains(&connector)
}

/// A `CREATE TABLE ... WITH ('connector' = <sink>)` as the source planner parsed it.
pub(super) struct SinkTable {
    pub name: String,
    pub desc: RelationDesc,
    pub physical_arity: usize,
    pub has_watermark: bool,
    pub connector: String,
    pub options: Vec<(String, String)>,
    pub if_not_exists: bool,
    pub create_sql: String,
}

/// Plans a sink table: checks that it has only plain columns and known options.
pub(super) fn plan_create_sink(table: SinkTable) -> Result<StatementPlan, PlanError> {
    let connector = table.connector.as_str();
    if table.desc.arity() != table.physical_arity || table.has_watermark {
        return Err(PlanError::Response(
            ErrorResponse::new(
                "42601",
                format!(
                    "sink table \"{}\" cannot have computed columns or a WATERMARK",
                    table.name
                ),
            )
            .with_detail(format!(
                "The '{connector}' connector writes rows; computed columns and watermarks belong to source tables."
            )),
        ));
    }
    let allowed = SINK_CONNECTORS
        .iter()
        .find(|(name, _)| *name == connector)
        .map_or(&[][..], |(_, options)| *options);
    let external = EXTERNAL_SINK_CONNECTORS.contains(&connector);
    for (key, value) in &table.options {
        if !external && !allowed.contains(&key.as_str()) {
            let hint = if allowed.is_empty() {
                format!("The '{connector}' connector takes no options.")
            } else {
                format!("Valid options: {}.", allowed.join(", "))
            };
            return Err(PlanError::Response(
                ErrorResponse::new(
                    "22023",
                    format!("unknown option '{key}' for the '{connector}' connector"),
                )
                .with_hint(hint),
            ));
        }
        if key == "standard-error" && !matches!(value.to_lowercase().as_str(), "true" | "false") {
            return Err(PlanError::Response(ErrorResponse::new(
                "22023",
                format!("option 'standard-error' must be true or false, not '{value}'"),
            )));
        }
    }
    Ok(StatementPlan::CreateSink(CreateSinkPlan {
        name: table.name,
        desc: table.desc,
        connector: table.connector,
        options: table.options,
        if_not_exists: table.if_not_exists,
        create_sql: table.create_sql,
    }))
}
