//! Sinks end to end against the real systems: views written to NATS JetStream (read back
//! with a NATS client), to JSON-lines files (read back from the directory) and, through
//! `CREATE SINK ... FROM view`, to a Redis stream (read back with XRANGE). Each checks the
//! records against the view's contents, in the sink's mode: append-only (a retraction is
//! an error, counted and reported, never written), upsert (the latest row per key,
//! deletes) and debezium (change records).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session};

fn unique(name: &str) -> String {
    format!(
        "laaster-sink-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn engine(workers: usize) -> Engine {
    Engine::start(EngineConfig {
        workers,
        ..EngineConfig::default()
    })
    .unwrap()
}

fn rows(session: &mut Session, sql: &str) -> Vec<Vec<String>> {
    match session.execute(sql).expect(sql).into_iter().next() {
        Some(ExecuteResult::Rows(rows)) => rows.to_text(),
        other => panic!("{sql}: {other:?}"),
    }
}

/// SHOW SINKS' row for `name`, by column name.
fn show_sink(session: &mut Session, name: &str) -> BTreeMap<String, String> {
    let results = session.execute("SHOW SINKS").unwrap();
    let Some(ExecuteResult::Rows(set)) = results.into_iter().next() else {
        panic!("SHOW SINKS returned no rows");
    };
    let names: Vec<String> = set.desc.columns.iter().map(|c| c.name.clone()).collect();
    let row = set
        .to_text()
        .into_iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("sink {name} is not in SHOW SINKS"));
    names.into_iter().zip(row).collect()
}

/// Retries `read` until it returns `expected` (30 s at most).
fn eventually<T: PartialEq + std::fmt::Debug>(mut read: impl FnMut() -> T, expected: T) {
    let start = Instant::now();
    loop {
        let got = read();
        if got == expected {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "got {got:?}, want {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every message of a JetStream stream: (op header, payload).
fn nats_messages(stream: &str) -> Vec<(String, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use async_nats::jetstream::consumer;
        use futures::StreamExt;
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let js = async_nats::jetstream::new(client);
        let Ok(mut handle) = js.get_stream(stream).await else {
            return Vec::new();
        };
        let count = handle.info().await.unwrap().state.messages as usize;
        if count == 0 {
            return Vec::new();
        }
        let consumer = handle
            .create_consumer(consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap().take(count);
        let mut out = Vec::new();
        while let Some(message) = messages.next().await {
            let message = message.unwrap();
            let op = message
                .headers
                .as_ref()
                .and_then(|h| h.get("op"))
                .map(|v| v.to_string())
                .unwrap_or_default();
            out.push((op, String::from_utf8_lossy(&message.payload).into_owned()));
        }
        out
    })
}

fn delete_nats_stream(stream: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let _ = async_nats::jetstream::new(client)
            .delete_stream(stream)
            .await;
    });
}

/// The value of a JSON text's field `key` as text.
fn field(json: &str, key: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    match &value[key] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn view_to_nats_jetstream_upsert_sink_reads_back_as_the_view() {
    let stream = unique("tally").replace('-', "_").to_uppercase();
    let subject = format!("{}.out", stream.to_lowercase());
    let engine = engine(2);
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE votes (user_id BIGINT, contestant TEXT);
             CREATE MATERIALIZED VIEW tally AS SELECT contestant, count(*) AS n FROM votes GROUP BY contestant;
             CREATE TABLE tally_out (contestant TEXT, n BIGINT, PRIMARY KEY (contestant) NOT ENFORCED) WITH (
                 'connector' = 'nats-jetstream', 'stream' = '{stream}', 'subject' = '{subject}',
                 'format' = 'json', 'sink.mode' = 'upsert');
             INSERT INTO tally_out SELECT contestant, n FROM tally;"
        ))
        .unwrap();
    // Votes arrive in several statements: each count changes several times.
    for round in 0..5 {
        let values: Vec<String> = (0..20)
            .map(|i| {
                let contestant = ["A", "B", "C"][(i + round) % 3];
                format!("({}, '{contestant}')", round * 100 + i)
            })
            .collect();
        session
            .execute(&format!("INSERT INTO votes VALUES {}", values.join(", ")))
            .unwrap();
    }
    session
        .execute("DELETE FROM votes WHERE contestant = 'C'")
        .unwrap();
    let view: BTreeMap<String, String> = rows(&mut session, "SELECT contestant, n FROM tally")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(view.len(), 2, "{view:?}");
    // Replaying the upserts (op +) and deletes (op -) per key gives the view.
    let replay = || {
        let mut state = BTreeMap::new();
        for (op, payload) in nats_messages(&stream) {
            let key = field(&payload, "contestant");
            match op.as_str() {
                "+" => {
                    state.insert(key, field(&payload, "n"));
                }
                "-" => {
                    state.remove(&key);
                }
                other => panic!("unexpected op {other:?} in {payload}"),
            }
        }
        state
    };
    eventually(replay, view.clone());
    // Each change of a key is one record: no delete-then-insert pairs for updates.
    let messages = nats_messages(&stream);
    assert_eq!(messages.iter().filter(|(op, _)| op == "-").count(), 1);
    let sink = show_sink(&mut session, "tally_out");
    assert_eq!(sink["connector"], "nats-jetstream");
    assert_eq!(sink["mode"], "upsert");
    // A connector that is a source and a sink makes a table that is both.
    assert_eq!(sink["kind"], "source table");
    assert_eq!(sink["errors"], "0", "{sink:?}");
    delete_nats_stream(&stream);
}

/// Every line of every file (finished or in progress) under `dir`, sorted.
fn file_lines(dir: &std::path::Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        lines.extend(text.lines().map(str::to_string));
    }
    lines.sort();
    lines
}

#[test]
fn view_to_filesystem_append_only_sink_and_retractions_are_errors() {
    let dir = std::env::temp_dir().join(unique("files"));
    let engine = engine(2);
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE orders (id INT, item TEXT, qty INT);
             CREATE MATERIALIZED VIEW big AS SELECT id, item FROM orders WHERE qty > 1;
             CREATE TABLE big_out (id INT, item TEXT) WITH (
                 'connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
             INSERT INTO big_out SELECT id, item FROM big;",
            dir.display()
        ))
        .unwrap();
    let values: Vec<String> = (0..300)
        .map(|i| format!("({i}, 'item{}', {})", i % 7, i % 4))
        .collect();
    session
        .execute(&format!("INSERT INTO orders VALUES {}", values.join(", ")))
        .unwrap();
    let mut expected: Vec<String> = (0..300)
        .filter(|i| i % 4 > 1)
        .map(|i| format!("{{\"id\":{i},\"item\":\"item{}\"}}", i % 7))
        .collect();
    expected.sort();
    eventually(|| file_lines(&dir), expected.clone());
    let sink = show_sink(&mut session, "big_out");
    assert_eq!(sink["mode"], "append-only");
    assert_eq!(sink["errors"], "0");
    // A retraction cannot be written to an append-only sink: counted, reported, skipped.
    session.execute("DELETE FROM orders WHERE id < 10").unwrap();
    let retracted = (0..10).filter(|i| i % 4 > 1).count().to_string();
    eventually(
        || show_sink(&mut session, "big_out")["errors"].clone(),
        retracted,
    );
    let sink = show_sink(&mut session, "big_out");
    assert!(
        sink["last_error"].contains("append-only") && sink["last_error"].contains("'sink.mode'"),
        "{sink:?}"
    );
    // Later insertions still flow; the retracted rows stay in the files.
    session
        .execute("INSERT INTO orders VALUES (1000, 'late', 5)")
        .unwrap();
    expected.push("{\"id\":1000,\"item\":\"late\"}".to_string());
    expected.sort();
    eventually(|| file_lines(&dir), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A Redis stream's entries: the `data` field of each.
fn xrange(redis: &mut redis::Connection, stream: &str) -> Vec<String> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(redis)
        .unwrap();
    entries
        .into_iter()
        .filter_map(|(_, fields)| {
            fields
                .into_iter()
                .find(|(name, _)| name == "data")
                .map(|(_, value)| value)
        })
        .collect()
}

/// Applies Debezium change records to a multiset of `after`/`before` rows.
fn replay_debezium(records: &[String]) -> BTreeMap<String, i64> {
    let mut state: BTreeMap<String, i64> = BTreeMap::new();
    for record in records {
        let value: serde_json::Value = serde_json::from_str(record).unwrap();
        match value["op"].as_str() {
            Some("c") => *state.entry(value["after"].to_string()).or_default() += 1,
            Some("d") => *state.entry(value["before"].to_string()).or_default() -= 1,
            other => panic!("unexpected op {other:?} in {record}"),
        }
    }
    state.retain(|_, count| *count != 0);
    state
}

#[test]
fn create_sink_from_view_writes_debezium_changes_to_a_redis_stream() {
    let stream = unique("changes");
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_connection()
        .unwrap();
    let engine = engine(2);
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE votes (user_id BIGINT, contestant TEXT);
             CREATE MATERIALIZED VIEW tally AS SELECT contestant, count(*) AS n FROM votes GROUP BY contestant;
             CREATE SINK tally_changes FROM tally WITH (
                 'connector' = 'redis-streams', 'stream' = '{stream}', 'sink.mode' = 'debezium');
             INSERT INTO votes VALUES (1, 'A'), (2, 'B'), (3, 'A');
             INSERT INTO votes VALUES (4, 'A'), (5, 'C');
             DELETE FROM votes WHERE contestant = 'B';"
        ))
        .unwrap();
    let expected: BTreeMap<String, i64> = [
        ("{\"contestant\":\"A\",\"n\":3}".to_string(), 1),
        ("{\"contestant\":\"C\",\"n\":1}".to_string(), 1),
    ]
    .into_iter()
    .collect();
    eventually(|| replay_debezium(&xrange(&mut redis, &stream)), expected);
    // The first write of A was a create; its count change is a delete and a create.
    let records = xrange(&mut redis, &stream);
    assert!(records[0].contains("\"op\":\"c\""), "{records:?}");
    assert!(
        records
            .iter()
            .any(|r| r.contains("\"before\":{\"contestant\":\"A\",\"n\":2}"))
    );
    let sink = show_sink(&mut session, "tally_changes");
    assert_eq!(sink["kind"], "sink");
    assert_eq!(sink["mode"], "debezium");
    // CREATE SINK needs a readable relation and a sink connector.
    let err = session
        .execute("CREATE SINK s2 FROM nowhere WITH ('connector' = 'blackhole')")
        .unwrap_err();
    assert!(
        err.message.contains("\"nowhere\" does not exist"),
        "{err:?}"
    );
    let err = session
        .execute("CREATE SINK s2 FROM tally WITH ('connector' = 'datagen')")
        .unwrap_err();
    assert!(err.message.contains("is not a sink"), "{err:?}");
    let err = session
        .execute(&format!("CREATE SINK s2 FROM tally WITH ('connector' = 'redis-streams', 'stream' = '{stream}', 'sink.mode' = 'upsert')"))
        .unwrap_err();
    assert!(err.message.contains("needs a key"), "{err:?}");
    // The view cannot be dropped while the sink reads it; DROP SINK stops the writes.
    assert!(session.execute("DROP MATERIALIZED VIEW tally").is_err());
    session.execute("DROP SINK tally_changes").unwrap();
    assert!(
        rows(&mut session, "SHOW SINKS")
            .iter()
            .all(|r| r[0] != "tally_changes")
    );
    let written = xrange(&mut redis, &stream).len();
    session
        .execute("INSERT INTO votes VALUES (6, 'D')")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(xrange(&mut redis, &stream).len(), written);
    session.execute("DROP MATERIALIZED VIEW tally").unwrap();
    let _: () = redis::cmd("DEL").arg(&stream).query(&mut redis).unwrap();
}

#[test]
fn a_nats_table_is_written_by_insert_into_and_read_by_a_view() {
    let stream = unique("bus").replace('-', "_").to_uppercase();
    let subject = format!("{}.events", stream.to_lowercase());
    let engine = engine(2);
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE bus (id INT, msg TEXT) WITH (
                 'connector' = 'nats-jetstream', 'stream' = '{stream}', 'subject' = '{subject}',
                 'format' = 'json', 'scan.startup.mode' = 'earliest');
             CREATE TABLE outbox (id INT, msg TEXT);
             CREATE MATERIALIZED VIEW seen AS SELECT count(*) AS n, count(DISTINCT id) AS ids FROM bus;
             INSERT INTO bus SELECT id, msg FROM outbox;"
        ))
        .unwrap();
    let values: Vec<String> = (0..250).map(|i| format!("({i}, 'm{i}')")).collect();
    session
        .execute(&format!("INSERT INTO outbox VALUES {}", values.join(", ")))
        .unwrap();
    eventually(
        || rows(&mut session, "SELECT n, ids FROM seen"),
        vec![vec!["250".to_string(), "250".to_string()]],
    );
    assert_eq!(nats_messages(&stream).len(), 250);
    // A table of a source-only connector cannot be written.
    session
        .execute(
            "CREATE TABLE gen (a BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1')",
        )
        .unwrap();
    let err = session
        .execute("INSERT INTO gen SELECT id FROM outbox")
        .unwrap_err();
    assert!(
        err.message
            .contains("cannot insert into source table \"gen\""),
        "{err:?}"
    );
    delete_nats_stream(&stream);
}
