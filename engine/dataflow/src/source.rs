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
    /// When this reader last produced a row (or started).
    last_row: std::time::Instant,
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
        }
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
