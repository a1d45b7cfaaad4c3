//! Query planning: `SELECT ...` (and VALUES, set operations, CTEs, subqueries) into a
//! [`QueryPlan`].

use sqlparser::ast;

use crate::catalog::Catalog;
use crate::error::PlanError;
use crate::plans::{PlanContext, QueryPlan};

/// Where a query's result goes, which decides what ORDER BY / LIMIT mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryContext {
    /// An ad hoc read: top-level ORDER BY / LIMIT / OFFSET become the finishing.
    AdHoc,
    /// A view, subscription or INSERT source: top-level ORDER BY with LIMIT/OFFSET becomes
    /// a TopK in the plan; ORDER BY alone is ignored; finishing is the identity.
    Maintained,
}

/// Plans a query against the catalog.
pub fn plan_query(
    catalog: &dyn Catalog,
    query: &ast::Query,
    ctx: &PlanContext,
    qctx: QueryContext,
) -> Result<QueryPlan, PlanError> {
    let _ = (catalog, query, ctx, qctx);
    Err(PlanError::Unsupported {
        feature: "queries".into(),
        hint: None,
    })
}
