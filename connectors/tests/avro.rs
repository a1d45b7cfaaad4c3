//! The Avro format: rows encoded and decoded with an inline schema, messages written by
//! the apache-avro library (as another producer would) decoded, the Confluent wire
//! format with a fixed schema id, and corrupt messages and bad options reported.
//!
//! There is no schema registry on this machine: fetching a writer schema by id from a
//! registry is not exercised here beyond a refused connection.

use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::types::Value;
use laaster_connectors::format::avro::split_confluent;
use laaster_connectors::format::{Decoder, Encoder, Format, FormatError, OptionError};
use laaster_repr::{Column, ColumnType, Datum, RelationDesc, Row, ScalarType};
use rust_decimal::Decimal;

const SCHEMA: &str = r#"{
  "type": "record", "name": "bid", "namespace": "nexmark",
  "fields": [
    {"name": "auction", "type": "long"},
    {"name": "bidder", "type": "int"},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
    {"name": "channel", "type": ["null", "string"], "default": null},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "ratio", "type": "double"},
    {"name": "won", "type": "boolean"},
    {"name": "extra", "type": ["null", "bytes"], "default": null},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "place", "type": ["null", {"type": "record", "name": "place", "fields": [
        {"name": "city", "type": "string"}, {"name": "zip", "type": "int"}]}], "default": null},
    {"name": "kind", "type": {"type": "enum", "name": "kind", "symbols": ["open", "sealed"]}}
  ]
}"#;

fn column(name: &str, scalar: ScalarType) -> Column {
    Column {
        name: name.into(),
        typ: ColumnType::nullable(scalar),
    }
}

fn bids() -> RelationDesc {
    RelationDesc::new(vec![
        column("auction", ScalarType::Int64),
        column("bidder", ScalarType::Int32),
        column(
            "price",
            ScalarType::Decimal {
                precision: Some(12),
                scale: Some(2),
            },
        ),
        column("channel", ScalarType::Text),
        column("at", ScalarType::TimestampTz),
        column("day", ScalarType::Date),
        column("ratio", ScalarType::Float64),
        column("won", ScalarType::Bool),
        column("extra", ScalarType::Bytea),
        column("tags", ScalarType::Array(Box::new(ScalarType::Text))),
        column(
            "place",
            ScalarType::Record(vec![
                ("city".into(), ScalarType::Text),
                ("zip".into(), ScalarType::Int32),
            ]),
        ),
        column("kind", ScalarType::Text),
    ])
}

fn bid(i: i64) -> Row {
    Row::new(vec![
        Datum::Int64(1_000 + i),
        Datum::Int32(i as i32 * 7),
        // Negative prices too: two's complement decimals.
        Datum::Decimal(Decimal::new(i * 1_234 - 5_000, 2)),
        if i % 2 == 0 {
            Datum::Null
        } else {
            Datum::text(&format!("channel-{i}"))
        },
        Datum::TimestampTz(1_764_288_000_123_456 + i),
        Datum::Date(20_420 + i as i32),
        Datum::float64(i as f64 * 0.25),
        Datum::Bool(i % 3 == 0),
        if i % 4 == 0 {
            Datum::Null
        } else {
            Datum::Bytes(Arc::from(vec![0u8, 255, i as u8].as_slice()))
        },
        Datum::Array(vec![Datum::text("a"), Datum::text(&i.to_string())].into()),
        if i % 5 == 0 {
            Datum::Null
        } else {
            Datum::Record(vec![Datum::text("Ghent"), Datum::Int32(9_000 + i as i32)].into())
        },
        Datum::text(if i % 2 == 0 { "open" } else { "sealed" }),
    ])
}

fn avro_format(pairs: &[(&str, &str)], columns: &RelationDesc) -> Result<Format, OptionError> {
    let mut options = vec![("format".to_string(), "avro".to_string())];
    options.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Format::from_options("format", &options, columns)
}

fn decode(decoder: &mut dyn Decoder, payload: &[u8]) -> Result<Row, FormatError> {
    let mut out = Vec::new();
    decoder.decode(payload, &mut out)?;
    assert_eq!(out.len(), 1);
    let (row, diff) = out.pop().unwrap();
    assert_eq!(diff, 1);
    Ok(row)
}

fn encode(encoder: &mut dyn Encoder, row: &Row) -> Vec<u8> {
    let mut out = Vec::new();
    encoder.encode(row, 1, &mut out).unwrap();
    out
}

#[test]
fn rows_round_trip_through_avro_with_an_inline_schema() {
    let columns = bids();
    let format = avro_format(&[("avro.schema", SCHEMA)], &columns).unwrap();
    let mut encoder = format.encoder(&columns);
    let mut decoder = format.decoder(&columns);
    for i in 0..200 {
        let row = bid(i);
        let bytes = encode(encoder.as_mut(), &row);
        // Plain Avro: no framing, and the library reads it with the schema.
        assert_ne!(
            bytes.first(),
            Some(&0),
            "plain Avro starts with the zigzag long"
        );
        let value = apache_avro::from_avro_datum(
            &Schema::parse_str(SCHEMA).unwrap(),
            &mut &bytes[..],
            None,
        )
        .unwrap();
        let Value::Record(fields) = value else {
            panic!("not a record")
        };
        assert_eq!(fields[0], ("auction".to_string(), Value::Long(1_000 + i)));
        assert_eq!(decode(decoder.as_mut(), &bytes).unwrap(), row, "bid {i}");
    }
}

#[test]
fn a_record_written_by_the_avro_library_decodes_into_the_tables_columns() {
    // The table names columns in another case and order, lacks some fields, and has a
    // column the record lacks.
    let columns = RelationDesc::new(vec![
        column("KIND", ScalarType::Text),
        column("Auction", ScalarType::Int64),
        column("at", ScalarType::Timestamp),
        column("price", ScalarType::NUMERIC),
        column("not_in_record", ScalarType::Int32),
    ]);
    let schema = Schema::parse_str(SCHEMA).unwrap();
    let record = Value::Record(vec![
        ("auction".into(), Value::Long(42)),
        ("bidder".into(), Value::Int(7)),
        (
            "price".into(),
            Value::Decimal(apache_avro::Decimal::from(vec![0xff, 0x85])), // -123 → -1.23
        ),
        (
            "channel".into(),
            Value::Union(1, Box::new(Value::String("web".into()))),
        ),
        ("at".into(), Value::TimestampMicros(1_764_288_000_000_001)),
        ("day".into(), Value::Date(1)),
        ("ratio".into(), Value::Double(0.5)),
        ("won".into(), Value::Boolean(true)),
        ("extra".into(), Value::Union(0, Box::new(Value::Null))),
        ("tags".into(), Value::Array(vec![])),
        ("place".into(), Value::Union(0, Box::new(Value::Null))),
        ("kind".into(), Value::Enum(1, "sealed".into())),
    ]);
    let bytes = apache_avro::to_avro_datum(&schema, record).unwrap();
    let format = avro_format(&[("avro.schema", SCHEMA)], &columns).unwrap();
    let row = decode(format.decoder(&columns).as_mut(), &bytes).unwrap();
    assert_eq!(
        row,
        Row::new(vec![
            Datum::text("sealed"),
            Datum::Int64(42),
            Datum::Timestamp(1_764_288_000_000_001),
            Datum::Decimal(Decimal::new(-123, 2)),
            Datum::Null,
        ])
    );
}

#[test]
fn the_confluent_wire_format_carries_magic_byte_and_schema_id() {
    let columns = bids();
    let format = avro_format(
        &[
            ("avro.schema", SCHEMA),
            ("avro.confluent", "true"),
            ("avro.schema-id", "4097"),
        ],
        &columns,
    )
    .unwrap();
    let mut encoder = format.encoder(&columns);
    let mut decoder = format.decoder(&columns);
    let row = bid(3);
    let bytes = encode(encoder.as_mut(), &row);
    assert_eq!(&bytes[..5], &[0, 0, 0, 0x10, 0x01]);
    let (id, body) = split_confluent(&bytes).unwrap();
    assert_eq!(id, 4097);
    // The body is plain Avro of the schema.
    apache_avro::from_avro_datum(&Schema::parse_str(SCHEMA).unwrap(), &mut &body[..], None)
        .unwrap();
    assert_eq!(decode(decoder.as_mut(), &bytes).unwrap(), row);

    // Another schema id, without a registry to fetch it: refused, naming both ids.
    let mut other = bytes.clone();
    other[4] = 0x02;
    let error = decode(decoder.as_mut(), &other).unwrap_err().to_string();
    assert!(
        error.contains("4098") && error.contains("4097") && error.contains("schema-registry.url"),
        "{error}"
    );
    // Without 'avro.schema-id', any id is read with the inline schema.
    let any = format_without_id(&columns);
    assert_eq!(decode(any.decoder(&columns).as_mut(), &other).unwrap(), row);

    // Plain Avro given to a Confluent decoder: the magic byte is wrong.
    let plain = avro_format(&[("avro.schema", SCHEMA)], &columns).unwrap();
    let plain_bytes = encode(plain.encoder(&columns).as_mut(), &row);
    let error = decode(decoder.as_mut(), &plain_bytes)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("magic byte") && error.contains("'avro.confluent' = 'false'"),
        "{error}"
    );
    // Too short to hold the framing.
    let error = decode(decoder.as_mut(), &[0, 0, 1])
        .unwrap_err()
        .to_string();
    assert!(error.contains("3 byte(s) is too short"), "{error}");
}

fn format_without_id(columns: &RelationDesc) -> Format {
    avro_format(
        &[("avro.schema", SCHEMA), ("avro.confluent", "true")],
        columns,
    )
    .unwrap()
}

#[test]
fn corrupt_messages_are_format_errors_not_panics() {
    let columns = bids();
    let format = avro_format(&[("avro.schema", SCHEMA)], &columns).unwrap();
    let mut decoder = format.decoder(&columns);
    let good = encode(format.encoder(&columns).as_mut(), &bid(9));
    // Truncated at every length: each is an error (or, never, a wrong row).
    for cut in 0..good.len() {
        match decode(decoder.as_mut(), &good[..cut]) {
            Err(e) => assert!(!e.message.is_empty()),
            Ok(row) => panic!("a message cut at {cut} bytes decoded to {row:?}"),
        }
    }
    // Trailing garbage.
    let mut long = good.clone();
    long.extend_from_slice(b"xyz");
    let error = decode(decoder.as_mut(), &long).unwrap_err().to_string();
    assert!(
        error.contains("3 byte(s) left after the Avro record"),
        "{error}"
    );
    // Random bytes: an enum index or union branch out of range, a huge length, ...
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..2_000 {
        let mut bytes = Vec::new();
        for _ in 0..(seed % 40) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        seed = seed.wrapping_add(1);
        let _ = decode(decoder.as_mut(), &bytes);
    }
    // A cut message's error says what and gives a hint.
    let error = decode(decoder.as_mut(), &good[..4]).unwrap_err();
    assert!(error.message.contains("not an Avro record"), "{error}");
    assert!(error.hint.unwrap().contains("avro.schema"));
    // A row that does not fit the schema: NULL in a non-nullable field.
    let mut nulls = bid(1).into_datums();
    nulls[0] = Datum::Null;
    let error = format
        .encoder(&columns)
        .encode(&Row::new(nulls), 1, &mut Vec::new())
        .unwrap_err();
    assert_eq!(error.field.as_deref(), Some("auction"));
    assert!(error.message.contains("not nullable"), "{error}");
}

#[test]
fn avro_options_are_checked_at_create_time() {
    let columns = bids();
    let err = avro_format(&[], &columns).unwrap_err();
    assert!(
        err.message.contains("needs option 'avro.schema'"),
        "{err:?}"
    );
    let err = avro_format(&[("avro.schema", "{not json")], &columns).unwrap_err();
    assert!(err.message.contains("not a usable Avro schema"), "{err:?}");
    let err = avro_format(&[("avro.schema", r#""long""#)], &columns).unwrap_err();
    assert!(err.message.contains("must be a record"), "{err:?}");
    let err =
        avro_format(&[("avro.schema", SCHEMA), ("avro.shema-id", "1")], &columns).unwrap_err();
    assert!(err.hint.contains("'avro.schema-id'"), "{err:?}");
    let err = avro_format(
        &[("avro.schema", SCHEMA), ("avro.schema-id", "x")],
        &columns,
    )
    .unwrap_err();
    assert!(err.message.contains("schema id"), "{err:?}");
    let err = avro_format(
        &[("schema-registry.url", "https://registry:8081")],
        &columns,
    )
    .unwrap_err();
    assert!(err.message.contains("only http://"), "{err:?}");
    // A column that cannot hold its field's values, named with both types.
    let wrong = RelationDesc::new(vec![
        column("Auction", ScalarType::Text),
        column("at", ScalarType::Date),
    ]);
    let err = avro_format(&[("avro.schema", SCHEMA)], &wrong).unwrap_err();
    assert!(
        err.message.contains(
            "column \"Auction\" is text in the table, but Avro field \"auction\" is long"
        ),
        "{err:?}"
    );
    let wrong = RelationDesc::new(vec![column("channel", ScalarType::Bytea)]);
    let err = avro_format(&[("avro.schema", SCHEMA)], &wrong).unwrap_err();
    assert!(err.message.contains("[null, string]"), "{err:?}");
    // A registry alone is enough to decode (the schema comes from it) and implies the
    // Confluent framing.
    let Format::Avro(options) =
        avro_format(&[("schema-registry.url", "http://127.0.0.1:1")], &columns).unwrap()
    else {
        panic!("not avro")
    };
    assert!(options.confluent && options.schema.is_none());
    // The key/value prefixes work as for the other formats.
    let options = vec![
        ("value.format".to_string(), "avro".to_string()),
        ("value.avro.schema".to_string(), SCHEMA.to_string()),
    ];
    assert!(Format::from_options("value.format", &options, &columns).is_ok());
}

#[test]
fn an_unreachable_registry_is_a_clear_error_naming_the_url() {
    // Nothing listens on port 1 of loopback: the fetch fails; the message says where.
    let columns = bids();
    let format = avro_format(&[("schema-registry.url", "http://127.0.0.1:1")], &columns).unwrap();
    let mut decoder = format.decoder(&columns);
    let error = decode(decoder.as_mut(), &[0, 0, 0, 0, 5, 2])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot fetch schema 5") && error.contains("http://127.0.0.1:1"),
        "{error}"
    );
}

#[test]
fn confluent_avro_messages_cross_a_real_redis_stream_intact() {
    use laaster_connectors::api::{Poll, SinkWriter, SourceReader};
    use laaster_connectors::redis::{StreamReader, StreamSourceOptions, StreamWriter};
    use std::time::Duration;

    let stream = format!(
        "laaster-avro-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let url = "redis://127.0.0.1:6379";
    let columns = bids();
    let format = avro_format(
        &[
            ("avro.schema", SCHEMA),
            ("avro.confluent", "true"),
            ("avro.schema-id", "21"),
        ],
        &columns,
    )
    .unwrap();
    let mut writer = StreamWriter::open(url, &stream, "data", format.encoder(&columns)).unwrap();
    let updates: Vec<_> = (0..500).map(|i| (bid(i), 1, 1)).collect();
    writer.write(&updates).unwrap();
    writer.complete(2).unwrap();

    let options = StreamSourceOptions {
        url: url.into(),
        stream: stream.clone(),
        group: "laaster".into(),
        consumer: "avro-test".into(),
        field: "data".into(),
        from_earliest: true,
    };
    let mut reader = StreamReader::open(&options, 0).unwrap();
    let mut decoder = format.decoder(&columns);
    let mut rows = Vec::new();
    loop {
        let mut messages = Vec::new();
        match reader
            .poll(200, Duration::from_millis(100), &mut messages)
            .unwrap()
        {
            Poll::Ready => {}
            Poll::Idle | Poll::Done => break,
        }
        for message in &messages {
            assert_eq!(&message.payload[..5], &[0, 0, 0, 0, 21]);
            rows.push(decode(decoder.as_mut(), &message.payload).unwrap());
        }
        reader.commit(&messages.last().unwrap().position).unwrap();
    }
    assert_eq!(rows, (0..500).map(bid).collect::<Vec<_>>());
    let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query(&mut connection)
        .unwrap();
}
