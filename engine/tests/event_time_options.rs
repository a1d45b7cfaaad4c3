//! `'source.idle-timeout'` and `'allowed-lateness'` end to end, over JSON files read by
//! the filesystem connector (real files, real readers in the workers).
//!
//! - Idle timeout: a tailing directory source read by 2 workers, where every file for
//!   worker 1 is empty: its reader never produces a row, so its watermark never moves.
//!   Without an idle timeout it holds the combined watermark back and no window closes;
//!   with one, worker 1's reader reports itself idle and windows close as worker 0's
//!   rows advance.
//! - Allowed lateness: a row behind the watermark but within the allowed lateness is kept
//!   and updates its window; a row behind it by more is counted late in SHOW SOURCES
//!   and written to `<source>_late` with `'late-data' = 'side-table'`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use laaster_engine::{Engine, EngineConfig, ExecuteResult, Session};

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

/// A fresh directory under the system's temporary directory.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("laaster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

/// Writes `lines` to `dir/name` complete: written beside it, then renamed in.
fn write_file(dir: &Path, name: &str, lines: &[String]) {
    let hidden = dir.join(format!(".{name}.tmp"));
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    std::fs::write(&hidden, text).expect("write");
    std::fs::rename(&hidden, dir.join(name)).expect("rename");
}

/// `2026-01-01 00:00:SS.mmm` for `millis` past midnight.
fn timestamp(millis: u64) -> String {
    format!(
        "2026-01-01 00:{:02}:{:02}.{:03}",
        millis / 60_000,
        (millis / 1000) % 60,
        millis % 1000
    )
}

/// How a whole second past midnight is shown (no fraction).
fn second(seconds: u64) -> String {
    format!("2026-01-01 00:00:{seconds:02}")
}

fn click(user: u64, millis: u64) -> String {
    format!(r#"{{"user_id": {user}, "ts": "{}"}}"#, timestamp(millis))
}

fn source_ddl(name: &str, path: &str, options: &str) -> String {
    format!(
        "CREATE TABLE {name} (user_id BIGINT, ts TIMESTAMP(3),
            WATERMARK FOR ts AS ts - INTERVAL '0' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json'{options})"
    )
}

fn windows_view(view: &str, source: &str) -> String {
    format!(
        "CREATE MATERIALIZED VIEW {view} AS
         SELECT window_start, count(*) AS clicks
         FROM TABLE(TUMBLE(TABLE {source}, DESCRIPTOR(ts), INTERVAL '1' SECOND))
         GROUP BY window_start, window_end EMIT ON WINDOW CLOSE"
    )
}

#[test]
fn an_idle_reader_does_not_hold_windows_open() {
    let dir = fresh_dir("idle");
    let (_engine, mut session) = engine(2);
    let path = format!("{}/*.json", dir.display());
    let tailing = ", 'source.monitor-interval' = '20 ms'";
    session
        .execute(&source_ddl(
            "clicks",
            &path,
            &format!("{tailing}, 'source.idle-timeout' = '300 ms'"),
        ))
        .expect("source with an idle timeout");
    session
        .execute(&source_ddl("stalled", &path, tailing))
        .expect("source without one");
    session
        .execute(&windows_view("closed", "clicks"))
        .expect("view");
    session
        .execute(&windows_view("never_closed", "stalled"))
        .expect("view");
    // Files are assigned to readers by arrival: the k-th file to worker k mod 2. Each
    // second of event time comes as a file of 10 clicks (worker 0) then an empty file
    // (worker 1).
    for k in 0..6u64 {
        let clicks: Vec<String> = (0..10).map(|i| click(i, k * 1000 + i * 90)).collect();
        write_file(&dir, &format!("{k:03}-0.json"), &clicks);
        write_file(&dir, &format!("{k:03}-1.json"), &[]);
        std::thread::sleep(Duration::from_millis(150));
    }
    // Windows [0 s, 1 s) .. [4 s, 5 s) close once worker 0's watermark passes their end.
    let deadline = Instant::now() + Duration::from_secs(30);
    let closed = loop {
        let closed = rows(&mut session, "SELECT * FROM closed ORDER BY window_start");
        if closed.len() >= 5 {
            break closed;
        }
        assert!(
            Instant::now() < deadline,
            "windows did not close with an idle reader: {closed:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for (index, row) in closed.iter().take(5).enumerate() {
        assert_eq!(
            row,
            &vec![second(index as u64), "10".to_string()],
            "{closed:?}"
        );
    }
    // Without the timeout the idle reader holds the watermark at its start: nothing
    // closes, however long we wait (the same files, read by the same kind of readers).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        rows(&mut session, "SELECT count(*) FROM never_closed"),
        vec![vec!["0".to_string()]]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn allowed_lateness_keeps_late_rows_within_it_and_routes_the_rest() {
    let dir = fresh_dir("lateness");
    write_file(
        &dir,
        "clicks.json",
        &[
            click(1, 100),
            click(2, 1_200),
            click(3, 2_500),
            // Behind the watermark (2.5 s) by 0.6 s: within a lateness of 1 s.
            click(4, 1_900),
            // Behind it by 2 s: too late even with the allowed lateness.
            click(5, 500),
            click(6, 5_000),
        ],
    );
    let (_engine, mut session) = engine(1);
    let path = format!("{}/clicks.json", dir.display());
    session
        .execute(&source_ddl(
            "lenient",
            &path,
            ", 'allowed-lateness' = '1 s', 'late-data' = 'side-table'",
        ))
        .expect("source with allowed lateness");
    session
        .execute(&source_ddl("strict", &path, ""))
        .expect("source without");
    let view = |name: &str, source: &str| {
        format!(
            "CREATE MATERIALIZED VIEW {name} AS
             SELECT window_start, count(*) AS clicks
             FROM TABLE(TUMBLE(TABLE {source}, DESCRIPTOR(ts), INTERVAL '1' SECOND))
             GROUP BY window_start, window_end"
        )
    };
    session
        .execute(&view("lenient_windows", "lenient"))
        .expect("view");
    session
        .execute(&view("strict_windows", "strict"))
        .expect("view");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(session.source_status("lenient").expect("status").done
        && session.source_status("strict").expect("status").done)
    {
        assert!(Instant::now() < deadline, "sources did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    let windows = |session: &mut Session, view: &str| {
        rows(
            session,
            &format!("SELECT window_start, clicks FROM {view} ORDER BY window_start"),
        )
    };
    let expected = |counts: &[(u64, &str)]| -> Vec<Vec<String>> {
        counts
            .iter()
            .map(|(seconds, count)| vec![second(*seconds), count.to_string()])
            .collect()
    };
    // The row at 1.9 s counts in [1 s, 2 s); the row at 0.5 s does not count anywhere.
    assert_eq!(
        windows(&mut session, "lenient_windows"),
        expected(&[(0, "1"), (1, "2"), (2, "1"), (5, "1")])
    );
    // Without allowed lateness both are late.
    assert_eq!(
        windows(&mut session, "strict_windows"),
        expected(&[(0, "1"), (1, "1"), (2, "1"), (5, "1")])
    );
    assert_eq!(session.source_status("lenient").expect("status").late, 1);
    assert_eq!(session.source_status("strict").expect("status").late, 2);
    // SHOW SOURCES counts them too (name, rows, late rows, ...).
    let shown = rows(&mut session, "SHOW SOURCES");
    let late_of = |name: &str| {
        shown
            .iter()
            .find(|row| row[0] == name)
            .map(|row| row[2].clone())
    };
    assert_eq!(late_of("lenient"), Some("1".into()), "{shown:?}");
    assert_eq!(late_of("strict"), Some("2".into()), "{shown:?}");
    // The too-late row is in the side table, with its columns.
    assert_eq!(
        rows(
            &mut session,
            "SELECT user_id, ts = TIMESTAMP '2026-01-01 00:00:00.5' FROM lenient_late"
        ),
        vec![vec!["5".to_string(), "t".to_string()]]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `'scan.watermark.alignment.max-drift'`: a duration or `'off'`, only with a
/// watermark; an aligned external source still produces every row (its readers take
/// turns within the drift), with 2 workers.
#[test]
fn watermark_alignment_option() {
    let (_engine, mut session) = engine(2);
    let dir = fresh_dir("alignment");
    let lines: Vec<String> = (0..2_000).map(|i| click(i % 7, i * 10)).collect();
    write_file(&dir, "clicks.json", &lines);
    let path = dir.display().to_string();

    let error = session
        .execute(&source_ddl(
            "bad",
            &path,
            ", 'scan.watermark.alignment.max-drift' = 'soon'",
        ))
        .expect_err("not a duration");
    assert!(
        error
            .to_string()
            .contains("scan.watermark.alignment.max-drift"),
        "{error}"
    );
    let error = session
        .execute(&format!(
            "CREATE TABLE plain (user_id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json', 'scan.watermark.alignment.max-drift' = '1 s')"
        ))
        .expect_err("no watermark");
    assert!(error.to_string().contains("needs a watermark"), "{error}");

    session
        .execute(&source_ddl(
            "clicks",
            &path,
            ", 'scan.watermark.alignment.max-drift' = '100 ms', 'source.idle-timeout' = '50 ms'",
        ))
        .expect("aligned source");
    session
        .execute("CREATE MATERIALIZED VIEW per_user AS SELECT user_id, count(*) AS n FROM clicks GROUP BY user_id")
        .expect("view");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !session.source_status("clicks").expect("status").done {
        assert!(
            std::time::Instant::now() < deadline,
            "source did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        rows(&mut session, "SELECT sum(n) FROM per_user"),
        vec![vec!["2000".to_string()]]
    );
    session
        .execute(&source_ddl(
            "clicks_off",
            &path,
            ", 'scan.watermark.alignment.max-drift' = 'off'",
        ))
        .expect("alignment off");
}
