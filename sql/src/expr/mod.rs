//! Scalar expression planning: names, types, function and operator resolution, casts.
//!
//! [`Planner::plan_expr`] turns a sqlparser expression into a typed [`ScalarExpr`]
//! over the columns of the relation in an [`ExprCx`]. Subqueries inside an expression
//! extend that relation with joins (see `query::subquery`); aggregates and window
//! functions were planned beforehand and arrive as [`Substitution`]s.

pub(crate) mod coerce;
mod func;
mod literal;
mod operator;
pub(crate) mod scope;
mod types;

use laaster_repr::{ColumnType, Datum, ErrorResponse, Func, RelationDesc, ScalarExpr, ScalarType};
use sqlparser::ast;

use crate::catalog::Catalog;
use crate::error::PlanError;
use crate::logical::{LogicalPlan, OUTER_BASE};
use crate::plans::PlanContext;
use crate::query::{Planner, QueryContext};
pub(crate) use coerce::Typed;
use coerce::{cast_explicit, coerce_or, comparison_type, fold, require_bool, unify_types};
pub(crate) use func::{AGGREGATES, function_args, function_name as function_name_of};
use scope::{Scope, display_name, normalize_ident};

/// An AST expression already planned as a column (a GROUP BY key, an aggregate, a
/// window function); matched by structural equality.
#[derive(Clone, Debug)]
pub(crate) struct Substitution {
    pub ast: ast::Expr,
    pub column: usize,
    pub typ: ColumnType,
}

/// What an expression can see while it is planned.
pub(crate) struct ExprCx<'s> {
    /// Columns of the current relation.
    pub scope: &'s Scope,
    /// Scopes of enclosing queries, innermost first (correlated references).
    pub outer: &'s [&'s Scope],
    /// The current relation; subqueries join onto it. `None`: no subqueries allowed.
    pub relation: Option<&'s mut LogicalPlan>,
    /// The clause being planned, for error messages ("WHERE", "SELECT", ...).
    pub clause: &'static str,
    pub substitutions: &'s [Substitution],
    /// In an aggregated query: the scope before aggregation (to explain why a column
    /// that is not grouped cannot be used).
    pub ungrouped: Option<&'s Scope>,
}

impl<'s> ExprCx<'s> {
    pub fn new(scope: &'s Scope, clause: &'static str) -> Self {
        ExprCx {
            scope,
            outer: &[],
            relation: None,
            clause,
            substitutions: &[],
            ungrouped: None,
        }
    }
}

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
    let planner = Planner::new(catalog, ctx, QueryContext::AdHoc);
    let scope = Scope::from_desc(Some(relation_name), desc);
    let mut cx = ExprCx::new(&scope, "this context");
    let typed = coerce::resolve_unknown(planner.plan_expr(&mut cx, expr)?);
    Ok((typed.expr, typed.typ))
}

/// Converts `expr` of type `from` for storing into a column of type `to`, with
/// Postgres' assignment-cast rules (e.g. `varchar(3)` rejects longer text with
/// "value too long for type character varying(3)"; integer into smallint checks range).
pub fn plan_assignment_cast(
    expr: ScalarExpr,
    from: &ScalarType,
    to: &ScalarType,
) -> Result<ScalarExpr, PlanError> {
    types::assignment_cast(expr, from, to)
}

/// The Laaster type for a SQL type name (`INT`, `VARCHAR(10)`, `NUMERIC(10,2)`,
/// `TIMESTAMP`, `INT[]`, `ROW(a INT, b TEXT)`, ...).
pub fn scalar_type_from_ast(data_type: &ast::DataType) -> Result<ScalarType, PlanError> {
    types::type_from_ast(data_type)
}

pub(crate) fn unsupported(feature: impl Into<String>, hint: Option<&str>) -> PlanError {
    PlanError::Unsupported {
        feature: feature.into(),
        hint: hint.map(str::to_string),
    }
}

pub(crate) fn response(code: &str, message: impl Into<String>) -> PlanError {
    PlanError::Response(ErrorResponse::new(code, message))
}

impl Planner<'_> {
    /// Plans `expr` in `cx`.
    ///
    /// Recursive, with large frames in debug builds: the stack grows on demand (the
    /// parser bounds the depth, see [`crate::parse::MAX_NESTING`]).
    pub(crate) fn plan_expr(&self, cx: &mut ExprCx, expr: &ast::Expr) -> Result<Typed, PlanError> {
        crate::stack::grow(|| self.plan_expr_inner(cx, expr))
    }

    fn plan_expr_inner(&self, cx: &mut ExprCx, expr: &ast::Expr) -> Result<Typed, PlanError> {
        if let Some(s) = cx.substitutions.iter().find(|s| &s.ast == expr) {
            return Ok(Typed {
                expr: ScalarExpr::column(s.column),
                typ: s.typ.clone(),
            });
        }
        use ast::Expr as E;
        let typed = match expr {
            E::Identifier(ident) => self.plan_column(cx, std::slice::from_ref(ident))?,
            E::CompoundIdentifier(idents) => self.plan_column(cx, idents)?,
            E::Value(value) => literal::plan_value(&value.value)?,
            E::TypedString(typed) => literal::plan_typed_string(typed)?,
            E::Interval(interval) => literal::plan_interval(interval)?,
            E::Nested(inner) => self.plan_expr(cx, inner)?,
            E::UnaryOp { op, expr: inner } => self.plan_unary(cx, op, inner)?,
            E::BinaryOp { left, op, right } => self.plan_binary(cx, left, op, right)?,
            E::IsNull(inner) | E::IsNotNull(inner) => {
                let value = self.plan_expr(cx, inner)?;
                fold(is_null(value, matches!(expr, E::IsNull(_))))
            }
            E::IsTrue(inner) | E::IsNotTrue(inner) | E::IsFalse(inner) | E::IsNotFalse(inner) => {
                let value = require_bool(self.plan_expr(cx, inner)?, "IS TRUE")?;
                let func = if matches!(expr, E::IsTrue(_) | E::IsNotTrue(_)) {
                    Func::IsTrue
                } else {
                    Func::IsFalse
                };
                let mut result = ScalarExpr::call1(func, value.expr);
                if matches!(expr, E::IsNotTrue(_) | E::IsNotFalse(_)) {
                    result = ScalarExpr::call1(Func::Not, result);
                }
                Typed::new(result, ScalarType::Bool, false)
            }
            E::IsUnknown(inner) | E::IsNotUnknown(inner) => {
                let value = require_bool(self.plan_expr(cx, inner)?, "IS UNKNOWN")?;
                let mut result = ScalarExpr::call1(Func::IsNull, value.expr);
                if matches!(expr, E::IsNotUnknown(_)) {
                    result = ScalarExpr::call1(Func::Not, result);
                }
                Typed::new(result, ScalarType::Bool, false)
            }
            E::IsDistinctFrom(l, r) | E::IsNotDistinctFrom(l, r) => {
                let (l, r) = self.plan_comparable(cx, l, r, "IS DISTINCT FROM")?;
                let mut result = ScalarExpr::call2(Func::IsDistinctFrom, l.expr, r.expr);
                if matches!(expr, E::IsNotDistinctFrom(..)) {
                    result = ScalarExpr::call1(Func::Not, result);
                }
                Typed::new(result, ScalarType::Bool, false)
            }
            E::Between {
                expr: value,
                negated,
                low,
                high,
            } => self.plan_between(cx, value, *negated, low, high)?,
            E::In {
                expr: value,
                target,
                negated,
                ..
            } => match target {
                ast::InTarget::List(list) => self.plan_in_list(cx, value, list, *negated)?,
                ast::InTarget::Subquery(query) => {
                    self.plan_in_subquery(cx, value, query, *negated)?
                }
                other => return Err(unsupported(format!("IN {other:?}"), None)),
            },
            E::Like {
                negated,
                any,
                expr: value,
                pattern,
                escape_char,
            }
            | E::ILike {
                negated,
                any,
                expr: value,
                pattern,
                escape_char,
            } => {
                if *any {
                    return Err(unsupported("LIKE ANY", None));
                }
                if escape_char.is_some() {
                    return Err(unsupported(
                        "LIKE ... ESCAPE",
                        Some("The escape character is always backslash."),
                    ));
                }
                let case_insensitive = matches!(expr, E::ILike { .. });
                self.plan_like(cx, value, pattern, case_insensitive, *negated)?
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.plan_case(cx, operand.as_deref(), conditions, else_result.as_deref())?,
            E::Cast {
                expr: value,
                data_type,
                format,
                kind,
            } => {
                if format.is_some()
                    || matches!(kind, ast::CastKind::TryCast | ast::CastKind::SafeCast)
                {
                    return Err(unsupported(format!("{kind:?} with format"), None));
                }
                let to = types::type_from_ast(data_type)?;
                let value = self.plan_expr(cx, value)?;
                cast_explicit(value, &to)?
            }
            E::Extract {
                field, expr: value, ..
            } => {
                let field = literal::datetime_field(&field.to_string())?;
                let value = self.plan_expr(cx, value)?;
                func::extract(value, field, false)?
            }
            E::Ceil { expr: value, field } | E::Floor { expr: value, field } => {
                if !matches!(
                    field,
                    ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime)
                ) {
                    return Err(unsupported("CEIL/FLOOR with a field or scale", None));
                }
                let name = if matches!(expr, E::Ceil { .. }) {
                    "ceil"
                } else {
                    "floor"
                };
                let value = self.plan_expr(cx, value)?;
                func::call_builtin(self, name, vec![value])?
            }
            E::Position { expr: needle, r#in } => {
                let args = vec![self.plan_expr(cx, needle)?, self.plan_expr(cx, r#in)?];
                func::call_builtin(self, "position", args)?
            }
            E::Substring {
                expr: value,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.plan_expr(cx, value)?];
                match (substring_from, substring_for) {
                    (Some(from), Some(count)) => {
                        args.push(self.plan_expr(cx, from)?);
                        args.push(self.plan_expr(cx, count)?);
                    }
                    (Some(from), None) => args.push(self.plan_expr(cx, from)?),
                    (None, Some(count)) => {
                        args.push(Typed::new(
                            ScalarExpr::literal(Datum::Int32(1), ScalarType::Int32),
                            ScalarType::Int32,
                            false,
                        ));
                        args.push(self.plan_expr(cx, count)?);
                    }
                    (None, None) => {}
                }
                func::call_builtin(self, "substring", args)?
            }
            E::Trim {
                trim_where,
                trim_what,
                expr: value,
                trim_characters,
            } => {
                if trim_characters.is_some() {
                    return Err(unsupported("TRIM with a character list", None));
                }
                let mut args = vec![self.plan_expr(cx, value)?];
                if let Some(what) = trim_what {
                    args.push(self.plan_expr(cx, what)?);
                }
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "ltrim",
                    Some(ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "btrim",
                };
                func::call_builtin(self, name, args)?
            }
            E::Function(function) => self.plan_function(cx, function)?,
            E::Exists { subquery, negated } => self.plan_exists(cx, subquery, *negated)?,
            E::Subquery(query) => self.plan_scalar_subquery(cx, query)?,
            E::Array(array) => {
                let elements = array
                    .elem
                    .iter()
                    .map(|e| self.plan_expr(cx, e))
                    .collect::<Result<Vec<_>, _>>()?;
                func::make_array(elements)?
            }
            E::Tuple(items) => {
                let items = items
                    .iter()
                    .map(|e| self.plan_expr(cx, e))
                    .collect::<Result<Vec<_>, _>>()?;
                func::make_record(items)
            }
            E::CompoundFieldAccess { root, access_chain } => {
                let mut value = self.plan_expr(cx, root)?;
                for access in access_chain {
                    value = match access {
                        ast::AccessExpr::Subscript(ast::Subscript::Index { index }) => {
                            let index = self.plan_expr(cx, index)?;
                            func::array_index(value, index)?
                        }
                        // `(person).name`, `(person).address.city`.
                        ast::AccessExpr::Dot(ast::Expr::Identifier(field)) => {
                            func::record_field(value, &normalize_ident(field))?
                        }
                        ast::AccessExpr::Dot(ast::Expr::CompoundIdentifier(fields)) => {
                            fields.iter().try_fold(value, |value, field| {
                                func::record_field(value, &normalize_ident(field))
                            })?
                        }
                        _ => return Err(unsupported(format!("field access {expr}"), None)),
                    };
                }
                value
            }
            E::AnyOp {
                left,
                compare_op,
                right,
                ..
            } => self.plan_quantified(cx, left, compare_op, right, true)?,
            E::AllOp {
                left,
                compare_op,
                right,
            } => self.plan_quantified(cx, left, compare_op, right, false)?,
            other => return Err(unsupported(format!("expression {other}"), None)),
        };
        Ok(typed)
    }

    /// Plans a boolean condition (WHERE, HAVING, ON, FILTER).
    pub(crate) fn plan_condition(
        &self,
        cx: &mut ExprCx,
        expr: &ast::Expr,
        construct: &str,
    ) -> Result<Typed, PlanError> {
        let value = self.plan_expr(cx, expr)?;
        require_bool(value, construct)
    }

    /// A column reference, possibly followed by record field names (Flink style):
    /// `a.b` is table `a`, column `b` when `a` is a table in scope, else column `a`,
    /// field `b`; `a.b.c` is table, column, field (or column, field, field); `public.`
    /// may precede a table name.
    fn plan_column(&self, cx: &mut ExprCx, idents: &[ast::Ident]) -> Result<Typed, PlanError> {
        let parts: Vec<String> = idents.iter().map(normalize_ident).collect();
        let has_table = |t: &str| {
            cx.scope.has_table(t)
                || cx.ungrouped.is_some_and(|u| u.has_table(t))
                || cx.outer.iter().any(|o| o.has_table(t))
        };
        // An ambiguous name counts as a column: planning it reports the ambiguity.
        let has_column = |c: &str| {
            let found = |scope: &Scope| !matches!(scope.resolve(None, c), Ok(None));
            found(cx.scope) || cx.ungrouped.is_some_and(found) || cx.outer.iter().any(|o| found(o))
        };
        let column_len = match parts.as_slice() {
            [] | [_] => parts.len(),
            [schema, table, _, ..] if schema == "public" && has_table(table) => 3,
            [table, ..] if has_table(table) => 2,
            [column, ..] if has_column(column) => 1,
            [schema, _, _, ..] if schema == "public" => 3,
            _ => 2,
        };
        let value = self.plan_column_ref(cx, &parts[..column_len])?;
        parts[column_len..]
            .iter()
            .try_fold(value, |value, field| func::record_field(value, field))
    }

    fn plan_column_ref(&self, cx: &mut ExprCx, parts: &[String]) -> Result<Typed, PlanError> {
        let (table, name) = match parts {
            [name] => (None, name.as_str()),
            [table, name] => (Some(table.as_str()), name.as_str()),
            [schema, table, name] if schema == "public" => (Some(table.as_str()), name.as_str()),
            _ => {
                return Err(unsupported(
                    format!("column reference {}", parts.join(".")),
                    None,
                ));
            }
        };
        if let Some(i) = cx.scope.resolve(table, name)? {
            return Ok(Typed {
                expr: ScalarExpr::column(i),
                typ: cx.scope.columns[i].typ.clone(),
            });
        }
        if let Some(ungrouped) = cx.ungrouped
            && let Some(i) = ungrouped.resolve(table, name)?
        {
            // Like PostgreSQL, name the column by the table (or alias) it resolved to,
            // whether or not the query qualified it.
            let column = &ungrouped.columns[i];
            return Err(response(
                "42803",
                format!(
                    "column \"{}\" must appear in the GROUP BY clause or be used in an aggregate function",
                    display_name(column.table.as_deref(), &column.name)
                ),
            ));
        }
        for (depth, outer) in cx.outer.iter().enumerate() {
            if let Some(i) = outer.resolve(table, name)? {
                if depth > 0 {
                    return Err(unsupported(
                        format!(
                            "correlated reference to \"{}\" from a query nested more than one level deep",
                            display_name(table, name)
                        ),
                        Some(
                            "Reference the column from the directly enclosing query, or join first.",
                        ),
                    ));
                }
                return Ok(Typed {
                    expr: ScalarExpr::column(OUTER_BASE + i),
                    typ: outer.columns[i].typ.clone(),
                });
            }
        }
        if let Some(t) = table
            && !cx.scope.has_table(t)
            && !cx.outer.iter().any(|o| o.has_table(t))
        {
            return Err(response(
                "42P01",
                format!("missing FROM-clause entry for table \"{t}\""),
            ));
        }
        Err(PlanError::UnknownColumn {
            name: display_name(table, name),
            suggestion: cx.scope.suggest(table, name),
        })
    }

    fn plan_unary(
        &self,
        cx: &mut ExprCx,
        op: &ast::UnaryOperator,
        inner: &ast::Expr,
    ) -> Result<Typed, PlanError> {
        match op {
            ast::UnaryOperator::Not => {
                let value = require_bool(self.plan_expr(cx, inner)?, "NOT")?;
                Ok(fold(Typed {
                    expr: ScalarExpr::call1(Func::Not, value.expr),
                    typ: value.typ,
                }))
            }
            ast::UnaryOperator::Plus => self.plan_expr(cx, inner),
            ast::UnaryOperator::Minus => {
                if let ast::Expr::Value(v) = inner
                    && let ast::Value::Number(n, _) = &v.value
                {
                    return literal::plan_number(&format!("-{n}"));
                }
                let value = self.plan_expr(cx, inner)?;
                let value = if value.is_unknown() {
                    coerce::cast_unchecked(value, &ScalarType::Float64)
                } else {
                    value
                };
                if !value.scalar().is_numeric() && value.scalar() != &ScalarType::Interval {
                    return Err(PlanError::UnknownFunction {
                        name: "-".into(),
                        arg_types: vec![value.scalar().clone()],
                        suggestion: None,
                    });
                }
                Ok(fold(Typed {
                    expr: ScalarExpr::call1(Func::Neg, value.expr),
                    typ: value.typ,
                }))
            }
            other => Err(unsupported(format!("unary operator {other}"), None)),
        }
    }

    /// Plans two expressions and converts them to their comparison type.
    pub(crate) fn plan_comparable(
        &self,
        cx: &mut ExprCx,
        left: &ast::Expr,
        right: &ast::Expr,
        op: &str,
    ) -> Result<(Typed, Typed), PlanError> {
        let left = self.plan_expr(cx, left)?;
        let right = self.plan_expr(cx, right)?;
        comparable(left, right, op)
    }

    fn plan_between(
        &self,
        cx: &mut ExprCx,
        value: &ast::Expr,
        negated: bool,
        low: &ast::Expr,
        high: &ast::Expr,
    ) -> Result<Typed, PlanError> {
        let value = self.plan_expr(cx, value)?;
        let low = self.plan_expr(cx, low)?;
        let high = self.plan_expr(cx, high)?;
        // Through `compare` so that row constructors compare field-wise.
        let (low_op, high_op) = if negated {
            (ast::BinaryOperator::Lt, ast::BinaryOperator::Gt)
        } else {
            (ast::BinaryOperator::GtEq, ast::BinaryOperator::LtEq)
        };
        let low = operator::compare(&low_op, value.clone(), low)?;
        let high = operator::compare(&high_op, value, high)?;
        let nullable = low.typ.nullable || high.typ.nullable;
        let expr = if negated {
            ScalarExpr::Or(vec![low.expr, high.expr])
        } else {
            ScalarExpr::And(vec![low.expr, high.expr])
        };
        Ok(fold(Typed::new(expr, ScalarType::Bool, nullable)))
    }

    fn plan_in_list(
        &self,
        cx: &mut ExprCx,
        value: &ast::Expr,
        list: &[ast::Expr],
        negated: bool,
    ) -> Result<Typed, PlanError> {
        let value = self.plan_expr(cx, value)?;
        let items = list
            .iter()
            .map(|e| self.plan_expr(cx, e))
            .collect::<Result<Vec<_>, _>>()?;
        if operator::row_constructor_fields(&value).is_some() {
            // `ROW(..) IN (ROW(..), ..)` compares row by row, field-wise.
            let op = if negated {
                ast::BinaryOperator::NotEq
            } else {
                ast::BinaryOperator::Eq
            };
            let terms = items
                .into_iter()
                .map(|item| operator::compare(&op, value.clone(), item))
                .collect::<Result<Vec<_>, _>>()?;
            let nullable = terms.iter().any(|t| t.typ.nullable);
            let terms = terms.into_iter().map(|t| t.expr).collect();
            let expr = if negated {
                ScalarExpr::And(terms)
            } else {
                ScalarExpr::Or(terms)
            };
            return Ok(fold(Typed::new(expr, ScalarType::Bool, nullable)));
        }
        let mut types: Vec<&ScalarType> = vec![value.scalar()];
        types.extend(items.iter().map(Typed::scalar));
        let common = unify_types(&types, "IN")?;
        let value = coerce_or(value, &common, "IN")?;
        let mut nullable = value.typ.nullable;
        let mut terms = Vec::new();
        for item in items {
            let item = coerce_or(item, &common, "IN")?;
            nullable |= item.typ.nullable;
            let func = if negated { Func::NotEq } else { Func::Eq };
            terms.push(ScalarExpr::call2(func, value.expr.clone(), item.expr));
        }
        let expr = if negated {
            ScalarExpr::And(terms)
        } else {
            ScalarExpr::Or(terms)
        };
        Ok(fold(Typed::new(expr, ScalarType::Bool, nullable)))
    }

    fn plan_like(
        &self,
        cx: &mut ExprCx,
        value: &ast::Expr,
        pattern: &ast::Expr,
        case_insensitive: bool,
        negated: bool,
    ) -> Result<Typed, PlanError> {
        let value = self.plan_expr(cx, value)?;
        let pattern = self.plan_expr(cx, pattern)?;
        let (value, pattern) = (to_text(value, "~~")?, to_text(pattern, "~~")?);
        let nullable = value.typ.nullable || pattern.typ.nullable;
        let mut expr = ScalarExpr::call2(Func::Like { case_insensitive }, value.expr, pattern.expr);
        if negated {
            expr = ScalarExpr::call1(Func::Not, expr);
        }
        Ok(fold(Typed::new(expr, ScalarType::Bool, nullable)))
    }

    fn plan_case(
        &self,
        cx: &mut ExprCx,
        operand: Option<&ast::Expr>,
        conditions: &[ast::CaseWhen],
        else_result: Option<&ast::Expr>,
    ) -> Result<Typed, PlanError> {
        let mut whens = Vec::new();
        for when in conditions {
            let condition = match operand {
                Some(operand) => {
                    let (l, r) = self.plan_comparable(cx, operand, &when.condition, "=")?;
                    Typed::new(
                        ScalarExpr::call2(Func::Eq, l.expr, r.expr),
                        ScalarType::Bool,
                        true,
                    )
                }
                None => self.plan_condition(cx, &when.condition, "CASE")?,
            };
            whens.push((condition, self.plan_expr(cx, &when.result)?));
        }
        let els = match else_result {
            Some(e) => self.plan_expr(cx, e)?,
            None => Typed::null(),
        };
        let mut types: Vec<&ScalarType> = whens.iter().map(|(_, r)| r.scalar()).collect();
        types.push(els.scalar());
        let common = unify_types(&types, "CASE")?;
        let mut result = coerce_or(els, &common, "CASE")?;
        for (condition, value) in whens.into_iter().rev() {
            let value = coerce_or(value, &common, "CASE")?;
            let nullable = value.typ.nullable || result.typ.nullable;
            result = Typed::new(
                ScalarExpr::If {
                    cond: Box::new(condition.expr),
                    then: Box::new(value.expr),
                    els: Box::new(result.expr),
                },
                common.clone(),
                nullable,
            );
        }
        Ok(fold(result))
    }
}

/// `value IS NULL` (`want_null`) or `value IS NOT NULL`. On a row (a row constructor or
/// any record value) Postgres tests the fields: IS NULL holds when the row is NULL or
/// all its fields are, IS NOT NULL when it is not NULL and no field is. So
/// `ROW(NULL, NULL) IS NULL` is true and `ROW(1, NULL)` is neither NULL nor NOT NULL.
fn is_null(value: Typed, want_null: bool) -> Typed {
    let test = |field: ScalarExpr| {
        let field_is_null = ScalarExpr::call1(Func::IsNull, field);
        if want_null {
            field_is_null
        } else {
            ScalarExpr::call1(Func::Not, field_is_null)
        }
    };
    let expr = if let Some(fields) = operator::row_constructor_fields(&value) {
        ScalarExpr::And(fields.into_iter().map(|f| test(f.expr)).collect())
    } else if let ScalarType::Record(types) = value.scalar() {
        // A record value: NULL itself, or look at its fields (RecordGet is only
        // evaluated on a non-null record).
        let fields = (0..types.len())
            .map(|i| test(ScalarExpr::call1(Func::RecordGet(i), value.expr.clone())))
            .collect();
        ScalarExpr::If {
            cond: Box::new(ScalarExpr::call1(Func::IsNull, value.expr.clone())),
            then: Box::new(ScalarExpr::literal(
                Datum::Bool(want_null),
                ScalarType::Bool,
            )),
            els: Box::new(ScalarExpr::And(fields)),
        }
    } else {
        test(value.expr)
    };
    Typed::new(expr, ScalarType::Bool, false)
}

/// Converts two values to their comparison type, or fails like Postgres'
/// "operator does not exist: integer = text".
pub(crate) fn comparable(left: Typed, right: Typed, op: &str) -> Result<(Typed, Typed), PlanError> {
    let error = || PlanError::UnknownOperator {
        op: op.to_string(),
        left: left.scalar().clone(),
        right: right.scalar().clone(),
    };
    let common = comparison_type(left.scalar(), right.scalar()).ok_or_else(error)?;
    let err = error();
    let l = coerce::coerce(left, &common).map_err(|()| err)?;
    let r = coerce::coerce(right, &common).map_err(|()| error_for(&l, &common, op))?;
    Ok((l, r))
}

fn error_for(left: &Typed, right: &ScalarType, op: &str) -> PlanError {
    PlanError::UnknownOperator {
        op: op.to_string(),
        left: left.scalar().clone(),
        right: right.clone(),
    }
}

/// Converts a value to text for a string operator (unknown literals become text).
pub(crate) fn to_text(value: Typed, op: &str) -> Result<Typed, PlanError> {
    if value.scalar().is_string() || value.is_unknown() {
        Ok(coerce::cast_unchecked(value, &ScalarType::Text))
    } else {
        Err(PlanError::UnknownOperator {
            op: op.to_string(),
            left: value.scalar().clone(),
            right: ScalarType::Text,
        })
    }
}
