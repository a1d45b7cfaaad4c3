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

/// An Arrow IPC stream of `batch` (schema, the batch, end marker), as a client writes it.
fn arrow_stream(batch: &arrow_array::RecordBatch) -> Vec<u8> {
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    writer.into_inner().unwrap()
}

async fn ingest_arrow(
    client: &mut common::Client,
    table: &str,
    bytes: Vec<u8>,
) -> proto::IngestAck {
    let request = proto::IngestRequest {
        table: table.into(),
        arrow_ipc: bytes,
        ..Default::default()
    };
    let mut acks = client
        .ingest(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    acks.message().await.unwrap().expect("one ack")
}

fn rows_of(response: &proto::ExecuteResponse) -> Vec<Vec<Option<String>>> {
    match &response.results[0].result {
        Some(proto::statement_result::Result::Rows(rows)) => rows
            .rows
            .iter()
            .map(|r| r.values.iter().map(|v| v.text.clone()).collect())
            .collect(),
        other => panic!("expected rows, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_takes_arrow_batches_and_fills_defaults() {
    use arrow_array::{
        Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    };
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;

    let dir = temp_data_dir("arrow");
    let server = start_server(&dir, 256).await;
    let mut client = grpc_client(&server).await;
    execute(
        &mut client,
        "CREATE TABLE readings (id BIGINT NOT NULL, site TEXT DEFAULT 'unknown', \
         value DOUBLE PRECISION, qty INTEGER DEFAULT 7, at TIMESTAMP)",
    )
    .await;

    // Fields by name in any order; `site` left out (DEFAULT), `qty` sent as int64 into
    // an integer column (one value out of range), one NULL id (NOT NULL).
    let schema = Arc::new(Schema::new(vec![
        Field::new("value", DataType::Float64, true),
        Field::new("id", DataType::Int64, true),
        Field::new("qty", DataType::Int64, true),
        Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                Some(2.5),
                None,
                Some(4.0),
            ])),
            Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3), None])),
            Arc::new(Int64Array::from(vec![
                Some(10),
                Some(5_000_000_000),
                None,
                Some(1),
            ])),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_767_225_600_000), // 2026-01-01 00:00:00
                None,
                Some(1_767_225_601_500),
                None,
            ])),
        ],
    )
    .unwrap();
    let ack = ingest_arrow(&mut client, "readings", arrow_stream(&batch)).await;
    assert!(ack.error.is_none(), "{ack:?}");
    assert_eq!(ack.rows_written, 2, "{ack:?}");
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
    assert_eq!(errors, [(1, "qty", "22003"), (3, "id", "23502")], "{ack:?}");

    // A second record batch without `qty`: it takes its DEFAULT; JSON rows likewise.
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("site", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![4])),
            Arc::new(StringArray::from(vec![Some("north")])),
        ],
    )
    .unwrap();
    let ack = ingest_arrow(&mut client, "readings", arrow_stream(&batch)).await;
    assert_eq!((ack.rows_written, ack.row_errors.len()), (1, 0), "{ack:?}");
    let ack = ingest(
        &mut client,
        "readings",
        &[r#"{"id": 5, "value": 0.25}"#.into()],
    )
    .await;
    assert_eq!((ack.rows_written, ack.row_errors.len()), (1, 0), "{ack:?}");

    // Acknowledged means visible: a read issued after the ack sees every row.
    let response = execute(
        &mut client,
        "SELECT id, site, value, qty, at FROM readings ORDER BY id",
    )
    .await;
    let text = |s: &str| Some(s.to_string());
    assert_eq!(
        rows_of(&response),
        vec![
            vec![
                text("1"),
                text("unknown"),
                text("1.5"),
                text("10"),
                text("2026-01-01 00:00:00")
            ],
            vec![
                text("3"),
                text("unknown"),
                None,
                None,
                text("2026-01-01 00:00:01.5")
            ],
            vec![text("4"), text("north"), None, text("7"), None],
            vec![text("5"), text("unknown"), text("0.25"), text("7"), None],
        ]
    );

    // Batches rejected as a whole: a field the table lacks, bytes that are not Arrow,
    // and both kinds of rows in one request.
    let schema = Arc::new(Schema::new(vec![Field::new("nope", DataType::Int64, true)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
    let ack = ingest_arrow(&mut client, "readings", arrow_stream(&batch)).await;
    let error = ack.error.as_ref().expect("unknown field rejects the batch");
    assert_eq!(error.code, "42703", "{ack:?}");
    assert!(error.hint.contains("id, site, value, qty, at"), "{error:?}");
    let ack = ingest_arrow(&mut client, "readings", b"not arrow".to_vec()).await;
    assert_eq!(ack.error.as_ref().unwrap().code, "22P02", "{ack:?}");
    let mixed = proto::IngestRequest {
        table: "readings".into(),
        json_rows: vec![r#"{"id": 9}"#.into()],
        arrow_ipc: arrow_stream(&batch),
    };
    let mut acks = client
        .ingest(tokio_stream::iter(vec![mixed]))
        .await
        .unwrap()
        .into_inner();
    let ack = acks.message().await.unwrap().unwrap();
    assert_eq!(ack.error.as_ref().unwrap().code, "22023", "{ack:?}");
    let response = execute(&mut client, "SELECT count(*) FROM readings").await;
    assert_eq!(
        rows_of(&response),
        vec![vec![text("4")]],
        "nothing else was written"
    );

    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_show_arrangement_sizes_subscribers_and_lag() {
    let dir = temp_data_dir("metrics");
    let server = start_server(&dir, 256).await;
    let mut client = grpc_client(&server).await;
    execute(&mut client, VOTES_DDL).await;
    let mut socket = ws_connect(&server).await;
    ws_subscribe(&mut socket, "tally").await;
    let mut ws_tally = Tally::default();
    ws_tally.apply_ws(&ws_next(&mut socket).await);
    let mut grpc_feed = client
        .subscribe(proto::SubscribeRequest {
            view: "tally".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut grpc_tally = Tally::default();
    let votes: Vec<String> = (0..10)
        .map(|i| vote(i, ["A", "B", "C"][i as usize % 3]))
        .collect();
    ingest(&mut client, "votes", &votes).await;
    let time = read_time(&mut client).await;
    grpc_until(&mut grpc_feed, &mut grpc_tally, time).await;
    ws_until(&mut socket, &mut ws_tally, time).await;

    let (status, text) = http(&server, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    let metrics = parse_metrics(&text);
    // The table holds one update per inserted row; the view at least its 3 rows.
    let records = |name: &str| {
        series(
            &metrics,
            "laaster_arrangement_records",
            &[&format!("name=\"{name}\"")],
        )
        .first()
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no arrangement size for {name}: {text}"))
    };
    assert_eq!(records("votes"), 10.0, "{text}");
    assert!((3.0..=40.0).contains(&records("tally")), "{text}");
    assert!(text.contains("laaster_arrangement_records{name=\"votes\",kind=\"table\"}"));
    for transport in ["ws", "grpc"] {
        let label = format!("transport=\"{transport}\"");
        let count = series(&metrics, "laaster_subscribers", &["feed=\"tally\"", &label]);
        assert_eq!(count.len(), 1, "{text}");
        assert_eq!(count[0].1, 1.0, "{text}");
        let lag = series(
            &metrics,
            "laaster_subscriber_lag_milliseconds",
            &["feed=\"tally\"", &label],
        );
        assert_eq!(lag.len(), 1, "one lag series per subscriber: {text}");
        // Both clients read everything up to `time`: behind by well under a minute.
        assert!((0.0..60_000.0).contains(&lag[0].1), "{text}");
        let queued = series(
            &metrics,
            "laaster_subscriber_queued",
            &["feed=\"tally\"", &label],
        );
        assert_eq!(queued.len(), 1, "{text}");
    }
    let updates = series(&metrics, "laaster_feed_updates_total", &["feed=\"tally\""]);
    assert!(updates.iter().all(|(_, v)| *v >= 3.0), "{text}");
    drop(socket);
    drop(grpc_feed);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn websocket_feeds_resume_with_as_of() {
    let dir = temp_data_dir("resume");
    let server = start_server(&dir, 256).await;
    let mut client = grpc_client(&server).await;
    execute(&mut client, VOTES_DDL).await;
    let mut socket = ws_connect(&server).await;
    ws_subscribe(&mut socket, "tally").await;
    let mut tally = Tally::default();
    tally.apply_ws(&ws_next(&mut socket).await);
    ingest(&mut client, "votes", &[vote(1, "A"), vote(2, "B")]).await;
    let time = read_time(&mut client).await;
    ws_until(&mut socket, &mut tally, time).await;
    let seen = tally.clone();
    drop(socket); // connection lost

    // Changes while the client is away, at times after its last progress mark.
    ingest(&mut client, "votes", &[vote(3, "A"), vote(4, "C")]).await;
    ingest(&mut client, "votes", &[vote(5, "A")]).await;
    let time = read_time(&mut client).await;

    // Resume: as_of = last progress - 1, no snapshot; the rows the client kept plus
    // the changes it missed give the current contents.
    let mut socket = ws_connect(&server).await;
    let resume =
        serde_json::json!({"subscribe": "tally", "as_of": seen.frontier - 1, "snapshot": false});
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            resume.to_string().into(),
        ))
        .await
        .unwrap();
    let first = ws_next(&mut socket).await;
    assert_eq!(first["type"], "resume", "{first}");
    assert_eq!(first["time"], seen.frontier, "{first}");
    assert_eq!(first["columns"][0]["name"], "contestant");
    let mut resumed = seen.clone();
    resumed.apply_ws(&first);
    ws_until(&mut socket, &mut resumed, time).await;
    let expected = [r#"["A",3]"#, r#"["B",1]"#, r#"["C",1]"#];
    assert_eq!(resumed.rows.keys().cloned().collect::<Vec<_>>(), expected);
    assert!(
        resumed.updates > seen.updates,
        "the missed changes arrived as updates"
    );

    // With a snapshot: the view as it was at as_of, then the changes since.
    let mut socket = ws_connect(&server).await;
    let past = serde_json::json!({"subscribe": "tally", "as_of": seen.frontier - 1});
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            past.to_string().into(),
        ))
        .await
        .unwrap();
    let snapshot = ws_next(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(
        snapshot["rows"],
        serde_json::json!([["A", 1], ["B", 1]]),
        "{snapshot}"
    );
    let mut from_past = Tally::default();
    from_past.apply_ws(&snapshot);
    ws_until(&mut socket, &mut from_past, time).await;
    assert_eq!(from_past.rows.keys().cloned().collect::<Vec<_>>(), expected);

    // Outside retained history, or not a time: errors that say so.
    ws_subscribe_raw(
        &mut socket,
        serde_json::json!({"subscribe": "tally", "as_of": 1}),
    )
    .await;
    let error = next_non_feed(&mut socket).await;
    assert_eq!(error["error"]["code"], "22000", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AS OF 1"),
        "{error}"
    );
    ws_subscribe_raw(
        &mut socket,
        serde_json::json!({"subscribe": "tally", "as_of": "yesterday"}),
    )
    .await;
    let error = next_non_feed(&mut socket).await;
    assert_eq!(error["error"]["code"], "22023", "{error}");
    ws_subscribe_raw(
        &mut socket,
        serde_json::json!({"subscribe": "tally", "snapshot": false}),
    )
    .await;
    let error = next_non_feed(&mut socket).await;
    assert_eq!(error["error"]["code"], "22023", "{error}");
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

async fn ws_subscribe_raw(socket: &mut WsStream, request: serde_json::Value) {
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            request.to_string().into(),
        ))
        .await
        .unwrap();
}

/// The next message that is not a feed's update or progress (a feed may still be
/// running on the socket).
async fn next_non_feed(socket: &mut WsStream) -> serde_json::Value {
    loop {
        let message = ws_next(socket).await;
        if message["type"] != "update" && message["type"] != "progress" {
            return message;
        }
    }
}

/// A WebSocket client on a socket with a small receive buffer, so that it can stop
/// reading and hold the server back.
async fn ws_connect_small(server: &laaster_server::RunningServer) -> WsStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.http_addr).await.unwrap();
    let (socket, _) = tokio_tungstenite::client_async(
        format!("ws://{}/ws", server.http_addr),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    socket
}

/// A gRPC client whose HTTP/2 windows are small, so that not reading stops the server.
async fn grpc_client_small(server: &laaster_server::RunningServer) -> common::Client {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.grpc_addr))
        .unwrap()
        .initial_stream_window_size(Some(16 * 1024))
        .initial_connection_window_size(Some(16 * 1024))
        .connect()
        .await
        .unwrap();
    laaster_server::proto::laaster_client::LaasterClient::new(channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_that_stop_reading_do_not_hold_back_the_others() {
    let dir = temp_data_dir("slow");
    let server = start_server_with(&dir, 16, 16).await;
    let mut client = grpc_client(&server).await;
    execute(&mut client, VOTES_DDL).await;

    // Two clients that stop reading after the first message.
    let mut slow_ws = ws_connect_small(&server).await;
    ws_subscribe(&mut slow_ws, "tally").await;
    assert_eq!(ws_next(&mut slow_ws).await["type"], "snapshot");
    let mut slow_client = grpc_client_small(&server).await;
    let mut slow_grpc = slow_client
        .subscribe(proto::SubscribeRequest {
            view: "tally".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        slow_grpc.message().await.unwrap().unwrap().event,
        Some(Event::Schema(_))
    ));

    // Two clients that read everything, each on its own task.
    let mut fast_ws = ws_connect(&server).await;
    ws_subscribe(&mut fast_ws, "tally").await;
    let mut fast_grpc = client
        .subscribe(proto::SubscribeRequest {
            view: "tally".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (done_tx, done_rx) = tokio::sync::watch::channel(u64::MAX);
    let done = done_rx.clone();
    let ws_reader = tokio::spawn(async move {
        let mut tally = Tally::default();
        loop {
            let target = *done.borrow();
            if tally.frontier > target {
                return tally;
            }
            tally.apply_ws(&ws_next(&mut fast_ws).await);
        }
    });
    let done = done_rx;
    let grpc_reader = tokio::spawn(async move {
        let mut tally = Tally::default();
        loop {
            let target = *done.borrow();
            if tally.frontier > target {
                return tally;
            }
            let response = tokio::time::timeout(Duration::from_secs(20), fast_grpc.message())
                .await
                .expect("an event within 20 s")
                .unwrap()
                .expect("the fast feed stays open");
            tally.apply_grpc(response.event.as_ref().unwrap());
        }
    });

    // Updates flow: every batch changes a count, and each change carries a 20 kB
    // contestant name, so the slow clients' socket buffers fill up.
    let names: Vec<String> = ["A", "B", "C"]
        .iter()
        .map(|c| format!("{c}{}", "x".repeat(20_000)))
        .collect();
    let batches = 150;
    let mut slow_ws_lagged = false;
    for i in 0..batches {
        let name = &names[i % 3];
        let row = serde_json::json!({"user_id": i, "contestant": name}).to_string();
        let ack = ingest(&mut client, "votes", &[row]).await;
        assert_eq!(ack.rows_written, 1, "{ack:?}");
        if i % 50 == 49 {
            assert_eq!(http(&server, "GET", "/health", None).await.0, 200);
            // The stalled WebSocket client shows up as lagging in /metrics.
            let (_, text) = http(&server, "GET", "/metrics", None).await;
            let metrics = parse_metrics(&text);
            slow_ws_lagged |= series(&metrics, "laaster_subscriber_queued", &["transport=\"ws\""])
                .iter()
                .any(|(_, queued)| *queued > 0.0)
                && series(
                    &metrics,
                    "laaster_subscriber_lag_milliseconds",
                    &["transport=\"ws\""],
                )
                .iter()
                .any(|(_, lag)| *lag > 0.0);
        }
    }
    let time = read_time(&mut client).await;
    done_tx.send(time).unwrap();
    let per_name = (batches / 3) as i64;
    let expected_with = |count: serde_json::Value| -> Vec<(String, i64)> {
        let mut rows: Vec<String> = names
            .iter()
            .map(|n| serde_json::json!([n, count]).to_string())
            .collect();
        rows.sort();
        rows.into_iter().map(|r| (r, 1)).collect()
    };
    // WebSocket values are JSON numbers, gRPC values Postgres text.
    let expected = expected_with(per_name.into());
    let expected_grpc = expected_with(per_name.to_string().into());
    // The readers got every update, in order (Tally checks), and no overflow notice
    // (Tally panics on one).
    let ws_tally = tokio::time::timeout(Duration::from_secs(60), ws_reader)
        .await
        .expect("the fast WebSocket reader finishes")
        .unwrap();
    assert_eq!(
        ws_tally.rows.clone().into_iter().collect::<Vec<_>>(),
        expected
    );
    assert!(ws_tally.updates >= batches, "{} updates", ws_tally.updates);
    let grpc_tally = tokio::time::timeout(Duration::from_secs(60), grpc_reader)
        .await
        .expect("the fast gRPC reader finishes")
        .unwrap();
    assert_eq!(
        grpc_tally.rows.into_iter().collect::<Vec<_>>(),
        expected_grpc
    );
    assert!(
        grpc_tally.updates >= batches,
        "{} updates",
        grpc_tally.updates
    );

    // The server noticed both slow clients.
    let (status, text) = http(&server, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    let metrics = parse_metrics(&text);
    let overflows = |transport: &str| {
        series(
            &metrics,
            "laaster_subscriber_overflows_total",
            &[&format!("transport=\"{transport}\"")],
        )[0]
        .1
    };
    assert!(overflows("ws") >= 1.0, "{text}");
    assert!(overflows("grpc") >= 1.0, "{text}");
    assert!(
        slow_ws_lagged,
        "the stalled WebSocket client never showed lag"
    );

    // The slow WebSocket client reads again: what was in flight, then the overflow
    // notice and a fresh snapshot of the current contents.
    let mut tally = Tally::default();
    let mut notice = None;
    while tally.frontier <= time {
        let message = ws_next(&mut slow_ws).await;
        if message["type"] == "overflow" {
            notice = Some(message);
            tally = Tally::default();
            continue;
        }
        tally.apply_ws(&message);
    }
    let notice = notice.expect("an overflow notice");
    assert_eq!(notice["action"], "resync", "{notice}");
    assert!(notice["last_progress"].as_u64().unwrap() > 0, "{notice}");
    assert_eq!(tally.rows.into_iter().collect::<Vec<_>>(), expected);

    // The slow gRPC client: the events queued before the overflow, then an error that
    // says where to resume, then the end of the stream.
    let mut events = 0;
    let error = loop {
        let response = tokio::time::timeout(Duration::from_secs(20), slow_grpc.message())
            .await
            .expect("an event within 20 s")
            .unwrap()
            .expect("the overflow error before the end");
        match response.event.unwrap() {
            Event::Error(error) => break error,
            _ => events += 1,
        }
    };
    assert_eq!(error.code, "53400", "{error:?}");
    // The queue (16 events) plus what the 16 kB HTTP/2 window let through before the
    // client stopped (small progress events), not the ~300 events of the whole run.
    assert!(events <= 64, "{events} events reached the stalled client");
    let resume_as_of = error.resume_as_of.expect("where to resume");
    assert!(
        slow_grpc.message().await.unwrap().is_none(),
        "the stream ends"
    );
    // Resuming there gives the current contents without gaps.
    let mut resumed = slow_client
        .subscribe(proto::SubscribeRequest {
            view: "tally".into(),
            snapshot: Some(true),
            as_of: Some(resume_as_of),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut tally = Tally::default();
    grpc_until(&mut resumed, &mut tally, time).await;
    assert_eq!(tally.rows.into_iter().collect::<Vec<_>>(), expected_grpc);

    assert_eq!(http(&server, "GET", "/health", None).await.0, 200);
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_evaluates_default_now_per_request() {
    let dir = temp_data_dir("default-now");
    let server = start_server(&dir, 256).await;
    let mut client = grpc_client(&server).await;
    execute(
        &mut client,
        "CREATE TABLE pings (id BIGINT, at TIMESTAMPTZ DEFAULT now())",
    )
    .await;
    // One Ingest stream, two requests 400 ms apart: each takes its own now().
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut acks = client
        .ingest(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .unwrap()
        .into_inner();
    for id in [1, 2] {
        sender
            .send(proto::IngestRequest {
                table: "pings".into(),
                json_rows: vec![format!(r#"{{"id": {id}}}"#)],
                ..Default::default()
            })
            .await
            .unwrap();
        let ack = acks.message().await.unwrap().unwrap();
        assert_eq!((ack.rows_written, ack.row_errors.len()), (1, 0), "{ack:?}");
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    drop(sender);
    let response = execute(
        &mut client,
        "SELECT CAST(extract(epoch FROM max(at) - min(at)) * 1000 AS BIGINT) FROM pings",
    )
    .await;
    let apart: i64 = rows_of(&response)[0][0]
        .as_deref()
        .expect("two rows")
        .parse()
        .unwrap();
    assert!(
        (350..5_000).contains(&apart),
        "rows of requests 400 ms apart got now() {apart} ms apart"
    );
}
