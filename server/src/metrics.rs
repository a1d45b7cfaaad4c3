//! Server metrics, rendered as Prometheus text at `/metrics`.
//!
//! | metric | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | `laaster_rows_ingested_total` | counter | `table` | rows written through Ingest, `INSERT` over gRPC/HTTP |
//! | `laaster_source_rows_total` | gauge | `source` | rows a connector source has produced (from `SHOW SOURCES`) |
//! | `laaster_feed_updates_total` | counter | `feed` | updates a change feed received from the engine (per view or query) |
//! | `laaster_feed_messages_total` | counter | `transport` | messages sent to subscribers (`ws`, `grpc`) |
//! | `laaster_subscribers` | gauge | `feed`, `transport` | connected subscribers |
//! | `laaster_subscriber_lag_milliseconds` | gauge | `feed`, `transport`, `subscriber` | the view's frontier (as the server has it from the engine) minus the frontier of the last event written to this subscriber; 0 when nothing is queued for it |
//! | `laaster_subscriber_queued` | gauge | `feed`, `transport`, `subscriber` | events queued for this subscriber, not yet written to its socket |
//! | `laaster_feed_lag_milliseconds` | gauge | `feed` | wall clock minus the feed's last progress mark |
//! | `laaster_subscriber_overflows_total` | counter | `transport` | subscribers that overflowed their queue (told, then resynced or disconnected) |
//! | `laaster_ws_overflows_total` | counter | | WebSocket clients that overflowed their buffer |
//! | `laaster_arrangement_records` | gauge | `name`, `kind` | updates held in a table's or view's arrangement, over all workers |
//! | `laaster_update_latency_seconds` | histogram | | update arrival at the server minus the update's logical time |
//! | `laaster_statements_total` | counter | `result` | statements run over gRPC/HTTP (`ok`, `error`) |

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use laaster_engine::ArrangementSize;

/// Upper bounds of the latency histogram's buckets, in milliseconds.
const LATENCY_BUCKETS_MS: [u64; 12] = [1, 2, 3, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

/// All counters of one server.
#[derive(Default)]
pub struct Metrics {
    rows_ingested: Mutex<BTreeMap<String, u64>>,
    feed_updates: Mutex<BTreeMap<String, u64>>,
    feed_progress: Mutex<BTreeMap<String, u64>>,
    subscribers: Mutex<BTreeMap<u64, Subscriber>>,
    next_subscriber: AtomicU64,
    messages_ws: AtomicU64,
    messages_grpc: AtomicU64,
    ws_overflows: AtomicU64,
    grpc_overflows: AtomicU64,
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

/// One connected subscriber, as the metrics see it.
struct Subscriber {
    feed: String,
    transport: Transport,
    position: Arc<SubscriberPosition>,
}

/// How far one subscriber has got, updated by whoever queues and writes its events.
#[derive(Debug, Default)]
pub struct SubscriberPosition {
    /// The view's latest progress mark as the server has it from the engine (shared by
    /// every WebSocket client of one feed).
    pub view_frontier: Arc<AtomicU64>,
    /// The progress mark of the last event written to the client's socket: the client
    /// has every change before it (or, after a snapshot, the view as of it).
    pub delivered: AtomicU64,
    /// Events queued for the client and not yet written.
    pub queued: AtomicI64,
}

impl SubscriberPosition {
    /// A position whose view frontier is `view_frontier`.
    pub fn new(view_frontier: Arc<AtomicU64>) -> Arc<SubscriberPosition> {
        Arc::new(SubscriberPosition {
            view_frontier,
            ..SubscriberPosition::default()
        })
    }

    /// An event went into the client's queue.
    pub fn queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// An event carrying progress `frontier` was written to the client (or dropped).
    pub fn written(&self, frontier: u64) {
        self.delivered.fetch_max(frontier, Ordering::Relaxed);
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// Queued events were dropped (overflow); the client starts over.
    pub fn reset(&self, dropped: i64) {
        self.queued.fetch_sub(dropped, Ordering::Relaxed);
    }

    /// Milliseconds the client is behind the view: 0 when nothing is queued for it
    /// (idle progress marks are coalesced, so a client with nothing queued has all
    /// there is).
    pub fn lag_ms(&self) -> u64 {
        if self.queued.load(Ordering::Relaxed) <= 0 {
            return 0;
        }
        self.view_frontier
            .load(Ordering::Relaxed)
            .saturating_sub(self.delivered.load(Ordering::Relaxed))
    }
}

/// A subscriber's registration; see [`Metrics::subscriber_joined`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriberId(u64);

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

    /// Counts a subscriber of `feed` until [`Metrics::subscriber_left`]; its lag is
    /// read from `position`.
    pub fn subscriber_joined(
        &self,
        feed: &str,
        transport: Transport,
        position: Arc<SubscriberPosition>,
    ) -> SubscriberId {
        let id = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        lock(&self.subscribers).insert(
            id,
            Subscriber {
                feed: feed.to_string(),
                transport,
                position,
            },
        );
        SubscriberId(id)
    }

    pub fn subscriber_left(&self, id: SubscriberId) {
        lock(&self.subscribers).remove(&id.0);
    }

    /// A subscriber's queue overflowed.
    pub fn overflow(&self, transport: Transport) {
        match transport {
            Transport::WebSocket => &self.ws_overflows,
            Transport::Grpc => &self.grpc_overflows,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn messages_sent(&self, transport: Transport, count: u64) {
        let counter = match transport {
            Transport::WebSocket => &self.messages_ws,
            Transport::Grpc => &self.messages_grpc,
        };
        counter.fetch_add(count, Ordering::Relaxed);
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
            .values()
            .filter(|s| s.transport == transport)
            .count() as i64
    }

    /// The Prometheus text exposition. `sources` are (name, rows) from `SHOW SOURCES`,
    /// `arrangements` the engine's arrangement sizes.
    pub fn render(
        &self,
        now_ms: u64,
        sources: &[(String, u64)],
        arrangements: &[ArrangementSize],
    ) -> String {
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
        let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        let subscribers = lock(&self.subscribers);
        for subscriber in subscribers.values() {
            *counts
                .entry((&subscriber.feed, subscriber.transport.label()))
                .or_default() += 1;
        }
        for ((feed, transport), count) in counts {
            let _ = writeln!(
                out,
                "laaster_subscribers{{feed=\"{}\",transport=\"{transport}\"}} {count}",
                escape(feed)
            );
        }
        counter(
            &mut out,
            "laaster_subscriber_lag_milliseconds",
            "The view's frontier minus the frontier of the last event written to the subscriber (0 when nothing is queued for it).",
            "gauge",
        );
        for (id, subscriber) in subscribers.iter() {
            let _ = writeln!(
                out,
                "laaster_subscriber_lag_milliseconds{{feed=\"{}\",transport=\"{}\",subscriber=\"{id}\"}} {}",
                escape(&subscriber.feed),
                subscriber.transport.label(),
                subscriber.position.lag_ms()
            );
        }
        counter(
            &mut out,
            "laaster_subscriber_queued",
            "Events queued for the subscriber, not yet written to its socket.",
            "gauge",
        );
        for (id, subscriber) in subscribers.iter() {
            let _ = writeln!(
                out,
                "laaster_subscriber_queued{{feed=\"{}\",transport=\"{}\",subscriber=\"{id}\"}} {}",
                escape(&subscriber.feed),
                subscriber.transport.label(),
                subscriber.position.queued.load(Ordering::Relaxed).max(0)
            );
        }
        drop(subscribers);
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
            "laaster_subscriber_overflows_total",
            "Subscribers that overflowed their queue (told, then resynced or disconnected).",
            "counter",
        );
        for (transport, count) in [("ws", &self.ws_overflows), ("grpc", &self.grpc_overflows)] {
            let _ = writeln!(
                out,
                "laaster_subscriber_overflows_total{{transport=\"{transport}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        counter(
            &mut out,
            "laaster_arrangement_records",
            "Updates held in a table's or view's arrangement, over all workers.",
            "gauge",
        );
        for size in arrangements {
            let _ = writeln!(
                out,
                "laaster_arrangement_records{{name=\"{}\",kind=\"{}\"}} {}",
                escape(&size.name),
                size.kind,
                size.records
            );
        }
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
        let view = Arc::new(AtomicU64::new(150));
        let slow = SubscriberPosition::new(view.clone());
        let first = metrics.subscriber_joined("tally", Transport::WebSocket, slow.clone());
        let second =
            metrics.subscriber_joined("tally", Transport::WebSocket, SubscriberPosition::new(view));
        metrics.subscriber_left(second);
        // Two events queued, one written (progress 120): 30 ms behind the view's 150.
        slow.queued();
        slow.queued();
        slow.written(120);
        let sizes = [ArrangementSize {
            name: "tally".into(),
            kind: "materialized view",
            records: 4,
        }];
        let text = metrics.render(200, &[("bids".to_string(), 10)], &sizes);
        assert!(
            text.contains(&format!("laaster_subscriber_lag_milliseconds{{feed=\"tally\",transport=\"ws\",subscriber=\"{}\"}} 30", first.0)),
            "{text}"
        );
        assert!(
            text.contains(
                "laaster_arrangement_records{name=\"tally\",kind=\"materialized view\"} 4"
            ),
            "{text}"
        );
        slow.written(150);
        assert_eq!(slow.lag_ms(), 0, "nothing queued: caught up");
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
