//! The PostgreSQL connectors against the local server (127.0.0.1:5432, database `test`):
//! the upsert sink (inserts, updates and deletes by key over several completed
//! timestamps, checked with a query after each; append-only without a key; errors for a
//! missing table, a type mismatch and a key without a unique index) and the CDC source
//! (snapshot then inserts/updates/deletes through logical decoding, resumption from the
//! committed LSN after close and reopen). The CDC tests need `wal_level = logical`
//! (scripts/postgres-logical.sh). Every test uses its own tables and slots and drops them.

use std::time::{Duration, Instant};

use laaster_connectors::api::{Message, Poll, SinkWriter, SourceReader};
use laaster_connectors::format::Format;
use laaster_connectors::postgres::{
    PostgresCdcOptions, PostgresCdcReader, PostgresSinkOptions, PostgresSinkWriter, StartupMode,
};
use laaster_repr::strconv::format_datum;
use laaster_repr::{Column, ColumnType, Datum, Diff, RelationDesc, Row, ScalarType, Timestamp};
use rust_decimal::Decimal;

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn unique(name: &str) -> String {
    format!(
        "laaster_{name}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn client() -> postgres::Client {
    postgres::Client::connect(URL, postgres::NoTls).expect("the local PostgreSQL")
}

/// Drops the named objects at the end of a test, also when it fails.
struct Cleanup {
    tables: Vec<String>,
    slots: Vec<String>,
    publications: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut c = client();
        for slot in &self.slots {
            let _ = c.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                &[slot],
            );
        }
        for publication in &self.publications {
            let _ = c.batch_execute(&format!("DROP PUBLICATION IF EXISTS {publication}"));
        }
        for table in &self.tables {
            let _ = c.batch_execute(&format!("DROP TABLE IF EXISTS {table}"));
        }
    }
}

fn column(name: &str, scalar: ScalarType) -> Column {
    Column {
        name: name.into(),
        typ: ColumnType::nullable(scalar),
    }
}

fn text_rows(c: &mut postgres::Client, sql: &str) -> Vec<String> {
    c.query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

fn accounts() -> RelationDesc {
    RelationDesc::new(vec![
        column("id", ScalarType::Int64),
        column("name", ScalarType::Text),
        column(
            "balance",
            ScalarType::Decimal {
                precision: None,
                scale: None,
            },
        ),
        column("opened", ScalarType::TimestampTz),
        column("doc", ScalarType::Jsonb),
        column("blob", ScalarType::Bytea),
        column("active", ScalarType::Bool),
        column("day", ScalarType::Date),
        column("score", ScalarType::Float64),
    ])
}

fn account(id: i64, name: &str, balance: &str) -> Row {
    Row::new(vec![
        Datum::Int64(id),
        Datum::text(name),
        Datum::Decimal(balance.parse::<Decimal>().unwrap()),
        // 2024-01-02 03:04:05.5 UTC, in microseconds since 2000-01-01 (Postgres' epoch) or
        // the Unix epoch: whichever Laaster uses, the text form is checked below.
        laaster_repr::strconv::parse_datum("2024-01-02 03:04:05.5+00", &ScalarType::TimestampTz)
            .unwrap(),
        laaster_repr::strconv::parse_datum(r#"{"k": [1, 2]}"#, &ScalarType::Jsonb).unwrap(),
        Datum::Bytes(std::sync::Arc::from(&[0u8, 1, 255][..])),
        Datum::Bool(id % 2 == 0),
        laaster_repr::strconv::parse_datum("2024-02-29", &ScalarType::Date).unwrap(),
        Datum::float64(id as f64 + 0.25),
    ])
}

fn create_accounts(c: &mut postgres::Client, table: &str, key: bool) {
    c.batch_execute(&format!(
        "CREATE TABLE {table} (id int8 {}, name text NOT NULL, balance numeric(12,2), \
         opened timestamptz, doc jsonb, blob bytea, active boolean, day date, score float8, \
         note text DEFAULT 'untouched')",
        if key { "PRIMARY KEY" } else { "" }
    ))
    .unwrap();
}

fn sink(table: &str, key: Option<&str>, max_rows: usize) -> PostgresSinkOptions {
    PostgresSinkOptions {
        url: URL.into(),
        table: table.into(),
        key_columns: key.map(|k| vec![k.to_string()]),
        max_rows,
    }
}

fn contents(c: &mut postgres::Client, table: &str) -> Vec<String> {
    text_rows(
        c,
        &format!(
            "SELECT concat_ws('|', id, name, balance, opened, doc, encode(blob, 'hex'), active, day, score, note) \
             FROM {table} ORDER BY id"
        ),
    )
}

#[test]
fn sink_upserts_and_deletes_by_key_over_completed_timestamps() {
    let table = unique("sink_accounts");
    let _cleanup = Cleanup {
        tables: vec![table.clone()],
        slots: vec![],
        publications: vec![],
    };
    let mut c = client();
    create_accounts(&mut c, &table, true);
    c.batch_execute("SET TimeZone = 'UTC'").unwrap();
    // The key comes from the table's primary key; 2 rows per statement, so larger
    // batches take several statements of one transaction.
    let mut writer = PostgresSinkWriter::open(&sink(&table, None, 2), &accounts()).unwrap();

    let updates: Vec<(Row, Timestamp, Diff)> = (1..=5)
        .map(|id| (account(id, &format!("a{id}"), "10.50"), 1, 1))
        .collect();
    writer.write(&updates).unwrap();
    // Nothing is visible before the timestamp is complete.
    assert!(contents(&mut c, &table).is_empty());
    writer.complete(2).unwrap();
    let first = contents(&mut c, &table);
    assert_eq!(first.len(), 5);
    assert_eq!(
        first[0],
        "1|a1|10.50|2024-01-02 03:04:05.5+00|{\"k\": [1, 2]}|0001ff|f|2024-02-29|1.25|untouched"
    );

    // Time 2: id 2 updated (retraction + insertion), id 3 deleted, id 6 inserted.
    writer
        .write(&[
            (account(6, "a6", "1"), 2, 1),
            (account(2, "a2", "10.50"), 2, -1),
            (account(2, "two", "20.25"), 2, 1),
            (account(3, "a3", "10.50"), 2, -1),
        ])
        .unwrap();
    writer.complete(3).unwrap();
    let ids_names = |c: &mut postgres::Client| {
        text_rows(
            c,
            &format!("SELECT id || ':' || name || ':' || balance FROM {table} ORDER BY id"),
        )
    };
    assert_eq!(
        ids_names(&mut c),
        [
            "1:a1:10.50",
            "2:two:20.25",
            "4:a4:10.50",
            "5:a5:10.50",
            "6:a6:1.00"
        ]
    );

    // Times 3 and 4 in one completed batch: id 4 updated twice (net: the last row),
    // id 5 deleted then inserted again, id 6 inserted at 3 and deleted at 4 (net: gone),
    // id 3 back.
    writer
        .write(&[
            (account(4, "a4", "10.50"), 3, -1),
            (account(4, "four", "1"), 3, 1),
            (account(5, "a5", "10.50"), 3, -1),
            (account(3, "three", "3"), 3, 1),
            (account(4, "four", "1"), 4, -1),
            (account(4, "FOUR", "4"), 4, 1),
            (account(5, "five", "5"), 4, 1),
            (account(6, "a6", "1"), 4, -1),
        ])
        .unwrap();
    writer.complete(5).unwrap();
    assert_eq!(
        ids_names(&mut c),
        [
            "1:a1:10.50",
            "2:two:20.25",
            "3:three:3.00",
            "4:FOUR:4.00",
            "5:five:5.00"
        ]
    );

    // A retraction of a row that is no longer the stored one (the replacement was
    // written first, e.g. by another worker) leaves the replacement alone.
    writer.write(&[(account(2, "a2", "10.50"), 5, -1)]).unwrap();
    writer.complete(6).unwrap();
    assert!(ids_names(&mut c).contains(&"2:two:20.25".to_string()));
    // Columns the sink does not write keep their value through upserts.
    assert!(
        text_rows(&mut c, &format!("SELECT note FROM {table}"))
            .iter()
            .all(|n| n == "untouched")
    );

    // An empty completion is fine.
    writer.complete(7).unwrap();
}

#[test]
fn sink_without_key_appends_and_refuses_retractions() {
    let table = unique("sink_log");
    let _cleanup = Cleanup {
        tables: vec![table.clone()],
        slots: vec![],
        publications: vec![],
    };
    let mut c = client();
    create_accounts(&mut c, &table, false);
    let mut writer = PostgresSinkWriter::open(&sink(&table, None, 1000), &accounts()).unwrap();
    writer
        .write(&[(account(1, "a", "1"), 1, 2), (account(2, "b", "2"), 1, 1)])
        .unwrap();
    writer.complete(2).unwrap();
    assert_eq!(
        text_rows(&mut c, &format!("SELECT name FROM {table} ORDER BY name")),
        ["a", "a", "b"]
    );
    let err = writer.write(&[(account(2, "b", "2"), 2, -1)]).unwrap_err();
    assert!(err.message.contains("has no key"), "{err}");
    assert!(err.message.contains("id=2, name=b"), "{err}");
    assert!(err.hint.unwrap().contains("PRIMARY KEY"));
}

#[test]
fn sink_reports_missing_tables_type_mismatches_and_missing_keys() {
    let table = unique("sink_checks");
    let _cleanup = Cleanup {
        tables: vec![table.clone()],
        slots: vec![],
        publications: vec![],
    };
    let mut c = client();
    create_accounts(&mut c, &table, false);

    let err = PostgresSinkWriter::open(&sink("no_such_table_here", None, 10), &accounts())
        .err()
        .unwrap();
    assert!(err.message.contains("does not exist"), "{err}");

    // `name` is text in PostgreSQL, BIGINT in the sink.
    let mut wrong = accounts();
    wrong.columns[1].typ = ColumnType::nullable(ScalarType::Int64);
    let err = PostgresSinkWriter::open(&sink(&table, None, 10), &wrong)
        .err()
        .unwrap();
    assert_eq!(
        err.message,
        format!("column 'name' is BIGINT in Laaster but text in table public.{table}"),
    );

    // A column PostgreSQL does not have.
    let mut extra = accounts();
    extra.columns.push(column("nope", ScalarType::Text));
    let err = PostgresSinkWriter::open(&sink(&table, None, 10), &extra)
        .err()
        .unwrap();
    assert!(err.message.contains("'nope' is not a column"), "{err}");

    // NOT NULL `name` left out.
    let mut partial = accounts();
    partial.columns.remove(1);
    let err = PostgresSinkWriter::open(&sink(&table, None, 10), &partial)
        .err()
        .unwrap();
    assert!(err.message.contains("NOT NULL"), "{err}");

    // A key without a unique index cannot be upserted.
    let err = PostgresSinkWriter::open(&sink(&table, Some("id"), 10), &accounts())
        .err()
        .unwrap();
    assert!(
        err.message.contains("no primary key or unique index"),
        "{err}"
    );
    assert!(err.hint.unwrap().contains("ADD PRIMARY KEY"));

    // A value PostgreSQL refuses fails the batch with the table named, and the writer
    // goes on afterwards.
    c.batch_execute(&format!("ALTER TABLE {table} ADD PRIMARY KEY (id)"))
        .unwrap();
    let narrow = RelationDesc::new(vec![
        column("id", ScalarType::Int64),
        column("name", ScalarType::Text),
        column("balance", ScalarType::NUMERIC),
    ]);
    let mut writer = PostgresSinkWriter::open(&sink(&table, None, 10), &narrow).unwrap();
    writer
        .write(&[(
            Row::new(vec![
                Datum::Int64(1),
                Datum::text("x"),
                Datum::Decimal("123456789012345".parse().unwrap()),
            ]),
            1,
            1,
        )])
        .unwrap();
    let err = writer.complete(2).unwrap_err();
    assert!(err.message.contains(&table), "{err}");
    assert!(err.message.contains("overflow"), "{err}");
    writer
        .write(&[(
            Row::new(vec![
                Datum::Int64(1),
                Datum::text("x"),
                Datum::Decimal("1.5".parse().unwrap()),
            ]),
            2,
            1,
        )])
        .unwrap();
    writer.complete(3).unwrap();
    assert_eq!(
        text_rows(&mut c, &format!("SELECT balance::text FROM {table}")),
        ["1.50"]
    );
}

// ---------------------------------------------------------------------------------------
// CDC
// ---------------------------------------------------------------------------------------

fn orders() -> RelationDesc {
    RelationDesc::new(vec![
        column("id", ScalarType::Int32),
        column("status", ScalarType::Text),
        column("amount", ScalarType::NUMERIC),
        column("blob", ScalarType::Bytea),
        column("doc", ScalarType::Jsonb),
    ])
}

fn cdc(table: &str, slot: &str, startup: StartupMode) -> PostgresCdcOptions {
    PostgresCdcOptions {
        url: URL.into(),
        schema: "public".into(),
        table: table.into(),
        slot: slot.into(),
        publication: slot.into(),
        startup,
        changelog: true,
    }
}

fn create_orders(c: &mut postgres::Client, table: &str) {
    c.batch_execute(&format!(
        "CREATE TABLE {table} (id int4 PRIMARY KEY, status text, amount numeric, blob bytea, \
         doc jsonb, extra text); ALTER TABLE {table} REPLICA IDENTITY FULL"
    ))
    .unwrap();
}

/// Polls until `want` messages arrived (or 20 s passed), then checks that nothing more
/// comes within a short while.
fn poll_messages(reader: &mut PostgresCdcReader, want: usize) -> Vec<Message> {
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < want && start.elapsed() < Duration::from_secs(20) {
        match reader
            .poll(1000, Duration::from_millis(100), &mut out)
            .unwrap()
        {
            Poll::Done => panic!("a CDC source is unbounded"),
            Poll::Idle => std::thread::sleep(Duration::from_millis(20)),
            Poll::Ready => {}
        }
    }
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(300) {
        reader
            .poll(1000, Duration::from_millis(60), &mut out)
            .unwrap();
    }
    out
}

/// The messages decoded by `debezium-json` as `row text, diff`.
fn decode(messages: &[Message]) -> Vec<(String, Diff)> {
    let desc = orders();
    let format = Format::from_options(
        "format",
        &[("format".into(), "debezium-json".into())],
        &desc,
    )
    .unwrap();
    let mut decoder = format.decoder(&desc);
    let mut out = Vec::new();
    for message in messages {
        let mut rows = Vec::new();
        decoder
            .decode(&message.payload, &mut rows)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&message.payload)));
        out.extend(rows.into_iter().map(|(row, diff)| {
            (
                row.iter().map(format_datum).collect::<Vec<_>>().join(","),
                diff,
            )
        }));
    }
    out
}

fn pairs(expected: &[(&str, Diff)]) -> Vec<(String, Diff)> {
    expected.iter().map(|(r, d)| (r.to_string(), *d)).collect()
}

fn slot_exists(c: &mut postgres::Client, slot: &str) -> bool {
    c.query_one(
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1",
        &[&slot],
    )
    .unwrap()
    .get::<_, i64>(0)
        == 1
}

#[test]
fn cdc_reads_a_snapshot_then_inserts_updates_and_deletes() {
    let table = unique("cdc_orders");
    let slot = unique("slot");
    let _cleanup = Cleanup {
        tables: vec![table.clone()],
        slots: vec![slot.clone()],
        publications: vec![slot.clone()],
    };
    let mut c = client();
    create_orders(&mut c, &table);
    c.batch_execute(&format!(
        "INSERT INTO {table} VALUES (1, 'new', 10.5, '\\x00ff', '{{\"a\": 1}}', 'x'), \
         (2, 'new', 20, NULL, NULL, NULL)"
    ))
    .unwrap();

    let mut reader = PostgresCdcReader::open(&cdc(&table, &slot, StartupMode::Initial), 0).unwrap();
    // Other splits read nothing (the table is one partition).
    let mut idle = PostgresCdcReader::open(&cdc(&table, &slot, StartupMode::Initial), 1).unwrap();
    let mut none = Vec::new();
    assert_eq!(
        idle.poll(10, Duration::ZERO, &mut none).unwrap(),
        Poll::Idle
    );

    // Committed after the slot and the snapshot: arrives as changes, once.
    c.batch_execute(&format!(
        "INSERT INTO {table} VALUES (3, 'new', 30, NULL, NULL, NULL)"
    ))
    .unwrap();
    let snapshot = poll_messages(&mut reader, 3);
    assert_eq!(
        decode(&snapshot),
        pairs(&[
            ("1,new,10.5,\\x00ff,{\"a\": 1}", 1),
            ("2,new,20,NULL,NULL", 1),
            ("3,new,30,NULL,NULL", 1),
        ])
    );
    assert!(snapshot[0].position.offset.starts_with("snapshot#"));
    reader.commit(&snapshot.last().unwrap().position).unwrap();

    c.batch_execute(&format!(
        "BEGIN; UPDATE {table} SET status = 'paid', amount = amount + 1 WHERE id = 1; \
         DELETE FROM {table} WHERE id = 2; COMMIT; \
         INSERT INTO {table} VALUES (4, 'new', 40, NULL, '[1, \"x\"]', NULL); \
         UPDATE {table} SET extra = 'only a column the source does not declare' WHERE id = 3"
    ))
    .unwrap();
    let changes = poll_messages(&mut reader, 4);
    assert_eq!(
        decode(&changes),
        pairs(&[
            ("1,new,10.5,\\x00ff,{\"a\": 1}", -1),
            ("1,paid,11.5,\\x00ff,{\"a\": 1}", 1),
            ("2,new,20,NULL,NULL", -1),
            ("4,new,40,NULL,[1, \"x\"]", 1),
            ("3,new,30,NULL,NULL", -1),
            ("3,new,30,NULL,NULL", 1),
        ])
    );
    // Offsets are LSN#index: the first transaction's two changes share its LSN.
    let (lsn0, _) = changes[0].position.offset.split_once('#').unwrap();
    let (lsn1, index1) = changes[1].position.offset.split_once('#').unwrap();
    assert_eq!((lsn0, index1), (lsn1, "1"));
    reader.commit(&changes.last().unwrap().position).unwrap();
    reader.close();
    assert!(slot_exists(&mut c, &slot), "a committed slot is kept");
}

#[test]
fn cdc_resumes_from_the_committed_lsn_after_close_and_reopen() {
    let table = unique("cdc_resume");
    let slot = unique("slot");
    let _cleanup = Cleanup {
        tables: vec![table.clone()],
        slots: vec![slot.clone()],
        publications: vec![slot.clone()],
    };
    let mut c = client();
    create_orders(&mut c, &table);
    c.batch_execute(&format!(
        "INSERT INTO {table} VALUES (100, 'before the slot', 0, NULL, NULL, NULL)"
    ))
    .unwrap();
    let options = cdc(&table, &slot, StartupMode::LatestOffset);
    let mut reader = PostgresCdcReader::open(&options, 0).unwrap();
    // 'latest-offset': nothing from before the slot.
    assert!(poll_messages(&mut reader, 0).is_empty());
    for id in 1..=3 {
        c.batch_execute(&format!(
            "INSERT INTO {table} VALUES ({id}, 'new', {id}, NULL, NULL, NULL)"
        ))
        .unwrap();
    }
    // One transaction of 3000 rows: a poll hands it out whole, beyond its `max`.
    c.batch_execute(&format!(
        "INSERT INTO {table} SELECT g, 'bulk', g, NULL, NULL, NULL FROM generate_series(1000, 3999) g"
    ))
    .unwrap();
    let messages = poll_messages(&mut reader, 3003);
    assert_eq!(messages.len(), 3003);
    // Commit through the first transaction only, then stop.
    reader.commit(&messages[0].position).unwrap();
    reader.close();
    drop(reader);

    let mut reader = PostgresCdcReader::open(&options, 0).unwrap();
    let again = poll_messages(&mut reader, 3002);
    assert_eq!(
        decode(&again[..2]),
        pairs(&[("2,new,2,NULL,NULL", 1), ("3,new,3,NULL,NULL", 1)]),
        "the uncommitted changes come again, the committed one does not"
    );
    assert_eq!(again.len(), 3002);
    assert_eq!(
        again
            .iter()
            .map(|m| m.position.offset.clone())
            .collect::<Vec<_>>(),
        messages[1..]
            .iter()
            .map(|m| m.position.offset.clone())
            .collect::<Vec<_>>()
    );
    reader.commit(&again.last().unwrap().position).unwrap();
    reader.close();
    drop(reader);

    // Everything committed: a reopened reader gets only what happens next.
    let mut reader = PostgresCdcReader::open(&options, 0).unwrap();
    c.batch_execute(&format!("DELETE FROM {table} WHERE id = 3"))
        .unwrap();
    let next = poll_messages(&mut reader, 1);
    assert_eq!(decode(&next), pairs(&[("3,new,3,NULL,NULL", -1)]));
    reader.commit(&next[0].position).unwrap();
    reader.close();
}

#[test]
fn cdc_explains_what_it_needs() {
    let table = unique("cdc_default_identity");
    let slot = unique("slot");
    let _cleanup = Cleanup {
        tables: vec![table.clone()],
        slots: vec![slot.clone()],
        publications: vec![slot.clone()],
    };
    let mut c = client();
    c.batch_execute(&format!("CREATE TABLE {table} (id int4 PRIMARY KEY)"))
        .unwrap();
    let err = PostgresCdcReader::open(&cdc(&table, &slot, StartupMode::Initial), 0)
        .err()
        .unwrap();
    assert!(err.message.contains("REPLICA IDENTITY"), "{err}");
    assert!(err.hint.unwrap().contains("REPLICA IDENTITY FULL"));
    assert!(!slot_exists(&mut c, &slot));

    let err = PostgresCdcReader::open(&cdc("no_such_table_here", &slot, StartupMode::Initial), 0)
        .err()
        .unwrap();
    assert!(err.message.contains("does not exist"), "{err}");

    // A snapshot that was not committed whole is taken again after a reopen.
    c.batch_execute(&format!(
        "ALTER TABLE {table} REPLICA IDENTITY FULL; INSERT INTO {table} VALUES (1), (2)"
    ))
    .unwrap();
    let options = cdc(&table, &slot, StartupMode::Initial);
    let mut reader = PostgresCdcReader::open(&options, 0).unwrap();
    let mut out = Vec::new();
    reader.poll(1, Duration::ZERO, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    reader.close();
    assert!(
        !slot_exists(&mut c, &slot),
        "an unfinished snapshot drops its slot"
    );
    let mut reader = PostgresCdcReader::open(&options, 0).unwrap();
    let messages = poll_messages(&mut reader, 2);
    assert_eq!(messages.len(), 2);
    reader.commit(&messages[1].position).unwrap();
    reader.close();
    assert!(slot_exists(&mut c, &slot));
}

/// 20,000 rows through the sink (inserts, then updates of every row) and the same rows
/// back through the CDC source, checked by count and content; prints rows per second
/// (a debug build unless run with --release).
#[test]
fn sink_and_cdc_move_twenty_thousand_rows() {
    const ROWS: i64 = 20_000;
    let table = unique("volume");
    let slot = unique("slot");
    let _cleanup = Cleanup {
        tables: vec![table.clone()],
        slots: vec![slot.clone()],
        publications: vec![slot.clone()],
    };
    let mut c = client();
    c.batch_execute(&format!(
        "CREATE TABLE {table} (id int4 PRIMARY KEY, status text, amount numeric, blob bytea, doc jsonb); \
         ALTER TABLE {table} REPLICA IDENTITY FULL"
    ))
    .unwrap();
    let mut reader =
        PostgresCdcReader::open(&cdc(&table, &slot, StartupMode::LatestOffset), 0).unwrap();
    let row = |id: i64, status: &str| {
        Row::new(vec![
            Datum::Int32(id as i32),
            Datum::text(status),
            Datum::Decimal(Decimal::new(id, 2)),
            Datum::Null,
            Datum::Null,
        ])
    };
    let mut writer = PostgresSinkWriter::open(&sink(&table, None, 1000), &orders()).unwrap();
    let start = Instant::now();
    for batch in 0..ROWS / 5000 {
        let updates: Vec<(Row, Timestamp, Diff)> = (batch * 5000..(batch + 1) * 5000)
            .map(|id| (row(id, "new"), batch as u64, 1))
            .collect();
        writer.write(&updates).unwrap();
        writer.complete(batch as u64 + 1).unwrap();
    }
    let inserts = start.elapsed();
    let start = Instant::now();
    for batch in 0..ROWS / 5000 {
        let time = 100 + batch as u64;
        let mut updates = Vec::new();
        for id in batch * 5000..(batch + 1) * 5000 {
            updates.push((row(id, "new"), time, -1));
            updates.push((row(id, "paid"), time, 1));
        }
        writer.write(&updates).unwrap();
        writer.complete(time + 1).unwrap();
    }
    let updates = start.elapsed();
    assert_eq!(
        text_rows(
            &mut c,
            &format!("SELECT count(*) || ':' || sum(amount) FROM {table} WHERE status = 'paid'")
        ),
        [format!(
            "{ROWS}:{}",
            Decimal::new((0..ROWS).sum::<i64>(), 2)
        )]
    );

    // 4 insert transactions and 4 update transactions of 5,000 rows: 20,000 inserts and
    // 20,000 updates (each a retraction and an insertion) for the source.
    // Read as the engine does: commit what was read before polling again.
    let start = Instant::now();
    let mut messages = Vec::new();
    while messages.len() < 2 * ROWS as usize && start.elapsed() < Duration::from_secs(60) {
        let before = messages.len();
        reader
            .poll(1024, Duration::from_millis(100), &mut messages)
            .unwrap();
        if messages.len() > before {
            reader.commit(&messages.last().unwrap().position).unwrap();
        }
    }
    let read = start.elapsed();
    assert!(poll_messages(&mut reader, 0).is_empty(), "nothing more");
    let mut offsets: Vec<&str> = messages
        .iter()
        .map(|m| m.position.offset.as_str())
        .collect();
    offsets.sort();
    offsets.dedup();
    assert_eq!(offsets.len(), messages.len(), "every change once");
    assert_eq!(messages.len(), 2 * ROWS as usize);
    let decoded = decode(&messages);
    assert_eq!(decoded.len(), 3 * ROWS as usize);
    assert_eq!(decoded.iter().map(|(_, d)| d).sum::<Diff>(), ROWS);
    assert_eq!(
        decoded.last().unwrap(),
        &(
            format!("{},paid,{},NULL,NULL", ROWS - 1, Decimal::new(ROWS - 1, 2)),
            1
        )
    );
    reader.close();
    let rate = |n: i64, d: Duration| (n as f64 / d.as_secs_f64()) as u64;
    eprintln!(
        "postgres sink: {} inserts/s, {} updates/s; postgres-cdc: {} changes/s read",
        rate(ROWS, inserts),
        rate(ROWS, updates),
        rate(2 * ROWS, read)
    );
}

fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn registry_checks_postgres_options_at_create_time() {
    use laaster_connectors::registry::{CONNECTORS, external_sink, external_source};

    assert!(
        CONNECTORS
            .iter()
            .any(|(n, source, sink, _)| *n == "postgres" && !source && *sink)
    );
    assert!(
        CONNECTORS
            .iter()
            .any(|(n, source, sink, _)| *n == "postgres-cdc" && *source && !sink)
    );
    let source =
        |pairs: &[(&str, &str)]| external_source("postgres-cdc", &options(pairs), &orders());
    let base = [
        ("url", URL),
        ("table-name", "orders"),
        ("slot.name", "laaster_orders"),
    ];

    let def = source(&base).unwrap().unwrap();
    assert!(
        matches!(def.format, Format::DebeziumJson(_)),
        "change events by default"
    );
    let err = source(&base[..2]).unwrap_err();
    assert_eq!(
        err.message,
        "connector 'postgres-cdc' needs option 'slot.name'"
    );
    let mut typo = base.to_vec();
    typo.push(("publication.nme", "p"));
    assert_eq!(
        source(&typo).unwrap_err().hint,
        "perhaps you meant 'publication.name'"
    );
    let mut mode = base.to_vec();
    mode.push(("scan.startup.mode", "earliest"));
    assert!(
        source(&mode)
            .unwrap_err()
            .message
            .contains("'initial' or 'latest-offset'")
    );
    let mut bad_slot = base.to_vec();
    bad_slot[2] = ("slot.name", "Bad-Slot");
    assert!(
        source(&bad_slot)
            .unwrap_err()
            .message
            .contains("lower-case")
    );
    let mut csv = base.to_vec();
    csv.push(("format", "csv"));
    assert!(
        source(&csv)
            .unwrap_err()
            .message
            .contains("'debezium-json'")
    );
    let mut json = base.to_vec();
    json.push(("format", "json"));
    assert!(matches!(
        source(&json).unwrap().unwrap().format,
        Format::Json(_)
    ));

    let sink = |pairs: &[(&str, &str)]| external_sink("postgres", &options(pairs), &orders());
    assert!(
        sink(&[("url", URL), ("table-name", "t")])
            .unwrap()
            .is_some()
    );
    assert_eq!(
        sink(&[("url", URL)]).unwrap_err().message,
        "connector 'postgres' needs option 'table-name'"
    );
    assert!(
        sink(&[
            ("url", URL),
            ("table-name", "t"),
            ("key.columns", "id, nope")
        ])
        .unwrap_err()
        .message
        .contains("'nope'")
    );
    assert!(
        sink(&[
            ("url", URL),
            ("table-name", "t"),
            ("sink.buffer-flush.max-rows", "0")
        ])
        .unwrap_err()
        .message
        .contains("positive number")
    );
    assert!(
        sink(&[("url", URL), ("table-name", "t"), ("format", "json")])
            .unwrap_err()
            .message
            .contains("takes no 'format'")
    );
    assert_eq!(
        sink(&[("url", URL), ("table-name", "t"), ("key.column", "id")])
            .unwrap_err()
            .hint,
        "perhaps you meant 'key.columns'"
    );
}

#[test]
fn cdc_with_json_reads_inserts_and_refuses_updates() {
    let table = unique("cdc_append");
    let slot = unique("slot");
    let _cleanup = Cleanup {
        tables: vec![table.clone()],
        slots: vec![slot.clone()],
        publications: vec![slot.clone()],
    };
    let mut c = client();
    create_orders(&mut c, &table);
    let options = PostgresCdcOptions {
        changelog: false,
        ..cdc(&table, &slot, StartupMode::Initial)
    };
    let mut reader = PostgresCdcReader::open(&options, 0).unwrap();
    c.batch_execute(&format!(
        "INSERT INTO {table} VALUES (1, 'new', 1.5, '\\x01', '{{}}', NULL)"
    ))
    .unwrap();
    let messages = poll_messages(&mut reader, 1);
    let payload: serde_json::Value = serde_json::from_slice(&messages[0].payload).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({"id": "1", "status": "new", "amount": "1.5", "blob": "AQ==", "doc": {}, "extra": null})
    );
    reader.commit(&messages[0].position).unwrap();
    c.batch_execute(&format!("UPDATE {table} SET status = 'paid'"))
        .unwrap();
    let start = Instant::now();
    let err = loop {
        let mut out = Vec::new();
        match reader.poll(10, Duration::from_millis(100), &mut out) {
            Err(e) => break e,
            Ok(_) => assert!(out.is_empty(), "no message for an update"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no error for the update"
        );
    };
    assert!(err.message.contains("an UPDATE"), "{err}");
    assert!(err.message.contains(&table), "{err}");
    assert!(err.hint.unwrap().contains("debezium-json"));
    reader.close();
}
