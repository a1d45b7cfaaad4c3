//! ORDER BY, LIMIT and OFFSET.

use laaster_repr::plan::SortKey;
use laaster_repr::{Datum, ScalarExpr};
use sqlparser::ast;

use super::{PlannedQuery, Planner, Rel};
use crate::error::PlanError;
use crate::expr::coerce::{Typed, resolve_unknown};
use crate::expr::scope::{Scope, normalize_ident};
use crate::expr::{ExprCx, response, unsupported};

/// `(descending, nulls_last)` with Postgres' defaults.
pub(crate) fn sort_direction(options: &ast::OrderByOptions) -> Result<(bool, bool), PlanError> {
    let descending = match &options.sort {
        None | Some(ast::OrderBySort::Asc) => false,
        Some(ast::OrderBySort::Desc) => true,
        Some(ast::OrderBySort::Using(op)) => {
            return Err(unsupported(
                format!("ORDER BY ... USING {op}"),
                Some("Use ASC or DESC."),
            ));
        }
    };
    let nulls_last = options.nulls_first.map_or(!descending, |first| !first);
    Ok((descending, nulls_last))
}

/// An ORDER BY item that names an output column: an ordinal (`ORDER BY 2`) or a bare
/// output column name. `Ok(None)`: the item is an expression over the input.
pub(crate) fn output_column(
    expr: &ast::Expr,
    output_names: &[String],
) -> Result<Option<usize>, PlanError> {
    match expr {
        ast::Expr::Value(v) => {
            if let ast::Value::Number(n, _) = &v.value {
                let position = n
                    .parse::<usize>()
                    .ok()
                    .filter(|p| (1..=output_names.len()).contains(p));
                return match position {
                    Some(p) => Ok(Some(p - 1)),
                    None => Err(response(
                        "42P10",
                        format!("ORDER BY position {n} is not in select list"),
                    )),
                };
            }
            Ok(None)
        }
        ast::Expr::Identifier(ident) => {
            let name = normalize_ident(ident);
            let matches: Vec<usize> = output_names
                .iter()
                .enumerate()
                .filter(|(_, n)| **n == name)
                .map(|(i, _)| i)
                .collect();
            match matches.as_slice() {
                [] => Ok(None),
                [i] => Ok(Some(*i)),
                _ => Err(response(
                    "42702",
                    format!("ORDER BY \"{name}\" is ambiguous"),
                )),
            }
        }
        _ => Ok(None),
    }
}

impl Planner<'_> {
    /// LIMIT and OFFSET, which must be constant non-negative integers.
    pub(super) fn plan_limit(
        &self,
        clause: Option<&ast::LimitClause>,
    ) -> Result<(Option<u64>, u64), PlanError> {
        let Some(clause) = clause else {
            return Ok((None, 0));
        };
        let (limit, offset) = match clause {
            ast::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            } => {
                if !limit_by.is_empty() {
                    return Err(unsupported("LIMIT BY", None));
                }
                (limit.as_ref(), offset.as_ref().map(|o| &o.value))
            }
            ast::LimitClause::OffsetCommaLimit { .. } => {
                return Err(unsupported(
                    "LIMIT offset, count",
                    Some("Use LIMIT count OFFSET offset."),
                ));
            }
        };
        let limit = match limit {
            Some(e) => self.constant_count(e, "LIMIT")?,
            None => None,
        };
        let offset = match offset {
            Some(e) => self.constant_count(e, "OFFSET")?.unwrap_or(0),
            None => 0,
        };
        Ok((limit, offset))
    }

    fn constant_count(
        &self,
        expr: &ast::Expr,
        clause: &'static str,
    ) -> Result<Option<u64>, PlanError> {
        let scope = Scope::default();
        let mut cx = ExprCx::new(&scope, clause);
        let value = self.plan_expr(&mut cx, expr)?;
        let value = crate::expr::coerce::coerce(value, &laaster_repr::ScalarType::Int64)
            .map_err(|()| response("42804", format!("argument of {clause} must be type bigint")))?;
        match value.expr {
            ScalarExpr::Literal(Datum::Null, _) => Ok(None),
            ScalarExpr::Literal(datum, _) => match datum.as_i64() {
                Some(n) if n >= 0 => Ok(Some(n as u64)),
                Some(_) => Err(response("2201W", format!("{clause} must not be negative"))),
                None => Err(unsupported(format!("{clause} {expr}"), None)),
            },
            _ => Err(unsupported(
                format!("{clause} with a non-constant expression"),
                Some("Write the count as an integer literal."),
            )),
        }
    }

    /// ORDER BY of a set operation or VALUES: output columns by name, position or an
    /// expression over the output columns.
    pub(super) fn order_set_result(
        &self,
        rel: Rel,
        order_by: &[ast::OrderByExpr],
    ) -> Result<PlannedQuery, PlanError> {
        let visible = rel.scope.len();
        let names: Vec<String> = rel.scope.columns.iter().map(|c| c.name.clone()).collect();
        let mut plan = rel.plan;
        let mut scope = rel.scope;
        let mut extra: Vec<ScalarExpr> = Vec::new();
        let mut order = Vec::new();
        for item in order_by {
            let (descending, nulls_last) = sort_direction(&item.options)?;
            let column = match output_column(&item.expr, &names)? {
                Some(c) => c,
                None => {
                    let mut cx = ExprCx::new(&scope, "ORDER BY");
                    let value: Typed = resolve_unknown(self.plan_expr(&mut cx, &item.expr)?);
                    match value.expr {
                        ScalarExpr::Column(c) => c,
                        expr => {
                            extra.push(expr);
                            visible + extra.len() - 1
                        }
                    }
                }
            };
            order.push(SortKey {
                column,
                descending,
                nulls_last,
            });
        }
        plan = plan.map(extra);
        scope.pad_to(
            plan.arity(),
            laaster_repr::ColumnType::nullable(laaster_repr::ScalarType::Text),
        );
        Ok(PlannedQuery {
            rel: Rel { plan, scope },
            visible,
            order,
            limit: None,
            offset: 0,
        })
    }
}
