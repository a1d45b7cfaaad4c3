//! Predicate pushdown: moves filter predicates as close to the inputs as they can go —
//! through projections and maps, into the inputs of joins (the sides whose rows they
//! constrain), below grouping when they only read group keys, and into every input of
//! a union. Predicates over both sides of an inner join become the join's condition,
//! where `JoinKeys` turns equalities into join keys (so `FROM a, b WHERE a.x = b.y` is
//! an equi-join, not a cross join).

use laaster_repr::ScalarExpr;
use laaster_repr::plan::JoinKind;

use super::OptimizerRule;
use crate::error::PlanError;
use crate::logical::{LogicalPlan, local_columns, remapped};

pub struct PredicatePushdown;

impl OptimizerRule for PredicatePushdown {
    fn name(&self) -> &'static str {
        "predicate_pushdown"
    }

    fn apply(&self, plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
        Ok(push_down(plan, Vec::new()))
    }
}

/// Splits predicates by whether `test` holds for all the columns they read.
fn partition(
    predicates: Vec<ScalarExpr>,
    test: impl Fn(usize) -> bool,
) -> (Vec<ScalarExpr>, Vec<ScalarExpr>) {
    predicates
        .into_iter()
        .partition(|p| local_columns(p).into_iter().all(&test))
}

/// Whether a predicate can raise an error or reads nothing (kept where it is written
/// only if it is an error; constants move freely).
fn shift_down(predicates: Vec<ScalarExpr>, by: usize) -> Vec<ScalarExpr> {
    predicates
        .into_iter()
        .map(|p| remapped(p, &|c| c - by))
        .collect()
}

/// Pushes `predicates` (over the output of `plan`) into `plan`.
fn push_down(plan: LogicalPlan, mut predicates: Vec<ScalarExpr>) -> LogicalPlan {
    match plan {
        LogicalPlan::Filter {
            input,
            predicates: own,
        } => {
            for p in own {
                if !predicates.contains(&p) {
                    predicates.push(p);
                }
            }
            push_down(*input, predicates)
        }
        LogicalPlan::Project { input, columns } => {
            let below = predicates
                .into_iter()
                .map(|p| remapped(p, &|c| columns[c]))
                .collect();
            LogicalPlan::Project {
                input: Box::new(push_down(*input, below)),
                columns,
            }
        }
        LogicalPlan::Map { input, exprs } => {
            let arity = input.arity();
            let (below, above) = partition(predicates, |c| c < arity);
            LogicalPlan::Map {
                input: Box::new(push_down(*input, below)),
                exprs,
            }
            .filter(above)
        }
        LogicalPlan::Join {
            left,
            right,
            kind,
            equi,
            on,
        } => push_into_join(*left, *right, kind, equi, on, predicates),
        LogicalPlan::Reduce {
            input,
            group_key,
            aggregates,
            global,
        } => {
            let keys = group_key.len();
            let (below, above) = if global {
                (Vec::new(), predicates)
            } else {
                partition(predicates, |c| c < keys)
            };
            let below = below
                .into_iter()
                .map(|p| remapped(p, &|c| group_key[c]))
                .collect();
            LogicalPlan::Reduce {
                input: Box::new(push_down(*input, below)),
                group_key,
                aggregates,
                global,
            }
            .filter(above)
        }
        LogicalPlan::TopK {
            input,
            group_key,
            order,
            limit,
            offset,
        } => {
            let (below, above) = partition(predicates, |c| group_key.contains(&c));
            LogicalPlan::TopK {
                input: Box::new(push_down(*input, below)),
                group_key,
                order,
                limit,
                offset,
            }
            .filter(above)
        }
        LogicalPlan::Window {
            input,
            partition: keys,
            order,
            func,
            limit,
        } => {
            let (below, above) = partition(predicates, |c| keys.contains(&c));
            LogicalPlan::Window {
                input: Box::new(push_down(*input, below)),
                partition: keys,
                order,
                func,
                limit,
            }
            .filter(above)
        }
        LogicalPlan::Windows { input, time, kind } => {
            // Window rows copy their input row: predicates over it commute with windowing.
            let arity = input.arity();
            let (below, above) = partition(predicates, |c| c < arity);
            LogicalPlan::Windows {
                input: Box::new(push_down(*input, below)),
                time,
                kind,
            }
            .filter(above)
        }
        LogicalPlan::SessionWindows {
            input,
            partition: keys,
            time,
            gap,
        } => {
            // Only predicates on the partition key keep or drop whole partitions; any
            // other filter below would change which rows form a session.
            let (below, above) = partition(predicates, |c| keys.contains(&c));
            LogicalPlan::SessionWindows {
                input: Box::new(push_down(*input, below)),
                partition: keys,
                time,
                gap,
            }
            .filter(above)
        }
        LogicalPlan::Distinct { input } => push_down(*input, predicates).distinct(),
        LogicalPlan::Threshold { input } => push_down(*input, predicates).threshold(),
        LogicalPlan::Negate { input } => push_down(*input, predicates).negate(),
        LogicalPlan::Union { inputs } => LogicalPlan::Union {
            inputs: inputs
                .into_iter()
                .map(|i| push_down(i, predicates.clone()))
                .collect(),
        },
        LogicalPlan::Mfp { input, mfp } => LogicalPlan::Mfp {
            input: Box::new(push_down(*input, Vec::new())),
            mfp,
        }
        .filter(predicates),
        leaf @ (LogicalPlan::Get { .. } | LogicalPlan::Constant { .. }) => leaf.filter(predicates),
    }
}

fn push_into_join(
    left: LogicalPlan,
    right: LogicalPlan,
    kind: JoinKind,
    equi: Vec<(ScalarExpr, ScalarExpr)>,
    on: Vec<ScalarExpr>,
    predicates: Vec<ScalarExpr>,
) -> LogicalPlan {
    let nl = left.arity();
    let is_left = |c: usize| c < nl;
    let is_right = |c: usize| c >= nl;
    let (mut to_left, mut to_right, mut above, mut new_on) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    match kind {
        JoinKind::Inner => {
            for p in predicates.into_iter().chain(on) {
                let columns = local_columns(&p);
                if columns.iter().all(|&c| is_left(c)) {
                    to_left.push(p);
                } else if columns.iter().all(|&c| is_right(c)) {
                    to_right.push(p);
                } else {
                    new_on.push(p);
                }
            }
        }
        JoinKind::LeftOuter | JoinKind::RightOuter => {
            let preserved_left = kind == JoinKind::LeftOuter;
            for p in predicates {
                let columns = local_columns(&p);
                match (
                    preserved_left,
                    columns.iter().all(|&c| is_left(c)),
                    columns.iter().all(|&c| is_right(c)),
                ) {
                    (true, true, _) if !columns.is_empty() => to_left.push(p),
                    (false, _, true) if !columns.is_empty() => to_right.push(p),
                    _ => above.push(p),
                }
            }
            for p in on {
                let columns = local_columns(&p);
                match (
                    preserved_left,
                    columns.iter().all(|&c| is_left(c)),
                    columns.iter().all(|&c| is_right(c)),
                ) {
                    // A condition on the null-extended side only restricts which rows match.
                    (true, _, true) if !columns.is_empty() => to_right.push(p),
                    (false, true, _) if !columns.is_empty() => to_left.push(p),
                    _ => new_on.push(p),
                }
            }
        }
        JoinKind::FullOuter => {
            above = predicates;
            new_on = on;
        }
    }
    LogicalPlan::Join {
        left: Box::new(push_down(left, to_left)),
        right: Box::new(push_down(right, shift_down(to_right, nl))),
        kind,
        equi,
        on: new_on,
    }
    .filter(above)
}
