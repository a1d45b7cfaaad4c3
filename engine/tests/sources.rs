//! Source tables end to end: the nexmark connector, its watermark, and late rows counted
//! (never silently lost) in SHOW SOURCES; streamed sources (each view runs its own
//! readers from the start of the stream; one-off reads refused) and retained ones.

use std::time::Duration;

use laaster_engine::{Engine, EngineConfig, ExecuteResult};

/// Flink's Nexmark source DDL with `delay` as the watermark's bound and extra options.
fn nexmark_ddl(delay: &str, extra: &str) -> String {
    format!(
        "CREATE TABLE datagen (
            event_type INT,
            person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime` WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END,
            WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '{delay}' SECOND
        ) WITH ('connector' = 'nexmark', 'events.num' = '20000', 'first-event.rate' = '10000'{extra})"
    )
}

/// Waits for the source to be exhausted, then returns SHOW SOURCES' row for it.
fn finished_source(session: &mut laaster_engine::Session) -> Vec<String> {
    for _ in 0..2000 {
        if session.source_status("datagen").expect("status").done {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let results = session.execute("SHOW SOURCES").expect("show sources");
    let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
        panic!("rows")
    };
    rows.to_text().remove(0)
}

fn count(session: &mut laaster_engine::Session, sql: &str) -> u64 {
    let results = session.execute(sql).expect("count");
    let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
        panic!("rows")
    };
    rows.to_text()[0][0].parse().expect("a number")
}

#[test]
fn in_order_events_are_all_kept_and_the_watermark_trails_them() {
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&nexmark_ddl("4", ""))
        .expect("create source");
    session
        .execute("CREATE MATERIALIZED VIEW events AS SELECT count(*) FROM datagen")
        .expect("a view over the streamed source");
    let row = finished_source(&mut session);
    // name, rows, late_rows, error_rows, watermark, done
    assert_eq!(row[1], "20000");
    assert_eq!(row[2], "0");
    assert_eq!(row[5], "t");
    // 20,000 events at 10,000 per second from 2015-07-15 00:00:00, minus 4 seconds.
    assert!(
        row[4].starts_with("2015-07-14 23:59:5"),
        "watermark {}",
        row[4]
    );
    assert_eq!(count(&mut session, "SELECT * FROM events"), 20000);
    // A view created after the stream ended still sees all of it, from the start.
    session
        .execute(
            "CREATE MATERIALIZED VIEW later AS SELECT count(*) FROM datagen WHERE event_type = 2",
        )
        .expect("a second view");
    let _ = finished_source(&mut session);
    let bids = count(&mut session, "SELECT * FROM later");
    assert!(bids > 17000 && bids < 20000, "bids: {bids}");
    // Nothing is kept to read at one point in time.
    let error = session
        .execute("SELECT count(*) FROM datagen")
        .expect_err("a streamed source cannot be read ad hoc");
    assert_eq!(error.code, "0A000", "{error}");
    assert!(
        error.hint.as_deref().unwrap_or("").contains("scan.retain"),
        "{error:?}"
    );
    let error = session
        .execute("INSERT INTO datagen (event_type) VALUES (0)")
        .expect_err("sources are append-only from their connector");
    assert!(error.message.contains("source table"), "{error}");
}

#[test]
fn late_rows_are_counted_not_silently_lost() {
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    // No allowed delay and shuffled groups of 500 events: rows behind the watermark.
    session
        .execute(&nexmark_ddl("0", ", 'out-of-order.group-size' = '500'"))
        .expect("create source");
    session
        .execute("CREATE MATERIALIZED VIEW events AS SELECT count(*) FROM datagen")
        .expect("a view over the streamed source");
    let row = finished_source(&mut session);
    let kept: u64 = row[1].parse().unwrap();
    let late: u64 = row[2].parse().unwrap();
    assert!(late > 0, "some rows are late: {row:?}");
    assert_eq!(
        kept + late,
        20000,
        "every event is kept or counted late: {row:?}"
    );
    assert_eq!(count(&mut session, "SELECT * FROM events"), kept);
}

#[test]
fn late_rows_go_to_the_side_table_when_asked() {
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&nexmark_ddl(
            "0",
            ", 'out-of-order.group-size' = '500', 'late-data' = 'side-table'",
        ))
        .expect("create source");
    let row = finished_source(&mut session);
    let late: u64 = row[2].parse().unwrap();
    assert!(late > 0);
    assert_eq!(
        count(&mut session, "SELECT count(*) FROM datagen_late"),
        late
    );
    // Late rows keep their columns, computed ones included.
    assert_eq!(
        count(
            &mut session,
            "SELECT count(*) FROM datagen_late WHERE `dateTime` IS NOT NULL"
        ),
        late
    );
    let error = session
        .execute(&nexmark_ddl("0", ", 'late-data' = 'keep'").replace("datagen", "other"))
        .expect_err("bad late-data value");
    assert!(error.message.contains("late-data"), "{error}");
}

#[test]
fn datagen_produces_its_rows_once_across_workers() {
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(
            "CREATE TABLE orders (id BIGINT, amount DOUBLE PRECISION, customer TEXT) WITH (
                'connector' = 'datagen', 'number-of-rows' = '5000', 'scan.retain' = 'true',
                'fields.id.kind' = 'sequence', 'fields.id.start' = '1',
                'fields.amount.min' = '1', 'fields.amount.max' = '500', 'fields.customer.length' = '3')",
        )
        .expect("create datagen source");
    for _ in 0..2000 {
        if session.source_status("orders").expect("status").done {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        count(&mut session, "SELECT count(DISTINCT id) FROM orders"),
        5000
    );
    assert_eq!(
        count(&mut session, "SELECT max(id) - min(id) + 1 FROM orders"),
        5000
    );
    assert_eq!(
        count(
            &mut session,
            "SELECT count(*) FROM orders WHERE amount BETWEEN 1 AND 500 AND length(customer) = 3"
        ),
        5000
    );
    let error = session
        .execute("CREATE TABLE bad (id BIGINT) WITH ('connector' = 'datagen', 'rows' = '5')")
        .expect_err("unknown option");
    assert!(error.message.contains("unknown option 'rows'"), "{error}");
    assert!(error.hint.is_some());
}

#[test]
fn paced_nexmark_emits_events_at_their_event_time_rate() {
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    // 600 events at 1,000 per second of event time, paced: at least ~0.6 s of wall time.
    let started = std::time::Instant::now();
    session
        .execute(&nexmark_ddl("0", ", 'max-emit-speed' = 'false'").replace(
            "'events.num' = '20000', 'first-event.rate' = '10000'",
            "'events.num' = '600', 'first-event.rate' = '1000'",
        ))
        .expect("create source");
    session
        .execute("CREATE MATERIALIZED VIEW events AS SELECT count(*) FROM datagen")
        .expect("view");
    let row = finished_source(&mut session);
    assert_eq!(row[1], "600", "{row:?}");
    let elapsed = started.elapsed();
    // A lower bound only: paced emission cannot finish before the last event is due.
    assert!(
        elapsed >= Duration::from_millis(550),
        "600 paced events at 1,000/s took {elapsed:?}"
    );
    assert_eq!(count(&mut session, "SELECT * FROM events"), 600);
}
