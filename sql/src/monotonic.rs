//! Choosing monotonic operators: a pass over the lowered dataflow [`Plan`] that marks a
//! `Reduce`, `TopK` or `Window` (with a limit) `monotonic` when its input is append-only,
//! so the rendered operator keeps per group only what can still change the result (one
//! accumulator per aggregate; the current top rows) instead of every input row.
//!
//! Append-only (rows are only ever inserted) is derived bottom-up:
//!
//! - a `Get` of an item the catalog says is append-only ([`Catalog::append_only`]: a
//!   streamed source table whose connector only inserts); a `Constant` without negative
//!   multiplicities;
//! - maps, filters, projections (`Mfp`) and window TVFs (`Windows`) of append-only
//!   input: each input row becomes rows once, and never comes back to be taken away;
//! - unions and inner joins of append-only inputs (a join of insertions only gains
//!   matches); `Distinct` and `Threshold` of one (a row's count only grows);
//! - nothing else: aggregates, Top-N, session windows, outer joins (a NULL-padded row is
//!   retracted when its match arrives) and `Negate` can retract what they emitted, and a
//!   table or view can change arbitrarily.
//!
//! It also derives columns that only grow per key (counts and maxima of an aggregate over
//! append-only input): a `max` of such a column, grouped by part of its key, needs only the
//! largest value ever seen ([`ReduceMonotonicity::MaxOfGrowing`], Nexmark q5's max per
//! window over counts per auction and window).
//!
//! See docs/design/monotonic.md. `EXPLAIN DATAFLOW PLAN FOR` shows `MonotonicReduce`
//! (with `input=growing` for the latter), `MonotonicTopK` and `MonotonicWindow`.

use std::collections::BTreeSet;

use laaster_repr::ScalarExpr;
use laaster_repr::plan::{
    AggregateExpr, AggregateFunc, JoinKind, MapFilterProject, Plan, ReduceMonotonicity,
};

use crate::catalog::Catalog;
use crate::window_aggregate::children_mut;

/// Marks every eligible `Reduce`, `TopK` and `Window` of `plan` monotonic. Setting the
/// environment variable `LAASTER_MONOTONIC=off` disables the pass (every operator stays
/// ordinary): benchmarks use it to measure both paths with one binary.
pub fn choose_monotonic_operators(mut plan: Plan, catalog: &dyn Catalog) -> Plan {
    if enabled() {
        mark(&mut plan, catalog);
    }
    plan
}

fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        !std::env::var("LAASTER_MONOTONIC").is_ok_and(|value| value.eq_ignore_ascii_case("off"))
    })
}

/// What the pass knows about how a plan's output changes.
#[derive(Default)]
struct Changes {
    /// Rows are only ever inserted.
    append_only: bool,
    /// `(key, column)` pairs: whenever a row is retracted, a row with the same values in
    /// the `key` columns and a `column` value at least as large is inserted at the same
    /// time (a count or max per key of an append-only input). A max of `column` grouped
    /// by part of `key` is then the max over every row ever inserted.
    growing: Vec<(BTreeSet<usize>, usize)>,
}

impl Changes {
    fn append_only(append_only: bool) -> Changes {
        Changes {
            append_only,
            growing: Vec::new(),
        }
    }
}

/// Marks the operators of `plan` (children first); returns how its output changes.
fn mark(plan: &mut Plan, catalog: &dyn Catalog) -> Changes {
    let inputs: Vec<Changes> = children_mut(plan)
        .into_iter()
        .map(|child| mark(child, catalog))
        .collect();
    let inputs_append_only = inputs.iter().all(|c| c.append_only);
    match plan {
        Plan::Get { id, .. } => Changes::append_only(catalog.append_only(*id)),
        Plan::Constant { rows, .. } => Changes::append_only(rows.iter().all(|(_, diff)| *diff > 0)),
        Plan::Mfp { mfp, .. } => {
            let input = inputs.into_iter().next().unwrap_or_default();
            Changes {
                append_only: input.append_only,
                growing: growing_through(mfp, input.growing),
            }
        }
        Plan::Windows { .. }
        | Plan::Union { .. }
        | Plan::Distinct { .. }
        | Plan::Threshold { .. }
        | Plan::Join {
            kind: JoinKind::Inner,
            ..
        } => Changes::append_only(inputs_append_only),
        Plan::Reduce {
            group_key,
            aggregates,
            monotonic,
            ..
        } => {
            let input = inputs.into_iter().next().unwrap_or_default();
            *monotonic = if input.append_only && aggregates.iter().all(supported) {
                ReduceMonotonicity::AppendOnly
            } else if max_of_growing(group_key, aggregates, &input.growing) {
                ReduceMonotonicity::MaxOfGrowing
            } else {
                ReduceMonotonicity::Ordinary
            };
            Changes {
                append_only: false,
                growing: if input.append_only {
                    growing_aggregates(group_key.len(), aggregates)
                } else {
                    Vec::new()
                },
            }
        }
        Plan::WindowAggregate {
            group_key,
            aggregates,
            ..
        } if inputs_append_only => Changes {
            append_only: false,
            growing: growing_aggregates(group_key.len(), aggregates),
        },
        Plan::TopK {
            limit, monotonic, ..
        }
        | Plan::Window {
            limit, monotonic, ..
        } => {
            // Without a limit every row is output: nothing to drop.
            *monotonic = inputs_append_only && limit.is_some();
            Changes::default()
        }
        _ => Changes::default(),
    }
}

/// The output columns of an aggregate over append-only input that only grow per group
/// key (the first `keys` columns): counts and maxima. A changed group's old row is
/// retracted at the time its new row is inserted.
fn growing_aggregates(keys: usize, aggregates: &[AggregateExpr]) -> Vec<(BTreeSet<usize>, usize)> {
    aggregates
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a.func, AggregateFunc::Count | AggregateFunc::Max))
        .map(|(index, _)| ((0..keys).collect(), keys + index))
        .collect()
}

/// The growing columns of an `Mfp`'s output: the column and enough of its key must be
/// copied through, and every predicate may read only key columns (a filter on the value
/// could drop the larger row and keep the retraction).
fn growing_through(
    mfp: &MapFilterProject,
    growing: Vec<(BTreeSet<usize>, usize)>,
) -> Vec<(BTreeSet<usize>, usize)> {
    let sources: Vec<Option<usize>> = mfp
        .projection
        .iter()
        .map(|&column| {
            if column < mfp.input_arity {
                return Some(column);
            }
            match mfp.expressions.get(column - mfp.input_arity) {
                Some(ScalarExpr::Column(source)) if *source < mfp.input_arity => Some(*source),
                _ => None,
            }
        })
        .collect();
    let output_of = |input: usize| sources.iter().position(|s| *s == Some(input));
    growing
        .into_iter()
        .filter(|(key, _)| {
            mfp.predicates
                .iter()
                .all(|p| p.columns().iter().all(|c| key.contains(c)))
        })
        .filter_map(|(key, column)| {
            let column = output_of(column)?;
            let key = key.iter().filter_map(|&k| output_of(k)).collect();
            Some((key, column))
        })
        .collect()
}

/// Whether every aggregate is a `max` of a growing column whose key holds the group key.
fn max_of_growing(
    group_key: &[usize],
    aggregates: &[AggregateExpr],
    growing: &[(BTreeSet<usize>, usize)],
) -> bool {
    !aggregates.is_empty()
        && aggregates.iter().all(|aggregate| {
            aggregate.func == AggregateFunc::Max
                && aggregate.order_by.is_empty()
                && matches!(aggregate.args.as_slice(), [ScalarExpr::Column(column)]
                if growing.iter().any(|(key, grows)| {
                    grows == column && group_key.iter().all(|k| key.contains(k))
                }))
        })
}

/// The aggregates the monotonic reduce keeps as running accumulators (the dataflow's
/// `render::monotonic::supports` must agree). Float sums stay on the ordinary reduce,
/// which sums in value order (an incremental sum could differ in the last bits);
/// `string_agg` and `array_agg` need every value.
pub fn supported(aggregate: &AggregateExpr) -> bool {
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

#[cfg(test)]
mod tests {
    use laaster_repr::plan::{MapFilterProject, SortKey, WindowFunc};
    use laaster_repr::{Datum, Row, ScalarExpr};

    use super::*;
    use crate::catalog::CatalogItem;

    /// Item 1 is append-only (a streamed source); item 2 is not (a table).
    struct Sources;

    impl Catalog for Sources {
        fn get(&self, _name: &str) -> Option<&CatalogItem> {
            None
        }
        fn get_by_id(&self, _id: u64) -> Option<&CatalogItem> {
            None
        }
        fn items(&self) -> Vec<&CatalogItem> {
            Vec::new()
        }
        fn append_only(&self, id: u64) -> bool {
            id == 1
        }
    }

    fn count_max() -> Vec<AggregateExpr> {
        [AggregateFunc::Count, AggregateFunc::Max]
            .into_iter()
            .map(|func| AggregateExpr {
                func,
                args: vec![ScalarExpr::column(1)],
                distinct: false,
                order_by: Vec::new(),
            })
            .collect()
    }

    fn reduce(input: Plan, aggregates: Vec<AggregateExpr>) -> Plan {
        Plan::Reduce {
            input: Box::new(input),
            group_key: vec![0],
            aggregates,
            global: false,
            monotonic: ReduceMonotonicity::Ordinary,
        }
    }

    fn get(id: u64) -> Plan {
        Plan::Get { id, arity: 2 }
    }

    fn is_monotonic(plan: &Plan) -> bool {
        matches!(
            plan,
            Plan::Reduce {
                monotonic: ReduceMonotonicity::AppendOnly,
                ..
            } | Plan::TopK {
                monotonic: true,
                ..
            } | Plan::Window {
                monotonic: true,
                ..
            }
        )
    }

    #[test]
    fn a_reduce_over_a_filtered_source_is_monotonic() {
        let filtered = Plan::Mfp {
            input: Box::new(get(1)),
            mfp: MapFilterProject::identity(2).filter([ScalarExpr::column(1)]),
        };
        let plan = choose_monotonic_operators(reduce(filtered, count_max()), &Sources);
        assert!(is_monotonic(&plan), "{plan:?}");
    }

    #[test]
    fn tables_outer_joins_and_aggregates_are_not_append_only() {
        let over_table = choose_monotonic_operators(reduce(get(2), count_max()), &Sources);
        assert!(!is_monotonic(&over_table));
        let outer = Plan::Join {
            left: Box::new(get(1)),
            right: Box::new(get(1)),
            left_key: vec![ScalarExpr::column(0)],
            right_key: vec![ScalarExpr::column(0)],
            residual: None,
            kind: JoinKind::LeftOuter,
        };
        let plan = choose_monotonic_operators(
            Plan::Mfp {
                input: Box::new(reduce(outer, count_max())),
                mfp: MapFilterProject::identity(2).project(vec![0, 1]),
            },
            &Sources,
        );
        let Plan::Mfp { input, .. } = &plan else {
            panic!("{plan:?}")
        };
        assert!(!is_monotonic(input));
        // A max over a (non-monotonic) aggregate of a source: the inner reduce is
        // monotonic, the outer one is not.
        let nested =
            choose_monotonic_operators(reduce(reduce(get(1), count_max()), count_max()), &Sources);
        let Plan::Reduce { input, .. } = &nested else {
            panic!("{nested:?}")
        };
        assert!(!is_monotonic(&nested) && is_monotonic(input));
        // A union with a table is not append-only.
        let union = Plan::Union {
            inputs: vec![get(1), get(2)],
        };
        assert!(!is_monotonic(&choose_monotonic_operators(
            reduce(union, count_max()),
            &Sources
        )));
    }

    /// Nexmark q5's `max(num)` per window over counts per (auction, window), the
    /// auction projected away: the counts only grow, so the max skips retractions.
    #[test]
    fn a_max_over_counts_of_a_source_skips_retractions() {
        let counts = reduce(
            get(1),
            vec![AggregateExpr {
                func: AggregateFunc::Count,
                args: vec![ScalarExpr::literal_true()],
                distinct: false,
                order_by: Vec::new(),
            }],
        );
        // (key, count) -> (count, key): the key is copied, nothing filtered.
        let swapped = Plan::Mfp {
            input: Box::new(counts),
            mfp: MapFilterProject::identity(2).project(vec![1, 0]),
        };
        let max_per = |group_key: Vec<usize>, input: Plan| Plan::Reduce {
            input: Box::new(input),
            group_key,
            aggregates: vec![AggregateExpr {
                func: AggregateFunc::Max,
                args: vec![ScalarExpr::column(0)],
                distinct: false,
                order_by: Vec::new(),
            }],
            global: false,
            monotonic: ReduceMonotonicity::Ordinary,
        };
        let monotonicity = |plan: &Plan| match plan {
            Plan::Reduce { monotonic, .. } => *monotonic,
            _ => panic!("{plan:?}"),
        };
        let plan = choose_monotonic_operators(max_per(vec![1], swapped.clone()), &Sources);
        assert_eq!(monotonicity(&plan), ReduceMonotonicity::MaxOfGrowing);
        // Grouped by the count itself (not part of the key): ordinary.
        let plan = choose_monotonic_operators(max_per(vec![0], swapped.clone()), &Sources);
        assert_eq!(monotonicity(&plan), ReduceMonotonicity::Ordinary);
        // A filter on the count could drop the larger row: ordinary.
        let filtered = Plan::Mfp {
            input: Box::new(swapped),
            mfp: MapFilterProject::identity(2).filter([ScalarExpr::column(0)]),
        };
        let plan = choose_monotonic_operators(max_per(vec![1], filtered), &Sources);
        assert_eq!(monotonicity(&plan), ReduceMonotonicity::Ordinary);
        // Counts of a table do not only grow.
        let over_table = Plan::Mfp {
            input: Box::new(reduce(get(2), count_max())),
            mfp: MapFilterProject::identity(3).project(vec![1, 0]),
        };
        let plan = choose_monotonic_operators(max_per(vec![1], over_table), &Sources);
        assert_eq!(monotonicity(&plan), ReduceMonotonicity::Ordinary);
    }

    #[test]
    fn top_n_needs_a_limit_and_reduce_supported_aggregates() {
        let window = |limit| Plan::Window {
            input: Box::new(get(1)),
            partition: vec![0],
            order: vec![SortKey::asc(1)],
            func: WindowFunc::Rank,
            limit,
            monotonic: false,
        };
        assert!(is_monotonic(&choose_monotonic_operators(
            window(Some(3)),
            &Sources
        )));
        assert!(!is_monotonic(&choose_monotonic_operators(
            window(None),
            &Sources
        )));
        let string_agg = vec![AggregateExpr {
            func: AggregateFunc::StringAgg,
            args: vec![ScalarExpr::column(1), ScalarExpr::column(1)],
            distinct: false,
            order_by: Vec::new(),
        }];
        assert!(!is_monotonic(&choose_monotonic_operators(
            reduce(get(1), string_agg),
            &Sources
        )));
        // A constant with a retraction is not append-only.
        let constant = Plan::Constant {
            rows: vec![(Row::new(vec![Datum::Int64(1), Datum::Int64(2)]), -1)],
            arity: 2,
        };
        assert!(!is_monotonic(&choose_monotonic_operators(
            reduce(constant, count_max()),
            &Sources
        )));
    }
}
