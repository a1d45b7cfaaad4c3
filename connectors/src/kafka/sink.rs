//! The Kafka sink: append-only or upsert (tombstones for deletes), keyed by the key
//! columns, flushed in `complete`. See the [parent module](super).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use laaster_repr::{Diff, Row, Timestamp};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::kafka_error;
use crate::api::{ConnectorError, SinkWriter};
use crate::format::Encoder;

/// How long `complete` waits for the broker to acknowledge what was produced.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Keys an upsert writer buffers before producing them ahead of `complete`.
const UPSERT_BUFFER_KEYS: usize = 10_000;

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
    /// Waits until the broker acknowledged (or refused) every message produced so far,
    /// serving delivery reports in 1 ms steps. (rdkafka's `flush` waits in 100 ms steps:
    /// its `poll` runs to its deadline even after a delivery report, which held every
    /// completed timestamp for at least 100 ms.)
    fn flush(&self) -> Result<(), ConnectorError> {
        let deadline = std::time::Instant::now() + FLUSH_TIMEOUT;
        while self.producer.in_flight_count() > 0 {
            if std::time::Instant::now() >= deadline {
                return Err(ConnectorError::new(format!(
                    "the broker did not acknowledge the messages to topic '{}' within {} s (Kafka at {})",
                    self.options.topic,
                    FLUSH_TIMEOUT.as_secs(),
                    self.options.bootstrap_servers
                ))
                .hint("check that the broker is running and reachable"));
            }
            self.producer.poll(Duration::from_millis(1));
        }
        Ok(())
    }

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
            self.flush()?;
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
