//! The gRPC service `laaster.v1.Laaster` (see `proto/laaster.proto` for the contract).
//!
//! Blocking engine calls run on tokio's blocking pool; each Subscribe stream has its
//! own thread that waits on the engine's feed and forwards events into a bounded queue
//! (`subscribe_buffer` events). The thread never waits for the client: when the queue
//! is full (HTTP/2 flow control stops tonic from taking events because the client does
//! not read), the thread drops the engine subscription, flags the overflow and ends;
//! the response stream sends what was queued, then an error event (53400) that says
//! where to resume (`resume_as_of`), and ends. Memory per slow client is bounded by the
//! queue; the engine and the other clients never wait for it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::Stream;
use laaster_engine::{ErrorResponse, ExecuteResult, SubscribeEvent, Subscription};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::arrow_ipc;
use crate::core::{Core, check_subscribe_statement, now_millis, start_subscription, subscribe_sql};
use crate::metrics::{Metrics, SubscriberPosition, Transport};
use crate::proto::laaster_server::Laaster;
use crate::proto::{self, subscribe_response::Event};
use crate::values::{TableSchema, columns, proto_row, proto_row_set, status_for};

type RpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The service implementation over the shared [`Core`].
pub struct LaasterService {
    core: Arc<Core>,
}

impl LaasterService {
    pub fn new(core: Arc<Core>) -> Self {
        LaasterService { core }
    }
}

fn join_error(error: tokio::task::JoinError) -> Status {
    Status::internal(format!("server task failed: {error}"))
}

#[tonic::async_trait]
impl Laaster for LaasterService {
    async fn execute(
        &self,
        request: Request<proto::ExecuteRequest>,
    ) -> Result<Response<proto::ExecuteResponse>, Status> {
        let sql = request.into_inner().sql;
        let core = self.core.clone();
        let outcome = tokio::task::spawn_blocking(move || core.execute(&sql))
            .await
            .map_err(join_error)?;
        let results = outcome
            .results
            .iter()
            .filter_map(|result| {
                let result = match result {
                    ExecuteResult::Command { tag } => {
                        proto::statement_result::Result::CommandTag(tag.clone())
                    }
                    ExecuteResult::Rows(rows) => {
                        proto::statement_result::Result::Rows(proto_row_set(rows))
                    }
                    ExecuteResult::Subscription(_) => return None,
                };
                Some(proto::StatementResult {
                    result: Some(result),
                })
            })
            .collect();
        Ok(Response::new(proto::ExecuteResponse {
            results,
            error: outcome.error.as_ref().map(proto::Error::from),
        }))
    }

    type QueryStream = RpcStream<proto::QueryResponse>;

    async fn query(
        &self,
        request: Request<proto::QueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let request = request.into_inner();
        let core = self.core.clone();
        let sql = request.sql.clone();
        let mut outcome = tokio::task::spawn_blocking(move || core.execute(&sql))
            .await
            .map_err(join_error)?;
        if let Some(error) = &outcome.error {
            return Err(status_for(error, Some(&request.sql)));
        }
        let rows = match (outcome.results.len(), outcome.results.pop()) {
            (1, Some(ExecuteResult::Rows(rows))) => rows,
            _ => {
                let error = ErrorResponse::new(
                    "42601",
                    "Query takes exactly one statement that returns rows",
                )
                .with_hint("use Execute for other statements");
                return Err(status_for(&error, None));
            }
        };
        let batch_rows = match request.batch_rows {
            0 => 8192,
            n => n as usize,
        };
        let timestamp = rows.timestamp;
        let chunks = tokio::task::spawn_blocking(move || arrow_ipc::encode(&rows, batch_rows))
            .await
            .map_err(join_error)?
            .map_err(|e| Status::internal(format!("arrow encoding failed: {e}")))?;
        let responses = chunks.into_iter().map(move |chunk| {
            Ok(proto::QueryResponse {
                arrow_ipc: chunk.bytes,
                timestamp,
                rows: chunk.rows,
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(responses))))
    }

    type SubscribeStream = RpcStream<proto::SubscribeResponse>;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let request = request.into_inner();
        let (target, sql) = match (
            request.view.trim(),
            request.query.trim(),
            request.sql.trim(),
        ) {
            (view, "", "") if !view.is_empty() => (view, None),
            ("", query, "") if !query.is_empty() => (query, None),
            ("", "", sql) if !sql.is_empty() => (sql, Some(sql)),
            _ => {
                return Err(Status::invalid_argument(
                    "give exactly one of `view`, `query` and `sql`",
                ));
            }
        };
        let sql = match sql {
            Some(sql) => check_subscribe_statement(sql).map_err(|e| status_for(&e, Some(sql)))?,
            None => subscribe_sql(target, request.snapshot.unwrap_or(true), request.as_of)
                .map_err(|e| status_for(&e, None))?,
        };
        let target = target.to_string();
        let core = self.core.clone();
        let buffer = core.config.subscribe_buffer;
        let (sender, receiver) = mpsc::channel(buffer);
        let shared = Arc::new(StreamShared {
            overflowed: AtomicBool::new(false),
            position: SubscriberPosition::new(Arc::new(AtomicU64::new(0))),
            buffer,
        });
        // Start in the engine before answering, so setup errors become the RPC's status.
        let (started, started_result) = tokio::sync::oneshot::channel();
        let forwarder = Forwarder {
            sender,
            shared: shared.clone(),
            metrics: core.metrics.clone(),
            last_progress: 0,
        };
        std::thread::Builder::new()
            .name("laaster-grpc-feed".into())
            .spawn(move || forward_feed(core, target, sql, forwarder, started))
            .map_err(|e| Status::internal(format!("cannot start a feed thread: {e}")))?;
        match started_result.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(status_for(&error, None)),
            Err(_) => return Err(Status::internal("the feed thread stopped")),
        }
        let stream = OutgoingStream {
            receiver,
            shared,
            done: false,
            last_progress: None,
        };
        Ok(Response::new(Box::pin(futures_util::stream::unfold(
            stream,
            OutgoingStream::next,
        ))))
    }

    type IngestStream = RpcStream<proto::IngestAck>;

    async fn ingest(
        &self,
        request: Request<Streaming<proto::IngestRequest>>,
    ) -> Result<Response<Self::IngestStream>, Status> {
        let mut inbound = request.into_inner();
        let core = self.core.clone();
        let (sender, receiver) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut table = String::new();
            let mut desc = None;
            let mut batch = 0u64;
            while let Some(request) = inbound.next().await {
                let request = match request {
                    Ok(request) => request,
                    Err(status) => {
                        tracing::debug!(status = %status, "ingest stream ended with an error");
                        return;
                    }
                };
                let ack = ingest_batch(&core, &mut table, &mut desc, batch, request).await;
                batch += 1;
                if sender.send(ack).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

/// Writes one Ingest batch; the table's schema is looked up once per stream (and again
/// when the table changes).
async fn ingest_batch(
    core: &Arc<Core>,
    table: &mut String,
    desc: &mut Option<TableSchema>,
    batch: u64,
    request: proto::IngestRequest,
) -> Result<proto::IngestAck, Status> {
    if !request.table.is_empty() && request.table != *table {
        *table = request.table.clone();
        *desc = None;
    }
    if table.is_empty() {
        return Err(Status::invalid_argument(
            "the first IngestRequest must name the table",
        ));
    }
    if !request.json_rows.is_empty() && !request.arrow_ipc.is_empty() {
        let error = ErrorResponse::new(
            "22023",
            "an IngestRequest carries either json_rows or arrow_ipc, not both",
        )
        .with_hint("send the two kinds of rows in separate requests");
        return Ok(proto::IngestAck {
            batch,
            error: Some(proto::Error::from(&error)),
            ..Default::default()
        });
    }
    if desc.is_none() {
        let core = core.clone();
        let name = table.clone();
        let looked_up = tokio::task::spawn_blocking(move || core.table_schema(&name))
            .await
            .map_err(join_error)?;
        match looked_up {
            Ok(found) => *desc = Some(found),
            Err(error) => {
                return Ok(proto::IngestAck {
                    batch,
                    error: Some(proto::Error::from(&error)),
                    ..Default::default()
                });
            }
        }
    }
    let core = core.clone();
    let name = table.clone();
    // DEFAULTs are evaluated per request: `DEFAULT now()` is this batch's time.
    let schema = crate::core::refreshed(desc.clone().unwrap_or_default());
    let outcome = tokio::task::spawn_blocking(move || {
        if request.arrow_ipc.is_empty() {
            core.ingest_json(&name, &schema, &request.json_rows)
        } else {
            core.ingest_arrow(&name, &schema, &request.arrow_ipc)
        }
    })
    .await
    .map_err(join_error)?;
    Ok(proto::IngestAck {
        batch,
        rows_written: outcome.rows_written,
        row_errors: outcome
            .row_errors
            .iter()
            .map(|(row, e)| proto::RowError {
                row: *row as u64,
                column: e.column.clone().unwrap_or_default(),
                error: Some(proto::Error::from(&*e.error)),
            })
            .collect(),
        error: outcome.error.as_ref().map(proto::Error::from),
    })
}

/// Idle progress marks (no updates since the last mark) go out at most this often.
const IDLE_MARK: Duration = Duration::from_millis(50);

/// One event on its way to the client, with the feed's progress mark once the client
/// has it.
struct Outgoing {
    event: Event,
    frontier: u64,
}

/// What the forwarder thread and the response stream of one Subscribe share.
struct StreamShared {
    /// Set by the forwarder when the queue overflowed (it then stops).
    overflowed: AtomicBool,
    position: Arc<SubscriberPosition>,
    buffer: usize,
}

/// The response stream of one Subscribe: the queued events, then the overflow error
/// if the forwarder gave up on this client.
struct OutgoingStream {
    receiver: mpsc::Receiver<Outgoing>,
    shared: Arc<StreamShared>,
    done: bool,
    /// The last progress mark sent to the client.
    last_progress: Option<u64>,
}

impl OutgoingStream {
    async fn next(mut self) -> Option<(Result<proto::SubscribeResponse, Status>, Self)> {
        if self.done {
            return None;
        }
        let event = match self.receiver.recv().await {
            Some(outgoing) => {
                self.shared.position.written(outgoing.frontier);
                if let Event::Progress(time) = outgoing.event {
                    self.last_progress = Some(time);
                }
                outgoing.event
            }
            None if self.shared.overflowed.load(Ordering::Acquire) => {
                self.done = true;
                Event::Error(self.overflow_error())
            }
            None => return None,
        };
        Some((Ok(proto::SubscribeResponse { event: Some(event) }), self))
    }

    /// The error that ends an overflowed stream: what happened and where to resume.
    fn overflow_error(&self) -> proto::Error {
        let resume = self.last_progress.map(|p| p.saturating_sub(1));
        let error = ErrorResponse::new(
            "53400",
            format!(
                "subscriber fell behind: more than {} events were waiting for it",
                self.shared.buffer
            ),
        )
        .with_detail(match resume {
            Some(t) => format!("the feed stopped; every change at times <= {t} was sent"),
            None => "the feed stopped before any progress mark was sent".to_string(),
        })
        .with_hint(
            "read the stream faster or raise subscribe_buffer; to continue, subscribe \
             again with as_of = resume_as_of and snapshot = false (within the server's \
             retained history), or afresh with a snapshot",
        );
        let mut error = proto::Error::from(&error);
        error.resume_as_of = resume;
        error
    }
}

/// The forwarder's side of one stream's queue.
struct Forwarder {
    sender: mpsc::Sender<Outgoing>,
    shared: Arc<StreamShared>,
    metrics: Arc<Metrics>,
    last_progress: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pushed {
    Queued,
    Full,
    Closed,
}

impl Forwarder {
    /// Queues `event` without waiting.
    fn push(&self, event: Event) -> Pushed {
        let outgoing = Outgoing {
            event,
            frontier: self.last_progress,
        };
        match self.sender.try_send(outgoing) {
            Ok(()) => {
                self.shared.position.queued();
                self.metrics.messages_sent(Transport::Grpc, 1);
                Pushed::Queued
            }
            Err(mpsc::error::TrySendError::Full(_)) => Pushed::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Pushed::Closed,
        }
    }

    /// Forwards the engine's events until the client goes, the feed ends, or the queue
    /// is full (`Pushed::Full`).
    fn forward(&mut self, core: &Core, target: &str, subscription: &Subscription) -> Pushed {
        self.last_progress = subscription.as_of;
        let schema = Event::Schema(proto::FeedSchema {
            columns: columns(&subscription.desc),
            as_of: subscription.as_of,
        });
        let mut pushed = self.push(schema);
        // Progress marks come every tick (1 ms); a mark is forwarded after updates, and
        // otherwise at most every IDLE_MARK. A mark that finds the queue full is skipped
        // (the next one covers it): only updates overflow a queue.
        let mut updates_since_mark = false;
        let mut last_mark = Instant::now();
        while pushed == Pushed::Queued {
            let event = match subscription.recv_timeout(Duration::from_millis(200)) {
                Ok(None) => {
                    if self.sender.is_closed() || core.is_stopping() {
                        return Pushed::Closed;
                    }
                    continue;
                }
                Err(_) => Event::Error(proto::Error::from(&ErrorResponse::new(
                    "57P01",
                    "the engine has shut down",
                ))),
                Ok(Some(SubscribeEvent::Updates(updates))) => {
                    self.metrics
                        .feed_updates(target, updates.iter().map(|u| u.1), now_millis());
                    updates_since_mark = true;
                    for chunk in update_chunks(&updates) {
                        pushed = self.push(Event::Updates(chunk));
                        if pushed != Pushed::Queued {
                            return pushed;
                        }
                    }
                    continue;
                }
                Ok(Some(SubscribeEvent::Progress(time))) => {
                    self.shared
                        .position
                        .view_frontier
                        .store(time, Ordering::Relaxed);
                    if !updates_since_mark && last_mark.elapsed() < IDLE_MARK {
                        continue;
                    }
                    let previous = std::mem::replace(&mut self.last_progress, time);
                    if self.push(Event::Progress(time)) == Pushed::Full {
                        self.last_progress = previous;
                    } else {
                        updates_since_mark = false;
                        last_mark = Instant::now();
                    }
                    continue;
                }
                Ok(Some(SubscribeEvent::Error(error))) => Event::Error(proto::Error::from(&error)),
            };
            let last = matches!(event, Event::Error(_));
            pushed = self.push(event);
            if last && pushed == Pushed::Queued {
                return Pushed::Closed;
            }
        }
        pushed
    }
}

/// Updates as events of at most about [`MAX_EVENT_BYTES`] each (a snapshot or a burst
/// can be larger than a client accepts in one message; gRPC clients default to 4 MiB).
fn update_chunks(updates: &[(laaster_repr::Row, u64, i64)]) -> Vec<proto::Updates> {
    use prost::Message;
    let mut chunks = Vec::new();
    let mut chunk = proto::Updates::default();
    let mut bytes = 0;
    for (row, time, diff) in updates {
        let update = proto::Update {
            row: Some(proto_row(row)),
            time: *time,
            diff: *diff,
        };
        let size = update.encoded_len() + 4;
        if bytes + size > MAX_EVENT_BYTES && !chunk.updates.is_empty() {
            chunks.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        bytes += size;
        chunk.updates.push(update);
    }
    if !chunk.updates.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

/// The size an `updates` event is kept under (unless one row alone is larger).
const MAX_EVENT_BYTES: usize = 1 << 20;

/// The thread behind one Subscribe stream: starts the engine feed, reports setup on
/// `started`, then forwards events until the client goes away, the feed ends or the
/// client's queue overflows (see the module docs).
fn forward_feed(
    core: Arc<Core>,
    target: String,
    sql: String,
    mut forwarder: Forwarder,
    started: tokio::sync::oneshot::Sender<Result<(), ErrorResponse>>,
) {
    let mut session = core.session();
    let subscription = match start_subscription(&mut session, &sql) {
        Ok(subscription) => subscription,
        Err(error) => {
            let _ = started.send(Err(error));
            return;
        }
    };
    let _ = started.send(Ok(()));
    let metrics = core.metrics.clone();
    let subscriber =
        metrics.subscriber_joined(&target, Transport::Grpc, forwarder.shared.position.clone());
    if forwarder.forward(&core, &target, &subscription) == Pushed::Full {
        drop(subscription);
        metrics.overflow(Transport::Grpc);
        forwarder.shared.overflowed.store(true, Ordering::Release);
        tracing::info!(feed = %target, "gRPC subscriber fell behind; its feed is stopped");
    }
    metrics.subscriber_left(subscriber);
}
