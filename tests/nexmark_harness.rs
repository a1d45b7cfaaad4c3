//! What the Nexmark oracle tests share: the generated events loaded into PostgreSQL,
//! Flink's query texts run on Laaster over the `nexmark` source, and multiset comparison.
//! Included by `nexmark_oracle.rs` and `nexmark_oracle_sessions.rs` as a module.

#![allow(dead_code)]

use laaster_connectors::nexmark::queries::{Placeholders, queries_dir, rewrite_query};
use laaster_connectors::nexmark::{Event, NexmarkConfig, NexmarkStream, json::format_timestamp};
use laaster_engine::{ExecuteResult, Session};
use postgres::{Client, NoTls, SimpleQueryMessage};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Events in the stream.
pub const EVENTS: u64 = 20_000;
/// Events per second of event time: 5 ms apart, so the stream spans 100 s (ten 10 s
/// tumbling windows, ~50 hopping ones) and every event has its own millisecond.
pub const TPS: u64 = 200;
/// The connector's `seed` option; not the default, so a seed that does not reach the
/// source shows up as different events.
pub const SEED: u64 = 0x5eed_2024;

/// PostgreSQL's tables, in the column order of ddl_views.sql. Text is `COLLATE "C"`
/// (byte order, as Laaster compares text) so that tie-breaks agree.
pub const PG_TABLES: &str = r#"
CREATE TABLE person (id BIGINT, name TEXT COLLATE "C", email_address TEXT COLLATE "C",
    credit_card TEXT COLLATE "C", city TEXT COLLATE "C", state TEXT COLLATE "C",
    date_time TIMESTAMP(3), extra TEXT COLLATE "C");
CREATE TABLE auction (id BIGINT, item_name TEXT COLLATE "C", description TEXT COLLATE "C",
    initial_bid BIGINT, reserve BIGINT, date_time TIMESTAMP(3), expires TIMESTAMP(3),
    seller BIGINT, category BIGINT, extra TEXT COLLATE "C");
CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT COLLATE "C",
    url TEXT COLLATE "C", date_time TIMESTAMP(3), extra TEXT COLLATE "C");
"#;

pub fn read_query_file(name: &str) -> String {
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
pub fn nexmark_options() -> Vec<(String, String)> {
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
pub fn substitute(text: &str) -> String {
    Placeholders::new(EVENTS, TPS).substitute(text)
}

/// ddl_gen.sql, substituted, with the `seed` option added to the source.
pub fn source_ddl() -> String {
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
pub fn rewrite(text: &str) -> (Vec<String>, String) {
    let rewritten = rewrite_query(text);
    let sink = rewritten.sink.expect("the query file has an INSERT INTO");
    (rewritten.statements, sink)
}

pub fn pg_client() -> Client {
    let url = std::env::var("LAASTER_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_string());
    Client::connect(&url, NoTls).unwrap_or_else(|e| {
        panic!("the Nexmark oracle test needs PostgreSQL at `{url}` (set LAASTER_TEST_PG): {e}")
    })
}

/// A value in COPY's text format.
pub fn copy_text(value: &str) -> String {
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
pub fn load_postgres(pg: &mut Client, schema: &str) {
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

pub type Multiset = BTreeMap<Vec<String>, i64>;

pub fn pg_rows(client: &mut Client, sql: &str) -> Multiset {
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

pub fn laaster_rows(session: &mut Session, sql: &str) -> Multiset {
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
pub fn diff(actual: &Multiset, expected: &Multiset) -> Option<String> {
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
