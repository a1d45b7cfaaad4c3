//! NATS JetStream: a durable pull-consumer source and a publish sink.
//!
//! ```sql
//! CREATE TABLE votes (user_id BIGINT, contestant TEXT) WITH (
//!   'connector' = 'nats-jetstream', 'url' = 'nats://127.0.0.1:4222',
//!   'stream' = 'VOTES', 'subject' = 'votes.>', 'consumer' = 'laaster', 'format' = 'json');
//! ```
//!
//! Source: every worker pulls from the same durable consumer (`'consumer'`), so JetStream
//! hands each message to exactly one worker; the stream is created with `'subject'` if it
//! does not exist. A message is acknowledged once its rows are in the dataflow;
//! unacknowledged messages are redelivered after the consumer's ack wait (at-least-once).
//! `'scan.startup.mode'` = `earliest` (default: the whole stream) or `latest` (messages
//! published after the consumer is created) applies when the consumer is created.
//!
//! Sink: `publish(subject, message)` to the literal `'subject'` (an existing stream
//! capturing it is used as is); `complete` waits for JetStream's acknowledgement of
//! every message published since the last call, so a completed timestamp is stored.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt;
use laaster_repr::{Diff, Row, Timestamp};

use crate::api::{ConnectorError, Message, Poll, Position, SinkWriter, SourceReader};
use crate::format::Encoder;

/// The options of a JetStream source or sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsOptions {
    pub url: String,
    pub stream: String,
    pub subject: String,
    pub consumer: String,
    pub from_earliest: bool,
}

fn nats_error(what: &str, options: &NatsOptions, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::new(format!(
        "{what} (url '{}', stream '{}'): {e}",
        options.url, options.stream
    ))
    .hint("check 'url' and that nats-server runs with JetStream enabled (-js)")
}

fn runtime() -> Result<tokio::runtime::Runtime, ConnectorError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ConnectorError::new(format!("cannot start the NATS client runtime: {e}")))
}

async fn context(options: &NatsOptions) -> Result<jetstream::Context, ConnectorError> {
    let client = tokio::time::timeout(Duration::from_secs(5), async_nats::connect(&options.url))
        .await
        .map_err(|_| nats_error("timed out connecting to NATS", options, "5 s"))?
        .map_err(|e| nats_error("cannot connect to NATS", options, e))?;
    Ok(jetstream::new(client))
}

async fn stream(
    js: &jetstream::Context,
    options: &NatsOptions,
) -> Result<jetstream::stream::Stream, ConnectorError> {
    js.get_or_create_stream(jetstream::stream::Config {
        name: options.stream.clone(),
        subjects: vec![options.subject.clone()],
        ..Default::default()
    })
    .await
    .map_err(|e| nats_error("cannot open or create the JetStream stream", options, e))
}

/// Pulls one worker's share of a durable consumer.
pub struct NatsReader {
    options: NatsOptions,
    runtime: tokio::runtime::Runtime,
    consumer: consumer::PullConsumer,
    /// Messages read and not yet acknowledged, in order.
    unacked: Vec<(String, jetstream::message::Acker)>,
}

impl NatsReader {
    pub fn open(options: &NatsOptions) -> Result<NatsReader, ConnectorError> {
        let runtime = runtime()?;
        let consumer = runtime.block_on(async {
            let js = context(options).await?;
            let stream = stream(&js, options).await?;
            stream
                .get_or_create_consumer(
                    &options.consumer,
                    consumer::pull::Config {
                        durable_name: Some(options.consumer.clone()),
                        deliver_policy: if options.from_earliest {
                            consumer::DeliverPolicy::All
                        } else {
                            consumer::DeliverPolicy::New
                        },
                        ack_policy: consumer::AckPolicy::Explicit,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| {
                    nats_error(
                        &format!("cannot create consumer '{}'", options.consumer),
                        options,
                        e,
                    )
                })
        })?;
        Ok(NatsReader {
            options: options.clone(),
            runtime,
            consumer,
            unacked: Vec::new(),
        })
    }
}

impl SourceReader for NatsReader {
    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        let options = &self.options;
        let consumer = &self.consumer;
        let unacked = &mut self.unacked;
        let got = self.runtime.block_on(async {
            let mut batch = consumer
                .fetch()
                .max_messages(max.max(1))
                .expires(timeout.max(Duration::from_millis(10)))
                .messages()
                .await
                .map_err(|e| nats_error("fetching from the consumer failed", options, e))?;
            let mut got = 0;
            while let Some(message) = batch.next().await {
                let message =
                    message.map_err(|e| nats_error("receiving a message failed", options, e))?;
                let sequence = message
                    .info()
                    .map(|info| info.stream_sequence.to_string())
                    .unwrap_or_default();
                let (message, acker) = message.split();
                unacked.push((sequence.clone(), acker));
                out.push(Message {
                    position: Position {
                        partition: message.subject.to_string(),
                        offset: sequence,
                    },
                    key: None,
                    payload: message.payload.to_vec(),
                });
                got += 1;
            }
            Ok::<usize, ConnectorError>(got)
        })?;
        Ok(if got > 0 { Poll::Ready } else { Poll::Idle })
    }

    fn commit(&mut self, through: &Position) -> Result<(), ConnectorError> {
        let Some(end) = self
            .unacked
            .iter()
            .position(|(sequence, _)| *sequence == through.offset)
        else {
            return Ok(());
        };
        let ackers: Vec<_> = self.unacked.drain(..=end).map(|(_, acker)| acker).collect();
        let options = &self.options;
        self.runtime.block_on(async {
            // Double acks wait for the server's confirmation, so a committed message is
            // not redelivered.
            let results = futures::future::join_all(
                ackers
                    .iter()
                    .map(|acker| acker.double_ack_with(AckKind::Ack)),
            )
            .await;
            for result in results {
                result.map_err(|e| nats_error("acknowledging a message failed", options, e))?;
            }
            Ok(())
        })
    }
}

/// Publishes every change to a subject (`op` header `+` or `-`).
pub struct NatsWriter {
    options: NatsOptions,
    runtime: tokio::runtime::Runtime,
    js: jetstream::Context,
    encoder: Box<dyn Encoder>,
    pending: Vec<jetstream::context::PublishAckFuture>,
    message: Vec<u8>,
}

impl NatsWriter {
    pub fn open(
        options: &NatsOptions,
        encoder: Box<dyn Encoder>,
    ) -> Result<NatsWriter, ConnectorError> {
        let runtime = runtime()?;
        let js = runtime.block_on(async {
            let js = context(options).await?;
            stream(&js, options).await?;
            Ok::<_, ConnectorError>(js)
        })?;
        Ok(NatsWriter {
            options: options.clone(),
            runtime,
            js,
            encoder,
            pending: Vec::new(),
            message: Vec::new(),
        })
    }

    fn wait(&mut self) -> Result<(), ConnectorError> {
        let pending = std::mem::take(&mut self.pending);
        let options = &self.options;
        self.runtime.block_on(async {
            for ack in futures::future::join_all(pending.into_iter().map(|f| f.into_future())).await
            {
                ack.map_err(|e| nats_error("JetStream did not store a message", options, e))?;
            }
            Ok(())
        })
    }
}

impl SinkWriter for NatsWriter {
    fn write(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        for (row, _, diff) in updates {
            self.message.clear();
            self.encoder
                .encode(row, *diff, &mut self.message)
                .map_err(|e| ConnectorError::new(format!("cannot encode a row: {e}")))?;
            for _ in 0..diff.unsigned_abs() {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("op", if *diff > 0 { "+" } else { "-" });
                let subject = self.options.subject.clone();
                let payload = bytes::Bytes::copy_from_slice(&self.message);
                let js = &self.js;
                let options = &self.options;
                let ack = self.runtime.block_on(async {
                    js.publish_with_headers(subject, headers, payload)
                        .await
                        .map_err(|e| nats_error("publishing failed", options, e))
                })?;
                self.pending.push(ack);
            }
            // Bounded buffering: wait for the server once 1,000 messages are in flight.
            if self.pending.len() >= 1000 {
                self.wait()?;
            }
        }
        Ok(())
    }

    fn complete(&mut self, _upper: Timestamp) -> Result<(), ConnectorError> {
        self.wait()
    }
}
