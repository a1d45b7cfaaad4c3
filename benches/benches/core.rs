//! Core throughput benchmarks: the SQL path against a hand-written differential
//! dataflow program doing the same work (the substrate's ceiling).
//!
//! ```text
//! cargo bench -p laaster-benches --bench core -- [--rows N] [--keys K] [--batch B] [--workers W] [--only groupby|join]
//! ```
//!
//! Prints one line per run: `bench=<name> path=<sql|dd> workers=W rows=N seconds=S rows_per_s=R`.
//! Each figure is the median of `--repeat` runs (default 3).
//!
//! On a shared machine wall time is noisy; instruction counts are not. One path alone,
//! under callgrind, gives a repeatable count to compare:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/core-* \
//!     --only join --workers 1 --repeat 1 --rows 200000 --paths sql            # or dd_same_state
//! ```

use std::time::Instant;

use differential_dataflow::input::InputSession;
use laaster_engine::{Engine, EngineConfig, ExecuteResult};
use laaster_repr::{Datum, Row};

struct Options {
    rows: u64,
    keys: u64,
    batch: u64,
    workers: Vec<usize>,
    repeat: usize,
    only: Option<String>,
    /// Which paths to run (`sql`, `dd`; `dd_same_state` for that variant alone); `sql,dd`
    /// by default. One path alone is for profiling and instruction counts.
    paths: Vec<String>,
}

fn parse_options() -> Options {
    let mut options = Options {
        rows: 2_000_000,
        keys: 100_000,
        batch: 10_000,
        workers: vec![1, 2],
        repeat: 3,
        only: None,
        paths: vec!["sql".into(), "dd".into()],
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--rows" => options.rows = value.parse().unwrap_or(options.rows),
            "--keys" => options.keys = value.parse().unwrap_or(options.keys),
            "--batch" => options.batch = value.parse().unwrap_or(options.batch),
            "--workers" => {
                options.workers = value.split(',').filter_map(|w| w.parse().ok()).collect()
            }
            "--repeat" => options.repeat = value.parse().unwrap_or(options.repeat),
            "--only" => options.only = Some(value),
            "--paths" => options.paths = value.split(',').map(str::to_string).collect(),
            // cargo bench passes --bench; ignore unknown flags.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

/// A deterministic pseudo-random key sequence (xorshift), the same for both paths.
fn key_at(index: u64, keys: u64) -> u64 {
    let mut x = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    x % keys
}

/// Group-by rows spread over `keys` keys; join rows match exactly one partner each.
fn key_of(index: u64, keys: u64, join: bool) -> u64 {
    if join { index } else { key_at(index, keys) }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Inserts `rows` rows through the engine's programmatic path into the tables feeding
/// `view`, and times until the view has absorbed them all: a read of the view at a
/// timestamp after the last write waits until the view's arrangement has passed it
/// (the same completion a differential probe observes). Until 2026-11-28 that read was
/// the `count(*)` check itself, which added 0.13–0.2 s to 2M-row runs.
fn sql_run(
    workers: usize,
    options: &Options,
    tables: &[&str],
    setup: &str,
    view: &str,
    join: bool,
) -> f64 {
    let engine = Engine::start(EngineConfig {
        workers,
        ..EngineConfig::default()
    })
    .expect("engine");
    let mut session = engine.session();
    session.execute(setup).expect("setup");
    let start = Instant::now();
    let mut inserted = 0;
    while inserted < options.rows {
        let n = options.batch.min(options.rows - inserted);
        for table in tables {
            let rows: Vec<Row> = (inserted..inserted + n)
                .map(|i| {
                    Row::new(vec![
                        Datum::Int64(key_of(i, options.keys, join) as i64),
                        Datum::Int64(i as i64),
                    ])
                })
                .collect();
            session.insert_rows(table, rows).expect("insert");
        }
        inserted += n;
    }
    // The cheapest read that still waits for the view to pass the last write's
    // timestamp: one row (the workers stop after it). The count checked below is not
    // timed: it is a second query the hand-written program does not run.
    session
        .execute(&format!("SELECT * FROM {view} LIMIT 1"))
        .expect("read");
    let seconds = start.elapsed().as_secs_f64();
    let results = session
        .execute(&format!("SELECT count(*) FROM {view}"))
        .expect("count");
    let Some(ExecuteResult::Rows(rows)) = results.into_iter().next() else {
        panic!("no rows")
    };
    let expected = if join {
        options.rows as usize
    } else {
        (0..options.rows)
            .map(|i| key_at(i, options.keys))
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    assert_eq!(
        rows.to_text(),
        vec![vec![expected.to_string()]],
        "the view absorbed every row"
    );
    seconds
}

/// The same work written directly against differential dataflow. With `same_state`,
/// it also keeps what the SQL engine keeps: each table arranged by its whole row and the
/// view's result arranged (so both can be queried); without, only the operator itself.
fn dd_run(workers: usize, options: &Options, join: bool, same_state: bool) -> f64 {
    let rows = options.rows;
    let keys = options.keys;
    let batch = options.batch;
    let start = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        let index = worker.index() as u64;
        let peers = worker.peers() as u64;
        let mut left = InputSession::<u64, (u64, u64), isize>::new();
        let mut right = InputSession::<u64, (u64, u64), isize>::new();
        let probe = worker.dataflow::<u64, _, _>(|scope| {
            let mut l = left.to_collection(scope);
            let mut r = right.to_collection(scope);
            if same_state {
                l = l
                    .arrange_by_self()
                    .as_collection(|row: &(u64, u64), _: &()| *row);
                r = r
                    .arrange_by_self()
                    .as_collection(|row: &(u64, u64), _: &()| *row);
            }
            if join {
                let joined = l.join(r).map(|(k, (x, y))| (k, x, y));
                if same_state {
                    let (probe, _) = joined
                        .arrange_by_self()
                        .as_collection(|row, _: &()| *row)
                        .probe();
                    probe
                } else {
                    let (probe, _) = joined.probe();
                    probe
                }
            } else {
                let counts = l.map(|(k, _v)| k).count();
                if same_state {
                    let (probe, _) = counts
                        .arrange_by_self()
                        .as_collection(|row, _: &()| *row)
                        .probe();
                    probe
                } else {
                    let (probe, _) = counts.probe();
                    probe
                }
            }
        });
        let mut time = 0;
        let mut inserted = 0;
        while inserted < rows {
            let n = batch.min(rows - inserted);
            for i in (inserted..inserted + n).filter(|i| i % peers == index) {
                left.insert((key_of(i, keys, join), i));
                if join {
                    right.insert((key_of(i, keys, join), i));
                }
            }
            inserted += n;
            time += 1;
            left.advance_to(time);
            right.advance_to(time);
            left.flush();
            right.flush();
            worker.step();
        }
        worker.step_while(|| probe.less_than(&time));
    })
    .expect("timely");
    start.elapsed().as_secs_f64()
}

fn report(name: &str, path: &str, workers: usize, options: &Options, seconds: f64) {
    println!(
        "bench={name} path={path} workers={workers} rows={} seconds={seconds:.3} rows_per_s={:.0}",
        options.rows,
        options.rows as f64 / seconds
    );
}

/// Runs the differential variants the options name and prints the SQL path's time
/// relative to each.
fn compare(name: &str, workers: usize, options: &Options, sql: Option<f64>, join: bool) {
    let same = median(
        (0..options.repeat)
            .map(|_| dd_run(workers, options, join, true))
            .collect(),
    );
    report(name, "dd_same_state", workers, options, same);
    if !options.paths.iter().any(|p| p == "dd") {
        return;
    }
    let Some(sql) = sql else {
        return;
    };
    let bare = median(
        (0..options.repeat)
            .map(|_| dd_run(workers, options, join, false))
            .collect(),
    );
    report(name, "dd_operator_only", workers, options, bare);
    println!(
        "bench={name} workers={workers} sql_over_dd_same_state={:.2} sql_over_dd_operator_only={:.2}",
        sql / same,
        sql / bare
    );
}

fn main() {
    let options = parse_options();
    let run = |name: &str| options.only.as_deref().is_none_or(|o| o == name);
    for &workers in &options.workers {
        let sql_path = options.paths.iter().any(|p| p == "sql");
        let dd_path = options
            .paths
            .iter()
            .any(|p| p == "dd" || p == "dd_same_state");
        if run("groupby") {
            let sql = sql_path.then(|| median((0..options.repeat).map(|_| {
                sql_run(
                    workers,
                    &options,
                    &["t"],
                    "CREATE TABLE t (k BIGINT, v BIGINT); CREATE MATERIALIZED VIEW counts AS SELECT k, count(*) AS n FROM t GROUP BY k",
                    "counts",
                    false,
                )
            }).collect()));
            if let Some(sql) = sql {
                report("groupby", "sql", workers, &options, sql);
            }
            if dd_path {
                compare("groupby", workers, &options, sql, false);
            }
        }
        if run("join") {
            let sql = sql_path.then(|| median((0..options.repeat).map(|_| {
                sql_run(
                    workers,
                    &options,
                    &["a", "b"],
                    "CREATE TABLE a (k BIGINT, x BIGINT); CREATE TABLE b (k BIGINT, y BIGINT); CREATE MATERIALIZED VIEW joined AS SELECT a.k, a.x, b.y FROM a JOIN b ON a.k = b.k",
                    "joined",
                    true,
                )
            }).collect()));
            if let Some(sql) = sql {
                report("join", "sql", workers, &options, sql);
            }
            if dd_path {
                compare("join", workers, &options, sql, true);
            }
        }
    }
}
