//! Column DEFAULTs are evaluated by each write, not when the table is created: a
//! `DEFAULT now()` holds the time of the INSERT (or UPDATE ... SET c = DEFAULT), as in
//! Postgres.

use std::time::Duration;

use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session};

fn text(session: &mut Session, sql: &str) -> Vec<Vec<String>> {
    let results = session.execute(sql).expect(sql);
    let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
        panic!("{sql} returned no rows")
    };
    rows.to_text()
}

fn micros(session: &mut Session, sql: &str) -> i64 {
    text(session, sql)[0][0].parse().expect("a number")
}

#[test]
fn default_now_is_the_time_of_each_write() {
    let engine = Engine::start(EngineConfig {
        workers: 1,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine.session();
    session
        .execute(
            "CREATE TABLE events (id INT, at TIMESTAMPTZ DEFAULT now(), \
             day DATE DEFAULT now(), tag TEXT DEFAULT 'x' || 'y')",
        )
        .expect("create");
    let created = micros(
        &mut session,
        "SELECT CAST(extract(epoch FROM now()) * 1000000 AS BIGINT)",
    );
    std::thread::sleep(Duration::from_millis(300));
    session
        .execute("INSERT INTO events (id) VALUES (1)")
        .expect("insert 1");
    std::thread::sleep(Duration::from_millis(300));
    session
        .execute("INSERT INTO events (id) SELECT 2")
        .expect("insert 2");
    let first = micros(
        &mut session,
        "SELECT CAST(extract(epoch FROM at) * 1000000 AS BIGINT) FROM events WHERE id = 1",
    );
    let second = micros(
        &mut session,
        "SELECT CAST(extract(epoch FROM at) * 1000000 AS BIGINT) FROM events WHERE id = 2",
    );
    assert!(
        first >= created + 250_000,
        "DEFAULT now() of the first insert ({first}) is not after the CREATE ({created})"
    );
    assert!(
        second >= first + 250_000,
        "each INSERT takes its own now(): {first} then {second}"
    );
    std::thread::sleep(Duration::from_millis(300));
    session
        .execute("UPDATE events SET at = DEFAULT WHERE id = 1")
        .expect("update to default");
    let updated = micros(
        &mut session,
        "SELECT CAST(extract(epoch FROM at) * 1000000 AS BIGINT) FROM events WHERE id = 1",
    );
    assert!(
        updated >= second + 250_000,
        "SET at = DEFAULT takes the UPDATE's time: {updated} after {second}"
    );
    assert_eq!(
        text(
            &mut session,
            "SELECT tag, day = CAST(at AS DATE) FROM events ORDER BY id"
        ),
        vec![
            vec!["xy".to_string(), "t".to_string()],
            vec!["xy".to_string(), "t".to_string()],
        ]
    );
}
