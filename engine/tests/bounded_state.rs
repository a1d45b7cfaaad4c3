//! Operators that free state behind the watermark — interval and window joins, window
//! Top-N — against the ordinary operators over the same events, at every logical time,
//! at 1 and 2 workers; and their state counters.
//!
//! The oracle is the ordinary plan of the same query: one input is read through a
//! `UNION ALL` with an empty branch, which the planner does not see through, so it keeps
//! the plain `Join` or `Window` (all rows, no eviction). Both run in one dataflow on one set of
//! readers, so they see the same rows at the same logical times and their symmetric
//! difference must be empty at every time.
//!
//! The tests share the process-wide state counters, so they run one at a time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use laaster_dataflow::render::interval_join::interval_join_metrics;
use laaster_dataflow::render::session::session_metrics;
use laaster_dataflow::render::window_topk::window_top_n_metrics;
use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session, SubscribeEvent};

static SERIAL: Mutex<()> = Mutex::new(());

/// Nexmark's source DDL (ddl_gen.sql's columns), bounded, 1,000 events per second of
/// event time, and the views of ddl_views.sql.
fn source_ddl(events: u64) -> String {
    format!(
        "CREATE TABLE events (
            event_type INT,
            person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime` WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END,
            WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '1' SECOND
        ) WITH ('connector' = 'nexmark', 'events.num' = '{events}', 'first-event.rate' = '1000');
        CREATE VIEW bid AS SELECT bid.auction AS auction, bid.bidder AS bidder, bid.price AS price, `dateTime` FROM events WHERE event_type = 2;
        CREATE VIEW person AS SELECT person.id AS id, person.name AS name, `dateTime` FROM events WHERE event_type = 0;
        CREATE VIEW auction AS SELECT auction.id AS id, auction.seller AS seller, `dateTime` FROM events WHERE event_type = 1;
        CREATE VIEW bid_plain AS SELECT * FROM bid UNION ALL SELECT * FROM bid WHERE price < 0;
        CREATE VIEW person_plain AS SELECT * FROM person UNION ALL SELECT * FROM person WHERE id < 0"
    )
}

/// Nexmark q7 (ddl of flink-queries/q7.sql): bids at their window's highest price, the
/// window aggregate's output joined back to the bids by an interval on event time.
fn q7(bids: &str) -> String {
    format!(
        "SELECT B.auction, B.price, B.bidder, B.`dateTime`
         FROM {bids} B
         JOIN (
           SELECT MAX(price) AS maxprice, window_end AS `dateTime`
           FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
           GROUP BY window_start, window_end
         ) B1
         ON B.price = B1.maxprice
         WHERE B.`dateTime` BETWEEN B1.`dateTime` - INTERVAL '2' SECOND AND B1.`dateTime`"
    )
}

/// An interval join of two append-only inputs: bids on one auction within a second of
/// each other.
fn bids_close_in_time(bids: &str) -> String {
    format!(
        "SELECT a.auction, a.bidder, b.bidder AS other, a.`dateTime`, b.`dateTime` AS other_time
         FROM {bids} a JOIN bid b
         ON a.auction = b.auction
         AND a.`dateTime` BETWEEN b.`dateTime` - INTERVAL '1' SECOND AND b.`dateTime` + INTERVAL '0.5' SECOND"
    )
}

/// Nexmark q8 (flink-queries/q8.sql): people and sellers of the same 2-second window,
/// a window join of two window aggregates.
fn q8(persons: &str) -> String {
    format!(
        "SELECT P.id, P.name, P.starttime
         FROM (
           SELECT id, name, window_start AS starttime, window_end AS endtime
           FROM TABLE(TUMBLE(TABLE {persons}, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
           GROUP BY id, name, window_start, window_end
         ) P
         JOIN (
           SELECT seller, window_start AS starttime, window_end AS endtime
           FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
           GROUP BY seller, window_start, window_end
         ) A
         ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime"
    )
}

/// Flink's window join over window TVFs: bids of one auction in the same window.
fn window_join(bids: &str) -> String {
    format!(
        "SELECT L.auction, L.bidder, R.bidder AS other, L.window_start, L.window_end
         FROM TABLE(TUMBLE(TABLE {bids}, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND)) L
         JOIN TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND)) R
         ON L.window_start = R.window_start AND L.window_end = R.window_end AND L.auction = R.auction"
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
    let deadline = Instant::now() + Duration::from_secs(180);
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
    let deadline = Instant::now() + Duration::from_secs(180);
    while !session.source_status(source).expect("status").done {
        assert!(Instant::now() < deadline, "source {source} did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every update, at every time, of the rows in one query's result and not the other's
/// (both ways): empty exactly when the two agree at every time.
fn symmetric_difference(
    session: &mut Session,
    left: &str,
    right: &str,
) -> Vec<(Vec<String>, u64, i64)> {
    drain(
        session,
        &format!(
            "SUBSCRIBE TO (
               SELECT * FROM (({left}) EXCEPT ALL ({right})) a
               UNION ALL
               SELECT * FROM (({right}) EXCEPT ALL ({left})) b)"
        ),
    )
}

/// `query(evicting input)` against `query(plain input)`: the plans use `operator` and
/// `ordinary` (and not `operator`), their difference is empty at every time, and the
/// result is not.
fn matches_ordinary(
    workers: usize,
    events: u64,
    query: fn(&str) -> String,
    plain: &str,
    (operator, ordinary_operator): (&str, &str),
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = interval_join_metrics();
    let before_top_n = window_top_n_metrics();
    let before_sessions = session_metrics();
    let (_engine, mut session) = engine(workers);
    session.execute(&source_ddl(events)).expect("source");
    let evicting = query(plain.trim_end_matches("_plain"));
    let ordinary = query(plain);
    let plan = explain(&mut session, &evicting);
    assert!(plan.contains(operator), "{plan}");
    let plan = explain(&mut session, &ordinary);
    assert!(
        plan.contains(ordinary_operator) && !plan.contains(operator),
        "{plan}"
    );
    let updates = symmetric_difference(&mut session, &evicting, &ordinary);
    assert!(
        updates.is_empty(),
        "{operator} and {ordinary_operator} differ (workers={workers}): {:?}",
        &updates[..updates.len().min(5)]
    );
    session
        .execute(&format!("CREATE MATERIALIZED VIEW joined AS {evicting}"))
        .expect("view");
    wait_done(&mut session, "events");
    let count: i64 = rows(&mut session, "SELECT count(*) FROM joined")[0][0]
        .parse()
        .unwrap();
    assert!(
        count >= 5,
        "the result is not trivially empty: {count} rows"
    );
    if operator == "IntervalJoin" {
        let after = interval_join_metrics();
        assert_eq!(after.late_rows, before.late_rows, "{after:?}");
        assert!(after.freed_rows > before.freed_rows, "{after:?}");
    } else if operator == "EventTimeSessions" {
        let after = session_metrics();
        assert_eq!(after.late_rows, before_sessions.late_rows, "{after:?}");
        assert!(after.freed_rows > before_sessions.freed_rows, "{after:?}");
    } else {
        let after = window_top_n_metrics();
        assert_eq!(after.late_rows, before_top_n.late_rows, "{after:?}");
        assert!(
            after.closed_partitions > before_top_n.closed_partitions,
            "{after:?}"
        );
    }
}

const JOIN: (&str, &str) = ("IntervalJoin", "Join kind=");
const TOP_N: (&str, &str) = ("WindowTopN", "Window func=");
const SESSIONS: (&str, &str) = ("EventTimeSessions", "SessionWindows");

/// Each bidder's sessions of bids less than a second apart, every bid with its session.
fn bid_sessions(bids: &str) -> String {
    format!(
        "SELECT bidder, auction, price, window_start, window_end
         FROM TABLE(SESSION(TABLE {bids} PARTITION BY bidder, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND))"
    )
}

#[test]
fn session_windows_over_a_watermarked_source_match_the_ordinary_sessions() {
    matches_ordinary(1, 20_000, bid_sessions, "bid_plain", SESSIONS);
    matches_ordinary(2, 20_000, bid_sessions, "bid_plain", SESSIONS);
}

/// Nexmark q11's shape: each bidder's sessions of bids less than a second apart,
/// counted (over a watermarked source, rendered as the session counts operator).
fn bid_session_counts(bids: &str) -> String {
    format!(
        "SELECT B.bidder, count(*) AS bid_count,
                SESSION_START(B.`dateTime`, INTERVAL '1' SECOND) AS starttime,
                SESSION_END(B.`dateTime`, INTERVAL '1' SECOND) AS endtime
         FROM {bids} B
         GROUP BY B.bidder, SESSION(B.`dateTime`, INTERVAL '1' SECOND)"
    )
}

#[test]
fn session_counts_over_a_watermarked_source_match_the_ordinary_sessions() {
    matches_ordinary(1, 20_000, bid_session_counts, "bid_plain", SESSIONS);
    matches_ordinary(2, 20_000, bid_session_counts, "bid_plain", SESSIONS);
}

/// The 3 highest bids of each 2-second window (window Top-N over a window TVF).
fn top_bids(bids: &str) -> String {
    format!(
        "SELECT * FROM (
           SELECT auction, bidder, price, window_start, window_end,
                  ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY price DESC) AS rn
           FROM TABLE(TUMBLE(TABLE {bids}, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
         ) WHERE rn <= 3"
    )
}

/// The auctions with the most bids in each 2-second window, ties ranked together
/// (window Top-N over a window aggregate, whose rows change while the window is open).
fn top_auctions(bids: &str) -> String {
    format!(
        "SELECT * FROM (
           SELECT auction, bids, window_start, window_end,
                  RANK() OVER (PARTITION BY window_start, window_end ORDER BY bids DESC) AS r
           FROM (
             SELECT auction, window_start, window_end, count(*) AS bids
             FROM TABLE(TUMBLE(TABLE {bids}, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
             GROUP BY auction, window_start, window_end
           )
         ) WHERE r <= 2"
    )
}

#[test]
fn window_top_n_over_a_window_tvf_matches_the_window_function() {
    matches_ordinary(1, 20_000, top_bids, "bid_plain", TOP_N);
    matches_ordinary(2, 20_000, top_bids, "bid_plain", TOP_N);
}

#[test]
fn window_top_n_over_a_window_aggregate_matches_the_window_function() {
    matches_ordinary(1, 20_000, top_auctions, "bid_plain", TOP_N);
    matches_ordinary(2, 20_000, top_auctions, "bid_plain", TOP_N);
}

#[test]
fn q7_matches_the_ordinary_join_one_worker() {
    matches_ordinary(1, 20_000, q7, "bid_plain", JOIN);
}

#[test]
fn q7_matches_the_ordinary_join_two_workers() {
    matches_ordinary(2, 20_000, q7, "bid_plain", JOIN);
}

#[test]
fn interval_join_of_append_only_inputs_matches_the_ordinary_join() {
    matches_ordinary(1, 10_000, bids_close_in_time, "bid_plain", JOIN);
    matches_ordinary(2, 10_000, bids_close_in_time, "bid_plain", JOIN);
}

#[test]
fn q8_window_join_matches_the_ordinary_join() {
    matches_ordinary(1, 30_000, q8, "person_plain", JOIN);
    matches_ordinary(2, 30_000, q8, "person_plain", JOIN);
}

#[test]
fn window_join_of_window_tvfs_matches_the_ordinary_join() {
    matches_ordinary(1, 10_000, window_join, "bid_plain", JOIN);
    matches_ordinary(2, 10_000, window_join, "bid_plain", JOIN);
}

/// While a long stream runs, an interval join holds only the rows near the watermark;
/// when the bounded stream ends every row is freed.
#[test]
fn interval_join_state_stays_bounded() {
    // With 2 workers the combined watermark follows the slower reader; watermark
    // alignment (on by default for the nexmark connector) keeps the faster one within a
    // second of event time of it, so the held rows do not depend on scheduling.
    for workers in [1, 2] {
        interval_join_state_stays_bounded_with(workers);
    }
}

fn interval_join_state_stays_bounded_with(workers: usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = interval_join_metrics();
    let (_engine, mut session) = engine(workers);
    session.execute(&source_ddl(100_000)).expect("source");
    session
        .execute(&format!("CREATE MATERIALIZED VIEW q7 AS {}", q7("bid")))
        .expect("view");
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    while !session.source_status("events").expect("status").done {
        assert!(Instant::now() < deadline, "source did not finish");
        peak = peak.max(interval_join_metrics().live_rows - before.live_rows);
        std::thread::sleep(Duration::from_millis(1));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while interval_join_metrics().live_rows != before.live_rows {
        assert!(
            Instant::now() < deadline,
            "rows still held after the stream ended: {:?}",
            interval_join_metrics()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = interval_join_metrics();
    // 100,000 events, 92% bids, over 100 s of event time; a bid is held for about its
    // 2-second interval plus the 1-second watermark delay: well under the total.
    let freed = (after.freed_rows - before.freed_rows) as i64;
    assert!(freed > 90_000, "{after:?}");
    assert!(
        peak * 4 < freed,
        "peak held rows {peak} of {freed} ({workers} workers): rows are not freed behind the watermark"
    );
    let count: i64 = rows(&mut session, "SELECT count(*) FROM q7")[0][0]
        .parse()
        .unwrap();
    assert!(count > 10, "{count}");
}

/// With `EMIT ON WINDOW CLOSE` the window aggregate's rows come when the watermark
/// closes their window: the interval join over them (q7) still equals the ordinary join.
#[test]
fn q7_with_emit_on_window_close_matches_the_ordinary_join() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for workers in [1, 2] {
        let (_engine, mut session) = engine(workers);
        session.execute(&source_ddl(20_000)).expect("source");
        let (evicting, ordinary) = (q7("bid"), q7("bid_plain"));
        let difference = format!(
            "SUBSCRIBE TO (
               SELECT * FROM (({evicting}) EXCEPT ALL ({ordinary})) a
               UNION ALL
               SELECT * FROM (({ordinary}) EXCEPT ALL ({evicting})) b) EMIT ON WINDOW CLOSE"
        );
        let updates = drain(&mut session, &difference);
        assert!(
            updates.is_empty(),
            "workers={workers}: {:?}",
            &updates[..updates.len().min(5)]
        );
        let rows = drain(
            &mut session,
            &format!("SUBSCRIBE TO ({evicting}) EMIT ON WINDOW CLOSE"),
        );
        // One highest bid (or a few tied ones) per 2-second window, never retracted.
        assert!(rows.len() >= 5, "workers={workers}: {rows:?}");
        assert!(rows.iter().all(|(_, _, diff)| *diff > 0), "{rows:?}");
    }
}

/// An interval join between two sources, each with its own readers and watermark.
#[test]
fn interval_join_of_two_sources_matches_the_ordinary_join() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = interval_join_metrics();
    for workers in [1, 2] {
        let (_engine, mut session) = engine(workers);
        let ddl = source_ddl(4_000);
        session.execute(&ddl).expect("source");
        let other = ddl
            .split(';')
            .next()
            .expect("CREATE TABLE")
            .replace("CREATE TABLE events", "CREATE TABLE other");
        session.execute(&other).expect("second source");
        session
            .execute(
                "CREATE VIEW other_bid AS SELECT bid.auction AS auction, bid.price AS price, `dateTime`
                 FROM other WHERE event_type = 2",
            )
            .expect("view");
        let query = |bids: &str| {
            format!(
                "SELECT a.auction, a.price, b.price AS other_price
                 FROM {bids} a JOIN other_bid b
                 ON a.auction = b.auction
                 AND a.`dateTime` BETWEEN b.`dateTime` - INTERVAL '1' SECOND AND b.`dateTime`"
            )
        };
        let (evicting, ordinary) = (query("bid"), query("bid_plain"));
        let plan = explain(&mut session, &evicting);
        assert!(
            plan.contains("IntervalJoin") && plan.contains("watermark=events,other"),
            "{plan}"
        );
        let updates = symmetric_difference(&mut session, &evicting, &ordinary);
        assert!(
            updates.is_empty(),
            "workers={workers}: {:?}",
            &updates[..updates.len().min(5)]
        );
        let joined = drain(&mut session, &format!("SUBSCRIBE TO ({evicting})"));
        assert!(
            joined.len() > 100,
            "workers={workers}: {} rows",
            joined.len()
        );
    }
    let after = interval_join_metrics();
    assert_eq!(after.late_rows, before.late_rows, "{after:?}");
    assert!(after.freed_rows > before.freed_rows, "{after:?}");
}
