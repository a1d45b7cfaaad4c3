//! Session windows: rows of one partition key whose times are closer than the gap share
//! a session; see [`laaster_repr::plan::Plan::SessionWindows`].
//!
//! Rendered as a differential `reduce` keyed by the partition key whose values are
//! `(time, row)`: the reduce sees a key's rows sorted by time, walks them once to cut
//! sessions where the next time is at or past the running end (`last time + gap`), and
//! emits every row with its session's bounds appended. Differential diffs that output
//! against the previous one, so a row arriving between two sessions retracts both
//! sessions' rows and re-emits them merged, and retracting it splits them back — the
//! result is exact at every timestamp, under any mix of inserts and deletes.
//!
//! Over append-only rows of a watermarked source ([`Plan::EventTimeSessions`]),
//! [`render_event_time_sessions`] instead keeps per partition key only the rows of
//! sessions still open: a session `[start, end)` can no longer grow once every row still
//! to come is at or past its end (`watermark - allowed lateness >= end`), so its rows are
//! freed then and its output rows stay downstream. Rows of a time are applied in order
//! (each changed partition's sessions recomputed over its open rows and the difference
//! emitted), then the watermark updates of that time free closed sessions. A row behind
//! the watermark by more than the allowed lateness could merge with freed sessions: it
//! is dropped and counted ([`session_metrics`]).
//!
//! [`Plan::EventTimeSessions`]: laaster_repr::plan::Plan::EventTimeSessions

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use differential_dataflow::{AsCollection, Hashable};
use laaster_repr::plan::{EventTimeColumn, Plan};
use laaster_repr::{Datum, Diff, EvalError, Row, ScalarExpr, Timestamp};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Broadcast;

use super::watermark::CombinedWatermark;
use super::{FastMap, RenderContext, Rendered, WatermarkCollection, split_results};
use crate::source::WatermarkUpdate;

/// Microseconds in a millisecond: `window_time` is `window_end` minus one.
const MICROS_PER_MILLI: i64 = 1_000;

/// The sessions over `times` (sorted ascending) with gap `gap`: `(start, end, count)`
/// where `count` is how many leading entries of the remaining slice the session covers.
/// A time `t` opens `[t, t + gap)`; the next time merges while it is before the end.
pub fn sessions(times: impl IntoIterator<Item = i64>, gap: i64) -> Vec<(i64, i64, usize)> {
    let mut out: Vec<(i64, i64, usize)> = Vec::new();
    for time in times {
        let end = time.saturating_add(gap);
        match out.last_mut() {
            Some((_, current_end, count)) if time < *current_end => {
                *current_end = (*current_end).max(end);
                *count += 1;
            }
            _ => out.push((time, end, 1)),
        }
    }
    out
}

/// Renders `SessionWindows { partition, time, gap }`.
pub fn render_session<'s>(
    input: Rendered<'s>,
    partition: Vec<usize>,
    time: ScalarExpr,
    gap: i64,
) -> Rendered<'s> {
    // Evaluate each row's time once; NULL times drop the row, failures become errors.
    let evaluated = input.oks.flat_map(move |row| {
        let (micros, tz) = match time.eval(&row) {
            Ok(Datum::Timestamp(micros)) => (micros, false),
            Ok(Datum::TimestampTz(micros)) => (micros, true),
            Ok(Datum::Null) => return None,
            Ok(other) => {
                return Some(Err(EvalError::Other(format!(
                    "the time column of a SESSION window must be a timestamp, got {other:?}"
                ))));
            }
            Err(error) => return Some(Err(error)),
        };
        Some(Ok((row.project(&partition), (micros, tz, row))))
    });
    let (keyed, errors) = evaluated.inner.ok_err(|(result, t, diff)| match result {
        Ok(keyed) => Ok((keyed, t, diff)),
        Err(error) => Err((error, t, diff)),
    });
    let oks = keyed
        .as_collection()
        .reduce_named(
            "SessionWindows",
            move |_key, values: &[(&(i64, bool, Row), Diff)], output: &mut Vec<(Row, Diff)>| {
                // Values arrive sorted by (time, ...): one pass cuts the sessions.
                let live: Vec<&(i64, bool, Row)> = values
                    .iter()
                    .filter(|(_, copies)| *copies > 0)
                    .map(|(value, _)| *value)
                    .collect();
                let copies: Vec<Diff> = values
                    .iter()
                    .filter(|(_, copies)| *copies > 0)
                    .map(|(_, copies)| *copies)
                    .collect();
                let mut position = 0;
                for (start, end, count) in sessions(live.iter().map(|(t, _, _)| *t), gap) {
                    for (offset, (_, tz, row)) in
                        live[position..position + count].iter().enumerate()
                    {
                        let stamp = if *tz {
                            Datum::TimestampTz
                        } else {
                            Datum::Timestamp
                        };
                        let mut datums = row.to_vec();
                        datums.push(stamp(start));
                        datums.push(stamp(end));
                        datums.push(stamp(end.saturating_sub(MICROS_PER_MILLI)));
                        output.push((Row::new(datums), copies[position + offset]));
                    }
                    position += count;
                }
            },
        )
        .map(|(_key, row)| row);
    Rendered {
        oks,
        errs: input.errs.concat(errors.as_collection()),
    }
}

static LIVE_ROWS: AtomicI64 = AtomicI64::new(0);
static FREED_ROWS: AtomicU64 = AtomicU64::new(0);
static LATE_ROWS: AtomicU64 = AtomicU64::new(0);

/// The event-time session operators' state counters (process-wide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionMetrics {
    /// Rows of open sessions held now.
    pub live_rows: i64,
    /// Rows freed so far because their session closed.
    pub freed_rows: u64,
    /// Rows that arrived behind the watermark and were dropped.
    pub late_rows: u64,
}

/// The current [`SessionMetrics`].
pub fn session_metrics() -> SessionMetrics {
    SessionMetrics {
        live_rows: LIVE_ROWS.load(Ordering::Relaxed),
        freed_rows: FREED_ROWS.load(Ordering::Relaxed),
        late_rows: LATE_ROWS.load(Ordering::Relaxed),
    }
}

/// A row held by an open session: time, whether it is a `TIMESTAMPTZ`, the row, copies.
type Held = (i64, bool, Row, Diff);

/// An input row as the operator receives it: partition key, time, tz, the row.
type Keyed = (Row, i64, bool, Row);

type Output = (Result<Row, EvalError>, Timestamp, Diff);

/// The output rows of `rows` (sorted by time, then row): each with its session's bounds.
fn session_rows(rows: &[Held], gap: i64) -> Vec<(Row, Diff)> {
    let mut output = Vec::with_capacity(rows.len());
    let mut position = 0;
    for (start, end, count) in sessions(rows.iter().map(|(t, ..)| *t), gap) {
        for (_, tz, row, copies) in &rows[position..position + count] {
            let stamp = if *tz {
                Datum::TimestampTz
            } else {
                Datum::Timestamp
            };
            let mut datums = row.to_vec();
            datums.push(stamp(start));
            datums.push(stamp(end));
            datums.push(stamp(end.saturating_sub(MICROS_PER_MILLI)));
            output.push((Row::new(datums), *copies));
        }
        position += count;
    }
    output
}

/// The operator's state on one worker.
struct SessionState {
    gap: i64,
    /// Added to a session's end: the watermark at which it closes is `end + close_after`.
    close_after: i64,
    /// Rows of each partition's open sessions, sorted by time then row.
    partitions: FastMap<Row, Vec<Held>>,
    /// Partitions by the watermark that closes their first session (may be stale: checked
    /// when reached).
    closing: BTreeMap<i64, Vec<Row>>,
    watermark: CombinedWatermark,
    live: i64,
}

impl SessionState {
    fn new(gap: i64, time: EventTimeColumn, peers: usize) -> SessionState {
        SessionState {
            gap,
            close_after: time.allowed_lateness.saturating_add(time.offset),
            partitions: FastMap::default(),
            closing: BTreeMap::new(),
            watermark: CombinedWatermark::new(peers),
            live: 0,
        }
    }

    /// The watermark closing the first session of `rows`.
    fn first_close(&self, rows: &[Held]) -> Option<i64> {
        sessions(rows.iter().map(|(t, ..)| *t), self.gap)
            .first()
            .map(|(_, end, _)| end.saturating_add(self.close_after))
    }

    /// Applies the rows of one time and emits each changed partition's difference.
    fn apply_rows(&mut self, time: Timestamp, rows: Vec<(Keyed, Diff)>, out: &mut Vec<Output>) {
        let mut before: FastMap<Row, Vec<(Row, Diff)>> = FastMap::default();
        for ((key, at, tz, row), diff) in rows {
            let late = self
                .watermark
                .get()
                .is_some_and(|w| at.saturating_add(self.close_after) < w);
            if late && diff > 0 {
                LATE_ROWS.fetch_add(diff as u64, Ordering::Relaxed);
                continue;
            }
            let held = self.partitions.entry(key.clone()).or_default();
            if !before.contains_key(&key) {
                before.insert(key.clone(), session_rows(held, self.gap));
            }
            let position = held.binary_search_by(|(t, _, r, _)| (*t, r).cmp(&(at, &row)));
            match position {
                Ok(index) => {
                    held[index].3 += diff;
                    if held[index].3 == 0 {
                        held.remove(index);
                        self.live -= 1;
                        LIVE_ROWS.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Err(index) if diff > 0 => {
                    held.insert(index, (at, tz, row, diff));
                    self.live += 1;
                    LIVE_ROWS.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => out.push((
                    Err(EvalError::Other(
                        "internal error: a session window input retracted a row it no longer holds"
                            .into(),
                    )),
                    time,
                    1,
                )),
            }
        }
        for (key, old) in before {
            let (new, close) = match self.partitions.get(&key) {
                Some(held) => (session_rows(held, self.gap), self.first_close(held)),
                None => (Vec::new(), None),
            };
            if let Some(close) = close {
                self.closing.entry(close).or_default().push(key.clone());
            }
            if self.partitions.get(&key).is_some_and(Vec::is_empty) {
                self.partitions.remove(&key);
            }
            let mut changes: FastMap<Row, Diff> = FastMap::default();
            for (row, diff) in old {
                *changes.entry(row).or_default() -= diff;
            }
            for (row, diff) in new {
                *changes.entry(row).or_default() += diff;
            }
            out.extend(
                changes
                    .into_iter()
                    .filter(|(_, diff)| *diff != 0)
                    .map(|(row, diff)| (Ok(row), time, diff)),
            );
        }
    }

    /// Takes the watermark updates of one time and frees the sessions it closed.
    fn apply_watermarks(&mut self, updates: Vec<WatermarkUpdate>) {
        let mut advanced = None;
        for update in updates {
            if let Some(w) = self.watermark.update(update) {
                advanced = Some(w);
            }
        }
        let Some(watermark) = advanced else {
            return;
        };
        let mut keys = Vec::new();
        while let Some(entry) = self.closing.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            keys.extend(entry.remove());
        }
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let Some(held) = self.partitions.get_mut(&key) else {
                continue;
            };
            let mut freed = 0;
            for (_, end, count) in sessions(held.iter().map(|(t, ..)| *t), self.gap) {
                if end.saturating_add(self.close_after) > watermark {
                    break;
                }
                freed += count;
            }
            held.drain(..freed);
            self.live -= freed as i64;
            LIVE_ROWS.fetch_sub(freed as i64, Ordering::Relaxed);
            FREED_ROWS.fetch_add(freed as u64, Ordering::Relaxed);
            if held.is_empty() {
                self.partitions.remove(&key);
            } else if let Some(close) = self.partitions.get(&key).and_then(|h| self.first_close(h))
            {
                self.closing.entry(close).or_default().push(key);
            }
        }
        if self.partitions.is_empty() {
            self.partitions.shrink_to(0);
        }
    }
}

impl Drop for SessionState {
    fn drop(&mut self) {
        LIVE_ROWS.fetch_sub(self.live, Ordering::Relaxed);
    }
}

/// Renders a [`Plan::EventTimeSessions`] node (the dispatch in [`RenderContext::render`]).
pub fn render_plan<'s>(context: &RenderContext<'s>, plan: &Plan) -> Rendered<'s> {
    let Plan::EventTimeSessions {
        input,
        partition,
        time,
        gap,
    } = plan
    else {
        return context.render(plan);
    };
    let watermarks = context.watermarks.get(&time.source).cloned();
    render_event_time_sessions(
        context.render(input),
        watermarks,
        partition.clone(),
        *time,
        *gap,
    )
}

/// Renders `EventTimeSessions`: session windows over append-only rows whose sessions'
/// state is freed once the watermark closes them. Without `watermarks` nothing closes.
pub fn render_event_time_sessions<'s>(
    input: Rendered<'s>,
    watermarks: Option<WatermarkCollection<'s>>,
    partition: Vec<usize>,
    time: EventTimeColumn,
    gap: i64,
) -> Rendered<'s> {
    let scope = input.oks.scope();
    let column = time.column;
    // NULL (or non-timestamp) times drop the row, as in the ordinary operator.
    let keyed = input.oks.flat_map(move |row| {
        let (at, tz) = match row.get(column) {
            Some(Datum::Timestamp(t)) => (*t, false),
            Some(Datum::TimestampTz(t)) => (*t, true),
            _ => return None,
        };
        Some((row.project(&partition), at, tz, row))
    });
    let watermarks = match watermarks {
        Some(watermarks) => watermarks.inner.broadcast(),
        None => timely::dataflow::operators::vec::ToStream::to_stream(
            Vec::<(WatermarkUpdate, Timestamp, Diff)>::new(),
            scope,
        ),
    };
    let peers = scope.peers();
    let exchange = Exchange::new(|((key, _, _, _), _, _): &(Keyed, Timestamp, Diff)| key.hashed());
    let results = keyed
        .inner
        .binary_frontier::<_, timely::container::CapacityContainerBuilder<Vec<Output>>, _, _, _, _>(
            watermarks,
            exchange,
            Pipeline,
            "EventTimeSessions",
            move |_capability, _info| {
                let mut state = SessionState::new(gap, time, peers);
                let mut pending: BTreeMap<Timestamp, Vec<(Keyed, Diff)>> = BTreeMap::new();
                let mut marks: BTreeMap<Timestamp, Vec<WatermarkUpdate>> = BTreeMap::new();
                let mut held: Option<Capability<Timestamp>> = None;
                let mut out = Vec::new();
                move |(data, data_frontier), (mark_input, mark_frontier), output| {
                    data.for_each(|capability, batch| {
                        hold(&mut held, capability.retain_least(0));
                        for (record, time, diff) in batch.drain(..) {
                            pending.entry(time).or_default().push((record, diff));
                        }
                    });
                    mark_input.for_each(|capability, batch| {
                        hold(&mut held, capability.retain_least(0));
                        for (update, time, _diff) in batch.drain(..) {
                            marks.entry(time).or_default().push(update);
                        }
                    });
                    let ready = |time: &Timestamp| {
                        !data_frontier.less_equal(time) && !mark_frontier.less_equal(time)
                    };
                    let mut times: Vec<Timestamp> = pending
                        .keys()
                        .chain(marks.keys())
                        .copied()
                        .filter(|t| ready(t))
                        .collect();
                    times.sort_unstable();
                    times.dedup();
                    for time in times {
                        if let Some(batch) = pending.remove(&time) {
                            state.apply_rows(time, batch, &mut out);
                        }
                        if let Some(updates) = marks.remove(&time) {
                            state.apply_watermarks(updates);
                        }
                        if !out.is_empty()
                            && let Some(capability) = held.as_ref()
                        {
                            let capability = capability.delayed(&time);
                            output.session(&capability).give_iterator(out.drain(..));
                        }
                    }
                    match pending.keys().chain(marks.keys()).min().copied() {
                        Some(time) => {
                            if let Some(capability) = held.as_mut() {
                                capability.downgrade(&time);
                            }
                        }
                        None => held = None,
                    }
                }
            },
        );
    let (oks, errs) = split_results(results.as_collection());
    Rendered {
        oks,
        errs: input.errs.concat(errs),
    }
}

/// Keeps the earlier of the held capability and `new`.
fn hold(held: &mut Option<Capability<Timestamp>>, new: Option<Capability<Timestamp>>) {
    let Some(new) = new else {
        return;
    };
    match held {
        Some(current) if current.time() <= new.time() => {}
        _ => *held = Some(new),
    }
}

#[cfg(test)]
mod tests {
    use super::sessions;

    #[test]
    fn times_closer_than_the_gap_share_a_session() {
        // Gap 10: 0 and 5 merge (5 < 10), 15 is past 15 = 5 + 10 (not before it).
        assert_eq!(
            sessions([0, 5, 15, 20, 40], 10),
            vec![(0, 15, 2), (15, 30, 2), (40, 50, 1)]
        );
        assert_eq!(sessions([3, 3, 3], 1), vec![(3, 4, 3)]);
        assert!(sessions([], 10).is_empty());
    }

    #[test]
    fn closed_sessions_are_freed_and_late_rows_dropped() {
        use super::*;
        let time = EventTimeColumn {
            source: 1,
            column: 1,
            offset: 0,
            allowed_lateness: 0,
            retractable: false,
        };
        let mut state = SessionState::new(10, time, 1);
        let row = |t: i64| {
            let row = Row::new(vec![Datum::Int64(7), Datum::Timestamp(t)]);
            ((Row::new(vec![Datum::Int64(7)]), t, false, row), 1)
        };
        let mut out = Vec::new();
        state.apply_rows(1, vec![row(0), row(5), row(30)], &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(state.live, 3);
        // The session [0, 15) closes at 15; [30, 40) stays open.
        state.apply_watermarks(vec![(0, 1, 15, false)]);
        assert_eq!(state.live, 1);
        // A row at 12 is behind the watermark: it could have merged with the freed session.
        out.clear();
        state.apply_rows(2, vec![row(12)], &mut out);
        assert!(out.is_empty() && state.live == 1);
        // A row at 35 extends the open session: both its rows are re-emitted.
        state.apply_rows(3, vec![row(35)], &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
        state.apply_watermarks(vec![(0, 2, 45, false)]);
        assert_eq!(state.live, 0);
        assert!(state.partitions.is_empty() && state.closing.is_empty());
    }

    #[test]
    fn a_bridging_time_merges_two_sessions() {
        assert_eq!(sessions([0, 20], 15), vec![(0, 15, 1), (20, 35, 1)]);
        // 10 < 15 extends the first session to 25, and 20 < 25 joins the second.
        assert_eq!(sessions([0, 10, 20], 15), vec![(0, 35, 3)]);
    }
}
