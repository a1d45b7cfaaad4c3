//! NATS JetStream: a durable pull-consumer source and a publish sink.
//!
//! ```sql
//! CREATE TABLE votes (user_id BIGINT, contestant TEXT) WITH (
//!   'connector' = 'nats-jetstream', 'url' = 'nats://127.0.0.1:4222',
//!   'stream' = 'VOTES', 'subject' = 'votes.>', 'consumer' = 'laaster', 'format' = 'json');
//! ```
//!
//! Source: every worker pulls from the same durable consumer (`'consumer'`; the engine
//! gives each view its own, `<consumer>-<view>`), so JetStream hands each message to
//! exactly one worker; the stream is created with `'subject'` if it does not exist. Each
//! reader keeps one continuous pull open in the background (its own one-thread runtime)
//! and queues up to 4,096 messages, so `poll` never waits on the network. A message is
//! acknowledged once its rows are in the dataflow; unacknowledged messages are
//! redelivered after the consumer's ack wait (at-least-once). A consumer created here
//! allows 65,536 unacknowledged messages (JetStream's default of 1,000 stalled readers).
//! `'scan.startup.mode'` = `earliest` (default: the whole stream) or `latest` (messages
//! published after the consumer is created) applies when the consumer is created.
//! Dropping the view deletes its durable consumer ([`delete_consumer`], through
//! `SourceConfig::release`); an engine shutdown keeps it, so a restarted view resumes.
//!
//! Sink: `publish(subject, message)` to the literal `'subject'` (an existing stream
//! capturing it is used as is); `complete` waits for JetStream's acknowledgement of
//! every message published since the last call, so a completed timestamp is stored.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
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

async fn connect(options: &NatsOptions) -> Result<async_nats::Client, ConnectorError> {
    tokio::time::timeout(Duration::from_secs(5), async_nats::connect(&options.url))
        .await
        .map_err(|_| nats_error("timed out connecting to NATS", options, "5 s"))?
        .map_err(|e| nats_error("cannot connect to NATS", options, e))
}

async fn context(options: &NatsOptions) -> Result<jetstream::Context, ConnectorError> {
    Ok(jetstream::new(connect(options).await?))
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

/// Messages a reader's pull loop may hold before the engine takes them.
const PREFETCH: usize = 4096;

/// Messages the pull loop asks JetStream for at a time.
const PULL_BATCH: usize = 1024;

/// Messages a durable consumer created here may have delivered and unacknowledged
/// (JetStream's default, 1,000, held a reader back while its messages waited in the
/// engine to be acknowledged).
const MAX_ACK_PENDING: i64 = 65_536;

/// What the pull loop hands the reader.
type Pulled = Result<jetstream::Message, ConnectorError>;

/// Pulls one worker's share of a durable consumer. A background task (on the reader's
/// own one-thread runtime, which also drives the connection) keeps a continuous pull
/// (`messages()`, with heartbeats) open and queues what arrives; `poll` takes from the
/// queue without waiting on the network, and `commit` acknowledges.
pub struct NatsReader {
    options: NatsOptions,
    runtime: tokio::runtime::Runtime,
    client: async_nats::Client,
    messages: tokio::sync::mpsc::Receiver<Pulled>,
    /// Messages read and not yet acknowledged, in order.
    unacked: Vec<(String, jetstream::message::Acker)>,
    /// An error met after some messages of a poll; returned by the next poll.
    deferred: Option<ConnectorError>,
}

impl NatsReader {
    /// Connects, creates the stream and the durable consumer `options.consumer` if they
    /// do not exist, and starts pulling.
    pub fn open(options: &NatsOptions) -> Result<NatsReader, ConnectorError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("laaster-nats")
            .enable_all()
            .build()
            .map_err(|e| {
                ConnectorError::new(format!("cannot start the NATS client runtime: {e}"))
            })?;
        let (client, consumer) = runtime.block_on(async {
            let client = connect(options).await?;
            let js = jetstream::new(client.clone());
            let stream = stream(&js, options).await?;
            let consumer = stream
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
                        max_ack_pending: MAX_ACK_PENDING,
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
                })?;
            Ok::<_, ConnectorError>((client, consumer))
        })?;
        let (sender, messages) = tokio::sync::mpsc::channel(PREFETCH);
        runtime.spawn(pull(consumer, sender, options.clone()));
        Ok(NatsReader {
            options: options.clone(),
            runtime,
            client,
            messages,
            unacked: Vec::new(),
            deferred: None,
        })
    }
}

/// The pull loop: queues every message of a continuous pull until the reader goes away
/// or the pull fails (the failure is queued; the engine then reopens the reader).
async fn pull(
    consumer: consumer::PullConsumer,
    sender: tokio::sync::mpsc::Sender<Pulled>,
    options: NatsOptions,
) {
    let pulled = consumer
        .stream()
        .max_messages_per_batch(PULL_BATCH)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await;
    let mut messages = match pulled {
        Ok(messages) => messages,
        Err(e) => {
            let _ = sender
                .send(Err(nats_error(
                    "cannot pull from the consumer",
                    &options,
                    e,
                )))
                .await;
            return;
        }
    };
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| nats_error("receiving a message failed", &options, e));
        let failed = message.is_err();
        if sender.send(message).await.is_err() || failed {
            return;
        }
    }
}

impl SourceReader for NatsReader {
    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        use tokio::sync::mpsc::error::TryRecvError;

        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        let mut got = 0;
        while got < max {
            let pulled = match self.messages.try_recv() {
                Ok(pulled) => pulled,
                Err(TryRecvError::Empty) if got == 0 && !timeout.is_zero() => {
                    let messages = &mut self.messages;
                    // The timer is made inside the runtime (it needs its clock).
                    let waited = self
                        .runtime
                        .block_on(async { tokio::time::timeout(timeout, messages.recv()).await });
                    match waited {
                        Ok(Some(pulled)) => pulled,
                        Ok(None) => return Err(self.stopped()),
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) if got == 0 => return Err(self.stopped()),
                Err(TryRecvError::Disconnected) => break,
            };
            let message = match pulled {
                Ok(message) => message,
                Err(error) if got == 0 => return Err(error),
                Err(error) => {
                    self.deferred = Some(error);
                    break;
                }
            };
            let sequence = message
                .info()
                .map(|info| info.stream_sequence.to_string())
                .unwrap_or_default();
            let (message, acker) = message.split();
            self.unacked.push((sequence.clone(), acker));
            out.push(Message {
                position: Position {
                    partition: message.subject.to_string(),
                    offset: sequence,
                },
                key: None,
                payload: message.payload.to_vec(),
                metadata: Default::default(),
            });
            got += 1;
        }
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
        // Acknowledgements are published without waiting for the server's reply (the
        // client sends them in order, flushed in the background and on close); one that
        // is lost makes JetStream redeliver the message after the ack wait
        // (at-least-once).
        self.runtime.block_on(async {
            for acker in &ackers {
                acker
                    .ack()
                    .await
                    .map_err(|e| nats_error("acknowledging a message failed", options, e))?;
            }
            Ok(())
        })
    }

    fn close(&mut self) {
        // Send the acknowledgements still buffered in the client.
        let flushed = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), self.client.flush()).await
        });
        if !matches!(flushed, Ok(Ok(()))) {
            // No logger in this crate; unflushed messages are redelivered.
            eprintln!(
                "warning: NATS consumer '{}' (stream '{}'): acknowledgements not flushed on close",
                self.options.consumer, self.options.stream
            );
        }
    }
}

impl NatsReader {
    fn stopped(&self) -> ConnectorError {
        nats_error(
            &format!("the pull from consumer '{}' stopped", self.options.consumer),
            &self.options,
            "reconnecting",
        )
    }
}

/// Deletes the durable consumer `options.consumer` of `options.stream` (its position and
/// unacknowledged messages). A missing stream or consumer is not an error.
pub fn delete_consumer(options: &NatsOptions) -> Result<(), ConnectorError> {
    runtime()?.block_on(async {
        let js = jetstream::new(connect(options).await?);
        let stream = match js.get_stream(&options.stream).await {
            Ok(stream) => stream,
            Err(e) if e.to_string().contains("not found") => return Ok(()),
            Err(e) => return Err(nats_error("cannot look up the stream", options, e)),
        };
        match stream.delete_consumer(&options.consumer).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(nats_error(
                &format!("cannot delete consumer '{}'", options.consumer),
                options,
                e,
            )),
        }
    })
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
        self.runtime.block_on(wait_for_acks(pending, &self.options))
    }
}

/// Waits for JetStream's acknowledgement of every publish in `pending`.
async fn wait_for_acks(
    pending: Vec<jetstream::context::PublishAckFuture>,
    options: &NatsOptions,
) -> Result<(), ConnectorError> {
    for ack in futures::future::join_all(pending.into_iter().map(|f| f.into_future())).await {
        ack.map_err(|e| nats_error("JetStream did not store a message", options, e))?;
    }
    Ok(())
}

impl SinkWriter for NatsWriter {
    fn write(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        let mut messages = Vec::with_capacity(updates.len());
        for (row, _, diff) in updates {
            self.message.clear();
            self.encoder
                .encode(row, *diff, &mut self.message)
                .map_err(|e| ConnectorError::new(format!("cannot encode a row: {e}")))?;
            let payload = bytes::Bytes::copy_from_slice(&self.message);
            for _ in 0..diff.unsigned_abs() {
                messages.push((*diff > 0, payload.clone()));
            }
        }
        let (js, options, pending) = (&self.js, &self.options, &mut self.pending);
        // One pass on the client's runtime for the whole batch (not one per message).
        self.runtime.block_on(async {
            for (insert, payload) in messages {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("op", if insert { "+" } else { "-" });
                let ack = js
                    .publish_with_headers(options.subject.clone(), headers, payload)
                    .await
                    .map_err(|e| nats_error("publishing failed", options, e))?;
                pending.push(ack);
                // Bounded buffering: wait for the server once 1,000 messages are in flight.
                if pending.len() >= 1000 {
                    wait_for_acks(std::mem::take(pending), options).await?;
                }
            }
            Ok(())
        })
    }

    fn complete(&mut self, _upper: Timestamp) -> Result<(), ConnectorError> {
        self.wait()
    }
}
