//! Server metrics, rendered as Prometheus text at `/metrics`.
//!
//! | metric | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | `laaster_rows_ingested_total` | counter | `table` | rows written through Ingest, `INSERT` over gRPC/HTTP |
//! | `laaster_source_rows_total` | gauge | `source` | rows a connector source has produced (from `SHOW SOURCES`) |
//! | `laaster_feed_updates_total` | counter | `feed` | updates a change feed received from the engine (per view or query) |
//! | `laaster_feed_messages_total` | counter | `transport` | messages sent to subscribers (`ws`, `grpc`) |
//! | `laaster_subscribers` | gauge | `feed`, `transport` | connected subscribers |
//! | `laaster_feed_lag_milliseconds` | gauge | `feed` | wall clock minus the feed's last progress mark |
//! | `laaster_ws_overflows_total` | counter | | WebSocket clients that overflowed their buffer |
//! | `laaster_update_latency_seconds` | histogram | | update arrival at the server minus the update's logical time |
//! | `laaster_statements_total` | counter | `result` | statements run over gRPC/HTTP (`ok`, `error`) |

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency histogram's buckets, in milliseconds.
const LATENCY_BUCKETS_MS: [u64; 12] = [1, 2, 3, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

/// All counters of one server.
#[derive(Default)]
pub struct Metrics {
    rows_ingested: Mutex<BTreeMap<String, u64>>,
    feed_updates: Mutex<BTreeMap<String, u64>>,
    feed_progress: Mutex<BTreeMap<String, u64>>,
    subscribers: Mutex<BTreeMap<(String, &'static str), i64>>,
    messages_ws: AtomicU64,
    messages_grpc: AtomicU64,
    ws_overflows: AtomicU64,
    statements_ok: AtomicU64,
    statements_error: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_MS.len()],
    latency_count: AtomicU64,
    latency_sum_ms: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A subscriber transport, for the `transport` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Grpc,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::WebSocket => "ws",
            Transport::Grpc => "grpc",
        }
    }
}

impl Metrics {
    pub fn rows_ingested(&self, table: &str, rows: u64) {
        *lock(&self.rows_ingested)
            .entry(table.to_string())
            .or_default() += rows;
    }

    pub fn statement(&self, ok: bool) {
        let counter = if ok {
            &self.statements_ok
        } else {
            &self.statements_error
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A feed received `updates` from the engine at wall-clock `now_ms`, with these
    /// logical times.
    pub fn feed_updates(&self, feed: &str, times: impl Iterator<Item = u64>, now_ms: u64) {
        let mut count = 0;
        for time in times {
            count += 1;
            self.observe_latency(now_ms.saturating_sub(time));
        }
        *lock(&self.feed_updates)
            .entry(feed.to_string())
            .or_default() += count;
    }

    pub fn feed_progress(&self, feed: &str, time: u64) {
        lock(&self.feed_progress).insert(feed.to_string(), time);
    }

    pub fn feed_closed(&self, feed: &str) {
        lock(&self.feed_progress).remove(feed);
    }

    pub fn subscriber_joined(&self, feed: &str, transport: Transport) {
        *lock(&self.subscribers)
            .entry((feed.to_string(), transport.label()))
            .or_default() += 1;
    }

    pub fn subscriber_left(&self, feed: &str, transport: Transport) {
        let mut subscribers = lock(&self.subscribers);
        let key = (feed.to_string(), transport.label());
        if let Some(count) = subscribers.get_mut(&key) {
            *count -= 1;
            if *count <= 0 {
                subscribers.remove(&key);
            }
        }
    }

    pub fn messages_sent(&self, transport: Transport, count: u64) {
        let counter = match transport {
            Transport::WebSocket => &self.messages_ws,
            Transport::Grpc => &self.messages_grpc,
        };
        counter.fetch_add(count, Ordering::Relaxed);
    }

    pub fn ws_overflow(&self) {
        self.ws_overflows.fetch_add(1, Ordering::Relaxed);
    }

    fn observe_latency(&self, ms: u64) {
        if let Some(i) = LATENCY_BUCKETS_MS.iter().position(|&bound| ms <= bound) {
            self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Subscribers of all feeds on one transport.
    pub fn subscriber_count(&self, transport: Transport) -> i64 {
        lock(&self.subscribers)
            .iter()
            .filter(|((_, t), _)| *t == transport.label())
            .map(|(_, n)| *n)
            .sum()
    }

    /// The Prometheus text exposition. `sources` are (name, rows) from `SHOW SOURCES`.
    pub fn render(&self, now_ms: u64, sources: &[(String, u64)]) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, kind: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        counter(
            &mut out,
            "laaster_rows_ingested_total",
            "Rows written into tables through the server.",
            "counter",
        );
        for (table, rows) in lock(&self.rows_ingested).iter() {
            let _ = writeln!(
                out,
                "laaster_rows_ingested_total{{table=\"{}\"}} {rows}",
                escape(table)
            );
        }
        counter(
            &mut out,
            "laaster_source_rows_total",
            "Rows produced by connector sources.",
            "gauge",
        );
        for (source, rows) in sources {
            let _ = writeln!(
                out,
                "laaster_source_rows_total{{source=\"{}\"}} {rows}",
                escape(source)
            );
        }
        counter(
            &mut out,
            "laaster_feed_updates_total",
            "Updates received by change feeds, per view or query.",
            "counter",
        );
        for (feed, count) in lock(&self.feed_updates).iter() {
            let _ = writeln!(
                out,
                "laaster_feed_updates_total{{feed=\"{}\"}} {count}",
                escape(feed)
            );
        }
        counter(
            &mut out,
            "laaster_feed_messages_total",
            "Messages sent to subscribers.",
            "counter",
        );
        let _ = writeln!(
            out,
            "laaster_feed_messages_total{{transport=\"ws\"}} {}",
            self.messages_ws.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "laaster_feed_messages_total{{transport=\"grpc\"}} {}",
            self.messages_grpc.load(Ordering::Relaxed)
        );
        counter(
            &mut out,
            "laaster_subscribers",
            "Connected subscribers per feed.",
            "gauge",
        );
        for ((feed, transport), count) in lock(&self.subscribers).iter() {
            let _ = writeln!(
                out,
                "laaster_subscribers{{feed=\"{}\",transport=\"{transport}\"}} {count}",
                escape(feed)
            );
        }
        counter(
            &mut out,
            "laaster_feed_lag_milliseconds",
            "Wall clock minus the feed's last progress mark.",
            "gauge",
        );
        for (feed, time) in lock(&self.feed_progress).iter() {
            let _ = writeln!(
                out,
                "laaster_feed_lag_milliseconds{{feed=\"{}\"}} {}",
                escape(feed),
                now_ms.saturating_sub(*time)
            );
        }
        counter(
            &mut out,
            "laaster_ws_overflows_total",
            "WebSocket clients that overflowed their buffer.",
            "counter",
        );
        let _ = writeln!(
            out,
            "laaster_ws_overflows_total {}",
            self.ws_overflows.load(Ordering::Relaxed)
        );
        counter(
            &mut out,
            "laaster_statements_total",
            "Statements run through the server.",
            "counter",
        );
        let _ = writeln!(
            out,
            "laaster_statements_total{{result=\"ok\"}} {}",
            self.statements_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "laaster_statements_total{{result=\"error\"}} {}",
            self.statements_error.load(Ordering::Relaxed)
        );
        self.render_latency(&mut out);
        out
    }

    fn render_latency(&self, out: &mut String) {
        let name = "laaster_update_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Update arrival at the server minus its logical time.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS_MS.iter().zip(&self.latency_buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1000.0
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.latency_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.rows_ingested("votes", 3);
        metrics.feed_updates("tally", [100, 98].into_iter(), 101);
        metrics.subscriber_joined("tally", Transport::WebSocket);
        metrics.subscriber_joined("tally", Transport::WebSocket);
        metrics.subscriber_left("tally", Transport::WebSocket);
        let text = metrics.render(200, &[("bids".to_string(), 10)]);
        assert!(
            text.contains("laaster_rows_ingested_total{table=\"votes\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("laaster_feed_updates_total{feed=\"tally\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("laaster_subscribers{feed=\"tally\",transport=\"ws\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("laaster_source_rows_total{source=\"bids\"} 10"),
            "{text}"
        );
        // Latencies 1 ms and 3 ms: one in the 0.001 bucket, both by 0.003.
        assert!(
            text.contains("laaster_update_latency_seconds_bucket{le=\"0.001\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("laaster_update_latency_seconds_bucket{le=\"0.003\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("laaster_update_latency_seconds_count 2"),
            "{text}"
        );
    }
}
