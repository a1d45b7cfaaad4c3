//! EXPLAIN: the plan of a query at one stage, as text.
//!
//! One operator per line, children indented two spaces per level, columns as `#N`.
//! The text is stable (it is what golden tests compare), so it never prints `Debug`
//! dumps: every operator, expression and datum has its own short rendering here.

use laaster_repr::plan::{
    AggregateExpr, AggregateFunc, JoinKind, MapFilterProject, Plan, ReduceMonotonicity,
    RowSetFinishing, SortKey, WindowFunc,
};
use laaster_repr::{Datum, Func, ScalarExpr};
use sqlparser::ast;

use crate::catalog::Catalog;
use crate::error::PlanError;
use crate::logical::LogicalPlan;
use crate::plans::PlanContext;
use crate::query::{QueryContext, plan_logical};

/// Which stage EXPLAIN shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExplainStage {
    /// The logical plan as planned, before optimization.
    Logical,
    /// The logical plan after the optimizer's rules (the default for EXPLAIN).
    Optimized,
    /// The dataflow plan that is rendered.
    Dataflow,
}

/// Plans `query` and prints it at `stage`, one operator per line, children indented.
pub fn explain_query(
    catalog: &dyn Catalog,
    query: &ast::Query,
    ctx: &PlanContext,
    stage: ExplainStage,
) -> Result<String, PlanError> {
    let planned = plan_logical(catalog, query, ctx, QueryContext::AdHoc)?;
    let mut out = String::new();
    let depth = match finishing_line(&planned.finishing, planned.desc.arity()) {
        Some(line) => {
            out.push_str(&line);
            out.push('\n');
            1
        }
        None => 0,
    };
    match stage {
        ExplainStage::Logical => write_logical(&mut out, &planned.plan, depth),
        ExplainStage::Optimized => {
            write_logical(&mut out, &crate::optimize::optimize(planned.plan)?, depth)
        }
        ExplainStage::Dataflow => {
            let plan = crate::lower::lower(&crate::optimize::optimize(planned.plan)?)?;
            let plan = crate::window_aggregate::choose_event_time_operators(plan, catalog);
            let plan = crate::monotonic::choose_monotonic_operators(plan, catalog);
            write_dataflow(&mut out, &plan, depth, catalog)
        }
    }
    Ok(out)
}

/// The dataflow plan as EXPLAIN text.
pub fn explain_dataflow(plan: &Plan, catalog: &dyn Catalog) -> String {
    let mut out = String::new();
    write_dataflow(&mut out, plan, 0, catalog);
    out
}

/// A logical plan as EXPLAIN text.
pub fn explain_logical(plan: &LogicalPlan) -> String {
    let mut out = String::new();
    write_logical(&mut out, plan, 0);
    out
}

fn finishing_line(finishing: &RowSetFinishing, arity: usize) -> Option<String> {
    let identity = finishing.projection.len() == arity
        && finishing
            .projection
            .iter()
            .enumerate()
            .all(|(i, &c)| i == c);
    if finishing.order.is_empty() && finishing.limit.is_none() && finishing.offset == 0 && identity
    {
        return None;
    }
    let mut line = String::from("Finish");
    if !finishing.order.is_empty() {
        line.push_str(&format!(" order_by=[{}]", sort_keys(&finishing.order)));
    }
    if let Some(limit) = finishing.limit {
        line.push_str(&format!(" limit={limit}"));
    }
    if finishing.offset > 0 {
        line.push_str(&format!(" offset={}", finishing.offset));
    }
    line.push_str(&format!(" output=[{}]", columns(&finishing.projection)));
    Some(line)
}

fn line(out: &mut String, depth: usize, text: &str) {
    out.push_str(&"  ".repeat(depth));
    out.push_str(text);
    out.push('\n');
}

fn write_logical(out: &mut String, plan: &LogicalPlan, depth: usize) {
    let text = match plan {
        LogicalPlan::Get { name, .. } => format!("Get {name}"),
        LogicalPlan::Constant { rows, arity } => constant(rows, *arity),
        LogicalPlan::Map { exprs, .. } => format!("Map {}", exprs_list(exprs)),
        LogicalPlan::Filter { predicates, .. } => format!("Filter {}", exprs_list(predicates)),
        LogicalPlan::Project { columns: c, .. } => format!("Project [{}]", columns(c)),
        LogicalPlan::Mfp { mfp, .. } => mfp_text(mfp),
        LogicalPlan::Join { kind, equi, on, .. } => {
            let mut text = format!("Join kind={}", join_kind(*kind));
            if !equi.is_empty() {
                let keys: Vec<String> = equi
                    .iter()
                    .map(|(l, r)| format!("{} = {}", expr(l), expr(r)))
                    .collect();
                text.push_str(&format!(" keys=[{}]", keys.join(", ")));
            }
            if !on.is_empty() {
                text.push_str(&format!(" on={}", exprs_list(on)));
            }
            text
        }
        LogicalPlan::Reduce {
            group_key,
            aggregates,
            global,
            ..
        } => reduce(group_key, aggregates, *global),
        LogicalPlan::TopK {
            group_key,
            order,
            limit,
            offset,
            ..
        } => topk(group_key, order, *limit, *offset),
        LogicalPlan::Window {
            partition,
            order,
            func,
            limit,
            ..
        } => window(partition, order, *func, *limit),
        LogicalPlan::Windows { time, kind, .. } => {
            format!("Windows time={} {}", expr(time), window_kind(kind))
        }
        LogicalPlan::SessionWindows {
            partition,
            time,
            gap,
            ..
        } => session_windows(partition, time, *gap),
        LogicalPlan::Distinct { .. } => "Distinct".into(),
        LogicalPlan::Threshold { .. } => "Threshold".into(),
        LogicalPlan::Negate { .. } => "Negate".into(),
        LogicalPlan::Union { .. } => "Union".into(),
    };
    line(out, depth, &text);
    for child in plan.children() {
        write_logical(out, child, depth + 1);
    }
}

fn write_dataflow(out: &mut String, plan: &Plan, depth: usize, catalog: &dyn Catalog) {
    let text = match plan {
        Plan::Get { id, .. } => match catalog.get_by_id(*id) {
            Some(item) => format!("Get {}", item.name),
            None => format!("Get u{id}"),
        },
        Plan::Constant { rows, arity } => constant(rows, *arity),
        Plan::Mfp { mfp, .. } => mfp_text(mfp),
        Plan::Join {
            left_key,
            right_key,
            residual,
            kind,
            ..
        } => {
            let mut text = format!(
                "Join kind={} left_key=[{}] right_key=[{}]",
                join_kind(*kind),
                exprs(left_key),
                exprs(right_key)
            );
            if let Some(r) = residual {
                text.push_str(&format!(" residual={}", expr(r)));
            }
            text
        }
        Plan::Reduce {
            group_key,
            aggregates,
            global,
            monotonic,
            ..
        } => {
            let text = reduce(group_key, aggregates, *global);
            match monotonic {
                ReduceMonotonicity::Ordinary => text,
                ReduceMonotonicity::AppendOnly => monotonic_prefix(true, text),
                ReduceMonotonicity::MaxOfGrowing => {
                    format!("{} input=growing", monotonic_prefix(true, text))
                }
            }
        }
        Plan::IntervalJoin {
            left_key,
            right_key,
            residual,
            left_time,
            right_time,
            lower,
            upper,
            ..
        } => {
            let mut text = format!(
                "IntervalJoin left_key=[{}] right_key=[{}]",
                exprs(left_key),
                exprs(right_key)
            );
            if let Some(r) = residual {
                text.push_str(&format!(" residual={}", expr(r)));
            }
            let signed = |v: i64| {
                if v < 0 {
                    format!("-{}", duration(v.saturating_neg()))
                } else {
                    duration(v)
                }
            };
            text.push_str(&format!(
                " time=#{}-#{} in [{}, {}] watermark={}",
                left_time.column,
                right_time.column,
                signed(*lower),
                signed(*upper),
                source_name(catalog, left_time.source)
            ));
            if right_time.source != left_time.source {
                text.push_str(&format!(",{}", source_name(catalog, right_time.source)));
            }
            text
        }
        Plan::WindowAggregate {
            group_key,
            aggregates,
            source,
            window_end,
            end_offset,
            allowed_lateness,
            emit,
            ..
        } => {
            let aggregates: Vec<String> = aggregates.iter().map(aggregate).collect();
            let source = catalog
                .get_by_id(*source)
                .map_or_else(|| format!("u{source}"), |item| item.name.clone());
            let mut text = format!(
                "WindowAggregate group_key=[{}] aggregates=[{}] window_end=#{window_end}",
                columns(group_key),
                aggregates.join(", ")
            );
            if *end_offset != 0 {
                text.push_str(&format!("+{}", duration(*end_offset)));
            }
            text.push_str(&format!(" watermark={source}"));
            if *allowed_lateness != 0 {
                text.push_str(&format!(
                    " allowed_lateness={}",
                    duration(*allowed_lateness)
                ));
            }
            if *emit == laaster_repr::plan::WindowEmit::OnWindowClose {
                text.push_str(" emit=on_window_close");
            }
            text
        }
        Plan::TopK {
            group_key,
            order,
            limit,
            offset,
            monotonic,
            ..
        } => monotonic_prefix(*monotonic, topk(group_key, order, *limit, *offset)),
        Plan::Window {
            partition,
            order,
            func,
            limit,
            monotonic,
            ..
        } => monotonic_prefix(*monotonic, window(partition, order, *func, *limit)),
        Plan::WindowTopN {
            partition,
            order,
            func,
            limit,
            time,
            ..
        } => {
            let mut text = format!(
                "{} window_end=#{}",
                window(partition, order, *func, Some(*limit)).replacen("Window", "WindowTopN", 1),
                time.column
            );
            if time.offset != 0 {
                text.push_str(&format!("+{}", duration(time.offset)));
            }
            text.push_str(&format!(" watermark={}", source_name(catalog, time.source)));
            text
        }
        Plan::Windows { time, kind, .. } => {
            format!("Windows time={} {}", expr(time), window_kind(kind))
        }
        Plan::SessionWindows {
            partition,
            time,
            gap,
            ..
        } => session_windows(partition, time, *gap),
        Plan::EventTimeSessions {
            partition,
            time,
            gap,
            ..
        } => format!(
            "EventTimeSessions partition=[{}] time=#{} gap={} watermark={}",
            columns(partition),
            time.column,
            duration(*gap),
            source_name(catalog, time.source)
        ),
        Plan::Distinct { .. } => "Distinct".into(),
        Plan::Threshold { .. } => "Threshold".into(),
        Plan::Negate { .. } => "Negate".into(),
        Plan::Union { .. } => "Union".into(),
    };
    line(out, depth, &text);
    for child in plan.children() {
        write_dataflow(out, child, depth + 1, catalog);
    }
}

/// `SessionWindows partition=[#0] time=#2 gap=10s`.
fn session_windows(partition: &[usize], time: &ScalarExpr, gap: i64) -> String {
    let gap = if gap % 1_000_000 == 0 {
        format!("{}s", gap / 1_000_000)
    } else {
        format!("{gap}us")
    };
    format!(
        "SessionWindows partition=[{}] time={} gap={gap}",
        columns(partition),
        expr(time)
    )
}

/// The name of catalog item `id` (`u<id>` when it is gone).
fn source_name(catalog: &dyn Catalog, id: laaster_repr::plan::GlobalId) -> String {
    catalog
        .get_by_id(id)
        .map_or_else(|| format!("u{id}"), |item| item.name.clone())
}

/// A span of microseconds: `10s`, or `1500us`.
fn duration(micros: i64) -> String {
    if micros % 1_000_000 == 0 {
        format!("{}s", micros / 1_000_000)
    } else {
        format!("{micros}us")
    }
}

/// `tumble size=10s`, `hop slide=2s size=10s`, `cumulate step=2s max=10s`.
pub fn window_kind(kind: &laaster_repr::plan::WindowKind) -> String {
    use laaster_repr::plan::WindowKind;
    let span = duration;
    match *kind {
        WindowKind::Tumble { size, offset: 0 } => format!("tumble size={}", span(size)),
        WindowKind::Tumble { size, offset } => {
            format!("tumble size={} offset={}", span(size), span(offset))
        }
        WindowKind::Hop { slide, size } => format!("hop slide={} size={}", span(slide), span(size)),
        WindowKind::Cumulate { step, max } => {
            format!("cumulate step={} max={}", span(step), span(max))
        }
    }
}

fn constant(rows: &[(laaster_repr::Row, i64)], arity: usize) -> String {
    if rows.len() > 4 {
        return format!("Constant rows={} arity={arity}", rows.len());
    }
    let shown: Vec<String> = rows
        .iter()
        .map(|(row, diff)| {
            let datums: Vec<String> = row.iter().map(datum).collect();
            let mut text = format!("({})", datums.join(", "));
            if *diff != 1 {
                text.push_str(&format!(" x{diff}"));
            }
            text
        })
        .collect();
    format!("Constant [{}]", shown.join(", "))
}

fn mfp_text(mfp: &MapFilterProject) -> String {
    let mut text = String::from("Mfp");
    if !mfp.expressions.is_empty() {
        text.push_str(&format!(" map={}", exprs_list(&mfp.expressions)));
    }
    if !mfp.predicates.is_empty() {
        text.push_str(&format!(" filter={}", exprs_list(&mfp.predicates)));
    }
    text.push_str(&format!(" project=[{}]", columns(&mfp.projection)));
    text
}

/// `MonotonicReduce ...` for an operator that keeps only what append-only input can
/// still change (see `crate::monotonic`).
fn monotonic_prefix(monotonic: bool, text: String) -> String {
    if monotonic {
        format!("Monotonic{text}")
    } else {
        text
    }
}

fn reduce(group_key: &[usize], aggregates: &[AggregateExpr], global: bool) -> String {
    let aggregates: Vec<String> = aggregates.iter().map(aggregate).collect();
    let mut text = format!(
        "Reduce group_key=[{}] aggregates=[{}]",
        columns(group_key),
        aggregates.join(", ")
    );
    if global {
        text.push_str(" global");
    }
    text
}

fn topk(group_key: &[usize], order: &[SortKey], limit: Option<u64>, offset: u64) -> String {
    let mut text = format!(
        "TopK group_key=[{}] order=[{}]",
        columns(group_key),
        sort_keys(order)
    );
    if let Some(limit) = limit {
        text.push_str(&format!(" limit={limit}"));
    }
    if offset > 0 {
        text.push_str(&format!(" offset={offset}"));
    }
    text
}

fn window(partition: &[usize], order: &[SortKey], func: WindowFunc, limit: Option<u64>) -> String {
    let name = match func {
        WindowFunc::RowNumber => "row_number",
        WindowFunc::Rank => "rank",
        WindowFunc::DenseRank => "dense_rank",
    };
    let mut text = format!(
        "Window func={name} partition=[{}] order=[{}]",
        columns(partition),
        sort_keys(order)
    );
    if let Some(limit) = limit {
        text.push_str(&format!(" limit={limit}"));
    }
    text
}

fn join_kind(kind: JoinKind) -> &'static str {
    match kind {
        JoinKind::Inner => "inner",
        JoinKind::LeftOuter => "left_outer",
        JoinKind::RightOuter => "right_outer",
        JoinKind::FullOuter => "full_outer",
    }
}

fn aggregate(aggregate: &AggregateExpr) -> String {
    let name = match &aggregate.func {
        AggregateFunc::Count => "count",
        AggregateFunc::Sum { .. } => "sum",
        AggregateFunc::Min => "min",
        AggregateFunc::Max => "max",
        AggregateFunc::BoolAnd => "bool_and",
        AggregateFunc::BoolOr => "bool_or",
        AggregateFunc::StringAgg => "string_agg",
        AggregateFunc::ArrayAgg => "array_agg",
    };
    let distinct = if aggregate.distinct { "distinct " } else { "" };
    let mut text = format!("{name}({distinct}{}", exprs(&aggregate.args));
    if !aggregate.order_by.is_empty() {
        let keys: Vec<String> = aggregate
            .order_by
            .iter()
            .map(|(e, key)| format!("{}{}", expr(e), direction(key)))
            .collect();
        text.push_str(&format!(" order_by [{}]", keys.join(", ")));
    }
    text.push(')');
    text
}

fn columns(columns: &[usize]) -> String {
    columns
        .iter()
        .map(|c| format!("#{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn direction(key: &SortKey) -> &'static str {
    match (key.descending, key.nulls_last) {
        (false, true) => "",
        (false, false) => " asc nulls_first",
        (true, false) => " desc",
        (true, true) => " desc nulls_last",
    }
}

fn sort_keys(keys: &[SortKey]) -> String {
    keys.iter()
        .map(|k| format!("#{}{}", k.column, direction(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn exprs(exprs: &[ScalarExpr]) -> String {
    exprs.iter().map(expr).collect::<Vec<_>>().join(", ")
}

fn exprs_list(list: &[ScalarExpr]) -> String {
    format!("[{}]", exprs(list))
}

/// A datum as SQL-ish literal text.
fn datum(datum: &Datum) -> String {
    match datum {
        Datum::Null => "null".into(),
        Datum::Bool(b) => b.to_string(),
        Datum::Int16(v) => v.to_string(),
        Datum::Int32(v) => v.to_string(),
        Datum::Int64(v) => v.to_string(),
        Datum::Float32(v) => v.to_string(),
        Datum::Float64(v) => v.to_string(),
        Datum::Decimal(v) => v.to_string(),
        Datum::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Datum::Array(items) => format!(
            "{{{}}}",
            items.iter().map(self::datum).collect::<Vec<_>>().join(",")
        ),
        Datum::Record(items) => format!(
            "({})",
            items.iter().map(self::datum).collect::<Vec<_>>().join(",")
        ),
        Datum::Interval(i) => format!(
            "interval '{} months {} days {} us'",
            i.months, i.days, i.micros
        ),
        Datum::Date(d) => format!("date({d})"),
        Datum::Time(t) => format!("time({t})"),
        Datum::Timestamp(t) => format!("timestamp({t})"),
        Datum::TimestampTz(t) => format!("timestamptz({t})"),
        Datum::Jsonb(s) => format!("'{}'::jsonb", s.replace('\'', "''")),
        Datum::Bytes(b) => format!("bytes({})", b.len()),
    }
}

fn infix(func: &Func) -> Option<&'static str> {
    Some(match func {
        Func::Eq => "=",
        Func::NotEq => "<>",
        Func::Lt => "<",
        Func::Lte => "<=",
        Func::Gt => ">",
        Func::Gte => ">=",
        Func::Add => "+",
        Func::Sub => "-",
        Func::Mul => "*",
        Func::Div => "/",
        Func::Mod => "%",
        Func::ConcatOp => "||",
        Func::Like {
            case_insensitive: false,
        } => "~~",
        Func::Like {
            case_insensitive: true,
        } => "~~*",
        Func::JsonbGet => "->",
        Func::JsonbGetText => "->>",
        Func::IsDistinctFrom => "IS DISTINCT FROM",
        _ => return None,
    })
}

/// A function's name in EXPLAIN text: its Debug name in snake case.
fn func_name(func: &Func) -> String {
    let debug = match func {
        Func::Extract(field) | Func::DatePart(field) => {
            let name = if matches!(func, Func::Extract(_)) {
                "extract"
            } else {
                "date_part"
            };
            return format!("{name}_{}", snake(&format!("{field:?}")));
        }
        Func::Trim(side) => return format!("trim_{}", snake(&format!("{side:?}"))),
        Func::RecordGet(i) => return format!("record_get_{i}"),
        other => format!("{other:?}"),
    };
    snake(&debug)
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// An expression in EXPLAIN text.
pub fn expr(e: &ScalarExpr) -> String {
    // Recursive with large frames: see `crate::stack`.
    crate::stack::grow(|| expr_inner(e))
}

fn expr_inner(e: &ScalarExpr) -> String {
    match e {
        ScalarExpr::Column(c) => format!("#{c}"),
        ScalarExpr::Literal(d, _) => datum(d),
        ScalarExpr::Error(err) => format!("error(\"{err}\")"),
        ScalarExpr::Call { func, args } => match (func, args.as_slice()) {
            (Func::Cast(t), [a]) => format!("{}::{t}", expr(a)),
            (Func::Not, [a]) => format!("NOT {}", expr(a)),
            (Func::IsNull, [a]) => format!("{} IS NULL", expr(a)),
            (Func::Neg, [a]) => format!("-{}", expr(a)),
            (f, [a, b]) if infix(f).is_some() => {
                format!("({} {} {})", expr(a), infix(f).unwrap_or("?"), expr(b))
            }
            (f, args) => format!("{}({})", func_name(f), exprs(args)),
        },
        ScalarExpr::If { cond, then, els } => {
            format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                expr(cond),
                expr(then),
                expr(els)
            )
        }
        ScalarExpr::And(args) => format!(
            "({})",
            args.iter().map(expr).collect::<Vec<_>>().join(" AND ")
        ),
        ScalarExpr::Or(args) => format!(
            "({})",
            args.iter().map(expr).collect::<Vec<_>>().join(" OR ")
        ),
        ScalarExpr::Coalesce(args) => format!("coalesce({})", exprs(args)),
    }
}
