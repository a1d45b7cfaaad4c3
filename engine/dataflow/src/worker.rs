//! The worker: a timely worker thread that applies [`Command`]s in order at the top of
//! its step loop, steps its dataflows, and answers peeks and subscriptions once their
//! frontiers allow.
//!
//! Every worker holds its shard of every table's input and every arrangement. Peeks are
//! answered per worker (each worker reads the part of the arrangement it owns) and merged
//! by the coordinator; subscriptions report per-worker updates plus that worker's
//! frontier, and the coordinator releases updates once every worker's frontier passed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use differential_dataflow::AsCollection;
use differential_dataflow::input::InputSession;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::cursor::{Cursor, cursor_list};
use laaster_repr::plan::{GlobalId, Plan, compare_rows};
use laaster_repr::{Diff, EvalError, PackedRow, Row, Timestamp};
use timely::WorkerConfig;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use timely::progress::Antichain;
use timely::progress::frontier::AntichainRef;
use timely::worker::Worker;

use crate::command::{Command, PeekLimit, Response};
use crate::render::{
    ErrTrace, Imported, RenderContext, Rendered, RowTrace, arrange_packed, arrange_rows,
};
use crate::source::{SourceConsumer, SourceReader, SourceSpec, WatermarkUpdate};

/// The coordinator's side of the running workers.
pub struct WorkerHandles {
    /// One command channel per worker; send every command to all of them.
    pub commands: Vec<Sender<Command>>,
    /// Answers from all workers.
    pub responses: Receiver<Response>,
    /// Worker threads, to unpark after sending commands.
    pub threads: Vec<Thread>,
    guards: Option<timely::communication::WorkerGuards<()>>,
}

impl WorkerHandles {
    /// Sends `command` to every worker and wakes them.
    pub fn broadcast(&self, command: Command) {
        for sender in &self.commands {
            // A worker that is gone has shut down; nothing to do.
            let _ = sender.send(command.clone());
        }
        for thread in &self.threads {
            thread.unpark();
        }
    }

    /// Stops the workers and waits for them.
    pub fn shutdown(&mut self) {
        self.broadcast(Command::Shutdown);
        if let Some(guards) = self.guards.take() {
            drop(guards.join());
        }
    }
}

impl Drop for WorkerHandles {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts `workers` timely worker threads in this process.
pub fn start_workers(workers: usize) -> Result<WorkerHandles, String> {
    let workers = workers.max(1);
    let mut senders = Vec::with_capacity(workers);
    let mut receivers = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (sender, receiver) = crossbeam_channel::unbounded();
        senders.push(sender);
        receivers.push(Some(receiver));
    }
    let receivers = Arc::new(Mutex::new(receivers));
    let (response_sender, responses) = crossbeam_channel::unbounded();
    let (thread_sender, thread_receiver) = crossbeam_channel::unbounded();
    let mut config = timely::Config::process(workers);
    config.worker = WorkerConfig::default();
    let guards = timely::execute(config, move |worker| {
        let index = worker.index();
        let commands = receivers
            .lock()
            .ok()
            .and_then(|mut r| r.get_mut(index).and_then(Option::take));
        let Some(commands) = commands else {
            return;
        };
        let _ = thread_sender.send((index, std::thread::current()));
        let responses = response_sender.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_worker(worker, commands, responses.clone())
        }));
        if let Err(payload) = outcome {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            tracing::error!(worker = index, %message, "worker panicked");
            let _ = responses.send(Response::WorkerFailed {
                worker: index,
                message,
            });
        }
    })?;
    let mut threads: Vec<(usize, Thread)> = Vec::with_capacity(workers);
    for _ in 0..workers {
        let thread = thread_receiver
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "timely workers did not start".to_string())?;
        threads.push(thread);
    }
    threads.sort_by_key(|(index, _)| *index);
    Ok(WorkerHandles {
        commands: senders,
        responses,
        threads: threads.into_iter().map(|(_, t)| t).collect(),
        guards: Some(guards),
    })
}

/// A table or view as this worker holds it.
struct Collection {
    oks: RowTrace,
    errs: ErrTrace,
    dataflow: Option<usize>,
}

struct PendingPeek {
    peek_id: u64,
    timestamp: Timestamp,
    limit: Option<PeekLimit>,
    oks: RowTrace,
    errs: ErrTrace,
    dataflow: Option<usize>,
}

/// Updates captured by a subscription's sink, and its latest frontier.
#[derive(Default)]
struct SubscribeBuffer {
    updates: Vec<(Row, Timestamp, Diff)>,
    errors: Vec<(EvalError, Timestamp, Diff)>,
    oks_frontier: Antichain<Timestamp>,
    errs_frontier: Antichain<Timestamp>,
    /// Whether each sink has run once (its frontier is known). An empty frontier means
    /// "not yet known" before and "complete" after.
    oks_seen: bool,
    errs_seen: bool,
}

struct ActiveSubscribe {
    dataflow: usize,
    as_of: Timestamp,
    snapshot: bool,
    buffer: Rc<RefCell<SubscribeBuffer>>,
    reported_upper: Option<Option<Timestamp>>,
    failed: bool,
}

/// One worker's reader of a source for one consumer (a dataflow, the source's own
/// arrangement, or its late-rows table), with the inputs it feeds.
struct StreamReader {
    source: GlobalId,
    consumer: SourceConsumer,
    reader: SourceReader,
    /// Where produced rows go; `None` for the late-rows reader, which keeps only late rows.
    rows: Option<InputSession<Timestamp, Row, Diff>>,
    /// Where the reader's watermark goes (for the operators of a consuming dataflow).
    watermarks: Option<InputSession<Timestamp, WatermarkUpdate, Diff>>,
    /// The table late rows go to.
    late_table: Option<GlobalId>,
    /// The `<source>_errors` table dead-letter rows go to.
    errors_table: Option<GlobalId>,
    /// The last watermark state sent, and its sequence number.
    sent_watermark: Option<(i64, bool)>,
    sequence: u64,
    /// The last progress reported: (emitted, late, errors, watermark).
    reported: Option<(u64, u64, u64, Option<i64>)>,
    done: bool,
}

/// The inputs of a dataflow that reads a streamed source: rows and watermarks.
struct StreamedInput {
    source: GlobalId,
    rows: InputSession<Timestamp, Row, Diff>,
    watermarks: InputSession<Timestamp, WatermarkUpdate, Diff>,
    /// An upsert source's key columns and row arity (see [`crate::upsert`]).
    upsert: Option<(Vec<usize>, usize)>,
}

struct WorkerState {
    index: usize,
    /// Table inputs: rows are packed as they arrive (tables arrange packed rows).
    inputs: BTreeMap<GlobalId, InputSession<Timestamp, PackedRow, Diff>>,
    collections: BTreeMap<GlobalId, Collection>,
    peeks: Vec<PendingPeek>,
    subscribes: BTreeMap<u64, ActiveSubscribe>,
    /// Every source table's spec (streamed or retained).
    source_specs: BTreeMap<GlobalId, Arc<SourceSpec>>,
    /// This worker's readers still producing.
    readers: Vec<StreamReader>,
    /// Readers that finished (a bounded input, `'on-error' = 'fail'`), kept until their
    /// consumer is dropped so its external resources are released then.
    finished: Vec<StreamReader>,
    input_time: Timestamp,
    responses: Sender<Response>,
    /// Sink dataflows (`INSERT INTO sink SELECT`) by id, with their dataflow index.
    sinks: BTreeMap<GlobalId, usize>,
}

/// The worker's step loop. Returns when the coordinator sends `Shutdown` or goes away.
pub fn run_worker(worker: &mut Worker, commands: Receiver<Command>, responses: Sender<Response>) {
    let mut state = WorkerState {
        index: worker.index(),
        inputs: BTreeMap::new(),
        collections: BTreeMap::new(),
        peeks: Vec::new(),
        subscribes: BTreeMap::new(),
        source_specs: BTreeMap::new(),
        readers: Vec::new(),
        finished: Vec::new(),
        input_time: 0,
        responses,
        sinks: BTreeMap::new(),
    };
    loop {
        loop {
            match commands.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return,
                Ok(command) => state.apply(worker, command),
                Err(TryRecvError::Empty) => break,
            }
        }
        let produced = state.produce_sources();
        let park = if !state.peeks.is_empty() || produced {
            Duration::ZERO
        } else if !state.readers.is_empty() {
            // Readers waiting on a rate limit (or an idle timeout) are polled every ms.
            Duration::from_millis(1)
        } else {
            Duration::from_millis(100)
        };
        worker.step_or_park(Some(park));
        state.serve_peeks(worker);
        state.serve_subscribes();
    }
}

impl WorkerState {
    fn apply(&mut self, worker: &mut Worker, command: Command) {
        match command {
            Command::CreateTable { id, name } => {
                let mut input = InputSession::new();
                let (oks, errs) = worker.dataflow_named(&format!("table {name}"), |scope| {
                    let rows = input.to_collection(scope);
                    let errs = Vec::<(EvalError, Timestamp, Diff)>::new();
                    let errs = timely::dataflow::operators::vec::ToStream::to_stream(errs, scope)
                        .as_collection();
                    (
                        rows.arrange_by_self_named("table").trace,
                        errs.arrange_by_self_named("table errors").trace,
                    )
                });
                // Only once attached to the dataflow does advancing the input report progress.
                input.advance_to(self.input_time);
                input.flush();
                self.inputs.insert(id, input);
                self.collections.insert(
                    id,
                    Collection {
                        oks,
                        errs,
                        dataflow: None,
                    },
                );
            }
            Command::CreateSource { id, name, spec } => {
                self.source_specs.insert(id, Arc::clone(&spec));
                if let Some(late_id) = spec.late_table {
                    self.apply(
                        worker,
                        Command::CreateTable {
                            id: late_id,
                            name: format!("{name}_late"),
                        },
                    );
                    let reader = self.stream_reader(
                        id,
                        (SourceConsumer::Table(late_id), &format!("{name}_late")),
                        &spec,
                        worker.peers(),
                        None,
                    );
                    self.readers.push(StreamReader {
                        late_table: Some(late_id),
                        ..reader
                    });
                }
                if let Some(errors_id) = spec.errors_table {
                    let errors_name = format!("{name}_errors");
                    self.apply(
                        worker,
                        Command::CreateTable {
                            id: errors_id,
                            name: errors_name.clone(),
                        },
                    );
                    let mut reader = self.stream_reader(
                        id,
                        (SourceConsumer::Table(errors_id), &errors_name),
                        &spec,
                        worker.peers(),
                        None,
                    );
                    reader.reader.set_consumer(&errors_name, true);
                    self.readers.push(StreamReader {
                        errors_table: Some(errors_id),
                        ..reader
                    });
                }
                if spec.retain {
                    self.create_retained_source(worker, id, &name, &spec);
                }
            }
            Command::CreateView {
                id,
                name,
                plan,
                as_of: _,
            } => {
                let dataflow = worker.next_dataflow_index();
                let imports = self.imports(&plan);
                let mut streamed = self.streamed_inputs(&plan);
                let (oks, errs) = worker.dataflow_named(&format!("view {name}"), |scope| {
                    render_arranged(scope, imports, &mut streamed, &plan, "view")
                });
                self.start_readers((SourceConsumer::View(id), &name), streamed, worker.peers());
                self.collections.insert(
                    id,
                    Collection {
                        oks,
                        errs,
                        dataflow: Some(dataflow),
                    },
                );
            }
            Command::CreateSink { id, plan, spec } => {
                let dataflow = worker.next_dataflow_index();
                let imports = self.imports(&plan);
                let mut streamed = self.streamed_inputs(&plan);
                let (index, peers) = (self.index, worker.peers());
                worker.dataflow_named(&format!("sink {}", spec.name), |scope| {
                    let rendered = render_with_imports(scope, imports, &mut streamed, &plan);
                    crate::sink::render_sink(rendered, &spec, index, peers);
                });
                self.start_readers((SourceConsumer::View(id), &spec.name), streamed, peers);
                self.sinks.insert(id, dataflow);
            }
            Command::Insert { id, updates, time } => {
                if let Some(input) = self.inputs.get_mut(&id) {
                    let time = time.max(*input.time());
                    // This worker's share: the rows at positions equal to its index
                    // modulo the worker count.
                    let share = updates.iter().skip(self.index).step_by(worker.peers());
                    for (row, diff) in share {
                        input.update_at(PackedRow::from(row), time, *diff);
                    }
                }
            }
            Command::AdvanceTime { to } => {
                self.input_time = self.input_time.max(to);
                for input in self.inputs.values_mut() {
                    if *input.time() < to {
                        input.advance_to(to);
                    }
                    input.flush();
                }
                for input in self.readers.iter_mut().flat_map(|r| r.rows.as_mut()) {
                    if *input.time() < to {
                        input.advance_to(to);
                    }
                    input.flush();
                }
                for watermarks in self.readers.iter_mut().flat_map(|r| r.watermarks.as_mut()) {
                    if *watermarks.time() < to {
                        watermarks.advance_to(to);
                    }
                    watermarks.flush();
                }
            }
            Command::Peek {
                peek_id,
                plan,
                timestamp,
                limit,
            } => self.install_peek(worker, peek_id, &plan, timestamp, limit),
            Command::Subscribe {
                subscribe_id,
                plan,
                as_of,
                snapshot,
            } => self.install_subscribe(worker, subscribe_id, &plan, as_of, snapshot),
            Command::CancelSubscribe { subscribe_id } => {
                self.release_readers(|r| r.consumer == SourceConsumer::Subscribe(subscribe_id));
                if let Some(subscribe) = self.subscribes.remove(&subscribe_id) {
                    worker.drop_dataflow(subscribe.dataflow);
                }
            }
            Command::Drop { id } => {
                self.inputs.remove(&id);
                self.source_specs.remove(&id);
                self.release_readers(|r| {
                    r.source == id
                        || r.consumer == SourceConsumer::View(id)
                        || r.consumer == SourceConsumer::Table(id)
                });
                if let Some(collection) = self.collections.remove(&id)
                    && let Some(dataflow) = collection.dataflow
                {
                    worker.drop_dataflow(dataflow);
                }
                if let Some(dataflow) = self.sinks.remove(&id) {
                    worker.drop_dataflow(dataflow);
                }
            }
            Command::AllowCompaction { frontier } => {
                let frontier = [frontier];
                for collection in self.collections.values_mut() {
                    collection
                        .oks
                        .set_logical_compaction(AntichainRef::new(&frontier));
                    collection
                        .oks
                        .set_physical_compaction(AntichainRef::new(&frontier));
                    collection
                        .errs
                        .set_logical_compaction(AntichainRef::new(&frontier));
                    collection
                        .errs
                        .set_physical_compaction(AntichainRef::new(&frontier));
                }
            }
            Command::ArrangementSizes { request_id } => {
                let sizes = self
                    .collections
                    .iter()
                    .map(|(id, c)| (*id, trace_updates(&c.oks) + trace_updates(&c.errs)))
                    .collect();
                let _ = self.responses.send(Response::ArrangementSizes {
                    request_id,
                    worker: self.index,
                    sizes,
                });
            }
            Command::InjectFailure => panic!("injected failure"),
            Command::Shutdown => {}
        }
    }

    /// Creates a retained source's input and arrangement, and its reader.
    fn create_retained_source(
        &mut self,
        worker: &mut Worker,
        id: GlobalId,
        name: &str,
        spec: &Arc<SourceSpec>,
    ) {
        let mut input = InputSession::new();
        let (oks, errs) = worker.dataflow_named(&format!("source {name}"), |scope| {
            // Readers produce full rows (computed columns included).
            let rows = input.to_collection(scope);
            let rows = match spec.upsert_key() {
                Some(key) => crate::upsert::render_upsert(
                    rows,
                    key,
                    spec.physical_arity + spec.computed.len(),
                ),
                None => rows,
            };
            let errs = Vec::<(EvalError, Timestamp, Diff)>::new();
            let errs =
                timely::dataflow::operators::vec::ToStream::to_stream(errs, scope).as_collection();
            (
                arrange_rows(rows, "source"),
                errs.arrange_by_self_named("source errors").trace,
            )
        });
        input.advance_to(self.input_time);
        input.flush();
        let reader = self.stream_reader(
            id,
            (SourceConsumer::Table(id), name),
            spec,
            worker.peers(),
            Some(input),
        );
        self.readers.push(reader);
        self.collections.insert(
            id,
            Collection {
                oks,
                errs,
                dataflow: None,
            },
        );
    }

    /// A reader of source `source` for `consumer` (named, for the connector's consumer
    /// group), feeding `rows`.
    fn stream_reader(
        &self,
        source: GlobalId,
        (consumer, consumer_name): (SourceConsumer, &str),
        spec: &SourceSpec,
        peers: usize,
        rows: Option<InputSession<Timestamp, Row, Diff>>,
    ) -> StreamReader {
        let mut reader = SourceReader::new(spec, self.index, peers);
        reader.set_consumer(consumer_name, false);
        if let Some(alignment) = &spec.alignment {
            reader.align(alignment, consumer, self.index, peers);
        }
        StreamReader {
            source,
            consumer,
            reader,
            rows,
            watermarks: None,
            late_table: None,
            errors_table: None,
            sent_watermark: None,
            sequence: 0,
            reported: None,
            done: false,
        }
    }

    /// Fresh inputs for every streamed source `plan` reads (to render the dataflow with).
    fn streamed_inputs(&self, plan: &Plan) -> Vec<StreamedInput> {
        plan.imports()
            .into_iter()
            .filter(|id| self.source_specs.get(id).is_some_and(|spec| !spec.retain))
            .map(|source| StreamedInput {
                source,
                rows: InputSession::new(),
                watermarks: InputSession::new(),
                upsert: self.source_specs.get(&source).and_then(|spec| {
                    let arity = spec.physical_arity + spec.computed.len();
                    spec.upsert_key().map(|key| (key.to_vec(), arity))
                }),
            })
            .collect()
    }

    /// Starts this worker's readers for a dataflow built with `streamed` inputs.
    fn start_readers(
        &mut self,
        consumer: (SourceConsumer, &str),
        streamed: Vec<StreamedInput>,
        peers: usize,
    ) {
        for mut input in streamed {
            let Some(spec) = self.source_specs.get(&input.source).cloned() else {
                continue;
            };
            input.rows.advance_to(self.input_time);
            input.rows.flush();
            input.watermarks.advance_to(self.input_time);
            input.watermarks.flush();
            let mut reader =
                self.stream_reader(input.source, consumer, &spec, peers, Some(input.rows));
            reader.watermarks = Some(input.watermarks);
            self.readers.push(reader);
        }
    }

    /// Lets every reader produce one batch into its inputs at the current time, sends its
    /// watermark when it changed, and reports its progress. Returns whether any reader
    /// produced a row.
    fn produce_sources(&mut self) -> bool {
        const BATCH: usize = 4096;
        let mut produced = false;
        let mut rows = Vec::with_capacity(BATCH);
        let mut late = Vec::new();
        let index = self.index;
        for stream in self.readers.iter_mut() {
            rows.clear();
            late.clear();
            let more = stream.reader.produce(BATCH, &mut rows, &mut late);
            produced |= !rows.is_empty() || !late.is_empty();
            if let Some(input) = stream.rows.as_mut() {
                for (row, diff) in rows.drain(..) {
                    input.update(row, diff);
                }
            }
            if let Some(input) = stream
                .errors_table
                .and_then(|errors_id| self.inputs.get_mut(&errors_id))
            {
                let dead_letters = stream.reader.take_dead_letters();
                produced |= !dead_letters.is_empty();
                for row in dead_letters {
                    input.update(PackedRow::from(&row), 1);
                }
                if !more {
                    input.flush();
                }
            }
            if let Some(input) = stream
                .late_table
                .and_then(|late_id| self.inputs.get_mut(&late_id))
            {
                for row in late.drain(..) {
                    input.update(PackedRow::from(&row), 1);
                }
                if !more {
                    input.flush();
                }
            }
            let state = stream.reader.watermark_state(!more);
            if stream.sent_watermark != Some(state)
                && let Some(watermarks) = stream.watermarks.as_mut()
            {
                stream.sequence += 1;
                watermarks.update((index as u64, stream.sequence, state.0, state.1), 1);
                stream.sent_watermark = Some(state);
            }
            let reader = &stream.reader;
            let progress = (reader.emitted, reader.late, reader.errors, reader.watermark);
            if stream.reported != Some(progress) || !more {
                stream.reported = Some(progress);
                let _ = self.responses.send(Response::SourceProgress {
                    id: stream.source,
                    consumer: stream.consumer,
                    worker: index,
                    emitted: reader.emitted,
                    late: reader.late,
                    errors: reader.errors,
                    watermark: reader.watermark,
                    done: !more,
                });
            }
            if !more {
                // Dropping the inputs closes them: the consumer sees the stream end.
                stream.rows = None;
                stream.watermarks = None;
                stream.done = true;
            }
        }
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.readers)
            .into_iter()
            .partition(|r| r.done);
        self.readers = running;
        self.finished.extend(done);
        produced
    }

    /// Removes the readers (running or finished) that `dropped` selects: their consumer
    /// is dropped for good, so each releases what its connector keeps for it (a consumer
    /// group, a durable consumer, a replication slot). Only here, not at shutdown: a
    /// restarted engine resumes from those.
    fn release_readers(&mut self, dropped: impl Fn(&StreamReader) -> bool) {
        let mut released = Vec::new();
        for readers in [&mut self.readers, &mut self.finished] {
            let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(readers)
                .into_iter()
                .partition(|r| dropped(r));
            *readers = kept;
            released.extend(gone);
        }
        for mut reader in released {
            reader.reader.release();
            if let Some(alignment) = self
                .source_specs
                .get(&reader.source)
                .and_then(|spec| spec.alignment.as_ref())
            {
                alignment.forget(reader.consumer);
            }
        }
    }

    /// Handles to the arrangements `plan` reads.
    fn imports(&self, plan: &Plan) -> Vec<(GlobalId, RowTrace, ErrTrace)> {
        plan.imports()
            .into_iter()
            .filter_map(|id| {
                self.collections
                    .get(&id)
                    .map(|c| (id, c.oks.clone(), c.errs.clone()))
            })
            .collect()
    }

    fn install_peek(
        &mut self,
        worker: &mut Worker,
        peek_id: u64,
        plan: &Plan,
        timestamp: Timestamp,
        limit: Option<PeekLimit>,
    ) {
        // Fast path: reading a table or view directly needs no dataflow.
        if let Plan::Get { id, .. } = plan
            && let Some(collection) = self.collections.get(id)
        {
            self.peeks.push(PendingPeek {
                peek_id,
                timestamp,
                limit,
                oks: collection.oks.clone(),
                errs: collection.errs.clone(),
                dataflow: None,
            });
            return;
        }
        let dataflow = worker.next_dataflow_index();
        let imports = self.imports(plan);
        let (oks, errs) = worker.dataflow_named("peek", |scope| {
            render_arranged(scope, imports, &mut Vec::new(), plan, "peek")
        });
        self.peeks.push(PendingPeek {
            peek_id,
            timestamp,
            limit,
            oks,
            errs,
            dataflow: Some(dataflow),
        });
    }

    fn install_subscribe(
        &mut self,
        worker: &mut Worker,
        subscribe_id: u64,
        plan: &Plan,
        as_of: Timestamp,
        snapshot: bool,
    ) {
        let dataflow = worker.next_dataflow_index();
        let imports = self.imports(plan);
        let buffer = Rc::new(RefCell::new(SubscribeBuffer::default()));
        let ok_buffer = Rc::clone(&buffer);
        let err_buffer = Rc::clone(&buffer);
        let mut streamed = self.streamed_inputs(plan);
        worker.dataflow_named("subscribe", |scope| {
            let rendered = render_with_imports(scope, imports, &mut streamed, plan);
            rendered.oks.consolidate().inner.sink(
                Pipeline,
                "SubscribeRows",
                move |(input, frontier)| {
                    let mut buffer = ok_buffer.borrow_mut();
                    input.for_each(|_capability, data| buffer.updates.append(data));
                    buffer.oks_frontier = frontier.frontier().to_owned();
                    buffer.oks_seen = true;
                },
            );
            rendered
                .errs
                .inner
                .sink(Pipeline, "SubscribeErrors", move |(input, frontier)| {
                    let mut buffer = err_buffer.borrow_mut();
                    input.for_each(|_capability, data| buffer.errors.append(data));
                    buffer.errs_frontier = frontier.frontier().to_owned();
                    buffer.errs_seen = true;
                });
        });
        self.start_readers(
            (
                SourceConsumer::Subscribe(subscribe_id),
                &format!("subscribe-{subscribe_id}"),
            ),
            streamed,
            worker.peers(),
        );
        self.subscribes.insert(
            subscribe_id,
            ActiveSubscribe {
                dataflow,
                as_of,
                snapshot,
                buffer,
                reported_upper: None,
                failed: false,
            },
        );
    }

    /// Answers every peek whose arrangements are complete through its timestamp.
    fn serve_peeks(&mut self, worker: &mut Worker) {
        let mut index = 0;
        while index < self.peeks.len() {
            let ready = {
                let peek = &mut self.peeks[index];
                passed(&mut peek.oks, peek.timestamp) && passed(&mut peek.errs, peek.timestamp)
            };
            if !ready {
                index += 1;
                continue;
            }
            let mut peek = self.peeks.swap_remove(index);
            let errors = read_at(&mut peek.errs, peek.timestamp, usize::MAX);
            let result = match errors.into_iter().find(|(_, count)| *count > 0) {
                Some((error, _)) => Err(error),
                None => Ok(match &peek.limit {
                    None => read_at(&mut peek.oks, peek.timestamp, usize::MAX)
                        .into_iter()
                        .map(|(row, count)| (row.unpack(), count))
                        .collect(),
                    Some(limit) if limit.order.is_empty() => {
                        read_at(&mut peek.oks, peek.timestamp, limit.count)
                            .into_iter()
                            .map(|(row, count)| (row.unpack(), count))
                            .collect()
                    }
                    Some(limit) => {
                        first_rows(read_at(&mut peek.oks, peek.timestamp, usize::MAX), limit)
                    }
                }),
            };
            let _ = self.responses.send(Response::Peek {
                peek_id: peek.peek_id,
                worker: self.index,
                result,
            });
            if let Some(dataflow) = peek.dataflow {
                worker.drop_dataflow(dataflow);
            }
        }
    }

    /// Forwards complete subscription updates and frontier changes.
    fn serve_subscribes(&mut self) {
        for (&subscribe_id, subscribe) in self.subscribes.iter_mut() {
            if subscribe.failed {
                continue;
            }
            let mut buffer = subscribe.buffer.borrow_mut();
            let upper = buffer
                .oks_frontier
                .elements()
                .iter()
                .chain(buffer.errs_frontier.elements())
                .min()
                .copied();
            // Before both sinks first ran, their frontiers are unknown: wait. (A dataflow
            // over a bounded source can be complete, both frontiers empty, by then: that
            // is the end of the feed, not "not yet".)
            if !(buffer.oks_seen && buffer.errs_seen) {
                continue;
            }
            let as_of = subscribe.as_of;
            // The snapshot is one consistent set: nothing is released until every update
            // at times up to `as_of` is in.
            if upper.is_some_and(|u| u <= as_of) {
                continue;
            }
            let complete = |time: &Timestamp| upper.is_none_or(|u| *time < u);
            let error = buffer
                .errors
                .iter()
                .find(|(_, time, diff)| complete(time) && *diff > 0)
                .map(|(e, _, _)| e.clone());
            let mut ready = Vec::new();
            buffer.updates.retain(|(row, time, diff)| {
                if complete(time) {
                    if *time > as_of {
                        ready.push((row.clone(), *time, *diff));
                    } else if subscribe.snapshot {
                        ready.push((row.clone(), as_of, *diff));
                    }
                    false
                } else {
                    true
                }
            });
            buffer.errors.retain(|(_, time, _)| !complete(time));
            if ready.is_empty() && error.is_none() && subscribe.reported_upper == Some(upper) {
                continue;
            }
            // Sorts by (row, time) and sums diffs; the coordinator orders by time.
            differential_dataflow::consolidation::consolidate_updates(&mut ready);
            subscribe.reported_upper = Some(upper);
            subscribe.failed = error.is_some();
            let _ = self.responses.send(Response::Subscribe {
                subscribe_id,
                worker: self.index,
                updates: ready,
                error,
                upper,
            });
        }
    }
}

/// Renders `plan` in `scope` with the given arrangements imported.
fn render_with_imports<'s>(
    scope: timely::dataflow::Scope<'s, Timestamp>,
    imports: Vec<(GlobalId, RowTrace, ErrTrace)>,
    streamed: &mut [StreamedInput],
    plan: &Plan,
) -> Rendered<'s> {
    render_context(scope, imports, streamed).render(plan)
}

/// Renders `plan` in `scope` and arranges its rows and errors (a view's or a peek's
/// contents).
fn render_arranged(
    scope: timely::dataflow::Scope<'_, Timestamp>,
    imports: Vec<(GlobalId, RowTrace, ErrTrace)>,
    streamed: &mut [StreamedInput],
    plan: &Plan,
    name: &str,
) -> (RowTrace, ErrTrace) {
    let rendered = render_context(scope, imports, streamed).render_packed(plan);
    (
        arrange_packed(rendered.rows, name),
        rendered
            .errs
            .arrange_by_self_named(&format!("{name} errors"))
            .trace,
    )
}

/// A render context for `scope` with the given arrangements and streamed inputs imported.
fn render_context<'s>(
    scope: timely::dataflow::Scope<'s, Timestamp>,
    imports: Vec<(GlobalId, RowTrace, ErrTrace)>,
    streamed: &mut [StreamedInput],
) -> RenderContext<'s> {
    let mut context = RenderContext {
        scope,
        imports: BTreeMap::new(),
        arranged: BTreeMap::new(),
        watermarks: BTreeMap::new(),
        shared: Default::default(),
    };
    for input in streamed.iter_mut() {
        let oks = input.rows.to_collection(scope);
        let oks = match &input.upsert {
            Some((key, arity)) => crate::upsert::render_upsert(oks, key, *arity),
            None => oks,
        };
        let errs = Vec::<(EvalError, Timestamp, Diff)>::new();
        let errs =
            timely::dataflow::operators::vec::ToStream::to_stream(errs, scope).as_collection();
        context.imports.insert(input.source, Rendered { oks, errs });
        context
            .watermarks
            .insert(input.source, input.watermarks.to_collection(scope));
    }
    for (id, mut oks, mut errs) in imports {
        let rows = oks
            .import(scope)
            .as_collection(|row: &PackedRow, _: &()| row.clone());
        let errs = errs
            .import(scope)
            .as_collection(|error: &EvalError, _: &()| error.clone());
        context.arranged.insert(id, Imported { rows, errs });
    }
    context
}

/// Whether the trace has no more updates to come at times `<= timestamp`.
fn passed<T>(trace: &mut T, timestamp: Timestamp) -> bool
where
    T: TraceReader<Time = Timestamp>,
{
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    !upper.less_equal(&timestamp)
}

/// The contents of an arrangement at `timestamp`: each key with its count.
fn read_at<K>(
    trace: &mut differential_dataflow::operators::arrange::TraceAgent<
        differential_dataflow::trace::implementations::KeySpine<K, Timestamp, Diff>,
    >,
    timestamp: Timestamp,
    copies: usize,
) -> Vec<(K, Diff)>
where
    K: differential_dataflow::ExchangeData,
{
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let Some(batches) = trace.batches_through(upper.borrow()) else {
        return Vec::new();
    };
    let (mut cursor, storage) = cursor_list(batches);
    let mut out = Vec::new();
    let mut held: usize = 0;
    while cursor.key_valid(&storage) && held < copies {
        while cursor.val_valid(&storage) {
            let mut count: Diff = 0;
            cursor.map_times(&storage, |time, diff| {
                if *time <= timestamp {
                    count += *diff;
                }
            });
            if count != 0 {
                out.push((cursor.key(&storage).clone(), count));
                held = held.saturating_add(usize::try_from(count).unwrap_or(0));
            }
            cursor.step_val(&storage);
        }
        cursor.step_key(&storage);
    }
    out
}

/// The first `limit.count` copies of `rows` under `limit.order` (ties broken
/// arbitrarily: the coordinator's sort is what the reader sees), unpacked.
fn first_rows(rows: Vec<(PackedRow, Diff)>, limit: &PeekLimit) -> Vec<(Row, Diff)> {
    let mut rows: Vec<(Row, Diff)> = rows
        .into_iter()
        .map(|(row, count)| (row.unpack(), count))
        .collect();
    // A negative count is an inconsistency the coordinator reports: keep such rows.
    if limit.count == 0 || rows.iter().any(|(_, count)| *count < 0) {
        return rows;
    }
    let order = |a: &(Row, Diff), b: &(Row, Diff)| compare_rows(&a.0, &b.0, &limit.order);
    if rows.len() > limit.count {
        // Every entry holds at least one copy, so the first `count` entries hold at
        // least `count` copies.
        rows.select_nth_unstable_by(limit.count - 1, order);
        rows.truncate(limit.count);
    }
    rows
}

/// The updates (row, time, diff) held in a trace's batches.
fn trace_updates<Tr>(trace: &Tr) -> u64
where
    Tr: TraceReader,
    Tr::Batch: differential_dataflow::trace::implementations::spine_fueled::SpineBatch,
{
    use differential_dataflow::trace::implementations::spine_fueled::SpineBatch;
    let mut updates = 0;
    trace.map_spans(|span| {
        if let Some(batch) = &span.inner {
            updates += batch.len() as u64;
        }
    });
    updates
}
