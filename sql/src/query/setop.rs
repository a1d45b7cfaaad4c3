//! UNION / INTERSECT / EXCEPT (with and without ALL) as multiset arithmetic, and VALUES.
//!
//! With `l` and `r` the multiplicities of a row on each side:
//! `UNION ALL` = l + r; `UNION` = distinct(l + r); `EXCEPT ALL` = max(l - r, 0) =
//! threshold(l - r); `INTERSECT ALL` = min(l, r) = l - threshold(l - r); the distinct
//! forms apply the same to distinct inputs.

use laaster_repr::{ColumnType, Datum, Row, ScalarExpr, ScalarType};
use sqlparser::ast;

use super::{Planner, Rel};
use crate::error::PlanError;
use crate::expr::coerce::{Typed, cast_unchecked, resolve_unknown_shallow, unify_types};
use crate::expr::scope::{Scope, ScopeColumn};
use crate::expr::{ExprCx, response, unsupported};
use crate::logical::LogicalPlan;

impl Planner<'_> {
    pub(super) fn plan_set_operation(
        &self,
        left: &ast::SetExpr,
        op: ast::SetOperator,
        quantifier: ast::SetQuantifier,
        right: &ast::SetExpr,
        outer: &[&Scope],
    ) -> Result<Rel, PlanError> {
        let name = match op {
            ast::SetOperator::Union => "UNION",
            ast::SetOperator::Intersect => "INTERSECT",
            ast::SetOperator::Except => "EXCEPT",
            ast::SetOperator::Minus => return Err(unsupported("MINUS", Some("Use EXCEPT."))),
        };
        let all = match quantifier {
            ast::SetQuantifier::All => true,
            ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
            other => return Err(unsupported(format!("{name} {other}"), None)),
        };
        let left = self.plan_set_expr(left, outer)?;
        let right = self.plan_set_expr(right, outer)?;
        if left.scope.len() != right.scope.len() {
            return Err(response(
                "42601",
                format!("each {name} query must have the same number of columns"),
            ));
        }
        let mut types = Vec::new();
        for (l, r) in left.scope.columns.iter().zip(&right.scope.columns) {
            let scalar = unify_types(&[&l.typ.scalar, &r.typ.scalar], name)?;
            types.push(ColumnType::new(scalar, l.typ.nullable || r.typ.nullable));
        }
        let l = cast_columns(left.plan, &left.scope, &types);
        let r = cast_columns(right.plan, &right.scope, &types);
        let (l, r) = if all || op == ast::SetOperator::Union {
            (l, r)
        } else {
            (l.distinct(), r.distinct())
        };
        let plan = match op {
            ast::SetOperator::Union => {
                let union = LogicalPlan::Union { inputs: vec![l, r] };
                if all { union } else { union.distinct() }
            }
            ast::SetOperator::Except => LogicalPlan::Union {
                inputs: vec![l, r.negate()],
            }
            .threshold(),
            _ => {
                let surplus = LogicalPlan::Union {
                    inputs: vec![l.clone(), r.negate()],
                }
                .threshold();
                LogicalPlan::Union {
                    inputs: vec![l, surplus.negate()],
                }
            }
        };
        let scope = Scope::new(
            left.scope
                .columns
                .iter()
                .zip(types)
                .map(|(c, typ)| ScopeColumn::new(None, c.name.clone(), typ))
                .collect(),
        );
        Ok(Rel { plan, scope })
    }

    /// `VALUES (...), (...)`: a constant collection when every value is a literal.
    pub(super) fn plan_values(
        &self,
        values: &ast::Values,
        outer: &[&Scope],
    ) -> Result<Rel, PlanError> {
        let empty = Scope::default();
        let mut rows: Vec<Vec<Typed>> = Vec::new();
        for row in &values.rows {
            let mut cx = ExprCx {
                scope: &empty,
                outer,
                relation: None,
                clause: "VALUES",
                substitutions: &[],
                ungrouped: None,
            };
            let planned = row
                .content
                .iter()
                .map(|e| self.plan_expr(&mut cx, e))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(first) = rows.first()
                && first.len() != planned.len()
            {
                return Err(response(
                    "42601",
                    "VALUES lists must all be the same length",
                ));
            }
            rows.push(planned);
        }
        let arity = rows.first().map_or(0, Vec::len);
        let mut types = Vec::new();
        for i in 0..arity {
            let column: Vec<&ScalarType> = rows.iter().map(|r| r[i].scalar()).collect();
            let scalar = unify_types(&column, "VALUES")?;
            let nullable = rows.iter().any(|r| r[i].typ.nullable);
            types.push(ColumnType::new(scalar, nullable));
        }
        let rows: Vec<Vec<ScalarExpr>> = rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .zip(&types)
                    // Records keep `unknown` fields (see `resolve_unknown_shallow`).
                    .map(|(value, typ)| {
                        resolve_unknown_shallow(cast_unchecked(value, &typ.scalar)).expr
                    })
                    .collect()
            })
            .collect();
        let literal_rows: Option<Vec<(Row, i64)>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|e| match e {
                        ScalarExpr::Literal(d, _) => Some(d.clone()),
                        _ => None,
                    })
                    .collect::<Option<Vec<Datum>>>()
                    .map(|datums| (Row::new(datums), 1))
            })
            .collect();
        let plan = match literal_rows {
            Some(rows) => LogicalPlan::Constant { rows, arity },
            None => LogicalPlan::Union {
                inputs: rows
                    .into_iter()
                    .map(|row| LogicalPlan::unit().map(row).project((0..arity).collect()))
                    .collect(),
            },
        };
        let scope = Scope::new(
            types
                .into_iter()
                .enumerate()
                .map(|(i, typ)| ScopeColumn::new(None, format!("column{}", i + 1), typ))
                .collect(),
        );
        Ok(Rel { plan, scope })
    }
}

/// Casts the columns of `plan` to `types` where they differ.
fn cast_columns(plan: LogicalPlan, scope: &Scope, types: &[ColumnType]) -> LogicalPlan {
    let arity = scope.len();
    let exprs: Vec<ScalarExpr> = scope
        .columns
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (column, typ))| {
            let value = Typed {
                expr: ScalarExpr::column(i),
                typ: column.typ.clone(),
            };
            cast_unchecked(value, &typ.scalar).expr
        })
        .collect();
    if exprs
        .iter()
        .enumerate()
        .all(|(i, e)| *e == ScalarExpr::column(i))
    {
        return plan;
    }
    plan.map(exprs).project((arity..2 * arity).collect())
}
