//! Flat memory for windowed aggregation over an unbounded-style stream: the same
//! windowed query on the `nexmark` source with N and with 10N events, each run in a
//! fresh process, reporting peak resident memory and throughput.
//!
//! ```text
//! cargo bench -p laaster-benches --bench window_memory -- [--events 1000000] [--workers 2]
//!     [--tps 10000] [--mode window|reduce|both]
//! ```
//!
//! The query counts bids, their maximum, minimum and average price and distinct bidders
//! per 10-second tumbling window (`--mode window`, planned as the window aggregate that
//! frees a window's state once the watermark passes it). `--mode reduce` adds a float sum,
//! which the window operator does not implement, so the planner keeps the ordinary reduce
//! (which keeps every input row): the contrast shows what freeing state buys. Each run
//! prints one line:
//!
//! `window_memory mode=window events=N workers=W wall_s=.. events_per_s=.. peak_rss_mb=.. windows=.. bids=.. peak_join_rows=..`
//!
//! (`peak_join_rows`: the most rows the interval joins held at once, sampled every 5 ms.)
//!
//! and the parent prints the ratio of the 10N run's peak RSS to the N run's.
//!
//! `--mode interval_join` runs Nexmark q7 (flink-queries/q7.sql: each 10-second window's
//! highest bid joined back to the bids of that window by an interval on event time),
//! planned as the interval join that frees a bid once the watermark has passed the
//! windows it can match. `--mode join` runs the same query with the bids read through a
//! `UNION ALL` with an empty branch, which the planner does not see through, so it keeps
//! the ordinary join (every bid kept). `--mode joins` runs both. Their lines report
//! `windows=` as the number of result rows.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use laaster_connectors::nexmark::queries::{Placeholders, queries_dir, statements};
use laaster_dataflow::render::interval_join::interval_join_metrics;
use laaster_engine::{Engine, EngineConfig, ExecuteResult};

struct Options {
    events: u64,
    workers: usize,
    tps: u64,
    modes: Vec<String>,
    /// Set in the child process: run one measurement and print its line.
    child: bool,
}

fn parse_options() -> Options {
    let mut options = Options {
        events: 1_000_000,
        workers: 2,
        tps: 10_000,
        modes: vec!["window".into()],
        child: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--events" => options.events = value.parse().unwrap_or(options.events),
            "--workers" => options.workers = value.parse().unwrap_or(options.workers),
            "--tps" => options.tps = value.parse().unwrap_or(options.tps),
            "--mode" => {
                options.modes = match value.as_str() {
                    "both" => vec!["window".into(), "reduce".into()],
                    "joins" => vec!["interval_join".into(), "join".into()],
                    other => vec![other.to_string()],
                }
            }
            "--child" => {
                options.child = true;
                i += 1;
                continue;
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

/// Peak resident memory of this process in MiB (VmHWM).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Nexmark q7 over `bids` (flink-queries/q7.sql without its sink).
fn q7(bids: &str) -> String {
    format!(
        "CREATE MATERIALIZED VIEW windows AS
         SELECT B.auction, B.price, B.bidder, B.`dateTime`, B.extra
         FROM {bids} B
         JOIN (
           SELECT MAX(price) AS maxprice, window_end AS `dateTime`
           FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
           GROUP BY window_start, window_end
         ) B1
         ON B.price = B1.maxprice
         WHERE B.`dateTime` BETWEEN B1.`dateTime` - INTERVAL '10' SECOND AND B1.`dateTime`"
    )
}

fn query(mode: &str) -> String {
    match mode {
        "interval_join" => return q7("bid"),
        "join" => {
            return format!(
                "CREATE VIEW bid_all_kept AS SELECT * FROM bid UNION ALL SELECT * FROM bid WHERE price < 0;
                 {}",
                q7("bid_all_kept")
            );
        }
        _ => {}
    }
    let extra = if mode == "reduce" {
        ", sum(price::double precision) AS float_total"
    } else {
        ""
    };
    format!(
        "CREATE MATERIALIZED VIEW windows AS
         SELECT window_start, window_end, count(*) AS bids, max(price) AS high,
                min(price) AS low, avg(price) AS mean, count(DISTINCT bidder) AS bidders{extra}
         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end"
    )
}

/// One measurement in this process.
fn run(options: &Options, mode: &str) -> Result<String, String> {
    let dir = queries_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .ok_or("the Nexmark query directory (../shared/nexmark/flink-queries) is missing")?;
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
    };
    let placeholders = Placeholders::new(options.events, options.tps);
    let ddl = placeholders.substitute(&read("ddl_gen.sql")?);
    let views = placeholders.substitute(&read("ddl_views.sql")?);
    let engine = Engine::start(EngineConfig {
        workers: options.workers,
        ..EngineConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let mut session = engine.session();
    let start = Instant::now();
    for statement in statements(&ddl).iter().chain(&statements(&views)) {
        session.execute(statement).map_err(|e| e.to_string())?;
    }
    for statement in statements(&query(mode)) {
        session.execute(&statement).map_err(|e| e.to_string())?;
    }
    // The most rows the interval joins held at once (sampled): their state, as against
    // the process's memory.
    let mut peak_join_rows = 0;
    while !session
        .source_status("datagen")
        .map_err(|e| e.to_string())?
        .done
    {
        peak_join_rows = peak_join_rows.max(interval_join_metrics().live_rows);
        std::thread::sleep(Duration::from_millis(5));
    }
    let results = session
        .execute(if mode.ends_with("join") {
            "SELECT count(*), count(*) FROM windows"
        } else {
            "SELECT count(*), sum(bids) FROM windows"
        })
        .map_err(|e| e.to_string())?;
    let wall = start.elapsed().as_secs_f64();
    let (windows, bids) = match results.first() {
        Some(ExecuteResult::Rows(rows)) => {
            let row = rows.to_text().into_iter().next().unwrap_or_default();
            (
                row.first().cloned().unwrap_or_default(),
                row.get(1).cloned().unwrap_or_default(),
            )
        }
        _ => (String::new(), String::new()),
    };
    Ok(format!(
        "window_memory mode={mode} events={} workers={} wall_s={wall:.3} events_per_s={:.0} peak_rss_mb={:.0} windows={windows} bids={bids} peak_join_rows={peak_join_rows}",
        options.events,
        options.workers,
        options.events as f64 / wall,
        peak_rss_mb()
    ))
}

/// Runs one measurement in a child process (so each peak RSS is its own) and returns
/// its line.
fn spawn(options: &Options, mode: &str, events: u64) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args([
            "--child",
            "--mode",
            mode,
            "--events",
            &events.to_string(),
            "--workers",
            &options.workers.to_string(),
            "--tps",
            &options.tps.to_string(),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with("window_memory "))
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "the run printed no result: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

fn field(line: &str, name: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let options = parse_options();
    if options.child {
        let mode = options.modes.first().cloned().unwrap_or_default();
        match run(&options, &mode) {
            Ok(line) => println!("{line}"),
            Err(reason) => println!("window_memory mode={mode} failed reason=\"{reason}\""),
        }
        return;
    }
    for mode in &options.modes {
        let small = spawn(&options, mode, options.events);
        let large = spawn(&options, mode, options.events * 10);
        for line in [&small, &large] {
            match line {
                Ok(line) => println!("{line}"),
                Err(reason) => println!("window_memory mode={mode} failed reason=\"{reason}\""),
            }
        }
        if let (Ok(small), Ok(large)) = (&small, &large)
            && let (Some(a), Some(b)) = (field(small, "peak_rss_mb"), field(large, "peak_rss_mb"))
        {
            println!(
                "window_memory mode={mode} peak_rss_ratio_10x={:.2}",
                b / a.max(1.0)
            );
        }
    }
}
