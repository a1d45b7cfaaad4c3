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

use laaster_connectors::nexmark::queries::statements;
use std::time::{Duration, Instant};

use laaster_engine::{Engine, EngineConfig};

mod nexmark_harness;
use nexmark_harness::*;

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
            // Per auction and day: every aggregate on the monotonic reduce.
            "q17",
            "SELECT auction, to_char(date_time, 'YYYY-MM-DD') AS day, count(*) AS total_bids,
                    count(*) FILTER (WHERE price < 10000) AS rank1_bids,
                    count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
                    count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
                    min(price) AS min_price, max(price) AS max_price, avg(price) AS avg_price,
                    sum(price) AS sum_price
             FROM bid GROUP BY auction, to_char(date_time, 'YYYY-MM-DD')"
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
