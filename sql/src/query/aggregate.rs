//! GROUP BY and aggregate functions: finding the calls, planning the `Reduce`, and the
//! Postgres result types (`sum(int)` → bigint, `avg(int)` → numeric, ...).

use std::ops::ControlFlow;

use laaster_repr::plan::{AggregateExpr, AggregateFunc, SortKey};
use laaster_repr::{ColumnType, Datum, Func, ScalarExpr, ScalarType};
use sqlparser::ast::{self, Visit, Visitor};

use super::Planner;
use super::order::sort_direction;
use super::select::GroupingParts;
use crate::error::PlanError;
use crate::expr::coerce::{Typed, cast_unchecked, coerce, require_bool, resolve_unknown};
use crate::expr::scope::{Scope, ScopeColumn};
use crate::expr::{AGGREGATES, ExprCx, Substitution, function_name_of, response, unsupported};
use crate::logical::LogicalPlan;

/// Aggregate and window function calls of one query level (not inside subqueries).
#[derive(Default)]
pub(super) struct Calls {
    pub aggregates: Vec<ast::Expr>,
    pub windows: Vec<ast::Expr>,
}

struct CallCollector {
    query_depth: usize,
    aggregate_depth: usize,
    calls: Calls,
    error: Option<PlanError>,
}

fn is_aggregate(expr: &ast::Expr) -> bool {
    matches!(expr, ast::Expr::Function(f)
        if f.over.is_none() && AGGREGATES.contains(&function_name_of(f).as_str()))
}

impl Visitor for CallCollector {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &ast::Query) -> ControlFlow<()> {
        self.query_depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &ast::Query) -> ControlFlow<()> {
        self.query_depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &ast::Expr) -> ControlFlow<()> {
        if self.query_depth > 0 {
            return ControlFlow::Continue(());
        }
        if let ast::Expr::Function(f) = expr
            && f.over.is_some()
        {
            if self.aggregate_depth > 0 {
                self.error = Some(response(
                    "42803",
                    "aggregate function calls cannot contain window function calls",
                ));
                return ControlFlow::Break(());
            }
            if !self.calls.windows.contains(expr) {
                self.calls.windows.push(expr.clone());
            }
        }
        if is_aggregate(expr) {
            if self.aggregate_depth > 0 {
                self.error = Some(response(
                    "42803",
                    "aggregate function calls cannot be nested",
                ));
                return ControlFlow::Break(());
            }
            self.aggregate_depth += 1;
            if !self.calls.aggregates.contains(expr) {
                self.calls.aggregates.push(expr.clone());
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &ast::Expr) -> ControlFlow<()> {
        if self.query_depth == 0 && is_aggregate(expr) {
            self.aggregate_depth -= 1;
        }
        ControlFlow::Continue(())
    }
}

/// Finds the aggregate and window calls in `roots`.
pub(super) fn collect_calls(roots: &[&ast::Expr]) -> Result<Calls, PlanError> {
    let mut collector = CallCollector {
        query_depth: 0,
        aggregate_depth: 0,
        calls: Calls::default(),
        error: None,
    };
    for root in roots {
        if root.visit(&mut collector).is_break() {
            break;
        }
    }
    match collector.error {
        Some(e) => Err(e),
        None => Ok(collector.calls),
    }
}

/// One SQL aggregate call as planned: reduce aggregates plus the expression over their
/// output columns (`avg` is `sum / count`).
struct PlannedAggregate {
    aggregates: Vec<AggregateExpr>,
    /// Over the aggregate outputs, numbered from 0 for this call's first aggregate.
    result: ScalarExpr,
    typ: ColumnType,
}

impl Planner<'_> {
    /// Plans GROUP BY and the aggregates: the relation becomes the `Reduce` output
    /// (group keys, then aggregates), and the calls become substitutions.
    pub(super) fn plan_grouping(
        &self,
        parts: &mut GroupingParts,
        group_by: &[ast::Expr],
        aggregates: &[ast::Expr],
    ) -> Result<(), PlanError> {
        let pre_scope = parts.scope.clone();
        let mut cx = ExprCx {
            scope: &pre_scope,
            outer: parts.outer,
            relation: None,
            clause: "GROUP BY",
            substitutions: &[],
            ungrouped: None,
        };
        let input_arity = parts.plan.arity();
        let mut map = Vec::new();
        let mut key_columns = Vec::new();
        let mut post_columns = Vec::new();
        let mut substitutions = Vec::new();
        for expr in group_by {
            let value = resolve_unknown(self.plan_expr(&mut cx, expr)?);
            let column = match value.expr {
                ScalarExpr::Column(c) if c < input_arity => {
                    post_columns.push(pre_scope.columns[c].clone());
                    c
                }
                other => {
                    post_columns.push(ScopeColumn::anonymous(value.typ.clone()));
                    map.push(other);
                    input_arity + map.len() - 1
                }
            };
            substitutions.push(Substitution {
                ast: expr.clone(),
                column: key_columns.len(),
                typ: value.typ,
            });
            key_columns.push(column);
        }
        cx.clause = "aggregate function calls";
        let mut reduce_aggregates = Vec::new();
        let mut results = Vec::new();
        for call in aggregates {
            let ast::Expr::Function(function) = call else {
                continue;
            };
            let planned = self.plan_aggregate(&mut cx, function)?;
            let offset = key_columns.len() + reduce_aggregates.len();
            let mut result = planned.result;
            crate::logical::remap(&mut result, &|c| c + offset);
            reduce_aggregates.extend(planned.aggregates);
            results.push((call.clone(), result, planned.typ));
        }
        let input = std::mem::replace(parts.plan, LogicalPlan::unit()).map(map);
        let keys = key_columns.len();
        let mut plan = LogicalPlan::Reduce {
            input: Box::new(input),
            group_key: key_columns,
            aggregates: reduce_aggregates.clone(),
            global: group_by.is_empty(),
        };
        for aggregate in &reduce_aggregates {
            let typ = ColumnType::new(ScalarType::Unknown, true);
            let _ = aggregate;
            post_columns.push(ScopeColumn::anonymous(typ));
        }
        // Composite results (avg) are computed by a map after the reduce.
        let mut extra = Vec::new();
        let width = keys + reduce_aggregates.len();
        for (call, result, typ) in results {
            let column = match result {
                ScalarExpr::Column(c) => c,
                expr => {
                    extra.push(expr);
                    post_columns.push(ScopeColumn::anonymous(typ.clone()));
                    width + extra.len() - 1
                }
            };
            post_columns[column].typ = typ.clone();
            substitutions.push(Substitution {
                ast: call,
                column,
                typ,
            });
        }
        plan = plan.map(extra);
        *parts.plan = plan;
        *parts.scope = Scope::new(post_columns);
        *parts.substitutions = substitutions;
        *parts.ungrouped = Some(pre_scope);
        Ok(())
    }

    fn plan_aggregate(
        &self,
        cx: &mut ExprCx,
        function: &ast::Function,
    ) -> Result<PlannedAggregate, PlanError> {
        let name = function_name_of(function);
        let (distinct, order_clause, star, arg_exprs) = aggregate_arguments(function, &name)?;
        let mut args = arg_exprs
            .iter()
            .map(|a| self.plan_expr(cx, a).map(resolve_unknown))
            .collect::<Result<Vec<_>, _>>()?;
        let filter = match &function.filter {
            Some(f) => Some(require_bool(self.plan_expr(cx, f)?, "FILTER")?.expr),
            None => None,
        };
        let mut order_by = Vec::new();
        for (i, item) in order_clause.iter().enumerate() {
            let value = resolve_unknown(self.plan_expr(cx, &item.expr)?);
            let (descending, nulls_last) = sort_direction(&item.options)?;
            order_by.push((
                value.expr,
                SortKey {
                    column: i,
                    descending,
                    nulls_last,
                },
            ));
        }
        let arg_types: Vec<ScalarType> = args.iter().map(|a| a.scalar().clone()).collect();
        let no_function = || PlanError::UnknownFunction {
            name: name.clone(),
            arg_types: arg_types.clone(),
            suggestion: None,
        };
        if star && name != "count" {
            return Err(response(
                "42809",
                format!("{name}(*) must be used with arguments"),
            ));
        }
        if star {
            args = vec![Typed::bool_literal(true)];
        }
        let single = |args: &[Typed]| -> Result<Typed, PlanError> {
            match args {
                [a] => Ok(a.clone()),
                _ => Err(no_function()),
            }
        };
        let with_filter = |expr: ScalarExpr, typ: &ScalarType| match &filter {
            None => expr,
            Some(cond) => ScalarExpr::If {
                cond: Box::new(cond.clone()),
                then: Box::new(expr),
                els: Box::new(ScalarExpr::null(typ.clone())),
            },
        };
        let make = |func: AggregateFunc, args: Vec<ScalarExpr>| AggregateExpr {
            func,
            args,
            distinct,
            order_by: order_by.clone(),
        };
        let nullable = |t: ScalarType| ColumnType::nullable(t);
        Ok(match name.as_str() {
            "count" => {
                let arg = single(&args)?;
                let typ = arg.scalar().clone();
                PlannedAggregate {
                    aggregates: vec![make(
                        AggregateFunc::Count,
                        vec![with_filter(arg.expr, &typ)],
                    )],
                    result: ScalarExpr::column(0),
                    typ: ColumnType::new(ScalarType::Int64, false),
                }
            }
            "sum" => {
                let arg = single(&args)?;
                let output = sum_type(arg.scalar()).ok_or_else(no_function)?;
                let arg = cast_unchecked(arg, &output);
                PlannedAggregate {
                    aggregates: vec![make(
                        AggregateFunc::Sum {
                            output: output.clone(),
                        },
                        vec![with_filter(arg.expr, &output)],
                    )],
                    result: ScalarExpr::column(0),
                    typ: nullable(output),
                }
            }
            "avg" => {
                let arg = single(&args)?;
                let output = match arg.scalar() {
                    t if t.is_float() => ScalarType::Float64,
                    t if t.is_numeric() => ScalarType::NUMERIC,
                    _ => return Err(no_function()),
                };
                let value = with_filter(cast_unchecked(arg, &output).expr, &output);
                let sum = make(
                    AggregateFunc::Sum {
                        output: output.clone(),
                    },
                    vec![value.clone()],
                );
                let count = make(AggregateFunc::Count, vec![value]);
                let result = ScalarExpr::call2(
                    Func::Div,
                    ScalarExpr::column(0),
                    ScalarExpr::call1(Func::Cast(output.clone()), ScalarExpr::column(1)),
                );
                PlannedAggregate {
                    aggregates: vec![sum, count],
                    result,
                    typ: nullable(output),
                }
            }
            "min" | "max" => {
                let arg = single(&args)?;
                let typ = arg.scalar().clone();
                let func = if name == "min" {
                    AggregateFunc::Min
                } else {
                    AggregateFunc::Max
                };
                PlannedAggregate {
                    aggregates: vec![make(func, vec![with_filter(arg.expr, &typ)])],
                    result: ScalarExpr::column(0),
                    typ: nullable(typ),
                }
            }
            "bool_and" | "bool_or" | "every" => {
                let arg = coerce(single(&args)?, &ScalarType::Bool).map_err(|()| no_function())?;
                let func = if name == "bool_or" {
                    AggregateFunc::BoolOr
                } else {
                    AggregateFunc::BoolAnd
                };
                PlannedAggregate {
                    aggregates: vec![make(func, vec![with_filter(arg.expr, &ScalarType::Bool)])],
                    result: ScalarExpr::column(0),
                    typ: nullable(ScalarType::Bool),
                }
            }
            "string_agg" => {
                let [value, delimiter] = <[Typed; 2]>::try_from(args).map_err(|_| no_function())?;
                let text = |t: Typed| {
                    if t.scalar().is_string() {
                        Ok(cast_unchecked(t, &ScalarType::Text))
                    } else {
                        Err(no_function())
                    }
                };
                let (value, delimiter) = (text(value)?, text(delimiter)?);
                PlannedAggregate {
                    aggregates: vec![make(
                        AggregateFunc::StringAgg,
                        vec![with_filter(value.expr, &ScalarType::Text), delimiter.expr],
                    )],
                    result: ScalarExpr::column(0),
                    typ: nullable(ScalarType::Text),
                }
            }
            "array_agg" => {
                if filter.is_some() {
                    return Err(unsupported(
                        "array_agg with FILTER",
                        Some("Filter the rows in a subquery before aggregating."),
                    ));
                }
                let arg = single(&args)?;
                let typ = ScalarType::Array(Box::new(arg.scalar().clone()));
                PlannedAggregate {
                    aggregates: vec![make(AggregateFunc::ArrayAgg, vec![arg.expr])],
                    result: ScalarExpr::column(0),
                    typ: nullable(typ),
                }
            }
            _ => return Err(no_function()),
        })
    }
}

/// Postgres' result type of `sum` over `arg`.
fn sum_type(arg: &ScalarType) -> Option<ScalarType> {
    Some(match arg {
        ScalarType::Int16 | ScalarType::Int32 => ScalarType::Int64,
        ScalarType::Int64 | ScalarType::Decimal { .. } => ScalarType::NUMERIC,
        ScalarType::Float32 => ScalarType::Float32,
        ScalarType::Float64 => ScalarType::Float64,
        ScalarType::Interval => ScalarType::Interval,
        _ => return None,
    })
}

type AggregateArguments<'f> = (bool, Vec<ast::OrderByExpr>, bool, Vec<&'f ast::Expr>);

/// `(distinct, order by, is count(*), argument expressions)`.
fn aggregate_arguments<'f>(
    function: &'f ast::Function,
    name: &str,
) -> Result<AggregateArguments<'f>, PlanError> {
    if !function.within_group.is_empty() {
        return Err(unsupported(format!("{name}() WITHIN GROUP"), None));
    }
    let ast::FunctionArguments::List(list) = &function.args else {
        return Err(unsupported(format!("{name} without arguments"), None));
    };
    let distinct = matches!(
        list.duplicate_treatment,
        Some(ast::DuplicateTreatment::Distinct)
    );
    let mut order_by = Vec::new();
    for clause in &list.clauses {
        match clause {
            ast::FunctionArgumentClause::OrderBy(items) => order_by.extend(items.iter().cloned()),
            other => return Err(unsupported(format!("{other} in {name}()"), None)),
        }
    }
    let mut star = false;
    let mut args = Vec::new();
    for arg in &list.args {
        match arg {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => args.push(e),
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
            other => return Err(unsupported(format!("argument {other} in {name}()"), None)),
        }
    }
    if distinct && star {
        return Err(response("42601", "syntax error at or near \"*\""));
    }
    let _ = Datum::Null;
    Ok((distinct, order_by, star, args))
}
