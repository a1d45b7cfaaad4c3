//! Sinks: `CREATE TABLE name (...) WITH ('connector' = <sink>)` (a sink table, Flink's
//! way) and `CREATE SINK name FROM relation WITH ('connector' = <sink>, ...)`.
//!
//! A sink table has columns but no rows of its own: `INSERT INTO name SELECT ...` starts
//! a continuous dataflow that writes every change of the query to the connector
//! (planned in [`super::dml`] as [`StatementPlan::InsertIntoSink`]). Reading, updating
//! or deleting from a sink table is refused. `CREATE SINK name FROM relation` is a sink
//! whose columns are the relation's, started at once with `SELECT * FROM relation`.
//! Connectors, as Flink's:
//!
//! - `blackhole`: discards the rows (counts them; `SHOW SINKS`). No options.
//! - `print`: prints each change to standard output as `+I[...]` / `-D[...]`. Options
//!   `'print-identifier'` (a prefix) and `'standard-error'` (`true` prints to stderr).
//! - every sink of the connector registry (`redis`, `redis-streams`, `nats-jetstream`,
//!   `filesystem`, ...): the engine checks their options. A `CREATE TABLE` with a
//!   connector that is both a source and a sink is planned as a source table; the engine
//!   decides whether it can be read, written (`INSERT INTO`), or both (see
//!   `docs/design/connectors-sql.md`).

use laaster_repr::{ErrorResponse, RelationDesc};
use sqlparser::ast;

use crate::catalog::{Catalog, ItemKind};
use crate::error::PlanError;
use crate::plans::{CreateSinkPlan, PlanContext, SinkFrom, StatementPlan};
use crate::query::{QueryContext, plan_query};

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
    pub primary_key: Option<Vec<usize>>,
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
    // Other connectors' options are checked by the engine (the connector registry).
    let external = !SINK_CONNECTORS.iter().any(|(name, _)| *name == connector);
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
        primary_key: table.primary_key,
        from: None,
        if_not_exists: table.if_not_exists,
        create_sql: table.create_sql,
    }))
}

/// Plans `CREATE SINK name FROM relation WITH (options)`: the sink's columns are the
/// relation's; its dataflow is `SELECT * FROM relation`, maintained.
pub(super) fn plan_create_sink_from(
    catalog: &dyn Catalog,
    name: &str,
    from: &str,
    with: &[ast::SqlOption],
    if_not_exists: bool,
    create_sql: &str,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    let (connector, options) = super::source::connector_options(with)?;
    if catalog.get(name).is_some() && !if_not_exists {
        return Err(PlanError::AlreadyExists {
            kind: "relation",
            name: name.to_string(),
        });
    }
    let relation = super::resolve_item(catalog, from)?;
    if relation.kind == ItemKind::Sink {
        return Err(PlanError::Response(
            ErrorResponse::new(
                "42809",
                format!("cannot create a sink from sink \"{from}\""),
            )
            .with_detail("A sink keeps no rows to read.")
            .with_hint("Name a table, source table or view after FROM."),
        ));
    }
    let select = super::select_star_from(from)?;
    let query = plan_query(catalog, &select, ctx, QueryContext::Maintained)?;
    let desc = query.desc.clone();
    let uses = query.plan.imports();
    let arity = desc.arity();
    let StatementPlan::CreateSink(mut plan) = plan_create_sink(SinkTable {
        name: name.to_string(),
        desc,
        physical_arity: arity,
        has_watermark: false,
        connector,
        options,
        primary_key: None,
        if_not_exists,
        create_sql: create_sql.to_string(),
    })?
    else {
        return Err(PlanError::Response(ErrorResponse::new(
            "XX000",
            "internal error: a sink plan expected",
        )));
    };
    plan.from = Some(SinkFrom { query, uses });
    Ok(StatementPlan::CreateSink(plan))
}
