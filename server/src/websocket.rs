//! The `/ws` WebSocket: JSON change feeds for browsers and scripts.
//!
//! Client → server (text frames, JSON):
//! - `{"subscribe": "tally"}` or `{"subscribe": "SELECT ..."}`: start a feed (replaces
//!   the connection's current one);
//! - `{"subscribe": "tally", "as_of": T, "snapshot": false}`: resume a feed. A client
//!   that has applied everything before progress mark `p` sends `as_of = p - 1` and
//!   `snapshot: false`, gets `{"type":"resume","columns":[...],"time":p}` and then every
//!   change from `p` on, without gaps or repeats. With `snapshot` (the default) the
//!   first message is instead the snapshot as of `T` (`"time": T + 1`). `T` must be
//!   within the server's retained history (`retain_history_ms`, default 10 s), else an
//!   error with code 22000 comes back and the client should subscribe afresh;
//! - `{"unsubscribe": true}`: stop it.
//!
//! Server → client:
//! - `{"type":"snapshot","columns":[{"name","type"}],"time":T,"rows":[[...],...]}`: the
//!   whole result as of `T - 1` (first message of a feed, and after a resync);
//! - `{"type":"update","updates":[{"row":[...],"time":t,"diff":d},...]}`: changes
//!   (`diff` +n adds n copies of `row`, -n removes them);
//! - `{"type":"progress","time":t}`: every change before `t` has been sent;
//! - `{"type":"overflow","action":"resync"|"disconnect","last_progress":p}`: the
//!   client fell more than `ws_buffer` messages behind and the server dropped what was
//!   queued for it (the server never waits for a client). With `resync` a fresh
//!   snapshot of the current state follows (drop local state and start over from it);
//!   after 3 overflows within 10 s the server sends `disconnect` and closes the
//!   connection (reconnect, possibly resuming with `as_of = p - 1`). A client whose
//!   socket accepts nothing for 30 s is disconnected without notice;
//! - `{"type":"error","error":{"code","message","detail","hint",...}}`: the request or
//!   the feed failed (a failed feed sends nothing more; the connection stays open).
//!
//! Values are JSON numbers for integer and finite float columns, booleans, null, and
//! Postgres text for everything else.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::watch;

use crate::core::Core;
use crate::feeds::{FeedClient, FeedMessage, Queued};
use crate::values::error_json;

/// Overflows tolerated within [`OVERFLOW_WINDOW`] before the client is disconnected.
const MAX_OVERFLOWS: usize = 3;
const OVERFLOW_WINDOW: Duration = Duration::from_secs(10);
/// A client whose socket takes no message for this long is disconnected.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one WebSocket connection until it closes or the server stops.
pub async fn serve_socket(socket: WebSocket, core: Arc<Core>, mut stopping: watch::Receiver<bool>) {
    let (mut sink, mut stream) = socket.split();
    let mut client: Option<FeedClient> = None;
    let mut overflows: VecDeque<Instant> = VecDeque::new();
    loop {
        tokio::select! {
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                match parse_request(text.as_str()) {
                    Ok(Request::Subscribe { target, as_of }) => {
                        client = None;
                        match join(&core, target, as_of).await {
                            Ok(joined) => client = Some(joined),
                            Err(message) => {
                                if send(&mut sink, &message).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    Ok(Request::Unsubscribe) => client = None,
                    Err(message) => {
                        if send(&mut sink, &message).await.is_err() {
                            break;
                        }
                    }
                }
            }
            message = next_message(&mut client) => match message {
                Some(message) => {
                    if send(&mut sink, &message.text).await.is_err() {
                        break;
                    }
                    if let Some(client) = &client {
                        client.position.written(message.frontier);
                    }
                }
                None => {
                    let Some(ended) = client.take() else { continue };
                    if !ended.overflowed() {
                        continue; // the feed failed; its error was the last message
                    }
                    let now = Instant::now();
                    overflows.push_back(now);
                    while overflows.front().is_some_and(|t| now.duration_since(*t) > OVERFLOW_WINDOW) {
                        overflows.pop_front();
                    }
                    let key = ended.key().to_string();
                    let last_progress = ended.position.delivered.load(std::sync::atomic::Ordering::Relaxed);
                    drop(ended);
                    let action = if overflows.len() >= MAX_OVERFLOWS { "disconnect" } else { "resync" };
                    let notice = json!({"type": "overflow", "action": action, "last_progress": last_progress}).to_string();
                    if send(&mut sink, &notice.into()).await.is_err() || action == "disconnect" {
                        break;
                    }
                    match join(&core, key, None).await {
                        Ok(joined) => client = Some(joined),
                        Err(message) => {
                            if send(&mut sink, &message).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            },
            _ = stopping.changed() => break,
        }
    }
    drop(client);
    let _ = sink.send(Message::Close(None)).await;
}

enum Request {
    Subscribe {
        target: String,
        /// `(as_of, snapshot)` for a resumed feed.
        as_of: Option<(u64, bool)>,
    },
    Unsubscribe,
}

/// Parses a client message; an unusable one becomes the error message to send back.
fn parse_request(text: &str) -> Result<Request, FeedMessage> {
    let bad = |message: &str| -> FeedMessage {
        json!({"type": "error", "error": {
            "code": "22023",
            "message": message,
            "hint": "send {\"subscribe\": \"view_name\"} or {\"subscribe\": \"SELECT ...\"}",
        }})
        .to_string()
        .into()
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("invalid JSON: {e}")))?;
    if let Some(target) = value.get("subscribe") {
        let Some(target) = target.as_str() else {
            return Err(bad("\"subscribe\" must be a string"));
        };
        let snapshot = match value.get("snapshot") {
            None | Some(serde_json::Value::Null) => true,
            Some(snapshot) => snapshot
                .as_bool()
                .ok_or_else(|| bad("\"snapshot\" must be true or false"))?,
        };
        let as_of = match value.get("as_of") {
            None | Some(serde_json::Value::Null) => None,
            Some(as_of) => Some(as_of.as_u64().ok_or_else(|| {
                bad("\"as_of\" must be a logical time (a non-negative integer, ms since the Unix epoch)")
            })?),
        };
        if as_of.is_none() && !snapshot {
            return Err(bad(
                "\"snapshot\": false needs \"as_of\" (the time to resume after)",
            ));
        }
        return Ok(Request::Subscribe {
            target: target.to_string(),
            as_of: as_of.map(|t| (t, snapshot)),
        });
    }
    if value.get("unsubscribe").is_some() {
        return Ok(Request::Unsubscribe);
    }
    Err(bad("unknown request"))
}

async fn join(
    core: &Arc<Core>,
    target: String,
    as_of: Option<(u64, bool)>,
) -> Result<FeedClient, FeedMessage> {
    let core = core.clone();
    let buffer = core.config.ws_buffer;
    let joined = tokio::task::spawn_blocking(move || match as_of {
        Some((as_of, snapshot)) => core.feeds.join_as_of(&target, as_of, snapshot, buffer),
        None => core.feeds.join(&target, buffer),
    })
    .await;
    match joined {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(error)) => Err(json!({"type": "error", "error": error_json(&error)})
            .to_string()
            .into()),
        Err(e) => Err(
            json!({"type": "error", "error": {"code": "XX000", "message": e.to_string()}})
                .to_string()
                .into(),
        ),
    }
}

/// The next queued message of the current feed; never resolves without one.
async fn next_message(client: &mut Option<FeedClient>) -> Option<Queued> {
    match client {
        // An overflowed client's queue holds stale messages: skip them.
        Some(client) if client.overflowed() => None,
        Some(client) => client.messages.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes one message; a socket that takes nothing for [`WRITE_TIMEOUT`] is an error.
async fn send(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    message: &FeedMessage,
) -> Result<(), axum::Error> {
    let write = sink.send(Message::Text(message.to_string().into()));
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(result) => result,
        Err(_) => Err(axum::Error::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client took no data for 30 s",
        ))),
    }
}
