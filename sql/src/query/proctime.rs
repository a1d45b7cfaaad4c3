//! Where `PROCTIME()` may appear in a maintained query (a materialized view, a
//! subscription, an `INSERT INTO sink SELECT`).
//!
//! `PROCTIME()` is the wall-clock time at which an operator processes a row. Over an
//! append-only input (source tables, and maps, filters, inner joins and unions of them)
//! every row is processed once, so it is stamped once and never re-evaluated. Over an
//! input that can retract rows (a table, an aggregate, an outer join...), the retraction
//! would be stamped with a later time than the insertion and would not cancel it; such
//! queries are refused with a hint to stamp the time in the source instead
//! (`p AS PROCTIME()` in its DDL, evaluated once by the source reader).

use laaster_repr::{Func, ScalarExpr};

use crate::catalog::{Catalog, ItemKind};
use crate::error::PlanError;
use crate::logical::LogicalPlan;

/// Whether `expr` calls `PROCTIME()`.
pub(crate) fn calls_proctime(expr: &ScalarExpr) -> bool {
    let mut found = false;
    expr.visit(&mut |e| {
        found |= matches!(
            e,
            ScalarExpr::Call {
                func: Func::Proctime,
                ..
            }
        )
    });
    found
}

/// Refuses `PROCTIME()` evaluated over an input that is not append-only.
pub(crate) fn check_proctime(plan: &LogicalPlan, catalog: &dyn Catalog) -> Result<(), PlanError> {
    let mut here = false;
    plan.visit_node_exprs(&mut |e| here |= calls_proctime(e));
    if here {
        for child in plan.children() {
            if let Err(culprit) = append_only(child, catalog) {
                return Err(PlanError::Response(
                    laaster_repr::ErrorResponse::new(
                        "0A000",
                        "PROCTIME() in a maintained query needs an append-only input",
                    )
                    .with_detail(format!(
                        "{culprit} can retract rows; a retraction would be stamped with a later processing time than its insertion and would not cancel it."
                    ))
                    .with_hint(
                        "Apply PROCTIME() directly to source tables (or declare `p AS PROCTIME()` in the source's DDL), or read the data with an ad hoc SELECT.",
                    ),
                ));
            }
        }
    }
    plan.children()
        .into_iter()
        .try_for_each(|child| check_proctime(child, catalog))
}

/// `Ok` when `plan` only ever inserts rows; otherwise what can retract them.
fn append_only(plan: &LogicalPlan, catalog: &dyn Catalog) -> Result<(), String> {
    match plan {
        LogicalPlan::Get { id, name, .. } => match catalog.get_by_id(*id).map(|item| item.kind) {
            Some(ItemKind::Source) if !catalog.source_retracts(*id) => Ok(()),
            Some(ItemKind::Source) => Err(format!("source table \"{name}\" (a changelog)")),
            Some(kind) => Err(format!("{} \"{name}\"", kind.name())),
            None => Err(format!("relation \"{name}\"")),
        },
        LogicalPlan::Constant { .. } => Ok(()),
        LogicalPlan::Map { input, .. }
        | LogicalPlan::Filter { input, .. }
        | LogicalPlan::Project { input, .. }
        | LogicalPlan::Mfp { input, .. }
        | LogicalPlan::Windows { input, .. } => append_only(input, catalog),
        LogicalPlan::Join {
            left,
            right,
            kind: laaster_repr::plan::JoinKind::Inner,
            ..
        } => append_only(left, catalog).and_then(|()| append_only(right, catalog)),
        LogicalPlan::Union { inputs } => inputs.iter().try_for_each(|i| append_only(i, catalog)),
        LogicalPlan::Join { .. } => Err("an outer join".into()),
        LogicalPlan::Reduce { .. } => Err("an aggregate (GROUP BY)".into()),
        LogicalPlan::SessionWindows { .. } => Err("a SESSION window".into()),
        LogicalPlan::TopK { .. } | LogicalPlan::Window { .. } => Err("a Top-N".into()),
        LogicalPlan::Distinct { .. } => Err("DISTINCT".into()),
        LogicalPlan::Threshold { .. } | LogicalPlan::Negate { .. } => {
            Err("EXCEPT or INTERSECT".into())
        }
    }
}
