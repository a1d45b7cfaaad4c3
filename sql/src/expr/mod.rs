//! Scalar expression planning: names, types, function and operator resolution, casts.

use laaster_repr::{ColumnType, RelationDesc, ScalarExpr, ScalarType};
use sqlparser::ast;

use crate::catalog::Catalog;
use crate::error::PlanError;
use crate::plans::PlanContext;

/// Plans an expression over the columns of one relation named `relation_name` (used for
/// UPDATE ... SET / WHERE, DELETE ... WHERE and column DEFAULTs; an empty `desc` means
/// no columns are in scope). Subqueries are not allowed here.
pub fn plan_scalar_over(
    catalog: &dyn Catalog,
    expr: &ast::Expr,
    relation_name: &str,
    desc: &RelationDesc,
    ctx: &PlanContext,
) -> Result<(ScalarExpr, ColumnType), PlanError> {
    let _ = (catalog, expr, relation_name, desc, ctx);
    Err(PlanError::Unsupported {
        feature: "expressions".into(),
        hint: None,
    })
}

/// Converts `expr` of type `from` for storing into a column of type `to`, with
/// Postgres' assignment-cast rules (e.g. `varchar(3)` rejects longer text with
/// "value too long for type character varying(3)"; integer into smallint checks range).
pub fn plan_assignment_cast(
    expr: ScalarExpr,
    from: &ScalarType,
    to: &ScalarType,
) -> Result<ScalarExpr, PlanError> {
    let _ = (from, to);
    Ok(expr)
}

/// The Laaster type for a SQL type name (`INT`, `VARCHAR(10)`, `NUMERIC(10,2)`,
/// `TIMESTAMP`, `INT[]`, `ROW(a INT, b TEXT)`, ...).
pub fn scalar_type_from_ast(data_type: &ast::DataType) -> Result<ScalarType, PlanError> {
    Err(PlanError::Unsupported {
        feature: format!("type {data_type}"),
        hint: None,
    })
}
