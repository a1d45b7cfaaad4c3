//! Load: 1,000 WebSocket subscribers on one view over loopback, each receiving every
//! update. Bounded: 1,000 clients, 20 ingested batches, a 60 s limit on every wait.
//! `LAASTER_LOAD_CLIENTS=N` changes the number of clients (e.g. more, by hand).

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::future::join_all;

const DDL: &str = "CREATE TABLE votes (user_id BIGINT, contestant TEXT NOT NULL, ts TIMESTAMP); \
     CREATE MATERIALIZED VIEW tally AS SELECT contestant, count(*) AS votes FROM votes GROUP BY contestant";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_websocket_subscribers_each_see_every_update() {
    let clients: usize = std::env::var("LAASTER_LOAD_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let dir = temp_data_dir("load");
    let server = start_server(&dir, 1024).await;
    let mut client = grpc_client(&server).await;
    execute(&mut client, DDL).await;

    let started = Instant::now();
    let mut sockets = Vec::with_capacity(clients);
    for chunk in 0..clients.div_ceil(100) {
        let batch = (chunk * 100..((chunk + 1) * 100).min(clients)).map(|_| async {
            let mut socket = ws_connect(&server).await;
            ws_subscribe(&mut socket, "tally").await;
            let mut tally = Tally::default();
            tally.apply_ws(&ws_next(&mut socket).await);
            (socket, tally)
        });
        sockets.extend(join_all(batch).await);
    }
    let connected = started.elapsed();

    // Every client reads in its own task until the feed passes `until`.
    let (until_sender, until) = tokio::sync::watch::channel(u64::MAX);
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|(mut socket, mut tally)| {
            let mut until = until.clone();
            tokio::spawn(async move {
                loop {
                    let target = *until.borrow();
                    if target != u64::MAX && tally.frontier > target {
                        return tally;
                    }
                    tokio::select! {
                        message = ws_next(&mut socket) => tally.apply_ws(&message),
                        _ = until.changed() => {}
                    }
                }
            })
        })
        .collect();

    let contestants = ["A", "B", "C", "D"];
    let mut user = 0;
    for batch in 0..20 {
        let rows: Vec<String> = (0..10)
            .map(|i| {
                user += 1;
                vote(user, contestants[(batch + i) % contestants.len()])
            })
            .collect();
        assert_eq!(ingest(&mut client, "votes", &rows).await.rows_written, 10);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = match &execute(&mut client, "SELECT count(*) FROM votes")
        .await
        .results[0]
        .result
    {
        Some(laaster_server::proto::statement_result::Result::Rows(rows)) => rows.timestamp,
        other => panic!("{other:?}"),
    };
    until_sender.send(last).unwrap();
    let tallies = tokio::time::timeout(Duration::from_secs(60), join_all(readers))
        .await
        .expect("every subscriber caught up within 60 s");
    let delivered = started.elapsed();

    let expected: Vec<String> = [r#"["A",50]"#, r#"["B",50]"#, r#"["C",50]"#, r#"["D",50]"#]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut updates = Vec::new();
    for tally in tallies {
        let tally = tally.unwrap();
        assert_eq!(tally.rows.keys().cloned().collect::<Vec<_>>(), expected);
        assert!(tally.rows.values().all(|&n| n == 1));
        updates.push(tally.updates);
    }
    // Every client saw the same updates (none was resynced, which would skip some).
    updates.sort();
    assert_eq!(
        updates.first(),
        updates.last(),
        "update counts differ between clients"
    );
    let (_, metrics) = http(&server, "GET", "/metrics", None).await;
    assert!(
        metrics.contains("laaster_ws_overflows_total 0"),
        "{metrics}"
    );
    eprintln!(
        "{clients} WebSocket subscribers: connected in {:.2} s, all {} updates delivered to each by {:.2} s",
        connected.as_secs_f64(),
        updates[0],
        delivered.as_secs_f64()
    );
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
