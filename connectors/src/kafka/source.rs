//! The Kafka source: one reader per split, partitions assigned explicitly, offsets
//! committed after the rows are in the dataflow. See the [parent module](super).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{METADATA_TIMEOUT, StartupMode, kafka_error};
use crate::api::{ConnectorError, Message, MessageMetadata, Poll, Position, SourceReader};

/// The source's default `fetch.wait.max.ms`: how long the broker may hold a fetch
/// waiting for data.
pub const FETCH_WAIT_MAX_MS: &str = "10";

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
    /// `CreateTime`, `LogAppendTime` or `NoTimestampType` (Flink's `timestamp-type`).
    pub timestamp_type: &'static str,
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
            timestamp_type: match message.timestamp() {
                rdkafka::Timestamp::NotAvailable => "NoTimestampType",
                rdkafka::Timestamp::CreateTime(_) => "CreateTime",
                rdkafka::Timestamp::LogAppendTime(_) => "LogAppendTime",
            },
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
    /// The topic, shared by the messages' metadata.
    topic_name: std::sync::Arc<str>,
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
        // Defaults for a low-latency engine (a 'properties.*' option overrides them):
        // librdkafka's 500 ms fetch wait made a quiet partition's next message wait up to
        // half a second in the broker.
        config
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS);
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
            topic_name: options.topic.as_str().into(),
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
            metadata: MessageMetadata {
                topic: Some(std::sync::Arc::clone(&self.topic_name)),
                partition: Some(record.partition),
                offset: Some(record.offset),
                timestamp: record.timestamp,
                timestamp_type: Some(record.timestamp_type),
                headers: record.headers,
            },
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
