//! The `laaster` binary and `run_slt_files` end to end, against the embedded engine.

use std::path::PathBuf;
use std::process::{Command, Output};

use laaster_cli::{SltOptions, run_slt_files};

fn laaster(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_laaster"))
        .args(args)
        .output()
        .expect("run the laaster binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("laaster-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

#[test]
fn version_and_argument_errors() {
    let version = laaster(&["--version"]);
    assert!(version.status.success());
    assert!(text(&version.stdout).starts_with("laaster "));

    let bad_format = laaster(&["sql", "--format", "xml", "-e", "SELECT 1"]);
    assert_eq!(bad_format.status.code(), Some(2));

    let missing = laaster(&["sql", "-f", "/nonexistent/pipeline.sql"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("cannot read /nonexistent/pipeline.sql"));
}

#[test]

fn scripts_print_csv_in_order() {
    let out = laaster(&[
        "sql",
        "--workers",
        "1",
        "--format",
        "csv",
        "-e",
        "CREATE TABLE t (a INT, b TEXT); INSERT INTO t VALUES (1, 'x,y'), (2, NULL)",
        "-e",
        "SELECT a, b FROM t ORDER BY a",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "a,b\n1,\"x,y\"\n2,\n");
}

#[test]

fn table_format_prints_tags_and_footer() {
    let out = laaster(&[
        "sql",
        "--workers",
        "1",
        "-e",
        "CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2), (3); SELECT count(*) AS n FROM t",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("CREATE TABLE\nINSERT 0 3\n"), "{stdout}");
    assert!(stdout.contains("(1 row)"), "{stdout}");
}

#[test]

fn errors_name_the_file_and_line() {
    let dir = scratch_dir("errors");
    let file = dir.join("pipeline.sql");
    std::fs::write(
        &file,
        "CREATE TABLE t (a INT);\n\n-- next one fails\nSELECT *\n  FROM nope;\nSELECT 1;\n",
    )
    .expect("write script");
    let out = laaster(&[
        "sql",
        "--workers",
        "1",
        "-f",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    // The statement starts on line 4; a positioned error points at line 5.
    let prefix_4 = format!("{}:4: ERROR:", file.display());
    let prefix_5 = format!("{}:5: ERROR:", file.display());
    assert!(
        stderr.starts_with(&prefix_4) || stderr.starts_with(&prefix_5),
        "{stderr}"
    );
    assert!(
        !text(&out.stdout).contains("(1 row)"),
        "stopped at the first error"
    );
}

#[test]

fn subscribe_stops_after_max_events() {
    let out = laaster(&[
        "sql",
        "--workers",
        "1",
        "--format",
        "json",
        "--max-events",
        "2",
        "-e",
        "CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2); \
         CREATE MATERIALIZED VIEW v AS SELECT a FROM t; SUBSCRIBE TO v",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let updates: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("{\"time\""))
        .collect();
    assert_eq!(updates.len(), 2, "{stdout}");
    assert!(
        updates
            .iter()
            .all(|l| l.contains("\"diff\":1,\"row\":{\"a\":")),
        "{stdout}"
    );
}

#[test]

fn slt_files_count_passes_failures_and_skips() {
    let dir = scratch_dir("slt");
    let file = dir.join("basic.slt");
    let script = "\
statement ok
CREATE TABLE t (a INT, s TEXT)

statement ok
INSERT INTO t VALUES (1, ''), (2, NULL)

query IT rowsort
SELECT a, s FROM t
----
1 (empty)
2 NULL

query I
SELECT a FROM t WHERE a = 1
----
5

skipif laaster
query I
SELECT this is not sql
----
1

statement error
SELECT * FROM nope
";
    std::fs::write(&file, script).expect("write slt");
    let options = SltOptions {
        workers: Some(1),
        ..SltOptions::default()
    };
    let summary = run_slt_files(std::slice::from_ref(&dir), &options);
    assert_eq!(
        (summary.passed, summary.failed, summary.skipped),
        (4, 1, 1),
        "{summary:?}"
    );
    assert!(
        summary.failures[0].starts_with(&format!("{}:13", file.display())),
        "{:?}",
        summary.failures
    );
}
