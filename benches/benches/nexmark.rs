//! The Nexmark runner: Flink's query texts on Laaster's `nexmark` source connector.
//!
//! ```text
//! cargo bench -p laaster-benches --bench nexmark -- --query q5 --events 10000000 --workers 2
//!     [--queries-dir ../shared/nexmark/flink-queries] [--query q0,q1,...|all] [--tps 10000]
//! ```
//!
//! For each query it runs, unmodified, `ddl_gen.sql` + `ddl_views.sql` and the query file,
//! substituting only the `${...}` placeholders and the sink: the query's
//! `CREATE TABLE ... WITH ('connector' = 'blackhole')` is skipped and its
//! `INSERT INTO sink SELECT ...` becomes `CREATE MATERIALIZED VIEW sink AS SELECT ...`.
//! It times from creating the source until the view has absorbed every event (the
//! source is exhausted and a read of the view after that returns), and prints one line:
//!
//! `laaster query=q5 events=N workers=W wall_s=.. cpu_s=.. events_per_s=.. events_per_cpu_s=.. peak_rss_mb=..`
//!
//! With `--sink blackhole` Flink's blackhole sink tables are kept as sinks (see
//! `SinkMode::Keep`) instead.
//!
//! Queries that Laaster cannot run yet print `laaster query=qN skipped reason="..."`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use laaster_connectors::nexmark::queries::{
    Placeholders, RewrittenQuery, SinkMode, queries_dir, rewrite_query_with, statements,
};
use laaster_engine::{Engine, EngineConfig, ExecuteResult};

struct Options {
    queries: Vec<String>,
    events: u64,
    workers: usize,
    dir: PathBuf,
    /// Events per second of event time (`${TPS}`); the same as `laaster nexmark-gen
    /// --rate` so both engines see identical timestamps.
    tps: u64,
    /// `--sink view` (default): the sink becomes a materialized view, read at the end.
    /// `--sink blackhole`: Flink's blackhole sink table is kept (the result is counted
    /// and discarded); the run ends when the source is exhausted and the sink's counts
    /// have not changed for 200 ms.
    sink: SinkMode,
}

fn parse_options() -> Options {
    let mut options = Options {
        queries: vec!["q0".into()],
        events: 1_000_000,
        workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        dir: queries_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap_or_default(),
        tps: 10_000,
        sink: SinkMode::MaterializedView,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--query" => {
                options.queries = if value == "all" {
                    (0..=22).map(|q| format!("q{q}")).collect()
                } else {
                    value.split(',').map(str::to_string).collect()
                }
            }
            "--events" => options.events = value.parse().unwrap_or(options.events),
            "--workers" => options.workers = value.parse().unwrap_or(options.workers),
            "--queries-dir" => options.dir = PathBuf::from(value),
            "--tps" => options.tps = value.parse().unwrap_or(options.tps),
            "--sink" => {
                options.sink = if value == "blackhole" {
                    SinkMode::Keep
                } else {
                    SinkMode::MaterializedView
                }
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

/// CPU seconds used by this process so far (user + system).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses).
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of this process in MiB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|kb| kb.parse::<f64>().ok())
                })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn run_query(options: &Options, query: &str) -> Result<String, String> {
    let read = |name: &str| {
        std::fs::read_to_string(options.dir.join(name))
            .map_err(|e| format!("cannot read {}: {e}", options.dir.join(name).display()))
    };
    let placeholders = Placeholders::new(options.events, options.tps);
    let ddl = placeholders.substitute(&read("ddl_gen.sql")?);
    let views = placeholders.substitute(&read("ddl_views.sql")?);
    let RewrittenQuery {
        statements: query_statements,
        sink,
    } = rewrite_query_with(
        &placeholders.substitute(&read(&format!("{query}.sql"))?),
        options.sink,
    );
    let kept_sink = query_statements
        .iter()
        .any(|s| s.to_uppercase().starts_with("INSERT INTO"));
    let sink = sink.ok_or_else(|| "the query file has no INSERT INTO".to_string())?;

    let engine = Engine::start(EngineConfig {
        workers: options.workers,
        ..EngineConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let mut session = engine.session();
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    if std::env::var_os("LAASTER_NEXMARK_EXPLAIN").is_some() {
        explain(&mut session, &ddl, &views, &query_statements);
        return Err("explained (LAASTER_NEXMARK_EXPLAIN is set)".into());
    }
    for statement in statements(&ddl)
        .iter()
        .chain(&statements(&views))
        .chain(&query_statements)
    {
        session
            .execute(statement)
            .map_err(|e| e.message.replace('"', "'"))?;
    }
    loop {
        let status = session
            .source_status("datagen")
            .map_err(|e| e.to_string())?;
        if status.done {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let rows = if kept_sink {
        settled_sink_rows(&mut session, &sink)?
    } else {
        let results = session
            .execute(&format!("SELECT count(*) FROM {sink}"))
            .map_err(|e| e.message.replace('"', "'"))?;
        match results.first() {
            Some(ExecuteResult::Rows(rows)) => rows
                .to_text()
                .first()
                .and_then(|r| r.first().cloned())
                .unwrap_or_default(),
            _ => String::new(),
        }
    };
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    let events = options.events as f64;
    Ok(format!(
        "laaster query={query} events={} workers={} wall_s={wall:.3} cpu_s={cpu:.3} events_per_s={:.0} events_per_cpu_s={:.0} peak_rss_mb={:.0} result_rows={rows}",
        options.events,
        options.workers,
        events / wall,
        events / cpu.max(1e-9),
        peak_rss_mb()
    ))
}

/// With `LAASTER_NEXMARK_EXPLAIN` set: creates the source and views, prints the dataflow
/// plan of each of the query's `CREATE MATERIALIZED VIEW ... AS SELECT` statements to
/// stderr, and runs nothing else.
fn explain(
    session: &mut laaster_engine::Session,
    ddl: &str,
    views: &str,
    query_statements: &[String],
) {
    for statement in statements(ddl).iter().chain(&statements(views)) {
        if let Err(e) = session.execute(statement) {
            eprintln!("explain: {}", e.message);
        }
    }
    for statement in query_statements {
        let upper = statement.to_uppercase();
        let Some(at) = upper.find(" AS SELECT") else {
            continue;
        };
        let select = &statement[at + 4..];
        match session.execute(&format!("EXPLAIN DATAFLOW PLAN FOR {select}")) {
            Ok(results) => {
                for result in results {
                    if let ExecuteResult::Rows(rows) = result {
                        for row in rows.to_text() {
                            eprintln!("{}", row.join(" | "));
                        }
                    }
                }
            }
            Err(e) => eprintln!("explain: {}", e.message),
        }
    }
}

/// Waits until sink `sink` has written every change up to now (its frontier in
/// `SHOW SINKS` passed the current time: the source, already exhausted, produced
/// nothing later); returns its net row count (inserted - retracted).
fn settled_sink_rows(session: &mut laaster_engine::Session, sink: &str) -> Result<String, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    loop {
        let results = session
            .execute("SHOW SINKS")
            .map_err(|e| e.message.replace('"', "'"))?;
        let row = match results.first() {
            Some(ExecuteResult::Rows(rows)) => rows
                .to_text()
                .into_iter()
                .find(|r| r.first().map(String::as_str) == Some(sink)),
            _ => None,
        };
        let Some(row) = row else {
            return Err(format!("sink {sink} is not in SHOW SINKS"));
        };
        let number = |i: usize| row.get(i).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let done = match row.get(6).map(String::as_str) {
            Some("closed") => true,
            Some(frontier) => frontier.parse::<u64>().is_ok_and(|f| f > now),
            None => false,
        };
        if done {
            return Ok((number(2) - number(3)).to_string());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let options = parse_options();
    for query in &options.queries {
        match run_query(&options, query) {
            Ok(line) => println!("{line}"),
            Err(reason) => println!("laaster query={query} skipped reason=\"{reason}\""),
        }
    }
}
