//! The optimizer: small rewrite rules over [`LogicalPlan`], one per file, run to a
//! fixpoint by [`optimize`].
//!
//! Every rule preserves the plan's output (same rows, same arity); the driver checks
//! the arity after each rule and reports the rule by name if one breaks it. Rules run
//! in two phases: first the relational rewrites (constant folding, predicate pushdown,
//! join-key extraction, window Top-N, identity removal) until nothing changes, then
//! fusion of map/filter/project chains into single `Mfp` nodes.

mod fold_constants;
mod fuse_mfp;
mod join_keys;
mod predicate_pushdown;
mod remove_identity;
mod window_topn;

use crate::error::PlanError;
use crate::logical::LogicalPlan;

pub use fold_constants::FoldConstants;
pub use fuse_mfp::FuseMfp;
pub use join_keys::JoinKeys;
pub use predicate_pushdown::PredicatePushdown;
pub use remove_identity::RemoveIdentity;
pub use window_topn::WindowTopN;

/// A semantics-preserving rewrite of a logical plan.
pub trait OptimizerRule {
    /// A short name for EXPLAIN and error messages.
    fn name(&self) -> &'static str;
    /// Rewrites the plan. Must not change the output arity or the rows produced.
    fn apply(&self, plan: LogicalPlan) -> Result<LogicalPlan, PlanError>;
}

/// The most rounds a phase may take before the driver stops iterating.
const MAX_ROUNDS: usize = 32;

/// The rule phases, in order.
fn phases() -> Vec<Vec<Box<dyn OptimizerRule>>> {
    vec![
        vec![
            Box::new(FoldConstants),
            Box::new(PredicatePushdown),
            Box::new(JoinKeys),
            Box::new(WindowTopN),
            Box::new(RemoveIdentity),
        ],
        vec![Box::new(FuseMfp), Box::new(RemoveIdentity)],
    ]
}

/// Runs every phase's rules until the plan stops changing.
pub fn optimize(mut plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    for rules in phases() {
        for _ in 0..MAX_ROUNDS {
            let mut changed = false;
            for rule in &rules {
                let arity = plan.arity();
                let next = rule.apply(plan.clone())?;
                if next.arity() != arity {
                    return Err(PlanError::Response(laaster_repr::ErrorResponse::new(
                        "XX000",
                        format!(
                            "internal error: optimizer rule {} changed the output arity from {arity} to {}",
                            rule.name(),
                            next.arity()
                        ),
                    )));
                }
                changed |= next != plan;
                plan = next;
            }
            if !changed {
                break;
            }
        }
    }
    Ok(plan)
}

/// Applies `f` to every node bottom-up (children first).
pub(crate) fn transform_up(
    plan: LogicalPlan,
    f: &impl Fn(LogicalPlan) -> Result<LogicalPlan, PlanError>,
) -> Result<LogicalPlan, PlanError> {
    let mut plan = plan;
    for child in plan.children_mut() {
        let taken = std::mem::replace(child, LogicalPlan::unit());
        *child = transform_up(taken, f)?;
    }
    f(plan)
}
