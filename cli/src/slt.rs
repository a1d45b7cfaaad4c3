//! `laaster test`: sqllogictest files run against a fresh embedded engine per file,
//! with the `sqllogictest` crate's parser, runner, value normalizer and hash threshold.
//!
//! Each file gets its own [`Engine`]; every `connection` of the file is a session of that
//! engine. The engine's name for `skipif`/`onlyif` is `laaster`. Column-type letters in
//! `query` headers are not checked (the crate's default column validator accepts any).
//! Failing records are reported with their `file:line` and the run goes on, unless
//! `fail_fast` is set.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use laaster_engine::{Engine, EngineConfig, ErrorResponse, ExecuteResult, Session, SubscribeEvent};
use laaster_repr::strconv::format_datum;
use laaster_repr::{Datum, Row};
use sqllogictest::{ColumnType, DBOutput, DefaultColumnType, Record, RecordOutput, Runner};

/// The name `skipif` / `onlyif` conditions match.
pub const ENGINE_NAME: &str = "laaster";

/// How long a SUBSCRIBE in a test may take to deliver its snapshot.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of a test run.
#[derive(Clone, Debug, Default)]
pub struct SltOptions {
    /// Worker threads per engine; `None` for [`EngineConfig::default`].
    pub workers: Option<usize>,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// Print each file and record as it runs.
    pub verbose: bool,
}

/// The outcome of a test run. `passed + failed + skipped` counts statement and query
/// records (not control records such as `hash-threshold` or `halt`); a file that cannot be
/// read or parsed counts as one failure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SltSummary {
    pub passed: usize,
    pub failed: usize,
    /// Records left out by `skipif` / `onlyif`.
    pub skipped: usize,
    /// One message per failure, each starting with its `file:line`.
    pub failures: Vec<String>,
}

impl SltSummary {
    /// `N passed, M failed` (plus `, K skipped` when records were skipped).
    pub fn summary_line(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            line.push_str(&format!(", {} skipped", self.skipped));
        }
        line
    }
}

/// Runs the `.slt` files among `paths` (directories are searched recursively; files are
/// sorted) and returns the counts. Failures are printed to stderr as they happen.
pub fn run_slt_files(paths: &[PathBuf], options: &SltOptions) -> SltSummary {
    let mut summary = SltSummary::default();
    let files = match collect_files(paths) {
        Ok(files) => files,
        Err(message) => {
            record_failure(&mut summary, message);
            return summary;
        }
    };
    for file in files {
        if options.verbose {
            eprintln!("running {}", file.display());
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| run_file(&file, options, &mut summary)));
        if let Err(panic) = outcome {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            record_failure(
                &mut summary,
                format!("{}: panicked: {reason}", file.display()),
            );
        }
        if options.fail_fast && summary.failed > 0 {
            break;
        }
    }
    summary
}

fn record_failure(summary: &mut SltSummary, message: String) {
    eprintln!("{message}\n");
    summary.failed += 1;
    summary.failures.push(message);
}

/// The `.slt` files under `paths`, each directory's files sorted.
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found).map_err(|e| format!("{}: {e}", path.display()))?;
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "slt") {
            found.push(path);
        }
    }
    Ok(())
}

/// Runs one file on a fresh engine, adding its records to `summary`.
fn run_file(file: &Path, options: &SltOptions, summary: &mut SltSummary) {
    let Some(name) = file.to_str() else {
        record_failure(summary, format!("{}: path is not UTF-8", file.display()));
        return;
    };
    // parse_file reads includes relative to the file; it panics on unreadable files, so
    // check readability first.
    if let Err(err) = std::fs::read_to_string(file) {
        record_failure(summary, format!("{name}: {err}"));
        return;
    }
    let records = match sqllogictest::parse_file::<DefaultColumnType>(name) {
        Ok(records) => records,
        Err(err) => {
            record_failure(
                summary,
                format!("{}: parse error: {}", err.location(), err.kind()),
            );
            return;
        }
    };
    let mut config = EngineConfig::default();
    if let Some(workers) = options.workers {
        config.workers = workers;
    }
    let engine = match Engine::start(config) {
        Ok(engine) => engine,
        Err(err) => {
            record_failure(summary, format!("{name}: cannot start the engine: {err}"));
            return;
        }
    };
    let mut runner = Runner::new(|| {
        let session = engine.session();
        async move { Ok::<_, SltError>(LaasterDb { session }) }
    });
    for record in records {
        if matches!(record, Record::Halt { .. }) {
            break;
        }
        let counted = counts_as_test(&record);
        if options.verbose && counted {
            eprintln!("{}", record_location(&record));
        }
        match runner.run(record) {
            Ok(RecordOutput::Nothing) if counted => summary.skipped += 1,
            Ok(_) if counted => summary.passed += 1,
            Ok(_) => {}
            Err(err) => {
                record_failure(summary, format!("{}: {}", err.location(), err.kind()));
                if options.fail_fast {
                    break;
                }
            }
        }
    }
    runner.shutdown();
}

/// Statements and queries are what the summary counts.
fn counts_as_test<T: ColumnType>(record: &Record<T>) -> bool {
    matches!(record, Record::Statement { .. } | Record::Query { .. })
}

fn record_location<T: ColumnType>(record: &Record<T>) -> String {
    match record {
        Record::Statement { loc, sql, .. } | Record::Query { loc, sql, .. } => {
            format!("{loc}: {}", sql.lines().next().unwrap_or_default())
        }
        _ => String::new(),
    }
}

/// An engine error as the test runner sees it: `Display` is the engine's message (what
/// `statement error <regex>` matches), and the SQLSTATE is exposed for
/// `error (sqlstate XXXXX)`-style expectations.
#[derive(Debug)]
pub struct SltError(pub ErrorResponse);

impl fmt::Display for SltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for SltError {}

/// One session of a test file's engine.
pub struct LaasterDb {
    session: Session,
}

impl LaasterDb {
    pub fn new(session: Session) -> Self {
        LaasterDb { session }
    }
}

impl sqllogictest::DB for LaasterDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let results = self.session.execute(sql).map_err(SltError)?;
        // A record normally holds one statement; its last result is the answer.
        match results.into_iter().last() {
            None => Ok(DBOutput::StatementComplete(0)),
            Some(ExecuteResult::Command { tag }) => {
                Ok(DBOutput::StatementComplete(rows_affected(&tag)))
            }
            Some(ExecuteResult::Rows(rows)) => Ok(slt_rows(
                rows.desc.columns.iter().map(|c| c.typ.scalar.slt_letter()),
                &rows.rows,
            )),
            Some(ExecuteResult::Subscription(feed)) => {
                let rows = subscribe_snapshot(&feed)?;
                Ok(slt_rows(
                    feed.desc.columns.iter().map(|c| c.typ.scalar.slt_letter()),
                    &rows,
                ))
            }
        }
    }

    fn engine_name(&self) -> &str {
        ENGINE_NAME
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        Some(err.0.code.clone())
    }
}

fn slt_rows(letters: impl Iterator<Item = char>, rows: &[Row]) -> DBOutput<DefaultColumnType> {
    let types = letters
        .map(|letter| DefaultColumnType::from_char(letter).unwrap_or(DefaultColumnType::Any))
        .collect();
    let rows = rows
        .iter()
        .map(|row| row.iter().map(slt_value).collect())
        .collect();
    DBOutput::Rows { types, rows }
}

/// A value as sqllogictest expects it: `NULL` for null, `(empty)` for the empty string,
/// otherwise Postgres' text output.
pub fn slt_value(datum: &Datum) -> String {
    let text = format_datum(datum);
    if text.is_empty() && !datum.is_null() {
        "(empty)".to_string()
    } else {
        text
    }
}

/// The row count of an `INSERT 0 n` / `UPDATE n` / `DELETE n` tag; 0 for other tags.
pub fn rows_affected(tag: &str) -> u64 {
    let mut words = tag.split_whitespace();
    match words.next() {
        Some("INSERT" | "UPDATE" | "DELETE" | "SELECT" | "COPY") => {
            words.last().and_then(|n| n.parse().ok()).unwrap_or(0)
        }
        _ => 0,
    }
}

/// A SUBSCRIBE in a test file answers with its snapshot: the rows at `as_of`
/// (updates at times up to the first progress mark past it), each repeated by its
/// multiplicity. The feed is dropped (cancelled) afterwards.
fn subscribe_snapshot(feed: &laaster_engine::Subscription) -> Result<Vec<Row>, SltError> {
    let mut rows: BTreeMap<Row, i64> = BTreeMap::new();
    let deadline = std::time::Instant::now() + SNAPSHOT_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let event = match feed.recv_timeout(left) {
            Ok(Some(event)) => event,
            Ok(None) => {
                return Err(SltError(ErrorResponse::new(
                    "57014",
                    "SUBSCRIBE snapshot did not complete in time",
                )));
            }
            Err(_) => break,
        };
        match event {
            SubscribeEvent::Updates(updates) => {
                for (row, _, diff) in updates {
                    *rows.entry(row).or_insert(0) += diff;
                }
            }
            SubscribeEvent::Progress(time) if time > feed.as_of => break,
            SubscribeEvent::Progress(_) => {}
            SubscribeEvent::Error(err) => return Err(SltError(err)),
        }
    }
    let mut snapshot = Vec::new();
    for (row, count) in rows {
        for _ in 0..count.max(0) {
            snapshot.push(row.clone());
        }
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_counts_from_tags() {
        assert_eq!(rows_affected("INSERT 0 3"), 3);
        assert_eq!(rows_affected("UPDATE 2"), 2);
        assert_eq!(rows_affected("DELETE 0"), 0);
        assert_eq!(rows_affected("CREATE TABLE"), 0);
        assert_eq!(rows_affected("DROP VIEW"), 0);
    }

    #[test]
    fn values_follow_slt_conventions() {
        assert_eq!(slt_value(&Datum::Null), "NULL");
        assert_eq!(slt_value(&Datum::text("")), "(empty)");
        assert_eq!(slt_value(&Datum::Int64(5)), "5");
        assert_eq!(slt_value(&Datum::Bool(true)), "t");
    }

    #[test]
    fn summary_line_shape() {
        let mut summary = SltSummary {
            passed: 3,
            failed: 1,
            ..SltSummary::default()
        };
        assert_eq!(summary.summary_line(), "3 passed, 1 failed");
        summary.skipped = 2;
        assert_eq!(summary.summary_line(), "3 passed, 1 failed, 2 skipped");
    }

    #[test]
    fn missing_paths_fail_without_panicking() {
        let summary = run_slt_files(
            &[PathBuf::from("/nonexistent/x.slt")],
            &SltOptions::default(),
        );
        assert_eq!(summary.failed, 1);
        assert!(summary.failures[0].contains("/nonexistent/x.slt"));
    }
}
