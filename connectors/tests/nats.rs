//! The NATS JetStream connectors against the local nats-server (127.0.0.1:4222, -js):
//! a durable consumer source with good and corrupt messages mixed, acknowledged after
//! processing, and the publish sink read back.

use std::time::Duration;

use laaster_connectors::api::{Poll, SinkWriter, SourceReader};
use laaster_connectors::format::Format;
use laaster_connectors::nats::{NatsOptions, NatsReader, NatsWriter};
use laaster_repr::{Column, ColumnType, Datum, RelationDesc, Row, ScalarType};

fn unique(name: &str) -> String {
    format!(
        "LAASTER_{name}_{}_{}",
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

fn options(stream: &str, consumer: &str) -> NatsOptions {
    NatsOptions {
        url: "nats://127.0.0.1:4222".into(),
        stream: stream.into(),
        subject: format!("{}.>", stream.to_lowercase()),
        consumer: consumer.into(),
        from_earliest: true,
    }
}

/// Reads everything the consumer has, decoding and acknowledging batch by batch.
fn drain(reader: &mut NatsReader) -> (Vec<(i64, String)>, usize) {
    let format =
        Format::from_options("format", &[("format".into(), "json".into())], &votes()).unwrap();
    let mut decoder = format.decoder(&votes());
    let (mut good, mut bad) = (Vec::new(), 0);
    let mut idle = 0;
    while idle < 3 {
        let mut messages = Vec::new();
        match reader
            .poll(500, Duration::from_millis(200), &mut messages)
            .unwrap()
        {
            Poll::Idle => {
                idle += 1;
                continue;
            }
            Poll::Done => unreachable!(),
            Poll::Ready => idle = 0,
        }
        for message in &messages {
            let mut rows = Vec::new();
            match decoder.decode(&message.payload, &mut rows) {
                Ok(()) => good.extend(rows.into_iter().map(|(row, _)| match (&row[0], &row[1]) {
                    (Datum::Int64(id), Datum::Text(c)) => (*id, c.to_string()),
                    other => panic!("unexpected row {other:?}"),
                })),
                Err(_) => bad += 1,
            }
        }
        reader.commit(&messages.last().unwrap().position).unwrap();
    }
    (good, bad)
}

#[test]
fn jetstream_source_and_sink_round_trip() {
    let stream = unique("VOTES");
    let votes_desc = votes();
    let format =
        Format::from_options("format", &[("format".into(), "json".into())], &votes_desc).unwrap();
    // The sink publishes 2,000 rows; then raw corrupt messages are published beside them.
    // The reader creates the stream (subjects `<stream>.>`) and its durable consumer.
    let mut reader = NatsReader::open(&options(&stream, "laaster")).unwrap();
    let sink_options = NatsOptions {
        subject: format!("{}.good", stream.to_lowercase()),
        ..options(&stream, "unused")
    };
    let mut writer = NatsWriter::open(&sink_options, format.encoder(&votes_desc)).unwrap();
    let rows: Vec<(Row, u64, i64)> = (0..2000i64)
        .map(|i| {
            let contestant = ["A", "B", "C"][(i % 3) as usize];
            (
                Row::new(vec![Datum::Int64(i), Datum::text(contestant)]),
                1,
                1,
            )
        })
        .collect();
    writer.write(&rows).unwrap();
    writer.complete(2).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let js = async_nats::jetstream::new(client);
        for i in 0..300 {
            let payload = if i % 2 == 0 {
                "{\"user_id\": ".to_string()
            } else {
                format!("{{\"user_id\": \"u{i}\"}}")
            };
            js.publish(format!("{}.bad", stream.to_lowercase()), payload.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });

    let (mut good, bad) = drain(&mut reader);
    good.sort();
    let expected: Vec<(i64, String)> = (0..2000i64)
        .map(|i| (i, ["A", "B", "C"][(i % 3) as usize].to_string()))
        .collect();
    assert_eq!(good, expected);
    assert_eq!(bad, 300);
    drop(reader);
    // Everything was acknowledged: a reader on the same durable consumer gets nothing.
    let mut reader = NatsReader::open(&options(&stream, "laaster")).unwrap();
    let (again, bad_again) = drain(&mut reader);
    assert!(
        again.is_empty() && bad_again == 0,
        "redelivered {} messages",
        again.len() + bad_again
    );
    runtime.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await
            .unwrap();
    });
}
