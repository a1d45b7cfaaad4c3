//! Parquet end to end through SQL: a directory of Parquet files (written with the Arrow
//! writer, as another tool would) is a source table feeding views; a view is written
//! through `CREATE SINK ... 'format' = 'parquet'` and its files are read back with the
//! Parquet reader.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use laaster_connectors::format::parquet::arrow_array::{
    Array, ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use laaster_connectors::format::parquet::arrow_schema::{DataType, Field, Schema, TimeUnit};
use laaster_connectors::format::parquet::parquet_crate::arrow::ArrowWriter;
use laaster_connectors::format::parquet::parquet_crate::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "laaster-e2e-parquet-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rows(session: &mut Session, sql: &str) -> Vec<Vec<String>> {
    match session.execute(sql).expect(sql).into_iter().next() {
        Some(ExecuteResult::Rows(rows)) => rows.to_text(),
        other => panic!("{sql}: {other:?}"),
    }
}

/// Polls `read` until it returns `expected` (or fails after 60 s with the last answer).
fn eventually<T: PartialEq + std::fmt::Debug>(mut read: impl FnMut() -> T, expected: T) {
    let start = Instant::now();
    loop {
        let got = read();
        if got == expected {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "got {got:?}, want {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

const CITIES: [&str; 3] = ["Antwerp", "Bruges", "Ghent"];
const BASE_MICROS: i64 = 1_764_288_000_000_000; // 2025-11-28 00:00:00 UTC

/// Trip `id`: its city (NULL for every tenth), fare in cents, and time.
fn trip(id: i64) -> (Option<&'static str>, i64, i64) {
    let city = (id % 10 != 9).then(|| CITIES[(id % 3) as usize]);
    (city, 250 + id * 7 % 4_000, BASE_MICROS + id * 1_000_000)
}

fn write_trips(path: &Path, ids: std::ops::Range<i64>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("trip_id", DataType::Int64, false),
        Field::new("city", DataType::Utf8, true),
        Field::new("fare", DataType::Decimal128(10, 2), false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let ids: Vec<i64> = ids.collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(StringArray::from(
            ids.iter().map(|id| trip(*id).0).collect::<Vec<_>>(),
        )),
        Arc::new(
            Decimal128Array::from(
                ids.iter()
                    .map(|id| i128::from(trip(*id).1))
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(10, 2)
            .unwrap(),
        ),
        Arc::new(
            TimestampMicrosecondArray::from(ids.iter().map(|id| trip(*id).2).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut writer = ArrowWriter::try_new(File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// `cents` as NUMERIC(10,2) text.
fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// (trip_id, city or "", fare cents, at micros) of every row in the finished Parquet
/// files of `dir`.
fn read_sink_files(dir: &Path) -> Vec<(i64, String, i128, i64)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("part-") && name.ends_with(".parquet")) {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let ids = batch
                .column_by_name("trip_id")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            let cities = batch
                .column_by_name("city")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            let fares = batch
                .column_by_name("fare")
                .unwrap()
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .clone();
            let ats = batch
                .column_by_name("at")
                .unwrap()
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap()
                .clone();
            for i in 0..batch.num_rows() {
                out.push((
                    ids.value(i),
                    if cities.is_null(i) {
                        String::new()
                    } else {
                        cities.value(i).to_string()
                    },
                    fares.value(i),
                    ats.value(i),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_parquet_directory_feeds_a_view_and_a_view_is_sunk_to_parquet_files() {
    let source = temp_dir("trips");
    let out = temp_dir("out").join("cheap");
    // 3 files of 1,200, 800 and 1 trips.
    write_trips(&source.join("a.parquet"), 0..1_200);
    write_trips(&source.join("b.parquet"), 1_200..2_000);
    write_trips(&source.join("c.parquet"), 2_000..2_001);
    let all: Vec<i64> = (0..2_001).collect();
    // And a file whose trip_id is text: refused whole, into the dead-letter table.
    let bad_schema = Arc::new(Schema::new(vec![Field::new(
        "trip_id",
        DataType::Utf8,
        true,
    )]));
    let bad = RecordBatch::try_new(
        bad_schema.clone(),
        vec![Arc::new(StringArray::from(vec!["x1", "x2"])) as ArrayRef],
    )
    .unwrap();
    let mut writer = ArrowWriter::try_new(
        File::create(source.join("d.parquet")).unwrap(),
        bad_schema,
        None,
    )
    .unwrap();
    writer.write(&bad).unwrap();
    writer.close().unwrap();

    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE trips (trip_id BIGINT, City TEXT, fare NUMERIC(10,2), at TIMESTAMPTZ)
                 WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'parquet',
                       'on-error' = 'dead-letter');
             CREATE MATERIALIZED VIEW per_city AS
                 SELECT city, count(*) AS n, sum(fare) AS total, max(trip_id) AS last_id
                 FROM trips GROUP BY city;
             CREATE MATERIALIZED VIEW span AS
                 SELECT min(at) AS first_at, max(at) AS last_at, count(*) AS n FROM trips;
             CREATE MATERIALIZED VIEW cheap AS
                 SELECT trip_id, city, fare, at FROM trips WHERE fare < 10;",
            source.display()
        ))
        .unwrap();

    // The aggregate over every row of every file, computed here from the same data.
    let mut expected: Vec<Vec<String>> = Vec::new();
    for city in CITIES.iter().map(|c| Some(*c)).chain([None]) {
        let ids: Vec<i64> = all
            .iter()
            .copied()
            .filter(|id| trip(*id).0 == city)
            .collect();
        let total: i64 = ids.iter().map(|id| trip(*id).1).sum();
        expected.push(vec![
            city.unwrap_or("NULL").to_string(),
            ids.len().to_string(),
            money(total),
            ids.iter().max().unwrap().to_string(),
        ]);
    }
    eventually(
        || {
            rows(
                &mut session,
                "SELECT coalesce(city, 'NULL'), n, total, last_id FROM per_city ORDER BY city NULLS LAST",
            )
        },
        expected,
    );
    // Timestamps arrive as written: the first and last trips' times.
    eventually(
        || {
            rows(
                &mut session,
                "SELECT first_at = TIMESTAMPTZ '2025-11-28 00:00:00+00', last_at = TIMESTAMPTZ '2025-11-28 00:33:20+00', n FROM span",
            )
        },
        vec![vec!["t".to_string(), "t".to_string(), "2001".to_string()]],
    );

    // The refused file, once, saying which file, column and types.
    eventually(
        || rows(&mut session, "SELECT count(*) FROM trips_errors"),
        vec![vec!["1".to_string()]],
    );
    let error = rows(
        &mut session,
        "SELECT \"partition\", \"offset\", error FROM trips_errors",
    );
    assert!(error[0][0].ends_with("d.parquet"), "{error:?}");
    assert_eq!(error[0][1], "0");
    assert!(
        error[0][2].contains("column \"trip_id\" is Utf8 in the file but bigint in the table"),
        "{error:?}"
    );

    // The view of cheap trips, written as Parquet files and read back.
    session
        .execute(&format!(
            "CREATE SINK cheap_out FROM cheap WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'parquet')",
            out.display()
        ))
        .unwrap();
    // An upsert sink cannot delete rows from written files: refused at CREATE.
    let err = session
        .execute(&format!(
            "CREATE SINK cheap_upsert FROM cheap WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'parquet', 'sink.mode' = 'upsert', 'sink.key' = 'trip_id')",
            out.display()
        ))
        .unwrap_err();
    assert!(err.message.contains("append-only"), "{err:?}");
    let mut want: Vec<(i64, String, i128, i64)> = all
        .iter()
        .filter(|id| trip(**id).1 < 1_000)
        .map(|id| {
            let (city, fare, at) = trip(*id);
            (*id, city.unwrap_or("").to_string(), i128::from(fare), at)
        })
        .collect();
    want.sort();
    assert!(want.len() > 100 && want.len() < all.len());
    eventually(|| read_sink_files(&out), want);
    drop(session);
    drop(engine);
    std::fs::remove_dir_all(&source).unwrap();
    let _ = std::fs::remove_dir_all(out.parent().unwrap());
}
