//! The gRPC service `laaster.v1.Laaster` (see `proto/laaster.proto` for the contract).
//!
//! Blocking engine calls run on tokio's blocking pool; each Subscribe stream has its
//! own thread that waits on the engine's feed and forwards events into a bounded
//! channel. When a gRPC client reads slowly, that thread waits (the engine keeps
//! queueing the feed's events for it; other clients are not affected).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use laaster_engine::{ErrorResponse, ExecuteResult, SubscribeEvent};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::arrow_ipc;
use crate::core::{Core, check_subscribe_statement, now_millis, start_subscription, subscribe_sql};
use crate::metrics::Transport;
use crate::proto::laaster_server::Laaster;
use crate::proto::{self, subscribe_response::Event};
use crate::values::{columns, proto_row, proto_row_set, status_for};

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
        let (sender, receiver) = mpsc::channel(64);
        // Start in the engine before answering, so setup errors become the RPC's status.
        let (started, started_result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("laaster-grpc-feed".into())
            .spawn(move || forward_feed(core, target, sql, sender, started))
            .map_err(|e| Status::internal(format!("cannot start a feed thread: {e}")))?;
        match started_result.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(status_for(&error, None)),
            Err(_) => return Err(Status::internal("the feed thread stopped")),
        }
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
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
    desc: &mut Option<laaster_repr::RelationDesc>,
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
    if desc.is_none() {
        let core = core.clone();
        let name = table.clone();
        let looked_up = tokio::task::spawn_blocking(move || core.table_desc(&name))
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
    let schema = desc.clone().unwrap_or_default();
    let outcome =
        tokio::task::spawn_blocking(move || core.ingest(&name, &schema, &request.json_rows))
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

/// The thread behind one Subscribe stream: starts the engine feed, reports setup on
/// `started`, then forwards events until the client goes away or the feed ends.
fn forward_feed(
    core: Arc<Core>,
    target: String,
    sql: String,
    sender: mpsc::Sender<Result<proto::SubscribeResponse, Status>>,
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
    metrics.subscriber_joined(&target, Transport::Grpc);
    let event = |event| Ok(proto::SubscribeResponse { event: Some(event) });
    let schema = Event::Schema(proto::FeedSchema {
        columns: columns(&subscription.desc),
        as_of: subscription.as_of,
    });
    let mut open = sender.blocking_send(event(schema)).is_ok();
    while open {
        let message = match subscription.recv_timeout(Duration::from_millis(200)) {
            Ok(None) => {
                open = !sender.is_closed() && !core.is_stopping();
                continue;
            }
            Err(_) => Event::Error(proto::Error::from(&ErrorResponse::new(
                "57P01",
                "the engine has shut down",
            ))),
            Ok(Some(SubscribeEvent::Updates(updates))) => {
                metrics.feed_updates(&target, updates.iter().map(|u| u.1), now_millis());
                Event::Updates(proto::Updates {
                    updates: updates
                        .iter()
                        .map(|(row, time, diff)| proto::Update {
                            row: Some(proto_row(row)),
                            time: *time,
                            diff: *diff,
                        })
                        .collect(),
                })
            }
            Ok(Some(SubscribeEvent::Progress(time))) => Event::Progress(time),
            Ok(Some(SubscribeEvent::Error(error))) => Event::Error(proto::Error::from(&error)),
        };
        let last = matches!(message, Event::Error(_));
        open = sender.blocking_send(event(message)).is_ok() && !last;
        metrics.messages_sent(Transport::Grpc, 1);
    }
    metrics.subscriber_left(&target, Transport::Grpc);
}
