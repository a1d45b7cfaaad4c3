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
//! Offsets are committed to the group `'properties.group.id'` (default `laaster`) only
//! after the messages' rows are in the dataflow
//! ([`SourceReader::commit`](crate::api::SourceReader::commit)), asynchronously, and
//! once more synchronously when the reader closes: at-least-once. librdkafka's own
//! auto-commit is off, so a message that was read and not processed is never committed.
//! A reader opened for a consumer
//! ([`SourceConfig::open_for`](crate::api::SourceConfig::open_for), the engine does so
//! for each view of a source table) uses the group `<group>-<consumer>`, so each view
//! keeps its own offsets. Every other `'properties.<name>'` option goes to librdkafka as
//! `<name>` and is checked by librdkafka at `CREATE` time (an unknown one is refused).
//!
//! The message value is decoded by the table's `'format'`. Each
//! [`Message`](crate::api::Message) carries the Kafka key and the position
//! `<topic>-<partition>@<offset>`; a tombstone (null value) is an empty message, which
//! an upsert source table (`'scan.mode' = 'upsert'` with a PRIMARY KEY, Flink's
//! `upsert-kafka`) takes as the deletion of the message key's row, and other formats
//! reject (the `'on-error'` policy counts it). Each message's topic, partition, offset,
//! timestamp (and its type) and headers travel in
//! [`Message::metadata`](crate::api::Message::metadata), which metadata columns read
//! (`ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp'`, see [`crate::metadata`]); Rust
//! callers get them from [`KafkaReader::poll_records`] as [`KafkaRecord`]s. Flink's
//! `'key.fields'` is not supported: the key is one column, `METADATA FROM 'key'`.
//!
//! librdkafka's defaults are tuned for throughput; the source sets
//! `fetch.wait.max.ms` = 10 (librdkafka: 500), so a fetch on a quiet partition returns
//! within 10 ms instead of holding a new message up to half a second (a
//! `'properties.fetch.wait.max.ms'` option overrides it). The engine polls the consumer
//! without waiting (`poll(0)`); librdkafka fetches in its own threads.
//!
//! Dropping the view that reads through a group deletes the group
//! ([`delete_group`], through `SourceConfig::release`).
//!
//! # Sink
//!
//! Each worker produces its share of the view's changes to `'topic'`. The message key is
//! the `'key.columns'` encoded with `'key.format'` (default: the value's `'format'`), so
//! librdkafka's partitioner (`murmur2_random` by default here, the Java client's
//! partitioning, so keys land where a Java producer would put them) keeps every key on
//! one partition and its changes in order; without key columns messages have no key.
//! `'sink.mode'` (from SQL the engine reads it, `append-only` | `upsert` | `debezium`,
//! shapes the changes accordingly, and tells the connector `append` or `upsert`):
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
//! [`SinkWriter::complete`](crate::api::SinkWriter::complete), so a completed timestamp
//! is acknowledged by the broker (`acks=all`) before the engine moves on; delivery
//! failures are returned there. The flush serves delivery reports in 1 ms steps
//! (rdkafka's own `flush` waits in 100 ms steps, which cost every completed timestamp
//! 100 ms).
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

mod local_broker;
mod sink;
mod source;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::topic_partition_list::Offset;

use crate::api::ConnectorError;

pub use local_broker::LocalBroker;
pub use sink::{DeliveryErrors, KafkaSinkOptions, KafkaWriter, SinkMode};
pub use source::{CommitErrors, KafkaReader, KafkaRecord, KafkaSourceOptions};

/// The Kafka client this connector is built on, for callers (tests, tools) that talk to
/// the broker directly with the same librdkafka.
pub use rdkafka;

/// How long opening a split waits for the topic's metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Deletes consumer group `group` (its committed offsets). A group that does not exist
/// is not an error.
pub fn delete_group(bootstrap_servers: &str, group: &str) -> Result<(), ConnectorError> {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .create()
        .map_err(|e| kafka_error("cannot create a Kafka admin client", bootstrap_servers, e))?;
    let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
    let results =
        futures::executor::block_on(admin.delete_groups(&[group], &options)).map_err(|e| {
            kafka_error(
                &format!("cannot delete consumer group '{group}'"),
                bootstrap_servers,
                e,
            )
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::GroupIdNotFound)) => {}
            Err((name, code)) => {
                return Err(ConnectorError::new(format!(
                    "cannot delete consumer group '{name}' at {bootstrap_servers}: {code}"
                ))
                .hint("delete it with the broker's tools; it keeps only committed offsets"));
            }
        }
    }
    Ok(())
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
