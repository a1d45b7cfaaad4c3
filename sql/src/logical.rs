//! [`LogicalPlan`]: the relational plan the query planner builds and the optimizer
//! rewrites, before [`crate::lower`] turns it into the dataflow [`Plan`].
//!
//! It is the dataflow IR with maps, filters and projections kept apart (so rules can
//! move them one at a time) and joins carrying their whole `ON` condition as conjuncts;
//! the optimizer extracts equi-join keys and fuses map/filter/project chains into one
//! [`MapFilterProject`]. Column references index the node's input, as in [`Plan`].
//!
//! [`Plan`]: laaster_repr::plan::Plan

use laaster_repr::plan::{
    AggregateExpr, GlobalId, JoinKind, MapFilterProject, SortKey, WindowFunc, WindowKind,
};
use laaster_repr::{Diff, Row, ScalarExpr};

/// Column indexes at or above this value, inside a subquery being planned, are references
/// to the enclosing query's columns (`OUTER_BASE + i` is the outer column `i`). They
/// exist only between planning a correlated subquery and decorrelating it.
pub const OUTER_BASE: usize = 1 << 40;

/// A relational operator tree; see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub enum LogicalPlan {
    /// A table or materialized view (`name` is for EXPLAIN only).
    Get {
        id: GlobalId,
        name: String,
        arity: usize,
    },
    /// Literal rows.
    Constant {
        rows: Vec<(Row, Diff)>,
        arity: usize,
    },
    /// Appends one column per expression; each may read earlier appended columns.
    Map {
        input: Box<LogicalPlan>,
        exprs: Vec<ScalarExpr>,
    },
    /// Keeps rows where every predicate is true.
    Filter {
        input: Box<LogicalPlan>,
        predicates: Vec<ScalarExpr>,
    },
    /// Keeps the listed columns, in order (repeats allowed).
    Project {
        input: Box<LogicalPlan>,
        columns: Vec<usize>,
    },
    /// A fused map, filter and project (produced by the optimizer).
    Mfp {
        input: Box<LogicalPlan>,
        mfp: MapFilterProject,
    },
    /// A join: `equi` pairs (left expression, right expression) must be equal (NULL
    /// never equals), and every `on` conjunct (over left ++ right) must be true.
    Join {
        left: Box<LogicalPlan>,
        right: Box<LogicalPlan>,
        kind: JoinKind,
        equi: Vec<(ScalarExpr, ScalarExpr)>,
        on: Vec<ScalarExpr>,
    },
    Reduce {
        input: Box<LogicalPlan>,
        group_key: Vec<usize>,
        aggregates: Vec<AggregateExpr>,
        global: bool,
    },
    TopK {
        input: Box<LogicalPlan>,
        group_key: Vec<usize>,
        order: Vec<SortKey>,
        limit: Option<u64>,
        offset: u64,
    },
    Window {
        input: Box<LogicalPlan>,
        partition: Vec<usize>,
        order: Vec<SortKey>,
        func: WindowFunc,
        limit: Option<u64>,
    },
    /// Event-time windows (TUMBLE, HOP, CUMULATE): one row per window containing
    /// `time`, with `window_start`, `window_end`, `window_time` appended (see
    /// `Plan::Windows`).
    Windows {
        input: Box<LogicalPlan>,
        time: ScalarExpr,
        kind: WindowKind,
    },
    /// Session windows (`SESSION`): per `partition` key, rows whose `time`s are closer
    /// than `gap` (microseconds) share a session; each row gets its session's
    /// `window_start`, `window_end`, `window_time` appended (see `Plan::SessionWindows`).
    SessionWindows {
        input: Box<LogicalPlan>,
        partition: Vec<usize>,
        time: ScalarExpr,
        gap: i64,
    },
    Distinct {
        input: Box<LogicalPlan>,
    },
    Threshold {
        input: Box<LogicalPlan>,
    },
    Negate {
        input: Box<LogicalPlan>,
    },
    Union {
        inputs: Vec<LogicalPlan>,
    },
}

impl LogicalPlan {
    /// Number of output columns.
    pub fn arity(&self) -> usize {
        match self {
            LogicalPlan::Get { arity, .. } | LogicalPlan::Constant { arity, .. } => *arity,
            LogicalPlan::Map { input, exprs } => input.arity() + exprs.len(),
            LogicalPlan::Project { columns, .. } => columns.len(),
            LogicalPlan::Mfp { mfp, .. } => mfp.output_arity(),
            LogicalPlan::Join { left, right, .. } => left.arity() + right.arity(),
            LogicalPlan::Reduce {
                group_key,
                aggregates,
                ..
            } => group_key.len() + aggregates.len(),
            LogicalPlan::Window { input, .. } => input.arity() + 1,
            LogicalPlan::Windows { input, .. } | LogicalPlan::SessionWindows { input, .. } => {
                input.arity() + 3
            }
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::TopK { input, .. }
            | LogicalPlan::Distinct { input }
            | LogicalPlan::Threshold { input }
            | LogicalPlan::Negate { input } => input.arity(),
            LogicalPlan::Union { inputs } => inputs.first().map_or(0, LogicalPlan::arity),
        }
    }

    /// The one-row, zero-column relation (`SELECT` without `FROM`).
    pub fn unit() -> LogicalPlan {
        LogicalPlan::Constant {
            rows: vec![(Row::empty(), 1)],
            arity: 0,
        }
    }

    /// The empty relation of `arity` columns.
    pub fn empty(arity: usize) -> LogicalPlan {
        LogicalPlan::Constant {
            rows: Vec::new(),
            arity,
        }
    }

    pub fn map(self, exprs: Vec<ScalarExpr>) -> LogicalPlan {
        if exprs.is_empty() {
            return self;
        }
        LogicalPlan::Map {
            input: Box::new(self),
            exprs,
        }
    }

    pub fn filter(self, predicates: Vec<ScalarExpr>) -> LogicalPlan {
        if predicates.is_empty() {
            return self;
        }
        LogicalPlan::Filter {
            input: Box::new(self),
            predicates,
        }
    }

    pub fn project(self, columns: Vec<usize>) -> LogicalPlan {
        if columns.len() == self.arity() && columns.iter().enumerate().all(|(i, &c)| i == c) {
            return self;
        }
        LogicalPlan::Project {
            input: Box::new(self),
            columns,
        }
    }

    pub fn distinct(self) -> LogicalPlan {
        LogicalPlan::Distinct {
            input: Box::new(self),
        }
    }

    pub fn negate(self) -> LogicalPlan {
        LogicalPlan::Negate {
            input: Box::new(self),
        }
    }

    pub fn threshold(self) -> LogicalPlan {
        LogicalPlan::Threshold {
            input: Box::new(self),
        }
    }

    pub fn join(self, right: LogicalPlan, kind: JoinKind, on: Vec<ScalarExpr>) -> LogicalPlan {
        LogicalPlan::Join {
            left: Box::new(self),
            right: Box::new(right),
            kind,
            equi: Vec::new(),
            on,
        }
    }

    /// The children of this node.
    pub fn children(&self) -> Vec<&LogicalPlan> {
        match self {
            LogicalPlan::Get { .. } | LogicalPlan::Constant { .. } => vec![],
            LogicalPlan::Map { input, .. }
            | LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Mfp { input, .. }
            | LogicalPlan::Reduce { input, .. }
            | LogicalPlan::TopK { input, .. }
            | LogicalPlan::Window { input, .. }
            | LogicalPlan::Windows { input, .. }
            | LogicalPlan::SessionWindows { input, .. }
            | LogicalPlan::Distinct { input }
            | LogicalPlan::Threshold { input }
            | LogicalPlan::Negate { input } => vec![input],
            LogicalPlan::Join { left, right, .. } => vec![left, right],
            LogicalPlan::Union { inputs } => inputs.iter().collect(),
        }
    }

    /// Mutable access to the children of this node.
    pub fn children_mut(&mut self) -> Vec<&mut LogicalPlan> {
        match self {
            LogicalPlan::Get { .. } | LogicalPlan::Constant { .. } => vec![],
            LogicalPlan::Map { input, .. }
            | LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Mfp { input, .. }
            | LogicalPlan::Reduce { input, .. }
            | LogicalPlan::TopK { input, .. }
            | LogicalPlan::Window { input, .. }
            | LogicalPlan::Windows { input, .. }
            | LogicalPlan::SessionWindows { input, .. }
            | LogicalPlan::Distinct { input }
            | LogicalPlan::Threshold { input }
            | LogicalPlan::Negate { input } => vec![input],
            LogicalPlan::Join { left, right, .. } => vec![left, right],
            LogicalPlan::Union { inputs } => inputs.iter_mut().collect(),
        }
    }

    /// Calls `f` on every scalar expression held by this node (not its children).
    pub fn visit_node_exprs(&self, f: &mut impl FnMut(&ScalarExpr)) {
        match self {
            LogicalPlan::Map { exprs, .. } => exprs.iter().for_each(f),
            LogicalPlan::Filter { predicates, .. } => predicates.iter().for_each(f),
            LogicalPlan::Windows { time, .. } | LogicalPlan::SessionWindows { time, .. } => f(time),
            LogicalPlan::Mfp { mfp, .. } => {
                mfp.expressions.iter().chain(&mfp.predicates).for_each(f)
            }
            LogicalPlan::Join { equi, on, .. } => {
                for (l, r) in equi {
                    f(l);
                    f(r);
                }
                on.iter().for_each(f)
            }
            LogicalPlan::Reduce { aggregates, .. } => {
                for aggregate in aggregates {
                    aggregate.args.iter().for_each(&mut *f);
                    aggregate.order_by.iter().for_each(|(e, _)| f(e));
                }
            }
            _ => {}
        }
    }

    /// Whether any expression anywhere in the tree satisfies `pred`.
    pub fn any_expr(&self, pred: &impl Fn(&ScalarExpr) -> bool) -> bool {
        let mut found = false;
        self.visit_node_exprs(&mut |e| e.visit(&mut |s| found |= pred(s)));
        found || self.children().iter().any(|c| c.any_expr(pred))
    }

    /// Outer-column references (`OUTER_BASE + i` → `i`) anywhere in the tree, sorted.
    pub fn outer_references(&self) -> Vec<usize> {
        let mut found = Vec::new();
        collect_outer(self, &mut found);
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Whether the tree reads any outer column.
    pub fn is_correlated(&self) -> bool {
        self.any_expr(&|e| matches!(e, ScalarExpr::Column(c) if *c >= OUTER_BASE))
    }
}

fn collect_outer(plan: &LogicalPlan, found: &mut Vec<usize>) {
    plan.visit_node_exprs(&mut |e| {
        e.visit(&mut |s| {
            if let ScalarExpr::Column(c) = s
                && *c >= OUTER_BASE
            {
                found.push(*c - OUTER_BASE);
            }
        })
    });
    for child in plan.children() {
        collect_outer(child, found);
    }
}

/// Renumbers the (local) column references of `expr` through `map`; outer references
/// are left alone.
pub fn remap(expr: &mut ScalarExpr, map: &impl Fn(usize) -> usize) {
    expr.visit_mut(&mut |e| {
        if let ScalarExpr::Column(c) = e
            && *c < OUTER_BASE
        {
            *c = map(*c);
        }
    });
}

/// `expr` with its local columns renumbered through `map`.
pub fn remapped(mut expr: ScalarExpr, map: &impl Fn(usize) -> usize) -> ScalarExpr {
    remap(&mut expr, map);
    expr
}

/// Splits a predicate into its top-level conjuncts.
pub fn conjuncts(expr: ScalarExpr, out: &mut Vec<ScalarExpr>) {
    match expr {
        ScalarExpr::And(args) => args.into_iter().for_each(|a| conjuncts(a, out)),
        ScalarExpr::Literal(laaster_repr::Datum::Bool(true), _) => {}
        other => out.push(other),
    }
}

/// Local columns read by `expr` (outer references excluded).
pub fn local_columns(expr: &ScalarExpr) -> Vec<usize> {
    expr.columns()
        .into_iter()
        .filter(|&c| c < OUTER_BASE)
        .collect()
}
