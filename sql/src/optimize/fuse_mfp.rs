//! Fuses chains of `Map`, `Filter`, `Project` (and existing `Mfp`) nodes into one
//! `Mfp`, so each row is mapped, filtered and projected by a single operator.

use laaster_repr::ScalarExpr;
use laaster_repr::plan::MapFilterProject;

use super::{OptimizerRule, transform_up};
use crate::error::PlanError;
use crate::logical::{LogicalPlan, remapped};

pub struct FuseMfp;

impl OptimizerRule for FuseMfp {
    fn name(&self) -> &'static str {
        "fuse_mfp"
    }

    fn apply(&self, plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
        transform_up(plan, &|node| {
            Ok(match node {
                LogicalPlan::Map { .. }
                | LogicalPlan::Filter { .. }
                | LogicalPlan::Project { .. } => {
                    let (input, mfp) = absorb(node);
                    LogicalPlan::Mfp {
                        input: Box::new(input),
                        mfp,
                    }
                }
                other => other,
            })
        })
    }
}

/// The node below the chain starting at `node`, and the chain as one `Mfp`.
fn absorb(node: LogicalPlan) -> (LogicalPlan, MapFilterProject) {
    match node {
        LogicalPlan::Map { input, exprs } => {
            let (input, mut mfp) = absorb(*input);
            let output = mfp.output_arity();
            let mut positions = Vec::new();
            for expr in exprs {
                let position = mfp.input_arity + mfp.expressions.len();
                let expr = remapped(expr, &|c| {
                    if c < output {
                        mfp.projection[c]
                    } else {
                        positions[c - output]
                    }
                });
                mfp.expressions.push(expr);
                positions.push(position);
            }
            mfp.projection.extend(positions);
            (input, mfp)
        }
        LogicalPlan::Filter { input, predicates } => {
            let (input, mut mfp) = absorb(*input);
            let projection = mfp.projection.clone();
            mfp.predicates.extend(
                predicates
                    .into_iter()
                    .map(|p| remapped(p, &|c| projection[c])),
            );
            (input, mfp)
        }
        LogicalPlan::Project { input, columns } => {
            let (input, mut mfp) = absorb(*input);
            mfp.projection = columns.iter().map(|&c| mfp.projection[c]).collect();
            (input, mfp)
        }
        LogicalPlan::Mfp { input, mfp: inner } => {
            let (input, outer) = absorb(*input);
            (input, compose(outer, inner))
        }
        other => {
            let arity = other.arity();
            (other, MapFilterProject::identity(arity))
        }
    }
}

/// `first` then `second` as one operator.
fn compose(first: MapFilterProject, second: MapFilterProject) -> MapFilterProject {
    let mut mfp = first;
    let output = mfp.output_arity();
    let base = mfp.input_arity + mfp.expressions.len();
    let projection = mfp.projection.clone();
    // Column c of `second`'s row: c < output reads `first`'s output; above, its own map.
    let translate = |c: usize| {
        if c < output {
            projection[c]
        } else {
            base + (c - output)
        }
    };
    for expr in &second.expressions {
        mfp.expressions.push(remapped(expr.clone(), &translate));
    }
    mfp.predicates.extend(
        second
            .predicates
            .iter()
            .map(|p| remapped(p.clone(), &translate)),
    );
    mfp.projection = second.projection.iter().map(|&c| translate(c)).collect();
    let _ = ScalarExpr::literal_true;
    mfp
}
