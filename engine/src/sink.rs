//! Sink tables on the coordinator's side: `CREATE TABLE s (...) WITH ('connector' =
//! 'blackhole' | 'print')` registers the sink; each `INSERT INTO s SELECT ...` installs a
//! continuous sink dataflow on every worker (`laaster_dataflow::sink`) whose changes go
//! to the connector until the sink is dropped; `SHOW SINKS` reports what was written.
//!
//! Every dataflow feeding a sink gets its own id (so a source it reads counts it as a
//! consumer); dropping the sink table drops them all. The items a sink dataflow reads
//! become the sink's dependencies, so dropping one of them needs CASCADE, which drops
//! the sink.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use laaster_dataflow::Command;
use laaster_dataflow::sink::{SinkConnector, SinkCounters, SinkSpec};
use laaster_dataflow::source::SourceConsumer;
use laaster_repr::plan::GlobalId;
use laaster_repr::{Column, ColumnType, Datum, ErrorResponse, RelationDesc, ScalarType};
use laaster_sql::plans::CreateSinkPlan;
use laaster_sql::{Catalog, CatalogItem, ItemKind, QueryPlan};

use crate::result::{ExecuteResult, RowSet};
use crate::sequence::Sequencer;

/// One sink table.
pub(crate) struct SinkState {
    pub name: String,
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

/// The connector of a planned sink table, with its options read (external connectors'
/// options are checked by the connector registry).
fn connector(plan: &CreateSinkPlan) -> Result<SinkConnector, ErrorResponse> {
    if let Some(def) =
        laaster_connectors::registry::external_sink(&plan.connector, &plan.options, &plan.desc)
            .map_err(|e| ErrorResponse::new("22023", e.message).with_hint(e.hint))?
    {
        return Ok(SinkConnector::External(
            laaster_dataflow::external::ExternalSink(Arc::new(def)),
        ));
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
        _ => SinkConnector::Blackhole,
    })
}

impl Sequencer<'_> {
    /// `CREATE TABLE ... WITH ('connector' = 'blackhole' | 'print')`.
    pub(crate) fn create_sink(
        &mut self,
        plan: CreateSinkPlan,
        sql: &str,
    ) -> Result<ExecuteResult, ErrorResponse> {
        if self.exists(&plan.name, plan.if_not_exists)? {
            return Ok(ExecuteResult::Command {
                tag: "CREATE TABLE".into(),
            });
        }
        let connector = connector(&plan)?;
        let id = self.coordinator.catalog.allocate_id();
        self.coordinator.sinks.sinks.insert(
            id,
            SinkState {
                name: plan.name.clone(),
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
        Ok(ExecuteResult::Command {
            tag: "CREATE TABLE".into(),
        })
    }

    /// `INSERT INTO sink SELECT ...`: starts the sink dataflow.
    pub(crate) fn insert_into_sink(
        &mut self,
        sink: GlobalId,
        query: QueryPlan,
        uses: Vec<GlobalId>,
    ) -> Result<ExecuteResult, ErrorResponse> {
        let Some(state) = self.coordinator.sinks.sinks.get(&sink) else {
            return Err(ErrorResponse::new(
                "XX000",
                format!("internal error: sink {sink} is not registered"),
            ));
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
                let connector = match state.connector {
                    SinkConnector::Blackhole => "blackhole",
                    SinkConnector::Print { .. } => "print",
                    SinkConnector::External(_) => "external",
                };
                vec![
                    state.name.clone(),
                    connector.to_string(),
                    state.counters.inserted.load(Ordering::Relaxed).to_string(),
                    state.counters.retracted.load(Ordering::Relaxed).to_string(),
                    state.counters.errors.load(Ordering::Relaxed).to_string(),
                    state.dataflows.len().to_string(),
                    match state.counters.frontier(workers) {
                        Some(time) => time.to_string(),
                        None => "closed".to_string(),
                    },
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
