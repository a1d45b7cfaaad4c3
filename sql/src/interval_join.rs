//! Choosing the interval join: a pass over the lowered dataflow [`Plan`] that turns an
//! inner [`Plan::Join`] into a [`Plan::IntervalJoin`] (rows freed behind the watermark)
//! when that is safe, and leaves it an ordinary join (exact, all rows kept) otherwise.
//!
//! Safe means: both inputs are event-time inputs — append-only rows of a streamed source
//! with a WATERMARK through maps, filters, projections and window TVFs (`TUMBLE`, `HOP`,
//! `CUMULATE`), or the output of a [`Plan::WindowAggregate`] (whose rows change only
//! while their window is open) — and the join condition bounds the distance between an
//! event-time column of each side from both below and above:
//!
//! - an interval join, `l.ts BETWEEN r.ts - INTERVAL 'a' AND r.ts + INTERVAL 'b'` (any
//!   conjuncts `<`, `<=`, `>`, `>=`, `=` between a time column of each side, each
//!   shifted by a constant interval of days, hours, ... — not months);
//! - a window join, an equi-key pair `l.window_end = r.window_end` (or `window_start`,
//!   `window_time`) between window bounds of both sides.
//!
//! The keys and residual stay as they are; the bounds only tell the operator when a row
//! can no longer match. `EXPLAIN` shows `IntervalJoin` or `Join` accordingly.

use std::collections::BTreeMap;

use laaster_repr::plan::{EventTimeColumn, GlobalId, JoinKind, MapFilterProject, Plan, WindowKind};
use laaster_repr::{Datum, Func, ScalarExpr};

use crate::catalog::Catalog;
use crate::window_aggregate::map_children;

/// Rewrites every eligible inner join in `plan` (bottom-up) into an `IntervalJoin`.
/// Run after the window aggregates are chosen (a window aggregate's output is an
/// event-time input).
pub fn choose_interval_joins(plan: Plan, catalog: &dyn Catalog) -> Plan {
    let plan = map_children(plan, &|child| choose_interval_joins(child, catalog));
    match plan {
        Plan::Join {
            left,
            right,
            left_key,
            right_key,
            residual,
            kind: JoinKind::Inner,
        } => {
            let chosen = event_time_input(&left, catalog)
                .zip(event_time_input(&right, catalog))
                .and_then(|(l, r)| {
                    let (lc, rc, lower, upper) = time_bounds(
                        &l,
                        &r,
                        left.arity(),
                        &left_key,
                        &right_key,
                        residual.as_ref(),
                    )?;
                    Some((l.column(lc), r.column(rc), lower, upper))
                });
            match chosen {
                Some((left_time, right_time, lower, upper)) => Plan::IntervalJoin {
                    left,
                    right,
                    left_key,
                    right_key,
                    residual,
                    left_time,
                    right_time,
                    lower,
                    upper,
                },
                None => Plan::Join {
                    left,
                    right,
                    left_key,
                    right_key,
                    residual,
                    kind: JoinKind::Inner,
                },
            }
        }
        other => other,
    }
}

/// Rows whose event-time columns the watermark of `source` bounds.
#[derive(Debug)]
pub(crate) struct EventTimeInput {
    source: GlobalId,
    allowed_lateness: i64,
    /// Per output column that is a time: the distance to add so that every row still to
    /// come has `column + offset >= watermark - allowed_lateness`.
    pub(crate) bounds: BTreeMap<usize, i64>,
    /// Rows may be retracted while their window is open (a window aggregate's output).
    pub(crate) retractable: bool,
}

impl EventTimeInput {
    pub(crate) fn column(&self, column: usize) -> EventTimeColumn {
        EventTimeColumn {
            source: self.source,
            column,
            offset: self.bounds.get(&column).copied().unwrap_or(0),
            allowed_lateness: self.allowed_lateness,
            retractable: self.retractable,
        }
    }
}

/// Where each output column of `mfp` comes from in its input, when it is a copy.
fn copied_columns(mfp: &MapFilterProject) -> Vec<Option<usize>> {
    mfp.projection
        .iter()
        .map(|&column| {
            if column < mfp.input_arity {
                Some(column)
            } else {
                match mfp.expressions.get(column - mfp.input_arity) {
                    Some(ScalarExpr::Column(source)) if *source < mfp.input_arity => Some(*source),
                    _ => None,
                }
            }
        })
        .collect()
}

pub(crate) fn event_time_input(plan: &Plan, catalog: &dyn Catalog) -> Option<EventTimeInput> {
    let found = match plan {
        Plan::Get { id, .. } if !catalog.source_retracts(*id) => {
            catalog.event_time(*id).map(|time| EventTimeInput {
                source: *id,
                allowed_lateness: time.allowed_lateness,
                bounds: BTreeMap::from([(time.column, 0)]),
                retractable: false,
            })
        }
        Plan::Mfp { input, mfp } => {
            let inner = event_time_input(input, catalog)?;
            let bounds = copied_columns(mfp)
                .into_iter()
                .enumerate()
                .filter_map(|(output, source)| {
                    source
                        .and_then(|c| inner.bounds.get(&c))
                        .map(|offset| (output, *offset))
                })
                .collect();
            Some(EventTimeInput { bounds, ..inner })
        }
        Plan::Windows {
            input,
            time: ScalarExpr::Column(column),
            kind,
        } => {
            let inner = event_time_input(input, catalog)?;
            if inner.retractable {
                return None;
            }
            let offset = *inner.bounds.get(column)?;
            let arity = input.arity();
            let largest = match *kind {
                WindowKind::Tumble { size, .. } | WindowKind::Hop { size, .. } => size,
                WindowKind::Cumulate { max, .. } => max,
            };
            // A row at `t` lies in windows with start + largest >= end > t, and
            // window_time = end - 1 ms.
            let mut bounds = inner.bounds.clone();
            bounds.insert(arity, largest.checked_add(offset)?);
            bounds.insert(arity + 1, offset);
            bounds.insert(arity + 2, offset.checked_add(1000)?);
            Some(EventTimeInput { bounds, ..inner })
        }
        Plan::WindowAggregate {
            input,
            group_key,
            source,
            allowed_lateness,
            ..
        } => {
            let inner = event_time_input(input, catalog)?;
            if inner.source != *source {
                return None;
            }
            // A group's rows change only until its window closes, at the watermark
            // `end + allowed_lateness`; the key's window bounds say where that end is.
            // With EMIT ON WINDOW CLOSE a group's one row comes at the logical time of
            // the watermark update that closes it, which consumers apply after the rows
            // of that time: for them it still arrives before that watermark.
            let bounds = group_key
                .iter()
                .enumerate()
                .filter_map(|(output, c)| inner.bounds.get(c).map(|offset| (output, *offset)))
                .collect();
            Some(EventTimeInput {
                source: *source,
                allowed_lateness: *allowed_lateness,
                bounds,
                retractable: true,
            })
        }
        _ => None,
    }?;
    (!found.bounds.is_empty()).then_some(found)
}

/// The pair of time columns (left, right) whose difference `left - right` the join
/// condition bounds on both sides, and the bounds: the narrowest such pair.
fn time_bounds(
    left: &EventTimeInput,
    right: &EventTimeInput,
    left_arity: usize,
    left_key: &[ScalarExpr],
    right_key: &[ScalarExpr],
    residual: Option<&ScalarExpr>,
) -> Option<(usize, usize, i64, i64)> {
    let mut ranges: BTreeMap<(usize, usize), (i64, i64)> = BTreeMap::new();
    let mut narrow = |l: usize, r: usize, lower: i64, upper: i64| {
        if left.bounds.contains_key(&l) && right.bounds.contains_key(&r) {
            let range = ranges.entry((l, r)).or_insert((i64::MIN, i64::MAX));
            range.0 = range.0.max(lower);
            range.1 = range.1.min(upper);
        }
    };
    for (l, r) in left_key.iter().zip(right_key) {
        if let (ScalarExpr::Column(l), ScalarExpr::Column(r)) = (l, r) {
            narrow(*l, *r, 0, 0);
        }
    }
    let mut conjuncts = Vec::new();
    if let Some(residual) = residual {
        flatten_and(residual, &mut conjuncts);
    }
    for conjunct in conjuncts {
        if let Some((l, r, lower, upper)) = time_comparison(conjunct, left_arity) {
            narrow(l, r, lower, upper);
        }
    }
    ranges
        .into_iter()
        .filter(|(_, (lower, upper))| *lower != i64::MIN && *upper != i64::MAX && lower <= upper)
        // The narrowest interval; among equals the columns nearest their window's end.
        .min_by_key(|((l, r), (lower, upper))| {
            let offsets = left.bounds[l].saturating_add(right.bounds[r]);
            (upper.saturating_sub(*lower), offsets)
        })
        .map(|((l, r), (lower, upper))| (l, r, lower, upper))
}

fn flatten_and<'a>(expr: &'a ScalarExpr, out: &mut Vec<&'a ScalarExpr>) {
    match expr {
        ScalarExpr::And(parts) => parts.iter().for_each(|p| flatten_and(p, out)),
        other => out.push(other),
    }
}

/// A comparison between a left and a right time column, each shifted by a constant
/// interval: `(left column, right column (of the right row), lower, upper)` bounding
/// `left - right`.
fn time_comparison(expr: &ScalarExpr, left_arity: usize) -> Option<(usize, usize, i64, i64)> {
    let ScalarExpr::Call { func, args } = expr else {
        return None;
    };
    let [a, b] = args.as_slice() else {
        return None;
    };
    let (ca, sa) = shifted_column(a)?;
    let (cb, sb) = shifted_column(b)?;
    // `ca + sa OP cb + sb`, written as `left - right OP k`.
    let (l, r, func, k) = if ca < left_arity && cb >= left_arity {
        (ca, cb - left_arity, func.clone(), sb.checked_sub(sa)?)
    } else if cb < left_arity && ca >= left_arity {
        let flipped = match func {
            Func::Lt => Func::Gt,
            Func::Lte => Func::Gte,
            Func::Gt => Func::Lt,
            Func::Gte => Func::Lte,
            other => other.clone(),
        };
        (cb, ca - left_arity, flipped, sa.checked_sub(sb)?)
    } else {
        return None;
    };
    let (lower, upper) = match func {
        Func::Eq => (k, k),
        Func::Gte => (k, i64::MAX),
        Func::Gt => (k.checked_add(1)?, i64::MAX),
        Func::Lte => (i64::MIN, k),
        Func::Lt => (i64::MIN, k.checked_sub(1)?),
        _ => return None,
    };
    Some((l, r, lower, upper))
}

/// `column`, `column + interval` or `column - interval` (intervals without months, in
/// microseconds).
fn shifted_column(expr: &ScalarExpr) -> Option<(usize, i64)> {
    match expr {
        ScalarExpr::Column(c) => Some((*c, 0)),
        ScalarExpr::Call {
            func: func @ (Func::Add | Func::Sub),
            args,
        } => {
            let [a, b] = args.as_slice() else {
                return None;
            };
            match (a, b, func) {
                (inner, ScalarExpr::Literal(datum, _), Func::Add)
                | (ScalarExpr::Literal(datum, _), inner, Func::Add) => {
                    let (c, s) = shifted_column(inner)?;
                    Some((c, s.checked_add(interval_micros(datum)?)?))
                }
                (inner, ScalarExpr::Literal(datum, _), Func::Sub) => {
                    let (c, s) = shifted_column(inner)?;
                    Some((c, s.checked_sub(interval_micros(datum)?)?))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn interval_micros(datum: &Datum) -> Option<i64> {
    let Datum::Interval(interval) = datum else {
        return None;
    };
    if interval.months != 0 {
        return None;
    }
    i64::from(interval.days)
        .checked_mul(86_400_000_000)?
        .checked_add(interval.micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use laaster_repr::{Interval, ScalarType};

    fn interval(seconds: i64) -> ScalarExpr {
        ScalarExpr::Literal(
            Datum::Interval(Interval::new(0, 0, seconds * 1_000_000)),
            ScalarType::Interval,
        )
    }

    #[test]
    fn between_bounds_the_difference_of_the_times() {
        // left has 3 columns; l.#1 BETWEEN r.#2 - 10 s AND r.#2 (r.#2 is #5 of the pair).
        let low = ScalarExpr::call2(
            Func::Gte,
            ScalarExpr::Column(1),
            ScalarExpr::call2(Func::Sub, ScalarExpr::Column(5), interval(10)),
        );
        let high = ScalarExpr::call2(Func::Lte, ScalarExpr::Column(1), ScalarExpr::Column(5));
        assert_eq!(
            time_comparison(&low, 3),
            Some((1, 2, -10_000_000, i64::MAX))
        );
        assert_eq!(time_comparison(&high, 3), Some((1, 2, i64::MIN, 0)));
        // Written the other way round: r.#2 + 5 s > l.#1, so l - r < 5 s.
        let flipped = ScalarExpr::call2(
            Func::Gt,
            ScalarExpr::call2(Func::Add, ScalarExpr::Column(5), interval(5)),
            ScalarExpr::Column(1),
        );
        assert_eq!(
            time_comparison(&flipped, 3),
            Some((1, 2, i64::MIN, 4_999_999))
        );
        // Two columns of one side bound nothing.
        let same = ScalarExpr::call2(Func::Lte, ScalarExpr::Column(1), ScalarExpr::Column(2));
        assert_eq!(time_comparison(&same, 3), None);
        // Months have no fixed length.
        let months = ScalarExpr::call2(
            Func::Lte,
            ScalarExpr::Column(1),
            ScalarExpr::call2(
                Func::Add,
                ScalarExpr::Column(5),
                ScalarExpr::Literal(
                    Datum::Interval(Interval::new(1, 0, 0)),
                    ScalarType::Interval,
                ),
            ),
        );
        assert_eq!(time_comparison(&months, 3), None);
    }
}
