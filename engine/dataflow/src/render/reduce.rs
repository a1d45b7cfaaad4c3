//! Grouped aggregation.
//!
//! Each input row is turned into `(group key, aggregate inputs)`, where the aggregate
//! inputs are the evaluated arguments (and ORDER BY values) of every aggregate side by
//! side. A differential `reduce` then recomputes a group's aggregates whenever the group
//! changes. Global aggregates (no GROUP BY) add one empty "sentinel" input so that the
//! single group exists even when the input is empty (`count(*)` of nothing is 0).

use std::collections::BTreeSet;

use differential_dataflow::AsCollection;
use laaster_repr::plan::{AggregateExpr, AggregateFunc, SortKey, compare_rows};
use laaster_repr::{Datum, Diff, EvalError, Row, ScalarType, Timestamp};
use rust_decimal::Decimal;
use timely::dataflow::operators::vec::ToStream;

use super::{Rendered, split_results};

/// Where one aggregate's arguments and ordering values sit in the aggregate-input row.
#[derive(Clone)]
struct Slot {
    args: std::ops::Range<usize>,
    order: std::ops::Range<usize>,
}

/// Renders `Reduce { group_key, aggregates, global }`.
pub fn render_reduce<'s>(
    input: Rendered<'s>,
    group_key: Vec<usize>,
    aggregates: Vec<AggregateExpr>,
    global: bool,
) -> Rendered<'s> {
    if super::accumulate::accumulable(&aggregates) {
        return super::accumulate::render_accumulable(input, group_key, aggregates, global);
    }
    let mut slots = Vec::with_capacity(aggregates.len());
    let mut width = 0;
    for aggregate in &aggregates {
        let args = width..width + aggregate.args.len();
        width = args.end;
        let order = width..width + aggregate.order_by.len();
        width = order.end;
        slots.push(Slot { args, order });
    }
    let arguments = aggregates.clone();
    let keyed = input.oks.clone().map(move |row| {
        let key = row.project(&group_key);
        let mut values = Vec::with_capacity(width);
        for aggregate in &arguments {
            for arg in &aggregate.args {
                values.push(arg.eval(&row)?);
            }
            for (expr, _) in &aggregate.order_by {
                values.push(expr.eval(&row)?);
            }
        }
        Ok((key, Row::new(values)))
    });
    let (keyed, key_errs) = split_pairs(keyed);
    let keyed = if global {
        let sentinel = if input.oks.scope().index() == 0 {
            vec![((Row::empty(), Row::empty()), 0, 1)]
        } else {
            Vec::new()
        };
        keyed.concat(sentinel.to_stream(input.oks.scope()).as_collection())
    } else {
        keyed
    };
    let results = keyed
        .reduce_named(
            "Aggregate",
            move |key: &Row, values: &[(&Row, Diff)], output| {
                let mut row = key.to_vec();
                for (aggregate, slot) in aggregates.iter().zip(&slots) {
                    match evaluate_aggregate(aggregate, slot, values) {
                        Ok(datum) => row.push(datum),
                        Err(error) => {
                            output.push((Err(error), 1));
                            return;
                        }
                    }
                }
                output.push((Ok(Row::new(row)), 1));
            },
        )
        .map(|(_key, result)| result);
    let (oks, errs) = split_results(results);
    Rendered {
        oks,
        errs: input.errs.concat(key_errs).concat(errs),
    }
}

type Pairs<'s> = differential_dataflow::VecCollection<'s, Timestamp, (Row, Row), Diff>;

fn split_pairs<'s>(
    results: differential_dataflow::VecCollection<
        's,
        Timestamp,
        Result<(Row, Row), EvalError>,
        Diff,
    >,
) -> (Pairs<'s>, super::ErrCollection<'s>) {
    use timely::dataflow::operators::core::OkErr;
    let (oks, errs) = results.inner.ok_err(|(result, time, diff)| match result {
        Ok(pair) => Ok((pair, time, diff)),
        Err(error) => Err((error, time, diff)),
    });
    (oks.as_collection(), errs.as_collection())
}

/// One input value of an aggregate with its multiplicity and ordering values.
struct Input<'a> {
    value: &'a Datum,
    second: Option<&'a Datum>,
    order: &'a [Datum],
    copies: Diff,
}

fn inputs<'a>(slot: &Slot, values: &'a [(&'a Row, Diff)]) -> Vec<Input<'a>> {
    values
        .iter()
        .filter(|(row, copies)| !row.is_empty() && *copies > 0)
        .map(|(row, copies)| Input {
            value: &row[slot.args.start],
            second: (slot.args.len() > 1).then(|| &row[slot.args.start + 1]),
            order: &row[slot.order.clone()],
            copies: *copies,
        })
        .collect()
}

fn evaluate_aggregate(
    aggregate: &AggregateExpr,
    slot: &Slot,
    values: &[(&Row, Diff)],
) -> Result<Datum, EvalError> {
    if slot.args.is_empty() {
        return Err(EvalError::Other("aggregate without arguments".into()));
    }
    let mut items = inputs(slot, values);
    if !matches!(aggregate.func, AggregateFunc::ArrayAgg) {
        items.retain(|i| !i.value.is_null());
    }
    if aggregate.distinct {
        let mut seen = BTreeSet::new();
        items.retain(|i| seen.insert(i.value));
        items.iter_mut().for_each(|i| i.copies = 1);
    }
    match &aggregate.func {
        AggregateFunc::Count => Ok(Datum::Int64(items.iter().map(|i| i.copies).sum())),
        AggregateFunc::Sum { output } => sum(&items, output),
        AggregateFunc::Min => Ok(items
            .iter()
            .map(|i| i.value)
            .min()
            .cloned()
            .unwrap_or(Datum::Null)),
        AggregateFunc::Max => Ok(items
            .iter()
            .map(|i| i.value)
            .max()
            .cloned()
            .unwrap_or(Datum::Null)),
        AggregateFunc::BoolAnd => Ok(bool_fold(&items, true)),
        AggregateFunc::BoolOr => Ok(bool_fold(&items, false)),
        AggregateFunc::StringAgg => {
            let ordered = ordered(items, &aggregate.order_by);
            if ordered.is_empty() {
                return Ok(Datum::Null);
            }
            let mut out = String::new();
            for (index, item) in ordered.iter().enumerate() {
                if index > 0
                    && let Some(Datum::Text(delimiter)) = item.second
                {
                    out.push_str(delimiter);
                }
                if let Datum::Text(value) = item.value {
                    out.push_str(value);
                }
            }
            Ok(Datum::Text(out.into()))
        }
        AggregateFunc::ArrayAgg => {
            let ordered = ordered(items, &aggregate.order_by);
            if ordered.is_empty() {
                return Ok(Datum::Null);
            }
            let elements: Vec<Datum> = ordered.iter().map(|i| i.value.clone()).collect();
            Ok(Datum::Array(elements.into()))
        }
    }
}

/// Expands copies and sorts by the aggregate's ORDER BY (then by value, so that results
/// without an ORDER BY are still deterministic).
fn ordered<'a>(
    items: Vec<Input<'a>>,
    order_by: &[(laaster_repr::ScalarExpr, SortKey)],
) -> Vec<Input<'a>> {
    let keys: Vec<SortKey> = order_by
        .iter()
        .enumerate()
        .map(|(i, (_, key))| SortKey { column: i, ..*key })
        .collect();
    let mut expanded = Vec::new();
    for item in items {
        for _ in 0..item.copies.min(1 << 20) {
            expanded.push(Input {
                value: item.value,
                second: item.second,
                order: item.order,
                copies: 1,
            });
        }
    }
    expanded
        .sort_by(|a, b| compare_rows(a.order, b.order, &keys).then_with(|| a.value.cmp(b.value)));
    expanded
}

fn bool_fold(items: &[Input<'_>], and: bool) -> Datum {
    if items.is_empty() {
        return Datum::Null;
    }
    let result = if and {
        items.iter().all(|i| i.value == &Datum::Bool(true))
    } else {
        items.iter().any(|i| i.value == &Datum::Bool(true))
    };
    Datum::Bool(result)
}

fn sum(items: &[Input<'_>], output: &ScalarType) -> Result<Datum, EvalError> {
    if items.is_empty() {
        return Ok(Datum::Null);
    }
    match output {
        ScalarType::Float32 | ScalarType::Float64 => {
            let mut total = 0f64;
            for item in items {
                let value = match item.value {
                    Datum::Float32(f) => f64::from(f.0),
                    Datum::Float64(f) => f.0,
                    other => other.as_i64().unwrap_or(0) as f64,
                };
                total += value * item.copies as f64;
            }
            Ok(if *output == ScalarType::Float32 {
                Datum::float32(total as f32)
            } else {
                Datum::float64(total)
            })
        }
        ScalarType::Int64 | ScalarType::Int32 | ScalarType::Int16 => {
            let mut total: i128 = 0;
            for item in items {
                let value = item.value.as_i64().unwrap_or(0);
                total += i128::from(value) * i128::from(item.copies);
            }
            i64::try_from(total)
                .map(Datum::Int64)
                .map_err(|_| EvalError::OutOfRange("bigint".into()))
        }
        ScalarType::Interval => {
            let mut months: i64 = 0;
            let mut days: i64 = 0;
            let mut micros: i128 = 0;
            for item in items {
                if let Datum::Interval(i) = item.value {
                    months += i64::from(i.months) * item.copies;
                    days += i64::from(i.days) * item.copies;
                    micros += i128::from(i.micros) * i128::from(item.copies);
                }
            }
            let overflow = || EvalError::OutOfRange("interval".into());
            Ok(Datum::Interval(laaster_repr::Interval::new(
                i32::try_from(months).map_err(|_| overflow())?,
                i32::try_from(days).map_err(|_| overflow())?,
                i64::try_from(micros).map_err(|_| overflow())?,
            )))
        }
        _ => {
            let mut total = Decimal::ZERO;
            for item in items {
                let value = match item.value {
                    Datum::Decimal(d) => *d,
                    other => Decimal::from(other.as_i64().unwrap_or(0)),
                };
                let scaled = value
                    .checked_mul(Decimal::from(item.copies))
                    .ok_or(EvalError::NumericFieldOverflow)?;
                total = total
                    .checked_add(scaled)
                    .ok_or(EvalError::NumericFieldOverflow)?;
            }
            Ok(Datum::Decimal(total))
        }
    }
}
