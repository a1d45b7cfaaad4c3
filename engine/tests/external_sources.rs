//! External source tables end to end, against real systems: a Redis stream and a
//! directory of JSON-lines files feed views through SQL; corrupt messages are counted in
//! SHOW SOURCES and lose nothing else; the view follows messages added later.

use std::time::{Duration, Instant};

use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session};

fn unique(name: &str) -> String {
    format!(
        "laaster-e2e-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn rows(session: &mut Session, sql: &str) -> Vec<Vec<String>> {
    match session.execute(sql).expect(sql).into_iter().next() {
        Some(ExecuteResult::Rows(rows)) => rows.to_text(),
        other => panic!("{sql}: {other:?}"),
    }
}

/// Polls `sql` until it returns `expected` (or fails after 30 s with the last answer).
fn wait_for(session: &mut Session, sql: &str, expected: &[&[&str]]) {
    let expected: Vec<Vec<String>> = expected
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect();
    let start = Instant::now();
    loop {
        let got = rows(session, sql);
        if got == expected {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{sql}: got {got:?}, want {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn source_errors(session: &mut Session, name: &str) -> String {
    rows(session, "SHOW SOURCES")
        .into_iter()
        .find(|r| r[0] == name)
        .map(|r| r[3].clone())
        .unwrap_or_default()
}

#[test]
fn redis_stream_feeds_a_live_view_and_counts_bad_messages() {
    let stream = unique("votes");
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_connection()
        .unwrap();
    let add = |redis: &mut redis::Connection, payloads: Vec<String>| {
        let mut pipe = redis::pipe();
        for payload in payloads {
            pipe.cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("data")
                .arg(payload)
                .ignore();
        }
        pipe.query::<()>(redis).unwrap();
    };
    // 1,000 votes, 600 for A and 400 for B, and 100 corrupt messages among them.
    let mut payloads = Vec::new();
    for i in 0..1100 {
        payloads.push(if i % 11 == 10 {
            if i % 2 == 0 {
                "{\"user_id\": oops".to_string()
            } else {
                format!("{{\"user_id\": \"x{i}\", \"contestant\": \"A\"}}")
            }
        } else {
            let contestant = if i % 5 < 3 { "A" } else { "B" };
            format!("{{\"user_id\": {i}, \"contestant\": \"{contestant}\"}}")
        });
    }
    let (a, b) = (0..1100)
        .filter(|i| i % 11 != 10)
        .fold(
            (0, 0),
            |(a, b), i| if i % 5 < 3 { (a + 1, b) } else { (a, b + 1) },
        );
    add(&mut redis, payloads);

    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE votes (user_id BIGINT, contestant TEXT) WITH (
                'connector' = 'redis-streams', 'stream' = '{stream}', 'group' = 'g1', 'format' = 'json')"
        ))
        .unwrap();
    session
        .execute("CREATE MATERIALIZED VIEW tally AS SELECT contestant, count(*) AS n FROM votes GROUP BY contestant")
        .unwrap();
    wait_for(
        &mut session,
        "SELECT contestant, n FROM tally ORDER BY contestant",
        &[&["A", &a.to_string()], &["B", &b.to_string()]],
    );
    assert_eq!(source_errors(&mut session, "votes"), "100");
    // New votes arrive while the view runs.
    add(
        &mut redis,
        (0..10)
            .map(|i| format!("{{\"user_id\": {}, \"contestant\": \"C\"}}", 5000 + i))
            .collect(),
    );
    wait_for(
        &mut session,
        "SELECT contestant, n FROM tally ORDER BY contestant",
        &[&["A", &a.to_string()], &["B", &b.to_string()], &["C", "10"]],
    );
    // Everything read was acknowledged.
    let pending: (i64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("g1")
        .query(&mut redis)
        .unwrap();
    assert_eq!(pending.0, 0);
    let _: () = redis::cmd("DEL").arg(&stream).query(&mut redis).unwrap();
}

#[test]
fn file_source_reads_a_directory_once() {
    let dir = std::env::temp_dir().join(unique("files"));
    std::fs::create_dir_all(&dir).unwrap();
    for f in 0..4 {
        let mut text = String::new();
        for i in 0..250 {
            if i == 17 {
                text.push_str("{\"k\": \"not a number\"}\n");
            } else {
                text.push_str(&format!("{{\"k\": {}, \"v\": {i}}}\n", f));
            }
        }
        std::fs::write(dir.join(format!("part-{f}.jsonl")), text).unwrap();
    }
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE events (k INT, v INT) WITH ('connector' = 'filesystem', 'path' = '{}/*.jsonl', 'format' = 'json')",
            dir.display()
        ))
        .unwrap();
    session
        .execute("CREATE MATERIALIZED VIEW per_k AS SELECT k, count(*) AS n, sum(v) AS s FROM events GROUP BY k")
        .unwrap();
    let sum: i64 = (0..250).filter(|i| *i != 17).sum();
    let s = sum.to_string();
    wait_for(
        &mut session,
        "SELECT k, n, s FROM per_k ORDER BY k",
        &[
            &["0", "249", &s],
            &["1", "249", &s],
            &["2", "249", &s],
            &["3", "249", &s],
        ],
    );
    assert_eq!(source_errors(&mut session, "events"), "4");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_connector_options_are_refused_at_create() {
    let engine = Engine::start(EngineConfig {
        workers: 1,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    let err = session
        .execute("CREATE TABLE t (a INT) WITH ('connector' = 'redis-streams', 'format' = 'json')")
        .unwrap_err();
    assert!(err.message.contains("needs option 'stream'"), "{err:?}");
    let err = session
        .execute("CREATE TABLE t (a INT) WITH ('connector' = 'filesystem', 'path' = '/tmp', 'format' = 'jsn')")
        .unwrap_err();
    assert!(err.message.contains("unknown format 'jsn'"), "{err:?}");
    let err = session
        .execute("CREATE TABLE t (a INT) WITH ('connector' = 'nats-jetstream', 'stream' = 'S', 'subject' = 's', 'format' = 'json', 'consumr' = 'x')")
        .unwrap_err();
    assert_eq!(err.hint.as_deref(), Some("perhaps you meant 'consumer'"));
}

/// Reads a Redis hash as sorted (field, value) pairs.
fn hash(redis: &mut redis::Connection, key: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = redis::cmd("HGETALL").arg(key).query(redis).unwrap();
    pairs.sort();
    pairs
}

#[test]
fn redis_hash_sink_keeps_the_running_tally() {
    let key = unique("tally");
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_connection()
        .unwrap();
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE votes (user_id BIGINT, contestant TEXT);
             CREATE MATERIALIZED VIEW tally AS SELECT contestant, count(*) AS n FROM votes GROUP BY contestant;
             CREATE TABLE tally_out (contestant TEXT, n BIGINT) WITH (
                 'connector' = 'redis', 'hash' = '{key}', 'key.columns' = 'contestant', 'format' = 'json');
             INSERT INTO tally_out SELECT contestant, n FROM tally;
             INSERT INTO votes VALUES (1, 'A'), (2, 'B'), (3, 'A');"
        ))
        .unwrap();
    let wait = |redis: &mut redis::Connection, expected: Vec<(&str, &str)>| {
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(a, b)| (a.into(), b.into()))
            .collect();
        let start = Instant::now();
        loop {
            let got = hash(redis, &key);
            if got == expected {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "got {got:?}, want {expected:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait(
        &mut redis,
        vec![
            ("A", "{\"contestant\":\"A\",\"n\":2}"),
            ("B", "{\"contestant\":\"B\",\"n\":1}"),
        ],
    );
    // A count changes (a retraction and an insertion at one time); B disappears.
    session
        .execute("INSERT INTO votes VALUES (4, 'A'); DELETE FROM votes WHERE contestant = 'B'")
        .unwrap();
    wait(&mut redis, vec![("A", "{\"contestant\":\"A\",\"n\":3}")]);
    let err = session
        .execute("CREATE TABLE bad_out (contestant TEXT, n BIGINT) WITH ('connector' = 'redis', 'hash' = 'h', 'key.columns' = 'who')")
        .unwrap_err();
    assert!(err.message.contains("'who'"), "{err:?}");
    let _: () = redis::cmd("DEL").arg(&key).query(&mut redis).unwrap();
}
