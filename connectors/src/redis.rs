//! Redis: a Streams source (consumer group, `XREADGROUP`, `XACK` after processing), a
//! Streams sink (`XADD`), and a key/hash upsert sink (the running tally in Redis).
//!
//! ```sql
//! CREATE TABLE votes (user_id BIGINT, contestant TEXT) WITH (
//!   'connector' = 'redis-streams', 'url' = 'redis://127.0.0.1:6379', 'stream' = 'votes',
//!   'format' = 'json');                     -- each entry's field 'data' holds one message
//! CREATE SINK tally_out FROM tally WITH ('connector' = 'redis', 'hash' = 'tally',
//!   'key.columns' = 'contestant', 'format' = 'json');   -- HSET tally <contestant> <row>
//! ```
//!
//! Source: every worker is a consumer (`laaster-<split>`, or `'consumer'`-`<split>`) of
//! the group `'group'` (default `laaster`, created at `'scan.startup.mode'` =
//! `earliest` (`0`, default) or `latest` (`$`)), so Redis hands each entry to exactly one
//! worker. Entries are acknowledged once their rows are in the dataflow; after a restart,
//! entries read but not acknowledged are read again first (at-least-once).

use std::time::Duration;

use laaster_repr::{Diff, Row, Timestamp};
use redis::{Commands, Connection, RedisResult};

use crate::api::{ConnectorError, Message, Poll, Position, SinkWriter, SourceReader};
use crate::format::Encoder;

fn redis_error(what: &str, url: &str, e: redis::RedisError) -> ConnectorError {
    ConnectorError::new(format!("{what} at {url}: {e}"))
        .hint("check 'url' and that Redis is running (redis-cli -u <url> ping)")
}

fn connect(url: &str) -> Result<Connection, ConnectorError> {
    let client = redis::Client::open(url).map_err(|e| {
        ConnectorError::new(format!("invalid Redis url '{url}': {e}"))
            .hint("write 'url' = 'redis://127.0.0.1:6379'")
    })?;
    client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(|e| redis_error("cannot connect to Redis", url, e))
}

/// The options of a Redis Streams source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSourceOptions {
    pub url: String,
    pub stream: String,
    pub group: String,
    pub consumer: String,
    /// The entry field holding the message.
    pub field: String,
    /// `true`: a new group starts at the stream's beginning; `false`: at its end.
    pub from_earliest: bool,
}

/// Deletes the consumer group `options.group` of `options.stream` (`XGROUP DESTROY`):
/// its position and its pending entries. A missing stream or group is not an error.
pub fn destroy_group(options: &StreamSourceOptions) -> Result<(), ConnectorError> {
    let mut connection = connect(&options.url)?;
    let destroyed: RedisResult<i64> = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(&options.stream)
        .arg(&options.group)
        .query(&mut connection);
    match destroyed {
        Ok(_) => Ok(()),
        // The stream is gone (XGROUP needs the key to exist): so is the group.
        Err(e) if e.to_string().contains("key to exist") => Ok(()),
        Err(e) => Err(redis_error(
            &format!(
                "cannot delete consumer group '{}' of stream '{}'",
                options.group, options.stream
            ),
            &options.url,
            e,
        )),
    }
}

/// Reads one worker's share of a stream through a consumer group.
pub struct StreamReader {
    options: StreamSourceOptions,
    connection: Connection,
    consumer: String,
    /// Ids read and not yet acknowledged, in order.
    unacked: Vec<String>,
    /// Whether our own pending entries (read before a restart, never acknowledged) have
    /// been read again.
    recovered: bool,
}

type StreamReply = Option<Vec<(String, Vec<(String, Vec<Vec<u8>>)>)>>;

impl StreamReader {
    /// Connects, creates the group if needed (`XGROUP CREATE ... MKSTREAM`), and joins it
    /// as consumer `<consumer>-<split>`.
    pub fn open(
        options: &StreamSourceOptions,
        split: usize,
    ) -> Result<StreamReader, ConnectorError> {
        let mut connection = connect(&options.url)?;
        let start = if options.from_earliest { "0" } else { "$" };
        let created: RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&options.stream)
            .arg(&options.group)
            .arg(start)
            .arg("MKSTREAM")
            .query(&mut connection);
        if let Err(e) = created
            && e.code() != Some("BUSYGROUP")
        {
            return Err(redis_error(
                &format!(
                    "cannot create consumer group '{}' on stream '{}'",
                    options.group, options.stream
                ),
                &options.url,
                e,
            ));
        }
        Ok(StreamReader {
            consumer: format!("{}-{split}", options.consumer),
            options: options.clone(),
            connection,
            unacked: Vec::new(),
            recovered: false,
        })
    }

    fn read(
        &mut self,
        id: &str,
        max: usize,
        block: Option<Duration>,
    ) -> Result<StreamReply, ConnectorError> {
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(&self.options.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(max.max(1));
        if let Some(block) = block {
            command.arg("BLOCK").arg(block.as_millis().max(1) as u64);
        }
        command.arg("STREAMS").arg(&self.options.stream).arg(id);
        command
            .query(&mut self.connection)
            .map_err(|e| redis_error("XREADGROUP failed", &self.options.url, e))
    }
}

impl SourceReader for StreamReader {
    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        let reply = if !self.recovered {
            // Our pending entries first: id 0 returns entries delivered to this consumer
            // and never acknowledged.
            let reply = self.read("0", max, None)?;
            let empty = reply
                .as_ref()
                .is_none_or(|streams| streams.iter().all(|(_, entries)| entries.is_empty()));
            if empty {
                self.recovered = true;
                self.read(">", max, Some(timeout))?
            } else {
                reply
            }
        } else {
            self.read(">", max, Some(timeout))?
        };
        let mut any = false;
        for (_, entries) in reply.unwrap_or_default() {
            for (id, fields) in entries {
                let mut payload = None;
                let mut key = None;
                for pair in fields.chunks(2) {
                    if let [name, value] = pair {
                        if name.as_slice() == self.options.field.as_bytes() {
                            payload = Some(value.clone());
                        } else if name.as_slice() == b"key" {
                            key = Some(value.clone());
                        }
                    }
                }
                self.unacked.push(id.clone());
                any = true;
                out.push(Message {
                    position: Position {
                        partition: self.options.stream.clone(),
                        offset: id,
                    },
                    key,
                    // An entry without the field is an empty message: the format rejects
                    // it and the 'on-error' policy accounts for it.
                    payload: payload.unwrap_or_default(),
                    metadata: Default::default(),
                });
            }
        }
        Ok(if any { Poll::Ready } else { Poll::Idle })
    }

    fn commit(&mut self, through: &Position) -> Result<(), ConnectorError> {
        let Some(end) = self.unacked.iter().position(|id| *id == through.offset) else {
            return Ok(());
        };
        let ids: Vec<String> = self.unacked.drain(..=end).collect();
        for chunk in ids.chunks(1000) {
            let _: i64 = redis::cmd("XACK")
                .arg(&self.options.stream)
                .arg(&self.options.group)
                .arg(chunk)
                .query(&mut self.connection)
                .map_err(|e| redis_error("XACK failed", &self.options.url, e))?;
        }
        Ok(())
    }
}

/// Appends every change to a stream: `XADD <stream> * data <message> op +|-`.
pub struct StreamWriter {
    url: String,
    stream: String,
    field: String,
    connection: Connection,
    encoder: Box<dyn Encoder>,
    pipeline: redis::Pipeline,
    pending: usize,
    message: Vec<u8>,
}

impl StreamWriter {
    pub fn open(
        url: &str,
        stream: &str,
        field: &str,
        encoder: Box<dyn Encoder>,
    ) -> Result<StreamWriter, ConnectorError> {
        Ok(StreamWriter {
            connection: connect(url)?,
            url: url.to_string(),
            stream: stream.to_string(),
            field: field.to_string(),
            encoder,
            pipeline: redis::pipe(),
            pending: 0,
            message: Vec::new(),
        })
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        if self.pending > 0 {
            let pipeline = std::mem::replace(&mut self.pipeline, redis::pipe());
            pipeline
                .query::<()>(&mut self.connection)
                .map_err(|e| redis_error("XADD failed", &self.url, e))?;
            self.pending = 0;
        }
        Ok(())
    }
}

impl SinkWriter for StreamWriter {
    fn write(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        for (row, _time, diff) in updates {
            self.message.clear();
            self.encoder
                .encode(row, *diff, &mut self.message)
                .map_err(|e| {
                    ConnectorError::new(format!(
                        "cannot encode a row for stream '{}': {e}",
                        self.stream
                    ))
                })?;
            let op = if *diff > 0 { "+" } else { "-" };
            for _ in 0..diff.unsigned_abs() {
                self.pipeline
                    .cmd("XADD")
                    .arg(&self.stream)
                    .arg("*")
                    .arg(&self.field)
                    .arg(&self.message)
                    .arg("op")
                    .arg(op)
                    .ignore();
                self.pending += 1;
            }
            if self.pending >= 1000 {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn complete(&mut self, _upper: Timestamp) -> Result<(), ConnectorError> {
        self.flush()
    }
}

/// Keeps one hash field (or one key) per view row, keyed by `key.columns`: an insert sets
/// it, a retraction without a replacement deletes it.
pub struct UpsertWriter {
    url: String,
    /// `Some(hash)`: `HSET hash <key> <row>`; `None`: `SET <prefix><key> <row>`.
    hash: Option<String>,
    prefix: String,
    key_columns: Vec<usize>,
    connection: Connection,
    encoder: Box<dyn Encoder>,
    /// Changes of the current batch per key: the latest value, or `None` for a delete.
    batch: std::collections::BTreeMap<String, Option<Vec<u8>>>,
}

impl UpsertWriter {
    pub fn open(
        url: &str,
        hash: Option<String>,
        prefix: String,
        key_columns: Vec<usize>,
        encoder: Box<dyn Encoder>,
    ) -> Result<UpsertWriter, ConnectorError> {
        Ok(UpsertWriter {
            connection: connect(url)?,
            url: url.to_string(),
            hash,
            prefix,
            key_columns,
            encoder,
            batch: Default::default(),
        })
    }

    fn key(&self, row: &Row) -> String {
        self.key_columns
            .iter()
            .map(|&c| match row.get(c) {
                Some(laaster_repr::Datum::Text(t)) => t.to_string(),
                Some(datum) => laaster_repr::strconv::format_datum(datum),
                None => String::new(),
            })
            .collect::<Vec<_>>()
            .join(":")
    }
}

impl SinkWriter for UpsertWriter {
    fn write(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        // In time order, and within one time retractions first, so a (-old, +new) pair
        // for one key ends as a set and a later lone retraction as a delete.
        let mut order: Vec<&(Row, Timestamp, Diff)> = updates.iter().collect();
        order.sort_by_key(|(_, time, diff)| (*time, *diff > 0));
        for (row, _, diff) in order {
            let key = self.key(row);
            if *diff < 0 {
                self.batch.insert(key, None);
            } else {
                let mut message = Vec::new();
                self.encoder
                    .encode(row, 1, &mut message)
                    .map_err(|e| ConnectorError::new(format!("cannot encode a row: {e}")))?;
                self.batch.insert(key, Some(message));
            }
        }
        Ok(())
    }

    fn complete(&mut self, _upper: Timestamp) -> Result<(), ConnectorError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        for (key, value) in std::mem::take(&mut self.batch) {
            match (&self.hash, value) {
                (Some(hash), Some(value)) => pipeline.hset(hash, key, value).ignore(),
                (Some(hash), None) => pipeline.hdel(hash, key).ignore(),
                (None, Some(value)) => pipeline
                    .set(format!("{}{key}", self.prefix), value)
                    .ignore(),
                (None, None) => pipeline.del(format!("{}{key}", self.prefix)).ignore(),
            };
        }
        pipeline
            .query::<()>(&mut self.connection)
            .map_err(|e| redis_error("writing the upsert batch failed", &self.url, e))
    }
}

/// Reads a whole hash (for tests and the CLI).
pub fn read_hash(url: &str, hash: &str) -> Result<Vec<(String, String)>, ConnectorError> {
    let mut connection = connect(url)?;
    let mut pairs: Vec<(String, String)> = connection
        .hgetall(hash)
        .map_err(|e| redis_error("HGETALL failed", url, e))?;
    pairs.sort();
    Ok(pairs)
}
