//! Ranking window functions: `ROW_NUMBER()`, `RANK()`, `DENSE_RANK()` `OVER (PARTITION
//! BY ... ORDER BY ...)`, each a `Window` node that appends its value as a column.

use laaster_repr::plan::{SortKey, WindowFunc};
use laaster_repr::{ColumnType, ScalarExpr, ScalarType};
use sqlparser::ast;

use super::Planner;
use super::order::sort_direction;
use crate::error::PlanError;
use crate::expr::coerce::resolve_unknown;
use crate::expr::scope::Scope;
use crate::expr::{ExprCx, Substitution, function_args, function_name_of, unsupported};
use crate::logical::LogicalPlan;

impl Planner<'_> {
    /// Adds one `Window` node per window call and a substitution for each.
    pub(super) fn plan_windows(
        &self,
        plan: &mut LogicalPlan,
        scope: &Scope,
        outer: &[&Scope],
        substitutions: &mut Vec<Substitution>,
        ungrouped: Option<&Scope>,
        windows: &[ast::Expr],
    ) -> Result<(), PlanError> {
        for call in windows {
            let ast::Expr::Function(function) = call else {
                continue;
            };
            let name = function_name_of(function);
            let func = match name.as_str() {
                "row_number" => WindowFunc::RowNumber,
                "rank" => WindowFunc::Rank,
                "dense_rank" => WindowFunc::DenseRank,
                _ => {
                    return Err(unsupported(
                        format!("window function {name}()"),
                        Some(
                            "Only row_number(), rank() and dense_rank() are supported as window functions; use GROUP BY and a join for aggregates over partitions.",
                        ),
                    ));
                }
            };
            if !function_args(function)?.is_empty() {
                return Err(PlanError::UnknownFunction {
                    name,
                    arg_types: vec![ScalarType::Unknown],
                    suggestion: None,
                });
            }
            let spec = match &function.over {
                Some(ast::WindowType::WindowSpec(spec)) if spec.window_name.is_none() => spec,
                _ => {
                    return Err(unsupported(
                        "named windows",
                        Some("Write the window inline in OVER (...)."),
                    ));
                }
            };
            let mut exprs = Vec::new();
            let base = plan.arity();
            let mut column_of = |expr: ScalarExpr| match expr {
                ScalarExpr::Column(c) => c,
                other => {
                    exprs.push(other);
                    base + exprs.len() - 1
                }
            };
            let mut partition = Vec::new();
            let mut order = Vec::new();
            {
                let mut cx = ExprCx {
                    scope,
                    outer,
                    relation: None,
                    clause: "window definitions",
                    substitutions,
                    ungrouped,
                };
                for expr in &spec.partition_by {
                    let value = resolve_unknown(self.plan_expr(&mut cx, expr)?);
                    partition.push(column_of(value.expr));
                }
                for item in &spec.order_by {
                    let value = resolve_unknown(self.plan_expr(&mut cx, &item.expr)?);
                    let (descending, nulls_last) = sort_direction(&item.options)?;
                    order.push(SortKey {
                        column: column_of(value.expr),
                        descending,
                        nulls_last,
                    });
                }
            }
            let input = std::mem::replace(plan, LogicalPlan::unit()).map(exprs);
            let column = input.arity();
            *plan = LogicalPlan::Window {
                input: Box::new(input),
                partition,
                order,
                func,
                limit: None,
            };
            substitutions.push(Substitution {
                ast: call.clone(),
                column,
                typ: ColumnType::new(ScalarType::Int64, false),
            });
        }
        Ok(())
    }
}
