//! Interval and window joins with state freed behind the watermark
//! ([`Plan::IntervalJoin`]).
//!
//! Both inputs carry an event-time column whose future values the watermark of their
//! source bounds (see [`EventTimeColumn`]), and the join condition bounds the distance
//! between the two sides' times: `lower <= left time - right time <= upper`. So a row
//! can only ever match rows of the other side within a bounded stretch of event time,
//! and once the other side's watermark has passed that stretch (plus its allowed
//! lateness) the row is freed. A window join is the special case `lower = upper = 0` on
//! `window_end` (or `window_start`).
//!
//! Rows of both sides go to the worker of their join key; the sources' watermark
//! updates are broadcast to every worker. Logical times are processed in order once
//! both inputs' frontiers have passed them: first the left rows of that time join the
//! right rows held and are stored, then the right rows of that time join the left rows
//! held (those of this time included) and are stored — the bilinear update of an
//! ordinary join, so the output at every time equals [`Plan::Join`]'s over the same
//! rows — and then the watermark updates of that time free what they can. Matches are
//! emitted when their rows arrive, not when the watermark passes.
//!
//! A row of an append-only side that arrives behind its own watermark by more than the
//! allowed lateness (a reader back from idle behind the others) could have matched rows
//! already freed, so it is dropped and counted ([`interval_join_metrics`]), as the
//! window aggregate drops rows for windows already closed. A side that is a window
//! aggregate's output may retract a row while its window is open; such a row is kept
//! until its window has closed as well.
//!
//! [`Plan::IntervalJoin`]: laaster_repr::plan::Plan::IntervalJoin
//! [`Plan::Join`]: laaster_repr::plan::Plan::Join

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use differential_dataflow::{AsCollection, Hashable, VecCollection};
use laaster_repr::plan::{EventTimeColumn, Plan};
use laaster_repr::{Datum, Diff, EvalError, Row, ScalarExpr, Timestamp};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Broadcast;

use super::watermark::CombinedWatermark;
use super::{ErrCollection, FastMap, RenderContext, Rendered, WatermarkCollection, split_results};
use crate::source::WatermarkUpdate;

/// Rows held by interval joins in this process, rows freed, late rows dropped.
static LIVE_ROWS: AtomicI64 = AtomicI64::new(0);
static FREED_ROWS: AtomicU64 = AtomicU64::new(0);
static LATE_ROWS: AtomicU64 = AtomicU64::new(0);

/// The interval joins' state counters (process-wide). Tests and benchmarks read these to
/// check that state stays bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntervalJoinMetrics {
    /// Rows held now (both sides, every interval join of the process).
    pub live_rows: i64,
    /// Rows freed so far because no row still to come could match them.
    pub freed_rows: u64,
    /// Rows that arrived behind their side's watermark and were dropped.
    pub late_rows: u64,
}

/// The current [`IntervalJoinMetrics`].
pub fn interval_join_metrics() -> IntervalJoinMetrics {
    IntervalJoinMetrics {
        live_rows: LIVE_ROWS.load(Ordering::Relaxed),
        freed_rows: FREED_ROWS.load(Ordering::Relaxed),
        late_rows: LATE_ROWS.load(Ordering::Relaxed),
    }
}

/// What [`render_interval_join`] needs besides its inputs (the fields of
/// [`Plan::IntervalJoin`](laaster_repr::plan::Plan::IntervalJoin)).
#[derive(Clone, Debug)]
pub struct IntervalJoinSpec {
    pub left_key: Vec<ScalarExpr>,
    pub right_key: Vec<ScalarExpr>,
    pub residual: Option<ScalarExpr>,
    pub left_time: EventTimeColumn,
    pub right_time: EventTimeColumn,
    pub lower: i64,
    pub upper: i64,
}

/// An input row as the operator receives it: side (0 left, 1 right), join key, event
/// time, the row.
type Keyed = (u8, Row, i64, Row);

type Output = (Result<Row, EvalError>, Timestamp, Diff);

/// A row held by one side.
struct Stored {
    row: Row,
    diff: Diff,
    /// The other side's watermark from which no row still to come can match this one.
    free_other: i64,
    /// This side's watermark from which this row can no longer change (`i64::MIN` for
    /// an append-only side).
    free_own: i64,
}

/// One side's rows and watermark.
struct SideState {
    time: EventTimeColumn,
    /// How far the other side's times reach past this side's: a left row at `t` matches
    /// right rows up to `t - lower`, a right row at `t` left rows up to `t + upper`.
    reach: i64,
    rows: FastMap<Row, Vec<Stored>>,
    /// Keys holding rows freed once the other side's watermark reaches the index.
    by_other: BTreeMap<i64, Vec<Row>>,
    /// Keys holding rows that no longer match but whose window is still open, by the
    /// own watermark that closes it.
    by_own: BTreeMap<i64, Vec<Row>>,
    watermark: CombinedWatermark,
    live: i64,
}

impl SideState {
    fn new(time: EventTimeColumn, reach: i64, peers: usize) -> SideState {
        SideState {
            time,
            reach,
            rows: FastMap::default(),
            by_other: BTreeMap::new(),
            by_own: BTreeMap::new(),
            watermark: CombinedWatermark::new(peers),
            live: 0,
        }
    }

    /// Whether a new row at `time` is behind this side's watermark (append-only sides).
    fn is_late(&self, time: i64) -> bool {
        !self.time.retractable
            && self.watermark.get().is_some_and(|w| {
                let earliest = w
                    .saturating_sub(self.time.allowed_lateness)
                    .saturating_sub(self.time.offset);
                time < earliest
            })
    }

    /// Removes the rows of `key` that are done under both watermarks; indexes by the own
    /// watermark those only waiting for their window to close.
    fn retain_key(&mut self, key: &Row, other: Option<i64>) {
        let own = self.watermark.get();
        let Some(rows) = self.rows.get_mut(key) else {
            return;
        };
        let mut waiting = BTreeSet::new();
        let before = rows.len();
        rows.retain(|stored| {
            let matched_out = other.is_some_and(|w| stored.free_other <= w);
            let settled = stored.free_own == i64::MIN || own.is_some_and(|w| stored.free_own <= w);
            if matched_out && !settled {
                waiting.insert(stored.free_own);
            }
            !(matched_out && settled)
        });
        let freed = (before - rows.len()) as i64;
        if rows.is_empty() {
            self.rows.remove(key);
        }
        self.live -= freed;
        LIVE_ROWS.fetch_sub(freed, Ordering::Relaxed);
        FREED_ROWS.fetch_add(freed as u64, Ordering::Relaxed);
        for at in waiting {
            self.by_own.entry(at).or_default().push(key.clone());
        }
    }

    /// Frees what the watermarks allow: `other` is the other side's watermark.
    fn free(&mut self, other: Option<i64>) {
        let mut keys = Vec::new();
        if let Some(w) = other {
            while let Some(entry) = self.by_other.first_entry() {
                if *entry.key() > w {
                    break;
                }
                keys.extend(entry.remove());
            }
        }
        if let Some(w) = self.watermark.get() {
            while let Some(entry) = self.by_own.first_entry() {
                if *entry.key() > w {
                    break;
                }
                keys.extend(entry.remove());
            }
        }
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            self.retain_key(&key, other);
        }
        if self.rows.is_empty() {
            self.rows.shrink_to(0);
        }
    }
}

/// The operator's state on one worker.
struct JoinState {
    sides: [SideState; 2],
    residual: Option<ScalarExpr>,
}

impl JoinState {
    fn new(spec: &IntervalJoinSpec, peers: usize) -> JoinState {
        JoinState {
            sides: [
                SideState::new(spec.left_time, spec.lower.saturating_neg(), peers),
                SideState::new(spec.right_time, spec.upper, peers),
            ],
            residual: spec.residual.clone(),
        }
    }

    /// Joins the rows of one time (left first, then right) and stores them.
    fn apply_rows(&mut self, time: Timestamp, rows: Vec<(Keyed, Diff)>, out: &mut Vec<Output>) {
        let (left, right): (Vec<_>, Vec<_>) = rows.into_iter().partition(|((s, ..), _)| *s == 0);
        for ((side, key, event_time, row), diff) in left.into_iter().chain(right) {
            let side = usize::from(side);
            if diff > 0 && self.sides[side].is_late(event_time) {
                LATE_ROWS.fetch_add(diff as u64, Ordering::Relaxed);
                continue;
            }
            self.join_row(side, &key, &row, time, diff, out);
            self.store(side, key, event_time, row, diff, time, out);
        }
    }

    /// Emits the matches of one changed row with the other side's rows held.
    fn join_row(
        &self,
        side: usize,
        key: &Row,
        row: &Row,
        time: Timestamp,
        diff: Diff,
        out: &mut Vec<Output>,
    ) {
        let Some(others) = self.sides[1 - side].rows.get(key) else {
            return;
        };
        for other in others {
            let joined = if side == 0 {
                row.concat(&other.row)
            } else {
                other.row.concat(row)
            };
            let product = diff * other.diff;
            match &self.residual {
                None => out.push((Ok(joined), time, product)),
                Some(residual) => match residual.eval(&joined) {
                    Ok(Datum::Bool(true)) => out.push((Ok(joined), time, product)),
                    Ok(_) => {}
                    Err(error) => out.push((Err(error), time, product)),
                },
            }
        }
    }

    /// Adds a changed row to its side's held rows (or removes a retracted one).
    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        side: usize,
        key: Row,
        event_time: i64,
        row: Row,
        diff: Diff,
        time: Timestamp,
        out: &mut Vec<Output>,
    ) {
        let other = &self.sides[1 - side];
        let free_other = event_time
            .saturating_add(self.sides[side].reach)
            .saturating_add(other.time.allowed_lateness)
            .saturating_add(other.time.offset)
            .saturating_add(1);
        let other_watermark = other.watermark.get();
        let state = &mut self.sides[side];
        let free_own = if state.time.retractable {
            event_time
                .saturating_add(state.time.offset)
                .saturating_add(state.time.allowed_lateness)
        } else {
            i64::MIN
        };
        let rows = state.rows.entry(key.clone()).or_default();
        // Rows of an append-only side are only ever added: no need to look for a copy.
        let existing = if diff > 0 && !state.time.retractable {
            None
        } else {
            rows.iter_mut().find(|s| s.row == row)
        };
        if let Some(held) = existing {
            held.diff += diff;
            if held.diff == 0 {
                rows.retain(|s| s.diff != 0);
                if rows.is_empty() {
                    state.rows.remove(&key);
                }
                state.live -= 1;
                LIVE_ROWS.fetch_sub(1, Ordering::Relaxed);
            }
            return;
        }
        if diff < 0 {
            out.push((
                Err(EvalError::Other(
                    "internal error: an interval join input retracted a row it no longer holds"
                        .into(),
                )),
                time,
                1,
            ));
            if rows.is_empty() {
                state.rows.remove(&key);
            }
            return;
        }
        // A row that nothing still to come can match, and that cannot change, is not kept.
        let matched_out = other_watermark.is_some_and(|w| free_other <= w);
        let settled = free_own == i64::MIN || state.watermark.get().is_some_and(|w| free_own <= w);
        if matched_out && settled {
            if rows.is_empty() {
                state.rows.remove(&key);
            }
            FREED_ROWS.fetch_add(1, Ordering::Relaxed);
            return;
        }
        rows.push(Stored {
            row,
            diff,
            free_other,
            free_own,
        });
        state.live += 1;
        LIVE_ROWS.fetch_add(1, Ordering::Relaxed);
        if matched_out {
            state.by_own.entry(free_own).or_default().push(key);
        } else {
            state.by_other.entry(free_other).or_default().push(key);
        }
    }

    /// Takes the watermark updates of one time (tagged by side) and frees what they allow.
    fn apply_watermarks(&mut self, updates: Vec<(u8, WatermarkUpdate)>) {
        let mut advanced = false;
        for (side, update) in updates {
            if let Some(state) = self.sides.get_mut(usize::from(side)) {
                advanced |= state.watermark.update(update).is_some();
            }
        }
        if advanced {
            let (left, right) = (self.sides[0].watermark.get(), self.sides[1].watermark.get());
            self.sides[0].free(right);
            self.sides[1].free(left);
        }
    }
}

impl Drop for JoinState {
    fn drop(&mut self) {
        let live: i64 = self.sides.iter().map(|s| s.live).sum();
        LIVE_ROWS.fetch_sub(live, Ordering::Relaxed);
    }
}

/// One side's rows with their join key and event time; rows whose key holds a NULL (SQL
/// equality never matches them) or whose time is NULL (the time condition is never
/// true for them) are left out.
fn keyed<'s>(
    side: u8,
    rows: super::RowCollection<'s>,
    key: Vec<ScalarExpr>,
    time_column: usize,
) -> (VecCollection<'s, Timestamp, Keyed, Diff>, ErrCollection<'s>) {
    let results = rows.flat_map(move |row| {
        let mut datums = Vec::with_capacity(key.len());
        for expr in &key {
            match expr.eval(&row) {
                Ok(datum) if datum.is_null() => return None,
                Ok(datum) => datums.push(datum),
                Err(error) => return Some(Err(error)),
            }
        }
        let time = match row.get(time_column) {
            Some(Datum::Timestamp(t) | Datum::TimestampTz(t)) => *t,
            _ => return None,
        };
        Some(Ok((side, Row::new(datums), time, row)))
    });
    use timely::dataflow::operators::core::OkErr;
    let (oks, errs) = results.inner.ok_err(|(result, time, diff)| match result {
        Ok(keyed) => Ok((keyed, time, diff)),
        Err(error) => Err((error, time, diff)),
    });
    (oks.as_collection(), errs.as_collection())
}

/// Renders `IntervalJoin`. Without a side's `watermarks` (a source with no streamed
/// readers) nothing of the other side is ever freed: results stay exact.
pub fn render_interval_join<'s>(
    left: Rendered<'s>,
    right: Rendered<'s>,
    watermarks: [Option<WatermarkCollection<'s>>; 2],
    spec: IntervalJoinSpec,
) -> Rendered<'s> {
    let scope = left.oks.scope();
    let (left_rows, left_errs) = keyed(0, left.oks, spec.left_key.clone(), spec.left_time.column);
    let (right_rows, right_errs) =
        keyed(1, right.oks, spec.right_key.clone(), spec.right_time.column);
    let rows = left_rows.concat(right_rows);
    let [left_marks, right_marks] = watermarks;
    let tagged = |side: u8, marks: Option<WatermarkCollection<'s>>| match marks {
        Some(marks) => marks.map(move |update| (side, update)),
        None => timely::dataflow::operators::vec::ToStream::to_stream(
            Vec::<((u8, WatermarkUpdate), Timestamp, Diff)>::new(),
            scope,
        )
        .as_collection(),
    };
    let marks = tagged(0, left_marks)
        .concat(tagged(1, right_marks))
        .inner
        .broadcast();
    let peers = scope.peers();
    let exchange = Exchange::new(|((_, key, _, _), _, _): &(Keyed, Timestamp, Diff)| key.hashed());
    let results = rows
        .inner
        .binary_frontier::<_, timely::container::CapacityContainerBuilder<Vec<Output>>, _, _, _, _>(
            marks,
            exchange,
            Pipeline,
            "IntervalJoin",
            move |_capability, _info| {
                let mut state = JoinState::new(&spec, peers);
                let mut pending: BTreeMap<Timestamp, Vec<(Keyed, Diff)>> = BTreeMap::new();
                let mut marks: BTreeMap<Timestamp, Vec<(u8, WatermarkUpdate)>> = BTreeMap::new();
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
        errs: left
            .errs
            .concat(right.errs)
            .concat(left_errs)
            .concat(right_errs)
            .concat(errs),
    }
}

/// Renders a [`Plan::IntervalJoin`](laaster_repr::plan::Plan::IntervalJoin) node
/// (the dispatch in [`RenderContext::render`]).
pub fn render_plan<'s>(context: &RenderContext<'s>, plan: &Plan) -> Rendered<'s> {
    let Plan::IntervalJoin {
        left,
        right,
        left_key,
        right_key,
        residual,
        left_time,
        right_time,
        lower,
        upper,
    } = plan
    else {
        return context.render(plan);
    };
    let spec = IntervalJoinSpec {
        left_key: left_key.clone(),
        right_key: right_key.clone(),
        residual: residual.clone(),
        left_time: *left_time,
        right_time: *right_time,
        lower: *lower,
        upper: *upper,
    };
    let watermarks = [
        context.watermarks.get(&left_time.source).cloned(),
        context.watermarks.get(&right_time.source).cloned(),
    ];
    render_interval_join(
        context.render(left),
        context.render(right),
        watermarks,
        spec,
    )
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
    use super::*;

    const SECOND: i64 = 1_000_000;

    fn column(source: u64, column: usize, retractable: bool) -> EventTimeColumn {
        EventTimeColumn {
            source,
            column,
            offset: 0,
            allowed_lateness: 0,
            retractable,
        }
    }

    /// `l.ts BETWEEN r.ts - 10 s AND r.ts` on key column 0, time column 1.
    fn state(right_retractable: bool) -> JoinState {
        let spec = IntervalJoinSpec {
            left_key: vec![ScalarExpr::Column(0)],
            right_key: vec![ScalarExpr::Column(0)],
            residual: None,
            left_time: column(1, 1, false),
            right_time: column(1, 1, right_retractable),
            lower: -10 * SECOND,
            upper: 0,
        };
        JoinState::new(&spec, 1)
    }

    fn row(side: u8, key: i64, ts: i64, diff: Diff) -> (Keyed, Diff) {
        let row = Row::new(vec![Datum::Int64(key), Datum::Timestamp(ts)]);
        ((side, Row::new(vec![Datum::Int64(key)]), ts, row), diff)
    }

    fn mark(side: u8, sequence: u64, watermark: i64) -> (u8, WatermarkUpdate) {
        (side, (0, sequence, watermark, false))
    }

    #[test]
    fn rows_are_freed_once_the_other_side_cannot_match_them() {
        let mut state = state(false);
        let mut out = Vec::new();
        state.apply_rows(
            1,
            vec![row(0, 7, 5 * SECOND, 1), row(1, 7, 12 * SECOND, 1)],
            &mut out,
        );
        assert_eq!(out.len(), 1, "left at 5 s meets right at 12 s: {out:?}");
        // The right row at 12 s matches left rows from 2 s to 12 s: it goes when the
        // left watermark passes 12 s. The left row at 5 s matches right rows from 5 s to
        // 15 s: it goes when the right watermark passes 15 s.
        state.apply_watermarks(vec![mark(0, 1, 12 * SECOND), mark(1, 1, 12 * SECOND)]);
        assert_eq!((state.sides[0].live, state.sides[1].live), (1, 1));
        state.apply_watermarks(vec![
            mark(0, 2, 12 * SECOND + 1),
            mark(1, 2, 12 * SECOND + 1),
        ]);
        assert_eq!((state.sides[0].live, state.sides[1].live), (1, 0));
        state.apply_watermarks(vec![mark(1, 3, 15 * SECOND + 1)]);
        assert_eq!((state.sides[0].live, state.sides[1].live), (0, 0));
        assert!(state.sides[0].rows.is_empty() && state.sides[0].by_other.is_empty());
        // A left row behind the left watermark is late: dropped, not held.
        out.clear();
        state.apply_rows(2, vec![row(0, 7, 11 * SECOND, 1)], &mut out);
        assert!(out.is_empty() && state.sides[0].rows.is_empty());
    }

    #[test]
    fn a_retractable_row_is_kept_until_its_window_closes() {
        let mut state = state(true);
        let mut out = Vec::new();
        state.apply_rows(1, vec![row(1, 7, 20 * SECOND, 1)], &mut out);
        // The left watermark rules out matches; the right one has not closed the row.
        state.apply_watermarks(vec![mark(0, 1, 30 * SECOND), mark(1, 1, 19 * SECOND)]);
        assert_eq!(state.sides[1].live, 1);
        // Its retraction still finds it.
        state.apply_rows(2, vec![row(1, 7, 20 * SECOND, -1)], &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(state.sides[1].live, 0);
        state.apply_rows(3, vec![row(1, 8, 25 * SECOND, 1)], &mut out);
        state.apply_watermarks(vec![mark(1, 2, 25 * SECOND)]);
        assert_eq!(state.sides[1].live, 0, "closed and matched out");
        assert!(state.sides[1].by_own.is_empty());
    }
}
