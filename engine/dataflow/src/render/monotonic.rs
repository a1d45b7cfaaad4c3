//! Monotonic operators: aggregates and Top-N over append-only input.
//!
//! When the planner knows a `Reduce`, `TopK` or `Window` reads rows that are only ever
//! inserted (a streamed source through maps, filters, window TVFs, inner joins, unions:
//! see `laaster_sql::monotonic` and docs/design/monotonic.md), the operator keeps per
//! group only what can still change its result:
//!
//! - [`render_monotonic_reduce`]: one running accumulator per aggregate (a count, an
//!   exact sum, the current min or max, a value set for `count(DISTINCT)`), never the
//!   rows. With rows only added, a min can only go down and a max up, so the current one
//!   is all there is to remember; counts and sums need no history either. The same
//!   operator computes a max over a column that only grows per group
//!   ([`ReduceMonotonicity::MaxOfGrowing`]: each retraction comes with a larger value of
//!   the same group at the same time), skipping the retractions.
//! - [`render_monotonic_topk`] / [`render_monotonic_window`]: the rows currently ranked
//!   within the limit. A row ranked past it is dropped for good: ranks only grow as rows
//!   arrive, so it can never come back.
//!
//! All three are one timely operator holding a hash map by group key. Rows are routed
//! to workers by key; each worker processes logical times in order once its input
//! frontier has passed them, and for every group the rows of that time changed emits
//! the group's previous output retracted and its new output — so the output equals the
//! ordinary operator's at every timestamp. The ranking and the aggregate values are
//! computed by the same rules as the ordinary operators (`topk::rank_group`,
//! `topk::take_topk`; `reduce`'s sum, min, max): engine tests compare both at every time.
//!
//! Otherwise a retraction reaching one of these operators means the planner's promise was
//! broken: it is reported as an error of the view, never applied silently.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use differential_dataflow::{AsCollection, Hashable, VecCollection};
use laaster_repr::plan::{
    AggregateExpr, AggregateFunc, ReduceMonotonicity, SortKey, WindowFunc, compare_rows,
};
use laaster_repr::{Datum, Diff, EvalError, Interval, Row, ScalarType, Timestamp};
use rust_decimal::Decimal;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::ToStream;

use super::topk::{group_order, rank_group, take_topk};
use super::{FastMap, Rendered, split_results};

/// An output change: a row (or the error a group evaluates to), its time and diff.
type Output = (Result<Row, EvalError>, Timestamp, Diff);

/// Whether [`render_monotonic_reduce`] implements `aggregate` (the planner's
/// `laaster_sql::monotonic::supported` must agree; if it does not, the ordinary reduce
/// is rendered). Float sums are left to the ordinary reduce, which sums in value order.
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

fn retraction_error() -> EvalError {
    EvalError::Other(
        "internal error: a row was retracted from the append-only input of a monotonic operator"
            .into(),
    )
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
    /// A numeric sum: integer inputs add up exactly in `integer`, numeric ones in
    /// `decimal`.
    SumNumeric {
        integer: i128,
        decimal: Decimal,
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
                _ => Accumulator::SumNumeric {
                    integer: 0,
                    decimal: Decimal::ZERO,
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
            // BoolOr (string_agg and array_agg are never rendered here: see `supports`).
            _ => Accumulator::Bool {
                and: false,
                value: None,
            },
        }
    }

    /// Adds `copies` (positive) of `value`; NULLs are ignored, as every aggregate does.
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
            Accumulator::SumNumeric {
                integer,
                decimal,
                count,
                overflow,
            } => {
                match value {
                    Datum::Decimal(d) => match d
                        .checked_mul(Decimal::from(copies))
                        .and_then(|scaled| decimal.checked_add(scaled))
                    {
                        Some(sum) => *decimal = sum,
                        None => *overflow = true,
                    },
                    other => {
                        *integer += i128::from(other.as_i64().unwrap_or(0)) * i128::from(copies)
                    }
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
            | Accumulator::SumNumeric { count: 0, .. }
            | Accumulator::SumInterval { count: 0, .. } => Datum::Null,
            Accumulator::SumInt { total, .. } => i64::try_from(*total)
                .map(Datum::Int64)
                .map_err(|_| EvalError::OutOfRange("bigint".into()))?,
            Accumulator::SumNumeric { overflow: true, .. } => {
                return Err(EvalError::NumericFieldOverflow);
            }
            Accumulator::SumNumeric {
                integer, decimal, ..
            } => {
                let integer = Decimal::try_from_i128_with_scale(*integer, 0)
                    .map_err(|_| EvalError::NumericFieldOverflow)?;
                Datum::Decimal(
                    decimal
                        .checked_add(integer)
                        .ok_or(EvalError::NumericFieldOverflow)?,
                )
            }
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

/// A group's output row: its key, then each aggregate's value.
fn group_output(key: &Row, accumulators: &[Accumulator]) -> Result<Row, EvalError> {
    let mut datums = Vec::with_capacity(key.len() + accumulators.len());
    datums.extend(key.iter().cloned());
    for accumulator in accumulators {
        datums.push(accumulator.value()?);
    }
    Ok(Row::new(datums))
}

/// The monotonic reduce's state on one worker: the accumulators of every group.
struct ReduceState {
    aggregates: Vec<AggregateExpr>,
    /// [`ReduceMonotonicity::MaxOfGrowing`]: a retraction always comes with a larger
    /// value of the same group, so it is skipped. Otherwise it is an error.
    skip_retractions: bool,
    groups: FastMap<Row, Vec<Accumulator>>,
}

impl ReduceState {
    /// Applies the rows `(key, aggregate inputs)` of one time; emits each changed
    /// group's old row retracted and its new row. An empty input row with an empty key
    /// is the global aggregate's sentinel: it makes the group exist.
    fn apply(&mut self, time: Timestamp, rows: Vec<((Row, Row), Diff)>, out: &mut Vec<Output>) {
        // Each changed group's output before this time (`None`: the group is new).
        let mut before: FastMap<Row, Option<Result<Row, EvalError>>> = FastMap::default();
        for ((key, values), diff) in rows {
            if diff < 0 {
                if !self.skip_retractions {
                    out.push((Err(retraction_error()), time, 1));
                }
                continue;
            }
            let accumulators = match self.groups.get_mut(&key) {
                Some(accumulators) => {
                    if !before.contains_key(&key) {
                        before.insert(key.clone(), Some(group_output(&key, accumulators)));
                    }
                    accumulators
                }
                None => {
                    before.insert(key.clone(), None);
                    self.groups
                        .entry(key)
                        .or_insert_with(|| self.aggregates.iter().map(Accumulator::new).collect())
                }
            };
            for (accumulator, value) in accumulators.iter_mut().zip(values.iter()) {
                accumulator.add(value, diff);
            }
        }
        for (key, old) in before {
            let Some(accumulators) = self.groups.get(&key) else {
                continue;
            };
            let new = group_output(&key, accumulators);
            if old.as_ref() == Some(&new) {
                continue;
            }
            if let Some(old) = old {
                out.push((old, time, -1));
            }
            out.push((new, time, 1));
        }
    }
}

/// Renders a monotonic `Reduce { group_key, aggregates, global, monotonic }` (see the
/// module docs).
pub fn render_monotonic_reduce<'s>(
    input: Rendered<'s>,
    group_key: Vec<usize>,
    aggregates: Vec<AggregateExpr>,
    global: bool,
    monotonic: ReduceMonotonicity,
) -> Rendered<'s> {
    let scope = input.oks.scope();
    let arguments: Vec<_> = aggregates.iter().map(|a| a.args[0].clone()).collect();
    let keyed = input.oks.clone().map(move |row| {
        let mut values = Vec::with_capacity(arguments.len());
        for argument in &arguments {
            values.push(argument.eval(&row)?);
        }
        Ok::<_, EvalError>((row.project(&group_key), Row::new(values)))
    });
    let (mut keyed, key_errs) = split_keyed(keyed);
    if global {
        let sentinel = if scope.index() == 0 {
            vec![((Row::empty(), Row::empty()), 0, 1)]
        } else {
            Vec::new()
        };
        keyed = keyed.concat(sentinel.to_stream(scope).as_collection());
    }
    let mut state = ReduceState {
        aggregates,
        skip_retractions: monotonic == ReduceMonotonicity::MaxOfGrowing,
        groups: FastMap::default(),
    };
    let results = by_time(keyed, "MonotonicReduce", move |time, rows, out| {
        state.apply(time, rows, out);
    });
    let (oks, errs) = split_results(results);
    Rendered {
        oks,
        errs: input.errs.concat(key_errs).concat(errs),
    }
}

/// How a monotonic Top-N ranks a group.
#[derive(Clone)]
enum Ranking {
    /// `ORDER BY ... LIMIT ... OFFSET ...`: the rows themselves.
    TopK { limit: Option<u64>, offset: u64 },
    /// A ranking window function: the rows with their rank appended.
    Window {
        func: WindowFunc,
        limit: Option<u64>,
    },
}

/// The monotonic Top-N's state on one worker: per group, the rows that can still be
/// output, sorted by the order then by row, with their multiplicities.
struct TopState {
    order: Vec<SortKey>,
    ranking: Ranking,
    groups: FastMap<Row, Vec<(Row, Diff)>>,
}

impl TopState {
    /// The output of a group's kept rows, and per leading kept entry how many copies
    /// the output used (entries past those are not needed any more).
    fn output(&self, kept: &[(Row, Diff)]) -> (Vec<(Row, Diff)>, Vec<Diff>) {
        match &self.ranking {
            Ranking::TopK { limit, offset } => {
                let taken = take_topk(kept.iter().map(|(_, copies)| *copies), *limit, *offset);
                let rows = kept
                    .iter()
                    .zip(&taken)
                    .filter(|(_, (output, _))| *output > 0)
                    .map(|((row, _), (output, _))| (row.clone(), *output))
                    .collect();
                (rows, taken.into_iter().map(|(_, used)| used).collect())
            }
            Ranking::Window { func, limit } => {
                let refs: Vec<(&Row, Diff)> = kept.iter().map(|(row, c)| (row, *c)).collect();
                let mut rows = Vec::new();
                let mut used: Vec<Diff> = Vec::new();
                rank_group(&refs, &self.order, *func, *limit, |index, row, copies| {
                    if used.len() <= index {
                        used.resize(index + 1, 0);
                    }
                    used[index] += copies;
                    rows.push((row, copies));
                });
                (rows, used)
            }
        }
    }

    /// Whether `row` certainly cannot be output by a group keeping `kept`: it sorts after
    /// every kept row (and, for RANK and DENSE_RANK, is not tied with the last one), and
    /// the kept rows already fill the limit. Rows only add up, so it never can later.
    ///
    /// Kept rows are always a prefix of the whole group in sorted order (a row is only
    /// dropped once enough rows precede it, and those stay), so the kept rows' count is
    /// a lower bound of such a row's position.
    fn cannot_enter(&self, kept: &[(Row, Diff)], row: &Row) -> bool {
        let Some((last, _)) = kept.last() else {
            return false;
        };
        if group_order(row, last, &self.order) != Ordering::Greater {
            return false;
        }
        let copies = || -> i128 { kept.iter().map(|(_, c)| i128::from(*c)).sum() };
        let full = |limit: &Option<u64>, offset: u64| {
            limit.is_some_and(|l| copies() >= i128::from(l) + i128::from(offset))
        };
        match &self.ranking {
            Ranking::TopK { limit, offset } => full(limit, *offset),
            Ranking::Window { func, limit } => {
                let tied = || compare_rows(row, last, &self.order) == Ordering::Equal;
                match func {
                    WindowFunc::RowNumber => full(limit, 0),
                    WindowFunc::Rank => !tied() && full(limit, 0),
                    WindowFunc::DenseRank => {
                        let distinct = 1 + kept
                            .windows(2)
                            .filter(|pair| {
                                compare_rows(&pair[0].0, &pair[1].0, &self.order) != Ordering::Equal
                            })
                            .count();
                        !tied() && limit.is_some_and(|l| distinct as u64 >= l)
                    }
                }
            }
        }
    }

    /// Applies the rows of one time, grouped by key; emits each changed group's output
    /// difference.
    fn apply(&mut self, time: Timestamp, rows: Vec<((Row, Row), Diff)>, out: &mut Vec<Output>) {
        let mut changed: FastMap<Row, Vec<(Row, Diff)>> = FastMap::default();
        for ((key, row), diff) in rows {
            if diff < 0 {
                out.push((Err(retraction_error()), time, 1));
                continue;
            }
            if let Some(kept) = self.groups.get(&key)
                && self.cannot_enter(kept, &row)
            {
                continue;
            }
            changed.entry(key).or_default().push((row, diff));
        }
        for (key, arrivals) in changed {
            let mut kept = self.groups.remove(&key).unwrap_or_default();
            let (old, _) = self.output(&kept);
            for (row, copies) in arrivals {
                match kept.binary_search_by(|(probe, _)| group_order(probe, &row, &self.order)) {
                    Ok(found) => kept[found].1 += copies,
                    Err(position) => kept.insert(position, (row, copies)),
                }
            }
            let (new, used) = self.output(&kept);
            // Keep only what the output used: nothing past it can ever be output.
            kept.truncate(used.iter().take_while(|copies| **copies > 0).count());
            for (entry, copies) in kept.iter_mut().zip(&used) {
                entry.1 = *copies;
            }
            if !kept.is_empty() {
                self.groups.insert(key, kept);
            }
            emit_difference(old, new, time, out);
        }
    }
}

/// Emits `new - old` (both lists of rows with multiplicities), consolidated.
fn emit_difference(
    old: Vec<(Row, Diff)>,
    new: Vec<(Row, Diff)>,
    time: Timestamp,
    out: &mut Vec<Output>,
) {
    let mut changes: BTreeMap<Row, Diff> = BTreeMap::new();
    for (row, copies) in old {
        *changes.entry(row).or_default() -= copies;
    }
    for (row, copies) in new {
        *changes.entry(row).or_default() += copies;
    }
    out.extend(
        changes
            .into_iter()
            .filter(|(_, diff)| *diff != 0)
            .map(|(row, diff)| (Ok(row), time, diff)),
    );
}

fn render_top<'s>(
    input: Rendered<'s>,
    group_key: Vec<usize>,
    order: Vec<SortKey>,
    ranking: Ranking,
    name: &str,
) -> Rendered<'s> {
    let keyed = input.oks.map(move |row| (row.project(&group_key), row));
    let mut state = TopState {
        order,
        ranking,
        groups: FastMap::default(),
    };
    let results = by_time(keyed, name, move |time, rows, out| {
        state.apply(time, rows, out);
    });
    let (oks, errs) = split_results(results);
    Rendered {
        oks,
        errs: input.errs.concat(errs),
    }
}

/// Renders a monotonic `TopK { group_key, order, limit, offset }`.
pub fn render_monotonic_topk<'s>(
    input: Rendered<'s>,
    group_key: Vec<usize>,
    order: Vec<SortKey>,
    limit: Option<u64>,
    offset: u64,
) -> Rendered<'s> {
    let ranking = Ranking::TopK { limit, offset };
    render_top(input, group_key, order, ranking, "MonotonicTopK")
}

/// Renders a monotonic `Window { partition, order, func, limit }`: appends the rank.
pub fn render_monotonic_window<'s>(
    input: Rendered<'s>,
    partition: Vec<usize>,
    order: Vec<SortKey>,
    func: WindowFunc,
    limit: Option<u64>,
) -> Rendered<'s> {
    let ranking = Ranking::Window { func, limit };
    render_top(input, partition, order, ranking, "MonotonicWindow")
}

type Keyed<'s> = VecCollection<'s, Timestamp, (Row, Row), Diff>;
/// A `(key, value)` row with its multiplicity, as [`by_time`] buffers it.
type KeyedRow = ((Row, Row), Diff);

fn split_keyed<'s>(
    results: VecCollection<'s, Timestamp, Result<(Row, Row), EvalError>, Diff>,
) -> (Keyed<'s>, super::ErrCollection<'s>) {
    use timely::dataflow::operators::core::OkErr;
    let (oks, errs) = results.inner.ok_err(|(result, time, diff)| match result {
        Ok(pair) => Ok((pair, time, diff)),
        Err(error) => Err((error, time, diff)),
    });
    (oks.as_collection(), errs.as_collection())
}

/// Routes `(key, value)` rows to workers by key and calls `logic` with the rows of each
/// logical time, in time order, once the input frontier has passed that time; what
/// `logic` pushes is emitted at that time.
fn by_time<'s>(
    keyed: Keyed<'s>,
    name: &str,
    mut logic: impl FnMut(Timestamp, Vec<((Row, Row), Diff)>, &mut Vec<Output>) + 'static,
) -> VecCollection<'s, Timestamp, Result<Row, EvalError>, Diff> {
    let exchange = Exchange::new(|((key, _), _, _): &((Row, Row), Timestamp, Diff)| key.hashed());
    keyed
        .inner
        .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<Output>>, _, _, _>(
            exchange,
            name,
            move |_capability, _info| {
                let mut pending: BTreeMap<Timestamp, Vec<KeyedRow>> = BTreeMap::new();
                let mut held: Option<Capability<Timestamp>> = None;
                let mut out = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|capability, batch| {
                        if let Some(capability) = capability.retain_least(0)
                            && held.as_ref().is_none_or(|h| capability.time() < h.time())
                        {
                            held = Some(capability);
                        }
                        for (record, time, diff) in batch.drain(..) {
                            pending.entry(time).or_default().push((record, diff));
                        }
                    });
                    while let Some(entry) = pending.first_entry() {
                        let time = *entry.key();
                        if frontier.less_equal(&time) {
                            break;
                        }
                        logic(time, entry.remove(), &mut out);
                        if !out.is_empty()
                            && let Some(capability) = held.as_ref()
                        {
                            let capability = capability.delayed(&time);
                            output.session(&capability).give_iterator(out.drain(..));
                        }
                    }
                    match pending.keys().next() {
                        Some(time) => {
                            if let Some(capability) = held.as_mut() {
                                capability.downgrade(time);
                            }
                        }
                        None => held = None,
                    }
                }
            },
        )
        .as_collection()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(value: i64) -> Datum {
        Datum::Int64(value)
    }

    fn aggregate(func: AggregateFunc) -> AggregateExpr {
        AggregateExpr {
            func,
            args: vec![laaster_repr::ScalarExpr::column(1)],
            distinct: false,
            order_by: Vec::new(),
        }
    }

    #[test]
    fn min_max_ignore_nulls_and_report_changes_only() {
        let mut state = ReduceState {
            aggregates: vec![
                aggregate(AggregateFunc::Min),
                aggregate(AggregateFunc::Max),
                aggregate(AggregateFunc::Count),
            ],
            skip_retractions: false,
            groups: FastMap::default(),
        };
        let key = Row::new(vec![int(1)]);
        let values = |v: Datum| Row::new(vec![v.clone(), v.clone(), v]);
        let mut out = Vec::new();
        state.apply(1, vec![((key.clone(), values(Datum::Null)), 1)], &mut out);
        let row =
            |min: Datum, max: Datum, count: i64| Ok(Row::new(vec![int(1), min, max, int(count)]));
        assert_eq!(out, vec![(row(Datum::Null, Datum::Null, 0), 1, 1)]);
        out.clear();
        state.apply(
            2,
            vec![
                ((key.clone(), values(int(5))), 1),
                ((key.clone(), values(int(3))), 2),
            ],
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                (row(Datum::Null, Datum::Null, 0), 2, -1),
                (row(int(3), int(5), 3), 2, 1)
            ]
        );
        out.clear();
        // A retraction is an error, not applied.
        state.apply(3, vec![((key.clone(), values(int(3))), -1)], &mut out);
        assert_eq!(out, vec![(Err(retraction_error()), 3, 1)]);
    }

    #[test]
    fn top_n_keeps_only_the_ranked_rows_and_ties() {
        let order = vec![SortKey {
            column: 0,
            descending: true,
            nulls_last: false,
        }];
        let mut state = TopState {
            order,
            ranking: Ranking::Window {
                func: WindowFunc::Rank,
                limit: Some(2),
            },
            groups: FastMap::default(),
        };
        let key = Row::empty();
        let price = |p: i64, tag: i64| ((key.clone(), Row::new(vec![int(p), int(tag)])), 1);
        let mut out = Vec::new();
        state.apply(1, vec![price(10, 1), price(10, 2), price(5, 3)], &mut out);
        // Rank 1, 1 (tie), then rank 3 > 2: only the tie is output and kept.
        assert_eq!(out.len(), 2);
        assert_eq!(state.groups[&key].len(), 2);
        out.clear();
        state.apply(2, vec![price(20, 4)], &mut out);
        // 20 is rank 1; the two 10s become rank 2 (retracted at rank 1, output at 2).
        assert_eq!(out.len(), 5, "{out:?}");
        assert_eq!(state.groups[&key].len(), 3);
        out.clear();
        state.apply(3, vec![price(30, 5)], &mut out);
        // The 10s fall to rank 3 and are dropped for good.
        assert_eq!(state.groups[&key].len(), 2);
        state.apply(4, vec![price(1, 6)], &mut out);
        assert_eq!(state.groups[&key].len(), 2);
    }
}
