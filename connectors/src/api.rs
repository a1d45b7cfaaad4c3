//! The connector contract: how external systems feed sources and receive sink output.
//!
//! # Sources
//!
//! ```text
//! CREATE TABLE t (...) WITH ('connector' = 'redis-streams', 'format' = 'json', ...)
//!        │ registry: the connector's typed options parse and check every key (unknown or
//!        │ missing options are refused here, at CREATE time, with a hint)
//!        ▼
//!   SourceConfig ──open(split, splits)──▶ SourceReader      (one per timely worker)
//!                                            │ poll(max) → Messages (payload bytes + position)
//!                                            │   decoded by the table's Format; a message that does
//!                                            │   not decode goes to the 'on-error' policy
//!                                            │ commit(position) once the rows are in the dataflow
//!                                            ▼
//!                                         close() when the table or the reading view is dropped
//! ```
//!
//! Who calls what, in which order:
//!
//! 1. At `CREATE`, the engine builds the connector's configuration from the `WITH`
//!    options; every error is reported then, not at the first message.
//! 2. Each worker `i` of `n` calls [`SourceConfig::open`]`(i, n)`: the reader owns the
//!    share of the input's partitions (Kafka partitions, stream consumers, files) that
//!    the connector assigns to split `i`, so every partition is read by exactly one
//!    worker.
//!    Each consumer of a source (a view, a subscription, a dead-letter table) runs its
//!    own readers, opened with [`SourceConfig::open_for`] naming the consumer, so a
//!    connector with consumer groups gives each consumer its own and every consumer
//!    reads every message.
//! 3. The worker calls [`SourceReader::poll`] in its step loop. `poll` never blocks for
//!    long (it waits at most `timeout`); it returns [`Poll::Ready`] with messages,
//!    [`Poll::Idle`] when nothing is available now, or [`Poll::Done`] when a bounded
//!    input is exhausted.
//! 4. After the worker has fed the decoded rows into the dataflow at logical time `t`,
//!    it calls [`SourceReader::commit`] with the last message's [`Position`]: the
//!    connector acknowledges (Redis `XACK`, JetStream ack, Kafka offset commit) so a
//!    restart resumes after it. A message is acknowledged only once it is in the
//!    dataflow (at-least-once).
//! 5. [`SourceReader::close`] on drop of the table or view, or at shutdown.
//! 6. When the consumer is dropped for good (`DROP MATERIALIZED VIEW`, `DROP SINK`, a
//!    cancelled subscription, `DROP TABLE` of the source for its own consumers), each
//!    worker `i` of `n`, after closing its reader, calls
//!    [`SourceConfig::release`]`(consumer, i, n)`: the connector deletes what it keeps
//!    for the consumer in the external system (a consumer group, a durable consumer, a
//!    replication slot). Shutdown does not release: a restarted engine resumes from the
//!    consumer's position. Every worker releases after its own last read, so a release
//!    by one worker racing another's last read is undone by the other's release.
//!
//! # Sinks
//!
//! A sink writer receives a view's changes in timestamp order from one worker's share of
//! the rows: [`SinkWriter::write`] with updates at times `< upper`, then
//! [`SinkWriter::complete`]`(upper)` once the view's frontier passes `upper` ("every
//! change before `upper` has been given to you"). A writer buffers at most its batch size
//! and makes the data durable/visible in `complete` (a Redis pipeline, a PostgreSQL
//! transaction, a Kafka flush, a rolled file), which is how a sink learns a timestamp is
//! complete. A writer that cannot keep up makes `write` slow, which holds the worker back
//! (backpressure), never drops.

use std::fmt;
use std::time::Duration;

use laaster_repr::{Diff, Row, Timestamp};

/// Where one message came from, so it can be acknowledged, resumed from, and named in
/// error reports.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// The partition, stream, subject or file the message came from.
    pub partition: String,
    /// The message's offset or id within it (Kafka offset, Redis stream id, JetStream
    /// sequence, file line number).
    pub offset: String,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.partition, self.offset)
    }
}

/// One message read from an external system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub position: Position,
    /// The message key, when the system has keys (Kafka, Redis key/hash sinks).
    pub key: Option<Vec<u8>>,
    /// The bytes the table's format decodes.
    pub payload: Vec<u8>,
    /// What the system tells about the message beyond its key and value (Kafka: topic,
    /// partition, offset, timestamp, headers), read by metadata columns
    /// (`METADATA FROM 'timestamp'`, see [`crate::metadata`]). Empty for connectors
    /// without metadata.
    pub metadata: MessageMetadata,
}

/// A message's metadata (see [`Message::metadata`]); fields a connector does not have
/// stay `None` / empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageMetadata {
    /// The topic (Kafka), shared by every message of a reader.
    pub topic: Option<std::sync::Arc<str>>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: Option<i64>,
    /// What the timestamp is: Kafka's `CreateTime` or `LogAppendTime`
    /// (`NoTimestampType` when the broker gave none).
    pub timestamp_type: Option<&'static str>,
    /// The headers in order (a name may repeat); `None` is a header without a value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What [`SourceReader::poll`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// Messages were appended.
    Ready,
    /// Nothing now; poll again later.
    Idle,
    /// A bounded input is exhausted; no more messages will come.
    Done,
}

/// A connector failure (not a bad message: those are [`crate::format::FormatError`]s).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    pub message: String,
    pub hint: Option<String>,
}

impl ConnectorError {
    pub fn new(message: impl Into<String>) -> ConnectorError {
        ConnectorError {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> ConnectorError {
        self.hint = Some(hint.into());
        self
    }
}

/// A source's configuration, checked at `CREATE` time; opens one reader per worker.
pub trait SourceConfig: Send + Sync + fmt::Debug {
    /// Opens the reader of split `split` of `splits`.
    fn open(&self, split: usize, splits: usize) -> Result<Box<dyn SourceReader>, ConnectorError>;

    /// Opens split `split` of `splits` for the consumer named `consumer` (a view, a
    /// subscription, a dead-letter table; letters, digits, `-` and `_`). A connector
    /// with consumer groups or durable consumers gives each consumer its own (the
    /// configured group or consumer name, `-`, `consumer`), so every consumer reads
    /// every message and resumes where it left off. The default reads as
    /// [`SourceConfig::open`] does.
    fn open_for(
        &self,
        consumer: &str,
        split: usize,
        splits: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let _ = consumer;
        self.open(split, splits)
    }

    /// Deletes what the connector keeps in the external system for the consumer named
    /// `consumer` (see [`SourceConfig::open_for`]), called by worker `split` of `splits`
    /// once its reader for that consumer is closed and will not reopen (step 6 of the
    /// module docs). Releasing what is already gone is not an error. The default has
    /// nothing to release.
    fn release(&self, consumer: &str, split: usize, splits: usize) -> Result<(), ConnectorError> {
        let _ = (consumer, split, splits);
        Ok(())
    }
}

/// Reads one split of a source. See the module docs for the calling order.
pub trait SourceReader: Send {
    /// Appends up to `max` messages to `out`, waiting at most `timeout` for the first.
    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError>;

    /// Acknowledges every message up to and including `through` (their rows are in the
    /// dataflow).
    fn commit(&mut self, through: &Position) -> Result<(), ConnectorError>;

    /// Releases the reader's resources.
    fn close(&mut self) {}
}

/// A sink's configuration, checked at `CREATE` time; opens one writer per worker.
pub trait SinkConfig: Send + Sync + fmt::Debug {
    fn open(&self, worker: usize, workers: usize) -> Result<Box<dyn SinkWriter>, ConnectorError>;
}

/// Writes one worker's share of a view's changes. See the module docs.
pub trait SinkWriter: Send {
    /// Takes updates at times before the next [`SinkWriter::complete`] bound.
    fn write(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError>;

    /// Every update at a time before `upper` has been written: make it durable/visible.
    fn complete(&mut self, upper: Timestamp) -> Result<(), ConnectorError>;
}

/// What happens to a message that does not decode (`'on-error'`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Stop the source and report the error (the view reports it when read).
    Fail,
    /// Count it and go on.
    #[default]
    Skip,
    /// Count it and write it to the table `<source>_errors` (source, partition, offset,
    /// raw bytes truncated to [`DEAD_LETTER_BYTES`], error).
    DeadLetter,
}

/// How many bytes of a bad message the dead-letter table keeps.
pub const DEAD_LETTER_BYTES: usize = 1024;

impl OnError {
    pub fn parse(value: &str) -> Result<OnError, ConnectorError> {
        match value.to_ascii_lowercase().as_str() {
            "fail" => Ok(OnError::Fail),
            "skip" => Ok(OnError::Skip),
            "dead-letter" => Ok(OnError::DeadLetter),
            other => Err(ConnectorError::new(format!(
                "option 'on-error' must be 'fail', 'skip' or 'dead-letter', not '{other}'"
            ))
            .hint("'dead-letter' keeps bad messages in the queryable table <source>_errors")),
        }
    }
}
