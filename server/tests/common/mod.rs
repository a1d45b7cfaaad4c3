//! Helpers shared by the server's integration tests: a real server on free loopback
//! ports, a gRPC client, a WebSocket client and a minimal HTTP/1.1 client.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use laaster_server::proto::laaster_client::LaasterClient;
use laaster_server::proto::{self, subscribe_response::Event};
use laaster_server::{ConfigOverrides, RunningServer, ServerConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tonic::transport::Channel;

pub type Client = LaasterClient<Channel>;

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A fresh, empty data directory under the system temp dir.
pub fn temp_data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "laaster-server-test-{name}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts a server with 2 workers on free loopback ports.
pub async fn start_server(data_dir: &std::path::Path, ws_buffer: usize) -> RunningServer {
    start_server_with(data_dir, ws_buffer, 256).await
}

/// Starts a server with these WebSocket and gRPC Subscribe queue sizes.
pub async fn start_server_with(
    data_dir: &std::path::Path,
    ws_buffer: usize,
    subscribe_buffer: usize,
) -> RunningServer {
    let overrides = ConfigOverrides {
        grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
        http_addr: Some("127.0.0.1:0".parse().unwrap()),
        workers: Some(2),
        data_dir: Some(data_dir.to_path_buf()),
        ws_buffer: Some(ws_buffer),
        ..ConfigOverrides::default()
    };
    let mut config = ServerConfig::resolve(&overrides, |_| None).unwrap();
    config.subscribe_buffer = subscribe_buffer;
    // Resuming in tests must not depend on how fast a loaded machine runs them.
    config.retain_history_ms = 300_000;
    laaster_server::start(config).await.unwrap()
}

/// Prometheus text as (series with labels, value), e.g.
/// `laaster_subscribers{feed="tally",transport="ws"}` → 1.
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The series of `metrics` whose name is `name` and whose labels include every
/// `key="value"` of `labels`.
pub fn series<'a>(
    metrics: &'a BTreeMap<String, f64>,
    name: &str,
    labels: &[&str],
) -> Vec<(&'a String, f64)> {
    metrics
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
        })
        .map(|(series, value)| (series, *value))
        .collect()
}

pub async fn grpc_client(server: &RunningServer) -> LaasterClient<Channel> {
    LaasterClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .unwrap()
}

/// Runs SQL over gRPC and panics on an error.
pub async fn execute(client: &mut LaasterClient<Channel>, sql: &str) -> proto::ExecuteResponse {
    let response = client
        .execute(proto::ExecuteRequest { sql: sql.into() })
        .await
        .unwrap()
        .into_inner();
    assert!(response.error.is_none(), "{sql}: {:?}", response.error);
    response
}

/// Ingests one batch of JSON rows and returns its ack.
pub async fn ingest(
    client: &mut LaasterClient<Channel>,
    table: &str,
    rows: &[String],
) -> proto::IngestAck {
    let request = proto::IngestRequest {
        table: table.into(),
        json_rows: rows.to_vec(),
        ..Default::default()
    };
    let mut acks = client
        .ingest(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    acks.message().await.unwrap().expect("one ack")
}

pub fn vote(user: i64, contestant: &str) -> String {
    format!(r#"{{"user_id": {user}, "contestant": "{contestant}", "ts": "2026-01-01 00:00:00"}}"#)
}

pub async fn ws_connect(server: &RunningServer) -> WsStream {
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.http_addr))
        .await
        .unwrap();
    socket
}

pub async fn ws_subscribe(socket: &mut WsStream, target: &str) {
    let request = serde_json::json!({ "subscribe": target }).to_string();
    socket.send(Message::Text(request.into())).await.unwrap();
}

/// The next JSON message of a WebSocket, waiting at most 20 s.
pub async fn ws_next(socket: &mut WsStream) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a WebSocket message within 20 s")
            .expect("the socket stays open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

/// A view's contents as a client rebuilds them from a feed: row (as JSON text) → count.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    pub rows: BTreeMap<String, i64>,
    /// The last progress mark.
    pub frontier: u64,
    pub updates: usize,
    pub progress_marks: usize,
}

impl Tally {
    /// Applies an update at `time`, checking the feed's order: no update below the last
    /// progress mark.
    pub fn apply(&mut self, row: String, time: u64, diff: i64) {
        assert!(
            time >= self.frontier,
            "update at {time} arrived after progress {}",
            self.frontier
        );
        let count = self.rows.entry(row.clone()).or_default();
        *count += diff;
        if *count == 0 {
            self.rows.remove(&row);
        }
        self.updates += 1;
    }

    pub fn progress(&mut self, time: u64) {
        assert!(
            time >= self.frontier,
            "progress went back from {} to {time}",
            self.frontier
        );
        self.frontier = time;
        self.progress_marks += 1;
    }

    /// Applies one WebSocket message.
    pub fn apply_ws(&mut self, message: &Value) {
        match message["type"].as_str().unwrap() {
            "snapshot" => {
                self.rows.clear();
                for row in message["rows"].as_array().unwrap() {
                    *self.rows.entry(row.to_string()).or_default() += 1;
                }
                self.frontier = message["time"].as_u64().unwrap();
            }
            // A resumed feed: the client's rows stay; changes from `time` on follow.
            "resume" => self.frontier = message["time"].as_u64().unwrap(),
            "update" => {
                for update in message["updates"].as_array().unwrap() {
                    self.apply(
                        update["row"].to_string(),
                        update["time"].as_u64().unwrap(),
                        update["diff"].as_i64().unwrap(),
                    );
                }
            }
            "progress" => self.progress(message["time"].as_u64().unwrap()),
            other => panic!("unexpected message {other}: {message}"),
        }
    }

    /// Applies one gRPC feed event.
    pub fn apply_grpc(&mut self, event: &Event) {
        match event {
            Event::Schema(_) => {}
            Event::Updates(updates) => {
                for u in &updates.updates {
                    let row = u.row.as_ref().unwrap();
                    let values: Vec<Value> = row
                        .values
                        .iter()
                        .map(|v| v.text.clone().map_or(Value::Null, Value::String))
                        .collect();
                    self.apply(Value::Array(values).to_string(), u.time, u.diff);
                }
            }
            Event::Progress(time) => self.progress(*time),
            Event::Error(e) => panic!("feed error: {e:?}"),
        }
    }
}

/// A minimal HTTP/1.1 request over a fresh connection: (status, body).
pub async fn http(
    server: &RunningServer,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.http_addr,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).to_string();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        text = &rest[size + 2..];
    }
    out
}
