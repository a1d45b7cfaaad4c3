//! Nexmark q11 (SESSION windows) and q14 (the CountChar UDF) against PostgreSQL, as
//! tests/nexmark_oracle.rs does for the other queries (same events, same loading; the
//! helpers are copied from there): sessions in PostgreSQL are gaps-and-islands over
//! window functions, count_char is length arithmetic. Also: sink tables count what
//! they were sent, checked once their frontier passed the writes.
//!
//! Needs the local PostgreSQL (127.0.0.1:5432, user postgres, database test; override
//! with LAASTER_TEST_PG).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use laaster_connectors::nexmark::queries::{Placeholders, queries_dir, rewrite_query, statements};
use laaster_connectors::nexmark::{Event, NexmarkConfig, NexmarkStream, json::format_timestamp};
use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session};
use postgres::{Client, NoTls, SimpleQueryMessage};

/// Events in the stream.
const EVENTS: u64 = 20_000;
/// Events per second of event time: 5 ms apart, so the stream spans 100 s (ten 10 s
/// tumbling windows, ~50 hopping ones) and every event has its own millisecond.
const TPS: u64 = 200;
/// The connector's `seed` option; not the default, so a seed that does not reach the
/// source shows up as different events.
const SEED: u64 = 0x5eed_2024;

/// PostgreSQL's tables, in the column order of ddl_views.sql. Text is `COLLATE "C"`
/// (byte order, as Laaster compares text) so that tie-breaks agree.
const PG_TABLES: &str = r#"
CREATE TABLE person (id BIGINT, name TEXT COLLATE "C", email_address TEXT COLLATE "C",
    credit_card TEXT COLLATE "C", city TEXT COLLATE "C", state TEXT COLLATE "C",
    date_time TIMESTAMP(3), extra TEXT COLLATE "C");
CREATE TABLE auction (id BIGINT, item_name TEXT COLLATE "C", description TEXT COLLATE "C",
    initial_bid BIGINT, reserve BIGINT, date_time TIMESTAMP(3), expires TIMESTAMP(3),
    seller BIGINT, category BIGINT, extra TEXT COLLATE "C");
CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT COLLATE "C",
    url TEXT COLLATE "C", date_time TIMESTAMP(3), extra TEXT COLLATE "C");
"#;

fn read_query_file(name: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = queries_dir(&root).unwrap_or_default().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} (set LAASTER_NEXMARK_QUERIES): {e}",
            path.display()
        )
    })
}

/// The connector's options, as ddl_gen.sql passes them after substitution plus `seed`.
fn nexmark_options() -> Vec<(String, String)> {
    [
        ("first-event.rate", TPS.to_string()),
        ("next-event.rate", TPS.to_string()),
        ("events.num", EVENTS.to_string()),
        ("person.proportion", "1".to_string()),
        ("auction.proportion", "3".to_string()),
        ("bid.proportion", "46".to_string()),
        ("seed", SEED.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Replaces Flink's `${...}` placeholders.
fn substitute(text: &str) -> String {
    Placeholders::new(EVENTS, TPS).substitute(text)
}

/// ddl_gen.sql, substituted, with the `seed` option added to the source.
fn source_ddl() -> String {
    let ddl = substitute(&read_query_file("ddl_gen.sql"));
    let connector = "'connector' = 'nexmark',";
    assert!(ddl.contains(connector), "ddl_gen.sql has no `{connector}`");
    ddl.replacen(
        connector,
        &format!("{connector}\n    'seed' = '{SEED}',"),
        1,
    )
}

/// The query file with its sink replaced by a materialized view; returns the statements
/// and the view's name.
fn rewrite(text: &str) -> (Vec<String>, String) {
    let rewritten = rewrite_query(text);
    let sink = rewritten.sink.expect("the query file has an INSERT INTO");
    (rewritten.statements, sink)
}

fn pg_client() -> Client {
    let url = std::env::var("LAASTER_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_string());
    Client::connect(&url, NoTls).unwrap_or_else(|e| {
        panic!("the Nexmark oracle test needs PostgreSQL at `{url}` (set LAASTER_TEST_PG): {e}")
    })
}

/// A value in COPY's text format.
fn copy_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Generates the events with the connector's generator and COPYs them into
/// `schema`'s person, auction and bid tables.
fn load_postgres(pg: &mut Client, schema: &str) {
    pg.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema}; {PG_TABLES}"
    ))
    .expect("prepare PostgreSQL schema");
    let config = NexmarkConfig::from_options(&nexmark_options()).expect("nexmark options");
    let stream = NexmarkStream::new(config).expect("nexmark stream");
    assert_eq!(stream.len(), EVENTS as i64);
    let (mut persons, mut auctions, mut bids) = (String::new(), String::new(), String::new());
    for event in stream.generator() {
        let line = match &event {
            Event::Person(p) => {
                let fields = [
                    p.id.to_string(),
                    copy_text(&p.name),
                    copy_text(&p.email_address),
                    copy_text(&p.credit_card),
                    copy_text(p.city),
                    copy_text(p.state),
                    format_timestamp(p.date_time),
                    copy_text(&p.extra),
                ];
                (&mut persons, fields.join("\t"))
            }
            Event::Auction(a) => {
                let fields = [
                    a.id.to_string(),
                    copy_text(&a.item_name),
                    copy_text(&a.description),
                    a.initial_bid.to_string(),
                    a.reserve.to_string(),
                    format_timestamp(a.date_time),
                    format_timestamp(a.expires),
                    a.seller.to_string(),
                    a.category.to_string(),
                    copy_text(&a.extra),
                ];
                (&mut auctions, fields.join("\t"))
            }
            Event::Bid(b) => {
                let fields = [
                    b.auction.to_string(),
                    b.bidder.to_string(),
                    b.price.to_string(),
                    copy_text(&b.channel),
                    copy_text(&b.url),
                    format_timestamp(b.date_time),
                    copy_text(&b.extra),
                ];
                (&mut bids, fields.join("\t"))
            }
        };
        let (buffer, line) = line;
        buffer.push_str(&line);
        buffer.push('\n');
    }
    for (table, data) in [("person", persons), ("auction", auctions), ("bid", bids)] {
        let mut writer = pg
            .copy_in(&format!("COPY {table} FROM STDIN"))
            .unwrap_or_else(|e| panic!("COPY {table}: {e}"));
        writer.write_all(data.as_bytes()).expect("COPY data");
        writer
            .finish()
            .unwrap_or_else(|e| panic!("COPY {table}: {e}"));
    }
    pg.batch_execute("ANALYZE person; ANALYZE auction; ANALYZE bid")
        .expect("ANALYZE");
}

type Multiset = BTreeMap<Vec<String>, i64>;

fn pg_rows(client: &mut Client, sql: &str) -> Multiset {
    let mut out = Multiset::new();
    for message in client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("postgres: {sql}: {e}"))
    {
        if let SimpleQueryMessage::Row(row) = message {
            let values = (0..row.len())
                .map(|i| row.get(i).unwrap_or("NULL").to_string())
                .collect();
            *out.entry(values).or_insert(0) += 1;
        }
    }
    out
}

fn laaster_rows(session: &mut Session, sql: &str) -> Multiset {
    let results = session
        .execute(sql)
        .unwrap_or_else(|e| panic!("laaster: {sql}: {e}"));
    let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
        panic!("laaster: {sql}: expected rows");
    };
    let mut out = Multiset::new();
    for row in rows.to_text() {
        *out.entry(row).or_insert(0) += 1;
    }
    out
}

/// `None` if equal, else a short description of the difference.
fn diff(actual: &Multiset, expected: &Multiset) -> Option<String> {
    if actual == expected {
        return None;
    }
    let total = |m: &Multiset| m.values().sum::<i64>();
    let surplus = |a: &Multiset, b: &Multiset| -> Vec<String> {
        a.iter()
            .filter_map(|(row, n)| {
                let extra = n - b.get(row).copied().unwrap_or(0);
                (extra > 0).then(|| format!("    {extra} x {}", row.join(" | ")))
            })
            .collect()
    };
    let only_laaster = surplus(actual, expected);
    let only_pg = surplus(expected, actual);
    let show = |lines: &[String]| {
        let mut text: Vec<String> = lines.iter().take(8).cloned().collect();
        if lines.len() > 8 {
            text.push(format!("    ... {} more", lines.len() - 8));
        }
        text.join("\n")
    };
    Some(format!(
        "Laaster {} rows, PostgreSQL {} rows\n  only in Laaster ({} distinct):\n{}\n  only in PostgreSQL ({} distinct):\n{}",
        total(actual),
        total(expected),
        only_laaster.len(),
        show(&only_laaster),
        only_pg.len(),
        show(&only_pg)
    ))
}

/// (query file, PostgreSQL equivalent).
fn pg_queries() -> Vec<(&'static str, String)> {
    vec![
        (
            "q11",
            "WITH m AS (SELECT bidder, date_time, \
               CASE WHEN lag(date_time) OVER w IS NULL \
                      OR date_time >= lag(date_time) OVER w + INTERVAL '10 second' \
                    THEN 1 ELSE 0 END AS brk \
               FROM bid WINDOW w AS (PARTITION BY bidder ORDER BY date_time)), \
             g AS (SELECT bidder, date_time, sum(brk) OVER (PARTITION BY bidder ORDER BY date_time \
                     ROWS UNBOUNDED PRECEDING) AS sid FROM m) \
             SELECT bidder, count(*), min(date_time), max(date_time) + INTERVAL '10 second' \
             FROM g GROUP BY bidder, sid"
                .into(),
        ),
        (
            "q14",
            "SELECT auction, bidder, 0.908 * price, \
               CASE WHEN extract(hour FROM date_time) >= 8 AND extract(hour FROM date_time) <= 18 THEN 'dayTime' \
                    WHEN extract(hour FROM date_time) <= 6 OR extract(hour FROM date_time) >= 20 THEN 'nightTime' \
                    ELSE 'otherTime' END, \
               date_time, extra, coalesce(length(extra) - length(replace(extra, 'c', '')), 0) \
             FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000"
                .into(),
        ),
    ]
}

fn run_oracle(workers: usize) {
    let mut pg = pg_client();
    let schema = format!("laaster_nexmark_sessions_{}_{workers}", std::process::id());
    load_postgres(&mut pg, &schema);
    let engine = Engine::start(EngineConfig {
        workers,
        ..EngineConfig::default()
    })
    .expect("engine starts");
    let mut session = engine.session();
    let setup = statements(&source_ddl())
        .into_iter()
        .chain(statements(&substitute(&read_query_file("ddl_views.sql"))));
    for statement in setup {
        session
            .execute(&statement)
            .unwrap_or_else(|e| panic!("laaster: {statement}: {e}"));
    }
    let queries = pg_queries();
    let mut sinks = Vec::new();
    for (query, _) in &queries {
        let (query_statements, sink) =
            rewrite(&substitute(&read_query_file(&format!("{query}.sql"))));
        for statement in query_statements {
            session
                .execute(&statement)
                .unwrap_or_else(|e| panic!("laaster {query}: {statement}: {e}"));
        }
        sinks.push(sink);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while !session
        .source_status("datagen")
        .expect("source status")
        .done
    {
        assert!(
            Instant::now() < deadline,
            "the nexmark source did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut failures = Vec::new();
    for ((query, pg_sql), sink) in queries.iter().zip(&sinks) {
        let expected = pg_rows(&mut pg, pg_sql);
        assert!(
            !expected.is_empty(),
            "{query}: PostgreSQL's result is empty"
        );
        let actual = laaster_rows(&mut session, &format!("SELECT * FROM {sink}"));
        if let Some(difference) = diff(&actual, &expected) {
            failures.push(format!("{query} (view {sink}): {difference}"));
        }
    }
    pg.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .ok();
    assert!(
        failures.is_empty(),
        "queries differ from PostgreSQL (workers={workers}):\n{}",
        failures.join("\n")
    );
}

#[test]
fn sessions_and_udf_match_postgres_one_worker() {
    run_oracle(1);
}

#[test]
fn sessions_and_udf_match_postgres_two_workers() {
    run_oracle(2);
}

/// The sink's row of SHOW SINKS once its frontier passed `after` (ms).
fn settled_sink(session: &mut Session, sink: &str, after: u64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let results = session.execute("SHOW SINKS").expect("SHOW SINKS");
        let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
            panic!("SHOW SINKS returns rows");
        };
        let row = rows
            .to_text()
            .into_iter()
            .find(|r| r[0] == sink)
            .expect("the sink is listed");
        let done = row[6] == "closed" || row[6].parse::<u64>().is_ok_and(|f| f > after);
        if done {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "sink {sink} did not catch up: {row:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sinks_receive_every_change() {
    for workers in [1, 2] {
        let engine = Engine::start(EngineConfig {
            workers,
            ..EngineConfig::default()
        })
        .expect("engine starts");
        let mut session = engine.session();
        session
            .execute(
                "CREATE TABLE t (k TEXT, v INT); \
                 CREATE TABLE bh (k TEXT, n BIGINT) WITH ('connector' = 'blackhole'); \
                 CREATE TABLE pr (k TEXT, n BIGINT) WITH ('connector' = 'print', 'standard-error' = 'true'); \
                 INSERT INTO bh SELECT k, count(*) FROM t GROUP BY k; \
                 INSERT INTO pr SELECT k, count(*) FROM t GROUP BY k; \
                 INSERT INTO t VALUES ('a', 1), ('b', 2); \
                 INSERT INTO t VALUES ('a', 3); \
                 DELETE FROM t WHERE k = 'b'",
            )
            .expect("statements run");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // (a,1) (b,1) inserted; (a,1) -> (a,2); (b,1) retracted.
        for sink in ["bh", "pr"] {
            let row = settled_sink(&mut session, sink, now);
            assert_eq!(
                &row[2..6],
                ["3", "2", "0", "1"],
                "workers={workers} {sink}: {row:?}"
            );
        }
        session
            .execute("DROP TABLE t CASCADE")
            .expect("drop cascades to the sinks");
        let results = session.execute("SHOW SINKS").expect("SHOW SINKS");
        let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
            panic!("SHOW SINKS returns rows");
        };
        assert!(rows.to_text().is_empty(), "sinks dropped with their input");
    }
}
