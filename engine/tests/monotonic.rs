//! Monotonic aggregates and Top-N (append-only input, O(groups) state) against the
//! ordinary operators, at every logical time, with 1 and 2 workers.
//!
//! Each comparison runs both plans in one dataflow over one set of source readers: the
//! monotonic side reads the streamed `nexmark` source directly; the ordinary side reads
//! it through a left join that never matches, which the planner does not take for
//! append-only. Both see the same rows at the same logical times, so the symmetric
//! difference of their results must be empty at every time. The queries include NULLs
//! in min/max (and groups whose values are all NULL), ties and duplicate rows in Top-N,
//! and a global aggregate over an empty input.

use std::time::{Duration, Instant};

use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session, SubscribeEvent};

/// Nexmark's source DDL (ddl_gen.sql's columns), bounded, 1,000 events per second of
/// event time; `extra` adds options. `bid` is a view over it with the bid's columns.
fn source_ddl(name: &str, events: u64, extra: &str) -> String {
    format!(
        "CREATE TABLE {name} (
            event_type INT,
            person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime` WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END
        ) WITH ('connector' = 'nexmark', 'events.num' = '{events}', 'first-event.rate' = '1000'{extra})"
    )
}

fn bid_view(name: &str, source: &str) -> String {
    format!(
        "CREATE VIEW {name} AS SELECT bid.auction AS auction, bid.bidder AS bidder, bid.price AS price,
                bid.channel AS channel, `dateTime` AS dt
         FROM {source} WHERE event_type = 2"
    )
}

/// The same rows as `bid`, through a left join that never matches: outer joins can
/// retract (a NULL-padded row, when its match arrives), so this is not append-only. (A
/// union with an empty table would do too, but a table's input never closes, so the
/// subscription comparing both would never end.)
const RETRACTABLE_BIDS: &str = "(SELECT b.auction, b.bidder, b.price, b.channel, b.dt
     FROM bid b LEFT JOIN (SELECT 1 AS one) c ON b.price < 0)";

/// Aggregate queries (over `{input}`); each has both a monotonic and an ordinary form.
fn aggregate_queries() -> Vec<&'static str> {
    vec![
        // q17's shape: counts with FILTER, sum, avg, min, max; plus NULLs in min/max
        // (a third of the prices, and every value of a quarter of the groups), text
        // min/max, count DISTINCT, bool_and/bool_or.
        "SELECT auction, count(*) AS n, count(*) FILTER (WHERE price < 10000) AS cheap,
                min(price) AS low, max(price) AS high, sum(price) AS total, avg(price) AS mean,
                min(CASE WHEN price % 3 = 0 THEN NULL ELSE price END) AS low_some_null,
                max(CASE WHEN auction % 4 = 0 THEN NULL ELSE bidder END) AS high_all_null,
                min(channel) AS first_channel, max(channel) AS last_channel,
                count(DISTINCT bidder) AS bidders, bool_and(price > 1000) AS all_big,
                bool_or(price > 10000000) AS any_huge
         FROM {input} GROUP BY auction",
        // Per auction and day, as q17 groups.
        "SELECT auction, CAST(dt AS DATE) AS day, count(*) AS n, max(price) AS high,
                min(price) AS low, sum(price) AS total
         FROM {input} GROUP BY auction, CAST(dt AS DATE)",
        // q5's shape: a max per group over counts that only grow (retractions skipped).
        "SELECT a, max(n) AS top FROM (SELECT auction % 10 AS a, auction, count(*) AS n
                                      FROM {input} GROUP BY auction % 10, auction) c
         GROUP BY a",
    ]
}

/// Global aggregates (over everything, and over nothing: one row of 0 and NULLs). A
/// SUBSCRIBE to a global aggregate of a streamed source reports no progress (an engine
/// issue outside the monotonic operators, ordinary reduce alike), so these are compared
/// as materialized views once the source is done.
fn global_queries() -> Vec<&'static str> {
    vec![
        "SELECT count(*) AS n, min(price) AS low, max(price) AS high, sum(price) AS total FROM {input}",
        "SELECT count(*) AS n, min(price) AS low, max(price) AS high, sum(price) AS total
         FROM {input} WHERE price < 0",
    ]
}

/// Top-N queries (over `{input}`).
fn top_n_queries() -> Vec<&'static str> {
    vec![
        // q19's shape, ordered by a nullable key (DESC puts NULLs first).
        "SELECT * FROM (SELECT auction, bidder, price, dt,
                ROW_NUMBER() OVER (PARTITION BY auction
                    ORDER BY CASE WHEN price % 5 = 0 THEN NULL ELSE price END DESC) AS rn
              FROM {input}) t WHERE rn <= 3",
        // Few distinct values: ties, and duplicate rows (multiplicities).
        "SELECT * FROM (SELECT auction % 7 AS a, price / 1000000 AS p,
                RANK() OVER (PARTITION BY auction % 7 ORDER BY price / 1000000 DESC) AS r
              FROM {input}) t WHERE r <= 2",
        "SELECT * FROM (SELECT auction % 7 AS a, price / 1000000 AS p,
                DENSE_RANK() OVER (PARTITION BY auction % 7 ORDER BY price / 1000000) AS r
              FROM {input}) t WHERE r <= 3",
        "SELECT * FROM (SELECT auction % 7 AS a, price / 1000000 AS p,
                ROW_NUMBER() OVER (PARTITION BY auction % 7 ORDER BY price / 1000000 DESC) AS r
              FROM {input}) t WHERE r <= 5",
    ]
}

/// `ORDER BY ... LIMIT ... OFFSET` in a subquery (a TopK over all rows, ties in the
/// ORDER BY), and `DISTINCT ON` (a TopK per group with limit 1).
fn topk_queries() -> Vec<&'static str> {
    vec![
        "SELECT * FROM (SELECT auction, price / 1000 AS k FROM {input}
                        ORDER BY price / 1000 DESC LIMIT 7 OFFSET 3) t",
        "SELECT * FROM (SELECT DISTINCT ON (auction % 50) auction % 50 AS a, price, bidder
                        FROM {input} ORDER BY auction % 50, price DESC) t",
    ]
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

fn execute(session: &mut Session, sql: &str) {
    session
        .execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
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

fn setup(workers: usize, events: u64) -> (Engine, Session) {
    let (engine, mut session) = engine(workers);
    execute(&mut session, &source_ddl("events", events, ""));
    execute(&mut session, &bid_view("bid", "events"));
    execute(
        &mut session,
        "CREATE TABLE no_bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, dt TIMESTAMP)",
    );
    (engine, session)
}

/// Checks that `query` plans `operator` monotonic over the source and the ordinary way
/// over the retractable input, and that both give the same result at every time.
fn compare(session: &mut Session, query: &str, operator: &str, workers: usize) {
    let monotonic = query.replace("{input}", "bid");
    let ordinary = query.replace("{input}", RETRACTABLE_BIDS);
    let plan = explain(session, &monotonic);
    assert!(plan.contains(&format!("Monotonic{operator}")), "{plan}");
    let plan = explain(session, &ordinary);
    assert!(
        plan.contains(operator) && !plan.contains("Monotonic"),
        "{plan}"
    );
    let difference = format!(
        "SUBSCRIBE TO (
           SELECT * FROM (({monotonic}) EXCEPT ALL ({ordinary})) a
           UNION ALL
           SELECT * FROM (({ordinary}) EXCEPT ALL ({monotonic})) b)"
    );
    let updates = drain(session, &difference);
    assert!(
        updates.is_empty(),
        "monotonic and ordinary {operator} differ (workers={workers}) for {monotonic}: {:?}",
        &updates[..updates.len().min(5)]
    );
}

fn monotonic_matches_ordinary(workers: usize) {
    let (_engine, mut session) = setup(workers, 20_000);
    for query in aggregate_queries() {
        compare(&mut session, query, "Reduce", workers);
    }
    for query in top_n_queries() {
        compare(&mut session, query, "Window", workers);
    }
    for query in topk_queries() {
        compare(&mut session, query, "TopK", workers);
    }
    let mut globals = Vec::new();
    for (index, query) in global_queries().into_iter().enumerate() {
        let monotonic = query.replace("{input}", "bid");
        let ordinary = query.replace("{input}", RETRACTABLE_BIDS);
        assert!(explain(&mut session, &monotonic).contains("MonotonicReduce"));
        assert!(!explain(&mut session, &ordinary).contains("Monotonic"));
        execute(
            &mut session,
            &format!("CREATE MATERIALIZED VIEW global_{index} AS {monotonic}"),
        );
        execute(
            &mut session,
            &format!("CREATE MATERIALIZED VIEW global_ordinary_{index} AS {ordinary}"),
        );
        globals.push(index);
    }
    // The results are not trivially empty.
    let first = aggregate_queries()[0].replace("{input}", "bid");
    execute(
        &mut session,
        &format!("CREATE MATERIALIZED VIEW stats AS {first}"),
    );
    let limited = topk_queries()[0].replace("{input}", "bid");
    execute(
        &mut session,
        &format!("CREATE MATERIALIZED VIEW top AS {limited}"),
    );
    wait_done(&mut session, "events");
    let groups = rows(&mut session, "SELECT count(*), sum(n) FROM stats");
    let top = rows(&mut session, "SELECT count(*) FROM top");
    assert_eq!(top[0][0], "7", "LIMIT 7: {top:?}");
    for index in globals {
        let monotonic = rows(&mut session, &format!("SELECT * FROM global_{index}"));
        let ordinary = rows(
            &mut session,
            &format!("SELECT * FROM global_ordinary_{index}"),
        );
        assert_eq!(
            monotonic, ordinary,
            "global aggregate {index}, workers={workers}"
        );
        assert_eq!(monotonic.len(), 1, "{monotonic:?}");
    }
    let empty = rows(&mut session, "SELECT * FROM global_1");
    assert_eq!(
        empty,
        vec![vec!["0", "NULL", "NULL", "NULL"]],
        "over nothing"
    );
    let group_count: i64 = groups[0][0].parse().unwrap();
    let bid_count: i64 = groups[0][1].parse().unwrap();
    assert!(group_count > 100 && bid_count > 15_000, "{groups:?}");
}

#[test]
fn monotonic_matches_ordinary_one_worker() {
    monotonic_matches_ordinary(1);
}

#[test]
fn monotonic_matches_ordinary_two_workers() {
    monotonic_matches_ordinary(2);
}

/// Only append-only input gets the monotonic operators: tables, retained sources, outer
/// joins and aggregates of aggregates stay ordinary.
#[test]
fn retracting_inputs_use_the_ordinary_operators() {
    let (_engine, mut session) = setup(1, 1_000);
    execute(
        &mut session,
        &source_ddl("kept", 1_000, ", 'scan.retain' = 'true'"),
    );
    execute(&mut session, &bid_view("kept_bid", "kept"));
    let ordinary = [
        // A plain table can be updated.
        "SELECT auction, max(price) FROM no_bids GROUP BY auction",
        // A retained source is kept as a table.
        "SELECT auction, max(price) FROM kept_bid GROUP BY auction",
        // A left join retracts its NULL-padded rows when a match arrives.
        "SELECT b.auction, max(b.price) FROM bid b LEFT JOIN no_bids n ON b.auction = n.auction GROUP BY b.auction",
        // A float sum stays on the ordinary reduce.
        "SELECT auction, sum(price::double precision) FROM bid GROUP BY auction",
        // No limit: every row is output, nothing to drop.
        "SELECT auction, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price) FROM bid",
    ];
    for query in ordinary {
        let plan = explain(&mut session, query);
        assert!(!plan.contains("Monotonic"), "{query}:\n{plan}");
    }
    // The min over a (monotonic) aggregate of the source: the inner one only (the
    // counts change). A max over them is monotonic: the counts only grow.
    let plan = explain(
        &mut session,
        "SELECT min(n) FROM (SELECT auction, count(*) AS n FROM bid GROUP BY auction) c",
    );
    assert_eq!(plan.matches("MonotonicReduce").count(), 1, "{plan}");
    assert_eq!(plan.matches("Reduce").count(), 2, "{plan}");
    let plan = explain(
        &mut session,
        "SELECT max(n) FROM (SELECT auction, count(*) AS n FROM bid GROUP BY auction) c",
    );
    assert!(
        plan.contains("aggregates=[max(#1)] global input=growing"),
        "{plan}"
    );
    // Filtered on the count, the max could miss a retraction's replacement: ordinary.
    let plan = explain(
        &mut session,
        "SELECT max(n) FROM (SELECT auction, count(*) AS n FROM bid GROUP BY auction) c WHERE n < 5",
    );
    assert_eq!(plan.matches("MonotonicReduce").count(), 1, "{plan}");
    // An inner join of two append-only inputs is append-only.
    let plan = explain(
        &mut session,
        "SELECT a.auction, max(b.price) FROM bid a JOIN bid b ON a.auction = b.auction GROUP BY a.auction",
    );
    assert!(plan.contains("MonotonicReduce"), "{plan}");
}

/// Sums of intervals per group, over a table (the ordinary path) and over the source
/// (the monotonic one), are intervals added field by field.
#[test]
fn interval_sums_add_up_field_by_field() {
    let (_engine, mut session) = setup(1, 1_000);
    execute(&mut session, "CREATE TABLE spans (k INT, span INTERVAL)");
    execute(
        &mut session,
        "INSERT INTO spans VALUES (1, INTERVAL '1 day 2 hours'), (1, INTERVAL '3 months'), (2, INTERVAL '5 seconds'), (2, NULL)",
    );
    let mut sums = rows(&mut session, "SELECT k, sum(span) FROM spans GROUP BY k");
    sums.sort();
    assert_eq!(
        sums,
        vec![
            vec!["1".to_string(), "3 mons 1 day 02:00:00".to_string()],
            vec!["2".to_string(), "00:00:05".to_string()]
        ]
    );
    execute(
        &mut session,
        "CREATE MATERIALIZED VIEW bid_spans AS SELECT auction % 2 AS k,
                sum(CASE WHEN auction % 2 = 0 THEN INTERVAL '1 second' END) AS total
         FROM bid GROUP BY auction % 2",
    );
    assert!(
        explain(
            &mut session,
            "SELECT auction % 2, sum(INTERVAL '1 second') FROM bid GROUP BY auction % 2"
        )
        .contains("MonotonicReduce")
    );
    wait_done(&mut session, "events");
    let even: i64 = rows(
        &mut session,
        "SELECT count(*) FROM (SELECT * FROM bid_spans) t WHERE k = 0",
    )[0][0]
        .parse()
        .unwrap();
    assert_eq!(even, 1);
    let totals = rows(&mut session, "SELECT k, total FROM bid_spans ORDER BY k");
    assert_eq!(totals[1][1], "NULL", "odd auctions sum nothing: {totals:?}");
    assert!(totals[0][1].contains(':'), "an interval: {totals:?}");
}

/// Nexmark q5 (hot items): the max per window over the window aggregate's counts per
/// (auction, window) is a `MonotonicReduce ... input=growing`.
#[test]
fn q5_max_per_window_skips_retractions() {
    let (_engine, mut session) = engine(1);
    execute(
        &mut session,
        &source_ddl(
            "timed",
            1_000,
            "",
        )
        .replace(
            "ELSE bid.`dateTime` END\n",
            "ELSE bid.`dateTime` END,\n            WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '1' SECOND\n",
        ),
    );
    execute(&mut session, &bid_view("bid", "timed"));
    let q5 = "SELECT AuctionBids.auction, AuctionBids.num
      FROM (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
            FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dt), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
            GROUP BY auction, window_start, window_end) AS AuctionBids
      JOIN (SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
            FROM (SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
                  FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dt), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
                  GROUP BY auction, window_start, window_end) AS CountBids
            GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
      ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
         AND AuctionBids.num >= MaxBids.maxn";
    let plan = explain(&mut session, q5);
    assert!(plan.contains("WindowAggregate"), "{plan}");
    assert!(
        plan.contains("MonotonicReduce group_key=[#1, #2] aggregates=[max(#0)] input=growing"),
        "{plan}"
    );
}
