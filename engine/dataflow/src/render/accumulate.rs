//! Accumulable aggregation: counts and exact sums ride the diff field.
//!
//! When every aggregate of a `Reduce` is a `count` or an exact `sum` (integers, numeric)
//! without DISTINCT, each input row becomes its group key with an [`Accumulators`] value
//! as its *difference*: the row count, per-aggregate non-null counts and sums. Differential
//! adds differences as they arrive, so a change to a group costs O(1) regardless of the
//! group's size, instead of re-reading the group as the generic reduce does. The current
//! accumulation per key is read off with `count_total`, and turned into the output row.

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use differential_dataflow::operators::CountTotal;
use differential_dataflow::{AsCollection, VecCollection};
use laaster_repr::plan::{AggregateExpr, AggregateFunc};
use laaster_repr::{
    Datum, Diff, EvalError, PackedRow, Row, RowPacker, ScalarExpr, ScalarType, Timestamp,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use smallvec::{SmallVec, smallvec};
use timely::dataflow::operators::vec::ToStream;

use super::{Imported, PackedCollection, Rendered, split_results};

/// The sums of one group. `ints[0]` counts the group's rows, `ints[1]` marks the
/// always-present group of a global aggregate; then per aggregate, see [`Slot`].
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Accumulators {
    ints: SmallVec<[i128; 4]>,
    decimals: SmallVec<[Decimal; 1]>,
    /// A numeric sum overflowed 96 bits; reading the group reports the error.
    overflow: bool,
}

impl IsZero for Accumulators {
    fn is_zero(&self) -> bool {
        !self.overflow
            && self.ints.iter().all(|i| *i == 0)
            && self.decimals.iter().all(Decimal::is_zero)
    }
}

impl Semigroup for Accumulators {
    fn plus_equals(&mut self, rhs: &Self) {
        if self.ints.len() < rhs.ints.len() {
            self.ints.resize(rhs.ints.len(), 0);
        }
        if self.decimals.len() < rhs.decimals.len() {
            self.decimals.resize(rhs.decimals.len(), Decimal::ZERO);
        }
        for (a, b) in self.ints.iter_mut().zip(&rhs.ints) {
            *a = a.wrapping_add(*b);
        }
        for (a, b) in self.decimals.iter_mut().zip(&rhs.decimals) {
            match a.checked_add(*b) {
                Some(sum) => *a = sum,
                None => self.overflow = true,
            }
        }
        self.overflow |= rhs.overflow;
    }
}

impl Monoid for Accumulators {
    fn zero() -> Self {
        Accumulators::default()
    }
}

impl Abelian for Accumulators {
    fn negate(&mut self) {
        for i in &mut self.ints {
            *i = i.wrapping_neg();
        }
        for d in &mut self.decimals {
            *d = -*d;
        }
    }
}

impl Multiply<Diff> for Accumulators {
    type Output = Accumulators;
    fn multiply(mut self, rhs: &Diff) -> Accumulators {
        let factor = i128::from(*rhs);
        for i in &mut self.ints {
            *i = i.wrapping_mul(factor);
        }
        let decimal_factor = Decimal::from(*rhs);
        for d in &mut self.decimals {
            match d.checked_mul(decimal_factor) {
                Some(product) => *d = product,
                None => self.overflow = true,
            }
        }
        self
    }
}

/// Where an aggregate keeps its sums.
#[derive(Clone, Copy)]
struct Slot {
    /// Index in `ints` of the count of non-null values.
    count: usize,
    /// For sums: index in `ints` of the integer part, and in `decimals` of the numeric part.
    sum: Option<(usize, usize)>,
}

/// Whether `Reduce` can take the accumulable path. Interval sums cannot: an interval is
/// three fields, not one number (the generic reduce sums them).
pub fn accumulable(aggregates: &[AggregateExpr]) -> bool {
    aggregates.iter().all(|a| {
        a.func.is_accumulable()
            && !a.distinct
            && a.args.len() == 1
            && !matches!(
                a.func,
                AggregateFunc::Sum {
                    output: ScalarType::Interval
                }
            )
    })
}

/// Whether every aggregate is `count` of an argument that is never NULL (`count(*)`):
/// then the group's row count is every aggregate's value and the plain diff suffices.
pub fn rows_only(aggregates: &[AggregateExpr]) -> bool {
    aggregates.iter().all(|a| {
        matches!(a.func, AggregateFunc::Count)
            && !a.distinct
            && matches!(a.args.as_slice(), [ScalarExpr::Literal(datum, _)] if !datum.is_null())
    })
}

/// `count(*)` per group: the group key with the row multiplicity as its diff, read off
/// by `count_total` — the same work a hand-written differential `count` does.
fn render_row_counts<'s>(
    input: Rendered<'s>,
    group_key: Vec<usize>,
    aggregates: usize,
    global: bool,
) -> Rendered<'s> {
    let keys = input
        .oks
        .map(move |row| PackedRow::pack(group_key.iter().map(|&c| &row[c])));
    unpack(Imported {
        rows: count_keys(keys, aggregates, global),
        errs: input.errs,
    })
}

/// [`render_row_counts`] of an imported table or view: the group keys are projected
/// from the packed rows without unpacking them, and the output rows are built packed
/// (the caller arranges them, or unpacks them with [`unpack`]).
pub fn render_packed_row_counts<'s>(
    input: Imported<'s>,
    group_key: Vec<usize>,
    aggregates: usize,
    global: bool,
) -> Imported<'s> {
    let keys = input.rows.map(move |row| row.project(&group_key));
    Imported {
        rows: count_keys(keys, aggregates, global),
        errs: input.errs,
    }
}

/// Packed rows as rows.
pub fn unpack(imported: Imported<'_>) -> Rendered<'_> {
    Rendered {
        oks: imported.rows.map(|row| row.unpack()),
        errs: imported.errs,
    }
}

/// Counts the rows per key; the output row is the key and the count once per aggregate,
/// packed.
fn count_keys<'s>(
    mut keys: PackedCollection<'s>,
    aggregates: usize,
    global: bool,
) -> PackedCollection<'s> {
    let scope = keys.scope();
    if global {
        // The global group always exists: one extra copy of the (empty) key on worker 0,
        // taken back out of the count below.
        let sentinel = if scope.index() == 0 {
            vec![(PackedRow::default(), 0, 1)]
        } else {
            Vec::new()
        };
        keys = keys.concat(sentinel.to_stream(scope).as_collection());
    }
    let correction = Diff::from(global);
    let mut packer = RowPacker::new();
    keys.count_total_core::<Diff>().map(move |(key, count)| {
        packer.push_row(&key);
        let count = Datum::Int64(count - correction);
        for _ in 0..aggregates {
            packer.push(&count);
        }
        packer.finish()
    })
}

/// Renders an accumulable `Reduce` (see the module docs).
pub fn render_accumulable<'s>(
    input: Rendered<'s>,
    group_key: Vec<usize>,
    aggregates: Vec<AggregateExpr>,
    global: bool,
) -> Rendered<'s> {
    if rows_only(&aggregates) {
        return render_row_counts(input, group_key, aggregates.len(), global);
    }
    let mut slots = Vec::with_capacity(aggregates.len());
    let (mut ints, mut decimals) = (2, 0);
    for aggregate in &aggregates {
        let count = ints;
        ints += 1;
        let sum = if matches!(aggregate.func, AggregateFunc::Sum { .. }) {
            let slot = (ints, decimals);
            ints += 1;
            decimals += 1;
            Some(slot)
        } else {
            None
        };
        slots.push(Slot { count, sum });
    }
    let arguments: Vec<_> = aggregates.iter().map(|a| a.args[0].clone()).collect();
    let input_slots = slots.clone();
    let accumulated = input.oks.clone().flat_map(move |row| {
        let mut accumulators = Accumulators {
            ints: smallvec![0; ints],
            decimals: smallvec![Decimal::ZERO; decimals],
            overflow: false,
        };
        accumulators.ints[0] = 1;
        for (argument, slot) in arguments.iter().zip(&input_slots) {
            let value = match argument.eval(&row) {
                Ok(value) => value,
                Err(error) => return Some(Err(error)),
            };
            if value.is_null() {
                continue;
            }
            accumulators.ints[slot.count] = 1;
            if let Some((int_slot, decimal_slot)) = slot.sum {
                match value {
                    Datum::Decimal(d) => accumulators.decimals[decimal_slot] = d,
                    other => accumulators.ints[int_slot] = i128::from(other.as_i64().unwrap_or(0)),
                }
            }
        }
        let key = PackedRow::pack(group_key.iter().map(|&c| &row[c]));
        Some(Ok((key, accumulators)))
    });
    let (keyed, key_errors) = split_keyed(accumulated);
    let mut exploded: VecCollection<'s, Timestamp, PackedRow, Accumulators> =
        keyed.explode(|(key, accumulators)| Some((key, accumulators)));
    if global {
        let scope = input.oks.scope();
        let mut marker = Accumulators {
            ints: smallvec![0; ints],
            decimals: smallvec![Decimal::ZERO; decimals],
            overflow: false,
        };
        marker.ints[1] = 1;
        let sentinel = if scope.index() == 0 {
            vec![(PackedRow::default(), 0, marker)]
        } else {
            Vec::new()
        };
        exploded = exploded.concat(sentinel.to_stream(scope).as_collection());
    }
    let results = exploded
        .count_total_core::<Diff>()
        .map(move |(key, accumulators)| finish(key, &accumulators, &aggregates, &slots));
    let (oks, errs) = split_results(results);
    Rendered {
        oks,
        errs: input.errs.concat(key_errors).concat(errs),
    }
}

type KeyedResults<'s> =
    VecCollection<'s, Timestamp, Result<(PackedRow, Accumulators), EvalError>, Diff>;

fn split_keyed<'s>(
    results: KeyedResults<'s>,
) -> (
    VecCollection<'s, Timestamp, (PackedRow, Accumulators), Diff>,
    super::ErrCollection<'s>,
) {
    use timely::dataflow::operators::core::OkErr;
    let (oks, errs) = results.inner.ok_err(|(result, time, diff)| match result {
        Ok(pair) => Ok((pair, time, diff)),
        Err(error) => Err((error, time, diff)),
    });
    (oks.as_collection(), errs.as_collection())
}

/// The output row of a group: its key, then each aggregate's value.
fn finish(
    key: PackedRow,
    accumulators: &Accumulators,
    aggregates: &[AggregateExpr],
    slots: &[Slot],
) -> Result<Row, EvalError> {
    if accumulators.overflow {
        return Err(EvalError::NumericFieldOverflow);
    }
    let int = |i: usize| accumulators.ints.get(i).copied().unwrap_or(0);
    let mut datums = Vec::with_capacity(key.arity() + aggregates.len());
    key.unpack_into(&mut datums);
    for (aggregate, slot) in aggregates.iter().zip(slots) {
        let non_null = int(slot.count);
        let value = match (&aggregate.func, slot.sum) {
            (AggregateFunc::Count, _) => Datum::Int64(
                i64::try_from(non_null).map_err(|_| EvalError::OutOfRange("bigint".into()))?,
            ),
            (AggregateFunc::Sum { .. }, _) if non_null == 0 => Datum::Null,
            (AggregateFunc::Sum { output }, Some((int_slot, decimal_slot))) => {
                let integer = int(int_slot);
                let decimal = accumulators
                    .decimals
                    .get(decimal_slot)
                    .copied()
                    .unwrap_or(Decimal::ZERO);
                match output {
                    ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 => Datum::Int64(
                        i64::try_from(integer)
                            .map_err(|_| EvalError::OutOfRange("bigint".into()))?,
                    ),
                    _ => {
                        let integer = Decimal::try_from_i128_with_scale(integer, 0)
                            .map_err(|_| EvalError::NumericFieldOverflow)?;
                        Datum::Decimal(
                            integer
                                .checked_add(decimal)
                                .ok_or(EvalError::NumericFieldOverflow)?,
                        )
                    }
                }
            }
            _ => {
                return Err(EvalError::Other(
                    "internal error: aggregate is not accumulable".into(),
                ));
            }
        };
        datums.push(value);
    }
    Ok(Row::new(datums))
}
