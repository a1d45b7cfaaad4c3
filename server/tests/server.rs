//! End-to-end tests of `laaster serve` over real loopback sockets: a tonic client and a
//! tokio-tungstenite WebSocket client against a server started on free ports.

mod common;

use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use common::*;
use futures_util::SinkExt;
use laaster_server::proto::{self, subscribe_response::Event};
use tokio_stream::StreamExt;

const VOTES_DDL: &str = "CREATE TABLE votes (user_id BIGINT, contestant TEXT NOT NULL, ts TIMESTAMP); \
     CREATE MATERIALIZED VIEW tally AS SELECT contestant, count(*) AS votes FROM votes GROUP BY contestant";

/// Reads gRPC feed events into `tally` until a progress mark passes `time`.
async fn grpc_until(
    feed: &mut tonic::Streaming<proto::SubscribeResponse>,
    tally: &mut Tally,
    time: u64,
) {
    while tally.frontier <= time {
        let response = tokio::time::timeout(Duration::from_secs(20), feed.message())
            .await
            .expect("a feed event within 20 s")
            .unwrap()
            .expect("the feed stays open");
        tally.apply_grpc(response.event.as_ref().unwrap());
    }
}

async fn ws_until(socket: &mut WsStream, tally: &mut Tally, time: u64) {
    while tally.frontier <= time {
        let message = ws_next(socket).await;
        tally.apply_ws(&message);
    }
}

/// The latest write time of the view, read by a SELECT after the ingest returned: the
/// feed must pass it for the ingested rows to have arrived.
async fn read_time(client: &mut common::Client) -> u64 {
    let response = execute(client, "SELECT count(*) FROM votes").await;
    match &response.results[0].result {
        Some(proto::statement_result::Result::Rows(rows)) => rows.timestamp,
        other => panic!("expected rows, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ddl_ingest_and_both_feeds_in_order() {
    let dir = temp_data_dir("feeds");
    let server = start_server(&dir, 256).await;
    let mut client = grpc_client(&server).await;
    let ddl = execute(&mut client, VOTES_DDL).await;
    assert_eq!(ddl.results.len(), 2);

    let mut grpc_feed = client
        .subscribe(proto::SubscribeRequest {
            view: "tally".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = grpc_feed.message().await.unwrap().unwrap();
    let Some(Event::Schema(schema)) = first.event else {
        panic!("first event must be the schema: {first:?}")
    };
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["contestant", "votes"]);
    assert_eq!(schema.columns[1].r#type, "bigint");

    let mut socket = ws_connect(&server).await;
    ws_subscribe(&mut socket, "tally").await;
    let mut ws_tally = Tally::default();
    let snapshot = ws_next(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["columns"][1]["name"], "votes");
    ws_tally.apply_ws(&snapshot);
    assert!(ws_tally.rows.is_empty());

    let mut grpc_tally = Tally::default();
    let batches: [&[(i64, &str)]; 3] = [
        &[(1, "A"), (2, "B"), (3, "B")],
        &[(4, "C")],
        &[(5, "A"), (6, "A"), (7, "B")],
    ];
    for batch in batches {
        let rows: Vec<String> = batch.iter().map(|(u, c)| vote(*u, c)).collect();
        let ack = ingest(&mut client, "votes", &rows).await;
        assert_eq!(ack.rows_written, batch.len() as u64, "{ack:?}");
        assert!(ack.error.is_none() && ack.row_errors.is_empty(), "{ack:?}");
        let time = read_time(&mut client).await;
        grpc_until(&mut grpc_feed, &mut grpc_tally, time).await;
        ws_until(&mut socket, &mut ws_tally, time).await;
    }
    let expected_ws: Vec<(String, i64)> = [r#"["A",3]"#, r#"["B",3]"#, r#"["C",1]"#]
        .iter()
        .map(|r| (r.to_string(), 1))
        .collect();
    assert_eq!(ws_tally.rows.into_iter().collect::<Vec<_>>(), expected_ws);
    let expected_grpc: Vec<(String, i64)> = [r#"["A","3"]"#, r#"["B","3"]"#, r#"["C","1"]"#]
        .iter()
        .map(|r| (r.to_string(), 1))
        .collect();
    assert_eq!(
        grpc_tally.rows.into_iter().collect::<Vec<_>>(),
        expected_grpc
    );
    // A: +1; B: +1, then -1/+2; C: +1; then A: -1/+3 and B: -2/+3.
    assert!(grpc_tally.updates >= 7 && ws_tally.updates >= 7);
    assert!(grpc_tally.progress_marks >= 3 && ws_tally.progress_marks >= 3);

    // Per-row errors name the row and column; the good rows are written.
    let ack = ingest(
        &mut client,
        "votes",
        &[
            vote(8, "A"),
            r#"{"user_id": "eight", "contestant": "A"}"#.into(),
            r#"{"user_id": 9}"#.into(),
        ],
    )
    .await;
    assert_eq!(ack.rows_written, 1);
    let errors: Vec<(u64, &str, &str)> = ack
        .row_errors
        .iter()
        .map(|e| {
            (
                e.row,
                e.column.as_str(),
                e.error.as_ref().unwrap().code.as_str(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [(1, "user_id", "22P02"), (2, "contestant", "23502")]
    );
    // An unknown table rejects the batch as a whole.
    let ack = ingest(&mut client, "no_such_table", &[vote(1, "A")]).await;
    assert_eq!(ack.error.as_ref().unwrap().code, "42P01", "{ack:?}");

    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn query_streams_arrow_and_errors_carry_positions() {
    let dir = temp_data_dir("query");
    let server = start_server(&dir, 256).await;
    let mut client = grpc_client(&server).await;
    execute(
        &mut client,
        "CREATE TABLE t (k BIGINT, v NUMERIC(10,2), s TEXT)",
    )
    .await;
    execute(&mut client, "INSERT INTO t SELECT x, x / 4.0, 'row ' || x FROM (VALUES (1), (2), (3), (4), (5)) AS g(x)").await;
    let mut stream = client
        .query(proto::QueryRequest {
            sql: "SELECT k, v, s FROM t ORDER BY k".into(),
            batch_rows: 2,
        })
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    let mut responses = 0;
    while let Some(response) = stream.next().await {
        bytes.extend(response.unwrap().arrow_ipc);
        responses += 1;
    }
    assert_eq!(responses, 5, "schema + 3 batches + end");
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let keys: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(keys, [1, 2, 3, 4, 5]);
    assert_eq!(batches[0].column(1).as_string::<i32>().value(1), "0.50");
    assert_eq!(batches[2].column(2).as_string::<i32>().value(0), "row 5");

    // Execute: an error keeps the results before it and points at the bad token.
    let response = client
        .execute(proto::ExecuteRequest {
            sql: "SELECT 1;\nSELECT * FORM t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response.results.len(),
        0,
        "parse errors stop before running"
    );
    let error = response.error.unwrap();
    assert_eq!(error.code, "42601");
    // As in PostgreSQL: FORM is read as an alias, so the error is at "t".
    assert_eq!((error.line, error.column), (2, 15), "{error:?}");
    let response = client
        .execute(proto::ExecuteRequest {
            sql: "SELECT 1; SELECT * FROM nope".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.results.len(), 1);
    let error = response.error.unwrap();
    assert_eq!(error.code, "42P01");
    // Query errors are statuses.
    let status = client
        .query(proto::QueryRequest {
            sql: "SELECT * FROM nope".into(),
            batch_rows: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(
        status.metadata().get("x-laaster-sqlstate").unwrap(),
        "42P01"
    );
    // SUBSCRIBE is refused by Execute (it has its own RPC).
    let response = client
        .execute(proto::ExecuteRequest {
            sql: "SUBSCRIBE TO t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.error.unwrap().code, "0A000");

    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_clients_leave_the_server_fine() {
    let dir = temp_data_dir("kill");
    let server = start_server(&dir, 256).await;
    let mut client = grpc_client(&server).await;
    execute(&mut client, VOTES_DDL).await;
    // Ten WebSocket and ten gRPC subscribers, all cut off mid-stream.
    let mut sockets = Vec::new();
    let mut feeds = Vec::new();
    for _ in 0..10 {
        let mut socket = ws_connect(&server).await;
        ws_subscribe(&mut socket, "tally").await;
        assert_eq!(ws_next(&mut socket).await["type"], "snapshot");
        sockets.push(socket);
        let mut other = grpc_client(&server).await;
        let feed = other
            .subscribe(proto::SubscribeRequest {
                view: "tally".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        feeds.push((other, feed));
    }
    for i in 0..5 {
        ingest(&mut client, "votes", &[vote(i, "A")]).await;
    }
    drop(sockets); // TCP connections dropped without a close handshake
    drop(feeds);
    for i in 5..10 {
        ingest(&mut client, "votes", &[vote(i, "B")]).await;
    }
    // The server still answers, and a new subscriber gets the right snapshot.
    let mut socket = ws_connect(&server).await;
    ws_subscribe(&mut socket, "tally").await;
    let mut tally = Tally::default();
    let snapshot = ws_next(&mut socket).await;
    tally.apply_ws(&snapshot);
    let time = read_time(&mut client).await;
    ws_until(&mut socket, &mut tally, time).await;
    assert_eq!(
        tally.rows.keys().cloned().collect::<Vec<_>>(),
        [r#"["A",5]"#, r#"["B",5]"#]
    );
    // The dropped subscribers are gone from the metrics (within a few seconds).
    let mut gone = false;
    for _ in 0..50 {
        let (status, metrics) = http(&server, "GET", "/metrics", None).await;
        assert_eq!(status, 200);
        if metrics.contains("laaster_subscribers{feed=\"tally\",transport=\"ws\"} 1")
            && !metrics.contains("feed=\"tally\",transport=\"grpc\"")
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, metrics) = http(&server, "GET", "/metrics", None).await;
    assert!(gone, "dropped subscribers still counted: {metrics}");
    assert_eq!(http(&server, "GET", "/health", None).await.0, 200);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_brings_the_catalog_back() {
    let dir = temp_data_dir("restart");
    {
        let server = start_server(&dir, 256).await;
        let mut client = grpc_client(&server).await;
        execute(&mut client, VOTES_DDL).await;
        execute(&mut client, "CREATE TABLE scratch (a INT); CREATE VIEW big AS SELECT * FROM tally WHERE votes > 1; DROP TABLE scratch").await;
        execute(&mut client, "INSERT INTO votes VALUES (1, 'A', NULL)").await;
        server.shutdown().await.unwrap();
    }
    let server = start_server(&dir, 256).await;
    let mut client = grpc_client(&server).await;
    let response = execute(&mut client, "SHOW TABLES; SHOW VIEWS").await;
    let names = |i: usize| -> Vec<String> {
        match &response.results[i].result {
            Some(proto::statement_result::Result::Rows(rows)) => rows
                .rows
                .iter()
                .map(|r| r.values[0].text.clone().unwrap())
                .collect(),
            other => panic!("expected rows: {other:?}"),
        }
    };
    assert_eq!(names(0), ["votes"]);
    let mut views = names(1);
    views.sort();
    assert_eq!(views, ["big", "tally"]);
    // The tables come back empty (rows are not persisted) and the views work.
    ingest(&mut client, "votes", &[vote(1, "A"), vote(2, "A")]).await;
    let response = execute(&mut client, "SELECT contestant, votes FROM big").await;
    let Some(proto::statement_result::Result::Rows(rows)) = &response.results[0].result else {
        panic!("expected rows")
    };
    assert_eq!(rows.rows.len(), 1);
    assert_eq!(rows.rows[0].values[1].text.as_deref(), Some("2"));
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_endpoints_and_websocket_errors() {
    let dir = temp_data_dir("http");
    let server = start_server(&dir, 256).await;
    let (status, body) = http(&server, "GET", "/health", None).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) = http(&server, "POST", "/sql", Some(r#"{"sql": "CREATE TABLE t (a INT, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, NULL); SELECT * FROM t ORDER BY a"}"#)).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["results"][0]["tag"], "CREATE TABLE");
    assert_eq!(answer["results"][1]["tag"], "INSERT 0 2");
    assert_eq!(
        answer["results"][2]["rows"],
        serde_json::json!([[1, "x"], [2, null]])
    );
    assert!(answer["error"].is_null());
    let (status, body) = http(
        &server,
        "POST",
        "/sql",
        Some(r#"{"sql": "SELECT nope FROM t"}"#),
    )
    .await;
    assert_eq!(status, 400);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["error"]["code"], "42703", "{body}");

    let (status, metrics) = http(&server, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("laaster_rows_ingested_total{table=\"t\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE laaster_update_latency_seconds histogram"));
    assert!(
        metrics.contains("laaster_statements_total{result=\"error\"} 1"),
        "{metrics}"
    );

    let (status, page) = http(&server, "GET", "/examples/live-votes/", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("Live votes"));
    assert_eq!(
        http(&server, "GET", "/examples/../Cargo.toml", None)
            .await
            .0,
        404
    );
    let (status, js) = http(&server, "GET", "/laaster.js", None).await;
    assert_eq!(status, 200);
    assert!(js.contains("global.Laaster"));

    // WebSocket: bad requests and unknown views are answered with errors; the
    // connection stays usable.
    let mut socket = ws_connect(&server).await;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            "not json".into(),
        ))
        .await
        .unwrap();
    assert_eq!(ws_next(&mut socket).await["type"], "error");
    ws_subscribe(&mut socket, "no_such_view").await;
    let error = ws_next(&mut socket).await;
    assert_eq!(error["error"]["code"], "42P01", "{error}");
    ws_subscribe(&mut socket, "SELECT a FROM t WHERE b IS NULL").await;
    let snapshot = ws_next(&mut socket).await;
    assert_eq!(snapshot["rows"], serde_json::json!([[2]]), "{snapshot}");
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_feed_clients_are_resynced_with_a_fresh_snapshot() {
    let dir = temp_data_dir("overflow");
    let server = start_server(&dir, 4).await;
    let mut client = grpc_client(&server).await;
    execute(&mut client, VOTES_DDL).await;
    let core = server.core().clone();
    let slow = tokio::task::spawn_blocking(move || core.feeds.join("tally", 4))
        .await
        .unwrap()
        .unwrap();
    // Each ingest brings an update and a progress message: 20 overflow a queue of 4.
    for i in 0..10 {
        ingest(&mut client, "votes", &[vote(i, "A")]).await;
    }
    let mut waited = 0;
    while !slow.overflowed() && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert!(slow.overflowed());
    // What a WebSocket client sees: overflow notice, then a fresh, complete snapshot.
    let mut socket = ws_connect(&server).await;
    ws_subscribe(&mut socket, "tally").await;
    let snapshot = ws_next(&mut socket).await;
    assert_eq!(
        snapshot["rows"],
        serde_json::json!([["A", 10]]),
        "{snapshot}"
    );
    let (_, metrics) = http(&server, "GET", "/metrics", None).await;
    assert!(
        !metrics.contains("laaster_ws_overflows_total 0"),
        "{metrics}"
    );
    drop(slow);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
