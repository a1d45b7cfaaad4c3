//! The coordinator ↔ worker protocol. Every worker receives every command, in the same
//! order (timely requires all workers to build the same dataflows in the same order).

use std::sync::Arc;

use laaster_repr::plan::{GlobalId, Plan, SortKey};
use laaster_repr::{Diff, EvalError, Row, Timestamp};

/// A peek whose reader only needs `count` copies of rows — the first `count` under
/// `order`, or any `count` when `order` is empty (`ORDER BY ... LIMIT`, a bare `LIMIT`).
/// Each worker then answers with at most `count` copies instead of its whole shard; the
/// coordinator finishes the union, which holds the global first `count`.
#[derive(Clone, Debug)]
pub struct PeekLimit {
    pub order: Vec<SortKey>,
    pub count: usize,
}

/// An instruction to all workers.
#[derive(Clone, Debug)]
pub enum Command {
    /// Create the input and arrangement of a table. Its contents start empty.
    CreateTable {
        id: GlobalId,
        name: String,
    },
    /// Register a source table. A streamed source keeps nothing: each dataflow that reads
    /// it later gets its own readers. With `'scan.retain'` the source also gets an input,
    /// an arrangement and this worker's reader feeding it (readable by ad hoc queries);
    /// with `'late-data' = 'side-table'`, the `<source>_late` table and a reader keeping
    /// only the late rows.
    CreateSource {
        id: GlobalId,
        name: String,
        spec: Arc<crate::source::SourceSpec>,
    },
    /// Install a dataflow that maintains `plan` and arranges its result as the
    /// collection `id` (a materialized view). It reads its inputs as of `as_of`.
    CreateView {
        id: GlobalId,
        name: String,
        plan: Arc<Plan>,
        as_of: Timestamp,
    },
    /// Install a sink dataflow (`INSERT INTO sink SELECT ...`): `plan`'s changes flow
    /// into the sink `spec` describes, continuously, until `Drop { id }`.
    CreateSink {
        id: GlobalId,
        plan: Arc<Plan>,
        spec: Arc<crate::sink::SinkSpec>,
    },
    /// Append updates to a table at `time` (at or after the last `AdvanceTime`). Each
    /// worker inserts the rows whose position modulo the worker count is its index.
    Insert {
        id: GlobalId,
        updates: Arc<Vec<(Row, Diff)>>,
        time: Timestamp,
    },
    /// Close all times before `to` on every table input: updates at those times are final.
    AdvanceTime {
        to: Timestamp,
    },
    /// Evaluate `plan` as of `timestamp` in a transient dataflow, answer with the rows,
    /// and drop the dataflow.
    Peek {
        peek_id: u64,
        plan: Arc<Plan>,
        timestamp: Timestamp,
        limit: Option<PeekLimit>,
    },
    /// Install a dataflow for `plan` and stream its changes after `as_of` (and the
    /// contents at `as_of` when `snapshot`), with frontiers, until cancelled.
    Subscribe {
        subscribe_id: u64,
        plan: Arc<Plan>,
        as_of: Timestamp,
        snapshot: bool,
    },
    CancelSubscribe {
        subscribe_id: u64,
    },
    /// Drop a table or view's dataflow and arrangement.
    Drop {
        id: GlobalId,
    },
    /// Allow arrangements to forget the distinction between times before `frontier`.
    AllowCompaction {
        frontier: Timestamp,
    },
    /// Report how many updates each table and view arrangement holds on this worker
    /// (answered with [`Response::ArrangementSizes`]; for metrics).
    ArrangementSizes {
        request_id: u64,
    },
    /// Stop the worker.
    Shutdown,
    /// Make the worker panic, to test that a failing worker is reported rather than
    /// hanging the engine. Never sent by the engine itself.
    #[doc(hidden)]
    InjectFailure,
}

/// An answer from one worker.
#[derive(Debug)]
pub enum Response {
    /// This worker's share of a peek's result (rows with their multiplicities), or the
    /// first evaluation error the query hit.
    Peek {
        peek_id: u64,
        worker: usize,
        result: Result<Vec<(Row, Diff)>, EvalError>,
    },
    /// This worker's updates for a subscription, all at times `< upper`, and the promise
    /// that no more updates at times `< upper` will come from this worker. `upper` is
    /// `None` when the subscription's input is complete forever.
    Subscribe {
        subscribe_id: u64,
        worker: usize,
        updates: Vec<(Row, Timestamp, Diff)>,
        error: Option<EvalError>,
        upper: Option<Timestamp>,
    },
    /// How far this worker's reader of source `id` for `consumer` has got (sent when it
    /// changed).
    SourceProgress {
        id: GlobalId,
        consumer: crate::source::SourceConsumer,
        worker: usize,
        emitted: u64,
        late: u64,
        errors: u64,
        /// The worker's watermark in microseconds.
        watermark: Option<i64>,
        /// The reader is exhausted.
        done: bool,
    },
    /// The number of updates in each table and view arrangement (`oks` and `errs`
    /// traces) this worker holds, by collection.
    ArrangementSizes {
        request_id: u64,
        worker: usize,
        sizes: Vec<(GlobalId, u64)>,
    },
    /// A worker panicked (a bug, never user input): the engine can no longer answer
    /// and must be restarted. The message is the panic's.
    WorkerFailed { worker: usize, message: String },
}
