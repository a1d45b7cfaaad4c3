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
//! freed then and its output rows stay downstream. Rows of a time are applied in order;
//! then each changed partition's output is recomputed over its open rows and its
//! difference from the output before that time is emitted (so every row whose session's
//! bounds moved is retracted and re-emitted); then the watermark updates of that time
//! free closed sessions. Each partition is queued once, at the watermark that closes its
//! first session (queued again only when a change makes that earlier), and is looked at
//! when the watermark reaches it. A row behind the watermark by more than the allowed
//! lateness could merge with freed sessions: it is dropped and counted
//! ([`session_metrics`]).
//!
//! A `Reduce` grouping an `EventTimeSessions` by every partition column and a session
//! bound (so each group is one session) whose aggregates all count rows (`count(*)`,
//! as in Nexmark q11) is rendered by [`render_reduce_plan`] as one operator that never
//! emits the rows: per partition it keeps the times of open sessions' rows (with their
//! copies) and the open sessions as `(start, last time, copies)`, sorted. Sessions are
//! cut wherever two consecutive times are at least the gap apart, so a change is local:
//! a new time joins the session before it if it is before that session's end and the
//! session after it if that one starts before the new time's end (merging them); a row
//! arriving in order extends the last session or opens a new one, in O(log n). A time
//! whose copies drop to zero recomputes only its own session's times, which may split.
//! After the rows of a time, each changed partition's sessions are compared with its
//! sessions before that time (kept when it was first changed): sessions that went are
//! retracted and new ones inserted, one row each. The result equals the reduce over the
//! session rows at every timestamp.
//!
//! [`Plan::EventTimeSessions`]: laaster_repr::plan::Plan::EventTimeSessions

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use differential_dataflow::{AsCollection, Hashable};
use laaster_repr::plan::{AggregateExpr, AggregateFunc, EventTimeColumn, Plan};
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

/// An input row as the operator receives it: partition key, time, tz, the row (empty
/// for [`SessionCounts`], which keeps no rows).
type Keyed = (Row, i64, bool, Row);

type Output = (Result<Row, EvalError>, Timestamp, Diff);

/// The session bounds appended to an output row: start, end, `window_time`.
fn bounds(start: i64, end: i64, tz: bool) -> [Datum; 3] {
    let stamp = if tz {
        Datum::TimestampTz
    } else {
        Datum::Timestamp
    };
    [
        stamp(start),
        stamp(end),
        stamp(end.saturating_sub(MICROS_PER_MILLI)),
    ]
}

/// The output rows of `rows` (sorted by time, then row): each with its session's bounds.
fn session_rows(rows: &[Held], gap: i64, output: &mut Vec<(Row, Diff)>, sign: Diff) {
    let mut position = 0;
    for (start, end, count) in sessions(rows.iter().map(|(t, ..)| *t), gap) {
        for (_, tz, row, copies) in &rows[position..position + count] {
            let mut datums = Vec::with_capacity(row.len() + 3);
            datums.extend(row.iter().cloned());
            datums.extend(bounds(start, end, *tz));
            output.push((Row::new(datums), sign * copies));
        }
        position += count;
    }
}

/// Adds `delta` to this operator's and the process's count of held rows.
fn count_live(live: &mut i64, delta: i64) {
    if delta != 0 {
        *live += delta;
        LIVE_ROWS.fetch_add(delta, Ordering::Relaxed);
    }
}

/// What the event-time session operators share: when sessions close, late rows, and
/// which partitions to look at when the watermark advances.
struct Closing {
    gap: i64,
    /// Added to a session's end: the watermark at which it closes is `end + close_after`.
    close_after: i64,
    /// Partitions by the watermark that closes their first session. Each partition
    /// records the entry it was last scheduled at (never later than its first session's
    /// close); an entry that no longer matches is stale and skipped when reached.
    entries: BTreeMap<i64, Vec<Row>>,
    watermark: CombinedWatermark,
    /// Rows (entries with copies) held by this operator.
    live: i64,
}

impl Closing {
    fn new(gap: i64, time: EventTimeColumn, peers: usize) -> Closing {
        Closing {
            gap,
            close_after: time.allowed_lateness.saturating_add(time.offset),
            entries: BTreeMap::new(),
            watermark: CombinedWatermark::new(peers),
            live: 0,
        }
    }

    /// Whether a row at `at` is behind the watermark by more than the allowed lateness.
    fn late(&self, at: i64) -> bool {
        self.watermark
            .get()
            .is_some_and(|w| at.saturating_add(self.close_after) < w)
    }

    /// The watermark closing a session ending at `end`.
    fn close(&self, end: i64) -> i64 {
        end.saturating_add(self.close_after)
    }

    /// Makes sure `key` is looked at once the watermark reaches `close` (its first
    /// session's close): adds an entry unless the one it has is already no later.
    fn schedule(&mut self, key: &Row, scheduled: &mut Option<i64>, close: Option<i64>) {
        if let Some(close) = close
            && scheduled.is_none_or(|at| close < at)
        {
            *scheduled = Some(close);
            self.entries.entry(close).or_default().push(key.clone());
        }
    }

    /// Takes the watermark updates of one time; returns the entries it reached (the
    /// watermark, and each key with the close it was scheduled at), if it advanced.
    fn advance(&mut self, updates: Vec<WatermarkUpdate>) -> Option<(i64, Vec<(i64, Row)>)> {
        let mut advanced = None;
        for update in updates {
            if let Some(w) = self.watermark.update(update) {
                advanced = Some(w);
            }
        }
        let watermark = advanced?;
        let mut reached = Vec::new();
        while let Some(entry) = self.entries.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            let at = *entry.key();
            reached.extend(entry.remove().into_iter().map(|key| (at, key)));
        }
        Some((watermark, reached))
    }
}

/// One event-time session operator's state on one worker: it takes the rows of one
/// time, then the watermark updates of that time.
trait SessionState {
    fn apply_rows(&mut self, time: Timestamp, rows: Vec<(Keyed, Diff)>, out: &mut Vec<Output>);
    fn apply_watermarks(&mut self, updates: Vec<WatermarkUpdate>);
}

fn internal_error(time: Timestamp) -> Output {
    (
        Err(EvalError::Other(
            "internal error: a session window input retracted a row it no longer holds".into(),
        )),
        time,
        1,
    )
}

/// One partition's rows of open sessions, sorted by time then row.
#[derive(Default)]
struct HeldRows {
    rows: Vec<Held>,
    /// The `closing` entry this partition was last scheduled at.
    scheduled: Option<i64>,
}

/// The end of the first session over `times` (ascending) with gap `gap`.
fn first_end(mut times: impl Iterator<Item = i64>, gap: i64) -> Option<i64> {
    let mut last = times.next()?;
    // The first session ends at the first gap of at least `gap` between two times.
    for time in times {
        if time >= last.saturating_add(gap) {
            break;
        }
        last = time;
    }
    Some(last.saturating_add(gap))
}

/// The state of [`render_event_time_sessions`]: every row with its session's bounds.
struct SessionRows {
    closing: Closing,
    partitions: FastMap<Row, HeldRows>,
    /// Each changed partition's output rows before this time, negated (scratch).
    before: FastMap<Row, Vec<(Row, Diff)>>,
}

impl SessionRows {
    fn new(gap: i64, time: EventTimeColumn, peers: usize) -> SessionRows {
        SessionRows {
            closing: Closing::new(gap, time, peers),
            partitions: FastMap::default(),
            before: FastMap::default(),
        }
    }
}

impl SessionState for SessionRows {
    /// Applies the rows of one time and emits each changed partition's difference.
    fn apply_rows(&mut self, time: Timestamp, rows: Vec<(Keyed, Diff)>, out: &mut Vec<Output>) {
        let gap = self.closing.gap;
        let mut live = 0;
        for ((key, at, tz, row), diff) in rows {
            if diff > 0 && self.closing.late(at) {
                LATE_ROWS.fetch_add(diff as u64, Ordering::Relaxed);
                continue;
            }
            let held = match self.partitions.get_mut(&key) {
                Some(held) => held,
                None => self.partitions.entry(key.clone()).or_default(),
            };
            if let Entry::Vacant(entry) = self.before.entry(key) {
                let mut old = Vec::with_capacity(held.rows.len());
                session_rows(&held.rows, gap, &mut old, -1);
                entry.insert(old);
            }
            let held = &mut held.rows;
            let position = held.binary_search_by(|(t, _, r, _)| (*t, r).cmp(&(at, &row)));
            match position {
                Ok(index) => {
                    held[index].3 += diff;
                    if held[index].3 == 0 {
                        held.remove(index);
                        live -= 1;
                    }
                }
                Err(index) if diff > 0 => {
                    held.insert(index, (at, tz, row, diff));
                    live += 1;
                }
                Err(_) => out.push(internal_error(time)),
            }
        }
        count_live(&mut self.closing.live, live);
        for (key, mut changes) in self.before.drain() {
            let Some(held) = self.partitions.get_mut(&key) else {
                continue;
            };
            session_rows(&held.rows, gap, &mut changes, 1);
            if held.rows.is_empty() {
                self.partitions.remove(&key);
            } else {
                let close = first_end(held.rows.iter().map(|(t, ..)| *t), gap)
                    .map(|end| self.closing.close(end));
                self.closing.schedule(&key, &mut held.scheduled, close);
            }
            differential_dataflow::consolidation::consolidate(&mut changes);
            out.extend(changes.into_iter().map(|(row, diff)| (Ok(row), time, diff)));
        }
    }

    /// Takes the watermark updates of one time and frees the sessions it closed.
    fn apply_watermarks(&mut self, updates: Vec<WatermarkUpdate>) {
        let Some((watermark, reached)) = self.closing.advance(updates) else {
            return;
        };
        let gap = self.closing.gap;
        let mut freed_total = 0;
        for (at, key) in reached {
            let Some(held) = self.partitions.get_mut(&key) else {
                continue;
            };
            if held.scheduled != Some(at) {
                continue;
            }
            held.scheduled = None;
            let mut freed = 0;
            for (_, end, count) in sessions(held.rows.iter().map(|(t, ..)| *t), gap) {
                if self.closing.close(end) > watermark {
                    break;
                }
                freed += count;
            }
            held.rows.drain(..freed);
            freed_total += freed;
            if held.rows.is_empty() {
                self.partitions.remove(&key);
            } else {
                let close = first_end(held.rows.iter().map(|(t, ..)| *t), gap)
                    .map(|end| self.closing.close(end));
                self.closing.schedule(&key, &mut held.scheduled, close);
            }
        }
        count_live(&mut self.closing.live, -(freed_total as i64));
        FREED_ROWS.fetch_add(freed_total as u64, Ordering::Relaxed);
        if self.partitions.is_empty() {
            self.partitions.shrink_to(0);
        }
    }
}

/// One open session of [`SessionCounts`]: its first and last time and its rows' copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Session {
    start: i64,
    last: i64,
    copies: Diff,
}

impl Session {
    fn end(&self, gap: i64) -> i64 {
        self.last.saturating_add(gap)
    }
}

/// One partition of [`SessionCounts`]: the times of its open sessions' rows (ascending,
/// with their copies) and those sessions (ascending, disjoint, covering the times).
#[derive(Default)]
struct CountedPartition {
    times: Vec<(i64, Diff)>,
    sessions: Vec<Session>,
    tz: bool,
    /// The `closing` entry this partition was last scheduled at.
    scheduled: Option<i64>,
    /// Once changed at the time being applied: its sessions before that time.
    before: Option<Vec<Session>>,
}

/// A column of [`SessionCounts`]' output row, before the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupColumn {
    /// A column of the partition key.
    Key(usize),
    Start,
    End,
    WindowTime,
}

/// The state of [`render_event_time_session_counts`]: one row per open session.
struct SessionCounts {
    closing: Closing,
    partitions: FastMap<Row, CountedPartition>,
    columns: Vec<GroupColumn>,
    /// How many `count` columns follow the group columns.
    counts: usize,
    /// The partitions changed at the time being applied (scratch).
    touched: Vec<Row>,
}

impl SessionCounts {
    fn new(
        gap: i64,
        time: EventTimeColumn,
        peers: usize,
        columns: Vec<GroupColumn>,
        counts: usize,
    ) -> SessionCounts {
        SessionCounts {
            closing: Closing::new(gap, time, peers),
            partitions: FastMap::default(),
            columns,
            counts,
            touched: Vec::new(),
        }
    }
}

/// Pushes `session`'s output row (the group columns, then `counts` times its copies)
/// with `diff` to `out`.
fn push_session(
    (columns, counts, gap): (&[GroupColumn], usize, i64),
    (key, tz): (&Row, bool),
    session: Session,
    (time, diff): (Timestamp, Diff),
    out: &mut Vec<Output>,
) {
    let [start, end, window_time] = bounds(session.start, session.end(gap), tz);
    let mut datums = Vec::with_capacity(columns.len() + counts);
    for column in columns {
        datums.push(match column {
            GroupColumn::Key(index) => key[*index].clone(),
            GroupColumn::Start => start.clone(),
            GroupColumn::End => end.clone(),
            GroupColumn::WindowTime => window_time.clone(),
        });
    }
    datums.extend(std::iter::repeat_n(Datum::Int64(session.copies), counts));
    out.push((Ok(Row::new(datums)), time, diff));
}

impl CountedPartition {
    /// Applies `diff` copies of a row at `at` to the times and the sessions. Returns the
    /// change in held times, or `None` for a retraction of a time not held.
    fn apply(&mut self, at: i64, diff: Diff, gap: i64) -> Option<i64> {
        match self.times.binary_search_by_key(&at, |(t, _)| *t) {
            Ok(index) => {
                // The session holding `at` (sessions cover every held time).
                let position = self.sessions.partition_point(|s| s.start <= at) - 1;
                self.times[index].1 += diff;
                if self.times[index].1 != 0 {
                    self.sessions[position].copies += diff;
                    return Some(0);
                }
                // The time goes: the session's other times may fall apart into several.
                let old = self.sessions[position];
                self.times.remove(index);
                let from = self.times.partition_point(|(t, _)| *t < old.start);
                let to = self.times.partition_point(|(t, _)| *t <= old.last);
                let times = &self.times[from..to];
                let mut replacement = Vec::new();
                let mut offset = 0;
                for (start, _, count) in sessions(times.iter().map(|(t, _)| *t), gap) {
                    let covered = &times[offset..offset + count];
                    replacement.push(Session {
                        start,
                        last: covered[count - 1].0,
                        copies: covered.iter().map(|(_, c)| *c).sum(),
                    });
                    offset += count;
                }
                self.sessions.splice(position..=position, replacement);
                Some(-1)
            }
            Err(index) if diff > 0 => {
                self.times.insert(index, (at, diff));
                // The new time joins the session before it if it is before that one's
                // end, and the session after it if that one starts before its own end.
                let position = self.sessions.partition_point(|s| s.start <= at);
                let mut merged = Session {
                    start: at,
                    last: at,
                    copies: diff,
                };
                let mut from = position;
                let mut to = position;
                if let Some(before) = position.checked_sub(1).map(|p| self.sessions[p])
                    && at < before.end(gap)
                {
                    merged.start = before.start;
                    merged.last = before.last.max(at);
                    merged.copies += before.copies;
                    from -= 1;
                }
                if let Some(after) = self.sessions.get(position).copied()
                    && after.start < at.saturating_add(gap)
                {
                    merged.last = after.last;
                    merged.copies += after.copies;
                    to += 1;
                }
                match to - from {
                    0 => self.sessions.insert(position, merged),
                    1 => self.sessions[from] = merged,
                    _ => {
                        self.sessions.splice(from..to, [merged]);
                    }
                }
                Some(1)
            }
            Err(_) => None,
        }
    }
}

impl SessionState for SessionCounts {
    /// Applies the rows of one time, then emits each changed partition's sessions that
    /// differ from its sessions before (old ones retracted, new ones inserted).
    fn apply_rows(&mut self, time: Timestamp, rows: Vec<(Keyed, Diff)>, out: &mut Vec<Output>) {
        let gap = self.closing.gap;
        let mut live = 0;
        for ((key, at, tz, _), diff) in rows {
            if diff > 0 && self.closing.late(at) {
                LATE_ROWS.fetch_add(diff as u64, Ordering::Relaxed);
                continue;
            }
            let partition = match self.partitions.get_mut(&key) {
                Some(partition) => {
                    if partition.before.is_none() {
                        partition.before = Some(partition.sessions.clone());
                        self.touched.push(key);
                    }
                    partition
                }
                None => {
                    self.touched.push(key.clone());
                    self.partitions.entry(key).or_insert(CountedPartition {
                        before: Some(Vec::new()),
                        ..CountedPartition::default()
                    })
                }
            };
            partition.tz = tz;
            match partition.apply(at, diff, gap) {
                Some(change) => live += change,
                None => out.push(internal_error(time)),
            }
        }
        count_live(&mut self.closing.live, live);
        let output = (self.columns.as_slice(), self.counts, gap);
        for key in self.touched.drain(..) {
            let Some(partition) = self.partitions.get_mut(&key) else {
                continue;
            };
            let old = partition.before.take().unwrap_or_default();
            let new = &partition.sessions;
            let this = (&key, partition.tz);
            // Both are sorted by start, and a start names one session of the partition.
            let (mut i, mut j) = (0, 0);
            while i < old.len() || j < new.len() {
                match (old.get(i), new.get(j)) {
                    (Some(a), Some(b)) if a == b => {
                        i += 1;
                        j += 1;
                    }
                    (Some(a), b) if b.is_none_or(|b| a.start <= b.start) => {
                        push_session(output, this, *a, (time, -1), out);
                        i += 1;
                    }
                    (_, Some(b)) => {
                        push_session(output, this, *b, (time, 1), out);
                        j += 1;
                    }
                    (_, None) => break,
                }
            }
            if partition.times.is_empty() {
                self.partitions.remove(&key);
            } else {
                let close = partition
                    .sessions
                    .first()
                    .map(|s| self.closing.close(s.end(gap)));
                self.closing.schedule(&key, &mut partition.scheduled, close);
            }
        }
    }

    /// Takes the watermark updates of one time and frees the sessions it closed.
    fn apply_watermarks(&mut self, updates: Vec<WatermarkUpdate>) {
        let Some((watermark, reached)) = self.closing.advance(updates) else {
            return;
        };
        let gap = self.closing.gap;
        let mut freed_total = 0;
        for (at, key) in reached {
            let Some(partition) = self.partitions.get_mut(&key) else {
                continue;
            };
            if partition.scheduled != Some(at) {
                continue;
            }
            partition.scheduled = None;
            let closed = partition
                .sessions
                .partition_point(|s| self.closing.close(s.end(gap)) <= watermark);
            if let Some(last) = closed.checked_sub(1).map(|c| partition.sessions[c].last) {
                let freed = partition.times.partition_point(|(t, _)| *t <= last);
                partition.times.drain(..freed);
                partition.sessions.drain(..closed);
                freed_total += freed;
            }
            if partition.times.is_empty() {
                self.partitions.remove(&key);
            } else {
                let close = partition
                    .sessions
                    .first()
                    .map(|s| self.closing.close(s.end(gap)));
                self.closing.schedule(&key, &mut partition.scheduled, close);
            }
        }
        count_live(&mut self.closing.live, -(freed_total as i64));
        FREED_ROWS.fetch_add(freed_total as u64, Ordering::Relaxed);
        if self.partitions.is_empty() {
            self.partitions.shrink_to(0);
        }
    }
}

impl Drop for Closing {
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

/// Renders `Reduce { input: EventTimeSessions, .. }` as [`render_event_time_session_counts`]
/// when each group is one session and every aggregate counts all rows: the group key
/// holds every partition column and at least one session bound and nothing else, and
/// the aggregates are `count(*)`s (`count` of a non-null literal, not `DISTINCT`).
/// Returns `None` otherwise (the reduce is rendered as usual).
pub fn render_reduce_plan<'s>(
    context: &RenderContext<'s>,
    input: &Plan,
    group_key: &[usize],
    aggregates: &[AggregateExpr],
    global: bool,
) -> Option<Rendered<'s>> {
    let Plan::EventTimeSessions {
        input,
        partition,
        time,
        gap,
    } = input
    else {
        return None;
    };
    let counts_rows = |aggregate: &AggregateExpr| {
        aggregate.func == AggregateFunc::Count
            && !aggregate.distinct
            && aggregate.order_by.is_empty()
            && matches!(aggregate.args.as_slice(), [ScalarExpr::Literal(value, _)] if !value.is_null())
    };
    if global || !aggregates.iter().all(counts_rows) {
        return None;
    }
    let arity = input.arity();
    let columns: Vec<GroupColumn> = group_key
        .iter()
        .map(|&column| match column.checked_sub(arity) {
            Some(0) => Some(GroupColumn::Start),
            Some(1) => Some(GroupColumn::End),
            Some(2) => Some(GroupColumn::WindowTime),
            Some(_) => None,
            None => partition
                .iter()
                .position(|p| *p == column)
                .map(GroupColumn::Key),
        })
        .collect::<Option<_>>()?;
    let every_key = (0..partition.len()).all(|k| columns.contains(&GroupColumn::Key(k)));
    let a_bound = columns.iter().any(|c| !matches!(c, GroupColumn::Key(_)));
    if !every_key || !a_bound {
        return None;
    }
    let watermarks = context.watermarks.get(&time.source).cloned();
    Some(render_event_time_session_counts(
        context.render(input),
        watermarks,
        partition.clone(),
        *time,
        *gap,
        columns,
        aggregates.len(),
    ))
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
    let peers = input.oks.scope().peers();
    render_with(input, watermarks, partition, time, true, move || {
        SessionRows::new(gap, time, peers)
    })
}

/// Renders `Reduce { input: EventTimeSessions, group_key, [count(*), ..] }` when each
/// group is one session (see [`render_reduce_plan`]): per partition only the times of
/// open sessions' rows and the sessions (start, last time, copies) are kept, and each
/// change emits the affected sessions' rows, not their rows' (`columns` then `counts`
/// times the session's row count). Sessions close and late rows are dropped as in
/// [`render_event_time_sessions`].
fn render_event_time_session_counts<'s>(
    input: Rendered<'s>,
    watermarks: Option<WatermarkCollection<'s>>,
    partition: Vec<usize>,
    time: EventTimeColumn,
    gap: i64,
    columns: Vec<GroupColumn>,
    counts: usize,
) -> Rendered<'s> {
    let peers = input.oks.scope().peers();
    render_with(input, watermarks, partition, time, false, move || {
        SessionCounts::new(gap, time, peers, columns, counts)
    })
}

/// The event-time session operator with the state `state` makes (on each worker);
/// `keep_rows`: whether the state needs the input rows (else an empty row is passed).
fn render_with<'s, S: SessionState + 'static>(
    input: Rendered<'s>,
    watermarks: Option<WatermarkCollection<'s>>,
    partition: Vec<usize>,
    time: EventTimeColumn,
    keep_rows: bool,
    state: impl FnOnce() -> S + 'static,
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
        let key = row.project(&partition);
        let row = if keep_rows { row } else { Row::empty() };
        Some((key, at, tz, row))
    });
    let watermarks = match watermarks {
        Some(watermarks) => watermarks.inner.broadcast(),
        None => timely::dataflow::operators::vec::ToStream::to_stream(
            Vec::<(WatermarkUpdate, Timestamp, Diff)>::new(),
            scope,
        ),
    };
    let exchange = Exchange::new(|((key, _, _, _), _, _): &(Keyed, Timestamp, Diff)| key.hashed());
    let results = keyed
        .inner
        .binary_frontier::<_, timely::container::CapacityContainerBuilder<Vec<Output>>, _, _, _, _>(
            watermarks,
            exchange,
            Pipeline,
            "EventTimeSessions",
            move |_capability, _info| {
                let mut state = state();
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
        let mut state = SessionRows::new(10, time, 1);
        let row = |t: i64| {
            let row = Row::new(vec![Datum::Int64(7), Datum::Timestamp(t)]);
            ((Row::new(vec![Datum::Int64(7)]), t, false, row), 1)
        };
        let mut out = Vec::new();
        state.apply_rows(1, vec![row(0), row(5), row(30)], &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(state.closing.live, 3);
        // The session [0, 15) closes at 15; [30, 40) stays open.
        state.apply_watermarks(vec![(0, 1, 15, false)]);
        assert_eq!(state.closing.live, 1);
        // A row at 12 is behind the watermark: it could have merged with the freed session.
        out.clear();
        state.apply_rows(2, vec![row(12)], &mut out);
        assert!(out.is_empty() && state.closing.live == 1);
        // A row at 35 extends the open session: both its rows are re-emitted.
        state.apply_rows(3, vec![row(35)], &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
        state.apply_watermarks(vec![(0, 2, 45, false)]);
        assert_eq!(state.closing.live, 0);
        assert!(state.partitions.is_empty() && state.closing.entries.is_empty());
    }

    #[test]
    fn a_bridging_time_merges_two_sessions() {
        assert_eq!(sessions([0, 20], 15), vec![(0, 15, 1), (20, 35, 1)]);
        // 10 < 15 extends the first session to 25, and 20 < 25 joins the second.
        assert_eq!(sessions([0, 10, 20], 15), vec![(0, 35, 3)]);
    }

    #[test]
    fn session_counts_match_the_sessions_recomputed_after_every_change() {
        use super::*;
        let time = EventTimeColumn {
            source: 1,
            column: 1,
            offset: 0,
            allowed_lateness: 0,
            retractable: false,
        };
        let gap = 10;
        let columns = vec![GroupColumn::Key(0), GroupColumn::Start, GroupColumn::End];
        let mut state = SessionCounts::new(gap, time, 1, columns, 2);
        // The expected output: every session over the held times, recomputed from scratch.
        let expected = |held: &BTreeMap<(i64, i64), Diff>| {
            let mut rows = Vec::new();
            for key in [1, 2] {
                let times: Vec<(i64, Diff)> = held
                    .iter()
                    .filter(|((k, _), _)| *k == key)
                    .map(|((_, t), c)| (*t, *c))
                    .collect();
                let mut offset = 0;
                for (start, end, count) in sessions(times.iter().map(|(t, _)| *t), gap) {
                    let copies: Diff = times[offset..offset + count].iter().map(|(_, c)| c).sum();
                    offset += count;
                    let datums = vec![
                        Datum::Int64(key),
                        Datum::Timestamp(start),
                        Datum::Timestamp(end),
                        Datum::Int64(copies),
                        Datum::Int64(copies),
                    ];
                    rows.push((Row::new(datums), 1));
                }
            }
            rows.sort();
            rows
        };
        let mut held: BTreeMap<(i64, i64), Diff> = BTreeMap::new();
        let mut output: BTreeMap<Row, Diff> = BTreeMap::new();
        let mut seed: u64 = 7;
        let mut next = |bound: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % bound
        };
        for step in 0..2_000u64 {
            let mut batch = Vec::new();
            for _ in 0..1 + next(4) {
                let key = 1 + next(2) as i64;
                let at = next(200) as i64;
                // Mostly inserts; retract only what is held.
                let diff = match held.get(&(key, at)) {
                    Some(_) if next(3) == 0 => -1,
                    _ => 1 + next(2) as i64,
                };
                let entry = held.entry((key, at)).or_default();
                *entry += diff;
                if *entry == 0 {
                    held.remove(&(key, at));
                }
                let row = (Row::new(vec![Datum::Int64(key)]), at, false, Row::empty());
                batch.push((row, diff));
            }
            let mut out = Vec::new();
            state.apply_rows(step, batch, &mut out);
            for (row, _, diff) in out {
                let entry = output.entry(row.unwrap()).or_default();
                *entry += diff;
            }
            output.retain(|_, diff| *diff != 0);
            let actual: Vec<(Row, Diff)> = output.iter().map(|(r, d)| (r.clone(), *d)).collect();
            assert_eq!(actual, expected(&held), "step {step}");
            assert_eq!(state.closing.live, held.len() as i64);
        }
        // Closing everything frees every time; the output stays.
        state.apply_watermarks(vec![(0, 1, i64::MAX, false)]);
        assert_eq!(state.closing.live, 0);
        assert!(state.partitions.is_empty() && state.closing.entries.is_empty());
    }
}
