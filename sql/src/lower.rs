//! Lowering: [`LogicalPlan`] → the dataflow [`Plan`]. Mechanical: each logical operator
//! maps to one dataflow operator; maps, filters and projections not already fused
//! become single-purpose `Mfp`s, and a join's condition becomes its keys and residual.

use laaster_repr::ScalarExpr;
use laaster_repr::plan::{MapFilterProject, Plan, ReduceMonotonicity};

use crate::error::PlanError;
use crate::logical::LogicalPlan;

/// Lowers an (optimized) logical plan.
pub fn lower(plan: &LogicalPlan) -> Result<Plan, PlanError> {
    if plan.is_correlated() {
        return Err(PlanError::Response(laaster_repr::ErrorResponse::new(
            "XX000",
            "internal error: a correlated reference survived decorrelation",
        )));
    }
    Ok(lower_node(plan))
}

fn mfp(input: &LogicalPlan, mfp: MapFilterProject) -> Plan {
    Plan::Mfp {
        input: Box::new(lower_node(input)),
        mfp,
    }
}

fn lower_node(plan: &LogicalPlan) -> Plan {
    match plan {
        LogicalPlan::Get { id, arity, .. } => Plan::Get {
            id: *id,
            arity: *arity,
        },
        LogicalPlan::Constant { rows, arity } => Plan::Constant {
            rows: rows.clone(),
            arity: *arity,
        },
        LogicalPlan::Map { input, exprs } => {
            let arity = input.arity();
            mfp(
                input,
                MapFilterProject::identity(arity)
                    .map(exprs.clone())
                    .project((0..arity + exprs.len()).collect()),
            )
        }
        LogicalPlan::Filter { input, predicates } => mfp(
            input,
            MapFilterProject::identity(input.arity()).filter(predicates.clone()),
        ),
        LogicalPlan::Project { input, columns } => mfp(
            input,
            MapFilterProject::identity(input.arity()).project(columns.clone()),
        ),
        LogicalPlan::Mfp { input, mfp: m } => mfp(input, m.clone()),
        LogicalPlan::Join {
            left,
            right,
            kind,
            equi,
            on,
        } => Plan::Join {
            left: Box::new(lower_node(left)),
            right: Box::new(lower_node(right)),
            left_key: equi.iter().map(|(l, _)| l.clone()).collect(),
            right_key: equi.iter().map(|(_, r)| r.clone()).collect(),
            residual: match on.as_slice() {
                [] => None,
                [single] => Some(single.clone()),
                many => Some(ScalarExpr::And(many.to_vec())),
            },
            kind: *kind,
        },
        LogicalPlan::Reduce {
            input,
            group_key,
            aggregates,
            global,
        } => Plan::Reduce {
            input: Box::new(lower_node(input)),
            group_key: group_key.clone(),
            aggregates: aggregates.clone(),
            global: *global,
            monotonic: ReduceMonotonicity::Ordinary,
        },
        LogicalPlan::TopK {
            input,
            group_key,
            order,
            limit,
            offset,
        } => Plan::TopK {
            input: Box::new(lower_node(input)),
            group_key: group_key.clone(),
            order: order.clone(),
            limit: *limit,
            offset: *offset,
            monotonic: false,
        },
        LogicalPlan::Window {
            input,
            partition,
            order,
            func,
            limit,
        } => Plan::Window {
            input: Box::new(lower_node(input)),
            partition: partition.clone(),
            order: order.clone(),
            func: *func,
            limit: *limit,
            monotonic: false,
        },
        LogicalPlan::Windows { input, time, kind } => Plan::Windows {
            input: Box::new(lower_node(input)),
            time: time.clone(),
            kind: *kind,
        },
        LogicalPlan::SessionWindows {
            input,
            partition,
            time,
            gap,
        } => Plan::SessionWindows {
            input: Box::new(lower_node(input)),
            partition: partition.clone(),
            time: time.clone(),
            gap: *gap,
        },
        LogicalPlan::Distinct { input } => Plan::Distinct {
            input: Box::new(lower_node(input)),
        },
        LogicalPlan::Threshold { input } => Plan::Threshold {
            input: Box::new(lower_node(input)),
        },
        LogicalPlan::Negate { input } => Plan::Negate {
            input: Box::new(lower_node(input)),
        },
        LogicalPlan::Union { inputs } => Plan::Union {
            inputs: inputs.iter().map(lower_node).collect(),
        },
    }
}
