//! Nexmark results against an oracle: the same generated events are loaded into
//! PostgreSQL (three plain tables) and produced by Laaster's `nexmark` source; Flink's
//! query texts (../shared/nexmark/flink-queries, `${...}` substituted, the blackhole
//! sink turned into a materialized view) run in Laaster with 1 and with 2 workers, and
//! each view, once the source is exhausted, must equal a hand-written PostgreSQL
//! equivalent (windows as GROUP BY on computed window bounds, Top-N as `row_number`
//! with Laaster's tie-break), compared as multisets of Postgres text values.
//!
//! Needs the local PostgreSQL (127.0.0.1:5432, user postgres, database test; override
//! with LAASTER_TEST_PG). It fails, rather than skips, when PostgreSQL is unreachable.
//! The query directory can be overridden with LAASTER_NEXMARK_QUERIES.

use std::collections::BTreeMap;

use laaster_connectors::nexmark::queries::{Placeholders, queries_dir, rewrite_query, statements};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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

/// Window bounds in PostgreSQL: the start of the `secs`-second window (aligned to the
/// epoch, as Flink's windows) that `ts` falls in.
fn window_start(ts: &str, secs: u32) -> String {
    format!("date_bin(INTERVAL '{secs} seconds', {ts}, TIMESTAMP 'epoch')")
}

/// (query file, PostgreSQL equivalent). Every query's output is deterministic: Top-N
/// ties are broken as Laaster breaks them (by the whole row, ascending), and event
/// times are distinct.
fn pg_queries() -> Vec<(&'static str, String)> {
    vec![
        (
            "q0",
            "SELECT auction, bidder, price, date_time, extra FROM bid".into(),
        ),
        (
            "q1",
            "SELECT auction, bidder, 0.908 * price, date_time, extra FROM bid".into(),
        ),
        (
            "q2",
            "SELECT auction, price FROM bid WHERE mod(auction, 123) = 0".into(),
        ),
        (
            "q3",
            "SELECT p.name, p.city, p.state, a.id
             FROM auction a JOIN person p ON a.seller = p.id
             WHERE a.category = 10 AND p.state IN ('OR', 'ID', 'CA')"
                .into(),
        ),
        (
            "q4",
            "SELECT q.category, avg(q.final)
             FROM (SELECT max(b.price) AS final, a.category
                   FROM auction a JOIN bid b ON a.id = b.auction
                   WHERE b.date_time BETWEEN a.date_time AND a.expires
                   GROUP BY a.id, a.category) q
             GROUP BY q.category"
                .into(),
        ),
        (
            // HOP(slide 2 s, size 10 s): a row is in the 5 windows starting at its 2 s
            // window's start and the 4 before.
            "q5",
            format!(
                "WITH hop AS (
                   SELECT b.auction, {start} - g.i * INTERVAL '2 seconds' AS starttime
                   FROM bid b CROSS JOIN generate_series(0, 4) AS g(i)
                 ), counts AS (
                   SELECT auction, starttime, count(*) AS num FROM hop GROUP BY auction, starttime
                 )
                 SELECT c.auction, c.num
                 FROM counts c
                 JOIN (SELECT starttime, max(num) AS maxn FROM counts GROUP BY starttime) m
                   ON c.starttime = m.starttime AND c.num >= m.maxn",
                start = window_start("b.date_time", 2)
            ),
        ),
        (
            "q7",
            format!(
                "SELECT b.auction, b.price, b.bidder, b.date_time, b.extra
                 FROM bid b
                 JOIN (SELECT max(price) AS maxprice, {start} + INTERVAL '10 seconds' AS window_end
                       FROM bid GROUP BY {start}) b1
                   ON b.price = b1.maxprice
                 WHERE b.date_time BETWEEN b1.window_end - INTERVAL '10 seconds' AND b1.window_end",
                start = window_start("date_time", 10)
            ),
        ),
        (
            "q8",
            format!(
                "SELECT p.id, p.name, p.starttime
                 FROM (SELECT id, name, {pstart} AS starttime FROM person GROUP BY 1, 2, 3) p
                 JOIN (SELECT seller, {astart} AS starttime FROM auction GROUP BY 1, 2) a
                   ON p.id = a.seller AND p.starttime = a.starttime",
                pstart = window_start("date_time", 10),
                astart = window_start("date_time", 10)
            ),
        ),
        (
            "q9",
            "SELECT id, item_name, description, initial_bid, reserve, date_time, expires,
                    seller, category, extra, auction, bidder, price, bid_date_time, bid_extra
             FROM (SELECT a.*, b.auction, b.bidder, b.price, b.date_time AS bid_date_time,
                          b.extra AS bid_extra,
                          row_number() OVER (PARTITION BY a.id
                              ORDER BY b.price DESC, b.date_time, b.bidder, b.channel, b.url, b.extra) AS rownum
                   FROM auction a JOIN bid b ON a.id = b.auction
                   WHERE b.date_time BETWEEN a.date_time AND a.expires) s
             WHERE rownum <= 1"
                .into(),
        ),
        (
            "q18",
            "SELECT auction, bidder, price, channel, url, date_time, extra
             FROM (SELECT *, row_number() OVER (PARTITION BY bidder, auction
                       ORDER BY date_time DESC, auction, bidder, price, channel, url, extra) AS rank_number
                   FROM bid) s
             WHERE rank_number <= 1"
                .into(),
        ),
        (
            "q19",
            "SELECT * FROM
               (SELECT *, row_number() OVER (PARTITION BY auction
                    ORDER BY price DESC, auction, bidder, price, channel, url, date_time, extra) AS rank_number
                FROM bid) s
             WHERE rank_number <= 10"
                .into(),
        ),
        (
            "q20",
            "SELECT b.auction, b.bidder, b.price, b.channel, b.url, b.date_time, b.extra,
                    a.item_name, a.description, a.initial_bid, a.reserve, a.date_time, a.expires,
                    a.seller, a.category, a.extra
             FROM bid b JOIN auction a ON b.auction = a.id
             WHERE a.category = 10"
                .into(),
        ),
    ]
}

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

fn run_nexmark_oracle(workers: usize) {
    let started = Instant::now();
    let mut pg = pg_client();
    let schema = format!("laaster_nexmark_{}_{workers}", std::process::id());
    load_postgres(&mut pg, &schema);
    let loaded = started.elapsed();

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
    // The source is streamed (nothing kept): views over it see every event.
    for table in ["person", "auction", "bid"] {
        session
            .execute(&format!(
                "CREATE MATERIALIZED VIEW all_{table} AS SELECT * FROM {table}"
            ))
            .unwrap_or_else(|e| panic!("laaster: view over {table}: {e}"));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = session.source_status("datagen").expect("source status");
        if status.done {
            assert_eq!(status.emitted, EVENTS, "events produced by the source");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nexmark source did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let ingested = started.elapsed();

    // The source must produce exactly the events loaded into PostgreSQL.
    for table in ["person", "auction", "bid"] {
        let sql = format!("SELECT * FROM {table}");
        let view = format!("SELECT * FROM all_{table}");
        if let Some(difference) = diff(&laaster_rows(&mut session, &view), &pg_rows(&mut pg, &sql))
        {
            panic!(
                "the nexmark source's {table} events differ from the generator's (workers={workers}): {difference}"
            );
        }
    }
    let mut failures = Vec::new();
    let mut checked = Vec::new();
    for ((query, pg_sql), sink) in queries.iter().zip(&sinks) {
        let expected = pg_rows(&mut pg, pg_sql);
        assert!(
            !expected.is_empty(),
            "{query}: PostgreSQL's result is empty, so the comparison would prove nothing"
        );
        let actual = laaster_rows(&mut session, &format!("SELECT * FROM {sink}"));
        checked.push(format!("{query}: {} rows", expected.values().sum::<i64>()));
        if let Some(difference) = diff(&actual, &expected) {
            failures.push(format!("{query} (view {sink}): {difference}"));
        }
    }
    pg.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .ok();
    eprintln!(
        "nexmark oracle, {EVENTS} events, workers={workers}: PostgreSQL loaded in {:.1?}, Laaster done at {:.1?}, compared at {:.1?}; {}",
        loaded,
        ingested,
        started.elapsed(),
        checked.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} Nexmark queries differ from PostgreSQL ({EVENTS} events, seed {SEED}, workers={workers}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn nexmark_matches_postgres_one_worker() {
    run_nexmark_oracle(1);
}

#[test]
fn nexmark_matches_postgres_two_workers() {
    run_nexmark_oracle(2);
}
