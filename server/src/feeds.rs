//! Shared change feeds for WebSocket clients: one engine subscription per distinct
//! target (view name or query), fanned out to every client that asks for it.
//!
//! ```text
//!  engine Subscription ──(pump thread: apply to state, render JSON once)──▶ client queues
//!                                  │                                      (bounded, per client)
//!                                  └─ state: current rows, last progress ──▶ snapshots for joiners
//! ```
//!
//! A feed keeps the current contents of its view (rows and their counts) and its last
//! progress mark. A client that joins gets a snapshot of that state, taken under the
//! same lock the pump holds while it applies and broadcasts, so it never misses or
//! repeats an update. Each client has a bounded queue (`ws_buffer` messages). The pump
//! never waits for a client: when a queue is full the client is dropped from the feed
//! and flagged as overflowed; its connection task then tells the client
//! (`{"type":"overflow"}`) and rejoins, which sends a fresh snapshot (resync). A client
//! that overflows 3 times within 10 seconds is disconnected instead.
//!
//! Progress marks: the engine closes a time every tick (1 ms) while anyone watches. A
//! feed forwards a mark when updates came before it (so clients know that time is
//! complete) and otherwise at most once a second as a heartbeat; thousands of clients
//! are not sent a thousand idle marks a second each.
//!
//! When the last client leaves, the pump drops the engine subscription and the feed.
//!
//! A client that asks for `AS OF` a time (to resume, or to read from a past time) gets a
//! private feed of its own ([`FeedHub::join_as_of`]): the engine subscription starts at
//! that time, so it cannot be shared. It has the same bounded queue; on overflow the
//! client is resynced onto the shared feed (a fresh snapshot at the current time).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use laaster_engine::{ErrorResponse, Session, SubscribeEvent, Subscription, Timestamp};
use laaster_repr::{Diff, RelationDesc, Row};
use serde_json::json;
use tokio::sync::mpsc;

use crate::core::{now_millis, start_subscription, subscribe_sql};
use crate::metrics::{Metrics, SubscriberId, SubscriberPosition, Transport};
use crate::values::{columns_json, error_json, row_json};

/// A message for a client, rendered to JSON text once for all clients.
pub type FeedMessage = Arc<str>;

/// A queued message and the feed's progress mark once the client has it (for lag).
#[derive(Clone)]
pub struct Queued {
    pub text: FeedMessage,
    pub frontier: Timestamp,
}

/// The registry of live feeds.
pub struct FeedHub {
    session: Session,
    metrics: Arc<Metrics>,
    feeds: Mutex<HashMap<String, Arc<Feed>>>,
    next_client: AtomicU64,
}

struct Feed {
    key: String,
    state: Mutex<FeedState>,
    /// The latest progress mark from the engine (shared with the clients' positions).
    frontier: Arc<AtomicU64>,
    /// A feed of one client (AS OF): it keeps no rows, as nobody else joins it.
    private: bool,
}

struct FeedState {
    desc: RelationDesc,
    /// The view's current rows and their multiplicities.
    rows: BTreeMap<Row, Diff>,
    /// The last progress mark: `rows` is the view as of `frontier - 1`.
    frontier: Timestamp,
    clients: Vec<ClientSlot>,
    /// Set once the pump has stopped; a joiner must start a new feed.
    closed: bool,
}

struct ClientSlot {
    id: u64,
    queue: mpsc::Sender<Queued>,
    overflowed: Arc<AtomicBool>,
    position: Arc<SubscriberPosition>,
}

/// One client's membership in a feed. Dropping it leaves the feed.
pub struct FeedClient {
    pub messages: mpsc::Receiver<Queued>,
    overflowed: Arc<AtomicBool>,
    feed: Arc<Feed>,
    id: u64,
    metrics: Arc<Metrics>,
    /// How far the client has got; the connection reports each written message.
    pub position: Arc<SubscriberPosition>,
    subscriber: SubscriberId,
}

impl FeedClient {
    /// The feed's key (the view name or query text).
    pub fn key(&self) -> &str {
        &self.feed.key
    }

    /// Whether the feed dropped this client because its queue was full.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }
}

impl Drop for FeedClient {
    fn drop(&mut self) {
        lock(&self.feed.state).clients.retain(|c| c.id != self.id);
        self.metrics.subscriber_left(self.subscriber);
        // Whatever is still queued is dropped with the client.
        self.position
            .reset(self.position.queued.load(Ordering::Relaxed));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FeedHub {
    pub fn new(session: Session, metrics: Arc<Metrics>) -> FeedHub {
        FeedHub {
            session,
            metrics,
            feeds: Mutex::new(HashMap::new()),
            next_client: AtomicU64::new(0),
        }
    }

    /// Joins the feed of `target` (starting it if needed); the client's queue begins
    /// with a snapshot message. Blocks while a new feed's snapshot is computed.
    pub fn join(&self, target: &str, buffer: usize) -> Result<FeedClient, ErrorResponse> {
        let key = target.trim().trim_end_matches(';').trim_end().to_string();
        let mut feeds = lock(&self.feeds);
        feeds.retain(|_, feed| !lock(&feed.state).closed);
        let mut feed = match feeds.get(&key) {
            Some(feed) => feed.clone(),
            None => {
                let feed = self.start_feed(&key)?;
                feeds.insert(key.clone(), feed.clone());
                feed
            }
        };
        // Check `closed` and register under one lock, so the pump cannot stop between.
        loop {
            {
                let mut state = lock(&feed.state);
                if !state.closed {
                    let snapshot = Queued {
                        text: render_snapshot(&state),
                        frontier: state.frontier,
                    };
                    let client = self.register(&feed, &mut state, buffer, vec![snapshot]);
                    drop(state);
                    return Ok(client);
                }
            }
            feed = self.start_feed(&key)?;
            feeds.insert(key.clone(), feed.clone());
        }
    }

    /// Joins a private feed of `target` that starts at `as_of`: with `snapshot`, the
    /// view as of `as_of` (a `snapshot` message with time `as_of + 1`), else a `resume`
    /// message; then every change after `as_of`. A client that has applied everything
    /// before progress mark `p` resumes without gaps with `as_of = p - 1` and no
    /// snapshot. Fails when `as_of` is older than the engine's retained history.
    pub fn join_as_of(
        &self,
        target: &str,
        as_of: Timestamp,
        snapshot: bool,
        buffer: usize,
    ) -> Result<FeedClient, ErrorResponse> {
        let key = target.trim().trim_end_matches(';').trim_end().to_string();
        let sql = subscribe_sql(&key, snapshot, Some(as_of))?;
        let mut session = self.session.clone();
        let subscription = start_subscription(&mut session, &sql)?;
        // Read up to the first progress mark past `as_of`: the snapshot (at `as_of`) and
        // the changes after it that came with it.
        let mut first = Vec::new();
        let mut later = Vec::new();
        let frontier = loop {
            match subscription.recv() {
                Some(SubscribeEvent::Updates(updates)) => {
                    for update in updates {
                        if update.1 <= as_of {
                            first.push(update);
                        } else {
                            later.push(update);
                        }
                    }
                }
                Some(SubscribeEvent::Progress(time)) if time > as_of => break time,
                Some(SubscribeEvent::Progress(_)) => {}
                Some(SubscribeEvent::Error(error)) => return Err(error),
                None => return Err(ErrorResponse::new("57P01", "the engine has shut down")),
            }
        };
        let mut rows = BTreeMap::new();
        apply(&mut rows, &first);
        let (feed, pump) = self.new_feed(&key, subscription, rows, as_of + 1, true);
        let mut state = lock(&feed.state);
        let opening = if snapshot {
            render_snapshot(&state)
        } else {
            json!({
                "type": "resume",
                "columns": columns_json(&state.desc),
                "time": as_of + 1,
            })
            .to_string()
            .into()
        };
        state.rows.clear();
        let mut messages = vec![Queued {
            text: opening,
            frontier: as_of + 1,
        }];
        if !later.is_empty() {
            messages.push(Queued {
                text: render_updates(&later),
                frontier: as_of + 1,
            });
        }
        messages.push(Queued {
            text: json!({"type": "progress", "time": frontier})
                .to_string()
                .into(),
            frontier,
        });
        state.frontier = frontier;
        feed.frontier.store(frontier, Ordering::Relaxed);
        let client = self.register(&feed, &mut state, buffer.max(messages.len()), messages);
        drop(state);
        pump.spawn()?;
        Ok(client)
    }

    /// Adds a client to `feed` with a queue of `buffer` messages that starts with
    /// `first` (which must fit).
    fn register(
        &self,
        feed: &Arc<Feed>,
        state: &mut FeedState,
        buffer: usize,
        first: Vec<Queued>,
    ) -> FeedClient {
        let (queue, messages) = mpsc::channel(buffer.max(1));
        let overflowed = Arc::new(AtomicBool::new(false));
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        let position = SubscriberPosition::new(feed.frontier.clone());
        for message in first {
            // The queue is empty and `buffer` fits these, so they always go in.
            if queue.try_send(message).is_ok() {
                position.queued();
            }
        }
        state.clients.push(ClientSlot {
            id,
            queue,
            overflowed: overflowed.clone(),
            position: position.clone(),
        });
        let subscriber =
            self.metrics
                .subscriber_joined(&feed.key, Transport::WebSocket, position.clone());
        FeedClient {
            messages,
            overflowed,
            feed: feed.clone(),
            id,
            metrics: self.metrics.clone(),
            position,
            subscriber,
        }
    }

    /// Subscribes in the engine, reads the snapshot up to the first progress mark, and
    /// starts the pump thread.
    fn start_feed(&self, key: &str) -> Result<Arc<Feed>, ErrorResponse> {
        let sql = subscribe_sql(key, true, None)?;
        let mut session = self.session.clone();
        let subscription = start_subscription(&mut session, &sql)?;
        let mut rows = BTreeMap::new();
        let frontier = loop {
            match subscription.recv() {
                Some(SubscribeEvent::Updates(updates)) => apply(&mut rows, &updates),
                Some(SubscribeEvent::Progress(time)) if time > subscription.as_of => break time,
                Some(SubscribeEvent::Progress(_)) => {}
                Some(SubscribeEvent::Error(error)) => return Err(error),
                None => return Err(ErrorResponse::new("57P01", "the engine has shut down")),
            }
        };
        let (feed, pump) = self.new_feed(key, subscription, rows, frontier, false);
        pump.spawn()?;
        tracing::info!(feed = %key, "feed started");
        Ok(feed)
    }

    /// A feed over `subscription` and its pump (not yet running).
    fn new_feed(
        &self,
        key: &str,
        subscription: Subscription,
        rows: BTreeMap<Row, Diff>,
        frontier: Timestamp,
        private: bool,
    ) -> (Arc<Feed>, Pump) {
        let feed = Arc::new(Feed {
            key: key.to_string(),
            state: Mutex::new(FeedState {
                desc: subscription.desc.clone(),
                rows,
                frontier,
                clients: Vec::new(),
                closed: false,
            }),
            frontier: Arc::new(AtomicU64::new(frontier)),
            private,
        });
        let pump = Pump {
            feed: feed.clone(),
            subscription,
            metrics: self.metrics.clone(),
            updates_since_mark: false,
            last_mark: Instant::now(),
        };
        (feed, pump)
    }

    /// Number of live feeds.
    pub fn feed_count(&self) -> usize {
        lock(&self.feeds).len()
    }

    /// Stops every feed's clients (server shutdown): their queues close.
    pub fn close_all(&self) {
        for feed in lock(&self.feeds).values() {
            let mut state = lock(&feed.state);
            state.clients.clear();
        }
    }
}

/// Moves one feed's events from the engine to its clients.
struct Pump {
    feed: Arc<Feed>,
    subscription: Subscription,
    metrics: Arc<Metrics>,
    /// Updates were forwarded since the last forwarded progress mark.
    updates_since_mark: bool,
    last_mark: Instant,
}

/// Idle progress marks are forwarded at most this often.
const HEARTBEAT: Duration = Duration::from_secs(1);

impl Pump {
    fn spawn(self) -> Result<(), ErrorResponse> {
        std::thread::Builder::new()
            .name("laaster-feed".into())
            .spawn(move || self.run())
            .map(drop)
            .map_err(|e| ErrorResponse::new("XX000", format!("cannot start a feed thread: {e}")))
    }

    fn run(mut self) {
        loop {
            let event = match self.subscription.recv_timeout(Duration::from_millis(200)) {
                Ok(Some(event)) => event,
                Ok(None) => {
                    if self.close_if_unused() {
                        return;
                    }
                    continue;
                }
                Err(_) => {
                    self.fail(ErrorResponse::new("57P01", "the engine has shut down"));
                    return;
                }
            };
            match event {
                SubscribeEvent::Updates(updates) => {
                    self.metrics.feed_updates(
                        &self.feed.key,
                        updates.iter().map(|u| u.1),
                        now_millis(),
                    );
                    let message = render_updates(&updates);
                    let mut state = lock(&self.feed.state);
                    if !self.feed.private {
                        apply(&mut state.rows, &updates);
                    }
                    self.broadcast(&mut state, message);
                    drop(state);
                    self.updates_since_mark = true;
                }
                SubscribeEvent::Progress(time) => {
                    self.metrics.feed_progress(&self.feed.key, time);
                    let forward = self.updates_since_mark || self.last_mark.elapsed() >= HEARTBEAT;
                    let mut state = lock(&self.feed.state);
                    state.frontier = time;
                    self.feed.frontier.store(time, Ordering::Relaxed);
                    if forward {
                        let message: FeedMessage =
                            json!({"type": "progress", "time": time}).to_string().into();
                        self.broadcast(&mut state, message);
                        self.updates_since_mark = false;
                        self.last_mark = Instant::now();
                    }
                    if state.clients.is_empty() {
                        drop(state);
                        if self.close_if_unused() {
                            return;
                        }
                    }
                }
                SubscribeEvent::Error(error) => {
                    self.fail(error);
                    return;
                }
            }
        }
    }

    /// Queues `message` for every client; a full queue drops its client (flagged as
    /// overflowed), a closed one is removed.
    fn broadcast(&self, state: &mut FeedState, message: FeedMessage) {
        let mut sent = 0;
        let queued = Queued {
            text: message,
            frontier: state.frontier,
        };
        state
            .clients
            .retain(|client| match client.queue.try_send(queued.clone()) {
                Ok(()) => {
                    client.position.queued();
                    sent += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    client.overflowed.store(true, Ordering::Release);
                    self.metrics.overflow(Transport::WebSocket);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        self.metrics.messages_sent(Transport::WebSocket, sent);
    }

    /// Ends the feed if no client is left. `closed` is set under the state lock that
    /// joiners also take to register, so no client can join a feed that is going
    /// away; the stale registry entry is replaced by the next joiner.
    fn close_if_unused(&self) -> bool {
        let mut state = lock(&self.feed.state);
        if state.clients.is_empty() {
            state.closed = true;
            self.metrics.feed_closed(&self.feed.key);
            tracing::info!(feed = %self.feed.key, "feed stopped: no clients");
            true
        } else {
            false
        }
    }

    fn fail(&self, error: ErrorResponse) {
        let message: FeedMessage = json!({"type": "error", "error": error_json(&error)})
            .to_string()
            .into();
        let mut state = lock(&self.feed.state);
        let queued = Queued {
            text: message,
            frontier: state.frontier,
        };
        for client in &state.clients {
            if client.queue.try_send(queued.clone()).is_ok() {
                client.position.queued();
            }
        }
        state.clients.clear();
        state.closed = true;
        self.metrics.feed_closed(&self.feed.key);
        tracing::warn!(feed = %self.feed.key, error = %error.message, "feed failed");
    }
}

fn apply(rows: &mut BTreeMap<Row, Diff>, updates: &[(Row, Timestamp, Diff)]) {
    for (row, _, diff) in updates {
        let count = rows.entry(row.clone()).or_default();
        *count += diff;
        if *count == 0 {
            rows.remove(row);
        }
    }
}

/// `{"type":"snapshot","columns":[...],"time":T,"rows":[[...],...]}`: the view as of
/// `time - 1`, a row repeated once per copy.
fn render_snapshot(state: &FeedState) -> FeedMessage {
    let mut rows = Vec::new();
    for (row, count) in &state.rows {
        for _ in 0..(*count).max(0) {
            rows.push(row_json(row));
        }
    }
    json!({
        "type": "snapshot",
        "columns": columns_json(&state.desc),
        "time": state.frontier,
        "rows": rows,
    })
    .to_string()
    .into()
}

/// `{"type":"update","updates":[{"row":[...],"time":t,"diff":d},...]}`.
fn render_updates(updates: &[(Row, Timestamp, Diff)]) -> FeedMessage {
    let updates: Vec<_> = updates
        .iter()
        .map(|(row, time, diff)| json!({"row": row_json(row), "time": time, "diff": diff}))
        .collect();
    json!({"type": "update", "updates": updates})
        .to_string()
        .into()
}
