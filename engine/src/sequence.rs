//! Executing planned statements: DDL updates the catalog and installs dataflows; writes
//! go to table inputs at the write timestamp; reads peek at one read timestamp.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use laaster_dataflow::Command;
use laaster_dataflow::command::PeekLimit;
use laaster_dataflow::source::SourceConsumer;
use laaster_repr::plan::GlobalId;
use laaster_repr::{Column, ColumnType, Datum, Diff, ErrorResponse, RelationDesc, Row, ScalarType};
use laaster_sql::{Catalog, CatalogItem, ItemKind, QueryPlan, StatementPlan};

use crate::coordinator::{Coordinator, SubscribeState};
use crate::result::{ExecuteResult, RowSet, Subscription};

pub(crate) struct Sequencer<'a> {
    pub coordinator: &'a mut Coordinator,
}

fn command(tag: impl Into<String>) -> ExecuteResult {
    ExecuteResult::Command { tag: tag.into() }
}

fn text_rows(names: &[&str], rows: Vec<Vec<String>>, timestamp: u64) -> ExecuteResult {
    let desc = RelationDesc::new(
        names
            .iter()
            .map(|n| Column {
                name: n.to_string(),
                typ: ColumnType::new(ScalarType::Text, false),
            })
            .collect(),
    );
    let rows = rows
        .into_iter()
        .map(|r| r.into_iter().map(|v| Datum::text(&v)).collect())
        .collect();
    ExecuteResult::Rows(RowSet {
        desc,
        rows,
        timestamp,
    })
}

impl Sequencer<'_> {
    pub fn sequence(
        &mut self,
        plan: StatementPlan,
        sql: &str,
    ) -> Result<ExecuteResult, ErrorResponse> {
        match plan {
            StatementPlan::CreateTable {
                name,
                desc,
                info,
                if_not_exists,
                create_sql,
            } => {
                if self.exists(&name, if_not_exists)? {
                    return Ok(command("CREATE TABLE"));
                }
                let id = self.coordinator.catalog.allocate_id();
                self.coordinator.catalog.insert(CatalogItem {
                    id,
                    name: name.clone(),
                    kind: ItemKind::Table,
                    desc,
                    create_sql: if create_sql.is_empty() {
                        sql.to_string()
                    } else {
                        create_sql
                    },
                    query_sql: None,
                    uses: Vec::new(),
                    table: Some(info),
                });
                self.coordinator
                    .workers
                    .broadcast(Command::CreateTable { id, name });
                Ok(command("CREATE TABLE"))
            }
            StatementPlan::CreateSource(source) => self.create_source(source, sql),
            StatementPlan::CreateSink(sink) => self.create_sink(sink, sql),
            StatementPlan::InsertIntoSink { sink, query, uses } => {
                self.insert_into_sink(sink, query, uses)
            }
            StatementPlan::ShowSinks => Ok(self.show_sinks()),
            StatementPlan::CreateFunction { .. } => Ok(command("CREATE FUNCTION")),
            StatementPlan::CreateView {
                name,
                materialized,
                query,
                query_sql,
                uses,
                if_not_exists,
                or_replace,
                create_sql,
            } => {
                let tag = if materialized {
                    "CREATE MATERIALIZED VIEW"
                } else {
                    "CREATE VIEW"
                };
                if or_replace && let Some(existing) = self.coordinator.catalog.get(&name) {
                    let id = existing.id;
                    if !self.coordinator.catalog.dependents_of(id).is_empty() {
                        return Err(ErrorResponse::new(
                            "2BP01",
                            format!(
                                "cannot replace view \"{name}\" because other objects depend on it"
                            ),
                        ));
                    }
                    self.drop_item(id);
                }
                if self.exists(&name, if_not_exists)? {
                    return Ok(command(tag));
                }
                let id = self.coordinator.catalog.allocate_id();
                if materialized {
                    self.add_consumer(&query.plan, SourceConsumer::View(id));
                    let as_of = self.coordinator.read_timestamp();
                    self.coordinator.workers.broadcast(Command::CreateView {
                        id,
                        name: name.clone(),
                        plan: Arc::new(query.plan.clone()),
                        as_of,
                    });
                }
                self.coordinator.catalog.insert(CatalogItem {
                    id,
                    name,
                    kind: if materialized {
                        ItemKind::MaterializedView
                    } else {
                        ItemKind::View
                    },
                    desc: query.desc,
                    create_sql: if create_sql.is_empty() {
                        sql.to_string()
                    } else {
                        create_sql
                    },
                    query_sql: Some(query_sql),
                    uses,
                    table: None,
                });
                Ok(command(tag))
            }
            StatementPlan::Insert { table, source } => {
                self.check_readable(&source.plan)?;
                let timestamp = self.coordinator.read_timestamp();
                let rows = self.coordinator.peek(source.plan, timestamp)?;
                let count = rows.len() as u64;
                let updates = rows.into_iter().map(|r| (r, 1)).collect();
                self.write(table, updates)?;
                Ok(command(format!("INSERT 0 {count}")))
            }
            StatementPlan::Update {
                table,
                selection,
                assignments,
            } => {
                let arity = self.item(table)?.desc.arity();
                self.check_readable(&selection.plan)?;
                let timestamp = self.coordinator.read_timestamp();
                let rows = self.coordinator.peek(selection.plan, timestamp)?;
                let mut updates = Vec::with_capacity(rows.len() * 2);
                for row in rows {
                    let mut new_row = Row::new(row[..arity].to_vec());
                    for (column, expr) in &assignments {
                        new_row[*column] = expr.eval(&row).map_err(ErrorResponse::from)?;
                    }
                    updates.push((Row::new(row[..arity].to_vec()), -1));
                    updates.push((new_row, 1));
                }
                let count = updates.len() / 2;
                self.write(table, updates)?;
                Ok(command(format!("UPDATE {count}")))
            }
            StatementPlan::Delete { table, selection } => {
                let timestamp = self.coordinator.read_timestamp();
                let rows = self.coordinator.peek(selection.plan, timestamp)?;
                let count = rows.len();
                self.write(table, rows.into_iter().map(|row| (row, -1)).collect())?;
                Ok(command(format!("DELETE {count}")))
            }
            StatementPlan::Select(query) => self.select(query),
            StatementPlan::Subscribe {
                query,
                snapshot,
                as_of,
            } => self.subscribe(query, snapshot, as_of),
            StatementPlan::Drop {
                kind,
                ids,
                cascade,
                missing: _,
            } => self.drop(kind, ids, cascade),
            StatementPlan::ShowTables => Ok(self.show_kind(&[ItemKind::Table])),
            StatementPlan::ShowSources => Ok(self.show_sources()),
            StatementPlan::ShowViews => {
                Ok(self.show_kind(&[ItemKind::View, ItemKind::MaterializedView]))
            }
            StatementPlan::ShowColumns { id } => {
                let item = self.item(id)?;
                let rows = item
                    .desc
                    .columns
                    .iter()
                    .map(|c| {
                        vec![
                            c.name.clone(),
                            c.typ.scalar.to_string(),
                            if c.typ.nullable { "YES" } else { "NO" }.to_string(),
                        ]
                    })
                    .collect();
                Ok(text_rows(&["name", "type", "nullable"], rows, 0))
            }
            StatementPlan::ShowCreate { id } => {
                let item = self.item(id)?;
                Ok(text_rows(
                    &["name", "create_sql"],
                    vec![vec![item.name.clone(), item.create_sql.clone()]],
                    0,
                ))
            }
            StatementPlan::Explain { text } => Ok(text_rows(
                &["QUERY PLAN"],
                text.lines().map(|l| vec![l.to_string()]).collect(),
                0,
            )),
        }
    }

    fn create_source(
        &mut self,
        source: laaster_sql::plans::CreateSourcePlan,
        sql: &str,
    ) -> Result<ExecuteResult, ErrorResponse> {
        if self.exists(&source.name, source.if_not_exists)? {
            return Ok(command("CREATE TABLE"));
        }
        let (engine_options, options) = crate::connector::split_options(&source)?;
        let connector = match self.source_or_sink(&source, &engine_options, &options)? {
            Ok(connector) => connector,
            Err(sink) => return self.create_sink(sink, sql),
        };
        let late_name = format!("{}_late", source.name);
        let side_table = engine_options.late == crate::connector::LateData::SideTable;
        if side_table {
            self.exists(&late_name, false)?;
        }
        let (dead_letter, changes) = match &connector {
            laaster_dataflow::source::SourceConnector::External { def, changes, .. } => (
                def.on_error == laaster_connectors::api::OnError::DeadLetter,
                changes.clone(),
            ),
            _ => (false, laaster_dataflow::external::SourceChanges::Append),
        };
        if matches!(engine_options.max_drift, Some(Some(_))) && source.watermark.is_none() {
            return Err(ErrorResponse::new(
                "22023",
                format!(
                    "option 'scan.watermark.alignment.max-drift' of \"{}\" needs a watermark",
                    source.name
                ),
            )
            .with_hint("Declare WATERMARK FOR <column> AS <expression> in the table, or remove the option.".to_string()));
        }
        // Watermark alignment: as asked, else on for generated sources (see
        // GENERATED_MAX_DRIFT_MICROS); only sources with a watermark have one to align.
        let generated = !matches!(
            connector,
            laaster_dataflow::source::SourceConnector::External { .. }
        );
        let alignment = engine_options
            .max_drift
            .unwrap_or(generated.then_some(crate::connector::GENERATED_MAX_DRIFT_MICROS))
            .filter(|_| source.watermark.is_some())
            .map(|drift| Arc::new(laaster_dataflow::source::WatermarkAlignment::new(drift)));
        let errors_name = format!("{}_errors", source.name);
        if dead_letter {
            self.exists(&errors_name, false)?;
        }
        let id = self.coordinator.catalog.allocate_id();
        self.coordinator.catalog.insert(CatalogItem {
            id,
            name: source.name.clone(),
            kind: ItemKind::Source,
            desc: source.desc.clone(),
            create_sql: if source.create_sql.is_empty() {
                sql.to_string()
            } else {
                source.create_sql.clone()
            },
            query_sql: None,
            uses: Vec::new(),
            table: None,
        });
        let workers = self.coordinator.workers.commands.len();
        let mut progress = crate::coordinator::SourceProgress {
            retained: engine_options.retain,
            ..Default::default()
        };
        if engine_options.retain {
            progress.add_consumer(SourceConsumer::Table(id), workers);
        } else if let Some((column, _)) = &source.watermark {
            // Window operators over a streamed source see its watermark.
            self.coordinator.catalog.event_times.insert(
                id,
                laaster_sql::catalog::EventTime {
                    column: *column,
                    allowed_lateness: engine_options.allowed_lateness,
                },
            );
        }
        // Late rows' table: the source's columns, written only by the source's readers.
        let late_table = side_table.then(|| {
            let late_id = self.coordinator.catalog.allocate_id();
            self.coordinator.catalog.insert(CatalogItem {
                id: late_id,
                name: late_name.clone(),
                kind: ItemKind::Source,
                desc: source.desc.clone(),
                create_sql: format!("-- rows of {} behind its watermark", source.name),
                query_sql: None,
                uses: vec![id],
                table: None,
            });
            progress.add_consumer(SourceConsumer::Table(late_id), workers);
            late_id
        });
        // Dead letters' table: owned by the source (dropped with it), written only by a
        // reader of its own.
        let errors_table = dead_letter.then(|| {
            let errors_id = self.coordinator.catalog.allocate_id();
            self.coordinator.catalog.insert(CatalogItem {
                id: errors_id,
                name: errors_name.clone(),
                kind: ItemKind::Source,
                desc: laaster_dataflow::external::dead_letter_columns(),
                create_sql: format!("-- messages of {} that did not decode", source.name),
                query_sql: None,
                uses: vec![id],
                table: None,
            });
            self.coordinator.catalog.owned_by.insert(errors_id, id);
            progress.add_consumer(SourceConsumer::Table(errors_id), workers);
            errors_id
        });
        if changes != laaster_dataflow::external::SourceChanges::Append {
            self.coordinator.catalog.retracting_sources.insert(id);
        } else if !engine_options.retain {
            // Streamed and insert-only: dataflows reading it see insertions only.
            self.coordinator.catalog.append_only_sources.insert(id);
        }
        self.register_writable_source(id, &source, &options);
        self.coordinator.sources.insert(id, progress);
        self.coordinator.workers.broadcast(Command::CreateSource {
            id,
            name: source.name,
            spec: Arc::new(laaster_dataflow::source::SourceSpec {
                connector,
                physical_arity: source.physical_arity,
                computed: source.computed,
                event_time: source.watermark.as_ref().map(|(column, _)| *column),
                watermark: source.watermark.map(|(_, expr)| expr),
                late_table,
                retain: engine_options.retain,
                idle_timeout: engine_options.idle_timeout,
                allowed_lateness: engine_options.allowed_lateness,
                errors_table,
                alignment,
            }),
        });
        Ok(command("CREATE TABLE"))
    }

    /// The connector of a `CREATE TABLE ... WITH (...)` planned as a source, or, for a
    /// connector of the registry that is only a sink, the sink table to create instead
    /// (`Ok(Err(plan))`). A connector that is both takes both directions' options in one
    /// table: each direction leaves out the options only the other knows, and an option
    /// neither knows is an error. The table is a source (its source options must be
    /// valid); it is also writable when its options make a valid sink.
    fn source_or_sink(
        &self,
        source: &laaster_sql::plans::CreateSourcePlan,
        engine: &crate::connector::EngineOptions,
        options: &[(String, String)],
    ) -> Result<
        Result<laaster_dataflow::source::SourceConnector, laaster_sql::plans::CreateSinkPlan>,
        ErrorResponse,
    > {
        use crate::connector::{registry_connector, source_connector, without_unknown_options};
        let as_sink = || laaster_sql::plans::CreateSinkPlan {
            name: source.name.clone(),
            desc: source.desc.clone(),
            connector: source.connector.clone(),
            options: source.options.clone(),
            primary_key: source.primary_key.clone(),
            from: None,
            if_not_exists: source.if_not_exists,
            create_sql: source.create_sql.clone(),
        };
        let sink_check = |options: &[(String, String)]| {
            crate::sink::external_sink(
                &source.name,
                &source.connector,
                options,
                &source.desc,
                source.primary_key.as_deref(),
            )
        };
        match registry_connector(&source.connector) {
            Some((false, true)) => Ok(Err(as_sink())),
            Some((true, is_sink)) => {
                let (result, left_out) =
                    without_unknown_options(options, |o| source_connector(source, o, engine));
                let (sink, sink_left_out) = if is_sink {
                    without_unknown_options(options, sink_check)
                } else {
                    (Ok(None), Vec::new())
                };
                let sink_ok = matches!(sink, Ok(Some(_)));
                match result {
                    Err(e) => Err(e),
                    Ok(connector) => {
                        let unknown = left_out
                            .iter()
                            .find(|key| !sink_ok || sink_left_out.contains(key));
                        match unknown {
                            None => Ok(Ok(connector)),
                            Some(key) => Err(ErrorResponse::new(
                                "22023",
                                format!(
                                    "unknown option '{key}' for connector '{}'",
                                    source.connector
                                ),
                            )
                            .with_hint(
                                source_connector(source, options, engine)
                                    .err()
                                    .and_then(|e| e.hint)
                                    .unwrap_or_else(|| {
                                        "Neither the connector's source nor its sink takes it."
                                            .into()
                                    }),
                            )),
                        }
                    }
                }
            }
            _ => source_connector(source, options, engine).map(Ok),
        }
    }

    /// The streamed sources `plan` reads.
    fn streamed_sources(&self, plan: &laaster_repr::plan::Plan) -> Vec<GlobalId> {
        plan.imports()
            .into_iter()
            .filter(|id| {
                self.coordinator
                    .sources
                    .get(id)
                    .is_some_and(|progress| !progress.retained)
            })
            .collect()
    }

    /// Expects reports from the readers `consumer`'s dataflow runs for the streamed
    /// sources `plan` reads.
    pub(crate) fn add_consumer(
        &mut self,
        plan: &laaster_repr::plan::Plan,
        consumer: SourceConsumer,
    ) {
        let workers = self.coordinator.workers.commands.len();
        for id in self.streamed_sources(plan) {
            if let Some(progress) = self.coordinator.sources.get_mut(&id) {
                progress.add_consumer(consumer, workers);
            }
        }
    }

    /// Refuses one-off reads of streamed sources: they keep no rows to read.
    fn check_readable(&self, plan: &laaster_repr::plan::Plan) -> Result<(), ErrorResponse> {
        let Some(id) = self.streamed_sources(plan).into_iter().next() else {
            return Ok(());
        };
        let name = self
            .coordinator
            .catalog
            .get_by_id(id)
            .map_or_else(|| id.to_string(), |item| item.name.clone());
        Err(ErrorResponse::new(
            "0A000",
            format!("cannot read source table \"{name}\" in a one-off query"),
        )
        .with_detail(format!(
            "\"{name}\" is streamed: its rows flow to the materialized views and subscriptions that read it and are not kept."
        ))
        .with_hint(format!(
            "Create a materialized view over it (CREATE MATERIALIZED VIEW v AS SELECT ... FROM {name}) and query the view, SUBSCRIBE to the query, or declare the source with 'scan.retain' = 'true' to keep its rows."
        )))
    }

    /// Inserts typed rows into a table by name (the programmatic fast path).
    pub fn insert_rows(&mut self, table: &str, rows: Vec<Row>) -> Result<u64, ErrorResponse> {
        let item = self.coordinator.catalog.get(table).ok_or_else(|| {
            ErrorResponse::new("42P01", format!("relation \"{table}\" does not exist"))
        })?;
        let id = item.id;
        let arity = item.desc.arity();
        if let Some(bad) = rows.iter().position(|r| r.len() != arity) {
            return Err(ErrorResponse::new(
                "22023",
                format!(
                    "row {bad} has {} values but table \"{table}\" has {arity} columns",
                    rows[bad].len()
                ),
            ));
        }
        let count = rows.len() as u64;
        self.write(id, rows.into_iter().map(|r| (r, 1)).collect())?;
        Ok(count)
    }

    pub(crate) fn exists(&self, name: &str, if_not_exists: bool) -> Result<bool, ErrorResponse> {
        match self.coordinator.catalog.get(name) {
            Some(_) if if_not_exists => Ok(true),
            Some(_) => Err(ErrorResponse::new(
                "42P07",
                format!("relation \"{name}\" already exists"),
            )),
            None => Ok(false),
        }
    }

    fn item(&self, id: GlobalId) -> Result<&CatalogItem, ErrorResponse> {
        self.coordinator
            .catalog
            .get_by_id(id)
            .ok_or_else(|| ErrorResponse::new("42P01", format!("catalog item {id} does not exist")))
    }

    /// Checks constraints and appends `updates` to table `id` at the write timestamp.
    fn write(&mut self, id: GlobalId, updates: Vec<(Row, Diff)>) -> Result<(), ErrorResponse> {
        if updates.is_empty() {
            return Ok(());
        }
        let item = self.item(id)?.clone();
        if item.kind != ItemKind::Table {
            return Err(ErrorResponse::new(
                "42809",
                format!("cannot change {} \"{}\"", item.kind.name(), item.name),
            ));
        }
        for (row, diff) in &updates {
            if *diff <= 0 {
                continue;
            }
            for (column, datum) in item.desc.columns.iter().zip(row.iter()) {
                if !column.typ.nullable && datum.is_null() {
                    return Err(ErrorResponse::new(
                        "23502",
                        format!(
                            "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                            column.name, item.name
                        ),
                    )
                    .with_detail(format!("Failing row contains ({}).", display_row(row))));
                }
            }
        }
        if let Some(key) = item.table.as_ref().and_then(|t| t.primary_key.clone()) {
            self.check_primary_key(&item, &key, &updates)?;
        }
        let time = self.coordinator.write_timestamp();
        self.coordinator.workers.broadcast(Command::Insert {
            id,
            updates: Arc::new(updates),
            time,
        });
        Ok(())
    }

    fn check_primary_key(
        &mut self,
        item: &CatalogItem,
        key: &[usize],
        updates: &[(Row, Diff)],
    ) -> Result<(), ErrorResponse> {
        let index = self
            .coordinator
            .catalog
            .primary_keys
            .entry(item.id)
            .or_default();
        let mut changes: HashMap<Row, i64> = HashMap::new();
        for (row, diff) in updates {
            *changes.entry(row.project(key)).or_insert(0) += diff;
        }
        for (key_row, change) in &changes {
            let current = index.get(key_row).copied().unwrap_or(0);
            if current + change > 1 {
                let names: Vec<&str> = key
                    .iter()
                    .map(|&c| item.desc.columns[c].name.as_str())
                    .collect();
                return Err(ErrorResponse::new(
                    "23505",
                    format!(
                        "duplicate key value violates unique constraint \"{}_pkey\"",
                        item.name
                    ),
                )
                .with_detail(format!(
                    "Key ({})=({}) already exists.",
                    names.join(", "),
                    display_row(key_row)
                )));
            }
        }
        for (key_row, change) in changes {
            let entry = index.entry(key_row).or_insert(0);
            *entry += change;
            if *entry == 0 {
                // Keep the index small.
            }
        }
        index.retain(|_, count| *count != 0);
        Ok(())
    }

    fn select(&mut self, query: QueryPlan) -> Result<ExecuteResult, ErrorResponse> {
        self.check_readable(&query.plan)?;
        let timestamp = self.coordinator.read_timestamp();
        let limit = query.finishing.limit.map(|limit| PeekLimit {
            order: query.finishing.order.clone(),
            count: usize::try_from(limit.saturating_add(query.finishing.offset))
                .unwrap_or(usize::MAX),
        });
        let rows = self
            .coordinator
            .peek_limited(query.plan, timestamp, limit)?;
        let rows = query.finishing.apply(rows);
        Ok(ExecuteResult::Rows(RowSet {
            desc: query.desc,
            rows,
            timestamp,
        }))
    }

    fn subscribe(
        &mut self,
        query: QueryPlan,
        snapshot: bool,
        as_of: Option<u64>,
    ) -> Result<ExecuteResult, ErrorResponse> {
        let now = self.coordinator.read_timestamp();
        let since = self.coordinator.since();
        let as_of = match as_of {
            Some(t) if t < since => {
                return Err(ErrorResponse::new(
                    "22000",
                    format!("AS OF {t} is earlier than the earliest readable time {since}"),
                )
                .with_hint(
                    "Raise the engine's history retention (retain_history) to read further back.",
                ));
            }
            Some(t) => t,
            None => now,
        };
        let id = self.coordinator.next_id();
        let (sender, events) = crossbeam_channel::unbounded();
        let workers = self.coordinator.workers.commands.len();
        self.coordinator.subscribes.insert(
            id,
            SubscribeState {
                sender,
                uppers: vec![None; workers],
                pending: Vec::new(),
                reported: None,
            },
        );
        self.add_consumer(&query.plan, SourceConsumer::Subscribe(id));
        self.coordinator.workers.broadcast(Command::Subscribe {
            subscribe_id: id,
            plan: Arc::new(query.plan),
            as_of,
            snapshot,
        });
        Ok(ExecuteResult::Subscription(Subscription {
            desc: query.desc,
            as_of,
            events,
            cancel: Some((id, self.coordinator.requests.clone())),
        }))
    }

    fn drop(
        &mut self,
        kind: ItemKind,
        ids: Vec<GlobalId>,
        cascade: bool,
    ) -> Result<ExecuteResult, ErrorResponse> {
        let tag = match kind {
            ItemKind::Table => "DROP TABLE",
            ItemKind::View => "DROP VIEW",
            ItemKind::MaterializedView => "DROP MATERIALIZED VIEW",
            ItemKind::Source | ItemKind::Sink => "DROP TABLE",
        };
        // Everything that depends on the dropped items, transitively.
        let mut doomed: BTreeSet<GlobalId> = ids.iter().copied().collect();
        let mut frontier: Vec<GlobalId> = ids.clone();
        let mut dependents = Vec::new();
        while let Some(id) = frontier.pop() {
            for dependent in self.coordinator.catalog.dependents_of(id) {
                if doomed.insert(dependent) {
                    frontier.push(dependent);
                    // A source's own tables (`<source>_errors`) go with it.
                    if self.coordinator.catalog.owned_by.get(&dependent) != Some(&id) {
                        dependents.push((dependent, id));
                    }
                }
            }
        }
        if !dependents.is_empty() && !cascade {
            let first = self.item(ids[0])?;
            let detail = dependents
                .iter()
                .filter_map(|(dependent, on)| {
                    let d = self.coordinator.catalog.get_by_id(*dependent)?;
                    let o = self.coordinator.catalog.get_by_id(*on)?;
                    Some(format!(
                        "{} {} depends on {} {}",
                        d.kind.name(),
                        d.name,
                        o.kind.name(),
                        o.name
                    ))
                })
                .collect::<Vec<_>>()
                .join("\n");
            return Err(ErrorResponse::new(
                "2BP01",
                format!(
                    "cannot drop {} {} because other objects depend on it",
                    first.kind.name(),
                    first.name
                ),
            )
            .with_detail(detail)
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        // Dependents before what they depend on.
        let mut order: Vec<GlobalId> = doomed.into_iter().collect();
        order.sort_by(|a, b| b.cmp(a));
        for id in order {
            self.drop_item(id);
        }
        Ok(command(tag))
    }

    fn drop_item(&mut self, id: GlobalId) {
        self.drop_sink(id);
        self.coordinator.sources.remove(&id);
        self.coordinator.forget_consumer(SourceConsumer::View(id));
        self.coordinator.forget_consumer(SourceConsumer::Table(id));
        self.coordinator.catalog.event_times.remove(&id);
        if let Some(item) = self.coordinator.catalog.remove(id)
            && item.kind != ItemKind::View
        {
            self.coordinator.workers.broadcast(Command::Drop { id });
        }
    }

    /// One row per source table: rows produced, late rows dropped, bad rows dropped, the
    /// watermark, and whether the connector is exhausted.
    fn show_sources(&self) -> ExecuteResult {
        let workers = self.coordinator.workers.commands.len();
        let mut rows: Vec<Vec<String>> = self
            .coordinator
            .catalog
            .items()
            .into_iter()
            .filter(|item| item.kind == ItemKind::Source)
            .map(|item| {
                let status = self
                    .coordinator
                    .sources
                    .get(&item.id)
                    .map(|p| p.status(workers));
                let field = |f: &dyn Fn(&crate::coordinator::SourceStatus) -> String| {
                    status.as_ref().map_or_else(|| "NULL".to_string(), f)
                };
                vec![
                    item.name.clone(),
                    field(&|s| s.emitted.to_string()),
                    field(&|s| s.late.to_string()),
                    field(&|s| s.errors.to_string()),
                    status.and_then(|s| s.watermark).map_or_else(
                        || "NULL".to_string(),
                        |w| laaster_repr::strconv::format_datum(&Datum::Timestamp(w)),
                    ),
                    field(&|s| if s.done { "t" } else { "f" }.to_string()),
                ]
            })
            .collect();
        rows.sort();
        text_rows(
            &[
                "name",
                "rows",
                "late_rows",
                "error_rows",
                "watermark",
                "done",
            ],
            rows,
            0,
        )
    }

    fn show_kind(&self, kinds: &[ItemKind]) -> ExecuteResult {
        let mut rows: Vec<Vec<String>> = self
            .coordinator
            .catalog
            .items()
            .into_iter()
            .filter(|item| kinds.contains(&item.kind))
            .map(|item| {
                if kinds.len() > 1 {
                    vec![item.name.clone(), item.kind.name().to_string()]
                } else {
                    vec![item.name.clone()]
                }
            })
            .collect();
        rows.sort();
        if kinds.len() > 1 {
            text_rows(&["name", "type"], rows, 0)
        } else {
            text_rows(&["name"], rows, 0)
        }
    }
}

/// Applies `EMIT ON WINDOW CLOSE` to a planned `CREATE MATERIALIZED VIEW` or `SUBSCRIBE`:
/// its window aggregates emit each window's final row once, when the watermark closes it.
pub(crate) fn emit_on_window_close(plan: StatementPlan) -> Result<StatementPlan, ErrorResponse> {
    use laaster_repr::plan::WindowEmit;
    use laaster_sql::window_aggregate::set_emit;
    let not_windowed = || {
        ErrorResponse::new(
            "0A000",
            "EMIT ON WINDOW CLOSE needs a window aggregation over a source with a watermark",
        )
        .with_detail("The query has no GROUP BY window_start/window_end over a window table function (TUMBLE, HOP, CUMULATE) of a streamed source's WATERMARK column with aggregates count, sum, avg, min, max, bool_and, bool_or.")
        .with_hint("Check the plan with EXPLAIN: it must show WindowAggregate, not Reduce.")
    };
    match plan {
        StatementPlan::CreateView {
            materialized: true,
            mut query,
            name,
            query_sql,
            uses,
            if_not_exists,
            or_replace,
            create_sql,
        } => {
            if set_emit(&mut query.plan, WindowEmit::OnWindowClose) == 0 {
                return Err(not_windowed());
            }
            Ok(StatementPlan::CreateView {
                name,
                materialized: true,
                query,
                query_sql,
                uses,
                if_not_exists,
                or_replace,
                create_sql,
            })
        }
        StatementPlan::Subscribe {
            mut query,
            snapshot,
            as_of,
        } => {
            if set_emit(&mut query.plan, WindowEmit::OnWindowClose) == 0 {
                return Err(not_windowed());
            }
            Ok(StatementPlan::Subscribe {
                query,
                snapshot,
                as_of,
            })
        }
        _ => Err(ErrorResponse::new(
            "42601",
            "EMIT ON WINDOW CLOSE is only allowed after the query of CREATE MATERIALIZED VIEW or SUBSCRIBE",
        )),
    }
}

fn display_row(row: &Row) -> String {
    row.iter()
        .map(|d| match d {
            Datum::Null => "null".to_string(),
            other => laaster_repr::strconv::format_datum(other),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
