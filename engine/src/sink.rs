//! Sinks on the coordinator's side: `CREATE TABLE s (...) WITH ('connector' = ...)`
//! registers a sink table, `CREATE SINK s FROM relation WITH (...)` a sink fed at once by
//! `SELECT * FROM relation`; each `INSERT INTO s SELECT ...` installs a continuous sink
//! dataflow on every worker (`laaster_dataflow::sink`) whose changes go to the connector
//! until the sink is dropped; `SHOW SINKS` reports what was written. A source table whose
//! connector is also a sink (Flink's tables) is registered here too when its options make
//! a valid sink, so `INSERT INTO` it writes to the connector.
//!
//! External sinks (the connector registry's) take two options of the engine's own, read
//! here and hidden from the connector:
//!
//! - `'sink.mode'` = `'append-only'` | `'upsert'` | `'debezium'` (see
//!   [`SinkMode`]). Default: `'debezium'` with `'format' = 'debezium-json'`, `'upsert'`
//!   when a key is declared (below), else `'append-only'`.
//! - `'sink.key'` = `'col, ...'`: the upsert key; default the table's `PRIMARY KEY`
//!   (Flink's `PRIMARY KEY (...) NOT ENFORCED`), else the connector's `'key.columns'`
//!   (`redis`, `kafka`, `postgres`), which is passed on to connectors that take it.
//!
//! A connector with a `'sink.mode'` of its own (Kafka: `append` | `upsert`) is told the
//! engine's mode in it.
//!
//! Every dataflow feeding a sink gets its own id (so a source it reads counts it as a
//! consumer); dropping the sink table drops them all. The items a sink dataflow reads
//! become the sink's dependencies, so dropping one of them needs CASCADE, which drops
//! the sink.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use laaster_dataflow::Command;
use laaster_dataflow::external::{ExternalSink, SinkMode};
use laaster_dataflow::sink::{SinkConnector, SinkCounters, SinkSpec};
use laaster_dataflow::source::SourceConsumer;
use laaster_repr::plan::GlobalId;
use laaster_repr::{Column, ColumnType, Datum, ErrorResponse, RelationDesc, ScalarType};
use laaster_sql::plans::CreateSinkPlan;
use laaster_sql::{Catalog, CatalogItem, ItemKind, QueryPlan};

use crate::result::{ExecuteResult, RowSet};
use crate::sequence::Sequencer;

/// One sink: a sink table, a `CREATE SINK`, or a writable source table.
pub(crate) struct SinkState {
    pub name: String,
    /// What declared it: `table` (CREATE TABLE), `sink` (CREATE SINK) or `source table`
    /// (a source table that can also be written).
    pub kind: &'static str,
    /// The `'connector'` option.
    pub connector_name: String,
    pub connector: SinkConnector,
    pub counters: Arc<SinkCounters>,
    /// The ids of the dataflows writing into it.
    pub dataflows: Vec<GlobalId>,
}

/// Every sink table, by catalog id.
#[derive(Default)]
pub(crate) struct SinkRegistry {
    pub sinks: BTreeMap<GlobalId, SinkState>,
}

/// The options every external sink takes from the engine (not passed to the connector).
const ENGINE_SINK_OPTIONS: &[&str] = &["sink.mode", "sink.key"];

fn option_error(e: laaster_connectors::format::OptionError) -> ErrorResponse {
    ErrorResponse::new("22023", e.message).with_hint(e.hint)
}

/// Whether the connector registry lists `connector` as a sink.
pub(crate) fn registry_sink(connector: &str) -> bool {
    laaster_connectors::registry::CONNECTORS
        .iter()
        .any(|(name, _, sink, _)| *name == connector && *sink)
}

/// The column indexes of the comma-separated column names `names`.
fn key_columns(
    sink: &str,
    option: &str,
    names: &str,
    desc: &RelationDesc,
) -> Result<Vec<usize>, ErrorResponse> {
    let mut key = Vec::new();
    for name in names.split(',').map(str::trim) {
        let Some(index) = desc.index_of(name) else {
            return Err(ErrorResponse::new(
                "42703",
                format!("{option} names '{name}', which is not a column of sink \"{sink}\""),
            )
            .with_hint(format!(
                "Its columns: {}.",
                desc.names().collect::<Vec<_>>().join(", ")
            )));
        };
        key.push(index);
    }
    Ok(key)
}

/// An external sink named `name` for `options` (the registry checks the connector's own
/// options; the engine reads `'sink.mode'` and `'sink.key'`). `None` when `connector`
/// is not a sink of the registry.
pub(crate) fn external_sink(
    name: &str,
    connector: &str,
    options: &[(String, String)],
    desc: &RelationDesc,
    primary_key: Option<&[usize]>,
) -> Result<Option<ExternalSink>, ErrorResponse> {
    if !registry_sink(connector) {
        return Ok(None);
    }
    let option = |key: &str| {
        options
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    let mut rest: Vec<(String, String)> = options
        .iter()
        .filter(|(k, _)| !ENGINE_SINK_OPTIONS.contains(&k.to_ascii_lowercase().as_str()))
        .cloned()
        .collect();
    let format = option("format").map(|f| f.to_ascii_lowercase());
    let mode = option("sink.mode")
        .map(|m| m.to_ascii_lowercase())
        .unwrap_or_else(|| {
            let keyed = option("sink.key").is_some() || option("key.columns").is_some();
            match format.as_deref() {
                Some("debezium-json") => "debezium".into(),
                _ if keyed || primary_key.is_some() => "upsert".into(),
                _ => "append-only".into(),
            }
        });
    let mode = match mode.as_str() {
        "append-only" | "append" | "insert-only" => SinkMode::AppendOnly,
        "upsert" => {
            let key = match (option("sink.key"), primary_key, option("key.columns")) {
                (Some(names), _, _) => key_columns(name, "'sink.key'", &names, desc)?,
                (None, Some(key), _) => key.to_vec(),
                (None, None, Some(names)) => key_columns(name, "'key.columns'", &names, desc)?,
                _ => {
                    return Err(ErrorResponse::new(
                        "22023",
                        format!("upsert sink \"{name}\" needs a key"),
                    )
                    .with_hint(
                        "Add 'sink.key' = '<column>, ...', or declare PRIMARY KEY (...) NOT ENFORCED on the sink table.",
                    ));
                }
            };
            SinkMode::Upsert { key }
        }
        "debezium" => {
            match format.as_deref() {
                None => rest.push(("format".into(), "debezium-json".into())),
                Some("debezium-json") => {}
                Some(other) => {
                    return Err(ErrorResponse::new(
                        "22023",
                        format!("'sink.mode' = 'debezium' writes Debezium change records, but 'format' is '{other}'"),
                    )
                    .with_hint("Leave 'format' out or set it to 'debezium-json'."));
                }
            }
            SinkMode::Debezium
        }
        other => {
            return Err(ErrorResponse::new(
                "22023",
                format!("invalid value for option 'sink.mode': \"{other}\""),
            )
            .with_hint(
                "Use 'append-only' (insertions only; a retraction is an error), 'upsert' (the latest row per key; deletes) or 'debezium' (change records with before/after).",
            ));
        }
    };
    if option("sink.key").is_some() && !matches!(mode, SinkMode::Upsert { .. }) {
        return Err(ErrorResponse::new(
            "22023",
            "option 'sink.key' needs 'sink.mode' = 'upsert'",
        ));
    }
    // A connector with a 'sink.mode' of its own (Kafka) is told the mode; the others
    // never see the option.
    let registry = |options: &[(String, String)]| {
        laaster_connectors::registry::external_sink(connector, options, desc)
    };
    let told = match &mode {
        SinkMode::AppendOnly => Some("append"),
        SinkMode::Upsert { .. } => Some("upsert"),
        SinkMode::Debezium => None,
    };
    let def = match told {
        Some(told) => {
            let mut with_mode = rest.clone();
            with_mode.push(("sink.mode".into(), told.into()));
            match registry(&with_mode) {
                Err(e) if e.message.starts_with("unknown option 'sink.mode'") => registry(&rest),
                other => other,
            }
        }
        None => registry(&rest),
    };
    let Some(def) = def.map_err(option_error)? else {
        return Ok(None);
    };
    Ok(Some(ExternalSink {
        def: Arc::new(def),
        mode,
        name: name.to_string(),
    }))
}

/// The connector of a planned sink, with its options read (external connectors'
/// options are checked by the connector registry).
fn connector(plan: &CreateSinkPlan) -> Result<SinkConnector, ErrorResponse> {
    if let Some(sink) = external_sink(
        &plan.name,
        &plan.connector,
        &plan.options,
        &plan.desc,
        plan.primary_key.as_deref(),
    )? {
        return Ok(SinkConnector::External(sink));
    }
    Ok(match plan.connector.as_str() {
        "print" => {
            let option = |key: &str| {
                plan.options
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            };
            SinkConnector::Print {
                identifier: option("print-identifier"),
                standard_error: option("standard-error")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            }
        }
        "blackhole" => SinkConnector::Blackhole,
        other => {
            let mut sinks = vec!["blackhole", "print"];
            sinks.extend(
                laaster_connectors::registry::CONNECTORS
                    .iter()
                    .filter(|(_, _, sink, _)| *sink)
                    .map(|(name, _, _, _)| *name),
            );
            return Err(ErrorResponse::new(
                "0A000",
                format!("connector \"{other}\" is not a sink"),
            )
            .with_hint(format!("Sink connectors: {}.", sinks.join(", "))));
        }
    })
}

impl Sequencer<'_> {
    /// `CREATE TABLE ... WITH ('connector' = <sink>)`, or `CREATE SINK ... FROM ...`
    /// (which starts its dataflow at once).
    pub(crate) fn create_sink(
        &mut self,
        mut plan: CreateSinkPlan,
        sql: &str,
    ) -> Result<ExecuteResult, ErrorResponse> {
        let tag = if plan.from.is_some() {
            "CREATE SINK"
        } else {
            "CREATE TABLE"
        };
        if self.exists(&plan.name, plan.if_not_exists)? {
            return Ok(ExecuteResult::Command { tag: tag.into() });
        }
        let connector = connector(&plan)?;
        let from = plan.from.take();
        let id = self.coordinator.catalog.allocate_id();
        self.coordinator.sinks.sinks.insert(
            id,
            SinkState {
                name: plan.name.clone(),
                kind: if from.is_some() { "sink" } else { "table" },
                connector_name: plan.connector.clone(),
                connector,
                counters: Arc::new(SinkCounters::default()),
                dataflows: Vec::new(),
            },
        );
        self.coordinator.catalog.insert(CatalogItem {
            id,
            name: plan.name,
            kind: ItemKind::Sink,
            desc: plan.desc,
            create_sql: if plan.create_sql.is_empty() {
                sql.to_string()
            } else {
                plan.create_sql
            },
            query_sql: None,
            uses: Vec::new(),
            table: None,
        });
        if let Some(from) = from
            && let Err(e) = self.insert_into_sink(id, from.query, from.uses)
        {
            self.drop_sink(id);
            self.coordinator.catalog.remove(id);
            return Err(e);
        }
        Ok(ExecuteResult::Command { tag: tag.into() })
    }

    /// Registers source table `id` as writable when its options also make a valid sink
    /// of its connector; returns whether it did. Options only the source knows (a
    /// consumer group, a startup mode) are left out of the sink's.
    pub(crate) fn register_writable_source(
        &mut self,
        id: GlobalId,
        plan: &laaster_sql::plans::CreateSourcePlan,
        options: &[(String, String)],
    ) -> bool {
        // Computed and metadata columns are not the sink's to write.
        if plan.desc.arity() != plan.physical_arity
            || !plan.metadata.is_empty()
            || !registry_sink(&plan.connector)
        {
            return false;
        }
        let attempt = |options: &[(String, String)]| {
            external_sink(
                &plan.name,
                &plan.connector,
                options,
                &plan.desc,
                plan.primary_key.as_deref(),
            )
        };
        let (Ok(Some(sink)), _) = crate::connector::without_unknown_options(options, attempt)
        else {
            return false;
        };
        self.coordinator.sinks.sinks.insert(
            id,
            SinkState {
                name: plan.name.clone(),
                kind: "source table",
                connector_name: plan.connector.clone(),
                connector: SinkConnector::External(sink),
                counters: Arc::new(SinkCounters::default()),
                dataflows: Vec::new(),
            },
        );
        self.coordinator.catalog.writable_sources.insert(id);
        true
    }

    /// `INSERT INTO sink SELECT ...`: starts the sink dataflow.
    pub(crate) fn insert_into_sink(
        &mut self,
        sink: GlobalId,
        query: QueryPlan,
        uses: Vec<GlobalId>,
    ) -> Result<ExecuteResult, ErrorResponse> {
        let Some(state) = self.coordinator.sinks.sinks.get(&sink) else {
            let name = self
                .coordinator
                .catalog
                .get_by_id(sink)
                .map_or_else(|| sink.to_string(), |item| item.name.clone());
            return Err(ErrorResponse::new(
                "42809",
                format!("cannot insert into source table \"{name}\""),
            )
            .with_detail("Its connector cannot be written with these options."));
        };
        let spec = Arc::new(SinkSpec {
            name: state.name.clone(),
            connector: state.connector.clone(),
            counters: Arc::clone(&state.counters),
        });
        let id = self.coordinator.catalog.allocate_id();
        self.add_consumer(&query.plan, SourceConsumer::View(id));
        self.coordinator.workers.broadcast(Command::CreateSink {
            id,
            plan: Arc::new(query.plan),
            spec,
        });
        if let Some(state) = self.coordinator.sinks.sinks.get_mut(&sink) {
            state.dataflows.push(id);
        }
        // The sink now depends on what its dataflow reads.
        if let Some(mut item) = self.coordinator.catalog.remove(sink) {
            for used in uses {
                if !item.uses.contains(&used) {
                    item.uses.push(used);
                }
            }
            self.coordinator.catalog.insert(item);
        }
        Ok(ExecuteResult::Command {
            tag: "INSERT INTO SINK".into(),
        })
    }

    /// Stops the dataflows writing into sink `id` (when the sink is dropped).
    pub(crate) fn drop_sink(&mut self, id: GlobalId) {
        if let Some(state) = self.coordinator.sinks.sinks.remove(&id) {
            for dataflow in state.dataflows {
                self.coordinator
                    .forget_consumer(SourceConsumer::View(dataflow));
                self.coordinator
                    .workers
                    .broadcast(Command::Drop { id: dataflow });
            }
        }
    }

    /// `SHOW SINKS`: one row per sink table.
    pub(crate) fn show_sinks(&self) -> ExecuteResult {
        let workers = self.coordinator.workers.commands.len();
        let mut rows: Vec<Vec<String>> = self
            .coordinator
            .sinks
            .sinks
            .values()
            .filter(|state| self.coordinator.catalog.get(&state.name).is_some())
            .map(|state| {
                let mode = match &state.connector {
                    SinkConnector::External(sink) => sink.mode.name(),
                    _ => "",
                };
                let last_error = state
                    .counters
                    .last_error
                    .lock()
                    .ok()
                    .and_then(|e| e.clone())
                    .unwrap_or_default();
                vec![
                    state.name.clone(),
                    state.connector_name.clone(),
                    state.counters.inserted.load(Ordering::Relaxed).to_string(),
                    state.counters.retracted.load(Ordering::Relaxed).to_string(),
                    state.counters.errors.load(Ordering::Relaxed).to_string(),
                    state.dataflows.len().to_string(),
                    match state.counters.frontier(workers) {
                        Some(time) => time.to_string(),
                        None => "closed".to_string(),
                    },
                    state.kind.to_string(),
                    mode.to_string(),
                    last_error,
                ]
            })
            .collect();
        rows.sort();
        let names = [
            "name",
            "connector",
            "inserted",
            "retracted",
            "errors",
            "dataflows",
            "frontier",
            "kind",
            "mode",
            "last_error",
        ];
        let desc = RelationDesc::new(
            names
                .iter()
                .map(|n| Column {
                    name: n.to_string(),
                    typ: ColumnType::new(ScalarType::Text, false),
                })
                .collect(),
        );
        ExecuteResult::Rows(RowSet {
            desc,
            rows: rows
                .into_iter()
                .map(|r| r.into_iter().map(|v| Datum::text(&v)).collect())
                .collect(),
            timestamp: 0,
        })
    }
}
