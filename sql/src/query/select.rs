//! `SELECT`: FROM, WHERE, GROUP BY/HAVING, window functions, the select list, DISTINCT
//! and ORDER BY, in SQL's logical order.

use laaster_repr::plan::SortKey;
use laaster_repr::{ColumnType, ScalarExpr, ScalarType};
use sqlparser::ast;

use super::aggregate::collect_calls;
use super::order::{output_column, sort_direction};
use super::{PlannedQuery, Planner, Rel};
use crate::error::PlanError;
use crate::expr::coerce::{Typed, resolve_unknown};
use crate::expr::scope::{Scope, ScopeColumn, normalize_ident, normalize_object_name};
use crate::expr::{ExprCx, Substitution, response, unsupported};
use crate::logical::{LogicalPlan, conjuncts};

/// The parts of a select being planned after FROM/WHERE/GROUP BY/windows.
struct SelectState<'q> {
    plan: LogicalPlan,
    scope: Scope,
    substitutions: Vec<Substitution>,
    /// Set when the query aggregates: the scope before aggregation.
    ungrouped: Option<Scope>,
    outer: &'q [&'q Scope],
}

impl SelectState<'_> {
    fn pad(&mut self) {
        self.scope
            .pad_to(self.plan.arity(), ColumnType::nullable(ScalarType::Text));
    }
}

impl Planner<'_> {
    pub(super) fn plan_select(
        &self,
        select: &ast::Select,
        order_by: &[ast::OrderByExpr],
        outer: &[&Scope],
    ) -> Result<PlannedQuery, PlanError> {
        reject_unsupported(select)?;
        let group_window = self.rewrite_group_window(select, order_by)?;
        let (select, order_by) = match &group_window {
            Some(window) => (&window.select, window.order_by.as_slice()),
            None => (select, order_by),
        };
        let Rel { plan, scope } = self.plan_from(&select.from, outer)?;
        let mut state = SelectState {
            plan,
            scope,
            substitutions: Vec::new(),
            ungrouped: None,
            outer,
        };
        if let Some(selection) = &select.selection {
            self.plan_where(&mut state, selection, "WHERE")?;
        }
        if let Some(window) = &group_window {
            let rel = Rel {
                plan: std::mem::replace(&mut state.plan, LogicalPlan::unit()),
                scope: std::mem::take(&mut state.scope),
            };
            let rel = self.apply_group_window(rel, window, outer)?;
            state.plan = rel.plan;
            state.scope = rel.scope;
        }
        let group_by = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => {
                exprs.clone()
            }
            other => return Err(unsupported(format!("{other}"), None)),
        };
        let mut roots: Vec<&ast::Expr> = select_exprs(select);
        roots.extend(select.having.iter());
        roots.extend(order_by.iter().map(|o| &o.expr));
        if let Some(ast::Distinct::On(exprs)) = &select.distinct {
            roots.extend(exprs.iter());
        }
        let calls = collect_calls(&roots)?;
        if !group_by.is_empty() || !calls.aggregates.is_empty() || select.having.is_some() {
            let group_by = resolve_group_by(select, &group_by, &state.scope)?;
            self.plan_grouping(&mut state_parts(&mut state), &group_by, &calls.aggregates)?;
        }
        if let Some(having) = &select.having {
            self.plan_where(&mut state, having, "HAVING")?;
        }
        if !calls.windows.is_empty() {
            let (plan, scope, subs) = (&mut state.plan, &state.scope, &mut state.substitutions);
            self.plan_windows(
                plan,
                scope,
                outer,
                subs,
                state.ungrouped.as_ref(),
                &calls.windows,
            )?;
            state.pad();
        }
        self.plan_projection(state, select, order_by)
    }

    /// WHERE or HAVING: a filter (subqueries join onto the relation first).
    fn plan_where(
        &self,
        state: &mut SelectState,
        condition: &ast::Expr,
        clause: &'static str,
    ) -> Result<(), PlanError> {
        let mut plan = std::mem::replace(&mut state.plan, LogicalPlan::unit());
        let result = {
            let mut cx = ExprCx {
                scope: &state.scope,
                outer: state.outer,
                relation: Some(&mut plan),
                clause,
                substitutions: &state.substitutions,
                ungrouped: state.ungrouped.as_ref(),
            };
            self.plan_condition(&mut cx, condition, clause)
        };
        let condition = result?;
        let mut predicates = Vec::new();
        conjuncts(condition.expr, &mut predicates);
        state.plan = plan.filter(predicates);
        state.pad();
        Ok(())
    }

    /// The select list, ORDER BY and DISTINCT.
    fn plan_projection(
        &self,
        mut state: SelectState,
        select: &ast::Select,
        order_by: &[ast::OrderByExpr],
    ) -> Result<PlannedQuery, PlanError> {
        let mut plan = std::mem::replace(&mut state.plan, LogicalPlan::unit());
        let mut outputs: Vec<(String, Typed)> = Vec::new();
        let mut cx = ExprCx {
            scope: &state.scope,
            outer: state.outer,
            relation: Some(&mut plan),
            clause: "SELECT",
            substitutions: &state.substitutions,
            ungrouped: state.ungrouped.as_ref(),
        };
        for item in &select.projection {
            self.plan_select_item(&mut cx, item, &mut outputs)?;
        }
        let names: Vec<String> = outputs.iter().map(|(n, _)| n.clone()).collect();
        let mut columns: Vec<Typed> = outputs
            .into_iter()
            .map(|(_, t)| resolve_unknown(t))
            .collect();
        let visible = columns.len();
        let distinct = matches!(select.distinct, Some(ast::Distinct::Distinct));
        let mut order = Vec::new();
        for item in order_by {
            let (descending, nulls_last) = sort_direction(&item.options)?;
            let column = self.order_column(&mut cx, &item.expr, &names, &mut columns, distinct)?;
            order.push(SortKey {
                column,
                descending,
                nulls_last,
            });
        }
        let mut distinct_on = Vec::new();
        if let Some(ast::Distinct::On(exprs)) = &select.distinct {
            for expr in exprs {
                distinct_on.push(self.order_column(&mut cx, expr, &names, &mut columns, false)?);
            }
            check_distinct_on_order(&distinct_on, &order)?;
        }
        let base = plan.arity();
        let mut exprs = Vec::new();
        let mut projection = Vec::new();
        for column in &columns {
            match column.expr {
                ScalarExpr::Column(c) => projection.push(c),
                ref expr => {
                    projection.push(base + exprs.len());
                    exprs.push(expr.clone());
                }
            }
        }
        plan = plan.map(exprs).project(projection);
        if distinct {
            plan = plan.distinct();
        }
        if !distinct_on.is_empty() {
            plan = LogicalPlan::TopK {
                input: Box::new(plan),
                group_key: distinct_on,
                order: order.clone(),
                limit: Some(1),
                offset: 0,
            };
        }
        let scope = Scope::new(
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| match names.get(i) {
                    Some(name) => ScopeColumn::new(None, name.clone(), c.typ.clone()),
                    None => ScopeColumn::anonymous(c.typ.clone()),
                })
                .collect(),
        );
        Ok(PlannedQuery {
            rel: Rel { plan, scope },
            visible,
            order,
            limit: None,
            offset: 0,
        })
    }

    /// Resolves an ORDER BY (or DISTINCT ON) item to a result column, adding a hidden
    /// column for an expression that is not in the select list.
    fn order_column(
        &self,
        cx: &mut ExprCx,
        expr: &ast::Expr,
        names: &[String],
        columns: &mut Vec<Typed>,
        distinct: bool,
    ) -> Result<usize, PlanError> {
        if let Some(c) = output_column(expr, names)? {
            return Ok(c);
        }
        let value = resolve_unknown(self.plan_expr(cx, expr)?);
        if let Some(c) = columns.iter().position(|c| c.expr == value.expr) {
            return Ok(c);
        }
        if distinct {
            return Err(response(
                "42P10",
                "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
            ));
        }
        columns.push(value);
        Ok(columns.len() - 1)
    }

    fn plan_select_item(
        &self,
        cx: &mut ExprCx,
        item: &ast::SelectItem,
        outputs: &mut Vec<(String, Typed)>,
    ) -> Result<(), PlanError> {
        match item {
            ast::SelectItem::UnnamedExpr(expr) => {
                let value = self.plan_expr(cx, expr)?;
                outputs.push((output_name(expr), value));
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                let value = self.plan_expr(cx, expr)?;
                outputs.push((normalize_ident(alias), value));
            }
            ast::SelectItem::Wildcard(_) => {
                let source = cx.ungrouped.unwrap_or(cx.scope);
                let columns: Vec<usize> = (0..source.len())
                    .filter(|&i| !source.columns[i].hidden)
                    .collect();
                self.push_columns(cx, &columns, outputs)?;
            }
            ast::SelectItem::QualifiedWildcard(kind, _) => {
                let ast::SelectItemQualifiedWildcardKind::ObjectName(name) = kind else {
                    return Err(unsupported(format!("{kind}"), None));
                };
                let table = normalize_object_name(name)?;
                let source = cx.ungrouped.unwrap_or(cx.scope);
                let columns: Vec<usize> = (0..source.len())
                    .filter(|&i| {
                        let c = &source.columns[i];
                        c.table.as_deref() == Some(table.as_str()) && !c.name.is_empty()
                    })
                    .collect();
                if columns.is_empty() {
                    return Err(response(
                        "42P01",
                        format!("missing FROM-clause entry for table \"{table}\""),
                    ));
                }
                self.push_columns(cx, &columns, outputs)?;
            }
            ast::SelectItem::ExprWithAliases { .. } => {
                return Err(unsupported(format!("select item {item}"), None));
            }
        }
        Ok(())
    }

    /// Output columns for `*`: direct columns, or (when aggregating) names resolved
    /// through the grouping so ungrouped columns are reported.
    fn push_columns(
        &self,
        cx: &mut ExprCx,
        columns: &[usize],
        outputs: &mut Vec<(String, Typed)>,
    ) -> Result<(), PlanError> {
        match cx.ungrouped {
            None => {
                for &i in columns {
                    let column = &cx.scope.columns[i];
                    outputs.push((
                        column.name.clone(),
                        Typed {
                            expr: ScalarExpr::column(i),
                            typ: column.typ.clone(),
                        },
                    ));
                }
            }
            Some(source) => {
                let source = source.clone();
                for &i in columns {
                    let column = &source.columns[i];
                    let mut parts = Vec::new();
                    if let Some(t) = &column.table {
                        parts.push(ast::Ident::with_quote('"', t.clone()));
                    }
                    parts.push(ast::Ident::with_quote('"', column.name.clone()));
                    let value = self.plan_expr(cx, &ast::Expr::CompoundIdentifier(parts))?;
                    outputs.push((column.name.clone(), value));
                }
            }
        }
        Ok(())
    }
}

/// A mutable view used by `plan_grouping`.
pub(super) struct GroupingParts<'a> {
    pub plan: &'a mut LogicalPlan,
    pub scope: &'a mut Scope,
    pub substitutions: &'a mut Vec<Substitution>,
    pub ungrouped: &'a mut Option<Scope>,
    pub outer: &'a [&'a Scope],
}

fn state_parts<'a>(state: &'a mut SelectState) -> GroupingParts<'a> {
    GroupingParts {
        plan: &mut state.plan,
        scope: &mut state.scope,
        substitutions: &mut state.substitutions,
        ungrouped: &mut state.ungrouped,
        outer: state.outer,
    }
}

fn select_exprs(select: &ast::Select) -> Vec<&ast::Expr> {
    select
        .projection
        .iter()
        .filter_map(|item| match item {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                Some(e)
            }
            _ => None,
        })
        .collect()
}

/// GROUP BY items: ordinals and output-column aliases (when the name is not an input
/// column, as Postgres resolves them) stand for select-list expressions.
fn resolve_group_by(
    select: &ast::Select,
    group_by: &[ast::Expr],
    scope: &Scope,
) -> Result<Vec<ast::Expr>, PlanError> {
    let mut resolved = Vec::new();
    for expr in group_by {
        match expr {
            ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                let ast::Value::Number(n, _) = &v.value else {
                    continue;
                };
                let position = n
                    .parse::<usize>()
                    .ok()
                    .filter(|p| (1..=select.projection.len()).contains(p));
                let item = position.map(|p| &select.projection[p - 1]);
                match item {
                    Some(
                        ast::SelectItem::UnnamedExpr(e)
                        | ast::SelectItem::ExprWithAlias { expr: e, .. },
                    ) => resolved.push(e.clone()),
                    _ => {
                        return Err(response(
                            "42P10",
                            format!("GROUP BY position {n} is not in select list"),
                        ));
                    }
                }
            }
            ast::Expr::Identifier(ident)
                if scope.resolve(None, &normalize_ident(ident))?.is_none() =>
            {
                let name = normalize_ident(ident);
                let aliased = select.projection.iter().find_map(|item| match item {
                    ast::SelectItem::ExprWithAlias { expr, alias }
                        if normalize_ident(alias) == name =>
                    {
                        Some(expr.clone())
                    }
                    _ => None,
                });
                resolved.push(aliased.unwrap_or_else(|| expr.clone()));
            }
            other => resolved.push(other.clone()),
        }
    }
    Ok(resolved)
}

/// PostgreSQL's rule (`transformDistinctOnClause`): the ORDER BY keys that are DISTINCT
/// ON expressions must come first, and once an ORDER BY key that is not a DISTINCT ON
/// expression has been seen, every DISTINCT ON expression must already have appeared.
/// Without ORDER BY, or with an ORDER BY made only of DISTINCT ON expressions, anything
/// goes.
fn check_distinct_on_order(distinct_on: &[usize], order: &[SortKey]) -> Result<(), PlanError> {
    let mismatch = || {
        Err(response(
            "42P10",
            "SELECT DISTINCT ON expressions must match initial ORDER BY expressions",
        ))
    };
    let mut skipped = false;
    let mut matched = Vec::new();
    for key in order {
        if distinct_on.contains(&key.column) {
            if skipped {
                return mismatch();
            }
            matched.push(key.column);
        } else {
            skipped = true;
        }
    }
    if skipped && distinct_on.iter().any(|c| !matched.contains(c)) {
        return mismatch();
    }
    Ok(())
}

fn reject_unsupported(select: &ast::Select) -> Result<(), PlanError> {
    let unsupported_clause = |name: &str| Err(unsupported(name.to_string(), None));
    if select.top.is_some() {
        return unsupported_clause("TOP");
    }
    if select.into.is_some() {
        return unsupported_clause("SELECT INTO");
    }
    if !select.lateral_views.is_empty() {
        return unsupported_clause("LATERAL VIEW");
    }
    if select.prewhere.is_some() || select.qualify.is_some() {
        return unsupported_clause("PREWHERE/QUALIFY");
    }
    if !select.named_window.is_empty() {
        return Err(unsupported(
            "WINDOW clause",
            Some("Write the window inline in OVER (...)."),
        ));
    }
    if !select.connect_by.is_empty() || !select.cluster_by.is_empty() || !select.sort_by.is_empty()
    {
        return unsupported_clause("CONNECT BY/CLUSTER BY/SORT BY");
    }
    Ok(())
}

/// The column name Postgres gives an unaliased select item.
fn output_name(expr: &ast::Expr) -> String {
    use ast::Expr as E;
    match expr {
        E::Identifier(ident) => normalize_ident(ident),
        E::CompoundIdentifier(idents) => idents.last().map(normalize_ident).unwrap_or_default(),
        E::Nested(inner) => output_name(inner),
        E::Cast { expr, .. } => match output_name(expr).as_str() {
            "?column?" => "?column?".to_string(),
            name => name.to_string(),
        },
        E::Function(f) => crate::expr::function_name_of(f),
        E::Case { .. } => "case".into(),
        E::Extract { .. } => "extract".into(),
        E::Substring { .. } => "substring".into(),
        E::Position { .. } => "position".into(),
        E::Trim { .. } => "btrim".into(),
        E::Ceil { .. } => "ceil".into(),
        E::Floor { .. } => "floor".into(),
        E::Exists { .. } => "exists".into(),
        E::Array(_) => "array".into(),
        E::Tuple(_) => "row".into(),
        E::Interval(_) => "interval".into(),
        // `(person).name` is named `name`, like `person.name`; `a[1]` is named `a`.
        E::CompoundFieldAccess { root, access_chain } => access_chain
            .iter()
            .rev()
            .find_map(|access| match access {
                ast::AccessExpr::Dot(field) => Some(output_name(field)),
                ast::AccessExpr::Subscript(_) => None,
            })
            .unwrap_or_else(|| output_name(root)),
        _ => "?column?".into(),
    }
}
