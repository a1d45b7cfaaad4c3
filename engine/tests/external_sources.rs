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
    // Everything read was acknowledged, in the view's own group (`<group>-<view>`).
    let pending: (i64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("g1-tally")
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

#[test]
fn metadata_columns_are_checked_at_create() {
    let engine = Engine::start(EngineConfig {
        workers: 1,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    let kafka = "WITH ('connector' = 'kafka', 'topic' = 't', \
                 'properties.bootstrap.servers' = '127.0.0.1:1', 'format' = 'json')";
    let err = session
        .execute(&format!(
            "CREATE TABLE t (a INT, p INT METADATA FROM 'parition') {kafka}"
        ))
        .unwrap_err();
    assert_eq!(
        err.message,
        "unknown metadata key 'parition' for column \"p\" of connector 'kafka'"
    );
    assert_eq!(
        err.hint.as_deref(),
        Some(
            "perhaps you meant 'partition'; metadata keys of 'kafka': topic, partition, offset, \
             timestamp, timestamp-type, headers, key"
        )
    );
    let err = session
        .execute(&format!(
            "CREATE TABLE t (a INT, off INT METADATA FROM 'offset') {kafka}"
        ))
        .unwrap_err();
    assert_eq!(
        err.message,
        "metadata column \"off\" (METADATA FROM 'offset') cannot be of type integer"
    );
    assert_eq!(err.hint.as_deref(), Some("declare it as BIGINT"));
    let err = session
        .execute(&format!(
            "CREATE TABLE t (a INT, headers MAP<STRING, BYTES> METADATA) {kafka}"
        ))
        .unwrap_err();
    assert!(err.message.contains("MAP"), "{err:?}");
    let err = session
        .execute(
            "CREATE TABLE t (a INT, k BYTES METADATA FROM 'key') WITH (
                'connector' = 'redis-streams', 'stream' = 's', 'format' = 'json')",
        )
        .unwrap_err();
    assert!(
        err.message.contains(
            "connector 'redis-streams' has no metadata: column \"k\" cannot be METADATA FROM 'key'"
        ),
        "{err:?}"
    );
    let err = session
        .execute("CREATE TABLE t (a INT, k BYTES METADATA FROM 'key')")
        .unwrap_err();
    assert!(
        err.message
            .contains("METADATA columns in a table without a connector"),
        "{err:?}"
    );
    // A well-formed declaration is accepted and prints back as written.
    session
        .execute(&format!(
            "CREATE TABLE t (a INT, k BYTES METADATA FROM 'key', off BIGINT METADATA FROM 'offset' VIRTUAL, \
             headers JSONB METADATA) {kafka}"
        ))
        .unwrap();
    let create = rows(&mut session, "SHOW CREATE TABLE t");
    assert!(
        create[0][1].contains("off BIGINT METADATA FROM 'offset' VIRTUAL"),
        "{create:?}"
    );
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

fn redis() -> redis::Connection {
    redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Appends entries (field/value pairs) to a stream.
fn xadd(redis: &mut redis::Connection, stream: &str, entries: &[Vec<(&str, String)>]) {
    let mut pipe = redis::pipe();
    for fields in entries {
        let command = pipe.cmd("XADD").arg(stream).arg("*");
        for (name, value) in fields {
            command.arg(*name).arg(value);
        }
        command.ignore();
    }
    pipe.query::<()>(redis).unwrap();
}

fn data(payload: &str) -> Vec<(&'static str, String)> {
    vec![("data", payload.to_string())]
}

#[test]
fn dead_letters_land_in_a_queryable_errors_table_once() {
    let stream = unique("dead");
    let mut redis = redis();
    // 3,000 good readings and 300 corrupt ones of three kinds, interleaved.
    let mut entries = Vec::new();
    let mut corrupt = Vec::new();
    for i in 0..3300 {
        let payload = match i % 11 {
            10 => match (i / 11) % 3 {
                0 => format!("{{\"sensor\": {i}, \"value\": oops"),
                1 => format!("{{\"sensor\": \"s{i}\", \"value\": 1.5}}"),
                _ => format!("[{i}]"),
            },
            _ => format!("{{\"sensor\": {}, \"value\": {i}}}", i % 3),
        };
        if i % 11 == 10 {
            corrupt.push(payload.clone());
        }
        entries.push(data(&payload));
    }
    xadd(&mut redis, &stream, &entries);
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE readings (sensor INT, value BIGINT) WITH (
                'connector' = 'redis-streams', 'stream' = '{stream}', 'format' = 'json',
                'on-error' = 'dead-letter');
             CREATE MATERIALIZED VIEW per_sensor AS
                SELECT sensor, count(*) AS n FROM readings GROUP BY sensor;
             CREATE MATERIALIZED VIEW total AS SELECT count(*) AS n FROM readings;"
        ))
        .unwrap();
    wait_for(
        &mut session,
        "SELECT sensor, n FROM per_sensor ORDER BY sensor",
        &[&["0", "1000"], &["1", "1000"], &["2", "1000"]],
    );
    wait_for(&mut session, "SELECT n FROM total", &[&["3000"]]);
    // Each corrupt message once (two views read the source), with where and why.
    wait_for(
        &mut session,
        "SELECT count(*), count(DISTINCT \"offset\") FROM readings_errors",
        &[&["300", "300"]],
    );
    let mut payloads: Vec<String> = rows(&mut session, "SELECT payload FROM readings_errors")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    payloads.sort();
    corrupt.sort();
    assert_eq!(payloads, corrupt);
    let errors = rows(
        &mut session,
        "SELECT source, \"partition\", error, received_at IS NOT NULL FROM readings_errors WHERE payload LIKE '%oops'",
    );
    assert_eq!(errors.len(), 100);
    for row in &errors {
        assert_eq!(row[0], "readings");
        assert_eq!(row[1], stream);
        assert!(row[2].to_lowercase().contains("json"), "{row:?}");
        assert_eq!(row[3], "t");
    }
    let wrong_type = rows(
        &mut session,
        "SELECT error FROM readings_errors WHERE payload LIKE '%: \"s%'",
    );
    assert_eq!(wrong_type.len(), 100);
    assert!(
        wrong_type.iter().all(|r| r[0].contains("sensor")),
        "{wrong_type:?}"
    );
    // Every bad message is counted in SHOW SOURCES (once per reading consumer).
    let counted: i64 = source_errors(&mut session, "readings").parse().unwrap();
    assert!(counted >= 300, "{counted}");
    // The errors table goes with its source.
    session.execute("DROP TABLE readings CASCADE").unwrap();
    let err = session
        .execute("SELECT * FROM readings_errors")
        .unwrap_err();
    assert!(err.message.contains("does not exist"), "{err:?}");
    let _: () = redis::cmd("DEL").arg(&stream).query(&mut redis).unwrap();
}

#[test]
fn two_views_each_read_every_message_of_a_stream() {
    let stream = unique("shared");
    let mut redis = redis();
    let entries: Vec<_> = (0..500)
        .map(|i| data(&format!("{{\"k\": {}, \"v\": {i}}}", i % 5)))
        .collect();
    xadd(&mut redis, &stream, &entries);
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE events (k INT, v BIGINT) WITH (
                'connector' = 'redis-streams', 'stream' = '{stream}', 'group' = 'app', 'format' = 'json');
             CREATE MATERIALIZED VIEW counts AS SELECT count(*) AS n, sum(v) AS s FROM events;
             CREATE MATERIALIZED VIEW per_k AS SELECT k, count(*) AS n FROM events GROUP BY k;"
        ))
        .unwrap();
    let sum: i64 = (0..500).sum();
    wait_for(
        &mut session,
        "SELECT n, s FROM counts",
        &[&["500", &sum.to_string()]],
    );
    wait_for(
        &mut session,
        "SELECT k, n FROM per_k ORDER BY k",
        &[
            &["0", "100"],
            &["1", "100"],
            &["2", "100"],
            &["3", "100"],
            &["4", "100"],
        ],
    );
    // One group per view, derived from the configured group.
    assert_eq!(
        redis_groups(&mut redis, &stream),
        ["app-counts", "app-per_k"]
    );
    // A message added later reaches both.
    xadd(&mut redis, &stream, &[data("{\"k\": 0, \"v\": 1}")]);
    wait_for(
        &mut session,
        "SELECT n, s FROM counts",
        &[&["501", &(sum + 1).to_string()]],
    );
    wait_for(&mut session, "SELECT n FROM per_k WHERE k = 0", &[&["101"]]);
    // Dropping a view destroys its group; the other view's stays and goes on.
    session.execute("DROP MATERIALIZED VIEW per_k").unwrap();
    wait_until(
        "groups after DROP",
        || redis_groups(&mut redis, &stream),
        vec!["app-counts".to_string()],
    );
    xadd(&mut redis, &stream, &[data("{\"k\": 1, \"v\": 1}")]);
    wait_for(
        &mut session,
        "SELECT n, s FROM counts",
        &[&["502", &(sum + 2).to_string()]],
    );
    let _: () = redis::cmd("DEL").arg(&stream).query(&mut redis).unwrap();
}

/// The consumer groups of a Redis stream, sorted.
fn redis_groups(redis: &mut redis::Connection, stream: &str) -> Vec<String> {
    let info: Vec<Vec<redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query(redis)
        .unwrap();
    let mut groups: Vec<String> = info
        .into_iter()
        .filter_map(|fields| {
            fields.chunks(2).find_map(|pair| match pair {
                [
                    redis::Value::BulkString(name),
                    redis::Value::BulkString(value),
                ] if name.as_slice() == b"name" => {
                    Some(String::from_utf8_lossy(value).into_owned())
                }
                _ => None,
            })
        })
        .collect();
    groups.sort();
    groups
}

#[test]
fn upsert_source_keeps_the_last_value_per_key() {
    let stream = unique("users");
    let mut redis = redis();
    // 200 keys, each written 5 times; every 7th key is deleted at the end, half of them
    // by an empty value, half by a JSON null.
    let mut entries = Vec::new();
    for round in 0..5 {
        for id in 0..200 {
            entries.push(data(&format!(
                "{{\"id\": {id}, \"name\": \"u{id}-r{round}\", \"score\": {}}}",
                id * 10 + round
            )));
        }
    }
    for id in (0..200).filter(|id| id % 7 == 0) {
        let value = if id % 2 == 0 { "" } else { "null" };
        entries.push(vec![("data", value.to_string()), ("key", id.to_string())]);
    }
    xadd(&mut redis, &stream, &entries);
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE users (id BIGINT, name TEXT, score BIGINT, PRIMARY KEY (id) NOT ENFORCED) WITH (
                'connector' = 'redis-streams', 'stream' = '{stream}', 'format' = 'json',
                'scan.mode' = 'upsert');
             CREATE MATERIALIZED VIEW latest AS SELECT id, name, score FROM users;
             CREATE MATERIALIZED VIEW stats AS SELECT count(*) AS n, sum(score) AS s FROM users;"
        ))
        .unwrap();
    let live: Vec<i64> = (0..200).filter(|id| id % 7 != 0).collect();
    let total: i64 = live.iter().map(|id| id * 10 + 4).sum();
    wait_for(
        &mut session,
        "SELECT n, s FROM stats",
        &[&[&live.len().to_string(), &total.to_string()]],
    );
    let got = rows(
        &mut session,
        "SELECT id, name, score FROM latest ORDER BY id",
    );
    let want: Vec<Vec<String>> = live
        .iter()
        .map(|id| {
            vec![
                id.to_string(),
                format!("u{id}-r4"),
                (id * 10 + 4).to_string(),
            ]
        })
        .collect();
    assert_eq!(got, want);
    // Later changes: an update, a new key, a deletion, and a deleted key coming back.
    xadd(
        &mut redis,
        &stream,
        &[
            data("{\"id\": 1, \"name\": \"renamed\", \"score\": 0}"),
            data("{\"id\": 500, \"name\": \"new\", \"score\": 5}"),
            vec![("data", String::new()), ("key", "2".into())],
            data("{\"id\": 7, \"name\": \"back\", \"score\": 70}"),
        ],
    );
    wait_for(
        &mut session,
        "SELECT id, name, score FROM latest WHERE id IN (1, 2, 7, 500) ORDER BY id",
        &[
            &["1", "renamed", "0"],
            &["7", "back", "70"],
            &["500", "new", "5"],
        ],
    );
    // A retained upsert source keeps the same latest rows for ad hoc reads (id 1's score
    // 14 became 0, id 2's 24 was deleted, id 7 came back with 70, id 500 is new with 5).
    session
        .execute(&format!(
            "CREATE TABLE users_kept (id BIGINT, name TEXT, score BIGINT, PRIMARY KEY (id) NOT ENFORCED) WITH (
                'connector' = 'redis-streams', 'stream' = '{stream}', 'format' = 'json',
                'scan.mode' = 'upsert', 'scan.retain' = 'true')"
        ))
        .unwrap();
    wait_for(
        &mut session,
        "SELECT count(*), sum(score) FROM users_kept",
        &[&[
            &(live.len() + 1).to_string(),
            &(total - 14 - 24 + 70 + 5).to_string(),
        ]],
    );
    // A changelog cannot feed operators that need insertions only.
    let err = session
        .execute("CREATE MATERIALIZED VIEW stamped AS SELECT id, PROCTIME() AS p FROM users")
        .unwrap_err();
    assert!(err.message.contains("append-only"), "{err:?}");
    // An upsert source needs a key.
    let err = session
        .execute(&format!(
            "CREATE TABLE nokey (id BIGINT) WITH ('connector' = 'redis-streams', 'stream' = '{stream}', 'format' = 'json', 'scan.mode' = 'upsert')"
        ))
        .unwrap_err();
    assert!(err.message.contains("needs a PRIMARY KEY"), "{err:?}");
    let _: () = redis::cmd("DEL").arg(&stream).query(&mut redis).unwrap();
}

#[test]
fn debezium_file_source_applies_creates_updates_and_deletes() {
    let dir = std::env::temp_dir().join(unique("cdc"));
    std::fs::create_dir_all(&dir).unwrap();
    let event = |op: &str, before: Option<(i64, &str)>, after: Option<(i64, &str)>| {
        let image = |row: Option<(i64, &str)>| match row {
            Some((id, name)) => format!("{{\"id\": {id}, \"name\": \"{name}\"}}"),
            None => "null".into(),
        };
        format!(
            "{{\"before\": {}, \"after\": {}, \"op\": \"{op}\"}}\n",
            image(before),
            image(after)
        )
    };
    let mut text = String::new();
    for id in 0..50 {
        text.push_str(&event("c", None, Some((id, "a"))));
    }
    for id in (0..50).filter(|id| id % 2 == 0) {
        text.push_str(&event("u", Some((id, "a")), Some((id, "b"))));
    }
    for id in (0..50).filter(|id| id % 5 == 0) {
        let name = if id % 2 == 0 { "b" } else { "a" };
        text.push_str(&event("d", Some((id, name)), None));
    }
    text.push_str("{\"op\": \"u\", \"after\": {\"id\": 1}}\n");
    std::fs::write(dir.join("changes.jsonl"), text).unwrap();
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE customers (id BIGINT, name TEXT) WITH (
                'connector' = 'filesystem', 'path' = '{}/*.jsonl', 'format' = 'debezium-json');
             CREATE MATERIALIZED VIEW by_name AS SELECT name, count(*) AS n FROM customers GROUP BY name;",
            dir.display()
        ))
        .unwrap();
    // 50 created; 25 even renamed to b; 10 deleted (5 even b, 5 odd a).
    wait_for(
        &mut session,
        "SELECT name, n FROM by_name ORDER BY name",
        &[&["a", "20"], &["b", "20"]],
    );
    // The same events as upserts keyed by id: updates replace, deletes delete.
    session
        .execute(&format!(
            "CREATE TABLE customers_by_id (id BIGINT, name TEXT, PRIMARY KEY (id) NOT ENFORCED) WITH (
                'connector' = 'filesystem', 'path' = '{}/*.jsonl', 'format' = 'debezium-json',
                'scan.mode' = 'upsert');
             CREATE MATERIALIZED VIEW by_name_upsert AS
                SELECT name, count(*) AS n, sum(id) AS ids FROM customers_by_id GROUP BY name;",
            dir.display()
        ))
        .unwrap();
    let ids = |name: &str| -> i64 {
        (0..50)
            .filter(|id| id % 5 != 0)
            .filter(|id| (id % 2 == 0) == (name == "b"))
            .sum()
    };
    wait_for(
        &mut session,
        "SELECT name, n, ids FROM by_name_upsert ORDER BY name",
        &[
            &["a", "20", &ids("a").to_string()],
            &["b", "20", &ids("b").to_string()],
        ],
    );
    // The update without a before image is counted, not applied.
    let start = Instant::now();
    while source_errors(&mut session, "customers") != "1" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the bad event was not counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = session
        .execute(&format!(
            "CREATE TABLE timed (id BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH (
                'connector' = 'filesystem', 'path' = '{}/*.jsonl', 'format' = 'debezium-json')",
            dir.display()
        ))
        .unwrap_err();
    assert!(err.message.contains("cannot have a WATERMARK"), "{err:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Publishes `payloads` to a JetStream stream (created with `subject` if missing).
fn nats_publish(stream: &str, subject: &str, payloads: Vec<String>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.to_string(),
            subjects: vec![subject.to_string()],
            ..Default::default()
        })
        .await
        .unwrap();
        for payload in payloads {
            js.publish(subject.to_string(), payload.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });
}

/// The durable consumers of a JetStream stream, sorted.
fn nats_consumers(stream: &str) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use futures::StreamExt;
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let js = async_nats::jetstream::new(client);
        let handle = js.get_stream(stream).await.unwrap();
        let mut names: Vec<String> = handle
            .consumer_names()
            .map(|name| name.unwrap())
            .collect()
            .await;
        names.sort();
        names
    })
}

/// `(delivered and not acknowledged, not yet delivered)` of a durable consumer.
fn nats_consumer_backlog(stream: &str, consumer: &str) -> (usize, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut handle: async_nats::jetstream::consumer::PullConsumer = js
            .get_stream(stream)
            .await
            .unwrap()
            .get_consumer(consumer)
            .await
            .unwrap();
        let info = handle.info().await.unwrap();
        (info.num_ack_pending, info.num_pending)
    })
}

/// Deletes a JetStream stream when dropped (also when the test fails).
struct NatsStream(String);

impl Drop for NatsStream {
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect("nats://127.0.0.1:4222").await {
                    let _ = async_nats::jetstream::new(client)
                        .delete_stream(&self.0)
                        .await;
                }
            });
        }
    }
}

/// Polls `read` until it returns `expected` (or fails after 30 s with the last answer).
fn wait_until<T: PartialEq + std::fmt::Debug>(
    what: &str,
    mut read: impl FnMut() -> T,
    expected: T,
) {
    let start = Instant::now();
    loop {
        let got = read();
        if got == expected {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: got {got:?}, want {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_views_each_read_every_message_of_a_nats_stream() {
    let stream = unique("views").replace('-', "_").to_uppercase();
    let subject = format!("{}.in", stream.to_lowercase());
    nats_publish(
        &stream,
        &subject,
        (0..300)
            .map(|i| format!("{{\"k\": {}, \"v\": {i}}}", i % 3))
            .collect(),
    );
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE events (k INT, v BIGINT) WITH (
                'connector' = 'nats-jetstream', 'stream' = '{stream}', 'subject' = '{subject}',
                'consumer' = 'app', 'format' = 'json');
             CREATE MATERIALIZED VIEW total AS SELECT count(*) AS n, sum(v) AS s FROM events;
             CREATE MATERIALIZED VIEW per_k AS SELECT k, count(*) AS n FROM events GROUP BY k;"
        ))
        .unwrap();
    let sum: i64 = (0..300).sum();
    wait_for(
        &mut session,
        "SELECT n, s FROM total",
        &[&["300", &sum.to_string()]],
    );
    wait_for(
        &mut session,
        "SELECT k, n FROM per_k ORDER BY k",
        &[&["0", "100"], &["1", "100"], &["2", "100"]],
    );
    nats_publish(&stream, &subject, vec!["{\"k\": 2, \"v\": 1}".into()]);
    wait_for(
        &mut session,
        "SELECT n, s FROM total",
        &[&["301", &(sum + 1).to_string()]],
    );
    wait_for(&mut session, "SELECT n FROM per_k WHERE k = 2", &[&["101"]]);
    let _delete = NatsStream(stream.clone());
    assert_eq!(nats_consumers(&stream), ["app-per_k", "app-total"]);
    // Dropping a view deletes its durable consumer; the other view's stays.
    session.execute("DROP MATERIALIZED VIEW per_k").unwrap();
    wait_until(
        "consumers after DROP",
        || nats_consumers(&stream),
        vec!["app-total".to_string()],
    );
    session.execute("DROP MATERIALIZED VIEW total").unwrap();
    wait_until(
        "consumers after DROP",
        || nats_consumers(&stream),
        Vec::new(),
    );
}

/// Publishes `count` messages `{"id": i}` to a JetStream stream (created with `subject`),
/// waiting for the acknowledgements a thousand at a time.
fn nats_publish_ids(stream: &str, subject: &str, count: i64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.to_string(),
            subjects: vec![subject.to_string()],
            ..Default::default()
        })
        .await
        .unwrap();
        let mut acks = Vec::new();
        for id in 0..count {
            acks.push(
                js.publish(subject.to_string(), format!("{{\"id\": {id}}}").into())
                    .await
                    .unwrap(),
            );
            if acks.len() == 1000 || id == count - 1 {
                for ack in futures::future::join_all(acks.drain(..).map(|a| a.into_future())).await
                {
                    ack.unwrap();
                }
            }
        }
    });
}

#[test]
fn nats_stream_read_by_two_workers_delivers_every_message_once() {
    const COUNT: i64 = 20_000;
    let stream = unique("once").replace('-', "_").to_uppercase();
    let subject = format!("{}.in", stream.to_lowercase());
    let _delete = NatsStream(stream.clone());
    nats_publish_ids(&stream, &subject, COUNT);
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE events (id BIGINT) WITH (
                'connector' = 'nats-jetstream', 'stream' = '{stream}', 'subject' = '{subject}',
                'consumer' = 'app', 'format' = 'json');
             CREATE MATERIALIZED VIEW seen AS
                SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(id) AS s FROM events;
             CREATE MATERIALIZED VIEW repeated AS
                SELECT id, count(*) AS n FROM events GROUP BY id HAVING count(*) > 1;"
        ))
        .unwrap();
    let count = COUNT.to_string();
    let sum = (0..COUNT).sum::<i64>().to_string();
    wait_for(
        &mut session,
        "SELECT n, ids, s FROM seen",
        &[&[&count, &count, &sum]],
    );
    // Every message is acknowledged: JetStream has nothing left to deliver or redeliver,
    // so the counts are final.
    for consumer in ["app-seen", "app-repeated"] {
        wait_until(
            "the consumer's backlog",
            || nats_consumer_backlog(&stream, consumer),
            (0, 0),
        );
    }
    assert_eq!(
        rows(&mut session, "SELECT n, ids, s FROM seen"),
        [[count.clone(), count.clone(), sum.clone()]]
    );
    assert!(rows(&mut session, "SELECT id, n FROM repeated").is_empty());
    assert_eq!(source_errors(&mut session, "events"), "0");
}
