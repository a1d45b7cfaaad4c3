//! The window aggregate (state freed behind the watermark) against the ordinary reduce,
//! at every logical time; `EMIT ON WINDOW CLOSE`; and the state counters.
//!
//! The tests share the process-wide window state counters, so they run one at a time.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use laaster_dataflow::render::window_agg::window_state_metrics;
use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session, SubscribeEvent};

static SERIAL: Mutex<()> = Mutex::new(());

/// Nexmark's source DDL (ddl_gen.sql's columns), bounded, 1,000 events per second of
/// event time, with extra options.
fn source_ddl(name: &str, events: u64, extra: &str) -> String {
    format!(
        "CREATE TABLE {name} (
            event_type INT,
            person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime` WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END,
            WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '1' SECOND
        ) WITH ('connector' = 'nexmark', 'events.num' = '{events}', 'first-event.rate' = '1000'{extra});
        CREATE VIEW bid AS SELECT bid.auction AS auction, bid.bidder AS bidder, bid.price AS price, `dateTime` FROM {name} WHERE event_type = 2"
    )
}

/// Per auction and 2-second window hopping by 1 second: every aggregate the window
/// operator implements. `extra` adds aggregates (one it does not implement forces the
/// ordinary reduce).
fn windowed_query(extra: &str) -> String {
    format!(
        "SELECT auction, window_start, window_end, count(*) AS bids, sum(price) AS total,
                min(price) AS low, max(price) AS high, avg(price) AS mean,
                count(DISTINCT bidder) AS bidders, bool_or(price > 1000000) AS big{extra}
         FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND, INTERVAL '2' SECOND))
         GROUP BY auction, window_start, window_end"
    )
}

fn engine(workers: usize) -> (Engine, Session) {
    let engine = Engine::start(EngineConfig {
        workers,
        ..EngineConfig::default()
    })
    .expect("engine starts");
    let session = engine.session();
    (engine, session)
}

fn rows(session: &mut Session, sql: &str) -> Vec<Vec<String>> {
    let results = session
        .execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
        panic!("{sql}: expected rows");
    };
    rows.to_text()
}

fn explain(session: &mut Session, query: &str) -> String {
    rows(session, &format!("EXPLAIN DATAFLOW PLAN FOR {query}"))
        .into_iter()
        .map(|r| r.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every update of a subscription until its input is complete: (row, time, diff).
fn drain(session: &mut Session, sql: &str) -> Vec<(Vec<String>, u64, i64)> {
    let results = session
        .execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let Some(ExecuteResult::Subscription(subscription)) = results.into_iter().next() else {
        panic!("{sql}: expected a subscription");
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut updates = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "{sql}: the subscription did not end"
        );
        match subscription.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(SubscribeEvent::Updates(batch))) => {
                for (row, time, diff) in batch {
                    let text = row
                        .iter()
                        .map(laaster_repr::strconv::format_datum)
                        .collect();
                    updates.push((text, time, diff));
                }
            }
            Ok(Some(SubscribeEvent::Error(error))) => panic!("{sql}: {error}"),
            Ok(Some(_)) | Ok(None) => {}
            Err(_) => return updates,
        }
    }
}

fn wait_done(session: &mut Session, source: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !session.source_status(source).expect("status").done {
        assert!(Instant::now() < deadline, "source {source} did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn window_aggregate_matches_reduce(workers: usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_engine, mut session) = engine(workers);
    session
        .execute(&source_ddl("events", 30_000, ""))
        .expect("source");
    let windowed = windowed_query("");
    // A float sum is not implemented by the window operator: the ordinary reduce.
    let reduced = windowed_query(", sum(price::double precision) AS f");
    assert!(
        explain(&mut session, &windowed).contains("WindowAggregate"),
        "{}",
        explain(&mut session, &windowed)
    );
    let plan = explain(&mut session, &reduced);
    assert!(
        plan.contains("Reduce") && !plan.contains("WindowAggregate"),
        "{plan}"
    );
    let columns = "auction, window_start, window_end, bids, total, low, high, mean, bidders, big";
    // One dataflow, one set of readers: both sides see the same rows at the same
    // logical times, so their difference must be empty at every time.
    let difference = format!(
        "SUBSCRIBE TO (
           SELECT * FROM (({windowed}) EXCEPT ALL (SELECT {columns} FROM ({reduced}) r)) a
           UNION ALL
           SELECT * FROM ((SELECT {columns} FROM ({reduced}) r) EXCEPT ALL ({windowed})) b)"
    );
    let updates = drain(&mut session, &difference);
    assert!(
        updates.is_empty(),
        "window aggregate and reduce differ (workers={workers}): {:?}",
        &updates[..updates.len().min(5)]
    );
    // And the result is not trivially empty: the windowed view has every window.
    session
        .execute(&format!("CREATE MATERIALIZED VIEW w AS {windowed}"))
        .expect("view");
    session
        .execute("CREATE MATERIALIZED VIEW n AS SELECT count(*) FROM bid")
        .expect("view");
    wait_done(&mut session, "events");
    let bids: i64 = rows(&mut session, "SELECT * FROM n")[0][0].parse().unwrap();
    // Each bid is in two hopping windows.
    let counted: i64 = rows(&mut session, "SELECT sum(bids) FROM w")[0][0]
        .parse()
        .unwrap();
    assert!(bids > 25_000, "bids: {bids}");
    assert_eq!(counted, 2 * bids, "workers={workers}");
    let metrics = window_state_metrics();
    assert_eq!(metrics.late_rows, 0, "{metrics:?}");
}

#[test]
fn window_aggregate_matches_reduce_one_worker() {
    window_aggregate_matches_reduce(1);
}

#[test]
fn window_aggregate_matches_reduce_two_workers() {
    window_aggregate_matches_reduce(2);
}

/// Per window: the final count (default emission) and what EMIT ON WINDOW CLOSE emitted.
fn emit_on_window_close(workers: usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_engine, mut session) = engine(workers);
    session
        .execute(&source_ddl("events", 20_000, ""))
        .expect("source");
    let query = "SELECT window_start, window_end, count(*) AS bids, max(price) AS high
                 FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
                 GROUP BY window_start, window_end";
    session
        .execute(&format!(
            "CREATE MATERIALIZED VIEW closed AS {query} EMIT ON WINDOW CLOSE"
        ))
        .expect("EMIT ON WINDOW CLOSE view");
    let emitted = drain(
        &mut session,
        &format!("SUBSCRIBE TO ({query}) EMIT ON WINDOW CLOSE"),
    );
    session
        .execute(&format!("CREATE MATERIALIZED VIEW partial AS {query}"))
        .expect("default view");
    wait_done(&mut session, "events");
    let finals: BTreeMap<Vec<String>, i64> = rows(&mut session, "SELECT * FROM partial")
        .into_iter()
        .map(|r| (r, 1))
        .collect();
    // 20,000 events over 20 s of event time: 10 two-second windows.
    assert_eq!(finals.len(), 10, "{finals:?}");
    let mut seen: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for (row, _time, diff) in &emitted {
        assert_eq!(*diff, 1, "append-only: {row:?}");
        *seen.entry(row.clone()).or_insert(0) += diff;
    }
    // Every window once, with its final value: nothing partial, nothing lost at the end.
    assert_eq!(seen, finals, "workers={workers}");
    let view: BTreeMap<Vec<String>, i64> = rows(&mut session, "SELECT * FROM closed")
        .into_iter()
        .map(|r| (r, 1))
        .collect();
    assert_eq!(view, finals, "workers={workers}");
    // Windows were emitted in end order, as the watermark passed them.
    let mut by_time = emitted.clone();
    by_time.sort_by_key(|(_, time, _)| *time);
    let ends: Vec<&String> = by_time.iter().map(|(row, _, _)| &row[1]).collect();
    let mut sorted = ends.clone();
    sorted.sort();
    assert_eq!(ends, sorted);
    let error = session
        .execute("CREATE MATERIALIZED VIEW bad AS SELECT auction, count(*) FROM bid GROUP BY auction EMIT ON WINDOW CLOSE")
        .expect_err("not a window aggregation");
    assert!(error.message.contains("EMIT ON WINDOW CLOSE"), "{error}");
}

#[test]
fn emit_on_window_close_one_worker() {
    emit_on_window_close(1);
}

#[test]
fn emit_on_window_close_two_workers() {
    emit_on_window_close(2);
}

#[test]
fn window_state_is_freed_behind_the_watermark() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = window_state_metrics();
    let (_engine, mut session) = engine(2);
    session
        .execute(&source_ddl("events", 100_000, ""))
        .expect("source");
    session
        .execute(&format!(
            "CREATE MATERIALIZED VIEW w AS {}",
            windowed_query("")
        ))
        .expect("view");
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !session.source_status("events").expect("status").done {
        assert!(Instant::now() < deadline, "source did not finish");
        peak = peak.max(window_state_metrics().live_groups - before.live_groups);
        std::thread::sleep(Duration::from_millis(1));
    }
    let groups: i64 = rows(&mut session, "SELECT count(*) FROM w")[0][0]
        .parse()
        .unwrap();
    let after = window_state_metrics();
    // Every window closed at the end of the bounded stream, and all state is gone.
    assert_eq!(after.live_groups, before.live_groups, "{after:?}");
    assert_eq!(
        after.closed_groups - before.closed_groups,
        groups as u64,
        "{after:?}"
    );
    // 100 s of event time in 2 s windows: only windows between the combined watermark
    // and the furthest reader are open. On a loaded machine one worker's reader can run
    // well ahead of the other's (the combined watermark is the slower one's), so the
    // bound is loose: state must stay well below the total, not at a few windows.
    assert!(
        peak * 2 < groups,
        "peak open groups {peak} of {groups} in total: state is not freed as windows close"
    );
}
