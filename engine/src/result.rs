//! What executing a statement returns.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use laaster_repr::strconv::format_datum;
use laaster_repr::{Diff, ErrorResponse, RelationDesc, Row, Timestamp};

/// The result of one statement.
#[derive(Debug)]
pub enum ExecuteResult {
    /// A statement that returns no rows, with its Postgres-style command tag
    /// (`CREATE TABLE`, `INSERT 0 3`, `UPDATE 2`, `DELETE 1`, `DROP VIEW`, ...).
    Command { tag: String },
    /// Rows read at one timestamp (SELECT, SHOW, EXPLAIN).
    Rows(RowSet),
    /// A change feed (SUBSCRIBE). Dropping it ends the subscription.
    Subscription(Subscription),
}

/// A result set: the schema, the rows (one entry per copy, already sorted and limited
/// as the query asked) and the timestamp they were read at.
#[derive(Clone, Debug)]
pub struct RowSet {
    pub desc: RelationDesc,
    pub rows: Vec<Row>,
    pub timestamp: Timestamp,
}

impl RowSet {
    /// The rows as Postgres text values (`NULL` for nulls).
    pub fn to_text(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|row| row.iter().map(format_datum).collect())
            .collect()
    }
}

/// One message of a change feed.
#[derive(Clone, Debug)]
pub enum SubscribeEvent {
    /// Changes, each `(row, time, diff)`, in time order. Every update at a time `t`
    /// arrives before the `Progress` that passes `t`.
    Updates(Vec<(Row, Timestamp, Diff)>),
    /// All updates at times `< t` have been delivered: applying every update so far gives
    /// exactly the result at time `t - 1`.
    Progress(Timestamp),
    /// The subscription failed (e.g. a row of the query could not be evaluated); no
    /// more events follow.
    Error(ErrorResponse),
}

/// The change feed has ended: the engine shut down or the subscription failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the change feed has ended")]
pub struct FeedEnded;

/// A live change feed. Receive with [`Subscription::recv`]; drop it to stop.
#[derive(Debug)]
pub struct Subscription {
    pub desc: RelationDesc,
    /// The timestamp of the snapshot (updates at it are the initial state).
    pub as_of: Timestamp,
    pub(crate) events: Receiver<SubscribeEvent>,
    pub(crate) cancel: Option<(u64, Sender<crate::coordinator::Request>)>,
}

impl Subscription {
    /// Blocks for the next event; `None` once the engine has shut down.
    pub fn recv(&self) -> Option<SubscribeEvent> {
        self.events.recv().ok()
    }

    /// Waits up to `timeout` for the next event. `Ok(None)` on timeout, `Err(FeedEnded)`
    /// when the feed has ended.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<SubscribeEvent>, FeedEnded> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => Ok(Some(event)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(FeedEnded),
        }
    }

    /// The underlying channel, for `select!` loops.
    pub fn receiver(&self) -> &Receiver<SubscribeEvent> {
        &self.events
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some((id, sender)) = self.cancel.take() {
            let _ = sender.send(crate::coordinator::Request::CancelSubscribe { id });
        }
    }
}
