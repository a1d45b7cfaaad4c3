//! Sources that run inside the workers: each worker reads its own share of the
//! connector's data and feeds the source's input at the current logical time, so source
//! data never passes through the coordinator.

use laaster_connectors::datagen::DatagenConfig;
use laaster_connectors::nexmark::{NexmarkGenerator, NexmarkStream, event_to_row};
use laaster_repr::{Datum, Row, ScalarExpr};

/// How a source table produces rows.
#[derive(Clone, Debug)]
pub enum SourceConnector {
    /// The Nexmark event generator; worker `i` of `n` produces its `i`-th share.
    Nexmark(NexmarkStream),
    /// Rows from column specs; worker `i` of `n` produces rows `i, i + n, ...`.
    Datagen(std::sync::Arc<DatagenConfig>),
    /// An external system (Redis Streams, NATS JetStream, files) read through the
    /// connector registry; worker `i` of `n` reads split `i` (see [`crate::external`]).
    External {
        def: std::sync::Arc<laaster_connectors::registry::SourceDef>,
        /// The source's name (for dead-letter rows and logs).
        name: String,
        /// The physical columns: the format decodes them all but the metadata columns.
        columns: laaster_repr::RelationDesc,
        /// Physical columns read from the message's envelope (`METADATA FROM 'key'`).
        metadata: Vec<laaster_connectors::metadata::MetadataColumn>,
        /// Whether messages are rows, changes, or upserts by key.
        changes: crate::external::SourceChanges,
    },
}

/// Events per block of the Nexmark stream a worker reads at a time.
const NEXMARK_BLOCK: i64 = 1024;

/// Where a reader's physical rows come from.
enum Generator {
    External(Box<crate::external::ExternalReader>),
    /// Worker `i` of `n` reads blocks `i, i + n, i + 2n, ...` of [`NEXMARK_BLOCK`] events,
    /// so every worker's event time (and watermark) advances at the same pace. (Flink's
    /// contiguous split would hold the combined watermark at the first split's for the
    /// whole run, keeping every later window open.)
    Nexmark {
        stream: NexmarkStream,
        current: NexmarkGenerator,
        next_block: i64,
        stride: i64,
        /// With `'max-emit-speed' = 'false'`: when the reader started; each event is
        /// emitted once its pacing delay (Flink's wall-clock offset) has elapsed.
        paced: Option<std::time::Instant>,
    },
    Datagen {
        config: std::sync::Arc<DatagenConfig>,
        /// The next row number this worker produces, and the stride between them.
        next: u64,
        stride: u64,
        started: std::time::Instant,
    },
}

/// The next physical row, or why there is none now.
enum Next {
    Row(Row),
    /// A change with its diff (a `debezium-json` source).
    Change(Row, laaster_repr::Diff),
    /// An upsert source's message: the new row for its key, or a deletion of the key
    /// (`row` then holds the key columns, the others NULL); `order` is the message's
    /// position, so a key's later message wins.
    Upsert {
        row: Row,
        order: String,
        deleted: bool,
    },
    /// Rate-limited: nothing more until later.
    Wait,
    Done,
}

impl Generator {
    fn next(&mut self) -> Next {
        match self {
            Generator::External(reader) => match reader.next_row() {
                crate::external::ExternalNext::Row(row) => Next::Row(row),
                crate::external::ExternalNext::Change(row, diff) => Next::Change(row, diff),
                crate::external::ExternalNext::Upsert {
                    row,
                    order,
                    deleted,
                } => Next::Upsert {
                    row,
                    order,
                    deleted,
                },
                crate::external::ExternalNext::Wait => Next::Wait,
                crate::external::ExternalNext::Done => Next::Done,
            },
            Generator::Nexmark {
                stream,
                current,
                next_block,
                stride,
                paced,
            } => loop {
                if let (Some(started), Some(info)) = (paced.as_ref(), current.peek_info())
                    && started.elapsed().as_millis()
                        < u128::try_from(info.emit_offset_ms.max(0)).unwrap_or(0)
                {
                    return Next::Wait;
                }
                if let Some(event) = current.next() {
                    return Next::Row(event_to_row(&event));
                }
                let start = next_block.saturating_mul(NEXMARK_BLOCK);
                if start >= stream.len() {
                    return Next::Done;
                }
                *current = stream.range(start, start.saturating_add(NEXMARK_BLOCK));
                *next_block = next_block.saturating_add(*stride);
            },
            Generator::Datagen {
                config,
                next,
                stride,
                started,
            } => {
                if config.rows.is_some_and(|rows| *next >= rows) {
                    return Next::Done;
                }
                if let Some(rate) = config.rows_per_second {
                    // Rows of the whole stream due by now; this worker's are every stride-th.
                    let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                    if *next >= due {
                        return Next::Wait;
                    }
                }
                let row = config.row(*next);
                *next += *stride;
                Next::Row(row)
            }
        }
    }
}

/// What a worker needs to run a source: the connector, and the computed columns to
/// append to each physical row.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    pub connector: SourceConnector,
    pub physical_arity: usize,
    /// Computed columns, each over the physical row, appended in order.
    pub computed: Vec<ScalarExpr>,
    /// The event-time column (`WATERMARK FOR col`), in the full row.
    pub event_time: Option<usize>,
    /// The watermark expression over the full row (`col - INTERVAL '4' SECOND`).
    pub watermark: Option<ScalarExpr>,
    /// With `'late-data' = 'side-table'`: the table late rows go to (else they are dropped).
    pub late_table: Option<laaster_repr::plan::GlobalId>,
    /// `'scan.retain' = 'true'`: the source keeps every row in an arrangement of its own
    /// (readable by ad hoc queries; memory grows with the stream). Otherwise the source
    /// is streamed: each dataflow that reads it runs its own readers.
    pub retain: bool,
    /// `'source.idle-timeout'`: a reader that produced nothing for this long is idle and
    /// stops holding the combined watermark back until it produces again.
    pub idle_timeout: Option<std::time::Duration>,
    /// `'allowed-lateness'` in microseconds: a row is late (dropped, counted) only when its
    /// event time is behind the watermark by more than this; window operators keep a
    /// window's state this long past its end.
    pub allowed_lateness: i64,
    /// With `'on-error' = 'dead-letter'`: the `<source>_errors` table, fed by a reader of
    /// its own that keeps only the messages that did not decode.
    pub errors_table: Option<laaster_repr::plan::GlobalId>,
    /// `'scan.watermark.alignment.max-drift'` (on by default for the generated sources,
    /// see [`WatermarkAlignment`]).
    pub alignment: Option<std::sync::Arc<WatermarkAlignment>>,
}

/// Watermark alignment: the readers of one consumer of a source (one per worker) publish
/// their watermarks here, and a reader whose watermark is ahead of the slowest other
/// reader's by more than `max_drift` produces nothing until that one catches up.
///
/// Operators combine the readers' watermarks as the minimum, so whatever a fast reader
/// produces past the slowest one's watermark waits in window, join and session state.
/// Without alignment that backlog is bounded by nothing but scheduling: with 2 workers on
/// a loaded machine one reader ran minutes of event time ahead and Nexmark q7 grew to
/// 1.9 GB. With it, the state one reader adds past the combined watermark is bounded by
/// `max_drift` of its events (plus one batch).
///
/// A reader that has not produced a row yet holds the others back (its watermark is
/// unknown); one that is exhausted or idle (`'source.idle-timeout'`) does not. So an
/// external source whose split may stay empty needs an idle timeout to use alignment,
/// as in Flink. The slots are shared memory: all workers are threads of one process.
#[derive(Debug)]
pub struct WatermarkAlignment {
    /// In microseconds of event time.
    pub max_drift: i64,
    groups: std::sync::Mutex<
        std::collections::HashMap<SourceConsumer, std::sync::Arc<[std::sync::atomic::AtomicI64]>>,
    >,
}

impl WatermarkAlignment {
    pub fn new(max_drift: i64) -> Self {
        WatermarkAlignment {
            max_drift,
            groups: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The watermark slots of `consumer`'s readers (created on first use; every slot
    /// starts as "no row yet").
    pub fn slots(
        &self,
        consumer: SourceConsumer,
        workers: usize,
    ) -> std::sync::Arc<[std::sync::atomic::AtomicI64]> {
        let mut groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::sync::Arc::clone(groups.entry(consumer).or_insert_with(|| {
            (0..workers.max(1))
                .map(|_| std::sync::atomic::AtomicI64::new(i64::MIN))
                .collect()
        }))
    }

    /// Forgets `consumer`'s slots (its dataflow is gone).
    pub fn forget(&self, consumer: SourceConsumer) {
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&consumer);
    }
}

/// One reader's place in a [`WatermarkAlignment`] group.
struct Aligned {
    slots: std::sync::Arc<[std::sync::atomic::AtomicI64]>,
    worker: usize,
    max_drift: i64,
}

impl Aligned {
    /// Whether a reader at `watermark` must wait for the slowest other reader.
    fn held_back(&self, watermark: Option<i64>) -> bool {
        let Some(own) = watermark else {
            return false;
        };
        let slowest = self
            .slots
            .iter()
            .enumerate()
            .filter(|(worker, _)| *worker != self.worker)
            .map(|(_, slot)| slot.load(std::sync::atomic::Ordering::Acquire))
            .min()
            .unwrap_or(i64::MAX);
        own > slowest.saturating_add(self.max_drift)
    }

    fn publish(&self, watermark: i64) {
        if let Some(slot) = self.slots.get(self.worker) {
            slot.store(watermark, std::sync::atomic::Ordering::Release);
        }
    }
}

impl SourceSpec {
    /// For an upsert source: the key columns (the dataflow reading it keeps the latest
    /// row per key, see [`crate::upsert`]).
    pub fn upsert_key(&self) -> Option<&[usize]> {
        match &self.connector {
            SourceConnector::External {
                changes: crate::external::SourceChanges::Upsert { key },
                ..
            } => Some(key),
            _ => None,
        }
    }
}

/// One reader's watermark as it flows to the operators of the dataflow it feeds:
/// `(worker, sequence number, watermark in microseconds, idle)`. Each reader sends a new
/// update (with a larger sequence number) whenever its state changes; operators keep,
/// per worker, the update with the largest sequence number. A finished reader sends
/// [`WATERMARK_DONE`]: nothing more will come from it.
pub type WatermarkUpdate = (u64, u64, i64, bool);

/// The watermark of a reader that is exhausted (`+infinity`).
pub const WATERMARK_DONE: i64 = i64::MAX;

/// Who runs a set of readers (one per worker) of a source: the dataflow they feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceConsumer {
    /// The source's own arrangement (`'scan.retain' = 'true'`), or its `<source>_late`
    /// side table (a reader that keeps only the late rows).
    Table(laaster_repr::plan::GlobalId),
    /// A materialized view's dataflow.
    View(laaster_repr::plan::GlobalId),
    /// A subscription's dataflow.
    Subscribe(u64),
}

/// One worker's reader of one source: produces full rows (physical columns, then
/// computed ones), tracks this worker's watermark (the largest watermark value seen), and
/// drops rows whose event time is behind it — counted, never silently.
pub struct SourceReader {
    generator: Generator,
    computed: Vec<ScalarExpr>,
    event_time: Option<usize>,
    watermark_expr: Option<ScalarExpr>,
    /// Rows produced so far by this worker.
    pub emitted: u64,
    /// Rows dropped because their event time was behind the watermark.
    pub late: u64,
    /// Rows dropped because a computed column or the watermark failed to evaluate.
    pub errors: u64,
    /// This worker's watermark, in microseconds, once any row has set it.
    pub watermark: Option<i64>,
    /// Where late rows go, if anywhere.
    pub late_table: Option<laaster_repr::plan::GlobalId>,
    idle_timeout: Option<std::time::Duration>,
    allowed_lateness: i64,
    /// When this reader last produced a row (or started, or was held back by alignment).
    last_row: std::time::Instant,
    /// Its watermark alignment group, if the source aligns.
    aligned: Option<Aligned>,
    /// Rounds in which alignment held this reader back.
    pub held_back: u64,
}

impl SourceReader {
    pub fn new(spec: &SourceSpec, worker: usize, workers: usize) -> Self {
        let generator = match &spec.connector {
            SourceConnector::Nexmark(stream) => Generator::Nexmark {
                stream: stream.clone(),
                current: stream.range(0, 0),
                next_block: worker as i64,
                stride: workers.max(1) as i64,
                paced: (!stream.config().max_emit_speed).then(std::time::Instant::now),
            },
            SourceConnector::External {
                def,
                name,
                columns,
                metadata,
                changes,
            } => Generator::External(Box::new(crate::external::ExternalReader::new(
                std::sync::Arc::clone(def),
                name.clone(),
                (columns, metadata),
                changes.clone(),
                worker,
                workers,
            ))),
            SourceConnector::Datagen(config) => Generator::Datagen {
                config: std::sync::Arc::clone(config),
                next: worker as u64,
                stride: workers.max(1) as u64,
                started: std::time::Instant::now(),
            },
        };
        SourceReader {
            generator,
            computed: spec.computed.clone(),
            event_time: spec.event_time,
            watermark_expr: spec.watermark.clone(),
            emitted: 0,
            late: 0,
            errors: 0,
            watermark: None,
            late_table: spec.late_table,
            idle_timeout: spec.idle_timeout,
            allowed_lateness: spec.allowed_lateness,
            last_row: std::time::Instant::now(),
            aligned: None,
            held_back: 0,
        }
    }

    /// Joins this reader (worker `worker`'s) to its consumer's alignment group.
    pub fn align(
        &mut self,
        alignment: &WatermarkAlignment,
        consumer: SourceConsumer,
        worker: usize,
        workers: usize,
    ) {
        self.aligned = Some(Aligned {
            slots: alignment.slots(consumer, workers),
            worker,
            max_drift: alignment.max_drift,
        });
    }

    /// Whether the reader has produced nothing for longer than `'source.idle-timeout'`.
    pub fn idle(&self) -> bool {
        self.idle_timeout
            .is_some_and(|timeout| self.last_row.elapsed() >= timeout)
    }

    /// The watermark this reader sends to operators: [`WATERMARK_DONE`] once exhausted,
    /// else its watermark (`i64::MIN` before any row), and whether it is idle.
    pub fn watermark_state(&self, done: bool) -> (i64, bool) {
        if done {
            (WATERMARK_DONE, false)
        } else {
            (self.watermark.unwrap_or(i64::MIN), self.idle())
        }
    }

    /// Makes an external reader keep the rows of messages that did not decode (for the
    /// `<source>_errors` table; see [`SourceReader::take_dead_letters`]) and names its
    /// consumer (`'group'` suffix, see [`crate::external`]).
    pub fn set_consumer(&mut self, consumer: &str, keep_dead_letters: bool) {
        if let Generator::External(reader) = &mut self.generator {
            reader.set_consumer(consumer, keep_dead_letters);
        }
    }

    /// The reader's consumer is dropped for good: an external reader closes and releases
    /// what the connector keeps for it (see [`crate::external::ExternalReader::release`]).
    pub fn release(&mut self) {
        if let Generator::External(reader) = &mut self.generator {
            reader.release();
        }
    }

    /// The dead-letter rows gathered since the last call.
    pub fn take_dead_letters(&mut self) -> Vec<Row> {
        match &mut self.generator {
            Generator::External(reader) => std::mem::take(&mut reader.dead_letters),
            _ => Vec::new(),
        }
    }

    /// Produces up to `limit` updates into `out` (late rows into `late`); returns false
    /// once exhausted. Append-only sources give diff 1; `debezium-json` sources give
    /// changes; upsert sources give encoded messages (see [`crate::upsert`]).
    pub fn produce(
        &mut self,
        limit: usize,
        out: &mut Vec<(Row, laaster_repr::Diff)>,
        late: &mut Vec<Row>,
    ) -> bool {
        if let Some(aligned) = &self.aligned
            && aligned.held_back(self.watermark)
        {
            // Waiting for the slowest reader is not idleness.
            self.last_row = std::time::Instant::now();
            self.held_back += 1;
            return true;
        }
        if let Generator::External(reader) = &mut self.generator {
            reader.new_round();
        }
        let more = self.produce_rows(limit, out, late);
        if let Generator::External(reader) = &mut self.generator {
            // Messages that did not decode (and connector errors) count as error rows.
            self.errors += std::mem::take(&mut reader.bad_messages);
        }
        if !out.is_empty() || !late.is_empty() {
            self.last_row = std::time::Instant::now();
        }
        if let Some(aligned) = &self.aligned {
            let (watermark, idle) = self.watermark_state(!more);
            aligned.publish(if idle { WATERMARK_DONE } else { watermark });
        }
        more
    }

    fn produce_rows(
        &mut self,
        limit: usize,
        out: &mut Vec<(Row, laaster_repr::Diff)>,
        late: &mut Vec<Row>,
    ) -> bool {
        for _ in 0..limit {
            let (mut row, diff) = match self.generator.next() {
                Next::Row(row) => (row, 1),
                Next::Change(row, diff) => (row, diff),
                Next::Upsert {
                    row,
                    order,
                    deleted,
                } => {
                    self.produce_upsert(row, order, deleted, out);
                    continue;
                }
                Next::Wait => return true,
                Next::Done => return false,
            };
            if !self.computed.is_empty() {
                let mut values = Vec::with_capacity(self.computed.len());
                for expr in &self.computed {
                    match expr.eval(&row) {
                        Ok(value) => values.push(value),
                        Err(_) => break,
                    }
                }
                if values.len() < self.computed.len() {
                    self.errors += 1;
                    continue;
                }
                for value in values {
                    row.push(value);
                }
            }
            if let (Some(column), Some(watermark)) = (self.event_time, self.watermark)
                && let Some(Datum::Timestamp(time) | Datum::TimestampTz(time)) = row.get(column)
                && *time < watermark.saturating_sub(self.allowed_lateness)
            {
                self.late += 1;
                late.push(row);
                continue;
            }
            if let Some(expr) = &self.watermark_expr {
                match expr.eval(&row) {
                    Ok(Datum::Timestamp(candidate) | Datum::TimestampTz(candidate)) => {
                        self.watermark =
                            Some(self.watermark.map_or(candidate, |w| w.max(candidate)));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        self.errors += 1;
                        continue;
                    }
                }
            }
            out.push((row, diff));
            self.emitted += 1;
        }
        true
    }

    /// An upsert message as the row [`crate::upsert`] reads: the full row (computed
    /// columns NULL for a deletion), then the message's order and whether it deletes.
    /// Changelog sources have no watermark (refused at CREATE), so nothing is late.
    fn produce_upsert(
        &mut self,
        mut row: Row,
        order: String,
        deleted: bool,
        out: &mut Vec<(Row, laaster_repr::Diff)>,
    ) {
        let mut values = Vec::with_capacity(self.computed.len());
        for expr in &self.computed {
            if deleted {
                values.push(Datum::Null);
                continue;
            }
            match expr.eval(&row) {
                Ok(value) => values.push(value),
                Err(_) => {
                    self.errors += 1;
                    return;
                }
            }
        }
        for value in values {
            row.push(value);
        }
        row.push(Datum::text(&order));
        row.push(Datum::Bool(deleted));
        out.push((row, 1));
        self.emitted += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use laaster_connectors::datagen::{DatagenConfig, FieldKind};
    use laaster_repr::{ScalarExpr, ScalarType};

    use super::*;

    /// A datagen source whose one column is an event time one millisecond per row (row
    /// `i` at base + `i` ms; worker `w` of 2 reads the rows `w, w + 2, ...`).
    fn spec(alignment: Option<Arc<WatermarkAlignment>>) -> SourceSpec {
        SourceSpec {
            connector: SourceConnector::Datagen(Arc::new(DatagenConfig {
                rows: Some(10_000),
                rows_per_second: None,
                seed: 7,
                fields: vec![(
                    "ts".into(),
                    ScalarType::Timestamp,
                    FieldKind::Random {
                        min: 0.0,
                        max: 0.0,
                        length: 0,
                    },
                )],
            })),
            physical_arity: 1,
            computed: Vec::new(),
            event_time: Some(0),
            watermark: Some(ScalarExpr::Column(0)),
            late_table: None,
            retain: false,
            idle_timeout: None,
            allowed_lateness: 0,
            errors_table: None,
            alignment,
        }
    }

    /// Runs worker 0's reader for 100 rounds of 10 rows while worker 1's produced one
    /// round; returns both readers.
    fn race(spec: &SourceSpec) -> (SourceReader, SourceReader) {
        let consumer = SourceConsumer::View(1);
        let mut readers: Vec<SourceReader> = (0..2)
            .map(|worker| {
                let mut reader = SourceReader::new(spec, worker, 2);
                if let Some(alignment) = &spec.alignment {
                    reader.align(alignment, consumer, worker, 2);
                }
                reader
            })
            .collect();
        let (mut out, mut late) = (Vec::new(), Vec::new());
        readers[1].produce(10, &mut out, &mut late);
        for _ in 0..100 {
            readers[0].produce(10, &mut out, &mut late);
        }
        let slow = readers.pop().expect("two readers");
        let fast = readers.pop().expect("two readers");
        (fast, slow)
    }

    #[test]
    fn alignment_holds_a_fast_reader_within_the_drift_of_the_slowest() {
        const MILLI: i64 = 1_000;
        // Unaligned, the fast reader runs 1000 rows (2 s of event time) ahead.
        let (fast, slow) = race(&spec(None));
        let ahead = fast.watermark.unwrap() - slow.watermark.unwrap();
        assert!(ahead > 1_900 * MILLI, "{ahead}");

        // Aligned within 50 ms: it stops once past that, at most one batch (10 rows of
        // 2 ms) beyond.
        let alignment = Arc::new(WatermarkAlignment::new(50 * MILLI));
        let spec = spec(Some(Arc::clone(&alignment)));
        let (mut fast, mut slow) = race(&spec);
        let ahead = fast.watermark.unwrap() - slow.watermark.unwrap();
        assert!(ahead <= 50 * MILLI + 20 * MILLI, "{ahead}");
        assert!(fast.held_back > 0);
        assert_eq!(fast.emitted, 40, "four batches before the gate closed");

        // Taking turns, both advance and stay within the drift of each other (one
        // batch beyond); once one is exhausted nothing holds the other back.
        let (mut out, mut late) = (Vec::new(), Vec::new());
        let (mut fast_more, mut slow_more) = (true, true);
        while fast_more || slow_more {
            if slow_more {
                slow_more = slow.produce(10, &mut out, &mut late);
            }
            if fast_more {
                fast_more = fast.produce(10, &mut out, &mut late);
            }
            if fast_more && slow_more {
                let apart = (fast.watermark.unwrap() - slow.watermark.unwrap()).abs();
                assert!(apart <= 50 * MILLI + 20 * MILLI, "{apart}");
            }
        }
        assert_eq!(fast.emitted + slow.emitted, 10_000);
        assert_eq!(out.len(), 10_000 - 50);
    }
}
