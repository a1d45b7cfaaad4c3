//! FROM: tables, views, CTEs, derived tables, aliases and joins (ON, USING, NATURAL).

use laaster_repr::plan::JoinKind;
use laaster_repr::{Func, ScalarExpr};
use sqlparser::ast;

use super::event_window::window_function_name;
use super::{Planner, Rel};
use crate::catalog::ItemKind;
use crate::error::{PlanError, closest_name};
use crate::expr::coerce::Typed;
use crate::expr::scope::{Scope, ScopeColumn, normalize_ident, normalize_object_name};
use crate::expr::{ExprCx, comparable, response, unsupported};
use crate::logical::{LogicalPlan, conjuncts};

impl Planner<'_> {
    /// The FROM clause: items are cross joined (predicates later become join keys).
    pub(super) fn plan_from(
        &self,
        from: &[ast::TableWithJoins],
        outer: &[&Scope],
    ) -> Result<Rel, PlanError> {
        let mut result: Option<Rel> = None;
        for item in from {
            let mut rel = self.plan_table_factor(&item.relation, outer)?;
            for join in &item.joins {
                rel = self.plan_join(rel, join, outer)?;
            }
            result = Some(match result {
                None => rel,
                Some(left) => Rel {
                    scope: left.scope.concat(&rel.scope),
                    plan: left.plan.join(rel.plan, JoinKind::Inner, Vec::new()),
                },
            });
        }
        Ok(result.unwrap_or(Rel {
            plan: LogicalPlan::unit(),
            scope: Scope::default(),
        }))
    }

    fn plan_table_factor(
        &self,
        factor: &ast::TableFactor,
        outer: &[&Scope],
    ) -> Result<Rel, PlanError> {
        match factor {
            ast::TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                sample,
                ..
            } => {
                if let Some(args) = args {
                    let Some(function) = window_function_name(name) else {
                        return Err(unsupported(format!("table function {name}"), None));
                    };
                    if args.settings.is_some() {
                        return Err(unsupported(format!("SETTINGS in {name}"), None));
                    }
                    let rel = self.plan_window_tvf(&function, &args.args)?;
                    return apply_alias(rel, alias.as_ref(), None);
                }
                // `FOR SYSTEM_TIME AS OF t.proctime` (Flink's temporal/lookup join): the
                // table is joined as it is now and as it changes, like any join; see
                // docs/design/event-time.md for how this differs from Flink's lookup.
                let temporal = matches!(version, Some(ast::TableVersion::ForSystemTimeAsOf(_)));
                if !with_hints.is_empty()
                    || (version.is_some() && !temporal)
                    || *with_ordinality
                    || !partitions.is_empty()
                    || sample.is_some()
                {
                    return Err(unsupported(format!("table options on {name}"), None));
                }
                let name = normalize_object_name(name)?;
                let rel = self.plan_named_relation(&name)?;
                apply_alias(rel, alias.as_ref(), Some(&name))
            }
            ast::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                if *lateral {
                    return Err(unsupported(
                        "LATERAL",
                        Some("Use a join or a correlated subquery in WHERE."),
                    ));
                }
                let rel = self.plan_subquery(subquery, outer)?;
                apply_alias(rel, alias.as_ref(), None)
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let rel = self.plan_from(std::slice::from_ref(table_with_joins), outer)?;
                match alias {
                    Some(_) => apply_alias(rel, alias.as_ref(), None),
                    None => Ok(rel),
                }
            }
            ast::TableFactor::TableFunction {
                expr: ast::Expr::Function(function),
                alias,
            } if window_function_name(&function.name).is_some() => {
                let name = window_function_name(&function.name).unwrap_or_default();
                let ast::FunctionArguments::List(list) = &function.args else {
                    return Err(unsupported(format!("TABLE({function})"), None));
                };
                if list.duplicate_treatment.is_some()
                    || !list.clauses.is_empty()
                    || function.filter.is_some()
                    || function.over.is_some()
                    || !function.within_group.is_empty()
                {
                    return Err(unsupported(format!("TABLE({function})"), None));
                }
                let rel = self.plan_window_tvf(&name, &list.args)?;
                apply_alias(rel, alias.as_ref(), None)
            }
            other => Err(unsupported(format!("FROM item {other}"), None)),
        }
    }

    /// A CTE, view, table or materialized view by name.
    pub(super) fn plan_named_relation(&self, name: &str) -> Result<Rel, PlanError> {
        if let Some(result) = self.plan_cte(name) {
            let (rel, columns) = result?;
            let alias = ast::TableAlias {
                explicit: true,
                name: ast::Ident::with_quote('"', name),
                columns: columns
                    .into_iter()
                    .map(ast::TableAliasColumnDef::from_name)
                    .collect(),
                at: None,
            };
            let mut rel = apply_alias(rel, Some(&alias), None)?;
            for column in &mut rel.scope.columns {
                column.table = Some(name.to_string());
            }
            return Ok(rel);
        }
        let Some(item) = self.catalog.get(name) else {
            let names: Vec<String> = self
                .catalog
                .items()
                .iter()
                .map(|i| i.name.clone())
                .collect();
            return Err(PlanError::UnknownRelation {
                name: name.to_string(),
                suggestion: closest_name(name, names.iter().map(String::as_str)),
            });
        };
        let scope = Scope::from_desc(Some(name), &item.desc);
        match (item.kind, &item.query_sql) {
            (ItemKind::View, Some(sql)) => {
                let rel = self.plan_view(name, sql)?;
                if rel.scope.len() != scope.len() {
                    return Err(response(
                        "XX000",
                        format!("view \"{name}\" no longer matches its definition"),
                    ));
                }
                // The view's declared column names and types; nullability from the plan.
                let mut scope = scope;
                for (column, planned) in scope.columns.iter_mut().zip(&rel.scope.columns) {
                    column.typ.nullable = column.typ.nullable || planned.typ.nullable;
                }
                Ok(Rel {
                    plan: rel.plan,
                    scope,
                })
            }
            (ItemKind::Sink, _) => Err(PlanError::Response(
                laaster_repr::ErrorResponse::new(
                    "42809",
                    format!("cannot read sink table \"{name}\""),
                )
                .with_detail("A sink table keeps no rows; its changes go to its connector.")
                .with_hint(
                    "Read the query you insert into it instead, or create a materialized view over that query.",
                ),
            )),
            _ => Ok(Rel {
                plan: LogicalPlan::Get {
                    id: item.id,
                    name: name.to_string(),
                    arity: item.desc.arity(),
                },
                scope,
            }),
        }
    }

    fn plan_join(&self, left: Rel, join: &ast::Join, outer: &[&Scope]) -> Result<Rel, PlanError> {
        use ast::JoinOperator as J;
        let (kind, constraint) = match &join.join_operator {
            J::Join(c) | J::Inner(c) => (JoinKind::Inner, c),
            J::Left(c) | J::LeftOuter(c) => (JoinKind::LeftOuter, c),
            J::Right(c) | J::RightOuter(c) => (JoinKind::RightOuter, c),
            J::FullOuter(c) => (JoinKind::FullOuter, c),
            J::CrossJoin(c) => (JoinKind::Inner, c),
            other => return Err(unsupported(format!("join {other:?}"), None)),
        };
        let right = self.plan_table_factor(&join.relation, outer)?;
        let (left_scope, right_scope) = match kind {
            JoinKind::Inner => (left.scope, right.scope),
            JoinKind::LeftOuter => (left.scope, right.scope.nullable()),
            JoinKind::RightOuter => (left.scope.nullable(), right.scope),
            JoinKind::FullOuter => (left.scope.nullable(), right.scope.nullable()),
        };
        match constraint {
            ast::JoinConstraint::On(condition) => {
                let scope = left_scope.concat(&right_scope);
                let mut cx = ExprCx {
                    scope: &scope,
                    outer,
                    relation: None,
                    clause: "JOIN conditions",
                    substitutions: &[],
                    ungrouped: None,
                };
                let condition = self.plan_condition(&mut cx, condition, "JOIN/ON")?;
                let mut on = Vec::new();
                conjuncts(condition.expr, &mut on);
                Ok(Rel {
                    plan: left.plan.join(right.plan, kind, on),
                    scope,
                })
            }
            ast::JoinConstraint::None => Ok(Rel {
                scope: left_scope.concat(&right_scope),
                plan: left.plan.join(right.plan, kind, Vec::new()),
            }),
            ast::JoinConstraint::Using(names) => {
                let names = names
                    .iter()
                    .map(normalize_object_name)
                    .collect::<Result<Vec<_>, _>>()?;
                join_using(left.plan, left_scope, right.plan, right_scope, kind, &names)
            }
            ast::JoinConstraint::Natural => {
                let names: Vec<String> = left_scope
                    .columns
                    .iter()
                    .filter(|c| !c.hidden && c.unqualified)
                    .map(|c| c.name.clone())
                    .filter(|n| {
                        right_scope
                            .columns
                            .iter()
                            .any(|c| !c.hidden && c.unqualified && &c.name == n)
                    })
                    .collect();
                join_using(left.plan, left_scope, right.plan, right_scope, kind, &names)
            }
            ast::JoinConstraint::UsingAlias(..) => {
                Err(unsupported("JOIN USING (...) AS alias", None))
            }
        }
    }
}

/// `JOIN ... USING (cols)`: equality on the named columns; each appears once (first),
/// coalesced across the sides for a full join, as in Postgres.
fn join_using(
    left: LogicalPlan,
    left_scope: Scope,
    right: LogicalPlan,
    right_scope: Scope,
    kind: JoinKind,
    names: &[String],
) -> Result<Rel, PlanError> {
    let nl = left_scope.len();
    let mut on = Vec::new();
    let mut merged = Vec::new();
    let mut using_left = Vec::new();
    let mut using_right = Vec::new();
    for name in names {
        let find = |scope: &Scope, side: &str| -> Result<usize, PlanError> {
            scope.resolve(None, name)?.ok_or_else(|| {
                response(
                    "42703",
                    format!(
                        "column \"{name}\" specified in USING clause does not exist in {side} table"
                    ),
                )
            })
        };
        let l = find(&left_scope, "left")?;
        let r = find(&right_scope, "right")?;
        let lt = Typed {
            expr: ScalarExpr::column(l),
            typ: left_scope.columns[l].typ.clone(),
        };
        let rt = Typed {
            expr: ScalarExpr::column(nl + r),
            typ: right_scope.columns[r].typ.clone(),
        };
        let (lt, rt) = comparable(lt, rt, "=")?;
        on.push(ScalarExpr::call2(
            Func::Eq,
            lt.expr.clone(),
            rt.expr.clone(),
        ));
        let (expr, typ) = match kind {
            JoinKind::Inner | JoinKind::LeftOuter => (lt.expr, lt.typ),
            JoinKind::RightOuter => (rt.expr, rt.typ),
            JoinKind::FullOuter => {
                let mut typ = lt.typ.clone();
                typ.nullable = lt.typ.nullable && rt.typ.nullable;
                (ScalarExpr::Coalesce(vec![lt.expr, rt.expr]), typ)
            }
        };
        merged.push((ScopeColumn::new(None, name.clone(), typ), expr));
        using_left.push(l);
        using_right.push(r);
    }
    let width = nl + right_scope.len();
    let mut projection: Vec<usize> = (0..merged.len()).map(|i| width + i).collect();
    let mut columns: Vec<ScopeColumn> = merged.iter().map(|(c, _)| c.clone()).collect();
    for (i, column) in left_scope.columns.iter().enumerate() {
        if !using_left.contains(&i) {
            projection.push(i);
            columns.push(column.clone());
        }
    }
    for (i, column) in right_scope.columns.iter().enumerate() {
        if !using_right.contains(&i) {
            projection.push(nl + i);
            columns.push(column.clone());
        }
    }
    for (side, using, offset) in [
        (&left_scope, &using_left, 0),
        (&right_scope, &using_right, nl),
    ] {
        for &i in using {
            projection.push(offset + i);
            let mut column = side.columns[i].clone();
            column.hidden = true;
            column.unqualified = false;
            columns.push(column);
        }
    }
    let plan = left
        .join(right, kind, on)
        .map(merged.into_iter().map(|(_, e)| e).collect())
        .project(projection);
    Ok(Rel {
        plan,
        scope: Scope::new(columns),
    })
}

/// Applies `AS alias (c1, c2, ...)`: requalifies the columns and renames leading ones.
pub(super) fn apply_alias(
    mut rel: Rel,
    alias: Option<&ast::TableAlias>,
    default: Option<&str>,
) -> Result<Rel, PlanError> {
    let qualifier = match alias {
        Some(a) => Some(normalize_ident(&a.name)),
        None => default.map(str::to_string),
    };
    if alias.is_some() || default.is_some() {
        for column in &mut rel.scope.columns {
            column.table = qualifier.clone();
        }
    }
    if let Some(alias) = alias {
        let visible: Vec<usize> = (0..rel.scope.len())
            .filter(|&i| !rel.scope.columns[i].hidden)
            .collect();
        if alias.columns.len() > visible.len() {
            return Err(response(
                "42P10",
                format!(
                    "table \"{}\" has {} columns available but {} columns specified",
                    normalize_ident(&alias.name),
                    visible.len(),
                    alias.columns.len()
                ),
            ));
        }
        for (column, &i) in alias.columns.iter().zip(&visible) {
            rel.scope.columns[i].name = normalize_ident(&column.name);
        }
    }
    Ok(rel)
}
