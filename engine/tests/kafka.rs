//! Kafka end to end through SQL, against a real Kafka-protocol broker (tansu, started on
//! a free loopback port and killed when the test ends; installed by
//! `scripts/install-test-deps.sh`, which CI runs first): a Kafka source table feeds a
//! vote tally, corrupt messages are counted in SHOW SOURCES, and the consumer group's
//! committed offsets reach the end of every partition once the rows are in the view; a
//! view is upserted into a Kafka topic through `CREATE SINK` (latest row per key,
//! tombstones for deleted groups), read back with a consumer and as an upsert source table.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use laaster_connectors::kafka::rdkafka::config::ClientConfig;
use laaster_connectors::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use laaster_connectors::kafka::rdkafka::message::Message as _;
use laaster_connectors::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use laaster_connectors::kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use laaster_connectors::kafka::{LocalBroker, create_topic};
use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session};

/// A tansu broker on a free loopback port, killed on drop.
struct Broker {
    _broker: LocalBroker,
    servers: String,
}

impl Broker {
    fn start() -> Broker {
        let broker = LocalBroker::start().unwrap_or_else(|e| panic!("{e}"));
        let servers = broker.servers().to_string();
        Broker {
            _broker: broker,
            servers,
        }
    }
}

fn produce(servers: &str, topic: &str, payloads: &[String]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .unwrap();
    for payload in payloads {
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(topic).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, returned)) => {
                    assert!(e.to_string().contains("Queue full"), "{e}");
                    producer.poll(Duration::from_millis(20));
                    record = returned;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
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

/// The offsets group `group` committed for partitions `0..partitions` of `topic` (-1
/// where it committed none).
fn committed(servers: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap();
    (0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).unwrap().offset() {
                Offset::Offset(offset) => offset,
                _ => -1,
            },
        )
        .collect()
}

#[test]
fn kafka_topic_feeds_a_live_tally_and_commits_its_offsets() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "votes", 4).unwrap();
    // 1,000 votes, 600 for A and 400 for B, and 100 corrupt messages among them.
    let mut payloads = Vec::new();
    let (mut a, mut b) = (0, 0);
    for i in 0..1100 {
        payloads.push(if i % 11 == 10 {
            if i % 2 == 0 {
                "{\"user_id\": oops".to_string()
            } else {
                format!("{{\"user_id\": \"x{i}\", \"contestant\": \"A\"}}")
            }
        } else {
            let contestant = if i % 5 < 3 { "A" } else { "B" };
            if contestant == "A" {
                a += 1;
            } else {
                b += 1;
            }
            format!("{{\"user_id\": {i}, \"contestant\": \"{contestant}\"}}")
        });
    }
    produce(servers, "votes", &payloads);

    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE votes (user_id BIGINT, contestant TEXT) WITH (
                'connector' = 'kafka', 'topic' = 'votes',
                'properties.bootstrap.servers' = '{servers}', 'properties.group.id' = 'e2e',
                'scan.startup.mode' = 'group-offsets', 'format' = 'json')"
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
    produce(
        servers,
        "votes",
        &(0..10)
            .map(|i| format!("{{\"user_id\": {}, \"contestant\": \"C\"}}", 5000 + i))
            .collect::<Vec<_>>(),
    );
    wait_for(
        &mut session,
        "SELECT contestant, n FROM tally ORDER BY contestant",
        &[&["A", &a.to_string()], &["B", &b.to_string()], &["C", "10"]],
    );
    // Every message is in the view, so the group has committed every partition's end:
    // offsets are dense from 0, so the committed next offsets add up to the 1,110
    // messages (commits are asynchronous: give them a moment). The partitions' high
    // watermarks are not compared: tansu 0.6 reports a partition's end as the last record
    // batch's first offset + 1, short of the end when that batch holds several records.
    let start = Instant::now();
    loop {
        // The view reads in its own group, `<group>-<view>`.
        let committed = committed(servers, "e2e-tally", "votes", 4);
        if committed.iter().all(|c| *c > 0) && committed.iter().sum::<i64>() == 1110 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "committed {committed:?}, want every partition's end (1,110 messages in all)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Dropping the view closes its consumers and deletes its group: no offsets remain.
    session.execute("DROP MATERIALIZED VIEW tally").unwrap();
    let start = Instant::now();
    loop {
        let committed = committed(servers, "e2e-tally", "votes", 4);
        if committed == [-1, -1, -1, -1] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "group e2e-tally still has offsets {committed:?} after DROP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends one record with a key, headers and a timestamp to a partition, and waits for it.
fn produce_record(
    producer: &BaseProducer,
    topic: &str,
    partition: i32,
    (key, payload): (Option<&[u8]>, Option<&str>),
    headers: &[(&str, Option<&[u8]>)],
    timestamp: i64,
) {
    use laaster_connectors::kafka::rdkafka::message::{Header, OwnedHeaders};
    let mut owned = OwnedHeaders::new();
    for (name, value) in headers {
        owned = owned.insert(Header {
            key: name,
            value: *value,
        });
    }
    let mut record: BaseRecord<'_, [u8], str> = BaseRecord::to(topic)
        .partition(partition)
        .timestamp(timestamp)
        .headers(owned);
    if let Some(key) = key {
        record = record.key(key);
    }
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    producer.send(record).map_err(|(e, _)| e).unwrap();
    // One record per batch: tansu reads from batch boundaries only (see the connector).
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A record to produce: (partition, key, url, headers, timestamp in ms).
type Record<'a> = (i32, Option<&'a [u8]>, &'a str, Vec<Header<'a>>, i64);

/// A header: name and value.
type Header<'a> = (&'a str, Option<&'a [u8]>);

#[test]
fn kafka_keys_headers_and_envelope_are_metadata_columns() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "clicks", 2).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers.as_str())
        .create()
        .unwrap();
    // (partition, key, url, headers, timestamp ms)
    let base = 1_700_000_000_000_i64;
    let records: [Record; 4] = [
        (
            0,
            Some(b"k1"),
            "/a",
            vec![("trace", Some(b"t-1")), ("n", Some(b"1"))],
            base + 123,
        ),
        (1, Some(b"\x00\xff"), "/b", vec![], base + 456),
        (0, None, "/c", vec![("empty", None)], base + 789),
        (
            1,
            Some(b"k4"),
            "/d",
            vec![("trace", Some(b"t-4"))],
            base + 1_000,
        ),
    ];
    for (partition, key, url, headers, timestamp) in &records {
        let payload = format!("{{\"url\": \"{url}\"}}");
        produce_record(
            &producer,
            "clicks",
            *partition,
            (*key, Some(&payload)),
            headers,
            *timestamp,
        );
    }
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE clicks (
                url STRING,
                k BYTES METADATA FROM 'key',
                part INT METADATA FROM 'partition' VIRTUAL,
                off BIGINT METADATA FROM 'offset' VIRTUAL,
                ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
                ts_type STRING METADATA FROM 'timestamp-type',
                topic STRING METADATA VIRTUAL,
                headers JSONB METADATA
             ) WITH ('connector' = 'kafka', 'topic' = 'clicks',
                'properties.bootstrap.servers' = '{servers}',
                'scan.startup.mode' = 'earliest-offset', 'format' = 'json')"
        ))
        .unwrap();
    session
        .execute(
            "CREATE MATERIALIZED VIEW seen AS SELECT url, k, part, off, ts, ts_type, topic, headers FROM clicks",
        )
        .unwrap();
    // The expected rows, written out from the records produced above.
    wait_for(
        &mut session,
        "SELECT url, k, part, off, ts, ts_type, topic, headers, headers->>'trace' FROM seen ORDER BY url",
        &[
            &[
                "/a",
                "\\x6b31",
                "0",
                "0",
                "2023-11-14 22:13:20.123+00",
                "CreateTime",
                "clicks",
                r#"{"n": "1", "trace": "t-1"}"#,
                "t-1",
            ],
            &[
                "/b",
                "\\x00ff",
                "1",
                "0",
                "2023-11-14 22:13:20.456+00",
                "CreateTime",
                "clicks",
                "{}",
                "NULL",
            ],
            &[
                "/c",
                "NULL",
                "0",
                "1",
                "2023-11-14 22:13:20.789+00",
                "CreateTime",
                "clicks",
                r#"{"empty": null}"#,
                "NULL",
            ],
            &[
                "/d",
                "\\x6b34",
                "1",
                "1",
                "2023-11-14 22:13:21+00",
                "CreateTime",
                "clicks",
                r#"{"trace": "t-4"}"#,
                "t-4",
            ],
        ],
    );
    // A header value that is not UTF-8 cannot be a JSONB string: the message is a bad
    // message (counted), the others go on.
    produce_record(
        &producer,
        "clicks",
        0,
        (Some(b"k5"), Some("{\"url\": \"/e\"}")),
        &[("bin", Some(&[0xff, 0xfe]))],
        base + 2_000,
    );
    produce_record(
        &producer,
        "clicks",
        1,
        (Some(b"k6"), Some("{\"url\": \"/f\"}")),
        &[],
        base + 3_000,
    );
    wait_for(
        &mut session,
        "SELECT url, off FROM seen WHERE url > '/d' ORDER BY url",
        &[&["/f", "2"]],
    );
    assert_eq!(source_errors(&mut session, "clicks"), "1");
}

#[test]
fn an_upsert_source_keyed_by_the_message_key_column() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "latest", 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers.as_str())
        .create()
        .unwrap();
    let sends: [(&[u8], Option<&str>); 5] = [
        (b"a", Some("{\"v\": 1}")),
        (b"b", Some("{\"v\": 2}")),
        (b"a", Some("{\"v\": 3}")),
        (b"c", Some("{\"v\": 4}")),
        (b"b", None),
    ];
    for (i, (key, value)) in sends.iter().enumerate() {
        produce_record(&producer, "latest", 0, (Some(key), *value), &[], i as i64);
    }
    let engine = Engine::start(EngineConfig::default()).unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE latest (k STRING METADATA FROM 'key', v BIGINT,
                PRIMARY KEY (k) NOT ENFORCED
             ) WITH ('connector' = 'kafka', 'topic' = 'latest',
                'properties.bootstrap.servers' = '{servers}', 'scan.mode' = 'upsert',
                'scan.startup.mode' = 'earliest-offset', 'format' = 'json');
             CREATE MATERIALIZED VIEW current AS SELECT k, v FROM latest"
        ))
        .unwrap();
    // a was replaced, b deleted by its tombstone, c inserted.
    wait_for(
        &mut session,
        "SELECT k, v FROM current ORDER BY k",
        &[&["a", "3"], &["c", "4"]],
    );
}

#[test]
fn kafka_options_are_checked_at_create() {
    let engine = Engine::start(EngineConfig {
        workers: 1,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    let err = session
        .execute(
            "CREATE TABLE t (a INT) WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'json')",
        )
        .unwrap_err();
    assert!(
        err.message
            .contains("needs option 'properties.bootstrap.servers'"),
        "{err:?}"
    );
    let err = session
        .execute("CREATE TABLE t (a INT) WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'json', 'properties.bootstrap.servers' = 'x:1', 'scan.startup.mod' = 'earliest-offset')")
        .unwrap_err();
    assert_eq!(
        err.hint.as_deref(),
        Some("perhaps you meant 'scan.startup.mode'")
    );
}

/// Follows `topic` from its start like an upsert reader: the latest value of each key
/// (`None` after a tombstone). Polls until the table equals `expected` (or fails after
/// 30 s with the last table).
fn wait_for_topic(
    consumer: &BaseConsumer,
    table: &mut BTreeMap<String, Option<String>>,
    expected: &[(&str, Option<&str>)],
) {
    let expected: BTreeMap<String, Option<String>> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
    let start = Instant::now();
    while *table != expected {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "topic holds {table:?}, want {expected:?}"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let message = message.unwrap();
            let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
            table.insert(
                text(message.key().expect("an upsert message has a key")),
                message.payload().map(text),
            );
        }
    }
}

#[test]
fn a_view_is_upserted_into_a_kafka_topic_with_tombstones() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "tally", 2).unwrap();
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
             CREATE SINK tally_out FROM tally WITH (
                 'connector' = 'kafka', 'topic' = 'tally', 'properties.bootstrap.servers' = '{servers}',
                 'key.columns' = 'contestant', 'key.format' = 'raw', 'sink.mode' = 'upsert',
                 'format' = 'json');
             INSERT INTO votes VALUES (1, 'A'), (2, 'B'), (3, 'A');"
        ))
        .unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "reader")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..2 {
        assignment
            .add_partition_offset("tally", partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut table = BTreeMap::new();
    wait_for_topic(
        &consumer,
        &mut table,
        &[
            ("A", Some("{\"contestant\":\"A\",\"n\":2}")),
            ("B", Some("{\"contestant\":\"B\",\"n\":1}")),
        ],
    );
    // A's count changes (a retraction and an insertion at one time); B's group goes
    // away: a tombstone.
    session
        .execute("INSERT INTO votes VALUES (4, 'A'); DELETE FROM votes WHERE contestant = 'B'")
        .unwrap();
    wait_for_topic(
        &consumer,
        &mut table,
        &[("A", Some("{\"contestant\":\"A\",\"n\":3}")), ("B", None)],
    );
    // The topic read back as an upsert source table (Flink's upsert-kafka): the latest
    // row per PRIMARY KEY, a tombstone deletes. Kafka -> view -> Kafka -> view.
    session
        .execute(&format!(
            "CREATE TABLE tally_copy (contestant TEXT, n BIGINT, PRIMARY KEY (contestant) NOT ENFORCED) WITH (
                 'connector' = 'kafka', 'topic' = 'tally', 'properties.bootstrap.servers' = '{servers}',
                 'scan.startup.mode' = 'earliest-offset', 'format' = 'json', 'scan.mode' = 'upsert');
             CREATE MATERIALIZED VIEW copied AS SELECT contestant, n FROM tally_copy;"
        ))
        .unwrap();
    wait_for(
        &mut session,
        "SELECT contestant, n FROM copied ORDER BY contestant",
        &[&["A", "3"]],
    );
    session
        .execute("INSERT INTO votes VALUES (5, 'B'), (6, 'C'), (7, 'C')")
        .unwrap();
    wait_for(
        &mut session,
        "SELECT contestant, n FROM copied ORDER BY contestant",
        &[&["A", "3"], &["B", "1"], &["C", "2"]],
    );
    // The sink's options are checked at CREATE SINK.
    let err = session
        .execute(&format!(
            "CREATE SINK bad_out FROM tally WITH ('connector' = 'kafka', 'topic' = 'tally',
                 'properties.bootstrap.servers' = '{servers}', 'format' = 'json', 'sink.mode' = 'sideways')"
        ))
        .unwrap_err();
    assert!(err.message.contains("'sink.mode'"), "{err:?}");
}
