//! Event-time windows: Flink's window table functions in FROM, and the legacy group
//! windows of GROUP BY, planned as [`LogicalPlan::Windows`] or
//! [`LogicalPlan::SessionWindows`].
//!
//! Window table functions (the relation's columns, then `window_start`, `window_end`,
//! `window_time`):
//!
//! ```text
//! TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size [, offset]))
//! TABLE(HOP(TABLE t, DESCRIPTOR(ts), slide, size))
//! TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), step, max_size))
//! TABLE(SESSION(TABLE t [PARTITION BY k | PARTITION BY (k1, k2)], DESCRIPTOR(ts), gap))
//! ```
//!
//! TUMBLE, HOP and CUMULATE are stateless ([`LogicalPlan::Windows`]); SESSION windows
//! merge as rows arrive and split when rows are deleted, so they are planned as
//! [`LogicalPlan::SessionWindows`], a stateful operator per partition key.
//!
//! Arguments may be named (`DATA => TABLE t, TIMECOL => DESCRIPTOR(ts), SIZE => ...`,
//! also `SLIDE`, `STEP`, `OFFSET`); `TABLE(...)` around the call may be left out, and so
//! may `TABLE` and `DESCRIPTOR` (`TUMBLE(t, ts, INTERVAL '10' SECOND)`). `t` is any
//! table, view or CTE name. Lengths are constant intervals without months.
//!
//! Legacy group windows: `GROUP BY TUMBLE(ts, size), k` (or `HOP(ts, slide, size)`,
//! `SESSION(ts, gap)`, whose sessions are per value of the other GROUP BY expressions)
//! with `TUMBLE_START(ts, size)`, `TUMBLE_END`, `TUMBLE_ROWTIME` (`HOP_...`, `SESSION_...`) in the
//! select list, HAVING and ORDER BY are rewritten to the table-function form: the rows
//! after WHERE get the window columns (hidden), the group window becomes the keys
//! `window_start, window_end, window_time`, and the `_START`/`_END`/`_ROWTIME` calls those columns.

use std::ops::ControlFlow;

use laaster_repr::plan::WindowKind;
use laaster_repr::{ColumnType, Datum, ScalarType};
use sqlparser::ast;

use super::{Planner, Rel};
use crate::error::PlanError;
use crate::expr::coerce::{Typed, resolve_unknown};
use crate::expr::scope::{Scope, ScopeColumn, normalize_ident, normalize_object_name};
use crate::expr::{ExprCx, function_name_of, response, unsupported};
use crate::logical::LogicalPlan;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The names of the columns a window adds, in order.
pub(crate) const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// Whether `name` (a normalized function name) is a window table function.
pub(crate) fn is_window_function(name: &str) -> bool {
    matches!(name, "tumble" | "hop" | "cumulate" | "session")
}

/// The name of a table function: its single (normalized) part.
pub(crate) fn window_function_name(name: &ast::ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map(normalize_ident)
            .filter(|n| is_window_function(n)),
        _ => None,
    }
}

/// The parameters of each window function, in positional order; `true` = required.
fn parameters(function: &str) -> &'static [(&'static str, bool)] {
    match function {
        "tumble" => &[
            ("data", true),
            ("timecol", true),
            ("size", true),
            ("offset", false),
        ],
        "session" => &[("data", true), ("timecol", true), ("gap", true)],
        "hop" => &[
            ("data", true),
            ("timecol", true),
            ("slide", true),
            ("size", true),
            ("offset", false),
        ],
        _ => &[
            ("data", true),
            ("timecol", true),
            ("step", true),
            ("size", true),
            ("offset", false),
        ],
    }
}

/// A time column as the planner found it.
struct TimeColumn {
    index: usize,
    typ: ColumnType,
}

impl Planner<'_> {
    /// A window table function call in FROM (`function` is its normalized name).
    pub(super) fn plan_window_tvf(
        &self,
        function: &str,
        args: &[ast::FunctionArg],
    ) -> Result<Rel, PlanError> {
        let upper = function.to_uppercase();
        let slots = bind_arguments(&upper, parameters(function), args)?;
        let data = slots[0].expect("required");
        let (table, partition) = table_argument(&upper, data)?;
        if !partition.is_empty() && function != "session" {
            return Err(response(
                "42601",
                format!("{upper} does not take PARTITION BY; only SESSION windows are partitioned"),
            ));
        }
        let input = self.plan_named_relation(&table)?;
        let input = super::from::apply_alias(input, None, Some(&table))?;
        let time = time_argument(&upper, slots[1].expect("required"), &input.scope)?;
        let column = |name| {
            ScopeColumn::new(
                Some(table.clone()),
                name,
                ColumnType::new(ScalarType::Unknown, false),
            )
        };
        if function == "session" {
            let gap = self.interval_micros(&upper, "gap", slots[2].expect("required"))?;
            let gap = positive(&upper, "gap", Some(gap))?;
            let mut keys = Vec::with_capacity(partition.len());
            for key in &partition {
                let name = normalize_ident(key);
                let Some(index) = input.scope.resolve(None, &name)? else {
                    return Err(PlanError::UnknownColumn {
                        suggestion: input.scope.suggest(None, &name),
                        name,
                    });
                };
                keys.push(index);
            }
            let typed = Typed {
                expr: laaster_repr::ScalarExpr::column(time.index),
                typ: time.typ,
            };
            return Ok(session_windowed(input, keys, typed, gap, |i| {
                column(WINDOW_COLUMNS[i])
            }));
        }
        let length = |slot: usize| -> Result<Option<i64>, PlanError> {
            match slots[slot] {
                Some(expr) => {
                    let (name, _) = parameters(function)[slot];
                    self.interval_micros(&upper, name, expr).map(Some)
                }
                None => Ok(None),
            }
        };
        let kind = match function {
            "tumble" => WindowKind::Tumble {
                size: positive(&upper, "size", length(2)?)?,
                offset: length(3)?.unwrap_or(0),
            },
            "hop" => {
                let slide = positive(&upper, "slide", length(2)?)?;
                let size = positive(&upper, "size", length(3)?)?;
                no_offset(&upper, length(4)?)?;
                if size % slide != 0 {
                    return Err(response(
                        "22023",
                        "HOP window size must be an integral multiple of the slide",
                    ));
                }
                WindowKind::Hop { slide, size }
            }
            _ => {
                let step = positive(&upper, "step", length(2)?)?;
                let max = positive(&upper, "size", length(3)?)?;
                no_offset(&upper, length(4)?)?;
                if max % step != 0 {
                    return Err(response(
                        "22023",
                        "CUMULATE window size must be an integral multiple of the step",
                    ));
                }
                WindowKind::Cumulate { step, max }
            }
        };
        Ok(windowed(input, time, kind, column))
    }

    /// A window length: a constant interval without months, in microseconds.
    fn interval_micros(
        &self,
        function: &str,
        parameter: &str,
        expr: &ast::Expr,
    ) -> Result<i64, PlanError> {
        let scope = Scope::default();
        let mut cx = ExprCx::new(&scope, "window lengths");
        let typed = resolve_unknown(self.plan_expr(&mut cx, expr)?);
        let invalid = || {
            response(
                "22023",
                format!(
                    "the {parameter} of {function} must be a constant interval such as INTERVAL '10' SECOND, not {expr}"
                ),
            )
        };
        if typed.typ.scalar != ScalarType::Interval || !typed.expr.is_constant() {
            return Err(invalid());
        }
        let Ok(Datum::Interval(interval)) = typed.expr.eval(&[]) else {
            return Err(invalid());
        };
        if interval.months != 0 {
            return Err(PlanError::Response(
                laaster_repr::ErrorResponse::new(
                    "22023",
                    format!("the {parameter} of {function} cannot be measured in months or years"),
                )
                .with_hint("A month has no fixed length; use days, e.g. INTERVAL '30' DAY."),
            ));
        }
        i64::from(interval.days)
            .checked_mul(MICROS_PER_DAY)
            .and_then(|days| days.checked_add(interval.micros))
            .ok_or_else(invalid)
    }

    /// Legacy group windows: if GROUP BY holds `TUMBLE(...)` or `HOP(...)`, the select
    /// (and ORDER BY) rewritten to use the window columns, and the window to apply after
    /// WHERE. `None` when there is no group window.
    pub(super) fn rewrite_group_window(
        &self,
        select: &ast::Select,
        order_by: &[ast::OrderByExpr],
    ) -> Result<Option<GroupWindow>, PlanError> {
        let ast::GroupByExpr::Expressions(exprs, _) = &select.group_by else {
            return Ok(None);
        };
        let mut found = None;
        for (position, expr) in exprs.iter().enumerate() {
            let ast::Expr::Function(function) = expr else {
                continue;
            };
            let name = function_name_of(function);
            if !is_window_function(&name) || name == "cumulate" {
                continue;
            }
            if found.is_some() {
                return Err(response(
                    "42803",
                    "GROUP BY may hold only one group window (TUMBLE, HOP or SESSION)",
                ));
            }
            found = Some((position, name, function));
        }
        let Some((position, name, function)) = found else {
            return Ok(None);
        };
        let upper = name.to_uppercase();
        let args = crate::expr::function_args(function)?;
        let (expected, count, signature) = match name.as_str() {
            "tumble" => (2..=3, "2 or 3", "time_attr, size [, offset]"),
            "session" => (2..=2, "2", "time_attr, gap"),
            _ => (3..=3, "3", "time_attr, slide, size"),
        };
        if !expected.contains(&args.len()) {
            return Err(response(
                "42883",
                format!("group window {upper} takes {count} arguments: {upper}({signature})"),
            ));
        }
        let length = |i: usize, parameter: &str| self.interval_micros(&upper, parameter, args[i]);
        let kind = if name == "session" {
            GroupWindowKind::Session {
                gap: positive(&upper, "gap", Some(length(1, "gap")?))?,
                partition: exprs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != position)
                    .map(|(_, e)| e.clone())
                    .collect(),
            }
        } else if name == "tumble" {
            GroupWindowKind::Fixed(WindowKind::Tumble {
                size: positive(&upper, "size", Some(length(1, "size")?))?,
                offset: if args.len() == 3 {
                    length(2, "offset")?
                } else {
                    0
                },
            })
        } else {
            let slide = positive(&upper, "slide", Some(length(1, "slide")?))?;
            let size = positive(&upper, "size", Some(length(2, "size")?))?;
            if size % slide != 0 {
                return Err(response(
                    "22023",
                    "HOP window size must be an integral multiple of the slide",
                ));
            }
            GroupWindowKind::Fixed(WindowKind::Hop { slide, size })
        };
        let window_args: Vec<ast::Expr> = args.iter().map(|e| (*e).clone()).collect();
        let mut select = select.clone();
        let mut order_by = order_by.to_vec();
        // GROUP BY: the window becomes its columns (the time is determined by the end).
        if let ast::GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
            exprs.splice(
                position..=position,
                [hidden_ident(0), hidden_ident(1), hidden_ident(2)],
            );
        }
        let rewrite = |expr: &mut ast::Expr| replace_window_calls(expr, &name, &window_args);
        for item in &mut select.projection {
            match item {
                ast::SelectItem::UnnamedExpr(expr) => {
                    // Keep the output name the call would have had (`tumble_start`).
                    let alias = match expr {
                        ast::Expr::Function(f)
                            if auxiliary_column(&name, &function_name_of(f)).is_some() =>
                        {
                            Some(ast::Ident::new(function_name_of(f)))
                        }
                        _ => None,
                    };
                    rewrite(expr)?;
                    if let Some(alias) = alias {
                        *item = ast::SelectItem::ExprWithAlias {
                            expr: expr.clone(),
                            alias,
                        };
                    }
                }
                ast::SelectItem::ExprWithAlias { expr, .. } => rewrite(expr)?,
                _ => {}
            }
        }
        if let Some(having) = &mut select.having {
            rewrite(having)?;
        }
        for key in &mut order_by {
            rewrite(&mut key.expr)?;
        }
        Ok(Some(GroupWindow {
            select,
            order_by,
            time: args[0].clone(),
            function: upper,
            kind,
        }))
    }

    /// Applies a legacy group window to the rows after WHERE: appends the (hidden)
    /// window columns the rewritten select refers to.
    pub(super) fn apply_group_window(
        &self,
        rel: Rel,
        window: &GroupWindow,
        outer: &[&Scope],
    ) -> Result<Rel, PlanError> {
        let mut cx = ExprCx {
            scope: &rel.scope,
            outer,
            relation: None,
            clause: "group windows",
            substitutions: &[],
            ungrouped: None,
        };
        let time = self.plan_expr(&mut cx, &window.time)?;
        let scalar = time.typ.scalar.clone();
        if !matches!(scalar, ScalarType::Timestamp | ScalarType::TimestampTz) {
            return Err(time_type_error(
                &window.function,
                &window.time.to_string(),
                &scalar,
            ));
        }
        let hidden = |name: String| {
            let mut column =
                ScopeColumn::new(None, name, ColumnType::new(ScalarType::Unknown, false));
            column.hidden = true;
            column
        };
        let (gap, partition) = match &window.kind {
            GroupWindowKind::Fixed(kind) => {
                return Ok(windowed_expr(rel, time, *kind, |i| hidden(hidden_name(i))));
            }
            GroupWindowKind::Session { gap, partition } => (*gap, partition),
        };
        // Sessions are per group: the other GROUP BY expressions are the partition key.
        // Plain columns are used as they are; other expressions are appended (hidden).
        let mut keys = Vec::with_capacity(partition.len());
        let mut mapped = Vec::new();
        let arity = rel.scope.columns.len();
        for expr in partition {
            let mut cx = ExprCx {
                scope: &rel.scope,
                outer,
                relation: None,
                clause: "GROUP BY",
                substitutions: &[],
                ungrouped: None,
            };
            let typed = self.plan_expr(&mut cx, expr)?;
            match typed.expr {
                laaster_repr::ScalarExpr::Column(index) if index < arity => keys.push(index),
                other => {
                    keys.push(arity + mapped.len());
                    mapped.push((other, typed.typ));
                }
            }
        }
        let mut rel = rel;
        if !mapped.is_empty() {
            let mut scope = rel.scope;
            for (i, (_, typ)) in mapped.iter().enumerate() {
                let mut column = hidden(format!("$session_key{i}"));
                column.typ = typ.clone();
                scope.columns.push(column);
            }
            rel = Rel {
                plan: rel.plan.map(mapped.into_iter().map(|(e, _)| e).collect()),
                scope,
            };
        }
        Ok(session_windowed(rel, keys, time, gap, |i| {
            hidden(hidden_name(i))
        }))
    }
}

/// A legacy group window found in GROUP BY, with the select rewritten to use it.
pub(crate) struct GroupWindow {
    pub select: ast::Select,
    pub order_by: Vec<ast::OrderByExpr>,
    time: ast::Expr,
    function: String,
    kind: GroupWindowKind,
}

/// A legacy group window's shape.
enum GroupWindowKind {
    /// TUMBLE or HOP: a stateless assignment of windows.
    Fixed(WindowKind),
    /// SESSION: per group (the other GROUP BY expressions), sessions of `gap` µs.
    Session { gap: i64, partition: Vec<ast::Expr> },
}

/// The hidden name of window column `i` in a rewritten legacy query.
fn hidden_name(i: usize) -> String {
    format!("${}", WINDOW_COLUMNS[i])
}

fn hidden_ident(i: usize) -> ast::Expr {
    ast::Expr::Identifier(ast::Ident::with_quote('"', hidden_name(i)))
}

/// Which window column a `TUMBLE_START`-style call names, for group window `window`.
fn auxiliary_column(window: &str, call: &str) -> Option<usize> {
    let (prefix, suffix) = call.split_once('_')?;
    if prefix != window {
        return None;
    }
    match suffix {
        "start" => Some(0),
        "end" => Some(1),
        "rowtime" => Some(2),
        _ => None,
    }
}

/// Replaces `TUMBLE_START(args)` (etc.) by the window column; the arguments must be
/// the group window's.
fn replace_window_calls(
    expr: &mut ast::Expr,
    window: &str,
    window_args: &[ast::Expr],
) -> Result<(), PlanError> {
    let flow = ast::visit_expressions_mut(expr, |e| {
        let ast::Expr::Function(function) = e else {
            return ControlFlow::Continue(());
        };
        let name = function_name_of(function);
        let Some((prefix, _)) = name.split_once('_') else {
            return ControlFlow::Continue(());
        };
        if !matches!(prefix, "tumble" | "hop" | "session") {
            return ControlFlow::Continue(());
        }
        let Some(column) = auxiliary_column(window, &name) else {
            return ControlFlow::Break(response(
                "42803",
                format!(
                    "{}() does not match the group window {}(...) in GROUP BY",
                    name.to_uppercase(),
                    window.to_uppercase()
                ),
            ));
        };
        let args = match crate::expr::function_args(function) {
            Ok(args) => args,
            Err(err) => return ControlFlow::Break(err),
        };
        if args.len() != window_args.len() || args.iter().zip(window_args).any(|(a, b)| *a != b) {
            return ControlFlow::Break(response(
                "42803",
                format!(
                    "the arguments of {}() must be those of {}(...) in GROUP BY",
                    name.to_uppercase(),
                    window.to_uppercase()
                ),
            ));
        }
        *e = hidden_ident(column);
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(err) => Err(err),
    }
}

/// Appends the window columns (named by `column`) over time column `time`.
fn windowed(
    rel: Rel,
    time: TimeColumn,
    kind: WindowKind,
    column: impl Fn(&'static str) -> ScopeColumn,
) -> Rel {
    let typed = Typed {
        expr: laaster_repr::ScalarExpr::column(time.index),
        typ: time.typ,
    };
    windowed_expr(rel, typed, kind, |i| column(WINDOW_COLUMNS[i]))
}

fn windowed_expr(
    rel: Rel,
    time: Typed,
    kind: WindowKind,
    column: impl Fn(usize) -> ScopeColumn,
) -> Rel {
    let mut scope = rel.scope;
    for i in 0..WINDOW_COLUMNS.len() {
        let mut added = column(i);
        added.typ = ColumnType::new(time.typ.scalar.clone(), false);
        scope.columns.push(added);
    }
    Rel {
        plan: LogicalPlan::Windows {
            input: Box::new(rel.plan),
            time: time.expr,
            kind,
        },
        scope,
    }
}

/// Appends session window columns (named by `column`) per `partition` key.
fn session_windowed(
    rel: Rel,
    partition: Vec<usize>,
    time: Typed,
    gap: i64,
    column: impl Fn(usize) -> ScopeColumn,
) -> Rel {
    let mut scope = rel.scope;
    for i in 0..WINDOW_COLUMNS.len() {
        let mut added = column(i);
        added.typ = ColumnType::new(time.typ.scalar.clone(), false);
        scope.columns.push(added);
    }
    Rel {
        plan: LogicalPlan::SessionWindows {
            input: Box::new(rel.plan),
            partition,
            time: time.expr,
            gap,
        },
        scope,
    }
}

/// Binds positional and named arguments to the function's parameters.
fn bind_arguments<'a>(
    function: &str,
    parameters: &[(&str, bool)],
    args: &'a [ast::FunctionArg],
) -> Result<Vec<Option<&'a ast::Expr>>, PlanError> {
    let mut slots: Vec<Option<&ast::Expr>> = vec![None; parameters.len()];
    let mut named_seen = false;
    let signature = || {
        let list: Vec<String> = parameters
            .iter()
            .map(|(name, required)| {
                if *required {
                    name.to_uppercase()
                } else {
                    format!("[{}]", name.to_uppercase())
                }
            })
            .collect();
        format!("{function}({})", list.join(", "))
    };
    for (position, arg) in args.iter().enumerate() {
        let (name, value) = match arg {
            ast::FunctionArg::Unnamed(value) => (None, value),
            ast::FunctionArg::Named { name, arg, .. } => (Some(normalize_ident(name)), arg),
            ast::FunctionArg::ExprNamed { name, arg, .. } => match name {
                ast::Expr::Identifier(ident) => (Some(normalize_ident(ident)), arg),
                other => {
                    return Err(response(
                        "42601",
                        format!("invalid argument name {other} in {function}"),
                    ));
                }
            },
        };
        let ast::FunctionArgExpr::Expr(value) = value else {
            return Err(response(
                "42601",
                format!("invalid argument {arg} in {function}"),
            ));
        };
        let slot = match name {
            None if named_seen => {
                return Err(response(
                    "42601",
                    format!("positional argument after named arguments in {function}"),
                ));
            }
            None if position >= parameters.len() => {
                return Err(response(
                    "42883",
                    format!("too many arguments for {}", signature()),
                ));
            }
            None => position,
            Some(name) => {
                named_seen = true;
                parameters
                    .iter()
                    .position(|(p, _)| *p == name)
                    .ok_or_else(|| {
                        response(
                            "42883",
                            format!("{function} has no parameter named {name}: {}", signature()),
                        )
                    })?
            }
        };
        if slots[slot].replace(value).is_some() {
            return Err(response(
                "42601",
                format!(
                    "argument {} of {function} given more than once",
                    parameters[slot].0.to_uppercase()
                ),
            ));
        }
    }
    for (slot, (name, required)) in slots.iter().zip(parameters) {
        if *required && slot.is_none() {
            return Err(response(
                "42883",
                format!(
                    "missing argument {} of {}",
                    name.to_uppercase(),
                    signature()
                ),
            ));
        }
    }
    Ok(slots)
}

/// `TABLE name [PARTITION BY keys]` or `name`: the relation to window and the
/// partition key columns (only SESSION takes them).
fn table_argument(
    function: &str,
    expr: &ast::Expr,
) -> Result<(String, Vec<ast::Ident>), PlanError> {
    let name = match expr {
        ast::Expr::Prefixed { prefix, value } if prefix.value.eq_ignore_ascii_case("TABLE") => {
            value
        }
        other => other,
    };
    let (name, partition) = match name {
        ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Custom(op),
            right,
        } if op == crate::parse::PARTITION_BY => {
            let keys = match right.as_ref() {
                ast::Expr::Identifier(ident) => vec![ident.clone()],
                ast::Expr::Nested(inner) => match inner.as_ref() {
                    ast::Expr::Identifier(ident) => vec![ident.clone()],
                    _ => Vec::new(),
                },
                ast::Expr::Tuple(items) => items
                    .iter()
                    .filter_map(|item| match item {
                        ast::Expr::Identifier(ident) => Some(ident.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (left.as_ref(), keys)
        }
        other => (other, Vec::new()),
    };
    let parts = match name {
        ast::Expr::Identifier(ident) => vec![ident.clone()],
        ast::Expr::CompoundIdentifier(parts) => parts.clone(),
        _ => {
            return Err(PlanError::Response(
                laaster_repr::ErrorResponse::new(
                    "42601",
                    format!("the first argument of {function} must be a table, not {expr}"),
                )
                .with_hint(format!(
                    "Write {function}(TABLE name, DESCRIPTOR(time_column), ...); for a query, name it in WITH or a view first."
                )),
            ));
        }
    };
    Ok((
        normalize_object_name(&ast::ObjectName::from(parts))?,
        partition,
    ))
}

/// `DESCRIPTOR(column)` or `column`: the time column, a TIMESTAMP.
fn time_argument(function: &str, expr: &ast::Expr, scope: &Scope) -> Result<TimeColumn, PlanError> {
    let ident = match expr {
        ast::Expr::Function(f) if function_name_of(f) == "descriptor" => {
            match crate::expr::function_args(f)?.as_slice() {
                [ast::Expr::Identifier(ident)] => ident,
                _ => {
                    return Err(response(
                        "42601",
                        format!("DESCRIPTOR in {function} takes one column name, not {expr}"),
                    ));
                }
            }
        }
        ast::Expr::Identifier(ident) => ident,
        _ => {
            return Err(response(
                "42601",
                format!(
                    "the second argument of {function} must be DESCRIPTOR(time_column), not {expr}"
                ),
            ));
        }
    };
    let name = normalize_ident(ident);
    let Some(index) = scope.resolve(None, &name)? else {
        return Err(PlanError::UnknownColumn {
            suggestion: scope.suggest(None, &name),
            name,
        });
    };
    let typ = scope.columns[index].typ.clone();
    if !matches!(typ.scalar, ScalarType::Timestamp | ScalarType::TimestampTz) {
        return Err(time_type_error(function, &name, &typ.scalar));
    }
    Ok(TimeColumn { index, typ })
}

fn time_type_error(function: &str, column: &str, scalar: &ScalarType) -> PlanError {
    PlanError::Response(
        laaster_repr::ErrorResponse::new(
            "42804",
            format!("the time column of {function} must be of type timestamp, not {scalar}"),
        )
        .with_detail(format!("{column} is of type {scalar}.")),
    )
}

fn positive(function: &str, parameter: &str, micros: Option<i64>) -> Result<i64, PlanError> {
    match micros {
        Some(m) if m > 0 => Ok(m),
        _ => Err(response(
            "22023",
            format!("the {parameter} of {function} must be a positive interval"),
        )),
    }
}

fn no_offset(function: &str, offset: Option<i64>) -> Result<(), PlanError> {
    match offset {
        None | Some(0) => Ok(()),
        Some(_) => Err(unsupported(
            format!("an offset for {function} windows"),
            Some("Only TUMBLE takes an offset so far."),
        )),
    }
}
