//! Sink dataflows: `INSERT INTO sink SELECT ...` where `sink` is a table declared with
//! `WITH ('connector' = ...)`, and `CREATE SINK name FROM relation WITH (...)`.
//!
//! The query is rendered like a materialized view's, but instead of being arranged its
//! changes flow into a sink operator on every worker:
//!
//! - `blackhole` counts the rows inserted and retracted and keeps nothing (no
//!   consolidation, no state): the cost of the query alone, as Flink's blackhole sink.
//! - `print` consolidates each timestamp's changes (so a row inserted and retracted at
//!   the same time prints nothing) and prints one line per copy to standard output, as
//!   Flink's print sink: `+I[a, 1]` for an insertion, `-D[a, 1]` for a retraction,
//!   prefixed by `'print-identifier'` and, with several workers, the worker's number
//!   (`id:2> +I[...]`). NULL prints as `null`.
//!
//! Both update the shared [`SinkCounters`] the coordinator reads (`SHOW SINKS`).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use laaster_repr::{Datum, Diff, Row};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;

use crate::render::Rendered;

/// How many printed lines [`SinkCounters::recent`] keeps.
const RECENT_LINES: usize = 1_000;

/// Where a sink's changes go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkConnector {
    /// Counted and discarded.
    Blackhole,
    /// An external system (Redis, NATS JetStream, files, ...), through the connector
    /// registry, in a [`crate::external::SinkMode`] (see
    /// [`crate::external::render_external_sink`]).
    External(crate::external::ExternalSink),
    /// Printed to standard output, one line per row copy.
    Print {
        /// `'print-identifier'`: a prefix naming the sink in the output.
        identifier: Option<String>,
        /// `'standard-error' = 'true'`: print to standard error instead.
        standard_error: bool,
    },
}

/// What every worker's sink operator reports, shared with the coordinator.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Row copies inserted (positive diffs).
    pub inserted: AtomicU64,
    /// Row copies retracted (negative diffs).
    pub retracted: AtomicU64,
    /// Evaluation errors the query produced (the rows they stand for were not written).
    pub errors: AtomicU64,
    /// The last lines a print sink printed (at most 1,000), oldest first.
    pub recent: Mutex<VecDeque<String>>,
    /// Each worker's sink input frontier: every change at an earlier time has been
    /// written (`None`: the input is complete).
    pub frontiers: Mutex<std::collections::BTreeMap<usize, Option<laaster_repr::Timestamp>>>,
    /// The last error a worker reported (a retraction an append-only sink could not
    /// write, a key with several rows, a connector failure), for `SHOW SINKS`.
    pub last_error: Mutex<Option<String>>,
}

impl SinkCounters {
    /// The earliest time not yet fully written, over `workers` workers; `None` once
    /// every worker's input is complete, `Some(0)` before every worker has reported.
    pub fn frontier(&self, workers: usize) -> Option<laaster_repr::Timestamp> {
        let frontiers = self.frontiers.lock().ok()?;
        if frontiers.len() < workers {
            return Some(0);
        }
        frontiers.values().flatten().min().copied()
    }

    /// Records `message` as the sink's last error.
    pub fn set_last_error(&self, message: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }

    pub(crate) fn record_frontier(&self, worker: usize, frontier: Option<laaster_repr::Timestamp>) {
        if let Ok(mut frontiers) = self.frontiers.lock() {
            frontiers.insert(worker, frontier);
        }
    }
}

/// A sink dataflow's description, sent to every worker.
#[derive(Debug)]
pub struct SinkSpec {
    /// The sink table's name.
    pub name: String,
    pub connector: SinkConnector,
    pub counters: std::sync::Arc<SinkCounters>,
}

/// `+I[a, 1]` / `-D[a, 1]`, Flink's print format.
pub fn format_change(row: &Row, inserted: bool) -> String {
    let values: Vec<String> = row
        .iter()
        .map(|datum| match datum {
            Datum::Null => "null".to_string(),
            other => laaster_repr::strconv::format_datum(other),
        })
        .collect();
    format!(
        "{}[{}]",
        if inserted { "+I" } else { "-D" },
        values.join(", ")
    )
}

/// Attaches the sink operator for `spec` to the rendered query.
pub fn render_sink(
    rendered: Rendered<'_>,
    spec: &std::sync::Arc<SinkSpec>,
    worker: usize,
    peers: usize,
) {
    let counters = std::sync::Arc::clone(&spec.counters);
    rendered
        .errs
        .inner
        .sink(Pipeline, "SinkErrors", move |(input, _frontier)| {
            input.for_each(|_capability, data| {
                let errors: Diff = data.iter().map(|(_, _, diff)| diff.max(&0)).sum();
                counters
                    .errors
                    .fetch_add(u64::try_from(errors).unwrap_or(0), Ordering::Relaxed);
                // As in the blackhole: a reused container must not keep the errors alive.
                data.clear();
            });
        });
    let counters = std::sync::Arc::clone(&spec.counters);
    match &spec.connector {
        SinkConnector::External(sink) => {
            crate::external::render_external_sink(rendered.oks, sink, counters, worker, peers);
        }
        SinkConnector::Blackhole => {
            rendered
                .oks
                .inner
                .sink(Pipeline, "Blackhole", move |(input, frontier)| {
                    input.for_each(|_capability, data| {
                        for (_, _, diff) in data.iter() {
                            count(&counters, *diff);
                        }
                        // Drop the rows now: a container handed back for reuse would
                        // otherwise keep them alive.
                        data.clear();
                    });
                    counters.record_frontier(worker, frontier.frontier().first().copied());
                });
        }
        SinkConnector::Print {
            identifier,
            standard_error,
        } => {
            let prefix = match (identifier, peers > 1) {
                (Some(id), true) => format!("{id}:{}> ", worker + 1),
                (Some(id), false) => format!("{id}> "),
                (None, true) => format!("{}> ", worker + 1),
                (None, false) => String::new(),
            };
            // The process's stdout through a descriptor of our own: the `Stdout` handle's
            // lock may be held by the embedding program (the CLI holds it while it waits
            // for a statement), and a worker must never block on it.
            let path = if *standard_error {
                "/dev/stderr"
            } else {
                "/dev/stdout"
            };
            let mut output = std::fs::OpenOptions::new().append(true).open(path).ok();
            rendered
                .oks
                .consolidate()
                .inner
                .sink(Pipeline, "Print", move |(input, frontier)| {
                    let mut lines = Vec::new();
                    input.for_each(|_capability, data| {
                        let mut changes: Vec<(Row, laaster_repr::Timestamp, Diff)> =
                            std::mem::take(data);
                        // Retractions before insertions at each time, as Flink's -U/+U.
                        changes.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)));
                        for (row, _time, diff) in changes {
                            count(&counters, diff);
                            let line = format!("{prefix}{}", format_change(&row, diff > 0));
                            for _ in 0..diff.unsigned_abs() {
                                lines.push(line.clone());
                            }
                        }
                    });
                    let reached = frontier.frontier().first().copied();
                    if lines.is_empty() {
                        counters.record_frontier(worker, reached);
                        return;
                    }
                    let mut text = lines.join("\n");
                    text.push('\n');
                    // A closed stdout (a pipe whose reader left) must not crash the worker.
                    if let Some(out) = output.as_mut() {
                        let _ = out.write_all(text.as_bytes());
                    }
                    if let Ok(mut recent) = counters.recent.lock() {
                        for line in lines {
                            if recent.len() == RECENT_LINES {
                                recent.pop_front();
                            }
                            recent.push_back(line);
                        }
                    }
                    counters.record_frontier(worker, reached);
                });
        }
    }
}

fn count(counters: &SinkCounters, diff: Diff) {
    let copies = diff.unsigned_abs();
    if diff > 0 {
        counters.inserted.fetch_add(copies, Ordering::Relaxed);
    } else {
        counters.retracted.fetch_add(copies, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_print_like_flink() {
        let row = Row::new(vec![Datum::Int64(1), Datum::Null]);
        assert_eq!(format_change(&row, true), "+I[1, null]");
        assert_eq!(format_change(&row, false), "-D[1, null]");
    }
}
