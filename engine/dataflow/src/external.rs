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
//! - `dead-letter`: counted, and a row `(source, partition, offset, payload, raw, error,
//!   received_at)` (payload truncated to 1 KiB) goes to the queryable table
//!   `<source>_errors`. That table is fed by a reader of its own (consumer
//!   `<source>_errors`), so each bad message lands there once however many views read
//!   the source;
//! - `fail`: counted, and the source stops (its readers report done with the error).
//!
//! Messages are rows ([`SourceChanges::Append`]), changes (`debezium-json`) or upserts by
//! key (`'scan.mode' = 'upsert'`; the latest row per key is kept by [`crate::upsert`]).
//!
//! Every reader reads for one consumer (a view, a subscription, a sink dataflow, the
//! dead-letter table) and opens its split with [`SourceConfig::open_for`] naming it:
//! connectors with consumer groups (Redis Streams) or durable consumers (NATS JetStream)
//! give each consumer its own group, `<group>-<consumer>`, so every view reads every
//! message instead of sharing them out.
//!
//! [`SourceConfig::open_for`]: laaster_connectors::api::SourceConfig::open_for
//!
//! A polled batch is acknowledged to the external system once its rows are handed to the
//! dataflow's input (at-least-once while the engine runs; the engine keeps no state
//! across restarts, so a restarted engine resumes from the acknowledged position).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use laaster_connectors::api::{DEAD_LETTER_BYTES, Message, OnError, Poll, SourceReader};
use laaster_connectors::format::{Decoder, FormatError};
use laaster_connectors::metadata::MetadataColumn;
use laaster_connectors::registry::SourceDef;
use laaster_repr::{Datum, Row};

/// How long a reader waits before retrying after a connector error.
const RETRY: Duration = Duration::from_secs(1);

/// What a source's messages stand for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceChanges {
    /// Each message is rows to insert (`json`, `csv`, `raw`).
    Append,
    /// Each message is changes (`debezium-json`): inserts, deletes, or both for an update.
    Debezium,
    /// `'scan.mode' = 'upsert'`: each message is the new row of its key (the declared
    /// PRIMARY KEY's columns); a message that decodes to no row (an empty value, JSON
    /// `null`, a Debezium tombstone) or only to a retraction (a Debezium delete) deletes
    /// the key. The dataflow keeps the latest row per key (see [`crate::upsert`]).
    Upsert { key: Vec<usize> },
}

/// One decoded message's worth of output, queued until handed out.
enum Item {
    Row(Row, laaster_repr::Diff),
    Upsert {
        row: Row,
        order: String,
        deleted: bool,
    },
}

/// One worker's reader of an external source.
pub struct ExternalReader {
    /// Whether the connector was polled since the last [`ExternalReader::new_round`]: a
    /// worker's turn polls at most once, so a steady trickle of messages cannot keep the
    /// worker in the reader (time, and with it every downstream result, would wait).
    polled: bool,
    def: Arc<SourceDef>,
    source: String,
    split: usize,
    splits: usize,
    changes: SourceChanges,
    /// The consumer this reader reads for (a view, a subscription, the dead-letter
    /// table): connectors with consumer groups give each consumer its own group.
    consumer: Option<String>,
    reader: Option<Box<dyn SourceReader>>,
    decoder: Box<dyn Decoder>,
    /// Upsert sources: decodes a message key (a JSON object of key fields, or the one
    /// key column's value) into a row with the key columns set.
    key_decoder: Option<Box<dyn Decoder>>,
    /// The physical columns (value columns and metadata columns).
    columns: laaster_repr::RelationDesc,
    /// The metadata columns, by physical index; the decoders produce the other columns.
    metadata: Vec<MetadataColumn>,
    /// Decoded updates not yet handed out.
    items: VecDeque<Item>,
    /// Whether to keep dead-letter rows (only the reader feeding `<source>_errors`).
    keep_dead_letters: bool,
    /// Dead-letter rows (`'on-error' = 'dead-letter'`) for the `<source>_errors` table:
    /// `(source, partition, offset, payload, raw, error, received_at)`.
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
    /// A change (`debezium-json`): the row and its diff.
    Change(Row, laaster_repr::Diff),
    /// An upsert message (see [`SourceChanges::Upsert`]).
    Upsert {
        row: Row,
        order: String,
        deleted: bool,
    },
    Wait,
    Done,
}

/// A message's position as a string that sorts in message order: the partition, then
/// each run of digits of the offset zero-padded (Redis ids `ms-seq`, sequences, lines).
pub fn position_order(position: &laaster_connectors::api::Position) -> String {
    let mut order = String::with_capacity(position.partition.len() + 48);
    order.push_str(&position.partition);
    order.push('\u{1}');
    let mut digits = String::new();
    for c in position.offset.chars().chain(std::iter::once('\u{0}')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            order.push_str(&format!("{digits:0>20}"));
            digits.clear();
        }
        if c != '\u{0}' {
            order.push(c);
        }
    }
    order
}

/// A consumer name as connectors accept it in group and durable names.
fn consumer_name(consumer: &str) -> String {
    consumer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl ExternalReader {
    /// A reader of split `split` of `splits`; `columns` are the physical columns and the
    /// metadata columns among them (the format decodes the others).
    pub fn new(
        def: Arc<SourceDef>,
        source: String,
        (columns, metadata): (&laaster_repr::RelationDesc, &[MetadataColumn]),
        changes: SourceChanges,
        split: usize,
        splits: usize,
    ) -> Self {
        let values = laaster_repr::RelationDesc::new(
            columns
                .columns
                .iter()
                .enumerate()
                .filter(|(index, _)| !metadata.iter().any(|m| m.index == *index))
                .map(|(_, column)| column.clone())
                .collect(),
        );
        let decoder = def.format.decoder(&values);
        let key_decoder = matches!(changes, SourceChanges::Upsert { .. })
            .then(|| laaster_connectors::format::Format::Json(Default::default()).decoder(&values));
        ExternalReader {
            polled: false,
            def,
            source,
            split,
            splits,
            changes,
            consumer: None,
            reader: None,
            decoder,
            key_decoder,
            columns: columns.clone(),
            metadata: metadata.to_vec(),
            items: VecDeque::new(),
            keep_dead_letters: false,
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

    /// The consumer is gone for good (its view, subscription or source was dropped):
    /// closes the connector's reader and has the connector delete what it keeps for the
    /// consumer (a consumer group, a durable consumer, a replication slot; see
    /// `SourceConfig::release`). A failure is logged: there is no one left to tell.
    pub fn release(&mut self) {
        if let Some(mut reader) = self.reader.take() {
            reader.close();
        }
        let Some(consumer) = self.consumer.as_deref() else {
            return;
        };
        match self.def.config.release(consumer, self.split, self.splits) {
            Ok(()) => {
                tracing::debug!(source = %self.source, consumer, split = self.split, "released the consumer")
            }
            Err(e) => tracing::warn!(
                source = %self.source,
                consumer,
                split = self.split,
                "cannot release the consumer: {e}{}",
                e.hint.as_deref().map(|h| format!(" (hint: {h})")).unwrap_or_default()
            ),
        }
    }

    /// Names the consumer this reader reads for, and whether it keeps dead letters.
    pub fn set_consumer(&mut self, consumer: &str, keep_dead_letters: bool) {
        self.consumer = Some(consumer_name(consumer));
        self.keep_dead_letters = keep_dead_letters;
    }

    fn error(&mut self, message: String) {
        tracing::warn!(source = %self.source, split = self.split, "{message}");
        self.last_error = Some(message);
        self.paused_until = Some(Instant::now() + RETRY);
    }

    fn next_item(&mut self) -> Option<ExternalNext> {
        Some(match self.items.pop_front()? {
            Item::Row(row, 1) => ExternalNext::Row(row),
            Item::Row(row, diff) => ExternalNext::Change(row, diff),
            Item::Upsert {
                row,
                order,
                deleted,
            } => ExternalNext::Upsert {
                row,
                order,
                deleted,
            },
        })
    }

    /// Starts a worker's turn: the next empty buffer may poll the connector again.
    pub fn new_round(&mut self) {
        self.polled = false;
    }

    /// The next row, polling the connector when the buffer is empty (at most once per
    /// round, see [`ExternalReader::new_round`]).
    pub fn next_row(&mut self) -> ExternalNext {
        if let Some(next) = self.next_item() {
            return next;
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
            let opened = match &self.consumer {
                Some(consumer) => self.def.config.open_for(consumer, self.split, self.splits),
                None => self.def.config.open(self.split, self.splits),
            };
            match opened {
                Ok(reader) => self.reader = Some(reader),
                Err(e) => {
                    self.bad_messages += 1;
                    self.error(format!("cannot open the source: {e}"));
                    return ExternalNext::Wait;
                }
            }
        }
        if std::mem::replace(&mut self.polled, true) {
            return ExternalNext::Wait;
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
            if let Err(e) = self.decode(message) {
                self.bad_messages += 1;
                match self.def.on_error {
                    OnError::Skip => {}
                    OnError::DeadLetter => {
                        if self.keep_dead_letters {
                            self.dead_letters.push(self.dead_letter(message, &e));
                        }
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
        self.to_commit = messages.last().map(|m| m.position.clone());
        self.messages = messages;
        match self.next_item() {
            Some(next) => next,
            None if self.done || self.failed => ExternalNext::Done,
            None => ExternalNext::Wait,
        }
    }

    /// Decodes one message into queued items; on error nothing is queued.
    fn decode(&mut self, message: &Message) -> Result<(), FormatError> {
        self.scratch.clear();
        // An upsert source's empty or null value is a deletion of the message's key.
        let no_value = matches!(self.changes, SourceChanges::Upsert { .. })
            && matches!(
                std::str::from_utf8(&message.payload).map(str::trim),
                Ok("" | "null")
            );
        if !no_value {
            self.decoder.decode(&message.payload, &mut self.scratch)?;
            self.add_metadata(message)?;
        }
        match &self.changes {
            SourceChanges::Append => {
                for (row, diff) in self.scratch.drain(..) {
                    // An insert-only format gives diff 1.
                    for _ in 0..diff.max(0) {
                        self.items.push_back(Item::Row(row.clone(), 1));
                    }
                }
            }
            SourceChanges::Debezium => {
                for (row, diff) in self.scratch.drain(..) {
                    self.items.push_back(Item::Row(row, diff));
                }
            }
            SourceChanges::Upsert { key } => {
                let key = key.clone();
                let inserted = self.scratch.iter().rev().find(|(_, d)| *d > 0);
                let retracted = self.scratch.iter().rev().find(|(_, d)| *d < 0);
                let (row, deleted) = match (inserted, retracted) {
                    (Some((row, _)), _) => (row.clone(), false),
                    (None, Some((row, _))) => (key_only(row, &key), true),
                    (None, None) => (self.decode_key(message, &key)?, true),
                };
                if let Some(column) = key.iter().find(|&&c| row.get(c) == Some(&Datum::Null)) {
                    let name = &self.columns.columns[*column].name;
                    return Err(FormatError::new(format!(
                        "the message has no value for key column \"{name}\""
                    ))
                    .at(name.clone())
                    .hint("an upsert source needs every PRIMARY KEY column in each message"));
                }
                self.items.push_back(Item::Upsert {
                    row,
                    order: position_order(&message.position),
                    deleted,
                });
            }
        }
        Ok(())
    }

    /// Puts the metadata columns' values into the decoded rows in `scratch`, at their
    /// positions among the physical columns.
    fn add_metadata(&mut self, message: &Message) -> Result<(), FormatError> {
        if self.metadata.is_empty() {
            return Ok(());
        }
        let values = self
            .metadata
            .iter()
            .map(|column| column.value(message))
            .collect::<Result<Vec<_>, _>>()?;
        for (row, _) in &mut self.scratch {
            *row = with_metadata(row, &self.metadata, &values);
        }
        Ok(())
    }

    /// The key of a message without a value (a deletion), from the message's key.
    fn decode_key(&mut self, message: &Message, key: &[usize]) -> Result<Row, FormatError> {
        if key
            .iter()
            .all(|column| self.metadata.iter().any(|m| m.index == *column))
        {
            // The key is metadata (`k BYTES METADATA FROM 'key'`): nothing to decode.
            let values = self
                .metadata
                .iter()
                .map(|column| column.value(message))
                .collect::<Result<Vec<_>, _>>()?;
            let nulls = Row::new(vec![
                Datum::Null;
                self.columns.arity() - self.metadata.len()
            ]);
            return Ok(key_only(
                &with_metadata(&nulls, &self.metadata, &values),
                key,
            ));
        }
        let Some(bytes) = message.key.as_deref() else {
            return Err(FormatError::new(
                "the message has no value and no key: an upsert source cannot tell which key it deletes",
            )
            .hint("a deletion is a message whose key is the row's key and whose value is empty or null"));
        };
        let Some(decoder) = self.key_decoder.as_mut() else {
            return Err(FormatError::new("internal error: no key decoder"));
        };
        // A JSON object of the key fields; else the one key column's value, as JSON or
        // as text.
        let mut out = Vec::new();
        if decoder.decode(bytes, &mut out).is_err() || out.is_empty() {
            out.clear();
            let [column] = key else {
                return Err(FormatError::new(
                    "the message key must be a JSON object of the key columns (the key has several columns)",
                )
                .at("key"));
            };
            let name = json_string(&self.columns.columns[*column].name);
            let text = String::from_utf8_lossy(bytes);
            let as_json = format!("{{{name}:{text}}}");
            if decoder.decode(as_json.as_bytes(), &mut out).is_err() {
                out.clear();
                let as_text = format!("{{{name}:{}}}", json_string(&text));
                decoder.decode(as_text.as_bytes(), &mut out).map_err(|e| {
                    FormatError::new(format!("the message key does not decode: {e}")).at("key")
                })?;
            }
        }
        match out.pop() {
            Some((row, _)) => {
                let values = self
                    .metadata
                    .iter()
                    .map(|column| column.value(message))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(key_only(&with_metadata(&row, &self.metadata, &values), key))
            }
            None => Err(FormatError::new("the message key is empty").at("key")),
        }
    }

    /// The `<source>_errors` row for a message that did not decode.
    fn dead_letter(&self, message: &Message, error: &FormatError) -> Row {
        let raw = &message.payload[..message.payload.len().min(DEAD_LETTER_BYTES)];
        let received = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        Row::new(vec![
            Datum::text(&self.source),
            Datum::text(&message.position.partition),
            Datum::text(&message.position.offset),
            Datum::text(&String::from_utf8_lossy(raw)),
            Datum::Bytes(Arc::from(raw)),
            Datum::text(&error.to_string()),
            Datum::TimestampTz(received),
        ])
    }
}

impl Drop for ExternalReader {
    /// Closes the connector's reader (at shutdown, or when the consumer is dropped and
    /// [`ExternalReader::release`] did not already).
    fn drop(&mut self) {
        if let Some(reader) = self.reader.as_mut() {
            reader.close();
        }
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The physical row of decoded value columns `row` and metadata `values` (one per
/// column of `metadata`, which is ordered by position).
fn with_metadata(row: &Row, metadata: &[MetadataColumn], values: &[Datum]) -> Row {
    let mut decoded = row.iter();
    let arity = row.len() + metadata.len();
    (0..arity)
        .map(
            |index| match metadata.iter().position(|m| m.index == index) {
                Some(m) => values[m].clone(),
                None => decoded.next().cloned().unwrap_or(Datum::Null),
            },
        )
        .collect()
}

/// `row` with only the `key` columns kept (the others NULL).
fn key_only(row: &Row, key: &[usize]) -> Row {
    row.iter()
        .enumerate()
        .map(|(index, datum)| {
            if key.contains(&index) {
                datum.clone()
            } else {
                Datum::Null
            }
        })
        .collect()
}

/// The columns of a source's `<source>_errors` table (rows from
/// [`ExternalReader`]'s dead letters).
pub fn dead_letter_columns() -> laaster_repr::RelationDesc {
    use laaster_repr::{Column, ColumnType, ScalarType};
    let column = |name: &str, scalar: ScalarType| Column {
        name: name.into(),
        typ: ColumnType::new(scalar, false),
    };
    laaster_repr::RelationDesc::new(vec![
        column("source", ScalarType::Text),
        column("partition", ScalarType::Text),
        column("offset", ScalarType::Text),
        column("payload", ScalarType::Text),
        column("raw", ScalarType::Bytea),
        column("error", ScalarType::Text),
        column("received_at", ScalarType::TimestampTz),
    ])
}

/// How a sink turns a view's changes into the records it writes (`'sink.mode'`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkMode {
    /// Insertions only (Flink's default for message systems). A retraction cannot be
    /// written: it is counted as an error, reported in `SHOW SINKS` and the log, and
    /// skipped; the sink goes on.
    AppendOnly,
    /// Keyed by `key` (column indexes): for each key changed at a time, the key's new row
    /// is written as an insertion (the connector's upsert), or, when the key is gone,
    /// its last row as a retraction (the connector's delete or tombstone). An update is
    /// one record, not a delete and an insert. Each worker owns the keys that hash to it
    /// and counts the rows per key, so a key with several rows (not unique in the view)
    /// is counted as an error.
    Upsert { key: Vec<usize> },
    /// Every change as a Debezium change record (the format is `debezium-json`):
    /// insertions as `"op": "c"` with `after`, retractions as `"op": "d"` with `before`;
    /// an update is a delete of the old row then a create of the new one, as Flink's
    /// `debezium-json` writer emits it.
    Debezium,
}

impl SinkMode {
    /// The `'sink.mode'` value this mode is written as.
    pub fn name(&self) -> &'static str {
        match self {
            SinkMode::AppendOnly => "append-only",
            SinkMode::Upsert { .. } => "upsert",
            SinkMode::Debezium => "debezium",
        }
    }
}

/// An external sink's checked definition and mode, shared by the workers (compared by
/// identity).
#[derive(Clone, Debug)]
pub struct ExternalSink {
    pub def: Arc<laaster_connectors::registry::SinkDef>,
    pub mode: SinkMode,
    /// The sink's name, for errors.
    pub name: String,
}

impl PartialEq for ExternalSink {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.def, &other.def)
    }
}

impl Eq for ExternalSink {}

type Update = (Row, laaster_repr::Timestamp, laaster_repr::Diff);

/// Applies the sink's mode to one completed batch of consolidated changes (sorted by
/// time, retractions first), returning the records to write. `keys` is this worker's
/// row count per key (upsert mode).
fn apply_mode(
    sink: &ExternalSink,
    keys: &mut std::collections::HashMap<Row, laaster_repr::Diff>,
    ready: Vec<Update>,
    counters: &crate::sink::SinkCounters,
) -> Vec<Update> {
    use std::sync::atomic::Ordering;

    match &sink.mode {
        SinkMode::Debezium => ready,
        SinkMode::AppendOnly => {
            let (insertions, retractions): (Vec<_>, Vec<_>) =
                ready.into_iter().partition(|(_, _, diff)| *diff > 0);
            if let Some((row, time, _)) = retractions.first() {
                let count: u64 = retractions.iter().map(|(_, _, d)| d.unsigned_abs()).sum();
                counters.errors.fetch_add(count, Ordering::Relaxed);
                let message = format!(
                    "sink \"{}\" is append-only but its input retracted {count} row(s) at time {time} (the first: {}); they were not written",
                    sink.name,
                    crate::sink::format_change(row, false)
                );
                tracing::warn!(sink = %sink.name, "{message}");
                counters.set_last_error(format!(
                    "{message}. Hint: declare the sink with 'sink.mode' = 'upsert' (and a key) or 'debezium' to write changes."
                ));
            }
            insertions
        }
        SinkMode::Upsert { key } => {
            let mut out = Vec::new();
            let mut start = 0;
            while start < ready.len() {
                let time = ready[start].1;
                let end = start + ready[start..].iter().take_while(|u| u.1 == time).count();
                upsert_time(
                    sink,
                    key,
                    keys,
                    &ready[start..end],
                    time,
                    counters,
                    &mut out,
                );
                start = end;
            }
            out
        }
    }
}

/// One time's changes in upsert mode: one record per changed key.
fn upsert_time(
    sink: &ExternalSink,
    key: &[usize],
    keys: &mut std::collections::HashMap<Row, laaster_repr::Diff>,
    changes: &[Update],
    time: laaster_repr::Timestamp,
    counters: &crate::sink::SinkCounters,
    out: &mut Vec<Update>,
) {
    use std::sync::atomic::Ordering;

    // Per key: the row inserted, the row retracted, and the net change in rows.
    let mut changed: std::collections::BTreeMap<Row, (Option<&Row>, Option<&Row>, i64)> =
        std::collections::BTreeMap::new();
    for (row, _, diff) in changes {
        let entry = changed.entry(row.project(key)).or_default();
        entry.2 += diff;
        if *diff > 0 {
            entry.0 = Some(row);
        } else {
            entry.1 = Some(row);
        }
    }
    for (key_row, (inserted, retracted, delta)) in changed {
        let before = keys.get(&key_row).copied().unwrap_or(0);
        let after = before + delta;
        match (inserted, after) {
            (Some(row), 1..) => out.push((row.clone(), time, 1)),
            (None, 0) => {
                if let Some(row) = retracted {
                    out.push((row.clone(), time, -1));
                }
            }
            _ => {}
        }
        if !(0..=1).contains(&after) || (inserted.is_none() && after > 0) {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            let message = format!(
                "sink \"{}\": key {} has {after} rows in the input at time {time}; an upsert sink needs one row per key",
                sink.name,
                crate::sink::format_change(&key_row, true)
            );
            tracing::warn!(sink = %sink.name, "{message}");
            counters.set_last_error(format!(
                "{message}. Hint: choose key columns that are unique in the input ('sink.key' or the PRIMARY KEY)."
            ));
        }
        if after == 0 {
            keys.remove(&key_row);
        } else {
            keys.insert(key_row, after);
        }
    }
}

/// Writes a sink dataflow's changes to an external system: each worker opens its writer
/// (lazily, retrying after a pause on failure), buffers the changes of times not yet
/// complete, and once the input frontier passes them, applies the sink's [`SinkMode`] to
/// them (consolidated per time, in time order, retractions first), writes the records
/// and calls `complete(frontier)`. In upsert mode the changes are first exchanged by key,
/// so one worker writes every change of a key, in time order. Rows and failures are
/// counted in the sink's counters (`SHOW SINKS`).
pub fn render_external_sink(
    oks: crate::render::RowCollection<'_>,
    sink: &ExternalSink,
    counters: Arc<crate::sink::SinkCounters>,
    worker: usize,
    peers: usize,
) {
    use std::sync::atomic::Ordering;

    use differential_dataflow::Hashable;
    use differential_dataflow::consolidation::consolidate_updates;
    use timely::dataflow::channels::pact::Exchange;
    use timely::dataflow::operators::generic::operator::Operator;

    let sink = sink.clone();
    let route_key = match &sink.mode {
        SinkMode::Upsert { key } => Some(key.clone()),
        _ => None,
    };
    // Upsert: a key's changes go to one worker. Otherwise each worker writes its own.
    let exchange = Exchange::new(move |(row, _, _): &Update| match &route_key {
        Some(key) => row.project(key).hashed(),
        None => worker as u64,
    });
    let mut writer: Option<Box<dyn laaster_connectors::api::SinkWriter>> = None;
    let mut retry_after: Option<Instant> = None;
    let mut pending: Vec<Update> = Vec::new();
    let mut completed: Option<laaster_repr::Timestamp> = None;
    let mut keys = std::collections::HashMap::new();
    let mut unwritten: Vec<Update> = Vec::new();
    oks.inner
        .sink(exchange, "ExternalSink", move |(input, frontier)| {
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
            if ready.is_empty() && unwritten.is_empty() && upper == completed {
                return;
            }
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
            // The mode's state (upsert key counts) advances once per change; records that
            // could not be written wait in `unwritten` and are written first next time.
            unwritten.extend(apply_mode(&sink, &mut keys, ready, &counters));
            if writer.is_none() && retry_after.is_none_or(|t| Instant::now() >= t) {
                match sink.def.config.open(worker, peers) {
                    Ok(w) => writer = Some(w),
                    Err(e) => {
                        counters.set_last_error(format!("cannot open the sink: {e}"));
                        tracing::warn!(sink = %sink.name, worker, "cannot open the sink: {e}");
                        retry_after = Some(Instant::now() + RETRY);
                    }
                }
            }
            let Some(w) = writer.as_mut() else {
                return;
            };
            let result = w
                .write(&unwritten)
                .and_then(|()| w.complete(upper.unwrap_or(laaster_repr::Timestamp::MAX)));
            match result {
                Ok(()) => {
                    unwritten.clear();
                    counters.record_frontier(worker, upper);
                }
                Err(e) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    counters.set_last_error(format!("writing failed: {e}"));
                    tracing::warn!(sink = %sink.name, worker, "the sink failed to write: {e}");
                    // Written again once the writer reopens (at-least-once).
                    writer = None;
                    retry_after = Some(Instant::now() + RETRY);
                }
            }
            completed = upper;
        });
}
