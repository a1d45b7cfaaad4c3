//! EXPLAIN: the plan of a query at one stage, as text.

use sqlparser::ast;

use crate::catalog::Catalog;
use crate::error::PlanError;
use crate::plans::PlanContext;

/// Which stage EXPLAIN shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExplainStage {
    /// The logical plan as planned, before optimization.
    Logical,
    /// The logical plan after the optimizer's rules (the default for EXPLAIN).
    Optimized,
    /// The dataflow plan that is rendered.
    Dataflow,
}

/// Plans `query` and prints it at `stage`, one operator per line, children indented.
pub fn explain_query(
    catalog: &dyn Catalog,
    query: &ast::Query,
    ctx: &PlanContext,
    stage: ExplainStage,
) -> Result<String, PlanError> {
    let _ = (catalog, query, ctx, stage);
    Err(PlanError::Unsupported {
        feature: "EXPLAIN".into(),
        hint: None,
    })
}
