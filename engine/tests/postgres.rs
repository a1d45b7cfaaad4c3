//! PostgreSQL end to end, against the local server (127.0.0.1:5432, database `test`,
//! `wal_level = logical` from scripts/postgres-logical.sh): a `postgres-cdc` source table
//! feeds a materialized view checked by peeking, and a view is written into a
//! PostgreSQL table by the `postgres` sink (upserts and deletes by key).

use std::time::{Duration, Instant};

use laaster_connectors::postgres::query_text;
use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session};

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn unique(name: &str) -> String {
    format!(
        "laaster_e2e_{name}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn pg(sql: &str) -> Vec<Vec<String>> {
    query_text(URL, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

/// Drops the test's PostgreSQL objects, also when the test fails: the table, and every
/// slot and publication whose name starts with the slot's (the engine may give each
/// reading view its own).
struct Cleanup {
    table: String,
    slot: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // The engine is gone by now, but its sessions may take a moment to end.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let _ = query_text(
                URL,
                &format!(
                    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                     WHERE slot_name LIKE '{0}%' AND active_pid IS NOT NULL; \
                     SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                     WHERE slot_name LIKE '{0}%' AND active_pid IS NULL",
                    self.slot
                ),
            );
            let left = query_text(
                URL,
                &format!(
                    "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE '{}%'",
                    self.slot
                ),
            );
            if left.is_ok_and(|rows| rows.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Ok(publications) = query_text(
            URL,
            &format!(
                "SELECT pubname FROM pg_publication WHERE pubname LIKE '{}%'",
                self.slot
            ),
        ) {
            for publication in publications.into_iter().flatten().flatten() {
                let _ = query_text(
                    URL,
                    &format!("DROP PUBLICATION IF EXISTS \"{publication}\""),
                );
            }
        }
        let _ = query_text(URL, &format!("DROP TABLE IF EXISTS {}", self.table));
    }
}

fn rows(session: &mut Session, sql: &str) -> Vec<Vec<String>> {
    match session.execute(sql).expect(sql).into_iter().next() {
        Some(ExecuteResult::Rows(rows)) => rows.to_text(),
        other => panic!("{sql}: {other:?}"),
    }
}

fn owned(expected: &[&[&str]]) -> Vec<Vec<String>> {
    expected
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Polls `read` until it returns `expected` (or fails after 30 s with the last answer).
fn wait_until(what: &str, mut read: impl FnMut() -> Vec<Vec<String>>, expected: &[&[&str]]) {
    let expected = owned(expected);
    let start = Instant::now();
    loop {
        let got = read();
        if got == expected {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: got {got:?}, want {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn postgres_cdc_source_feeds_a_materialized_view() {
    let table = unique("orders");
    let slot = unique("slot");
    let _cleanup = Cleanup {
        table: table.clone(),
        slot: slot.clone(),
    };
    pg(&format!(
        "CREATE TABLE {table} (id int4 PRIMARY KEY, customer text, amount int8); \
         ALTER TABLE {table} REPLICA IDENTITY FULL; \
         INSERT INTO {table} VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'ann', 5)"
    ));
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(&format!(
            "CREATE TABLE orders (id INT, customer TEXT, amount BIGINT) WITH (
                'connector' = 'postgres-cdc', 'url' = '{URL}', 'table-name' = '{table}',
                'slot.name' = '{slot}')"
        ))
        .unwrap();
    session
        .execute(
            "CREATE MATERIALIZED VIEW per_customer AS \
             SELECT customer, count(*) AS n, sum(amount) AS total FROM orders GROUP BY customer",
        )
        .unwrap();
    // A second view reads the same table through a slot of its own.
    session
        .execute("CREATE MATERIALIZED VIEW big AS SELECT id FROM orders WHERE amount >= 10")
        .unwrap();
    let query = "SELECT customer, n, total FROM per_customer ORDER BY customer";
    let big = "SELECT id FROM big ORDER BY id";
    // The snapshot of the table.
    wait_until(
        "snapshot",
        || rows(&mut session, query),
        &[&["ann", "2", "15"], &["bob", "1", "20"]],
    );
    // Changes after it, in two transactions.
    pg(&format!(
        "INSERT INTO {table} VALUES (4, 'cy', 7); \
         BEGIN; INSERT INTO {table} VALUES (5, 'bob', 1), (6, 'bob', 2); COMMIT"
    ));
    wait_until(
        "inserts",
        || rows(&mut session, query),
        &[&["ann", "2", "15"], &["bob", "3", "23"], &["cy", "1", "7"]],
    );
    {
        pg(&format!(
            "UPDATE {table} SET amount = 100 WHERE id = 4; DELETE FROM {table} WHERE id = 1"
        ));
        wait_until(
            "updates and deletes",
            || rows(&mut session, query),
            &[&["ann", "1", "5"], &["bob", "3", "23"], &["cy", "1", "100"]],
        );
    }
    wait_until("second view", || rows(&mut session, big), &[&["2"], &["4"]]);
    let slots = pg(&format!(
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '{slot}%'"
    ));
    assert_eq!(slots, [["2"]], "one slot per reading view");
    // Dropping a view drops its slot (a slot left behind would hold WAL forever).
    let our_slots = || {
        pg(&format!(
            "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE '{slot}%' ORDER BY 1"
        ))
    };
    session.execute("DROP MATERIALIZED VIEW big").unwrap();
    let per_customer_slot = format!("{slot}_per_customer");
    wait_until("slots after DROP", our_slots, &[&[&per_customer_slot]]);
    // The other view still follows the table.
    pg(&format!("INSERT INTO {table} VALUES (7, 'dee', 1)"));
    wait_until(
        "after a DROP",
        || rows(&mut session, query),
        &[
            &["ann", "1", "5"],
            &["bob", "3", "23"],
            &["cy", "1", "100"],
            &["dee", "1", "1"],
        ],
    );
    session
        .execute("DROP MATERIALIZED VIEW per_customer")
        .unwrap();
    wait_until("slots after DROP", our_slots, &[]);
    session.execute("DROP TABLE orders").unwrap();
}

#[test]
fn a_view_is_upserted_into_a_postgres_table() {
    let table = unique("tally");
    let _cleanup = Cleanup {
        table: table.clone(),
        slot: unique("unused"),
    };
    pg(&format!(
        "CREATE TABLE {table} (contestant text PRIMARY KEY, votes int8 NOT NULL, last_user int8)"
    ));
    let engine = Engine::start(EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute("CREATE TABLE votes (user_id BIGINT, contestant TEXT)")
        .unwrap();
    let created = session.execute(&format!(
        "CREATE TABLE tally_out (contestant TEXT, votes BIGINT, last_user BIGINT) WITH (
            'connector' = 'postgres', 'url' = '{URL}', 'table-name' = '{table}',
            'sink.mode' = 'upsert', 'sink.key' = 'contestant',
            'sink.buffer-flush.max-rows' = '2')"
    ));
    // The engine keys the changes by 'sink.key' and hands each key's new row (or, once
    // the key is gone, its last row as a retraction) to the connector, which upserts by
    // the table's primary key.
    created.expect("a 'postgres' sink table");
    session
        .execute(
            "INSERT INTO tally_out SELECT contestant, count(*), max(user_id) FROM votes GROUP BY contestant",
        )
        .unwrap();
    let read = || {
        pg(&format!(
            "SELECT contestant, votes::text, last_user::text FROM {table} ORDER BY contestant"
        ))
    };
    session
        .execute("INSERT INTO votes VALUES (1, 'A'), (2, 'B'), (3, 'A'), (4, 'C'), (5, 'A')")
        .unwrap();
    wait_until(
        "inserts",
        read,
        &[&["A", "3", "5"], &["B", "1", "2"], &["C", "1", "4"]],
    );
    session
        .execute("INSERT INTO votes VALUES (6, 'B'), (7, 'D')")
        .unwrap();
    wait_until(
        "updates",
        read,
        &[
            &["A", "3", "5"],
            &["B", "2", "6"],
            &["C", "1", "4"],
            &["D", "1", "7"],
        ],
    );
    // A group that disappears is deleted; one that shrinks is updated.
    session
        .execute("DELETE FROM votes WHERE contestant = 'C' OR user_id = 5")
        .unwrap();
    wait_until(
        "deletes",
        read,
        &[&["A", "2", "3"], &["B", "2", "6"], &["D", "1", "7"]],
    );
    session.execute("DROP TABLE tally_out").unwrap();
}
