//! The Redis connectors against the local Redis (127.0.0.1:6379): a Streams source
//! through a consumer group with good and corrupt messages mixed, acknowledgement after
//! processing and redelivery of unacknowledged entries, and the hash upsert sink.

use std::time::Duration;

use laaster_connectors::api::{Poll, SinkWriter, SourceReader};
use laaster_connectors::format::Format;
use laaster_connectors::redis::{StreamReader, StreamSourceOptions, UpsertWriter, read_hash};
use laaster_repr::{Column, ColumnType, Datum, RelationDesc, Row, ScalarType};

const URL: &str = "redis://127.0.0.1:6379";

fn unique(name: &str) -> String {
    format!(
        "laaster-test-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
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

fn options(stream: &str) -> StreamSourceOptions {
    StreamSourceOptions {
        url: URL.into(),
        stream: stream.into(),
        group: "laaster".into(),
        consumer: "laaster".into(),
        field: "data".into(),
        from_earliest: true,
    }
}

#[test]
fn stream_source_decodes_acks_and_redelivers() {
    let stream = unique("votes");
    let mut connection = redis::Client::open(URL).unwrap().get_connection().unwrap();
    // 3,000 messages: every 7th is corrupt in one of several ways.
    let mut expected_good = Vec::new();
    let mut expected_bad = 0;
    let mut pipe = redis::pipe();
    for i in 0..3000i64 {
        let payload = match i % 7 {
            0 => "{\"user_id\": ".to_string(),
            3 if i % 2 == 0 => format!("{{\"user_id\": \"x{i}\", \"contestant\": \"A\"}}"),
            _ => {
                let contestant = ["A", "B", "C"][(i % 3) as usize];
                expected_good.push((i, contestant.to_string()));
                format!("{{\"user_id\": {i}, \"contestant\": \"{contestant}\"}}")
            }
        };
        if expected_good.last().is_none_or(|(id, _)| *id != i) {
            expected_bad += 1;
        }
        pipe.cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("data")
            .arg(payload)
            .ignore();
    }
    pipe.query::<()>(&mut connection).unwrap();

    let format =
        Format::from_options("format", &[("format".into(), "json".into())], &votes()).unwrap();
    let mut decoder = format.decoder(&votes());
    let mut reader = StreamReader::open(&options(&stream), 0).unwrap();
    let mut good = Vec::new();
    let mut bad = 0;
    let mut messages = Vec::new();
    // Read half without acknowledging, then "crash" (drop the reader).
    reader
        .poll(1500, Duration::from_millis(100), &mut messages)
        .unwrap();
    assert_eq!(messages.len(), 1500);
    drop(reader);

    // A new reader for the same split gets the unacknowledged entries again first.
    let mut reader = StreamReader::open(&options(&stream), 0).unwrap();
    let mut seen = 0;
    loop {
        messages.clear();
        match reader
            .poll(500, Duration::from_millis(100), &mut messages)
            .unwrap()
        {
            Poll::Idle => break,
            Poll::Done => unreachable!("a stream is unbounded"),
            Poll::Ready => {}
        }
        for message in &messages {
            let mut rows = Vec::new();
            match decoder.decode(&message.payload, &mut rows) {
                Ok(()) => good.extend(rows.into_iter().map(|(row, _)| match (&row[0], &row[1]) {
                    (Datum::Int64(id), Datum::Text(c)) => (*id, c.to_string()),
                    other => panic!("unexpected row {other:?}"),
                })),
                Err(e) => {
                    assert!(!e.message.is_empty());
                    bad += 1;
                }
            }
        }
        seen += messages.len();
        reader.commit(&messages.last().unwrap().position).unwrap();
    }
    assert_eq!(seen, 3000);
    assert_eq!(good, expected_good);
    assert_eq!(bad, expected_bad);
    // Everything is acknowledged: nothing pending in the group.
    let pending: (i64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("laaster")
        .query(&mut connection)
        .unwrap();
    assert_eq!(pending.0, 0);
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query(&mut connection)
        .unwrap();
}

#[test]
fn upsert_sink_keeps_one_field_per_row() {
    let hash = unique("tally");
    let format =
        Format::from_options("format", &[("format".into(), "json".into())], &votes()).unwrap();
    let tally = RelationDesc::new(vec![
        Column {
            name: "contestant".into(),
            typ: ColumnType::nullable(ScalarType::Text),
        },
        Column {
            name: "n".into(),
            typ: ColumnType::nullable(ScalarType::Int64),
        },
    ]);
    let mut writer = UpsertWriter::open(
        URL,
        Some(hash.clone()),
        String::new(),
        vec![0],
        format.encoder(&tally),
    )
    .unwrap();
    let row = |c: &str, n: i64| Row::new(vec![Datum::text(c), Datum::Int64(n)]);
    writer
        .write(&[(row("A", 1), 1, 1), (row("B", 1), 1, 1)])
        .unwrap();
    writer.complete(2).unwrap();
    assert_eq!(
        read_hash(URL, &hash).unwrap(),
        vec![
            ("A".into(), "{\"contestant\":\"A\",\"n\":1}".into()),
            ("B".into(), "{\"contestant\":\"B\",\"n\":1}".into())
        ]
    );
    // A's count changes (retraction and insertion at one time, given in either order),
    // B's row is retracted, then at a later time within the same batch A is retracted too
    // and C appears.
    writer
        .write(&[
            (row("A", 2), 2, 1),
            (row("A", 1), 2, -1),
            (row("B", 1), 2, -1),
        ])
        .unwrap();
    writer.write(&[(row("C", 5), 3, 1)]).unwrap();
    writer.complete(4).unwrap();
    assert_eq!(
        read_hash(URL, &hash).unwrap(),
        vec![
            ("A".into(), "{\"contestant\":\"A\",\"n\":2}".into()),
            ("C".into(), "{\"contestant\":\"C\",\"n\":5}".into())
        ]
    );
    writer.write(&[(row("A", 2), 5, -1)]).unwrap();
    writer.complete(6).unwrap();
    assert_eq!(
        read_hash(URL, &hash).unwrap(),
        vec![("C".into(), "{\"contestant\":\"C\",\"n\":5}".into())]
    );
    let mut connection = redis::Client::open(URL).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("DEL").arg(&hash).query(&mut connection).unwrap();
}
