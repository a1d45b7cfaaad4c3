//! End-to-end latency of `laaster serve`: from a row's Ingest acknowledgement arriving
//! at the client to that row's update arriving at a WebSocket subscriber and at a gRPC
//! subscriber, at 1k, 10k and 100k rows/s (in-process server, loopback sockets, 2
//! workers). Prints p50 / p99 / p99.9 per rate and transport.
//!
//! Run: `cargo bench -p laaster-server --bench latency` (about 15 s).
//! `LAASTER_BENCH_SECONDS=N` sets the seconds per rate (default 3).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use laaster_server::proto::laaster_client::LaasterClient;
use laaster_server::proto::{self, subscribe_response::Event};
use laaster_server::{ConfigOverrides, ServerConfig};
use tokio_tungstenite::tungstenite::Message;

type Arrivals = Arc<Mutex<HashMap<i64, Instant>>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let seconds: u64 = std::env::var("LAASTER_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!("rate rows/s | transport | rows | p50 ms | p99 ms | p99.9 ms | max ms");
    for rate in [1_000u64, 10_000, 100_000] {
        run(rate, seconds).await;
    }
}

async fn run(rate: u64, seconds: u64) {
    let dir = std::env::temp_dir().join(format!("laaster-latency-{}-{rate}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let overrides = ConfigOverrides {
        grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
        http_addr: Some("127.0.0.1:0".parse().unwrap()),
        workers: Some(2),
        data_dir: Some(dir.clone()),
        ws_buffer: Some(1 << 16),
        ..ConfigOverrides::default()
    };
    let server = laaster_server::start(ServerConfig::resolve(&overrides, |_| None).unwrap())
        .await
        .unwrap();
    let url = format!("http://{}", server.grpc_addr);
    let mut client = LaasterClient::connect(url.clone()).await.unwrap();
    let ddl = "CREATE TABLE events (id BIGINT, payload TEXT); \
               CREATE MATERIALIZED VIEW ids AS SELECT id FROM events WHERE id >= 0";
    let response = client
        .execute(proto::ExecuteRequest { sql: ddl.into() })
        .await
        .unwrap()
        .into_inner();
    assert!(response.error.is_none(), "{:?}", response.error);

    // WebSocket subscriber.
    let ws_arrivals: Arrivals = Arc::default();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.http_addr))
        .await
        .unwrap();
    socket
        .send(Message::Text(r#"{"subscribe": "ids"}"#.into()))
        .await
        .unwrap();
    let arrivals = ws_arrivals.clone();
    let ws_task = tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let now = Instant::now();
            let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            if value["type"] == "update" {
                let mut arrivals = arrivals.lock().unwrap();
                for update in value["updates"].as_array().unwrap() {
                    if let Some(id) = update["row"][0].as_i64() {
                        arrivals.entry(id).or_insert(now);
                    }
                }
            }
        }
    });

    // gRPC subscriber.
    let grpc_arrivals: Arrivals = Arc::default();
    let mut feed_client = LaasterClient::connect(url.clone()).await.unwrap();
    let mut feed = feed_client
        .subscribe(proto::SubscribeRequest {
            view: "ids".into(),
            snapshot: Some(false),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let arrivals = grpc_arrivals.clone();
    let grpc_task = tokio::spawn(async move {
        while let Ok(Some(response)) = feed.message().await {
            let now = Instant::now();
            if let Some(Event::Updates(updates)) = response.event {
                let mut arrivals = arrivals.lock().unwrap();
                for update in updates.updates {
                    let row = update.row.unwrap();
                    if let Some(id) = row.values[0].text.as_ref().and_then(|t| t.parse().ok()) {
                        arrivals.entry(id).or_insert(now);
                    }
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Ingest: one batch per millisecond, rate/1000 rows each, over one Ingest stream.
    let per_batch = (rate / 1000).max(1) as i64;
    let batches = seconds * 1000;
    let (requests, request_stream) = tokio::sync::mpsc::channel::<proto::IngestRequest>(1024);
    let mut acks = client
        .ingest(tokio_stream::wrappers::ReceiverStream::new(request_stream))
        .await
        .unwrap()
        .into_inner();
    let acked: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let acked_writer = acked.clone();
    let ack_task = tokio::spawn(async move {
        while let Ok(Some(ack)) = acks.message().await {
            assert!(ack.error.is_none() && ack.row_errors.is_empty(), "{ack:?}");
            acked_writer
                .lock()
                .unwrap()
                .insert(ack.batch, Instant::now());
        }
    });
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for batch in 0..batches {
        ticker.tick().await;
        let first = batch as i64 * per_batch;
        let json_rows = (first..first + per_batch)
            .map(|id| format!(r#"[{id}, "payload {id}"]"#))
            .collect();
        let table = if batch == 0 {
            "events".to_string()
        } else {
            String::new()
        };
        requests
            .send(proto::IngestRequest {
                table,
                json_rows,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    drop(requests);
    ack_task.await.unwrap();
    let elapsed = started.elapsed();
    let total = batches as i64 * per_batch;
    // Wait for the feeds to deliver everything (10 s at most).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && (ws_arrivals.lock().unwrap().len() < total as usize
            || grpc_arrivals.lock().unwrap().len() < total as usize)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let achieved = total as f64 / elapsed.as_secs_f64();
    let acked = acked.lock().unwrap().clone();
    for (transport, arrivals) in [("websocket", &ws_arrivals), ("grpc", &grpc_arrivals)] {
        let arrivals = arrivals.lock().unwrap();
        let mut latencies: Vec<f64> = Vec::with_capacity(total as usize);
        let mut missing = 0;
        for id in 0..total {
            let batch = (id / per_batch) as u64;
            match (acked.get(&batch), arrivals.get(&id)) {
                (Some(ack), Some(arrival)) => {
                    latencies.push(arrival.saturating_duration_since(*ack).as_secs_f64() * 1000.0)
                }
                _ => missing += 1,
            }
        }
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "{rate:>11} | {transport:<9} | {:>6} | {:>6.2} | {:>6.2} | {:>8.2} | {:>6.2}{}",
            latencies.len(),
            at(0.5),
            at(0.99),
            at(0.999),
            latencies.last().copied().unwrap_or(0.0),
            if missing > 0 {
                format!("  ({missing} rows never arrived)")
            } else {
                String::new()
            },
        );
    }
    println!("            (ingest achieved {achieved:.0} rows/s)");
    ws_task.abort();
    grpc_task.abort();
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
