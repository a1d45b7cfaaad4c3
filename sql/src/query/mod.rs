//! Query planning: `SELECT ...` (and VALUES, set operations, CTEs, subqueries) into a
//! [`QueryPlan`].
//!
//! The [`Planner`] walks the sqlparser AST and builds a [`LogicalPlan`] (one `impl
//! Planner` block per concept: `select`, `from`, `aggregate`, `window`, `order`,
//! `setop`, `subquery`; expressions live in `crate::expr`). [`plan_query`] then runs
//! the optimizer and lowers the result to the dataflow [`laaster_repr::plan::Plan`].

mod aggregate;
mod event_window;
mod from;
mod order;
mod proctime;
mod select;
mod setop;
mod subquery;
#[cfg(test)]
mod tests;
mod window;

use std::cell::RefCell;

use laaster_repr::RelationDesc;
use laaster_repr::plan::{RowSetFinishing, SortKey};
use sqlparser::ast;

use crate::catalog::Catalog;
use crate::error::PlanError;
use crate::expr::scope::{Scope, normalize_ident};
use crate::expr::unsupported;
use crate::logical::LogicalPlan;
use crate::plans::{PlanContext, QueryPlan};

/// Whether `name` is a window table function (`TUMBLE`, `HOP`, `CUMULATE`, `SESSION`).
pub fn is_window_table_function(name: &ast::ObjectName) -> bool {
    event_window::window_function_name(name).is_some()
}

/// Where a query's result goes, which decides what ORDER BY / LIMIT mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryContext {
    /// An ad hoc read: top-level ORDER BY / LIMIT / OFFSET become the finishing.
    AdHoc,
    /// A view, subscription or INSERT source: top-level ORDER BY with LIMIT/OFFSET becomes
    /// a TopK in the plan; ORDER BY alone is ignored; finishing is the identity.
    Maintained,
    /// The source of an INSERT or the read half of an UPDATE/DELETE: planned like
    /// `Maintained` (ORDER BY + LIMIT is a TopK), but evaluated once, so `now()` is allowed.
    Write,
}

/// Plans a query against the catalog.
pub fn plan_query(
    catalog: &dyn Catalog,
    query: &ast::Query,
    ctx: &PlanContext,
    qctx: QueryContext,
) -> Result<QueryPlan, PlanError> {
    let planned = plan_logical(catalog, query, ctx, qctx)?;
    let optimized = crate::optimize::optimize(planned.plan)?;
    let plan = crate::lower::lower(&optimized)?;
    let plan = crate::window_aggregate::choose_event_time_operators(plan, catalog);
    Ok(QueryPlan {
        plan: crate::monotonic::choose_monotonic_operators(plan, catalog),
        desc: planned.desc,
        finishing: planned.finishing,
    })
}

/// A query planned to a [`LogicalPlan`], before optimization.
pub(crate) struct LogicalQuery {
    pub plan: LogicalPlan,
    pub desc: RelationDesc,
    pub finishing: RowSetFinishing,
}

/// Plans a query to its logical plan (used by [`plan_query`] and EXPLAIN).
pub(crate) fn plan_logical(
    catalog: &dyn Catalog,
    query: &ast::Query,
    ctx: &PlanContext,
    qctx: QueryContext,
) -> Result<LogicalQuery, PlanError> {
    let planner = Planner::new(catalog, ctx, qctx);
    let planned = planner.plan_query_parts(query, &[])?;
    let desc = planned.rel.scope.desc_prefix(planned.visible);
    if qctx == QueryContext::AdHoc {
        let finishing = RowSetFinishing {
            order: planned.order,
            limit: planned.limit,
            offset: planned.offset,
            projection: (0..planned.visible).collect(),
        };
        return Ok(LogicalQuery {
            plan: planned.rel.plan,
            desc,
            finishing,
        });
    }
    let arity = planned.visible;
    let rel = planned.into_rel();
    if qctx == QueryContext::Maintained {
        proctime::check_proctime(&rel.plan, catalog)?;
    }
    Ok(LogicalQuery {
        plan: rel.plan,
        desc,
        finishing: RowSetFinishing {
            projection: (0..arity).collect(),
            ..RowSetFinishing::default()
        },
    })
}

/// A relation being planned with the names its columns have.
#[derive(Clone, Debug)]
pub(crate) struct Rel {
    pub plan: LogicalPlan,
    pub scope: Scope,
}

/// A query's rows before ORDER BY / LIMIT are applied: the first `visible` columns are
/// the result; later ones exist only to sort by.
pub(crate) struct PlannedQuery {
    pub rel: Rel,
    pub visible: usize,
    pub order: Vec<SortKey>,
    pub limit: Option<u64>,
    pub offset: u64,
}

impl PlannedQuery {
    /// The query as a relation: LIMIT/OFFSET as a TopK, ORDER BY alone dropped, sort
    /// columns projected away.
    pub fn into_rel(self) -> Rel {
        let PlannedQuery {
            rel,
            visible,
            order,
            limit,
            offset,
        } = self;
        let mut plan = rel.plan;
        if limit.is_some() || offset > 0 {
            plan = LogicalPlan::TopK {
                input: Box::new(plan),
                group_key: Vec::new(),
                order,
                limit,
                offset,
            };
        }
        let mut scope = rel.scope;
        scope.columns.truncate(visible);
        Rel {
            plan: plan.project((0..visible).collect()),
            scope,
        }
    }
}

impl Scope {
    /// The schema of the first `n` columns.
    pub(crate) fn desc_prefix(&self, n: usize) -> RelationDesc {
        let mut scope = self.clone();
        scope.columns.truncate(n);
        for column in &mut scope.columns {
            column.hidden = false;
        }
        scope.desc()
    }
}

/// A common table expression in scope.
#[derive(Clone, Debug)]
struct CteDef {
    name: String,
    query: ast::Query,
    columns: Vec<String>,
}

/// Plans queries against a catalog; holds what is fixed for one statement.
pub(crate) struct Planner<'a> {
    pub catalog: &'a dyn Catalog,
    pub ctx: &'a PlanContext,
    pub qctx: QueryContext,
    ctes: RefCell<Vec<CteDef>>,
    /// Views being expanded (to report a view that references itself).
    expanding: RefCell<Vec<String>>,
}

impl<'a> Planner<'a> {
    pub fn new(catalog: &'a dyn Catalog, ctx: &'a PlanContext, qctx: QueryContext) -> Self {
        Planner {
            catalog,
            ctx,
            qctx,
            ctes: RefCell::new(Vec::new()),
            expanding: RefCell::new(Vec::new()),
        }
    }

    /// Plans a query nested in another (FROM subquery, CTE, view, expression subquery).
    pub(crate) fn plan_subquery(
        &self,
        query: &ast::Query,
        outer: &[&Scope],
    ) -> Result<Rel, PlanError> {
        Ok(self.plan_query_parts(query, outer)?.into_rel())
    }

    /// Plans WITH, the body, ORDER BY, LIMIT and OFFSET of a query.
    pub(crate) fn plan_query_parts(
        &self,
        query: &ast::Query,
        outer: &[&Scope],
    ) -> Result<PlannedQuery, PlanError> {
        if query.fetch.is_some() {
            return Err(unsupported("FETCH", Some("Use LIMIT.")));
        }
        if !query.locks.is_empty() {
            return Err(unsupported("FOR UPDATE/SHARE", None));
        }
        let cte_mark = self.ctes.borrow().len();
        if let Some(with) = &query.with {
            if with.recursive {
                self.ctes.borrow_mut().truncate(cte_mark);
                return Err(unsupported("WITH RECURSIVE", None));
            }
            for cte in &with.cte_tables {
                self.ctes.borrow_mut().push(CteDef {
                    name: normalize_ident(&cte.alias.name),
                    query: (*cte.query).clone(),
                    columns: cte
                        .alias
                        .columns
                        .iter()
                        .map(|c| normalize_ident(&c.name))
                        .collect(),
                });
            }
        }
        let result = self.plan_query_body(query, outer);
        self.ctes.borrow_mut().truncate(cte_mark);
        result
    }

    fn plan_query_body(
        &self,
        query: &ast::Query,
        outer: &[&Scope],
    ) -> Result<PlannedQuery, PlanError> {
        let order_by: &[ast::OrderByExpr] = match &query.order_by {
            None => &[],
            Some(order_by) => match &order_by.kind {
                ast::OrderByKind::Expressions(exprs) => exprs,
                ast::OrderByKind::All(_) => return Err(unsupported("ORDER BY ALL", None)),
            },
        };
        let (limit, offset) = self.plan_limit(query.limit_clause.as_ref())?;
        let mut planned = match query.body.as_ref() {
            ast::SetExpr::Select(select) => self.plan_select(select, order_by, outer)?,
            body => {
                let rel = self.plan_set_expr(body, outer)?;
                self.order_set_result(rel, order_by)?
            }
        };
        planned.limit = limit;
        planned.offset = offset;
        Ok(planned)
    }

    /// Plans a query body that is not ordered (an operand of a set operation).
    pub(crate) fn plan_set_expr(
        &self,
        body: &ast::SetExpr,
        outer: &[&Scope],
    ) -> Result<Rel, PlanError> {
        // Recursive (set operations, subqueries): see `crate::stack`.
        crate::stack::grow(|| match body {
            ast::SetExpr::Select(select) => Ok(self.plan_select(select, &[], outer)?.into_rel()),
            ast::SetExpr::Query(query) => self.plan_subquery(query, outer),
            ast::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => self.plan_set_operation(left, *op, *set_quantifier, right, outer),
            ast::SetExpr::Values(values) => self.plan_values(values, outer),
            other => Err(unsupported(format!("query body {other}"), None)),
        })
    }

    /// Looks up a CTE by name; returns its planned body.
    pub(crate) fn plan_cte(&self, name: &str) -> Option<Result<(Rel, Vec<String>), PlanError>> {
        let (index, cte) = {
            let ctes = self.ctes.borrow();
            let index = ctes.iter().rposition(|c| c.name == name)?;
            (index, ctes[index].clone())
        };
        // The body sees only the CTEs defined before it.
        let saved = self.ctes.borrow_mut().split_off(index);
        let result = self.plan_subquery(&cte.query, &[]);
        self.ctes.borrow_mut().extend(saved);
        Some(result.map(|rel| (rel, cte.columns)))
    }

    /// Expands a view by planning its SQL text.
    pub(crate) fn plan_view(&self, name: &str, sql: &str) -> Result<Rel, PlanError> {
        if self.expanding.borrow().iter().any(|n| n == name) {
            return Err(crate::expr::response(
                "42P17",
                format!("infinite recursion detected in rules for relation \"{name}\""),
            ));
        }
        // The dialect that parsed the view: its printed text may use Laaster's additions
        // (backtick identifiers, row types).
        let dialect = crate::parse::LaasterDialect::default();
        let statements =
            sqlparser::parser::Parser::parse_sql(&dialect, sql).map_err(|e| PlanError::Syntax {
                message: format!("in the definition of view \"{name}\": {e}"),
                position: None,
            })?;
        let query = match statements.as_slice() {
            [ast::Statement::Query(query)] => query,
            _ => {
                return Err(crate::expr::response(
                    "XX000",
                    format!("the definition of view \"{name}\" is not a query"),
                ));
            }
        };
        self.expanding.borrow_mut().push(name.to_string());
        // A view's body does not see the referencing query's CTEs.
        let saved = std::mem::take(&mut *self.ctes.borrow_mut());
        let result = self.plan_subquery(query, &[]);
        *self.ctes.borrow_mut() = saved;
        self.expanding.borrow_mut().pop();
        result
    }
}
