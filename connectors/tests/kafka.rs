//! The Kafka connector against a real Kafka-protocol broker: tansu, started per test on a
//! free loopback port (in-memory storage) and killed when the test ends. The broker
//! binary is installed by `scripts/install-test-deps.sh` (which CI runs first).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use laaster_connectors::api::{Message, Poll, SourceReader};
use laaster_connectors::kafka::rdkafka::config::ClientConfig;
use laaster_connectors::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use laaster_connectors::kafka::rdkafka::message::Message as _;
use laaster_connectors::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use laaster_connectors::kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use laaster_connectors::kafka::{LocalBroker, create_topic};
use laaster_connectors::registry::{external_sink, external_source};
use laaster_repr::{Column, ColumnType, Datum, RelationDesc, Row, ScalarType};

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

fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn votes() -> RelationDesc {
    RelationDesc::new(vec![
        Column {
            name: "user_id".into(),
            typ: ColumnType::nullable(ScalarType::Int64),
        },
        Column {
            name: "contestant".into(),
            typ: ColumnType::nullable(ScalarType::Text),
        },
    ])
}

fn vote(user_id: i64) -> String {
    format!(
        "{{\"user_id\": {user_id}, \"contestant\": \"{}\"}}",
        ["A", "B", "C"][user_id as usize % 3]
    )
}

/// Produces `(key, value)` messages (a `None` value is a tombstone) and waits for the
/// broker's acknowledgement.
fn produce(servers: &str, topic: &str, messages: &[(Option<String>, Option<String>)]) {
    produce_with(servers, topic, messages, &[]);
}

/// Produces every message in a record batch of its own.
///
/// tansu 0.6 (memory storage) returns nothing to a fetch whose offset lies inside a
/// record batch rather than at a batch's first offset (Kafka returns the batch and the
/// client skips the records before the offset), so a consumer starting at a committed or
/// specific offset in the middle of a batch would wait forever. The tests that start
/// mid-topic therefore write one message per batch; against Kafka this is not needed.
fn produce_unbatched(servers: &str, topic: &str, messages: &[(Option<String>, Option<String>)]) {
    produce_with(servers, topic, messages, &[("batch.num.messages", "1")]);
}

fn produce_with(
    servers: &str,
    topic: &str,
    messages: &[(Option<String>, Option<String>)],
    properties: &[(&str, &str)],
) {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", servers);
    for (name, value) in properties {
        config.set(*name, *value);
    }
    let producer: BaseProducer = config.create().unwrap();
    for (key, value) in messages {
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(topic);
        if let Some(key) = key {
            record = record.key(key.as_str());
        }
        if let Some(value) = value {
            record = record.payload(value.as_str());
        }
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

/// Polls `reader` until it has handed out `count` messages, or 30 s pass.
fn read(reader: &mut dyn SourceReader, count: usize) -> Vec<Message> {
    let mut messages = Vec::new();
    let start = Instant::now();
    while messages.len() < count && start.elapsed() < Duration::from_secs(30) {
        reader
            .poll(
                count - messages.len(),
                Duration::from_millis(100),
                &mut messages,
            )
            .unwrap();
    }
    messages
}

/// Polls until nothing arrives for `quiet`.
fn read_until_quiet(reader: &mut dyn SourceReader, quiet: Duration) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < quiet {
        if reader
            .poll(1000, Duration::from_millis(100), &mut messages)
            .unwrap()
            == Poll::Ready
        {
            last = Instant::now();
        }
    }
    messages
}

/// Every message of `topic`, per partition in offset order, as `(key, value)` text.
fn consume_all(
    servers: &str,
    topic: &str,
    partitions: i32,
    count: usize,
) -> Vec<Vec<(Option<String>, Option<String>)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "laaster-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut by_partition = vec![Vec::new(); partitions as usize];
    let mut got = 0;
    let start = Instant::now();
    while got < count && start.elapsed() < Duration::from_secs(30) {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let text = |bytes: Option<&[u8]>| bytes.map(|b| String::from_utf8(b.to_vec()).unwrap());
            by_partition[message.partition() as usize]
                .push((text(message.key()), text(message.payload())));
            got += 1;
        }
    }
    // Nothing beyond `count`.
    assert!(
        consumer.poll(Duration::from_millis(500)).is_none(),
        "more than {count} messages in '{topic}'"
    );
    by_partition
}

fn partition_of(message: &Message) -> i32 {
    message
        .position
        .partition
        .rsplit_once('-')
        .unwrap()
        .1
        .parse()
        .unwrap()
}

#[test]
fn two_splits_read_every_message_exactly_once() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "votes", 4).unwrap();
    let messages: Vec<_> = (0..1000)
        .map(|i| (Some(format!("user-{i}")), Some(vote(i))))
        .collect();
    produce(servers, "votes", &messages);
    let def = external_source(
        "kafka",
        &options(&[
            ("topic", "votes"),
            ("properties.bootstrap.servers", servers),
            ("scan.startup.mode", "earliest-offset"),
            ("format", "json"),
        ]),
        &votes(),
    )
    .unwrap()
    .unwrap();
    let mut readers = [
        def.config.open(0, 2).unwrap(),
        def.config.open(1, 2).unwrap(),
    ];
    // Read both splits side by side until everything arrived (or nothing more comes).
    let mut read_by = [Vec::new(), Vec::new()];
    let start = Instant::now();
    while read_by[0].len() + read_by[1].len() < 1000 && start.elapsed() < Duration::from_secs(30) {
        for (split, reader) in readers.iter_mut().enumerate() {
            reader
                .poll(500, Duration::from_millis(50), &mut read_by[split])
                .unwrap();
        }
    }
    for (split, reader) in readers.iter_mut().enumerate() {
        read_by[split].extend(read_until_quiet(
            reader.as_mut(),
            Duration::from_millis(500),
        ));
    }
    let mut seen = BTreeMap::new();
    for (split, messages) in read_by.iter().enumerate() {
        assert!(!messages.is_empty(), "split {split} read nothing");
        let mut decoder = def.format.decoder(&votes());
        for message in messages {
            // Partitions 0 and 2 belong to split 0, 1 and 3 to split 1.
            assert_eq!(
                partition_of(message) as usize % 2,
                split,
                "{:?}",
                message.position
            );
            let mut rows = Vec::new();
            decoder.decode(&message.payload, &mut rows).unwrap();
            let Datum::Int64(user_id) = rows[0].0.first().unwrap().clone() else {
                panic!("{rows:?}")
            };
            assert_eq!(
                message.key.as_deref(),
                Some(format!("user-{user_id}").as_bytes())
            );
            *seen.entry(user_id).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 1000, "every message read");
    assert!(seen.values().all(|n| *n == 1), "no message read twice");
    // Messages of one key stay in order within their partition: offsets increase.
    for messages in &read_by {
        let mut last: BTreeMap<i32, i64> = BTreeMap::new();
        for message in messages {
            let offset: i64 = message.position.offset.parse().unwrap();
            let previous = last.insert(partition_of(message), offset);
            assert!(previous.is_none_or(|p| p < offset));
        }
    }
}

#[test]
fn a_reopened_source_resumes_after_the_committed_offsets() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "clicks", 2).unwrap();
    let messages: Vec<_> = (0..100).map(|i| (None, Some(vote(i)))).collect();
    produce_unbatched(servers, "clicks", &messages);
    let source = |mode: &str| {
        external_source(
            "kafka",
            &options(&[
                ("topic", "clicks"),
                ("properties.bootstrap.servers", servers),
                ("properties.group.id", "tally"),
                ("scan.startup.mode", mode),
                ("format", "json"),
            ]),
            &votes(),
        )
        .unwrap()
        .unwrap()
    };
    let group = source("group-offsets");
    let mut reader = group.config.open(0, 1).unwrap();
    let first = read(reader.as_mut(), 100);
    assert_eq!(first.len(), 100);
    // Only the first 60 handed out are processed; the other 40 are not committed.
    reader.commit(&first[59].position).unwrap();
    reader.close();
    drop(reader);
    let mut reader = group.config.open(0, 1).unwrap();
    let mut rest = read(reader.as_mut(), 40);
    rest.extend(read_until_quiet(
        reader.as_mut(),
        Duration::from_millis(500),
    ));
    let key = |m: &Message| m.position.clone();
    let mut expected: Vec<_> = first[60..].iter().map(key).collect();
    let mut got: Vec<_> = rest.iter().map(key).collect();
    expected.sort_by_key(|p| (p.partition.clone(), p.offset.parse::<i64>().unwrap()));
    got.sort_by_key(|p| (p.partition.clone(), p.offset.parse::<i64>().unwrap()));
    assert_eq!(
        got, expected,
        "exactly the uncommitted messages are read again"
    );
    // Everything committed now: a third reader of the group reads nothing ...
    reader.commit(&rest.last().unwrap().position).unwrap();
    reader.close();
    drop(reader);
    // (its first message is one produced after it opened) ...
    let mut reader = group.config.open(0, 1).unwrap();
    produce(servers, "clicks", &[(None, Some(vote(100)))]);
    let next = read(reader.as_mut(), 1);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].payload, vote(100).into_bytes());
    // ... and 'earliest-offset' reads from the start regardless of the group.
    let mut earliest = source("earliest-offset").config.open(0, 1).unwrap();
    let mut all = read(earliest.as_mut(), 101);
    all.extend(read_until_quiet(
        earliest.as_mut(),
        Duration::from_millis(500),
    ));
    assert_eq!(all.len(), 101);
}

#[test]
fn specific_and_latest_offsets_start_where_asked() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "events", 2).unwrap();
    // Explicit partitions: 10 messages each, one per batch (see `produce_unbatched`).
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("batch.num.messages", "1")
        .create()
        .unwrap();
    for i in 0..20 {
        let value = vote(i);
        producer
            .send(
                BaseRecord::<str, str>::to("events")
                    .payload(&value)
                    .partition((i % 2) as i32),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let source = |extra: &[(&str, &str)]| {
        let mut given = options(&[
            ("topic", "events"),
            ("properties.bootstrap.servers", servers),
            ("properties.group.id", "fresh"),
            ("format", "json"),
        ]);
        given.extend(options(extra));
        external_source("kafka", &given, &votes()).unwrap().unwrap()
    };
    let specific = source(&[
        ("scan.startup.mode", "specific-offsets"),
        (
            "scan.startup.specific-offsets",
            "partition:0,offset:7;partition:1,offset:9",
        ),
    ]);
    let mut reader = specific.config.open(0, 1).unwrap();
    let mut read_from = read(reader.as_mut(), 4);
    read_from.extend(read_until_quiet(
        reader.as_mut(),
        Duration::from_millis(500),
    ));
    let mut positions: Vec<String> = read_from.iter().map(|m| m.position.to_string()).collect();
    positions.sort();
    assert_eq!(
        positions,
        ["events-0@7", "events-0@8", "events-0@9", "events-1@9"]
    );
    let latest = source(&[("scan.startup.mode", "latest-offset")]);
    // The end is taken when the split opens: a message produced right after is read,
    // and it is the first.
    let mut reader = latest.config.open(0, 1).unwrap();
    produce(servers, "events", &[(None, Some(vote(99)))]);
    let new = read(reader.as_mut(), 1);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].payload, vote(99).into_bytes());
}

#[test]
fn bad_messages_fail_to_decode_and_are_counted_under_skip() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "dirty", 3).unwrap();
    let mut messages = Vec::new();
    let mut good = 0;
    for i in 0..300i64 {
        messages.push(match i % 10 {
            3 => (None, Some("{\"user_id\": oops".to_string())),
            5 => (None, Some(format!("{{\"user_id\": \"x{i}\"}}"))),
            7 => (Some(format!("deleted-{i}")), None), // a tombstone: no value
            _ => {
                good += 1;
                (None, Some(vote(i)))
            }
        });
    }
    produce(servers, "dirty", &messages);
    let def = external_source(
        "kafka",
        &options(&[
            ("topic", "dirty"),
            ("properties.bootstrap.servers", servers),
            ("scan.startup.mode", "earliest-offset"),
            ("format", "json"),
            ("on-error", "skip"),
        ]),
        &votes(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(def.on_error, laaster_connectors::api::OnError::Skip);
    let mut reader = def.config.open(0, 1).unwrap();
    let read = read(reader.as_mut(), 300);
    assert_eq!(read.len(), 300);
    let mut decoder = def.format.decoder(&votes());
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    for message in &read {
        let mut decoded = Vec::new();
        match decoder.decode(&message.payload, &mut decoded) {
            Ok(()) => rows.extend(decoded),
            Err(e) => errors.push((message.position.clone(), e.to_string())),
        }
    }
    assert_eq!(rows.len(), good);
    assert_eq!(errors.len(), 90, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|(_, e)| e.contains("user_id") && e.contains("BIGINT")),
        "a wrong type names the field: {errors:?}"
    );
    // Every bad message is named by its partition and offset, and can be skipped past:
    // committing through the last message commits the bad ones too.
    assert!(
        errors
            .iter()
            .all(|(p, _)| p.partition.starts_with("dirty-"))
    );
    reader.commit(&read.last().unwrap().position).unwrap();
}

fn tally() -> RelationDesc {
    RelationDesc::new(vec![
        Column {
            name: "contestant".into(),
            typ: ColumnType::nullable(ScalarType::Text),
        },
        Column {
            name: "n".into(),
            typ: ColumnType::nullable(ScalarType::Int64),
        },
    ])
}

fn tally_row(contestant: &str, n: i64) -> Row {
    Row::new(vec![Datum::text(contestant), Datum::Int64(n)])
}

fn json(contestant: &str, n: i64) -> Option<String> {
    Some(format!("{{\"contestant\":\"{contestant}\",\"n\":{n}}}"))
}

fn key(contestant: &str) -> Option<String> {
    Some(format!("{{\"contestant\":\"{contestant}\"}}"))
}

#[test]
fn append_sink_writes_keyed_rows_and_refuses_retractions() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "appended", 3).unwrap();
    let def = external_sink(
        "kafka",
        &options(&[
            ("topic", "appended"),
            ("properties.bootstrap.servers", servers),
            ("key.columns", "contestant"),
            ("format", "json"),
        ]),
        &tally(),
    )
    .unwrap()
    .unwrap();
    let mut writer = def.config.open(0, 1).unwrap();
    let mut updates = Vec::new();
    for n in 1..=30 {
        updates.push((tally_row(["A", "B", "C"][n as usize % 3], n), 1, 1));
    }
    updates.push((tally_row("A", 100), 1, 2)); // a multiplicity of 2: two messages
    writer.write(&updates).unwrap();
    // Once complete returns, the broker has every message.
    writer.complete(2).unwrap();
    let by_partition = consume_all(servers, "appended", 3, 32);
    let mut per_key: BTreeMap<String, (usize, Vec<Option<String>>)> = BTreeMap::new();
    for (partition, messages) in by_partition.iter().enumerate() {
        for (k, v) in messages {
            let entry = per_key
                .entry(k.clone().unwrap())
                .or_insert((partition, Vec::new()));
            assert_eq!(entry.0, partition, "one key, one partition");
            entry.1.push(v.clone());
        }
    }
    assert_eq!(per_key.len(), 3);
    for (i, contestant) in ["A", "B", "C"].iter().enumerate() {
        let mut expected: Vec<_> = (1..=30)
            .filter(|n| *n as usize % 3 == i)
            .map(|n| json(contestant, n))
            .collect();
        if *contestant == "A" {
            expected.extend([json("A", 100), json("A", 100)]);
        }
        assert_eq!(
            per_key[&key(contestant).unwrap()].1,
            expected,
            "in order per key"
        );
    }
    let err = writer.write(&[(tally_row("A", 1), 2, -1)]).unwrap_err();
    assert!(err.message.contains("append-only"), "{err:?}");
    assert!(err.hint.unwrap().contains("'sink.mode' = 'upsert'"));
}

#[test]
fn upsert_sink_writes_latest_rows_and_tombstones() {
    let broker = Broker::start();
    let servers = &broker.servers;
    create_topic(servers, "tally", 2).unwrap();
    let def = external_sink(
        "kafka",
        &options(&[
            ("topic", "tally"),
            ("properties.bootstrap.servers", servers),
            ("key.columns", "contestant"),
            ("key.format", "raw"),
            ("sink.mode", "upsert"),
            ("format", "json"),
        ]),
        &tally(),
    )
    .unwrap()
    .unwrap();
    let mut writer = def.config.open(0, 1).unwrap();
    // t=1: A=1, B=1. t=2: A goes 1 -> 2 (given insert first, as a batch may order
    // them), B is deleted, C=5 appears. t=3: nothing changes.
    writer
        .write(&[(tally_row("A", 1), 1, 1), (tally_row("B", 1), 1, 1)])
        .unwrap();
    writer.complete(2).unwrap();
    writer
        .write(&[
            (tally_row("A", 2), 2, 1),
            (tally_row("A", 1), 2, -1),
            (tally_row("B", 1), 2, -1),
            (tally_row("C", 5), 2, 1),
        ])
        .unwrap();
    writer.complete(3).unwrap();
    writer.complete(4).unwrap();
    let mut per_key: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for messages in consume_all(servers, "tally", 2, 5) {
        for (k, v) in messages {
            per_key.entry(k.unwrap()).or_default().push(v);
        }
    }
    assert_eq!(
        per_key,
        BTreeMap::from([
            ("A".to_string(), vec![json("A", 1), json("A", 2)]),
            ("B".to_string(), vec![json("B", 1), None]),
            ("C".to_string(), vec![json("C", 5)]),
        ])
    );
}

#[test]
fn options_are_checked_at_create_and_open() {
    let err = external_source("kafka", &options(&[("format", "json")]), &votes()).unwrap_err();
    assert_eq!(err.message, "connector 'kafka' needs option 'topic'");
    let base = [
        ("topic", "t"),
        ("properties.bootstrap.servers", "127.0.0.1:1"),
        ("format", "json"),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut given = options(&base);
        given.extend(options(extra));
        given
    };
    let err = external_source(
        "kafka",
        &with(&[("properties.no.such.property", "1")]),
        &votes(),
    )
    .unwrap_err();
    assert!(err.message.contains("no.such.property"), "{err:?}");
    let err = external_source(
        "kafka",
        &with(&[("properties.enable.auto.commit", "true")]),
        &votes(),
    )
    .unwrap_err();
    assert!(
        err.message.contains("set by the Kafka connector"),
        "{err:?}"
    );
    let err = external_source(
        "kafka",
        &with(&[("scan.startup.mode", "specific-offsets")]),
        &votes(),
    )
    .unwrap_err();
    assert!(
        err.message
            .contains("needs 'scan.startup.specific-offsets'"),
        "{err:?}"
    );
    let err = external_source(
        "kafka",
        &with(&[
            ("scan.startup.mode", "specific-offsets"),
            ("scan.startup.specific-offsets", "partition:0,offset:x"),
        ]),
        &votes(),
    )
    .unwrap_err();
    assert!(err.message.contains("'partition:0,offset:x'"), "{err:?}");
    let err =
        external_source("kafka", &with(&[("scan.startup.mode", "newest")]), &votes()).unwrap_err();
    assert!(err.message.contains("'newest'"), "{err:?}");
    let err = external_source("kafka", &with(&[("key.fields", "user_id")]), &votes()).unwrap_err();
    assert!(
        err.message.contains("unknown option 'key.fields'"),
        "{err:?}"
    );
    // librdkafka's own properties pass through.
    assert!(
        external_source(
            "kafka",
            &with(&[("properties.fetch.min.bytes", "1")]),
            &votes()
        )
        .is_ok()
    );
    let err = external_sink("kafka", &with(&[("sink.mode", "upsert")]), &tally()).unwrap_err();
    assert!(err.message.contains("needs 'key.columns'"), "{err:?}");
    let err = external_sink("kafka", &with(&[("key.columns", "who")]), &tally()).unwrap_err();
    assert!(err.message.contains("'who'"), "{err:?}");
    let err = external_sink(
        "kafka",
        &with(&[("sink.delivery-guarantee", "exactly-once")]),
        &tally(),
    )
    .unwrap_err();
    assert!(err.hint.contains("not supported"), "{err:?}");
}

#[test]
fn a_missing_topic_is_reported_when_a_split_opens() {
    let broker = Broker::start();
    let def = external_source(
        "kafka",
        &options(&[
            ("topic", "nowhere"),
            ("properties.bootstrap.servers", &broker.servers),
            ("format", "json"),
        ]),
        &votes(),
    )
    .unwrap()
    .unwrap();
    let err = def.config.open(0, 1).err().expect("no such topic");
    assert!(err.message.contains("'nowhere'"), "{err:?}");
}
