//! Parquet files on disk: files written with the Arrow writer (as another tool would)
//! read back through the filesystem source split across readers, type mismatches and
//! unreadable files reported, and the Parquet sink's rolling files read back with the
//! Parquet reader.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, TimestampNanosecondArray,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use laaster_connectors::api::{Message, Poll, SinkWriter, SourceReader};
use laaster_connectors::file::FileSourceOptions;
use laaster_connectors::format::parquet::{ParquetReader, ParquetWriter};
use laaster_connectors::format::{Format, FormatError};
use laaster_connectors::registry::{external_sink, external_source};
use laaster_repr::{Column, ColumnType, Datum, RelationDesc, Row, ScalarType};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;
use rust_decimal::Decimal;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "laaster-parquet-test-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn column(name: &str, scalar: ScalarType) -> Column {
    Column {
        name: name.into(),
        typ: ColumnType::nullable(scalar),
    }
}

/// The table the trips files are read into: columns in another order and case than the
/// file's, one column the files lack (`missing`), and no column for the file's `extra`.
fn trips_table() -> RelationDesc {
    RelationDesc::new(vec![
        column("id", ScalarType::Int64),
        column("name", ScalarType::Text),
        column(
            "fare",
            ScalarType::Decimal {
                precision: Some(10),
                scale: Some(2),
            },
        ),
        column("started", ScalarType::Timestamp),
        column("ended", ScalarType::TimestampTz),
        column("paid", ScalarType::Bool),
        column("day", ScalarType::Date),
        column("tags", ScalarType::Array(Box::new(ScalarType::Text))),
        column("seats", ScalarType::Int32),
        column("missing", ScalarType::Int32),
    ])
}

const BASE_MILLIS: i64 = 1_764_288_000_000; // 2025-11-28 00:00:00 UTC

/// Writes rows `first..first + count` of the trips data as a Parquet file with small
/// row groups, the way another Arrow-based tool would.
fn write_trips(path: &Path, first: i64, count: i64) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ID", DataType::Int64, false),
        Field::new("Name", DataType::Utf8, true),
        Field::new("fare", DataType::Decimal128(10, 2), true),
        Field::new(
            "started",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new(
            "ended",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into())),
            true,
        ),
        Field::new("paid", DataType::Boolean, true),
        Field::new("day", DataType::Date32, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new("extra", DataType::Float64, true),
        Field::new("seats", DataType::Int32, true),
    ]));
    let ids: Vec<i64> = (first..first + count).collect();
    let mut tags = ListBuilder::new(StringBuilder::new());
    for id in &ids {
        if id % 7 == 0 {
            tags.append_null();
        } else {
            tags.values().append_value(format!("t{}", id % 3));
            tags.values().append_null();
            tags.append(true);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(StringArray::from(
            ids.iter()
                .map(|id| (id % 5 != 0).then(|| format!("rider {id}")))
                .collect::<Vec<_>>(),
        )),
        Arc::new(
            Decimal128Array::from(
                ids.iter()
                    .map(|id| (id % 11 != 0).then_some(i128::from(*id) * 101))
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(10, 2)
            .unwrap(),
        ),
        Arc::new(TimestampMillisecondArray::from(
            ids.iter()
                .map(|id| Some(BASE_MILLIS + id * 1_000))
                .collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampNanosecondArray::from(
                ids.iter()
                    .map(|id| {
                        (id % 13 != 0).then_some((BASE_MILLIS + id * 1_000) * 1_000_000 + 1_999)
                    })
                    .collect::<Vec<_>>(),
            )
            .with_timezone("+00:00"),
        ),
        Arc::new(BooleanArray::from(
            ids.iter().map(|id| Some(id % 2 == 0)).collect::<Vec<_>>(),
        )),
        Arc::new(Date32Array::from(
            ids.iter()
                .map(|id| Some(20_420 + (*id as i32 % 30)))
                .collect::<Vec<_>>(),
        )),
        Arc::new(tags.finish()),
        Arc::new(Float64Array::from(
            ids.iter().map(|id| Some(*id as f64)).collect::<Vec<_>>(),
        )),
        Arc::new(Int32Array::from(
            ids.iter()
                .map(|id| Some((id % 4) as i32))
                .collect::<Vec<_>>(),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let properties = WriterProperties::builder()
        .set_max_row_group_size(300)
        .build();
    let mut writer =
        ArrowWriter::try_new(File::create(path).unwrap(), schema, Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The row the source must produce for trip `id`.
fn expected_trip(id: i64) -> Row {
    let micros = (BASE_MILLIS + id * 1_000) * 1_000;
    Row::new(vec![
        Datum::Int64(id),
        if id % 5 == 0 {
            Datum::Null
        } else {
            Datum::text(&format!("rider {id}"))
        },
        if id % 11 == 0 {
            Datum::Null
        } else {
            Datum::Decimal(Decimal::new(id * 101, 2))
        },
        Datum::Timestamp(micros),
        if id % 13 == 0 {
            Datum::Null
        } else {
            // 1,999 ns past the second: 1 µs after truncation.
            Datum::TimestampTz(micros + 1)
        },
        Datum::Bool(id % 2 == 0),
        Datum::Date(20_420 + (id as i32 % 30)),
        if id % 7 == 0 {
            Datum::Null
        } else {
            Datum::Array(vec![Datum::text(&format!("t{}", id % 3)), Datum::Null].into())
        },
        Datum::Int32((id % 4) as i32),
        Datum::Null,
    ])
}

/// Reads split `split` of `splits` to the end: every message, decoded.
fn read_split(
    path: &str,
    columns: &RelationDesc,
    split: usize,
    splits: usize,
) -> Vec<(Message, Result<Row, FormatError>)> {
    let format =
        Format::from_options("format", &[("format".into(), "parquet".into())], columns).unwrap();
    let options = FileSourceOptions {
        path: path.into(),
        monitor_interval: None,
    };
    let mut reader = ParquetReader::open(&options, columns, split, splits)
        .unwrap()
        .with_batch_rows(100);
    let mut decoder = format.decoder(columns);
    let mut out = Vec::new();
    loop {
        let mut messages = Vec::new();
        match reader.poll(250, Duration::ZERO, &mut messages).unwrap() {
            Poll::Done => break,
            Poll::Idle => panic!("a bounded source went idle"),
            Poll::Ready => assert!(!messages.is_empty() && messages.len() <= 250),
        }
        for message in messages {
            let mut rows = Vec::new();
            let decoded = decoder.decode(&message.payload, &mut rows).map(|()| {
                assert_eq!(rows.len(), 1);
                let (row, diff) = rows.pop().unwrap();
                assert_eq!(diff, 1);
                row
            });
            out.push((message, decoded));
        }
    }
    out
}

#[test]
fn three_parquet_files_over_two_splits_give_every_row_exactly_once_with_its_values() {
    let dir = temp_dir("trips");
    let sizes = [(0, 1_000), (1_000, 2_500), (3_500, 7)];
    for (i, (first, count)) in sizes.iter().enumerate() {
        write_trips(&dir.join(format!("trips-{i}.parquet")), *first, *count);
    }
    // A hidden in-progress file is not read.
    write_trips(&dir.join(".trips-3.parquet.inprogress"), 9_000, 10);
    let columns = trips_table();
    let mut seen = BTreeMap::new();
    let mut positions = BTreeSet::new();
    for split in 0..2 {
        let mut files = BTreeSet::new();
        for (message, decoded) in read_split(dir.to_str().unwrap(), &columns, split, 2) {
            let row = decoded.unwrap_or_else(|e| panic!("{}: {e}", message.position));
            let Datum::Int64(id) = row[0] else {
                panic!("no id in {row:?}")
            };
            // Positions are file@row, 1-based, and name the row's file.
            let file_index = sizes.iter().position(|(f, c)| (*f..f + c).contains(&id));
            let (first, _) = sizes[file_index.unwrap()];
            assert_eq!(
                message.position.partition,
                dir.join(format!("trips-{}.parquet", file_index.unwrap()))
                    .display()
                    .to_string()
            );
            assert_eq!(message.position.offset, (id - first + 1).to_string());
            assert!(positions.insert(message.position.to_string()));
            files.insert(file_index.unwrap());
            assert!(seen.insert(id, row).is_none(), "trip {id} read twice");
        }
        // Whole files per split: file i goes to split i mod 2.
        let expected: BTreeSet<usize> = (0..3).filter(|i| i % 2 == split).collect();
        assert_eq!(files, expected, "split {split}");
    }
    assert_eq!(seen.len(), 3_507);
    for (id, row) in &seen {
        assert_eq!(row, &expected_trip(*id), "trip {id}");
    }
    // Spot checks of the conversions, independent of `expected_trip`.
    assert_eq!(seen[&5][1], Datum::Null);
    assert_eq!(seen[&12][2], Datum::Decimal(Decimal::new(1212, 2)));
    assert_eq!(seen[&0][3], Datum::Timestamp(1_764_288_000_000_000));
    assert_eq!(seen[&1][4], Datum::TimestampTz(1_764_288_001_000_001));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_column_of_another_type_refuses_the_file_naming_file_column_and_both_types() {
    let dir = temp_dir("mismatch");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(StringArray::from(vec!["x", "y"])),
        ],
    )
    .unwrap();
    let path = dir.join("bad.parquet");
    let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    // Not Parquet at all.
    std::fs::write(dir.join("notes.parquet"), b"id,name\n1,x\n").unwrap();
    let columns = RelationDesc::new(vec![
        column("id", ScalarType::Int64),
        column("name", ScalarType::Text),
    ]);
    let read = read_split(dir.to_str().unwrap(), &columns, 0, 1);
    assert_eq!(read.len(), 2, "one error per refused file: {read:?}");
    let (message, decoded) = &read[0];
    assert_eq!(message.position.offset, "0");
    let error = decoded.as_ref().unwrap_err().to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(error.contains("column \"id\""), "{error}");
    assert!(
        error.contains("Utf8") && error.contains("bigint"),
        "{error}"
    );
    assert!(error.contains("hint"), "{error}");
    let error = read[1].1.as_ref().unwrap_err().to_string();
    assert!(
        error.contains("notes.parquet") && error.contains("not a readable Parquet file"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_value_out_of_range_is_an_error_for_its_row_only() {
    let dir = temp_dir("range");
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::UInt64, true)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(UInt64Array::from(vec![
            Some(1),
            Some(u64::MAX),
            None,
            Some(3),
        ]))],
    )
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(File::create(dir.join("n.parquet")).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let columns = RelationDesc::new(vec![column("n", ScalarType::Int64)]);
    let read = read_split(dir.to_str().unwrap(), &columns, 0, 1);
    let results: Vec<_> = read
        .iter()
        .map(|(m, d)| (m.position.offset.clone(), d.clone()))
        .collect();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0].1, Ok(Row::new(vec![Datum::Int64(1)])));
    let error = results[1].1.as_ref().unwrap_err().to_string();
    assert!(
        error.contains("row 2")
            && error.contains("18446744073709551615")
            && error.contains("out of range"),
        "{error}"
    );
    assert_eq!(results[2].1, Ok(Row::new(vec![Datum::Null])));
    assert_eq!(results[3].1, Ok(Row::new(vec![Datum::Int64(3)])));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn sink_table() -> RelationDesc {
    RelationDesc::new(vec![
        column("id", ScalarType::Int64),
        column("label", ScalarType::Text),
        column(
            "amount",
            ScalarType::Decimal {
                precision: Some(12),
                scale: Some(3),
            },
        ),
        column("at", ScalarType::TimestampTz),
        column("ratio", ScalarType::Float64),
        column("raw", ScalarType::Bytea),
        column("total", ScalarType::NUMERIC),
        column("scores", ScalarType::Array(Box::new(ScalarType::Int32))),
        column(
            "place",
            ScalarType::Record(vec![
                ("city".into(), ScalarType::Text),
                ("zip".into(), ScalarType::Int32),
            ]),
        ),
    ])
}

fn sink_row(id: i64) -> Row {
    Row::new(vec![
        Datum::Int64(id),
        if id % 3 == 0 {
            Datum::Null
        } else {
            Datum::text(&format!("label-{id}"))
        },
        Datum::Decimal(Decimal::new(id * 1_001, 3)),
        Datum::TimestampTz(1_764_288_000_000_000 + id),
        Datum::float64(id as f64 / 8.0),
        Datum::Bytes(Arc::from(id.to_le_bytes().as_slice())),
        Datum::Decimal(Decimal::new(id, 4)),
        if id % 4 == 0 {
            Datum::Null
        } else {
            Datum::Array(vec![Datum::Int32(id as i32), Datum::Null].into())
        },
        Datum::Record(vec![Datum::text("Ghent"), Datum::Int32(9000 + (id % 10) as i32)].into()),
    ])
}

/// Every row of the finished Parquet files in `dir`, read with the Parquet reader.
fn finished_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("part-") && name.ends_with(".parquet")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_parquet_sink_writes_rolling_files_the_parquet_reader_reads_back() {
    let dir = temp_dir("sink");
    let columns = sink_table();
    let path = dir.join("out");
    {
        // 16 KB files: the 5,000 rows of the first timestamp roll several times.
        let mut writer =
            ParquetWriter::open(path.to_str().unwrap(), 3, 16 << 10, &columns).unwrap();
        let updates: Vec<_> = (0..5_000).map(|id| (sink_row(id), 1, 1)).collect();
        writer.write(&updates).unwrap();
        let rolled_by_size = finished_files(&path).len();
        assert!(
            rolled_by_size >= 2,
            "{rolled_by_size} files before complete"
        );
        writer.complete(2).unwrap();
        // A completed timestamp is in finished files; nothing in progress remains.
        let after_complete = finished_files(&path);
        assert_eq!(after_complete.len(), rolled_by_size + 1);
        assert!(std::fs::read_dir(&path).unwrap().all(|e| {
            !e.unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".inprogress")
        }));
        // A retraction is not written (files are append-only); a row twice is written twice.
        writer
            .write(&[(sink_row(1), 2, -1), (sink_row(5_000), 2, 2)])
            .unwrap();
        assert_eq!(writer.dropped_retractions, 1);
        writer.complete(3).unwrap();
        assert_eq!(finished_files(&path).len(), after_complete.len() + 1);
        // A completion without rows writes no file.
        writer.complete(4).unwrap();
        assert_eq!(finished_files(&path).len(), after_complete.len() + 1);
    }
    // Read back with the plain Parquet reader: schema and values.
    let mut rows = Vec::new();
    for file in finished_files(&path) {
        assert!(
            file.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("part-3-")
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let schema = batch.schema();
            assert_eq!(
                schema.field_with_name("at").unwrap().data_type(),
                &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            );
            assert_eq!(
                schema.field_with_name("amount").unwrap().data_type(),
                &DataType::Decimal128(12, 3)
            );
            let ids = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let labels = batch
                .column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            let amounts = batch
                .column(2)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap();
            for i in 0..batch.num_rows() {
                let id = ids.value(i);
                assert_eq!(labels.is_null(i), id % 3 == 0);
                assert_eq!(amounts.value(i), i128::from(id) * 1_001);
                rows.push(id);
            }
        }
    }
    rows.sort_unstable();
    let mut expected: Vec<i64> = (0..5_000).collect();
    expected.extend([5_000, 5_000]);
    assert_eq!(rows, expected);
    // And through the Parquet source: every type comes back as written.
    let read = read_split(path.to_str().unwrap(), &columns, 0, 1);
    let mut back: Vec<Row> = read.into_iter().map(|(_, r)| r.unwrap()).collect();
    back.sort_by_key(|r| r[0].as_i64());
    let mut want: Vec<Row> = (0..5_000).map(sink_row).collect();
    want.push(sink_row(5_000));
    want.push(sink_row(5_000));
    assert_eq!(back.len(), want.len());
    for (got, want) in back.iter().zip(&want) {
        assert_eq!(got, want);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn parquet_is_a_filesystem_format_and_avro_is_not() {
    let columns = trips_table();
    let opts = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let err = external_source(
        "kafka",
        &opts(&[
            ("topic", "t"),
            ("properties.bootstrap.servers", "127.0.0.1:9"),
            ("format", "parquet"),
        ]),
        &columns,
    )
    .unwrap_err();
    assert!(err.message.contains("file format"), "{err:?}");
    let err = external_sink(
        "filesystem",
        &opts(&[
            ("path", "/tmp/x"),
            ("format", "avro"),
            (
                "avro.schema",
                r#"{"type":"record","name":"r","fields":[{"name":"id","type":"long"}]}"#,
            ),
        ]),
        &columns,
    )
    .unwrap_err();
    assert!(err.message.contains("Avro"), "{err:?}");
    let err = external_source(
        "filesystem",
        &opts(&[
            ("path", "/tmp/x"),
            ("format", "parquet"),
            ("parquet.batch", "9"),
        ]),
        &columns,
    )
    .unwrap_err();
    assert!(err.message.contains("parquet.batch"), "{err:?}");
    let err = external_sink(
        "filesystem",
        &opts(&[
            ("path", "/tmp/x"),
            ("format", "parquet"),
            ("sink.mode", "upsert"),
        ]),
        &columns,
    )
    .unwrap_err();
    assert!(err.message.contains("append-only"), "{err:?}");
    assert!(
        external_sink(
            "filesystem",
            &opts(&[
                ("path", "/tmp/x"),
                ("format", "parquet"),
                ("sink.mode", "append")
            ]),
            &columns
        )
        .unwrap()
        .is_some()
    );
    assert!(
        external_source(
            "filesystem",
            &opts(&[("path", "/tmp/x"), ("format", "parquet")]),
            &columns
        )
        .unwrap()
        .is_some()
    );
}

#[test]
fn a_tailing_source_reads_parquet_files_that_appear_later() {
    let dir = temp_dir("tail");
    write_trips(&dir.join("trips-0.parquet"), 0, 10);
    let columns = trips_table();
    let options = FileSourceOptions {
        path: format!("{}/*.parquet", dir.display()),
        monitor_interval: Some(Duration::from_millis(10)),
    };
    let mut reader = ParquetReader::open(&options, &columns, 0, 1).unwrap();
    let format =
        Format::from_options("format", &[("format".into(), "parquet".into())], &columns).unwrap();
    let mut decoder = format.decoder(&columns);
    let mut ids = Vec::new();
    let mut poll = |reader: &mut ParquetReader, ids: &mut Vec<i64>| -> Poll {
        let mut messages = Vec::new();
        let poll = reader.poll(1_000, Duration::ZERO, &mut messages).unwrap();
        for message in messages {
            let mut rows = Vec::new();
            decoder.decode(&message.payload, &mut rows).unwrap();
            ids.extend(rows.iter().map(|(r, _)| r[0].as_i64().unwrap()));
        }
        poll
    };
    while poll(&mut reader, &mut ids) == Poll::Ready {}
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    // Idle, not done: a file written elsewhere and renamed in is read next; a file
    // not matching the glob is not.
    assert_eq!(poll(&mut reader, &mut ids), Poll::Idle);
    let staging = temp_dir("tail-staging");
    write_trips(&staging.join("t.parquet"), 10, 5);
    std::fs::rename(staging.join("t.parquet"), dir.join("trips-1.parquet")).unwrap();
    write_trips(&dir.join("other.csv"), 100, 5);
    let start = std::time::Instant::now();
    while ids.len() < 15 && start.elapsed() < Duration::from_secs(10) {
        poll(&mut reader, &mut ids);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ids, (0..15).collect::<Vec<_>>());
    assert_eq!(poll(&mut reader, &mut ids), Poll::Idle);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&staging).unwrap();
}

#[test]
fn dictionary_encoded_and_time_columns_are_read_as_their_values() {
    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Time32MillisecondArray};
    let dir = temp_dir("dictionary");
    let cities: DictionaryArray<Int32Type> =
        vec![Some("Ghent"), None, Some("Liège"), Some("Ghent")]
            .into_iter()
            .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("city", cities.data_type().clone(), true),
        Field::new("opens", DataType::Time32(TimeUnit::Millisecond), true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(cities),
            Arc::new(Time32MillisecondArray::from(vec![
                Some(0),
                Some(3_600_500),
                None,
                Some(86_399_999),
            ])),
        ],
    )
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(File::create(dir.join("c.parquet")).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    // The Arrow reader gives the column back dictionary-encoded.
    let read_schema =
        ParquetRecordBatchReaderBuilder::try_new(File::open(dir.join("c.parquet")).unwrap())
            .unwrap()
            .schema()
            .clone();
    assert!(matches!(
        read_schema.field(0).data_type(),
        DataType::Dictionary(_, _)
    ));
    let columns = RelationDesc::new(vec![
        column("city", ScalarType::Text),
        column("opens", ScalarType::Time),
    ]);
    let rows: Vec<Row> = read_split(dir.to_str().unwrap(), &columns, 0, 1)
        .into_iter()
        .map(|(m, r)| r.unwrap_or_else(|e| panic!("{}: {e}", m.position)))
        .collect();
    assert_eq!(
        rows,
        vec![
            Row::new(vec![Datum::text("Ghent"), Datum::Time(0)]),
            Row::new(vec![Datum::Null, Datum::Time(3_600_500_000)]),
            Row::new(vec![Datum::text("Liège"), Datum::Null]),
            Row::new(vec![Datum::text("Ghent"), Datum::Time(86_399_999_000)]),
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
