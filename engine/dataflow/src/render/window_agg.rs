//! Window aggregation with state freed behind the watermark ([`Plan::WindowAggregate`]).
//!
//! The input is append-only (rows of a streamed source through window TVFs, maps and
//! filters), grouped by a key that contains a window bound. Each group keeps one
//! accumulator per aggregate (a count, a sum, a min or max, a value set for
//! `count(DISTINCT)`), never the rows. The source's readers send their watermarks as a
//! second input, broadcast to every worker, so every worker computes the same combined
//! watermark (the minimum over readers not idle) at each logical time.
//!
//! Times are processed in order once both inputs' frontiers have passed them (so the
//! output is consistent at every timestamp): first the rows at that time update their
//! groups, then the watermark advances and every group whose window end plus allowed
//! lateness it reached is closed: its state is freed, and with `EMIT ON WINDOW CLOSE`
//! its final row is emitted (once). With the default emission each change emits the
//! group's old row retracted and its new row, so partial results are visible at once and
//! the final row stays in the downstream arrangement after the state is gone.
//!
//! [`Plan::WindowAggregate`]: laaster_repr::plan::Plan::WindowAggregate

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use differential_dataflow::{AsCollection, Hashable};
use laaster_repr::plan::{AggregateExpr, AggregateFunc, WindowEmit};
use laaster_repr::{Datum, Diff, EvalError, Interval, Row, ScalarType, Timestamp};
use rust_decimal::Decimal;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Broadcast;

use super::{FastMap, Rendered, WatermarkCollection, split_results};
use crate::source::WATERMARK_DONE;

/// Open (key, window) groups over every window operator in this process, and how many
/// were closed. Tests and benchmarks read these to check that state stays bounded.
static LIVE_GROUPS: AtomicI64 = AtomicI64::new(0);
static CLOSED_GROUPS: AtomicU64 = AtomicU64::new(0);
static LATE_ROWS: AtomicU64 = AtomicU64::new(0);

/// The window operators' state counters (process-wide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowStateMetrics {
    /// Groups holding state now.
    pub live_groups: i64,
    /// Groups closed (state freed) so far.
    pub closed_groups: u64,
    /// Rows that reached a window already closed (a reader behind the combined watermark
    /// after an idle timeout) and were dropped.
    pub late_rows: u64,
}

/// The current [`WindowStateMetrics`].
pub fn window_state_metrics() -> WindowStateMetrics {
    WindowStateMetrics {
        live_groups: LIVE_GROUPS.load(Ordering::Relaxed),
        closed_groups: CLOSED_GROUPS.load(Ordering::Relaxed),
        late_rows: LATE_ROWS.load(Ordering::Relaxed),
    }
}

/// Whether [`render_window_aggregate`] implements `aggregate` (else the planner keeps
/// the ordinary reduce). Float sums are excluded: the reduce sums in value order, and an
/// incremental float sum could differ in the last bits.
pub fn supports(aggregate: &AggregateExpr) -> bool {
    if !aggregate.order_by.is_empty() || aggregate.args.len() != 1 {
        return false;
    }
    match &aggregate.func {
        AggregateFunc::Count
        | AggregateFunc::Min
        | AggregateFunc::Max
        | AggregateFunc::BoolAnd
        | AggregateFunc::BoolOr => true,
        AggregateFunc::Sum { output } => !aggregate.distinct && !output.is_float(),
        AggregateFunc::StringAgg | AggregateFunc::ArrayAgg => false,
    }
}

/// What [`render_window_aggregate`] needs besides its inputs.
#[derive(Clone, Debug)]
pub struct WindowAggregateSpec {
    pub group_key: Vec<usize>,
    pub aggregates: Vec<AggregateExpr>,
    pub window_end: usize,
    pub end_offset: i64,
    pub allowed_lateness: i64,
    pub emit: WindowEmit,
}

/// One aggregate's running value over a group's non-null inputs.
#[derive(Clone, Debug)]
enum Accumulator {
    Count(i64),
    CountDistinct(BTreeSet<Datum>),
    SumInt {
        total: i128,
        count: i64,
    },
    SumDecimal {
        total: Decimal,
        count: i64,
        overflow: bool,
    },
    SumInterval {
        months: i64,
        days: i64,
        micros: i128,
        count: i64,
    },
    Min(Option<Datum>),
    Max(Option<Datum>),
    Bool {
        and: bool,
        value: Option<bool>,
    },
}

impl Accumulator {
    fn new(aggregate: &AggregateExpr) -> Accumulator {
        match &aggregate.func {
            AggregateFunc::Count if aggregate.distinct => {
                Accumulator::CountDistinct(BTreeSet::new())
            }
            AggregateFunc::Count => Accumulator::Count(0),
            AggregateFunc::Sum { output } => match output {
                ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 => {
                    Accumulator::SumInt { total: 0, count: 0 }
                }
                ScalarType::Interval => Accumulator::SumInterval {
                    months: 0,
                    days: 0,
                    micros: 0,
                    count: 0,
                },
                _ => Accumulator::SumDecimal {
                    total: Decimal::ZERO,
                    count: 0,
                    overflow: false,
                },
            },
            AggregateFunc::Min => Accumulator::Min(None),
            AggregateFunc::Max => Accumulator::Max(None),
            AggregateFunc::BoolAnd => Accumulator::Bool {
                and: true,
                value: None,
            },
            // BoolOr, and (never planned) string_agg / array_agg.
            _ => Accumulator::Bool {
                and: false,
                value: None,
            },
        }
    }

    /// Adds `copies` (positive) of `value`.
    fn add(&mut self, value: &Datum, copies: Diff) {
        if value.is_null() {
            return;
        }
        match self {
            Accumulator::Count(count) => *count += copies,
            Accumulator::CountDistinct(values) => {
                if !values.contains(value) {
                    values.insert(value.clone());
                }
            }
            Accumulator::SumInt { total, count } => {
                *total += i128::from(value.as_i64().unwrap_or(0)) * i128::from(copies);
                *count += copies;
            }
            Accumulator::SumDecimal {
                total,
                count,
                overflow,
            } => {
                let value = match value {
                    Datum::Decimal(d) => *d,
                    other => Decimal::from(other.as_i64().unwrap_or(0)),
                };
                match value
                    .checked_mul(Decimal::from(copies))
                    .and_then(|scaled| total.checked_add(scaled))
                {
                    Some(sum) => *total = sum,
                    None => *overflow = true,
                }
                *count += copies;
            }
            Accumulator::SumInterval {
                months,
                days,
                micros,
                count,
            } => {
                if let Datum::Interval(i) = value {
                    *months += i64::from(i.months) * copies;
                    *days += i64::from(i.days) * copies;
                    *micros += i128::from(i.micros) * i128::from(copies);
                }
                *count += copies;
            }
            Accumulator::Min(current) => {
                if current.as_ref().is_none_or(|c| value < c) {
                    *current = Some(value.clone());
                }
            }
            Accumulator::Max(current) => {
                if current.as_ref().is_none_or(|c| value > c) {
                    *current = Some(value.clone());
                }
            }
            Accumulator::Bool { and, value: state } => {
                let input = value == &Datum::Bool(true);
                *state = Some(match *state {
                    None => input,
                    Some(previous) if *and => previous && input,
                    Some(previous) => previous || input,
                });
            }
        }
    }

    /// The aggregate's value, as the ordinary reduce computes it.
    fn value(&self) -> Result<Datum, EvalError> {
        Ok(match self {
            Accumulator::Count(count) => Datum::Int64(*count),
            Accumulator::CountDistinct(values) => Datum::Int64(values.len() as i64),
            Accumulator::SumInt { count: 0, .. }
            | Accumulator::SumDecimal { count: 0, .. }
            | Accumulator::SumInterval { count: 0, .. } => Datum::Null,
            Accumulator::SumInt { total, .. } => i64::try_from(*total)
                .map(Datum::Int64)
                .map_err(|_| EvalError::OutOfRange("bigint".into()))?,
            Accumulator::SumDecimal { overflow: true, .. } => {
                return Err(EvalError::NumericFieldOverflow);
            }
            Accumulator::SumDecimal { total, .. } => Datum::Decimal(*total),
            Accumulator::SumInterval {
                months,
                days,
                micros,
                ..
            } => {
                let overflow = || EvalError::OutOfRange("interval".into());
                Datum::Interval(Interval::new(
                    i32::try_from(*months).map_err(|_| overflow())?,
                    i32::try_from(*days).map_err(|_| overflow())?,
                    i64::try_from(*micros).map_err(|_| overflow())?,
                ))
            }
            Accumulator::Min(value) | Accumulator::Max(value) => {
                value.clone().unwrap_or(Datum::Null)
            }
            Accumulator::Bool { value, .. } => value.map_or(Datum::Null, Datum::Bool),
        })
    }
}

/// One open (key, window) group.
struct Group {
    accumulators: Vec<Accumulator>,
    /// When the watermark reaching this closes the window (end + offset + lateness).
    close_at: i64,
    /// With `OnUpdate`, once changed at the time being applied: its output row before
    /// (`None` for a group new at this time).
    before: Option<Option<Result<Row, EvalError>>>,
}

impl Group {
    /// The output row: key columns, then the aggregates.
    fn output(&self, key: &Row) -> Result<Row, EvalError> {
        let mut row: Vec<Datum> = key.iter().cloned().collect();
        for accumulator in &self.accumulators {
            row.push(accumulator.value()?);
        }
        Ok(Row::new(row))
    }
}

/// An input row as the operator receives it: group key, close time, aggregate inputs.
type Keyed = (Row, i64, Row);

/// The operator's state on one worker.
struct WindowState {
    aggregates: Vec<AggregateExpr>,
    emit: WindowEmit,
    peers: usize,
    groups: FastMap<Row, Group>,
    /// The groups changed at the time being applied (with `OnUpdate`; scratch).
    changed: Vec<Row>,
    /// Open groups by the watermark that closes them.
    closing: BTreeMap<i64, Vec<Row>>,
    /// Per reader (worker index): the latest (sequence, watermark, idle).
    readers: Vec<Option<(u64, i64, bool)>>,
    /// The combined watermark (monotone); `None` until every reader reported.
    watermark: Option<i64>,
}

type Output = (Result<Row, EvalError>, Timestamp, Diff);

impl WindowState {
    /// Applies the rows of one time and emits the changes (default emission).
    fn apply_rows(&mut self, time: Timestamp, rows: Vec<(Keyed, Diff)>, out: &mut Vec<Output>) {
        let on_update = self.emit == WindowEmit::OnUpdate;
        for ((key, close_at, values), diff) in rows {
            if diff < 0 {
                out.push((
                    Err(EvalError::Other(
                        "internal error: a row was retracted from an append-only window aggregation input"
                            .into(),
                    )),
                    time,
                    1,
                ));
                continue;
            }
            if self.watermark.is_some_and(|w| close_at <= w) {
                LATE_ROWS.fetch_add(diff as u64, Ordering::Relaxed);
                continue;
            }
            // One lookup for a group that exists; a new group's key is cloned for the
            // closing queue and, with `OnUpdate`, the list of changed groups.
            let group = match self.groups.get_mut(&key) {
                Some(group) => {
                    if on_update && group.before.is_none() {
                        group.before = Some(Some(group.output(&key)));
                        self.changed.push(key);
                    }
                    group
                }
                None => {
                    LIVE_GROUPS.fetch_add(1, Ordering::Relaxed);
                    self.closing.entry(close_at).or_default().push(key.clone());
                    if on_update {
                        self.changed.push(key.clone());
                    }
                    self.groups.entry(key).or_insert(Group {
                        accumulators: self.aggregates.iter().map(Accumulator::new).collect(),
                        close_at,
                        before: on_update.then_some(None),
                    })
                }
            };
            for (accumulator, value) in group.accumulators.iter_mut().zip(values.iter()) {
                accumulator.add(value, diff);
            }
        }
        for key in self.changed.drain(..) {
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            let Some(old) = group.before.take() else {
                continue;
            };
            let new = group.output(&key);
            if old.as_ref() == Some(&new) {
                continue;
            }
            if let Some(old) = old {
                out.push((old, time, -1));
            }
            out.push((new, time, 1));
        }
    }

    /// Takes the readers' watermark updates of one time and closes the windows the
    /// combined watermark passed.
    fn apply_watermarks(
        &mut self,
        time: Timestamp,
        updates: Vec<crate::source::WatermarkUpdate>,
        out: &mut Vec<Output>,
    ) {
        for (worker, sequence, watermark, idle) in updates {
            let Some(slot) = self.readers.get_mut(worker as usize) else {
                continue;
            };
            if slot.is_none_or(|(seen, _, _)| seen < sequence) {
                *slot = Some((sequence, watermark, idle));
            }
        }
        if self.readers.len() < self.peers || self.readers.iter().any(Option::is_none) {
            return;
        }
        let active = self
            .readers
            .iter()
            .flatten()
            .filter(|(_, _, idle)| !idle)
            .map(|(_, watermark, _)| *watermark)
            .min();
        let Some(combined) = active else {
            // Every reader is idle: the watermark stays where it is.
            return;
        };
        if self.watermark.is_some_and(|w| w >= combined) {
            return;
        }
        self.watermark = Some(combined);
        self.close_through(combined, time, out);
    }

    /// Frees every group whose window closes at or before `watermark`.
    fn close_through(&mut self, watermark: i64, time: Timestamp, out: &mut Vec<Output>) {
        while let Some(entry) = self.closing.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            for key in entry.remove() {
                if let Some(group) = self.groups.remove(&key) {
                    LIVE_GROUPS.fetch_sub(1, Ordering::Relaxed);
                    CLOSED_GROUPS.fetch_add(1, Ordering::Relaxed);
                    debug_assert!(group.close_at <= watermark);
                    if self.emit == WindowEmit::OnWindowClose {
                        out.push((group.output(&key), time, 1));
                    }
                }
            }
        }
        if self.groups.is_empty() {
            self.groups.shrink_to(0);
        }
    }
}

impl Drop for WindowState {
    fn drop(&mut self) {
        LIVE_GROUPS.fetch_sub(self.groups.len() as i64, Ordering::Relaxed);
    }
}

/// Renders `WindowAggregate`. Without `watermarks` (a source with no streamed readers)
/// windows never close: results are exact, state is not freed, and `EMIT ON WINDOW
/// CLOSE` emits nothing. With them, a bounded source's readers end with the watermark
/// [`WATERMARK_DONE`], which closes every window.
pub fn render_window_aggregate<'s>(
    input: Rendered<'s>,
    watermarks: Option<WatermarkCollection<'s>>,
    spec: WindowAggregateSpec,
) -> Rendered<'s> {
    let scope = input.oks.scope();
    let WindowAggregateSpec {
        group_key,
        aggregates,
        window_end,
        end_offset,
        allowed_lateness,
        emit,
    } = spec;
    let arguments = aggregates.clone();
    let keyed = input.oks.clone().map(move |row| {
        let close_at = match row.get(window_end) {
            Some(Datum::Timestamp(end) | Datum::TimestampTz(end)) => end
                .saturating_add(end_offset)
                .saturating_add(allowed_lateness),
            // A window without an end never closes.
            _ => WATERMARK_DONE,
        };
        let mut values = Vec::with_capacity(arguments.len());
        for aggregate in &arguments {
            values.push(aggregate.args[0].eval(&row)?);
        }
        Ok::<Keyed, EvalError>((row.project(&group_key), close_at, Row::new(values)))
    });
    let (keyed, key_errs) = {
        use timely::dataflow::operators::core::OkErr;
        let (oks, errs) = keyed.inner.ok_err(|(result, time, diff)| match result {
            Ok(keyed) => Ok((keyed, time, diff)),
            Err(error) => Err((error, time, diff)),
        });
        (oks.as_collection(), errs.as_collection())
    };
    let watermarks = match watermarks {
        Some(watermarks) => watermarks.inner.broadcast(),
        None => timely::dataflow::operators::vec::ToStream::to_stream(
            Vec::<(crate::source::WatermarkUpdate, Timestamp, Diff)>::new(),
            scope,
        ),
    };
    let peers = scope.peers();
    let exchange = Exchange::new(|((key, _, _), _, _): &(Keyed, Timestamp, Diff)| key.hashed());
    let results = keyed
        .inner
        .binary_frontier::<_, timely::container::CapacityContainerBuilder<Vec<Output>>, _, _, _, _>(
            watermarks,
            exchange,
            Pipeline,
            "WindowAggregate",
            move |_capability, _info| {
                let mut state = WindowState {
                    aggregates,
                    emit,
                    peers,
                    groups: FastMap::default(),
                    changed: Vec::new(),
                    closing: BTreeMap::new(),
                    readers: vec![None; peers],
                    watermark: None,
                };
                let mut rows: BTreeMap<Timestamp, Vec<(Keyed, Diff)>> = BTreeMap::new();
                let mut marks: BTreeMap<Timestamp, Vec<crate::source::WatermarkUpdate>> =
                    BTreeMap::new();
                let mut held: Option<timely::dataflow::operators::Capability<Timestamp>> = None;
                let mut out = Vec::new();
                move |(data, data_frontier), (watermark_input, watermark_frontier), output| {
                    data.for_each(|capability, batch| {
                        hold(&mut held, capability.retain_least(0));
                        for (record, time, diff) in batch.drain(..) {
                            rows.entry(time).or_default().push((record, diff));
                        }
                    });
                    watermark_input.for_each(|capability, batch| {
                        hold(&mut held, capability.retain_least(0));
                        for (update, time, _diff) in batch.drain(..) {
                            marks.entry(time).or_default().push(update);
                        }
                    });
                    let ready = |time: &Timestamp| {
                        !data_frontier.less_equal(time) && !watermark_frontier.less_equal(time)
                    };
                    let mut times: Vec<Timestamp> = rows
                        .keys()
                        .chain(marks.keys())
                        .copied()
                        .filter(|t| ready(t))
                        .collect();
                    times.sort_unstable();
                    times.dedup();
                    for time in times {
                        if let Some(batch) = rows.remove(&time) {
                            state.apply_rows(time, batch, &mut out);
                        }
                        if let Some(updates) = marks.remove(&time) {
                            state.apply_watermarks(time, updates, &mut out);
                        }
                        if !out.is_empty()
                            && let Some(capability) = held.as_ref()
                        {
                            let capability = capability.delayed(&time);
                            output.session(&capability).give_iterator(out.drain(..));
                        }
                    }
                    let next = rows.keys().chain(marks.keys()).min().copied();
                    match next {
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
        errs: input.errs.concat(key_errs).concat(errs),
    }
}

/// Keeps the earlier of the held capability and `new`.
fn hold(
    held: &mut Option<timely::dataflow::operators::Capability<Timestamp>>,
    new: Option<timely::dataflow::operators::Capability<Timestamp>>,
) {
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

    fn state(peers: usize, emit: WindowEmit) -> WindowState {
        WindowState {
            aggregates: vec![AggregateExpr {
                func: AggregateFunc::Count,
                args: vec![laaster_repr::ScalarExpr::Literal(
                    Datum::Bool(true),
                    ScalarType::Bool,
                )],
                distinct: false,
                order_by: Vec::new(),
            }],
            emit,
            peers,
            groups: FastMap::default(),
            changed: Vec::new(),
            closing: BTreeMap::new(),
            readers: vec![None; peers],
            watermark: None,
        }
    }

    fn row(key: i64, close_at: i64) -> (Keyed, Diff) {
        (
            (
                Row::new(vec![Datum::Int64(key)]),
                close_at,
                Row::new(vec![Datum::Bool(true)]),
            ),
            1,
        )
    }

    #[test]
    fn the_watermark_is_the_minimum_over_readers_not_idle() {
        let mut state = state(2, WindowEmit::OnUpdate);
        let mut out = Vec::new();
        state.apply_rows(1, vec![row(1, 100), row(2, 300)], &mut out);
        assert_eq!(out.len(), 2);
        // Only one reader reported: no watermark yet.
        state.apply_watermarks(2, vec![(0, 1, 500, false)], &mut out);
        assert_eq!(state.watermark, None);
        // Both: the minimum, which closes the window ending at 100.
        state.apply_watermarks(3, vec![(1, 1, 150, false)], &mut out);
        assert_eq!(state.watermark, Some(150));
        assert_eq!(state.groups.len(), 1);
        // The slow reader goes idle: it no longer holds the watermark back.
        state.apply_watermarks(4, vec![(1, 2, 150, true)], &mut out);
        assert_eq!(state.watermark, Some(500));
        assert!(state.groups.is_empty());
        // An older update (smaller sequence number) is ignored.
        state.apply_watermarks(5, vec![(1, 1, 150, false)], &mut out);
        assert_eq!(state.readers[1], Some((2, 150, true)));
        // All idle: the watermark stays.
        state.apply_watermarks(6, vec![(0, 2, 500, true)], &mut out);
        assert_eq!(state.watermark, Some(500));
        // A row for a window already closed is dropped, not counted into a new group.
        state.apply_rows(7, vec![row(3, 400)], &mut out);
        assert!(state.groups.is_empty());
    }

    #[test]
    fn emit_on_window_close_emits_each_final_row_once() {
        let mut state = state(1, WindowEmit::OnWindowClose);
        let mut out = Vec::new();
        state.apply_rows(1, vec![row(1, 100), row(1, 100), row(2, 300)], &mut out);
        assert!(out.is_empty(), "nothing before the window closes");
        state.apply_watermarks(2, vec![(0, 1, 100, false)], &mut out);
        let expected = Row::new(vec![Datum::Int64(1), Datum::Int64(2)]);
        assert_eq!(out, vec![(Ok(expected), 2, 1)]);
        out.clear();
        state.apply_watermarks(3, vec![(0, 2, WATERMARK_DONE, false)], &mut out);
        let expected = Row::new(vec![Datum::Int64(2), Datum::Int64(1)]);
        assert_eq!(out, vec![(Ok(expected), 3, 1)]);
        assert!(state.groups.is_empty() && state.closing.is_empty());
    }
}
