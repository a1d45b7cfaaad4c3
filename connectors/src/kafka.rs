//! Kafka: a source that splits a topic's partitions across workers, and a sink that
//! writes a view's changes append-only or as an upserted, compacted topic.
//!
//! ```sql
//! CREATE TABLE votes (user_id BIGINT, contestant TEXT) WITH (
//!   'connector' = 'kafka', 'topic' = 'votes',
//!   'properties.bootstrap.servers' = '127.0.0.1:9092', 'properties.group.id' = 'tally',
//!   'scan.startup.mode' = 'group-offsets', 'format' = 'json');
//! CREATE TABLE tally_out (contestant TEXT, n BIGINT) WITH (
//!   'connector' = 'kafka', 'topic' = 'tally', 'properties.bootstrap.servers' = '127.0.0.1:9092',
//!   'key.columns' = 'contestant', 'sink.mode' = 'upsert', 'format' = 'json');
//! INSERT INTO tally_out SELECT contestant, n FROM tally;
//! ```
//!
//! The client is librdkafka (through `rdkafka`), built from its bundled sources.
//!
//! # Source
//!
//! Split `i` of `n` reads the partitions `p` with `p % n == i`, assigned explicitly
//! (`assign`, no group rebalancing), so every partition has exactly one reader and the
//! assignment does not move while the engine runs. Partitions are listed once, when the
//! split opens: partitions added to the topic later are not read until the source is
//! reopened. Where each partition starts is `'scan.startup.mode'` (Flink's names):
//!
//! | mode | start |
//! | --- | --- |
//! | `group-offsets` (default) | the offset committed by `'properties.group.id'`; without one, `'properties.auto.offset.reset'` (default `earliest`) |
//! | `earliest-offset` | the partition's first offset, whatever the group committed |
//! | `latest-offset` | the partition's end: only messages produced after the split opens |
//! | `specific-offsets` | `'scan.startup.specific-offsets'` = `'partition:0,offset:42;partition:1,offset:7'`; partitions not listed start as in `group-offsets` |
//!
//! Offsets are committed to the group (default group `laaster`) only after the
//! messages' rows are in the dataflow ([`SourceReader::commit`]), asynchronously, and
//! once more synchronously when the reader closes: at-least-once. librdkafka's own
//! auto-commit is off, so a message that was read and not processed is never committed.
//! Every other `'properties.<name>'` option goes to librdkafka as `<name>` and is checked
//! by librdkafka at `CREATE` time (an unknown property is refused).
//!
//! The message value is decoded by the table's `'format'`; a tombstone (null value) is an
//! empty message, which formats reject (the `'on-error'` policy counts it). Each
//! [`Message`] carries the Kafka key and the position `<topic>-<partition>@<offset>`.
//! Timestamps and headers are read by [`KafkaReader::poll_records`] (as
//! [`KafkaRecord`]s) for Rust callers. In SQL, metadata columns (Flink's `METADATA FROM
//! 'key'`, `'partition'`, `'offset'`, `'timestamp'`, `'headers'`) and `'key.fields'` are
//! not supported yet: the engine's runtime decodes the value only. Tables declare the
//! value's fields.
//!
//! # Sink
//!
//! Each worker produces its share of the view's changes to `'topic'`. The message key is
//! the `'key.columns'` encoded with `'key.format'` (default: the value's `'format'`), so
//! librdkafka's partitioner (`murmur2_random` by default here, the Java client's
//! partitioning, so keys land where a Java producer would put them) keeps every key on
//! one partition and its changes in order; without key columns messages have no key.
//! `'sink.mode'`:
//!
//! - `append` (default): one message per inserted row (repeated for multiplicities). A
//!   retraction is refused with an error, unless the format writes change records
//!   (`debezium-json`), which encodes it.
//! - `upsert`: needs `'key.columns'`. Per completed timestamp, the latest row of each
//!   key is written as its value; a key whose row was retracted and not replaced gets a
//!   tombstone (the key with a null value), which log compaction and upsert readers take
//!   as a delete.
//!
//! `'sink.delivery-guarantee'` = `at-least-once` (default) flushes the producer in
//! [`SinkWriter::complete`], so a completed timestamp is acknowledged by the broker
//! (`acks=all`) before the engine moves on; delivery failures are returned there.
//! `none` leaves delivery to librdkafka's background (failures still surface at the next
//! `complete`). `exactly-once` (transactions) is not supported.
//!
//! # Tested against
//!
//! tansu 0.6 (a Kafka-protocol broker; `scripts/install-tansu.sh`), with in-memory
//! storage. Two of its behaviours differ from Kafka's and matter to readers that start
//! mid-topic: a fetch at an offset inside a record batch (not at the batch's first
//! offset) returns nothing, and a partition's end (high watermark) is reported as its
//! last batch's first offset + 1. So on tansu, resuming from a committed offset or a
//! specific offset works only at batch boundaries, and `latest-offset` only when the last
//! batch holds one record; the tests write one message per batch where they start
//! mid-topic. Against Kafka neither applies.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use laaster_repr::{Diff, Row, Timestamp};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::api::{ConnectorError, Message, Poll, Position, SinkWriter, SourceReader};
use crate::format::Encoder;

/// The Kafka client this connector is built on, for callers (tests, tools) that talk to
/// the broker directly with the same librdkafka.
pub use rdkafka;

/// How long opening a split waits for the topic's metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `complete` waits for the broker to acknowledge what was produced.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Keys an upsert writer buffers before producing them ahead of `complete`.
const UPSERT_BUFFER_KEYS: usize = 10_000;

/// librdkafka properties the connector sets itself; giving them would break its
/// guarantees, so they are refused.
const RESERVED_PROPERTIES: &[(&str, &str)] = &[
    (
        "enable.auto.commit",
        "offsets are committed once rows are in the dataflow",
    ),
    (
        "enable.auto.offset.store",
        "offsets are committed once rows are in the dataflow",
    ),
    ("group.id", "use 'properties.group.id'"),
    ("bootstrap.servers", "use 'properties.bootstrap.servers'"),
];

/// Where a split starts reading each of its partitions (`'scan.startup.mode'`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StartupMode {
    /// The group's committed offset; `auto.offset.reset` where there is none.
    #[default]
    GroupOffsets,
    Earliest,
    Latest,
    /// Offsets per partition; partitions not listed start as in `GroupOffsets`.
    SpecificOffsets(BTreeMap<i32, i64>),
}

impl StartupMode {
    /// Reads `'scan.startup.mode'` and, for `specific-offsets`,
    /// `'scan.startup.specific-offsets'`.
    pub fn parse(mode: &str, specific: Option<&str>) -> Result<StartupMode, ConnectorError> {
        let mode = match mode.to_ascii_lowercase().as_str() {
            "group-offsets" => StartupMode::GroupOffsets,
            "earliest-offset" | "earliest" => StartupMode::Earliest,
            "latest-offset" | "latest" => StartupMode::Latest,
            "specific-offsets" => {
                let Some(text) = specific else {
                    return Err(ConnectorError::new(
                        "'scan.startup.mode' = 'specific-offsets' needs 'scan.startup.specific-offsets'",
                    )
                    .hint("add 'scan.startup.specific-offsets' = 'partition:0,offset:42;partition:1,offset:300'"));
                };
                return Ok(StartupMode::SpecificOffsets(parse_specific_offsets(text)?));
            }
            other => {
                return Err(ConnectorError::new(format!(
                    "option 'scan.startup.mode' must be 'group-offsets', 'earliest-offset', \
                     'latest-offset' or 'specific-offsets', not '{other}'"
                ))
                .hint("'group-offsets' resumes where the consumer group left off"));
            }
        };
        if specific.is_some() {
            return Err(ConnectorError::new(
                "option 'scan.startup.specific-offsets' is only read with 'scan.startup.mode' = 'specific-offsets'",
            )
            .hint("add 'scan.startup.mode' = 'specific-offsets', or drop the offsets"));
        }
        Ok(mode)
    }

    /// Where partition `partition` starts.
    fn offset(&self, partition: i32) -> Offset {
        match self {
            StartupMode::GroupOffsets => Offset::Stored,
            StartupMode::Earliest => Offset::Beginning,
            StartupMode::Latest => Offset::End,
            StartupMode::SpecificOffsets(offsets) => offsets
                .get(&partition)
                .map_or(Offset::Stored, |&offset| Offset::Offset(offset)),
        }
    }
}

/// Parses Flink's `'partition:0,offset:42;partition:1,offset:300'`.
pub fn parse_specific_offsets(text: &str) -> Result<BTreeMap<i32, i64>, ConnectorError> {
    let bad = |part: &str, why: &str| {
        ConnectorError::new(format!(
            "option 'scan.startup.specific-offsets': '{part}' {why}"
        ))
        .hint("write 'partition:0,offset:42;partition:1,offset:300'")
    };
    let mut offsets = BTreeMap::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut partition = None;
        let mut offset = None;
        for pair in part.split(',') {
            let Some((name, value)) = pair.split_once(':') else {
                return Err(bad(part, "is not 'partition:<n>,offset:<n>'"));
            };
            match name.trim() {
                "partition" => partition = value.trim().parse::<i32>().ok().filter(|p| *p >= 0),
                "offset" => offset = value.trim().parse::<i64>().ok().filter(|o| *o >= 0),
                _ => return Err(bad(part, "is not 'partition:<n>,offset:<n>'")),
            }
        }
        let (Some(partition), Some(offset)) = (partition, offset) else {
            return Err(bad(
                part,
                "needs a partition and an offset, both non-negative integers",
            ));
        };
        if offsets.insert(partition, offset).is_some() {
            return Err(bad(part, "repeats a partition"));
        }
    }
    if offsets.is_empty() {
        return Err(bad(text, "lists no partition"));
    }
    Ok(offsets)
}

/// Checks `'properties.*'` (given without the prefix): not one the connector sets
/// itself, and known to librdkafka with a valid value.
pub fn check_properties(properties: &[(String, String)]) -> Result<(), ConnectorError> {
    for (name, _) in properties {
        if let Some((_, why)) = RESERVED_PROPERTIES.iter().find(|(n, _)| n == name) {
            return Err(ConnectorError::new(format!(
                "option 'properties.{name}' is set by the Kafka connector itself"
            ))
            .hint(*why));
        }
    }
    let mut config = ClientConfig::new();
    for (name, value) in properties {
        config.set(name, value);
    }
    config.create_native_config().map_err(|e| {
        ConnectorError::new(format!("a 'properties.*' option is refused by librdkafka: {e}"))
            .hint("'properties.<name>' passes <name> to librdkafka; see its CONFIGURATION.md for the names")
    })?;
    Ok(())
}

fn kafka_error(what: &str, servers: &str, e: KafkaError) -> ConnectorError {
    ConnectorError::new(format!("{what} (Kafka at {servers}): {e}"))
        .hint("check 'properties.bootstrap.servers' and that the broker is running and reachable")
}

/// The options of a Kafka source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSourceOptions {
    pub topic: String,
    pub bootstrap_servers: String,
    /// The consumer group offsets are committed to (and, in `group-offsets` mode, read
    /// from).
    pub group_id: String,
    pub startup: StartupMode,
    /// Further librdkafka properties, without the `properties.` prefix.
    pub properties: Vec<(String, String)>,
}

/// Collects errors of asynchronous offset commits, reported at the next call.
#[derive(Default)]
pub struct CommitErrors(Mutex<Option<String>>);

impl ClientContext for CommitErrors {}

impl ConsumerContext for CommitErrors {
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result
            && let Ok(mut first) = self.0.lock()
        {
            first.get_or_insert_with(|| e.to_string());
        }
    }
}

impl CommitErrors {
    fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut first| first.take())
    }
}

/// One Kafka message with its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaRecord {
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch (create or log-append time), when the broker gave one.
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    /// `None` for a tombstone.
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl KafkaRecord {
    fn from_message(message: &BorrowedMessage<'_>) -> KafkaRecord {
        KafkaRecord {
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Reads one split's partitions of a topic. See the module docs.
pub struct KafkaReader {
    topic: String,
    bootstrap_servers: String,
    consumer: BaseConsumer<CommitErrors>,
    partitions: Vec<i32>,
    /// `(partition, offset)` of the messages handed out and not yet committed, in order.
    uncommitted: VecDeque<(i32, i64)>,
    /// The next offset of every partition committed so far (re-committed synchronously
    /// on close).
    committed: BTreeMap<i32, i64>,
    /// An error met after some messages of a poll; returned by the next poll.
    deferred: Option<ConnectorError>,
    closed: bool,
}

impl KafkaReader {
    /// Connects, lists the topic's partitions, and assigns those of split `split` of
    /// `splits` at their startup offsets.
    pub fn open(
        options: &KafkaSourceOptions,
        split: usize,
        splits: usize,
    ) -> Result<KafkaReader, ConnectorError> {
        let servers = &options.bootstrap_servers;
        let mut config = ClientConfig::new();
        config
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        for (name, value) in &options.properties {
            config.set(name, value);
        }
        config
            .set("bootstrap.servers", servers)
            .set("group.id", &options.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let consumer: BaseConsumer<CommitErrors> = config
            .create_with_context(CommitErrors::default())
            .map_err(|e| kafka_error("cannot create a Kafka consumer", servers, e))?;
        let partitions = topic_partitions(&consumer, &options.topic, servers)?
            .into_iter()
            .filter(|p| usize::try_from(*p).is_ok_and(|p| p % splits.max(1) == split))
            .collect::<Vec<_>>();
        let mut assignment = TopicPartitionList::new();
        for &partition in &partitions {
            let start = match options.startup {
                // The end as of now, so every message produced after `open` returns is
                // read (librdkafka's logical end would be resolved later, racing them).
                StartupMode::Latest => consumer
                    .fetch_watermarks(&options.topic, partition, METADATA_TIMEOUT)
                    .map(|(_, high)| Offset::Offset(high))
                    .map_err(|e| {
                        kafka_error(
                            &format!("cannot read the end of partition {partition}"),
                            servers,
                            e,
                        )
                    })?,
                ref mode => mode.offset(partition),
            };
            assignment
                .add_partition_offset(&options.topic, partition, start)
                .map_err(|e| kafka_error("cannot set a start offset", servers, e))?;
        }
        consumer.assign(&assignment).map_err(|e| {
            kafka_error(
                &format!(
                    "cannot assign partitions {partitions:?} of '{}'",
                    options.topic
                ),
                servers,
                e,
            )
        })?;
        Ok(KafkaReader {
            topic: options.topic.clone(),
            bootstrap_servers: servers.clone(),
            consumer,
            partitions,
            uncommitted: VecDeque::new(),
            committed: BTreeMap::new(),
            deferred: None,
            closed: false,
        })
    }

    /// The partitions this split reads.
    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    /// Appends up to `max` records with their metadata to `out`, waiting at most
    /// `timeout` for the first. Records handed out here are committed by
    /// [`SourceReader::commit`] like messages.
    pub fn poll_records(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<KafkaRecord>,
    ) -> Result<Poll, ConnectorError> {
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        if let Some(error) = self.consumer.context().take() {
            return Err(self.commit_error(error));
        }
        let mut wait = timeout;
        let mut got = 0;
        while got < max {
            match self.consumer.poll(wait) {
                None => break,
                Some(Ok(message)) => {
                    self.uncommitted
                        .push_back((message.partition(), message.offset()));
                    out.push(KafkaRecord::from_message(&message));
                    got += 1;
                }
                Some(Err(e)) => {
                    let error = kafka_error(
                        &format!("reading topic '{}' failed", self.topic),
                        &self.bootstrap_servers,
                        e,
                    );
                    if got == 0 {
                        return Err(error);
                    }
                    self.deferred = Some(error);
                    break;
                }
            }
            wait = Duration::ZERO;
        }
        Ok(if got > 0 { Poll::Ready } else { Poll::Idle })
    }

    fn commit_error(&self, error: String) -> ConnectorError {
        ConnectorError::new(format!(
            "committing offsets of topic '{}' failed (Kafka at {}): {error}",
            self.topic, self.bootstrap_servers
        ))
        .hint("the messages are read again after a restart (at-least-once); check the broker")
    }

    /// Parses a position this reader handed out.
    fn parse_position(&self, position: &Position) -> Option<(i32, i64)> {
        let partition = position
            .partition
            .strip_prefix(self.topic.as_str())?
            .strip_prefix('-')?
            .parse()
            .ok()?;
        Some((partition, position.offset.parse().ok()?))
    }
}

/// The partition ids of `topic`, or an error saying the topic is missing.
fn topic_partitions(
    consumer: &BaseConsumer<CommitErrors>,
    topic: &str,
    servers: &str,
) -> Result<Vec<i32>, ConnectorError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(|e| {
            kafka_error(
                &format!("cannot read metadata of topic '{topic}'"),
                servers,
                e,
            )
        })?;
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    let missing = || {
        ConnectorError::new(format!("Kafka topic '{topic}' does not exist at {servers}"))
            .hint("create the topic first, or check 'topic'")
    };
    let Some(found) = found else {
        return Err(missing());
    };
    if let Some(error) = found.error() {
        return Err(match RDKafkaErrorCode::from(error) {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => missing(),
            code => ConnectorError::new(format!(
                "cannot read metadata of topic '{topic}' at {servers}: {code}"
            ))
            .hint("check the topic's name and the broker's logs"),
        });
    }
    let mut partitions: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
    if partitions.is_empty() {
        return Err(missing());
    }
    partitions.sort_unstable();
    Ok(partitions)
}

impl SourceReader for KafkaReader {
    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        let mut records = Vec::new();
        let polled = self.poll_records(max, timeout, &mut records)?;
        out.extend(records.into_iter().map(|record| Message {
            position: Position {
                partition: format!("{}-{}", self.topic, record.partition),
                offset: record.offset.to_string(),
            },
            key: record.key,
            payload: record.payload.unwrap_or_default(),
        }));
        Ok(polled)
    }

    fn commit(&mut self, through: &Position) -> Result<(), ConnectorError> {
        if let Some(error) = self.consumer.context().take() {
            return Err(self.commit_error(error));
        }
        let Some(target) = self.parse_position(through) else {
            return Err(ConnectorError::new(format!(
                "cannot commit {through}: not a position of Kafka topic '{}'",
                self.topic
            )));
        };
        let Some(end) = self.uncommitted.iter().position(|read| *read == target) else {
            return Ok(());
        };
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for (partition, offset) in self.uncommitted.drain(..=end) {
            next.insert(partition, offset + 1);
        }
        let list = self.offsets(&next)?;
        self.consumer
            .commit(&list, CommitMode::Async)
            .map_err(|e| self.commit_error(e.to_string()))?;
        self.committed.extend(next);
        Ok(())
    }

    fn close(&mut self) {
        if std::mem::replace(&mut self.closed, true) || self.committed.is_empty() {
            return;
        }
        // Asynchronous commits may still be in flight: make the last offsets durable.
        let committed = std::mem::take(&mut self.committed);
        let result = self.offsets(&committed).and_then(|list| {
            self.consumer
                .commit(&list, CommitMode::Sync)
                .map_err(|e| self.commit_error(e.to_string()))
        });
        if let Err(e) = result {
            // No logger in this crate; the messages are read again after a restart.
            eprintln!("warning: {e}");
        }
    }
}

impl KafkaReader {
    fn offsets(&self, next: &BTreeMap<i32, i64>) -> Result<TopicPartitionList, ConnectorError> {
        let mut list = TopicPartitionList::with_capacity(next.len());
        for (&partition, &offset) in next {
            list.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .map_err(|e| self.commit_error(e.to_string()))?;
        }
        Ok(list)
    }
}

impl Drop for KafkaReader {
    fn drop(&mut self) {
        self.close();
    }
}

/// How a Kafka sink writes retractions (`'sink.mode'`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SinkMode {
    /// Inserts only; a retraction is an error unless the format encodes it.
    #[default]
    Append,
    /// The latest row per key; a delete is a tombstone.
    Upsert,
}

/// The options of a Kafka sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSinkOptions {
    pub topic: String,
    pub bootstrap_servers: String,
    /// The columns forming the message key, in key order.
    pub key_columns: Vec<usize>,
    pub mode: SinkMode,
    /// `true` (`at-least-once`): `complete` waits until the broker has acknowledged.
    pub flush_on_complete: bool,
    /// The value format writes change records (`debezium-json`), so append mode passes
    /// retractions to it.
    pub format_writes_retractions: bool,
    /// Further librdkafka properties, without the `properties.` prefix.
    pub properties: Vec<(String, String)>,
}

/// Records the first delivery failure, returned by the next `complete`.
#[derive(Default)]
pub struct DeliveryErrors {
    first: Mutex<Option<String>>,
}

impl ClientContext for DeliveryErrors {}

impl ProducerContext for DeliveryErrors {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((e, _)) = result
            && let Ok(mut first) = self.first.lock()
        {
            first.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Produces one worker's share of a view's changes. See the module docs.
pub struct KafkaWriter {
    options: KafkaSinkOptions,
    producer: BaseProducer<DeliveryErrors>,
    value_encoder: Box<dyn Encoder>,
    /// Encodes the key columns (projected, in `key_columns` order).
    key_encoder: Option<Box<dyn Encoder>>,
    /// Upsert mode: the latest value of each key not yet produced (`None`: delete).
    upserts: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    value: Vec<u8>,
    sent: u64,
}

impl KafkaWriter {
    /// Creates the producer. `key_encoder` must be given when `key_columns` is not
    /// empty; it encodes rows of the key columns only.
    pub fn open(
        options: &KafkaSinkOptions,
        value_encoder: Box<dyn Encoder>,
        key_encoder: Option<Box<dyn Encoder>>,
    ) -> Result<KafkaWriter, ConnectorError> {
        let servers = &options.bootstrap_servers;
        let mut config = ClientConfig::new();
        config.set("partitioner", "murmur2_random");
        for (name, value) in &options.properties {
            config.set(name, value);
        }
        config.set("bootstrap.servers", servers);
        let producer: BaseProducer<DeliveryErrors> = config
            .create_with_context(DeliveryErrors::default())
            .map_err(|e| kafka_error("cannot create a Kafka producer", servers, e))?;
        Ok(KafkaWriter {
            options: options.clone(),
            producer,
            value_encoder,
            key_encoder,
            upserts: BTreeMap::new(),
            value: Vec::new(),
            sent: 0,
        })
    }

    fn key(&mut self, row: &Row) -> Result<Option<Vec<u8>>, ConnectorError> {
        let Some(encoder) = self.key_encoder.as_mut() else {
            return Ok(None);
        };
        let mut key = Vec::new();
        encoder
            .encode(&row.project(&self.options.key_columns), 1, &mut key)
            .map_err(|e| {
                ConnectorError::new(format!(
                    "cannot encode the key of a row for Kafka topic '{}': {e}",
                    self.options.topic
                ))
            })?;
        Ok(Some(key))
    }

    fn encode_value(&mut self, row: &Row, diff: Diff) -> Result<(), ConnectorError> {
        self.value.clear();
        self.value_encoder
            .encode(row, diff, &mut self.value)
            .map_err(|e| {
                ConnectorError::new(format!(
                    "cannot encode a row for Kafka topic '{}': {e}",
                    self.options.topic
                ))
            })
    }

    /// Hands one message to librdkafka, waiting while its queue is full (backpressure).
    fn produce(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<(), ConnectorError> {
        loop {
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.options.topic);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(value) = value {
                record = record.payload(value);
            }
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => {
                    return Err(kafka_error(
                        &format!("cannot produce to topic '{}'", self.options.topic),
                        &self.options.bootstrap_servers,
                        e,
                    ));
                }
            }
        }
        self.sent += 1;
        if self.sent.is_multiple_of(1024) {
            // Serves delivery reports.
            self.producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    fn write_append(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        for (row, _, diff) in updates {
            if *diff < 0 && !self.options.format_writes_retractions {
                return Err(ConnectorError::new(format!(
                    "the Kafka sink to topic '{}' is append-only, but the view retracted a row ({row:?})",
                    self.options.topic
                ))
                .hint("declare 'sink.mode' = 'upsert' with 'key.columns' (deletes become tombstones), or 'format' = 'debezium-json' (change records)"));
            }
            let key = self.key(row)?;
            self.encode_value(row, *diff)?;
            let value = std::mem::take(&mut self.value);
            for _ in 0..diff.unsigned_abs() {
                self.produce(key.as_deref(), Some(&value))?;
            }
            self.value = value;
        }
        Ok(())
    }

    fn write_upsert(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        // In time order, and within one time retractions first, so a (-old, +new) pair
        // of one key ends as the new row and a lone retraction as a tombstone.
        let mut order: Vec<&(Row, Timestamp, Diff)> = updates.iter().collect();
        order.sort_by_key(|(_, time, diff)| (*time, *diff > 0));
        for (row, _, diff) in order {
            let Some(key) = self.key(row)? else {
                return Err(ConnectorError::new(
                    "an upsert Kafka sink needs 'key.columns'",
                ));
            };
            if *diff < 0 {
                self.upserts.insert(key, None);
            } else {
                self.encode_value(row, 1)?;
                self.upserts.insert(key, Some(self.value.clone()));
            }
        }
        if self.upserts.len() >= UPSERT_BUFFER_KEYS {
            self.produce_upserts()?;
        }
        Ok(())
    }

    fn produce_upserts(&mut self) -> Result<(), ConnectorError> {
        for (key, value) in std::mem::take(&mut self.upserts) {
            self.produce(Some(&key), value.as_deref())?;
        }
        Ok(())
    }
}

impl SinkWriter for KafkaWriter {
    fn write(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        match self.options.mode {
            SinkMode::Append => self.write_append(updates),
            SinkMode::Upsert => self.write_upsert(updates),
        }
    }

    fn complete(&mut self, _upper: Timestamp) -> Result<(), ConnectorError> {
        self.produce_upserts()?;
        if self.options.flush_on_complete {
            self.producer.flush(FLUSH_TIMEOUT).map_err(|e| {
                kafka_error(
                    &format!(
                        "the broker did not acknowledge the messages to topic '{}' within {} s",
                        self.options.topic,
                        FLUSH_TIMEOUT.as_secs()
                    ),
                    &self.options.bootstrap_servers,
                    e,
                )
            })?;
        } else {
            self.producer.poll(Duration::ZERO);
        }
        let failed = self
            .producer
            .context()
            .first
            .lock()
            .ok()
            .and_then(|mut first| first.take());
        match failed {
            Some(error) => Err(ConnectorError::new(format!(
                "delivering messages to Kafka topic '{}' failed: {error}",
                self.options.topic
            ))
            .hint("check the topic exists and the broker accepts writes")),
            None => Ok(()),
        }
    }
}

impl Drop for KafkaWriter {
    fn drop(&mut self) {
        // Whatever was produced and not yet acknowledged gets a chance to arrive.
        let _ = self.producer.flush(Duration::from_secs(5));
    }
}

/// Creates `topic` with `partitions` partitions (replication factor 1) unless it exists.
pub fn create_topic(
    bootstrap_servers: &str,
    topic: &str,
    partitions: i32,
) -> Result<(), ConnectorError> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .create()
        .map_err(|e| kafka_error("cannot create a Kafka admin client", bootstrap_servers, e))?;
    let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = futures::executor::block_on(admin.create_topics([&new_topic], &options))
        .map_err(|e| {
            kafka_error(
                &format!("cannot create topic '{topic}'"),
                bootstrap_servers,
                e,
            )
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(ConnectorError::new(format!(
                    "cannot create topic '{name}' at {bootstrap_servers}: {code}"
                ))
                .hint("check the topic name and the broker's logs"));
            }
        }
    }
    Ok(())
}
