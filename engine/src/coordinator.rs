//! The coordinator: one thread that owns the catalog and the clock, plans each
//! statement, and drives the workers with commands broadcast in one order.
//!
//! Sessions send requests over a channel and wait for the reply; the coordinator runs
//! statements one at a time, so every statement sees the effects of the ones before it.
//! Between requests it advances time every tick (when anyone is watching) and forwards
//! subscription updates from the workers to their subscribers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use laaster_dataflow::command::PeekLimit;
use laaster_dataflow::source::SourceConsumer;
use laaster_dataflow::{Command, Response, WorkerHandles, start_workers};
use laaster_repr::plan::Plan;
use laaster_repr::{Diff, ErrorResponse, Row, Timestamp};
use laaster_sql::parse::{ParsedStatement, parse_statements};
use laaster_sql::{PlanContext, StatementPlan};

use crate::catalog::CatalogState;
use crate::result::{ExecuteResult, SubscribeEvent};
use crate::sequence::Sequencer;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Timely worker threads. Results are identical for every count.
    pub workers: usize,
    /// How often time advances (and subscribers get progress) while anyone is watching.
    pub tick: Duration,
    /// How far back `AS OF` may read: arrangements keep distinct history this long.
    pub retain_history: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tick: Duration::from_millis(1),
            retain_history: Duration::ZERO,
        }
    }
}

/// What sessions ask of the coordinator.
pub(crate) enum Request {
    Execute {
        statement: Box<ParsedStatement>,
        reply: Sender<Result<ExecuteResult, ErrorResponse>>,
    },
    InsertRows {
        table: String,
        rows: Vec<Row>,
        reply: Sender<Result<u64, ErrorResponse>>,
    },
    CancelSubscribe {
        id: u64,
    },
    SourceStatus {
        name: String,
        reply: Sender<Result<SourceStatus, ErrorResponse>>,
    },
    ArrangementSizes {
        reply: Sender<Result<Vec<ArrangementSize>, ErrorResponse>>,
    },
    Shutdown,
}

/// A running engine: the coordinator thread and the workers. Dropping it shuts down.
pub struct Engine {
    requests: Sender<Request>,
    coordinator: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the workers and the coordinator.
    pub fn start(config: EngineConfig) -> Result<Engine, ErrorResponse> {
        let workers = start_workers(config.workers)
            .map_err(|e| ErrorResponse::new("XX000", format!("could not start workers: {e}")))?;
        let (requests, receiver) = crossbeam_channel::unbounded();
        let coordinator_requests = requests.clone();
        let coordinator = std::thread::Builder::new()
            .name("laaster-coordinator".into())
            // Planning recurses over expressions; extra stack is cheap insurance.
            .stack_size(16 << 20)
            .spawn(move || {
                let mut coordinator = Coordinator::new(config, workers, coordinator_requests);
                coordinator.run(receiver);
            })
            .map_err(|e| {
                ErrorResponse::new("XX000", format!("could not start coordinator: {e}"))
            })?;
        Ok(Engine {
            requests,
            coordinator: Some(coordinator),
        })
    }

    /// A new session. Sessions are cheap and may live on other threads.
    pub fn session(&self) -> Session {
        Session {
            requests: self.requests.clone(),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.requests.send(Request::Shutdown);
        if let Some(handle) = self.coordinator.take() {
            let _ = handle.join();
        }
    }
}

/// A connection to the engine. Statements run one at a time, in order.
#[derive(Clone)]
pub struct Session {
    requests: Sender<Request>,
}

fn engine_gone() -> ErrorResponse {
    ErrorResponse::new("57P01", "the engine has shut down")
}

impl Session {
    /// Runs every statement of `sql` in order and returns their results; stops at the
    /// first error. Error positions are relative to `sql`.
    pub fn execute(&mut self, sql: &str) -> Result<Vec<ExecuteResult>, ErrorResponse> {
        let mut results = Vec::new();
        self.execute_each(sql, |r| results.push(r))?;
        Ok(results)
    }

    /// Like [`Session::execute`], handing each result to `on_result` as soon as its
    /// statement completes (so earlier results are not lost when a later one fails).
    pub fn execute_each(
        &mut self,
        sql: &str,
        mut on_result: impl FnMut(ExecuteResult),
    ) -> Result<(), ErrorResponse> {
        let statements = parse_statements(sql).map_err(|e| e.to_response())?;
        for statement in statements {
            let (reply, response) = crossbeam_channel::bounded(1);
            self.requests
                .send(Request::Execute {
                    statement: Box::new(statement),
                    reply,
                })
                .map_err(|_| engine_gone())?;
            let result = response.recv().map_err(|_| engine_gone())??;
            on_result(result);
        }
        Ok(())
    }

    /// Whether a source table's connector is exhausted, and how many rows it produced.
    pub fn source_status(&mut self, name: &str) -> Result<SourceStatus, ErrorResponse> {
        let (reply, response) = crossbeam_channel::bounded(1);
        self.requests
            .send(Request::SourceStatus {
                name: name.to_string(),
                reply,
            })
            .map_err(|_| engine_gone())?;
        response.recv().map_err(|_| engine_gone())?
    }

    /// How many updates each table's and view's arrangement holds, summed over the
    /// workers (for metrics). Costs one round trip to every worker.
    pub fn arrangement_sizes(&mut self) -> Result<Vec<ArrangementSize>, ErrorResponse> {
        let (reply, response) = crossbeam_channel::bounded(1);
        self.requests
            .send(Request::ArrangementSizes { reply })
            .map_err(|_| engine_gone())?;
        response.recv().map_err(|_| engine_gone())?
    }

    /// Inserts rows (in the table's column order, already typed) without SQL parsing —
    /// the fast path for programs and benchmarks. Returns the number of rows.
    pub fn insert_rows(&mut self, table: &str, rows: Vec<Row>) -> Result<u64, ErrorResponse> {
        let (reply, response) = crossbeam_channel::bounded(1);
        self.requests
            .send(Request::InsertRows {
                table: table.to_string(),
                rows,
                reply,
            })
            .map_err(|_| engine_gone())?;
        response.recv().map_err(|_| engine_gone())?
    }
}

/// A subscription as the coordinator tracks it: per-worker frontiers and the updates
/// not yet released because some worker may still send earlier ones.
pub(crate) struct SubscribeState {
    pub sender: Sender<SubscribeEvent>,
    pub uppers: Vec<Option<Option<Timestamp>>>,
    pub pending: Vec<(Row, Timestamp, Diff)>,
    pub reported: Option<Timestamp>,
}

/// How far a source's readers have got: per consumer (a dataflow reading the source, its
/// retained arrangement or late table), the latest report of each worker's reader.
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceProgress {
    /// Whether the source keeps its rows (`'scan.retain'`); else it is streamed.
    pub retained: bool,
    pub consumers: BTreeMap<SourceConsumer, Vec<Option<ReaderProgress>>>,
}

/// One worker's reader of a source, as it last reported.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReaderProgress {
    pub emitted: u64,
    pub late: u64,
    pub errors: u64,
    pub watermark: Option<i64>,
    pub done: bool,
}

impl SourceProgress {
    /// Expects reports from `workers` readers for `consumer`.
    pub fn add_consumer(&mut self, consumer: SourceConsumer, workers: usize) {
        self.consumers.insert(consumer, vec![None; workers]);
    }

    /// The source's state: the furthest consumer's counts and watermark (every consumer
    /// reads the same stream from its start); done once every consumer's readers are.
    pub fn status(&self, workers: usize) -> SourceStatus {
        let statuses: Vec<SourceStatus> = self
            .consumers
            .values()
            .map(|reports| consumer_status(reports, workers))
            .collect();
        let furthest = statuses
            .iter()
            .max_by_key(|s| (s.emitted, s.watermark))
            .copied()
            .unwrap_or(SourceStatus {
                done: false,
                emitted: 0,
                late: 0,
                errors: 0,
                watermark: None,
            });
        SourceStatus {
            done: !statuses.is_empty() && statuses.iter().all(|s| s.done),
            ..furthest
        }
    }
}

/// One consumer's readers over all `workers`. The watermark is the minimum over readers
/// still producing (an exhausted reader holds nothing back).
fn consumer_status(reports: &[Option<ReaderProgress>], workers: usize) -> SourceStatus {
    let reports: Vec<ReaderProgress> = reports.iter().flatten().copied().collect();
    let all_reported = reports.len() >= workers;
    let done = all_reported && reports.iter().all(|r| r.done);
    let watermark = if done {
        reports.iter().filter_map(|r| r.watermark).max()
    } else if all_reported {
        // The slowest reader still producing holds the watermark back.
        reports
            .iter()
            .filter(|r| !r.done)
            .map(|r| r.watermark)
            .collect::<Option<Vec<i64>>>()
            .and_then(|w| w.into_iter().min())
    } else {
        None
    };
    SourceStatus {
        done,
        emitted: reports.iter().map(|r| r.emitted).sum(),
        late: reports.iter().map(|r| r.late).sum(),
        errors: reports.iter().map(|r| r.errors).sum(),
        watermark,
    }
}

/// The state of a source table's connector, as [`Session::source_status`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceStatus {
    /// Every worker's reader is exhausted (a bounded source has produced all its rows).
    pub done: bool,
    /// Rows produced into the table.
    pub emitted: u64,
    /// Rows dropped because their event time was behind the watermark.
    pub late: u64,
    /// Rows dropped because a computed column or the watermark failed to evaluate.
    pub errors: u64,
    /// The source's watermark (microseconds; the minimum over its readers still running).
    pub watermark: Option<i64>,
}

/// The size of one table's or view's arrangement, as [`Session::arrangement_sizes`]
/// reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrangementSize {
    /// The table or view.
    pub name: String,
    /// "table", "materialized view", "source table", ...
    pub kind: &'static str,
    /// Updates (row, time, diff) held in its arrangement's batches over all workers:
    /// about the number of distinct rows once compaction has caught up.
    pub records: u64,
}

/// Answers gathered for one peek.
struct PeekState {
    answers: usize,
    rows: Vec<(Row, Diff)>,
    error: Option<ErrorResponse>,
}

/// The coordinator's state. See the module docs.
pub(crate) struct Coordinator {
    pub config: EngineConfig,
    pub workers: WorkerHandles,
    pub catalog: CatalogState,
    /// Every table input accepts updates at times `>= frontier`; all times before it are
    /// closed (complete).
    pub frontier: Timestamp,
    /// Whether updates were written at `frontier` (so it must advance before a read).
    pub dirty: bool,
    /// One past the latest time anything was written at.
    pub written_upper: Timestamp,
    pub subscribes: HashMap<u64, SubscribeState>,
    /// Source tables and how far their readers have got.
    pub sources: HashMap<laaster_repr::plan::GlobalId, SourceProgress>,
    /// Sink tables and the dataflows writing into them.
    pub sinks: crate::sink::SinkRegistry,
    pub next_request_id: u64,
    pub requests: Sender<Request>,
    peeks: BTreeMap<u64, PeekState>,
    /// Set when a worker panicked: every later request fails with this error.
    failed: Option<ErrorResponse>,
    last_compaction: Instant,
    compacted_to: Timestamp,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Timestamp)
}

impl Coordinator {
    fn new(config: EngineConfig, workers: WorkerHandles, requests: Sender<Request>) -> Self {
        let frontier = now_millis();
        workers.broadcast(Command::AdvanceTime { to: frontier });
        Coordinator {
            config,
            workers,
            catalog: CatalogState::default(),
            frontier,
            dirty: false,
            written_upper: frontier,
            subscribes: HashMap::new(),
            sources: HashMap::new(),
            sinks: crate::sink::SinkRegistry::default(),
            next_request_id: 1,
            requests,
            peeks: BTreeMap::new(),
            failed: None,
            last_compaction: Instant::now(),
            compacted_to: 0,
        }
    }

    fn run(&mut self, requests: Receiver<Request>) {
        let responses = self.workers.responses.clone();
        loop {
            let watching = self.watching();
            let timeout = if watching {
                self.config.tick
            } else {
                Duration::from_secs(3600)
            };
            crossbeam_channel::select! {
                recv(requests) -> request => match request {
                    Ok(Request::Shutdown) | Err(_) => break,
                    Ok(request) => self.handle_request(request),
                },
                recv(responses) -> response => {
                    if let Ok(response) = response {
                        self.handle_response(response);
                    }
                },
                default(timeout) => {}
            }
            if self.watching() {
                self.tick();
            }
        }
        self.subscribes.clear();
        self.workers.shutdown();
    }

    fn handle_request(&mut self, request: Request) {
        match request {
            Request::Execute { statement, reply } => {
                let result = self.execute(&statement);
                let _ = reply.send(result);
            }
            Request::InsertRows { table, rows, reply } => {
                let result = self.insert_rows(&table, rows);
                let _ = reply.send(result);
            }
            Request::CancelSubscribe { id } => {
                self.forget_consumer(SourceConsumer::Subscribe(id));
                if self.subscribes.remove(&id).is_some() {
                    self.workers
                        .broadcast(Command::CancelSubscribe { subscribe_id: id });
                }
            }
            Request::SourceStatus { name, reply } => {
                let status = laaster_sql::Catalog::get(&self.catalog, &name)
                    .and_then(|item| self.sources.get(&item.id))
                    .map(|progress| progress.status(self.workers.commands.len()))
                    .ok_or_else(|| {
                        ErrorResponse::new(
                            "42P01",
                            format!("source table \"{name}\" does not exist"),
                        )
                    });
                let _ = reply.send(status);
            }
            Request::ArrangementSizes { reply } => {
                let _ = reply.send(self.arrangement_sizes());
            }
            Request::Shutdown => {}
        }
    }

    /// Asks every worker for its arrangements' sizes and sums them per collection.
    fn arrangement_sizes(&mut self) -> Result<Vec<ArrangementSize>, ErrorResponse> {
        if let Some(failure) = &self.failed {
            return Err(failure.clone());
        }
        let request_id = self.next_id();
        self.workers
            .broadcast(Command::ArrangementSizes { request_id });
        let responses = self.workers.responses.clone();
        let mut answers = 0;
        let mut records: BTreeMap<laaster_repr::plan::GlobalId, u64> = BTreeMap::new();
        while answers < self.workers.commands.len() {
            match responses.recv() {
                Ok(Response::ArrangementSizes {
                    request_id: id,
                    sizes,
                    ..
                }) if id == request_id => {
                    answers += 1;
                    for (collection, count) in sizes {
                        *records.entry(collection).or_default() += count;
                    }
                }
                Ok(response) => self.handle_response(response),
                Err(_) => return Err(engine_gone()),
            }
            if let Some(failure) = &self.failed {
                return Err(failure.clone());
            }
        }
        Ok(laaster_sql::Catalog::items(&self.catalog)
            .into_iter()
            .filter_map(|item| {
                Some(ArrangementSize {
                    name: item.name.clone(),
                    kind: item.kind.name(),
                    records: *records.get(&item.id)?,
                })
            })
            .collect())
    }

    fn execute(&mut self, statement: &ParsedStatement) -> Result<ExecuteResult, ErrorResponse> {
        if let Some(failure) = &self.failed {
            return Err(failure.clone());
        }
        let context = PlanContext {
            now_micros: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64),
        };
        let plan =
            laaster_sql::statement::plan_statement(&self.catalog, &statement.statement, &context)
                .map_err(|e| e.to_response())?;
        let plan = if statement.emit_on_window_close {
            crate::sequence::emit_on_window_close(plan)?
        } else {
            plan
        };
        self.sequence(plan, &statement.sql)
    }

    /// Whether anyone needs time to move between requests: subscribers, writes not yet
    /// closed, running sources, and sink dataflows (a sink writes a timestamp's changes
    /// once time passes it).
    fn watching(&self) -> bool {
        !self.subscribes.is_empty()
            || self.dirty
            || !self.sources.is_empty()
            || self
                .sinks
                .sinks
                .values()
                .any(|sink| !sink.dataflows.is_empty())
    }

    /// Advances time to the wall clock (closing every earlier time) when it has moved.
    fn tick(&mut self) {
        let now = now_millis();
        if now > self.frontier {
            self.advance_to(now);
        }
    }

    /// Closes all times before `to` on every input.
    pub(crate) fn advance_to(&mut self, to: Timestamp) {
        if to <= self.frontier {
            return;
        }
        self.frontier = to;
        if to >= self.written_upper {
            self.dirty = false;
        }
        self.workers.broadcast(Command::AdvanceTime { to });
        self.maybe_compact();
    }

    fn maybe_compact(&mut self) {
        if self.last_compaction.elapsed() < Duration::from_millis(50) {
            return;
        }
        self.last_compaction = Instant::now();
        let retain = self.config.retain_history.as_millis() as Timestamp;
        let since = self.frontier.saturating_sub(1).saturating_sub(retain);
        if since > self.compacted_to {
            self.compacted_to = since;
            self.workers
                .broadcast(Command::AllowCompaction { frontier: since });
        }
    }

    /// The earliest time reads are still exact at.
    pub(crate) fn since(&self) -> Timestamp {
        self.compacted_to
    }

    /// The timestamp for new writes.
    pub(crate) fn write_timestamp(&mut self) -> Timestamp {
        let now = now_millis();
        let ts = now.max(self.frontier);
        self.dirty = true;
        self.written_upper = self.written_upper.max(ts + 1);
        ts
    }

    /// A timestamp at which every input is complete and every earlier write is visible.
    pub(crate) fn read_timestamp(&mut self) -> Timestamp {
        // Sources write at the current time without telling the coordinator: a read
        // closes it so it sees what they produced.
        if self.dirty || !self.sources.is_empty() {
            let to = now_millis().max(self.frontier + 1).max(self.written_upper);
            self.advance_to(to);
        }
        self.frontier - 1
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        id
    }

    /// Evaluates `plan` at `timestamp` on the workers and returns the rows (one entry
    /// per copy) or the first evaluation error.
    pub(crate) fn peek(
        &mut self,
        plan: Plan,
        timestamp: Timestamp,
    ) -> Result<Vec<Row>, ErrorResponse> {
        self.peek_limited(plan, timestamp, None)
    }

    /// [`Coordinator::peek`] for a reader that needs only the first `limit.count` rows
    /// under `limit.order`: each worker answers with at most that many, so
    /// `SELECT * FROM big_view LIMIT 10` does not ship the whole view here.
    pub(crate) fn peek_limited(
        &mut self,
        plan: Plan,
        timestamp: Timestamp,
        limit: Option<PeekLimit>,
    ) -> Result<Vec<Row>, ErrorResponse> {
        if let Some(rows) = crate::constant::evaluate_constant(&plan) {
            return expand(rows?);
        }
        let peek_id = self.next_id();
        self.peeks.insert(
            peek_id,
            PeekState {
                answers: 0,
                rows: Vec::new(),
                error: None,
            },
        );
        self.workers.broadcast(Command::Peek {
            peek_id,
            plan: Arc::new(plan),
            timestamp,
            limit,
        });
        let responses = self.workers.responses.clone();
        let workers = self.workers.commands.len();
        loop {
            if self
                .peeks
                .get(&peek_id)
                .is_some_and(|p| p.answers == workers)
            {
                break;
            }
            match responses.recv() {
                Ok(response) => self.handle_response(response),
                Err(_) => return Err(engine_gone()),
            }
        }
        let state = self.peeks.remove(&peek_id).ok_or_else(engine_gone)?;
        if let Some(error) = state.error {
            return Err(error);
        }
        expand(state.rows)
    }

    fn handle_response(&mut self, response: Response) {
        match response {
            Response::Peek {
                peek_id, result, ..
            } => {
                if let Some(state) = self.peeks.get_mut(&peek_id) {
                    state.answers += 1;
                    match result {
                        Ok(rows) => state.rows.extend(rows),
                        Err(error) => {
                            state.error.get_or_insert_with(|| error.into());
                        }
                    }
                }
            }
            Response::SourceProgress {
                id,
                consumer,
                worker,
                emitted,
                late,
                errors,
                watermark,
                done,
            } => {
                // Reports from a consumer already dropped are ignored.
                if let Some(slot) = self
                    .sources
                    .get_mut(&id)
                    .and_then(|progress| progress.consumers.get_mut(&consumer))
                    .and_then(|reports| reports.get_mut(worker))
                {
                    *slot = Some(ReaderProgress {
                        emitted,
                        late,
                        errors,
                        watermark,
                        done,
                    });
                }
            }
            // An answer to a request that has already been answered or abandoned.
            Response::ArrangementSizes { .. } => {}
            Response::WorkerFailed { worker, message } => {
                let failure = ErrorResponse::new(
                    "XX000",
                    format!("internal error: worker {worker} failed: {message}"),
                )
                .with_detail(
                    "A bug in Laaster stopped a dataflow worker; no further statements can run.",
                )
                .with_hint(
                    "Restart the engine, and please report this with the statement that caused it.",
                );
                for (_, state) in self.subscribes.drain() {
                    let _ = state.sender.send(SubscribeEvent::Error(failure.clone()));
                }
                self.failed = Some(failure);
            }
            Response::Subscribe {
                subscribe_id,
                worker,
                updates,
                error,
                upper,
            } => {
                let finished = match self.subscribes.get_mut(&subscribe_id) {
                    Some(state) => crate::subscribe::absorb(state, worker, updates, error, upper),
                    None => false,
                };
                if finished {
                    self.forget_consumer(SourceConsumer::Subscribe(subscribe_id));
                    self.subscribes.remove(&subscribe_id);
                    self.workers
                        .broadcast(Command::CancelSubscribe { subscribe_id });
                }
            }
        }
    }

    /// Stops expecting reports from `consumer`'s readers (its dataflow is gone).
    pub(crate) fn forget_consumer(&mut self, consumer: SourceConsumer) {
        for progress in self.sources.values_mut() {
            progress.consumers.remove(&consumer);
        }
    }

    fn sequence(&mut self, plan: StatementPlan, sql: &str) -> Result<ExecuteResult, ErrorResponse> {
        Sequencer { coordinator: self }.sequence(plan, sql)
    }

    fn insert_rows(&mut self, table: &str, rows: Vec<Row>) -> Result<u64, ErrorResponse> {
        if let Some(failure) = &self.failed {
            return Err(failure.clone());
        }
        Sequencer { coordinator: self }.insert_rows(table, rows)
    }
}

/// One entry per copy of each row; negative counts mean the engine is inconsistent.
fn expand(rows: Vec<(Row, Diff)>) -> Result<Vec<Row>, ErrorResponse> {
    let mut out = Vec::with_capacity(rows.len());
    let mut merged: BTreeMap<Row, Diff> = BTreeMap::new();
    for (row, diff) in rows {
        *merged.entry(row).or_insert(0) += diff;
    }
    for (row, count) in merged {
        if count < 0 {
            return Err(ErrorResponse::new(
                "XX000",
                "internal error: a relation has a row with negative multiplicity",
            )
            .with_detail(format!("row {row:?} has count {count}")));
        }
        for _ in 0..count {
            out.push(row.clone());
        }
    }
    Ok(out)
}
