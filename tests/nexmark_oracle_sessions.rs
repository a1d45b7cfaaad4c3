//! Nexmark q11 (SESSION windows) and q14 (the CountChar UDF) against PostgreSQL, as
//! tests/nexmark_oracle.rs does for the other queries (same events, same loading; the
//! helpers are copied from there): sessions in PostgreSQL are gaps-and-islands over
//! window functions, count_char is length arithmetic. Also: sink tables count what
//! they were sent, checked once their frontier passed the writes.
//!
//! Needs the local PostgreSQL (127.0.0.1:5432, user postgres, database test; override
//! with LAASTER_TEST_PG).

use std::time::{Duration, Instant};

use laaster_connectors::nexmark::queries::statements;
use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session};

mod nexmark_harness;
use nexmark_harness::*;

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
