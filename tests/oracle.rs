//! Incremental results against an oracle: PostgreSQL recomputes every query from
//! scratch after each random batch of inserts, updates and deletes; every Laaster
//! materialized view must equal it — read directly, and rebuilt from the view's change
//! feed up to the read timestamp — with 1 and with 2 workers.
//!
//! Needs the local PostgreSQL (127.0.0.1:5432, user postgres, database test; override
//! with LAASTER_TEST_PG). It fails, rather than skips, when PostgreSQL is unreachable.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use laaster_engine::{Engine, EngineConfig, ExecuteResult, SubscribeEvent, Subscription};
use laaster_repr::strconv::format_datum;
use postgres::{Client, NoTls, SimpleQueryMessage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Query shapes: (view name, query). Each is valid in both engines and deterministic.
const QUERIES: &[(&str, &str)] = &[
    ("filter", "SELECT a, b, c FROM t1 WHERE b > 2 OR c = 'x'"),
    (
        "inner_join",
        "SELECT t1.a, t1.b, t2.d FROM t1 JOIN t2 ON t1.a = t2.a",
    ),
    (
        "left_join",
        "SELECT t1.a, t1.c, t2.d FROM t1 LEFT JOIN t2 ON t1.a = t2.a AND t2.d > 1",
    ),
    (
        "full_join",
        "SELECT t1.b, t2.a, t2.d FROM t1 FULL OUTER JOIN t2 ON t1.b = t2.a",
    ),
    (
        "non_equi_join",
        "SELECT t1.a, t2.d FROM t1 JOIN t2 ON t1.b < t2.d AND t1.a = t2.a",
    ),
    (
        "aggregate",
        "SELECT a, count(*) AS n, count(b) AS nb, sum(b) AS s, min(b) AS lo, max(c) AS hi FROM t1 GROUP BY a",
    ),
    (
        "global_aggregate",
        "SELECT count(*) AS n, sum(b) AS s, min(c) AS lo FROM t1",
    ),
    (
        "grouped_having",
        "SELECT c, sum(b) AS s FROM t1 GROUP BY c HAVING count(*) > 1",
    ),
    ("distinct", "SELECT DISTINCT a, c FROM t1"),
    (
        "count_distinct",
        "SELECT a, count(DISTINCT b) AS nb FROM t1 GROUP BY a",
    ),
    (
        "top_n",
        "SELECT a, b, c FROM t1 ORDER BY b DESC NULLS LAST, a, c LIMIT 3",
    ),
    (
        "top_n_per_group",
        "SELECT a, b, c FROM (SELECT a, b, c, row_number() OVER (PARTITION BY a ORDER BY b, c) AS rn FROM t1) s WHERE rn <= 2",
    ),
    (
        "in_subquery",
        "SELECT a, b FROM t1 WHERE a IN (SELECT d FROM t2)",
    ),
    (
        "not_in_subquery",
        "SELECT a, b FROM t1 WHERE b NOT IN (SELECT d FROM t2 WHERE d IS NOT NULL)",
    ),
    (
        "exists_correlated",
        "SELECT a, c FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a AND t2.d > t1.b)",
    ),
    (
        "not_exists_correlated",
        "SELECT a, c FROM t1 WHERE NOT EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a)",
    ),
    (
        "scalar_correlated",
        "SELECT a, b, (SELECT count(*) FROM t2 WHERE t2.a = t1.a) AS n FROM t1",
    ),
    ("union", "SELECT a FROM t1 UNION SELECT d FROM t2"),
    ("except_all", "SELECT a FROM t1 EXCEPT ALL SELECT a FROM t2"),
];

fn pg_client() -> Client {
    let url = std::env::var("LAASTER_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_string());
    Client::connect(&url, NoTls).unwrap_or_else(|e| {
        panic!("the oracle test needs PostgreSQL at `{url}` (set LAASTER_TEST_PG): {e}")
    })
}

type Multiset = BTreeMap<Vec<String>, i64>;

fn pg_rows(client: &mut Client, sql: &str) -> Multiset {
    let mut out = Multiset::new();
    for message in client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
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

fn laaster_rows(session: &mut laaster_engine::Session, sql: &str) -> (Multiset, u64) {
    let results = session
        .execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
        panic!("{sql}: expected rows");
    };
    let mut out = Multiset::new();
    for row in rows.to_text() {
        *out.entry(row).or_insert(0) += 1;
    }
    (out, rows.timestamp)
}

/// Applies a subscription's events until its progress passes `timestamp`.
fn catch_up(feed: &Subscription, state: &mut Multiset, progress: &mut u64, timestamp: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        assert!(
            !remaining.is_zero(),
            "subscription did not pass {timestamp}"
        );
        match feed.recv_timeout(remaining) {
            Ok(Some(SubscribeEvent::Updates(updates))) => {
                for (row, time, diff) in updates {
                    assert!(
                        time >= *progress,
                        "update at {time} after progress mark {progress}"
                    );
                    let key: Vec<String> = row.iter().map(format_datum).collect();
                    let count = state.entry(key.clone()).or_insert(0);
                    *count += diff;
                    if *count == 0 {
                        state.remove(&key);
                    }
                }
            }
            Ok(Some(SubscribeEvent::Progress(upper))) => {
                assert!(
                    upper > *progress,
                    "progress went back from {progress} to {upper}"
                );
                *progress = upper;
                if upper > timestamp {
                    return;
                }
            }
            Ok(None) => {}
            Ok(Some(SubscribeEvent::Error(e))) => panic!("subscription failed: {e}"),
            Err(ended) => panic!("subscription: {ended}"),
        }
    }
}

/// One random write, as SQL valid in both engines.
fn random_write(rng: &mut StdRng) -> String {
    let small = |rng: &mut StdRng| -> String {
        if rng.random_ratio(1, 8) {
            "NULL".to_string()
        } else {
            rng.random_range(0..5).to_string()
        }
    };
    let text = |rng: &mut StdRng| -> String {
        ["'x'", "'y'", "'z'", "NULL"][rng.random_range(0..4)].to_string()
    };
    match rng.random_range(0..10) {
        0..=4 => {
            let rows: Vec<String> = (0..rng.random_range(1..5))
                .map(|_| format!("({}, {}, {})", small(rng), small(rng), text(rng)))
                .collect();
            format!("INSERT INTO t1 VALUES {}", rows.join(", "))
        }
        5 | 6 => {
            let rows: Vec<String> = (0..rng.random_range(1..4))
                .map(|_| format!("({}, {})", small(rng), small(rng)))
                .collect();
            format!("INSERT INTO t2 VALUES {}", rows.join(", "))
        }
        7 => format!(
            "DELETE FROM t1 WHERE a = {} AND b >= {}",
            rng.random_range(0..5),
            rng.random_range(0..5)
        ),
        8 => format!("DELETE FROM t2 WHERE d = {}", rng.random_range(0..5)),
        _ => format!(
            "UPDATE t1 SET b = b + 1 WHERE a = {}",
            rng.random_range(0..5)
        ),
    }
}

fn run_oracle(workers: usize, seed: u64, steps: usize) {
    let mut pg = pg_client();
    let schema = format!("laaster_oracle_{}_{workers}", std::process::id());
    pg.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema};
         CREATE TABLE t1 (a INT, b INT, c TEXT); CREATE TABLE t2 (a INT, d INT);"
    ))
    .expect("prepare PostgreSQL schema");

    let engine = Engine::start(EngineConfig {
        workers,
        ..EngineConfig::default()
    })
    .expect("engine starts");
    let mut session = engine.session();
    session
        .execute("CREATE TABLE t1 (a INT, b INT, c TEXT); CREATE TABLE t2 (a INT, d INT);")
        .expect("create tables");
    for (name, query) in QUERIES {
        session
            .execute(&format!("CREATE MATERIALIZED VIEW {name} AS {query}"))
            .unwrap_or_else(|e| panic!("view {name}: {e}"));
    }
    let subscribed = [
        "aggregate",
        "left_join",
        "top_n_per_group",
        "scalar_correlated",
    ];
    let mut feeds: Vec<(&str, Subscription, Multiset, u64)> = subscribed
        .iter()
        .map(|name| {
            let mut results = session
                .execute(&format!("SUBSCRIBE TO {name}"))
                .expect("subscribe");
            let Some(ExecuteResult::Subscription(feed)) = results.pop() else {
                panic!("expected a subscription");
            };
            (*name, feed, Multiset::new(), 0)
        })
        .collect();

    let mut rng = StdRng::seed_from_u64(seed);
    for step in 0..steps {
        let batch: Vec<String> = (0..rng.random_range(1..6))
            .map(|_| random_write(&mut rng))
            .collect();
        for write in &batch {
            pg.batch_execute(write)
                .unwrap_or_else(|e| panic!("postgres {write}: {e}"));
            session
                .execute(write)
                .unwrap_or_else(|e| panic!("laaster {write}: {e}"));
        }
        for (name, query) in QUERIES {
            let expected = pg_rows(&mut pg, query);
            let (actual, timestamp) = laaster_rows(&mut session, &format!("SELECT * FROM {name}"));
            assert_eq!(
                actual, expected,
                "view {name} differs from PostgreSQL after step {step} (workers={workers}, seed={seed}); batch: {batch:?}"
            );
            if let Some((_, feed, state, progress)) =
                feeds.iter_mut().find(|(n, _, _, _)| n == name)
            {
                catch_up(feed, state, progress, timestamp);
                assert_eq!(
                    *state, expected,
                    "change feed of {name} differs from PostgreSQL at step {step} (workers={workers}, seed={seed})"
                );
            }
        }
    }
    drop(feeds);
    pg.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .ok();
}

#[test]
fn views_match_postgres_one_worker() {
    run_oracle(1, 0x5eed_0001, 25);
}

#[test]
fn views_match_postgres_two_workers() {
    run_oracle(2, 0x5eed_0002, 25);
}
