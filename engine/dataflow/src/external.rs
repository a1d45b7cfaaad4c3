//! External sources in the workers: a connector's reader (Redis Streams, NATS JetStream,
//! files; see `laaster_connectors::registry`) and the table's format, behind the same
//! row-at-a-time interface as the built-in generators.
//!
//! Each worker opens split `worker` of `workers` lazily, on its first poll, so a
//! connection failure is reported by the source (counted in `SHOW SOURCES` errors and
//! retried after a pause) rather than failing `CREATE`. Messages are decoded into rows;
//! a message that does not decode follows the source's `'on-error'`:
//!
//! - `skip` (default): counted as an error row, the stream goes on;
//! - `dead-letter`: counted, and a row `(source, partition, offset, raw, error)` (raw
//!   bytes truncated to 1 KiB) goes to the queryable table `<source>_errors`;
//! - `fail`: counted, and the source stops (its readers report done with the error).
//!
//! A polled batch is acknowledged to the external system once its rows are handed to the
//! dataflow's input (at-least-once while the engine runs; the engine keeps no state
//! across restarts, so a restarted engine resumes from the acknowledged position).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use laaster_connectors::api::{DEAD_LETTER_BYTES, Message, OnError, Poll, SourceReader};
use laaster_connectors::format::Decoder;
use laaster_connectors::registry::SourceDef;
use laaster_repr::{Datum, Row};

/// How long a reader waits before retrying after a connector error.
const RETRY: Duration = Duration::from_secs(1);

/// One worker's reader of an external source.
pub struct ExternalReader {
    def: Arc<SourceDef>,
    source: String,
    split: usize,
    splits: usize,
    reader: Option<Box<dyn SourceReader>>,
    decoder: Box<dyn Decoder>,
    /// Decoded rows not yet handed out.
    rows: VecDeque<Row>,
    /// Dead-letter rows (`'on-error' = 'dead-letter'`), kept for the `<source>_errors`
    /// table. Not yet routed: the engine refuses 'dead-letter' at CREATE time.
    pub dead_letters: Vec<Row>,
    /// Messages that did not decode (and connector errors).
    pub bad_messages: u64,
    /// The last connector error, for `SHOW SOURCES`.
    pub last_error: Option<String>,
    /// Not before this instant (after an error).
    paused_until: Option<Instant>,
    failed: bool,
    done: bool,
    /// The batch whose rows are being handed out, acknowledged once all are.
    to_commit: Option<laaster_connectors::api::Position>,
    messages: Vec<Message>,
    scratch: Vec<(Row, laaster_repr::Diff)>,
}

impl std::fmt::Debug for ExternalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalReader")
            .field("source", &self.source)
            .field("split", &self.split)
            .finish()
    }
}

/// What the reader has now.
pub enum ExternalNext {
    Row(Row),
    Wait,
    Done,
}

impl ExternalReader {
    pub fn new(
        def: Arc<SourceDef>,
        source: String,
        columns: &laaster_repr::RelationDesc,
        split: usize,
        splits: usize,
    ) -> Self {
        let decoder = def.format.decoder(columns);
        ExternalReader {
            def,
            source,
            split,
            splits,
            reader: None,
            decoder,
            rows: VecDeque::new(),
            dead_letters: Vec::new(),
            bad_messages: 0,
            last_error: None,
            paused_until: None,
            failed: false,
            done: false,
            to_commit: None,
            messages: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn error(&mut self, message: String) {
        tracing::warn!(source = %self.source, split = self.split, "{message}");
        self.last_error = Some(message);
        self.paused_until = Some(Instant::now() + RETRY);
    }

    /// The next row, polling the connector when the buffer is empty.
    pub fn next_row(&mut self) -> ExternalNext {
        if let Some(row) = self.rows.pop_front() {
            return ExternalNext::Row(row);
        }
        if let Some(position) = self.to_commit.take()
            && let Some(reader) = self.reader.as_mut()
            && let Err(e) = reader.commit(&position)
        {
            self.error(format!("cannot acknowledge {position}: {e}"));
        }
        if self.failed || self.done {
            return ExternalNext::Done;
        }
        if self
            .paused_until
            .is_some_and(|until| Instant::now() < until)
        {
            return ExternalNext::Wait;
        }
        if self.reader.is_none() {
            match self.def.config.open(self.split, self.splits) {
                Ok(reader) => self.reader = Some(reader),
                Err(e) => {
                    self.bad_messages += 1;
                    self.error(format!("cannot open the source: {e}"));
                    return ExternalNext::Wait;
                }
            }
        }
        let Some(reader) = self.reader.as_mut() else {
            return ExternalNext::Wait;
        };
        self.messages.clear();
        match reader.poll(1024, Duration::ZERO, &mut self.messages) {
            Err(e) => {
                self.bad_messages += 1;
                // Reconnect on the next attempt.
                self.reader = None;
                self.error(format!("reading failed: {e}"));
                return ExternalNext::Wait;
            }
            Ok(Poll::Done) => self.done = true,
            Ok(Poll::Idle) => return ExternalNext::Wait,
            Ok(Poll::Ready) => {}
        }
        let messages = std::mem::take(&mut self.messages);
        for message in &messages {
            self.scratch.clear();
            match self.decoder.decode(&message.payload, &mut self.scratch) {
                Ok(()) => {
                    for (row, diff) in self.scratch.drain(..) {
                        // Formats with retractions (debezium-json) are refused for sources
                        // at CREATE time; an insert-only format gives diff 1.
                        for _ in 0..diff.max(0) {
                            self.rows.push_back(row.clone());
                        }
                    }
                }
                Err(e) => {
                    self.bad_messages += 1;
                    match self.def.on_error {
                        OnError::Skip => {}
                        OnError::DeadLetter => {
                            let raw =
                                &message.payload[..message.payload.len().min(DEAD_LETTER_BYTES)];
                            self.dead_letters.push(Row::new(vec![
                                Datum::text(&self.source),
                                Datum::text(&message.position.partition),
                                Datum::text(&message.position.offset),
                                Datum::Bytes(Arc::from(raw)),
                                Datum::text(&e.to_string()),
                            ]));
                        }
                        OnError::Fail => {
                            self.failed = true;
                            self.last_error = Some(format!(
                                "stopped at {} ('on-error' = 'fail'): {e}",
                                message.position
                            ));
                            break;
                        }
                    }
                }
            }
        }
        self.to_commit = messages.last().map(|m| m.position.clone());
        self.messages = messages;
        match self.rows.pop_front() {
            Some(row) => ExternalNext::Row(row),
            None if self.done || self.failed => ExternalNext::Done,
            None => ExternalNext::Wait,
        }
    }
}

/// An external sink's checked definition, shared by the workers (compared by identity).
#[derive(Clone, Debug)]
pub struct ExternalSink(pub Arc<laaster_connectors::registry::SinkDef>);

impl PartialEq for ExternalSink {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ExternalSink {}

/// Writes a sink dataflow's changes to an external system: each worker opens its writer
/// (lazily, retrying after a pause on failure), buffers the changes of times not yet
/// complete, and once the input frontier passes them, writes them in time order
/// (consolidated per time, retractions first) and calls `complete(frontier)`. Rows and
/// failures are counted in the sink's counters (`SHOW SINKS`).
pub fn render_external_sink(
    oks: crate::render::RowCollection<'_>,
    sink: &ExternalSink,
    counters: Arc<crate::sink::SinkCounters>,
    worker: usize,
    peers: usize,
) {
    use std::sync::atomic::Ordering;

    use differential_dataflow::consolidation::consolidate_updates;
    use timely::dataflow::channels::pact::Pipeline;
    use timely::dataflow::operators::generic::operator::Operator;

    let def = Arc::clone(&sink.0);
    let mut writer: Option<Box<dyn laaster_connectors::api::SinkWriter>> = None;
    let mut retry_after: Option<Instant> = None;
    let mut pending: Vec<(Row, laaster_repr::Timestamp, laaster_repr::Diff)> = Vec::new();
    let mut completed: Option<laaster_repr::Timestamp> = None;
    oks.inner
        .sink(Pipeline, "ExternalSink", move |(input, frontier)| {
            input.for_each(|_capability, data| {
                pending.append(data);
            });
            let upper = frontier.frontier().first().copied();
            let ready: Vec<_> = match upper {
                Some(upper) => {
                    let (ready, later): (Vec<_>, Vec<_>) =
                        pending.drain(..).partition(|(_, time, _)| *time < upper);
                    pending = later;
                    ready
                }
                None => std::mem::take(&mut pending),
            };
            if ready.is_empty() && upper == completed {
                return;
            }
            if writer.is_none() && retry_after.is_none_or(|t| Instant::now() >= t) {
                match def.config.open(worker, peers) {
                    Ok(w) => writer = Some(w),
                    Err(e) => {
                        tracing::warn!(worker, "cannot open the sink: {e}");
                        retry_after = Some(Instant::now() + RETRY);
                    }
                }
            }
            let Some(w) = writer.as_mut() else {
                // Keep the changes until the writer opens.
                pending.extend(ready);
                return;
            };
            let mut ready = ready;
            consolidate_updates(&mut ready);
            ready.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)));
            for (_, _, diff) in &ready {
                if *diff > 0 {
                    counters
                        .inserted
                        .fetch_add(diff.unsigned_abs(), Ordering::Relaxed);
                } else {
                    counters
                        .retracted
                        .fetch_add(diff.unsigned_abs(), Ordering::Relaxed);
                }
            }
            let result = w
                .write(&ready)
                .and_then(|()| w.complete(upper.unwrap_or(laaster_repr::Timestamp::MAX)));
            if let Err(e) = result {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(worker, "the sink failed to write: {e}");
                // Written again once the writer reopens (at-least-once).
                pending.extend(ready);
                writer = None;
                retry_after = Some(Instant::now() + RETRY);
            }
            completed = upper;
        });
}
