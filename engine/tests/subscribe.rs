//! SUBSCRIBE semantics through the public API: a consolidated snapshot at the start
//! time, then changes in time order with retractions first, then progress marks that
//! only move forward; `snapshot = false` skips the snapshot; a runtime error ends the feed.

use std::time::Duration;

use laaster_engine::{Engine, EngineConfig, ExecuteResult, SubscribeEvent, Subscription};
use laaster_repr::strconv::format_datum;

fn subscribe(session: &mut laaster_engine::Session, sql: &str) -> Subscription {
    let mut results = session.execute(sql).expect("subscribe");
    match results.pop() {
        Some(ExecuteResult::Subscription(feed)) => feed,
        other => panic!("expected a subscription, got {other:?}"),
    }
}

/// Collects `(text row, time, diff)` until `n` updates arrived, checking that progress
/// only moves forward and that every update is at or after the last progress mark.
fn collect(feed: &Subscription, n: usize) -> Vec<(Vec<String>, u64, i64)> {
    let mut out = Vec::new();
    let mut progress = 0;
    while out.len() < n {
        match feed
            .recv_timeout(Duration::from_secs(20))
            .expect("feed open")
        {
            Some(SubscribeEvent::Updates(updates)) => {
                for (row, time, diff) in updates {
                    assert!(
                        time >= progress,
                        "update at {time} after progress {progress}"
                    );
                    out.push((row.iter().map(format_datum).collect(), time, diff));
                }
            }
            Some(SubscribeEvent::Progress(t)) => {
                assert!(t > progress, "progress went from {progress} to {t}");
                progress = t;
            }
            Some(SubscribeEvent::Error(e)) => panic!("{e}"),
            None => panic!("no event within 20 s"),
        }
    }
    out
}

#[test]
fn snapshot_then_changes_in_order() {
    for workers in [1, 2] {
        let engine = Engine::start(EngineConfig {
            workers,
            ..EngineConfig::default()
        })
        .unwrap();
        let mut session = engine.session();
        session
            .execute("CREATE TABLE t (k TEXT, v INT); INSERT INTO t VALUES ('a', 1), ('b', 2); UPDATE t SET v = 3 WHERE k = 'a'")
            .unwrap();
        let feed = subscribe(&mut session, "SUBSCRIBE TO (SELECT k, v FROM t)");
        let snapshot = collect(&feed, 2);
        // Exactly the state at the start: the UPDATE's retraction and insertion cancelled.
        assert!(
            snapshot
                .iter()
                .all(|(_, time, diff)| *time == feed.as_of && *diff == 1)
        );
        let mut rows: Vec<_> = snapshot.iter().map(|(r, _, _)| r.clone()).collect();
        rows.sort();
        assert_eq!(
            rows,
            vec![vec!["a", "3"], vec!["b", "2"]],
            "workers={workers}"
        );

        session
            .execute("UPDATE t SET v = v + 10 WHERE k = 'b'")
            .unwrap();
        let change = collect(&feed, 2);
        assert_eq!(change[0].1, change[1].1, "an update is one time");
        assert!(change[0].1 > feed.as_of);
        assert_eq!(
            (change[0].0.clone(), change[0].2),
            (vec!["b".into(), "2".into()], -1),
            "retraction first"
        );
        assert_eq!(
            (change[1].0.clone(), change[1].2),
            (vec!["b".into(), "12".into()], 1)
        );
    }
}

#[test]
fn without_snapshot_only_changes_arrive() {
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute("CREATE TABLE t (v INT); INSERT INTO t VALUES (1); CREATE MATERIALIZED VIEW s AS SELECT sum(v) AS total FROM t")
        .unwrap();
    let feed = subscribe(&mut session, "SUBSCRIBE s WITH (snapshot = false)");
    session.execute("INSERT INTO t VALUES (5)").unwrap();
    let change = collect(&feed, 2);
    assert_eq!(change[0].0, vec!["1"]);
    assert_eq!(change[0].2, -1);
    assert_eq!(change[1].0, vec!["6"]);
    assert_eq!(change[1].2, 1);
}

#[test]
fn a_row_error_ends_the_feed_with_the_error() {
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute("CREATE TABLE t (a INT, b INT); INSERT INTO t VALUES (4, 2)")
        .unwrap();
    let feed = subscribe(&mut session, "SUBSCRIBE TO (SELECT a / b FROM t)");
    assert_eq!(collect(&feed, 1)[0].0, vec!["2"]);
    session.execute("INSERT INTO t VALUES (1, 0)").unwrap();
    loop {
        match feed
            .recv_timeout(Duration::from_secs(20))
            .expect("feed open")
        {
            Some(SubscribeEvent::Error(e)) => {
                assert_eq!(e.message, "division by zero");
                break;
            }
            Some(_) => {}
            None => panic!("no error within 20 s"),
        }
    }
    // The engine and other queries are unaffected.
    let results = session.execute("SELECT count(*) FROM t").unwrap();
    let ExecuteResult::Rows(rows) = &results[0] else {
        panic!()
    };
    assert_eq!(rows.to_text(), vec![vec!["2"]]);
}

fn read_timestamp(session: &mut laaster_engine::Session, sql: &str) -> u64 {
    let results = session.execute(sql).expect("read");
    let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
        panic!("rows")
    };
    rows.timestamp
}

#[test]
fn as_of_replays_history_within_retention() {
    let engine = Engine::start(EngineConfig {
        workers: 2,
        retain_history: Duration::from_secs(3600),
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute("CREATE TABLE t (v INT); INSERT INTO t VALUES (1)")
        .unwrap();
    let first = read_timestamp(&mut session, "SELECT count(*) FROM t");
    session.execute("INSERT INTO t VALUES (2)").unwrap();
    std::thread::sleep(Duration::from_millis(120));
    read_timestamp(&mut session, "SELECT count(*) FROM t");
    let feed = subscribe(
        &mut session,
        &format!("SUBSCRIBE TO (SELECT v FROM t) AS OF {first}"),
    );
    assert_eq!(feed.as_of, first);
    let updates = collect(&feed, 2);
    // The state as of `first`, then the later insert at its own, later time.
    assert_eq!(
        (updates[0].0.clone(), updates[0].1, updates[0].2),
        (vec!["1".to_string()], first, 1)
    );
    assert_eq!(updates[1].0, vec!["2"]);
    assert!(updates[1].1 > first);
}

#[test]
fn as_of_before_retained_history_is_refused() {
    let engine = Engine::start(EngineConfig {
        workers: 1,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute("CREATE TABLE t (v INT); INSERT INTO t VALUES (1)")
        .unwrap();
    let early = read_timestamp(&mut session, "SELECT count(*) FROM t");
    // Let time pass and compaction run (no history is retained by default).
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(60));
        session.execute("INSERT INTO t VALUES (2)").unwrap();
        read_timestamp(&mut session, "SELECT count(*) FROM t");
    }
    let error = session
        .execute(&format!("SUBSCRIBE TO t AS OF {early}"))
        .expect_err("too early");
    assert!(
        error
            .message
            .contains("earlier than the earliest readable time"),
        "{error}"
    );
    assert!(error.hint.is_some());
}

#[test]
fn global_aggregate_over_a_bounded_source_delivers_and_ends() {
    // The whole dataflow can be complete before the subscription's sinks first report
    // a frontier; that is the end of the feed, not "no frontier yet" (this hung).
    for workers in [1, 2] {
        let engine = Engine::start(EngineConfig {
            workers,
            ..EngineConfig::default()
        })
        .unwrap();
        let mut session = engine.session();
        session
            .execute(
                "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', \
                 'number-of-rows' = '1000', 'fields.id.kind' = 'sequence', \
                 'fields.id.start' = '1', 'fields.id.end' = '1000')",
            )
            .expect("source");
        let feed = subscribe(
            &mut session,
            "SUBSCRIBE TO (SELECT count(*), min(id), sum(id) FROM gen)",
        );
        let mut rows: Vec<(Vec<String>, i64)> = Vec::new();
        loop {
            match feed.recv_timeout(Duration::from_secs(20)) {
                Ok(Some(SubscribeEvent::Updates(updates))) => {
                    for (row, _, diff) in updates {
                        rows.push((row.iter().map(format_datum).collect(), diff));
                    }
                }
                Ok(Some(SubscribeEvent::Progress(_))) => {}
                Ok(Some(SubscribeEvent::Error(e))) => panic!("{e}"),
                Ok(None) => panic!("no event within 20 s (workers={workers}): {rows:?}"),
                Err(_) => break,
            }
        }
        let mut net: std::collections::BTreeMap<Vec<String>, i64> = Default::default();
        for (row, diff) in rows {
            *net.entry(row).or_default() += diff;
        }
        net.retain(|_, diff| *diff != 0);
        let final_rows: Vec<_> = net.into_iter().collect();
        assert_eq!(
            final_rows,
            vec![(
                vec!["1000".to_string(), "1".to_string(), "500500".to_string()],
                1
            )],
            "workers={workers}"
        );
    }
}
