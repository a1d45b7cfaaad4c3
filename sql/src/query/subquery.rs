//! Subqueries in expressions — scalar, EXISTS, IN, `= ANY`, `<> ALL` — planned as joins.
//!
//! No subquery is evaluated per row. A subquery becomes a relation `S` keyed by the
//! outer columns it reads, and the current relation is left-joined with `S`:
//!
//! 1. Plan the subquery; references to the enclosing query appear as outer columns.
//! 2. If it reads outer columns `C`, compute the domain `D = distinct(project_C(R))`
//!    and *lift* the subquery onto it ([`lift`]): every operator carries `D`'s columns
//!    in front, so the subquery's result is computed once per distinct outer key.
//!    Global aggregates become grouped by `D` and are left-joined back to `D` so empty
//!    groups still produce a row, with counts 0 (the "count bug").
//! 3. Reduce `S` to at most one row per key and left-join `R` with it. Keys compare
//!    NULL-safely (wrapped in a record), since an outer NULL is a value of the domain.

use laaster_repr::plan::{AggregateExpr, AggregateFunc, JoinKind};
use laaster_repr::{ColumnType, Datum, EvalError, Func, ScalarExpr, ScalarType};
use sqlparser::ast;

use super::Planner;
use crate::error::PlanError;
use crate::expr::coerce::{Typed, coerce, comparison_type};
use crate::expr::scope::Scope;
use crate::expr::{ExprCx, response, unsupported};
use crate::logical::{LogicalPlan, OUTER_BASE, remapped};

/// A NULL-safe join key over `columns`: one record (a record holding NULLs is not NULL).
fn record_key(columns: impl IntoIterator<Item = usize>) -> ScalarExpr {
    ScalarExpr::call(
        Func::MakeRecord,
        columns.into_iter().map(ScalarExpr::column).collect(),
    )
}

fn count(arg: ScalarExpr) -> AggregateExpr {
    AggregateExpr {
        func: AggregateFunc::Count,
        args: vec![arg],
        distinct: false,
        order_by: Vec::new(),
    }
}

fn int64(v: i64) -> ScalarExpr {
    ScalarExpr::literal(Datum::Int64(v), ScalarType::Int64)
}

impl Planner<'_> {
    /// Plans `query` as a subquery of the expression context; returns its plan and the
    /// type of its single column.
    fn plan_expression_subquery(
        &self,
        cx: &ExprCx,
        query: &ast::Query,
        what: &str,
    ) -> Result<(LogicalPlan, ColumnType), PlanError> {
        if cx.relation.is_none() {
            return Err(unsupported(format!("{what} in {}", cx.clause), None));
        }
        let mut outers: Vec<&Scope> = vec![cx.scope];
        outers.extend(cx.outer.iter().copied());
        let rel = self.plan_subquery(query, &outers)?;
        if rel.scope.len() != 1 && what != "EXISTS" {
            return Err(response("42601", "subquery must return only one column"));
        }
        let typ = rel
            .scope
            .columns
            .first()
            .map_or(ColumnType::nullable(ScalarType::Bool), |c| c.typ.clone());
        Ok((rel.plan, typ))
    }

    /// `(SELECT ...)` as a value: NULL when empty, an error when it has several rows.
    pub(crate) fn plan_scalar_subquery(
        &self,
        cx: &mut ExprCx,
        query: &ast::Query,
    ) -> Result<Typed, PlanError> {
        let (subquery, typ) = self.plan_expression_subquery(cx, query, "subquery")?;
        let relation = relation_of(cx)?;
        let (outer_columns, lifted) = correlate(relation, subquery)?;
        let k = outer_columns.len();
        let per_key = LogicalPlan::Reduce {
            input: Box::new(lifted),
            group_key: (0..k).collect(),
            aggregates: vec![
                count(ScalarExpr::literal_true()),
                AggregateExpr {
                    func: AggregateFunc::Max,
                    args: vec![ScalarExpr::column(k)],
                    distinct: false,
                    order_by: Vec::new(),
                },
            ],
            global: false,
        };
        let base = join_back(relation, &outer_columns, per_key, Vec::new());
        let expr = ScalarExpr::If {
            cond: Box::new(ScalarExpr::call2(
                Func::Gt,
                ScalarExpr::column(base),
                int64(1),
            )),
            then: Box::new(ScalarExpr::Error(EvalError::MultipleRowsFromSubquery)),
            els: Box::new(ScalarExpr::column(base + 1)),
        };
        Ok(Typed::new(expr, typ.scalar, true))
    }

    /// `[NOT] EXISTS (SELECT ...)`.
    pub(crate) fn plan_exists(
        &self,
        cx: &mut ExprCx,
        query: &ast::Query,
        negated: bool,
    ) -> Result<Typed, PlanError> {
        let (subquery, _) = self.plan_expression_subquery(cx, query, "EXISTS")?;
        let relation = relation_of(cx)?;
        let (outer_columns, lifted) = correlate(relation, subquery)?;
        let k = outer_columns.len();
        let keys = lifted
            .project((0..k).collect())
            .distinct()
            .map(vec![ScalarExpr::literal_true()]);
        let base = join_back(relation, &outer_columns, keys, Vec::new());
        let missing = ScalarExpr::call1(Func::IsNull, ScalarExpr::column(base));
        let expr = if negated {
            missing
        } else {
            ScalarExpr::call1(Func::Not, missing)
        };
        Ok(Typed::new(expr, ScalarType::Bool, false))
    }

    /// `value [NOT] IN (SELECT ...)` with SQL's NULL semantics: true on a match; else
    /// NULL if the value is NULL (and the subquery is not empty) or the subquery
    /// produced a NULL; else false.
    pub(crate) fn plan_in_subquery(
        &self,
        cx: &mut ExprCx,
        value: &ast::Expr,
        query: &ast::Query,
        negated: bool,
    ) -> Result<Typed, PlanError> {
        if let ast::Expr::Tuple(_) = value {
            return Err(unsupported(
                "row constructors with IN (subquery)",
                Some("Use EXISTS with the equalities in the subquery's WHERE."),
            ));
        }
        let value = self.plan_expr(cx, value)?;
        let (subquery, typ) = self.plan_expression_subquery(cx, query, "IN (subquery)")?;
        let common = comparison_type(value.scalar(), &typ.scalar).ok_or_else(|| {
            PlanError::UnknownOperator {
                op: "=".into(),
                left: value.scalar().clone(),
                right: typ.scalar.clone(),
            }
        })?;
        let mismatch = |left: &ScalarType| PlanError::UnknownOperator {
            op: "=".into(),
            left: left.clone(),
            right: typ.scalar.clone(),
        };
        let value_type = value.scalar().clone();
        let value = coerce(value, &common).map_err(|()| mismatch(&value_type))?;
        let relation = relation_of(cx)?;
        let (outer_columns, lifted) = correlate(relation, subquery)?;
        let k = outer_columns.len();
        let element = Typed {
            expr: ScalarExpr::column(k),
            typ: typ.clone(),
        };
        let element = coerce(element, &common).map_err(|()| mismatch(&value_type))?;
        let mut projection: Vec<usize> = (0..k).collect();
        projection.push(k + 1);
        let values = lifted.map(vec![element.expr]).project(projection);
        let matches = values
            .clone()
            .distinct()
            .map(vec![ScalarExpr::literal_true()]);
        let matched = join_back(
            relation,
            &outer_columns,
            matches,
            vec![(value.expr.clone(), ScalarExpr::column(k))],
        ) + 1;
        let counts = LogicalPlan::Reduce {
            input: Box::new(values),
            group_key: (0..k).collect(),
            aggregates: vec![
                count(ScalarExpr::literal_true()),
                count(ScalarExpr::column(k)),
            ],
            global: false,
        };
        let all = join_back(relation, &outer_columns, counts, Vec::new());
        let non_null = all + 1;
        let is_null = |e: ScalarExpr| ScalarExpr::call1(Func::IsNull, e);
        let unknown = ScalarExpr::Or(vec![
            is_null(value.expr),
            ScalarExpr::call2(
                Func::Gt,
                ScalarExpr::column(all),
                ScalarExpr::column(non_null),
            ),
        ]);
        let expr = ScalarExpr::If {
            cond: Box::new(ScalarExpr::call1(
                Func::Not,
                is_null(ScalarExpr::column(matched)),
            )),
            then: Box::new(ScalarExpr::literal_true()),
            els: Box::new(ScalarExpr::If {
                cond: Box::new(is_null(ScalarExpr::column(all))),
                then: Box::new(ScalarExpr::literal(Datum::Bool(false), ScalarType::Bool)),
                els: Box::new(ScalarExpr::If {
                    cond: Box::new(unknown),
                    then: Box::new(ScalarExpr::null(ScalarType::Bool)),
                    els: Box::new(ScalarExpr::literal(Datum::Bool(false), ScalarType::Bool)),
                }),
            }),
        };
        let expr = if negated {
            ScalarExpr::call1(Func::Not, expr)
        } else {
            expr
        };
        Ok(Typed::new(expr, ScalarType::Bool, true))
    }

    /// `x = ANY (subquery)` (= IN) and `x <> ALL (subquery)` (= NOT IN).
    pub(crate) fn plan_quantified(
        &self,
        cx: &mut ExprCx,
        left: &ast::Expr,
        op: &ast::BinaryOperator,
        right: &ast::Expr,
        any: bool,
    ) -> Result<Typed, PlanError> {
        let quantifier = if any { "ANY" } else { "ALL" };
        let ast::Expr::Subquery(query) = right else {
            return Err(unsupported(
                format!("{op} {quantifier} (array)"),
                Some("Use IN (...) with a list of values."),
            ));
        };
        match (op, any) {
            (ast::BinaryOperator::Eq, true) => self.plan_in_subquery(cx, left, query, false),
            (ast::BinaryOperator::NotEq, false) => self.plan_in_subquery(cx, left, query, true),
            _ => Err(unsupported(
                format!("{op} {quantifier} (subquery)"),
                Some("Only = ANY and <> ALL are supported; rewrite with EXISTS or min/max."),
            )),
        }
    }
}

fn relation_of<'a>(cx: &'a mut ExprCx) -> Result<&'a mut LogicalPlan, PlanError> {
    let clause = cx.clause;
    cx.relation
        .as_deref_mut()
        .ok_or_else(|| unsupported(format!("subqueries in {clause}"), None))
}

/// Decorrelates `subquery` against `relation`: returns the outer columns it reads and
/// a plan whose rows are (those outer values ++ subquery row).
fn correlate(
    relation: &LogicalPlan,
    subquery: LogicalPlan,
) -> Result<(Vec<usize>, LogicalPlan), PlanError> {
    let outer_columns = subquery.outer_references();
    if outer_columns.is_empty() {
        return Ok((outer_columns, subquery));
    }
    let domain = relation.clone().project(outer_columns.clone()).distinct();
    let lifted = lift(subquery, &domain, &outer_columns)?;
    Ok((outer_columns, lifted))
}

/// Left-joins `relation` with `keyed` (whose first `outer_columns.len()` columns are the
/// outer key) NULL-safely on the key plus `extra` equalities; returns the index of
/// `keyed`'s first non-key column in the new relation.
fn join_back(
    relation: &mut LogicalPlan,
    outer_columns: &[usize],
    keyed: LogicalPlan,
    extra: Vec<(ScalarExpr, ScalarExpr)>,
) -> usize {
    let arity = relation.arity();
    let k = outer_columns.len();
    let mut equi = Vec::new();
    if k > 0 {
        equi.push((record_key(outer_columns.iter().copied()), record_key(0..k)));
    }
    equi.extend(extra);
    let left = std::mem::replace(relation, LogicalPlan::unit());
    *relation = LogicalPlan::Join {
        left: Box::new(left),
        right: Box::new(keyed),
        kind: JoinKind::LeftOuter,
        equi,
        on: Vec::new(),
    };
    arity + k
}

/// Rewrites an expression of a lifted node: local columns shift right by `k`, outer
/// column `outer_columns[j]` becomes column `j`.
fn lift_expr(
    expr: &ScalarExpr,
    k: usize,
    outer_columns: &[usize],
) -> Result<ScalarExpr, PlanError> {
    let mut missing = false;
    let mut out = expr.clone();
    out.visit_mut(&mut |e| {
        if let ScalarExpr::Column(c) = e {
            if *c >= OUTER_BASE {
                match outer_columns.binary_search(&(*c - OUTER_BASE)) {
                    Ok(j) => *c = j,
                    Err(_) => missing = true,
                }
            } else {
                *c += k;
            }
        }
    });
    if missing {
        return Err(response(
            "XX000",
            "internal error: unresolved outer reference",
        ));
    }
    Ok(out)
}

fn lift_all(exprs: &[ScalarExpr], k: usize, outer: &[usize]) -> Result<Vec<ScalarExpr>, PlanError> {
    exprs.iter().map(|e| lift_expr(e, k, outer)).collect()
}

fn correlated_unsupported(what: &str) -> PlanError {
    unsupported(
        format!("correlated subquery containing {what}"),
        Some("Move the outer reference out of the outer join, or join in the outer query instead."),
    )
}

/// Evaluates `plan` once per row of `domain` (the distinct values of the outer columns
/// `outer_columns`): the result has the domain's columns first, then `plan`'s.
fn lift(
    plan: LogicalPlan,
    domain: &LogicalPlan,
    outer_columns: &[usize],
) -> Result<LogicalPlan, PlanError> {
    let k = outer_columns.len();
    if !plan.is_correlated() {
        return Ok(domain.clone().join(plan, JoinKind::Inner, Vec::new()));
    }
    let prefix =
        |columns: &[usize]| -> Vec<usize> { (0..k).chain(columns.iter().map(|c| c + k)).collect() };
    Ok(match plan {
        LogicalPlan::Map { input, exprs } => {
            lift(*input, domain, outer_columns)?.map(lift_all(&exprs, k, outer_columns)?)
        }
        LogicalPlan::Filter { input, predicates } => {
            lift(*input, domain, outer_columns)?.filter(lift_all(&predicates, k, outer_columns)?)
        }
        LogicalPlan::Project { input, columns } => LogicalPlan::Project {
            input: Box::new(lift(*input, domain, outer_columns)?),
            columns: prefix(&columns),
        },
        LogicalPlan::Join {
            left,
            right,
            kind,
            equi,
            on,
        } => lift_join(*left, *right, kind, equi, on, domain, outer_columns)?,
        LogicalPlan::Reduce {
            input,
            group_key,
            aggregates,
            global,
        } => {
            let mut lifted_aggregates = Vec::new();
            for aggregate in aggregates {
                lifted_aggregates.push(AggregateExpr {
                    args: lift_all(&aggregate.args, k, outer_columns)?,
                    order_by: aggregate
                        .order_by
                        .iter()
                        .map(|(e, key)| Ok((lift_expr(e, k, outer_columns)?, *key)))
                        .collect::<Result<_, PlanError>>()?,
                    ..aggregate
                });
            }
            let reduce = LogicalPlan::Reduce {
                input: Box::new(lift(*input, domain, outer_columns)?),
                group_key: prefix(&group_key),
                aggregates: lifted_aggregates.clone(),
                global: false,
            };
            if global {
                fill_empty_groups(reduce, domain, k, group_key.len(), &lifted_aggregates)
            } else {
                reduce
            }
        }
        LogicalPlan::TopK {
            input,
            group_key,
            order,
            limit,
            offset,
        } => LogicalPlan::TopK {
            input: Box::new(lift(*input, domain, outer_columns)?),
            group_key: prefix(&group_key),
            order: order
                .into_iter()
                .map(|mut key| {
                    key.column += k;
                    key
                })
                .collect(),
            limit,
            offset,
        },
        LogicalPlan::Window {
            input,
            partition,
            order,
            func,
            limit,
        } => LogicalPlan::Window {
            input: Box::new(lift(*input, domain, outer_columns)?),
            partition: prefix(&partition),
            order: order
                .into_iter()
                .map(|mut key| {
                    key.column += k;
                    key
                })
                .collect(),
            func,
            limit,
        },
        LogicalPlan::Windows { input, time, kind } => LogicalPlan::Windows {
            input: Box::new(lift(*input, domain, outer_columns)?),
            time: lift_expr(&time, k, outer_columns)?,
            kind,
        },
        LogicalPlan::SessionWindows {
            input,
            partition,
            time,
            gap,
        } => LogicalPlan::SessionWindows {
            input: Box::new(lift(*input, domain, outer_columns)?),
            // Each outer row's copy of the input has its own sessions.
            partition: prefix(&partition),
            time: lift_expr(&time, k, outer_columns)?,
            gap,
        },
        LogicalPlan::Distinct { input } => lift(*input, domain, outer_columns)?.distinct(),
        LogicalPlan::Threshold { input } => lift(*input, domain, outer_columns)?.threshold(),
        LogicalPlan::Negate { input } => lift(*input, domain, outer_columns)?.negate(),
        LogicalPlan::Union { inputs } => LogicalPlan::Union {
            inputs: inputs
                .into_iter()
                .map(|i| lift(i, domain, outer_columns))
                .collect::<Result<_, _>>()?,
        },
        other @ (LogicalPlan::Get { .. }
        | LogicalPlan::Constant { .. }
        | LogicalPlan::Mfp { .. }) => {
            return Err(response(
                "XX000",
                format!("internal error: cannot decorrelate {other:?}"),
            ));
        }
    })
}

/// A global aggregate lifted onto the domain must still produce one row per domain
/// value: left-join the domain with the grouped result; counts of empty groups are 0.
fn fill_empty_groups(
    reduce: LogicalPlan,
    domain: &LogicalPlan,
    k: usize,
    keys: usize,
    aggregates: &[AggregateExpr],
) -> LogicalPlan {
    let width = k + keys + aggregates.len();
    let joined = LogicalPlan::Join {
        left: Box::new(domain.clone()),
        right: Box::new(reduce),
        kind: JoinKind::LeftOuter,
        equi: vec![(record_key(0..k), record_key(0..k))],
        on: Vec::new(),
    };
    // joined: domain (k) ++ domain copy (k) ++ keys ++ aggregates.
    let exprs: Vec<ScalarExpr> = aggregates
        .iter()
        .enumerate()
        .map(|(i, aggregate)| {
            let column = ScalarExpr::column(2 * k + keys + i);
            match aggregate.func {
                AggregateFunc::Count => ScalarExpr::Coalesce(vec![column, int64(0)]),
                _ => column,
            }
        })
        .collect();
    let mut projection: Vec<usize> = (0..k).collect();
    projection.extend((2 * k..2 * k + keys).collect::<Vec<_>>());
    projection.extend((0..aggregates.len()).map(|i| k + width + i));
    joined.map(exprs).project(projection)
}

fn lift_join(
    left: LogicalPlan,
    right: LogicalPlan,
    kind: JoinKind,
    equi: Vec<(ScalarExpr, ScalarExpr)>,
    on: Vec<ScalarExpr>,
    domain: &LogicalPlan,
    outer_columns: &[usize],
) -> Result<LogicalPlan, PlanError> {
    let k = outer_columns.len();
    let nl = left.arity();
    let right_correlated = right.is_correlated();
    let kind = match kind {
        JoinKind::Inner | JoinKind::LeftOuter => kind,
        JoinKind::RightOuter => return Err(correlated_unsupported("RIGHT JOIN")),
        JoinKind::FullOuter => return Err(correlated_unsupported("FULL JOIN")),
    };
    let left = lift(left, domain, outer_columns)?;
    if !right_correlated {
        // left' = D ++ left; right unchanged: every local column shifts by k.
        let equi = equi
            .iter()
            .map(|(l, r)| {
                Ok((
                    lift_expr(l, k, outer_columns)?,
                    lift_expr(r, 0, outer_columns)?,
                ))
            })
            .collect::<Result<Vec<_>, PlanError>>()?;
        return Ok(LogicalPlan::Join {
            left: Box::new(left),
            right: Box::new(right),
            kind,
            equi,
            on: lift_all(&on, k, outer_columns)?,
        });
    }
    let right = lift(right, domain, outer_columns)?;
    let nr = right.arity() - k;
    // Output: D ++ left ++ D ++ right; local column c (< nl) → c + k, else c + 2k.
    let shift = |e: &ScalarExpr| -> Result<ScalarExpr, PlanError> {
        let e = remapped(e.clone(), &|c| if c < nl { c + k } else { c + 2 * k });
        lift_expr(&e, 0, outer_columns)
    };
    let mut lifted_equi = vec![(record_key(0..k), record_key(0..k))];
    for (l, r) in &equi {
        lifted_equi.push((
            lift_expr(l, k, outer_columns)?,
            lift_expr(r, k, outer_columns)?,
        ));
    }
    let on = on.iter().map(shift).collect::<Result<Vec<_>, _>>()?;
    let join = LogicalPlan::Join {
        left: Box::new(left),
        right: Box::new(right),
        kind,
        equi: lifted_equi,
        on,
    };
    let projection: Vec<usize> = (0..k + nl).chain((2 * k + nl)..(2 * k + nl + nr)).collect();
    Ok(join.project(projection))
}
