//! The `/ws` WebSocket: JSON change feeds for browsers and scripts.
//!
//! Client → server (text frames, JSON):
//! - `{"subscribe": "tally"}` or `{"subscribe": "SELECT ..."}`: start a feed (replaces
//!   the connection's current one);
//! - `{"unsubscribe": true}`: stop it.
//!
//! Server → client:
//! - `{"type":"snapshot","columns":[{"name","type"}],"time":T,"rows":[[...],...]}`: the
//!   whole result as of `T - 1` (first message of a feed, and after a resync);
//! - `{"type":"update","updates":[{"row":[...],"time":t,"diff":d},...]}`: changes
//!   (`diff` +n adds n copies of `row`, -n removes them);
//! - `{"type":"progress","time":t}`: every change before `t` has been sent;
//! - `{"type":"overflow","action":"resync"|"disconnect"}`: the client fell more than
//!   `ws_buffer` messages behind. With `resync` a fresh snapshot follows (drop local
//!   state and start over from it); after 3 overflows within 10 s the server sends
//!   `disconnect` and closes the connection;
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
use crate::feeds::{FeedClient, FeedMessage};
use crate::values::error_json;

/// Overflows tolerated within [`OVERFLOW_WINDOW`] before the client is disconnected.
const MAX_OVERFLOWS: usize = 3;
const OVERFLOW_WINDOW: Duration = Duration::from_secs(10);

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
                    Ok(Request::Subscribe(target)) => {
                        client = None;
                        match join(&core, target).await {
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
                    if send(&mut sink, &message).await.is_err() {
                        break;
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
                    drop(ended);
                    if overflows.len() >= MAX_OVERFLOWS {
                        let notice = json!({"type": "overflow", "action": "disconnect"}).to_string();
                        let _ = send(&mut sink, &notice.into()).await;
                        break;
                    }
                    let notice = json!({"type": "overflow", "action": "resync"}).to_string();
                    if send(&mut sink, &notice.into()).await.is_err() {
                        break;
                    }
                    match join(&core, key).await {
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
    Subscribe(String),
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
        return match target.as_str() {
            Some(target) => Ok(Request::Subscribe(target.to_string())),
            None => Err(bad("\"subscribe\" must be a string")),
        };
    }
    if value.get("unsubscribe").is_some() {
        return Ok(Request::Unsubscribe);
    }
    Err(bad("unknown request"))
}

async fn join(core: &Arc<Core>, target: String) -> Result<FeedClient, FeedMessage> {
    let core = core.clone();
    let buffer = core.config.ws_buffer;
    let joined = tokio::task::spawn_blocking(move || core.feeds.join(&target, buffer)).await;
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
async fn next_message(client: &mut Option<FeedClient>) -> Option<FeedMessage> {
    match client {
        Some(client) => client.messages.recv().await,
        None => std::future::pending().await,
    }
}

async fn send(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    message: &FeedMessage,
) -> Result<(), axum::Error> {
    sink.send(Message::Text(message.to_string().into())).await
}
