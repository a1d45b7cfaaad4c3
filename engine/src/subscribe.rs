//! Merging subscription updates from all workers into one consistent feed.
//!
//! Each worker reports its updates at times below its frontier. An update is released
//! to the subscriber only when every worker's frontier has passed its time; then the
//! feed gets the updates in time order followed by `Progress(min frontier)`.

use laaster_repr::{Diff, ErrorResponse, EvalError, Row, Timestamp};

use crate::coordinator::SubscribeState;
use crate::result::SubscribeEvent;

/// Takes one worker's report. Returns true when the subscription is finished (failed,
/// complete, or its subscriber went away) and should be cancelled.
pub(crate) fn absorb(
    state: &mut SubscribeState,
    worker: usize,
    updates: Vec<(Row, Timestamp, Diff)>,
    error: Option<EvalError>,
    upper: Option<Timestamp>,
) -> bool {
    if let Some(error) = error {
        let _ = state
            .sender
            .send(SubscribeEvent::Error(ErrorResponse::from(error)));
        return true;
    }
    state.pending.extend(updates);
    if let Some(slot) = state.uppers.get_mut(worker) {
        *slot = Some(upper);
    }
    if state.uppers.iter().any(Option::is_none) {
        return false;
    }
    // The minimum over workers; `None` (complete) is the largest.
    let upper = state.uppers.iter().filter_map(|u| u.flatten()).min();
    let complete = |time: Timestamp| upper.is_none_or(|u| time < u);
    let mut ready: Vec<(Row, Timestamp, Diff)> = Vec::new();
    state.pending.retain(|update| {
        if complete(update.1) {
            ready.push(update.clone());
            false
        } else {
            true
        }
    });
    if !ready.is_empty() {
        consolidate(&mut ready);
        if !ready.is_empty() && state.sender.send(SubscribeEvent::Updates(ready)).is_err() {
            return true;
        }
    }
    match upper {
        Some(upper) if state.reported.is_none_or(|r| upper > r) => {
            state.reported = Some(upper);
            state.sender.send(SubscribeEvent::Progress(upper)).is_err()
        }
        Some(_) => false,
        None => true,
    }
}

/// Sums the diffs of identical (row, time) pairs and drops zeros, keeping time order.
fn consolidate(updates: &mut Vec<(Row, Timestamp, Diff)>) {
    updates.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mut out: Vec<(Row, Timestamp, Diff)> = Vec::with_capacity(updates.len());
    for (row, time, diff) in updates.drain(..) {
        match out.last_mut() {
            Some(last) if last.0 == row && last.1 == time => last.2 += diff,
            _ => out.push((row, time, diff)),
        }
    }
    out.retain(|u| u.2 != 0);
    // Within one time, retractions first so a client never sees two versions at once.
    out.sort_by(|a, b| {
        a.1.cmp(&b.1)
            .then_with(|| a.2.cmp(&b.2))
            .then_with(|| a.0.cmp(&b.0))
    });
    *updates = out;
}
