//! Removes operators that do nothing: identity projections, empty maps and filters,
//! identity `Mfp`s, single-input unions and repeated `Distinct`.

use super::{OptimizerRule, transform_up};
use crate::error::PlanError;
use crate::logical::LogicalPlan;

pub struct RemoveIdentity;

impl OptimizerRule for RemoveIdentity {
    fn name(&self) -> &'static str {
        "remove_identity"
    }

    fn apply(&self, plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
        transform_up(plan, &|node| {
            Ok(match node {
                LogicalPlan::Project { input, columns }
                    if columns.len() == input.arity()
                        && columns.iter().enumerate().all(|(i, &c)| i == c) =>
                {
                    *input
                }
                LogicalPlan::Project { input, columns } => match *input {
                    // Project over Project composes.
                    LogicalPlan::Project {
                        input: inner,
                        columns: inner_columns,
                    } => LogicalPlan::Project {
                        input: inner,
                        columns: columns.iter().map(|&c| inner_columns[c]).collect(),
                    },
                    other => LogicalPlan::Project {
                        input: Box::new(other),
                        columns,
                    },
                },
                LogicalPlan::Map { input, exprs } if exprs.is_empty() => *input,
                LogicalPlan::Filter { input, predicates } if predicates.is_empty() => *input,
                LogicalPlan::Mfp { input, mfp } if mfp.is_identity() => *input,
                LogicalPlan::Union { mut inputs } if inputs.len() == 1 => inputs.remove(0),
                LogicalPlan::Distinct { input }
                    if matches!(*input, LogicalPlan::Distinct { .. }) =>
                {
                    *input
                }
                other => other,
            })
        })
    }
}
