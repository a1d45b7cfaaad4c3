//! Simplifies expressions whose value is known (`true AND p` → `p`, `NOT false`,
//! `CASE WHEN true ...`, comparisons of literals), drops always-true predicates, and
//! replaces relations that can have no rows (a filter that is never true, operators over
//! an empty constant) by an empty constant. Evaluation errors are never folded away:
//! an expression that fails stays in the plan and fails at run time, as data.

use laaster_repr::plan::JoinKind;
use laaster_repr::{Datum, Func, ScalarExpr, ScalarType};

use super::{OptimizerRule, transform_up};
use crate::error::PlanError;
use crate::logical::{LogicalPlan, conjuncts};

pub struct FoldConstants;

impl OptimizerRule for FoldConstants {
    fn name(&self) -> &'static str {
        "fold_constants"
    }

    fn apply(&self, plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
        transform_up(plan, &|node| Ok(fold_node(node)))
    }
}

fn is_empty(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Constant { rows, .. } if rows.is_empty())
}

fn fold_node(node: LogicalPlan) -> LogicalPlan {
    let arity = node.arity();
    let empty = LogicalPlan::empty(arity);
    match node {
        LogicalPlan::Filter { input, predicates } => {
            if is_empty(&input) {
                return empty;
            }
            let mut kept = Vec::new();
            for predicate in predicates {
                conjuncts(simplify(predicate), &mut kept);
            }
            if kept.iter().any(is_false_or_null) {
                return empty;
            }
            input_or(*input, kept)
        }
        LogicalPlan::Map { input, exprs } if is_empty(&input) => {
            let _ = exprs;
            empty
        }
        LogicalPlan::Map { input, exprs } => LogicalPlan::Map {
            input,
            exprs: exprs.into_iter().map(simplify).collect(),
        },
        LogicalPlan::Join {
            left,
            right,
            kind,
            equi,
            on,
        } => {
            let mut kept = Vec::new();
            for predicate in on {
                conjuncts(simplify(predicate), &mut kept);
            }
            let left_empty = is_empty(&left);
            let right_empty = is_empty(&right);
            let never = kept.iter().any(is_false_or_null);
            match kind {
                JoinKind::Inner if left_empty || right_empty || never => return empty,
                JoinKind::LeftOuter if left_empty => return empty,
                JoinKind::RightOuter if right_empty => return empty,
                JoinKind::FullOuter if left_empty && right_empty => return empty,
                _ => {}
            }
            LogicalPlan::Join {
                left,
                right,
                kind,
                equi: equi
                    .into_iter()
                    .map(|(l, r)| (simplify(l), simplify(r)))
                    .collect(),
                on: kept,
            }
        }
        LogicalPlan::Project { ref input, .. }
        | LogicalPlan::Mfp { ref input, .. }
        | LogicalPlan::TopK { ref input, .. }
        | LogicalPlan::Window { ref input, .. }
        | LogicalPlan::Windows { ref input, .. }
        | LogicalPlan::Distinct { ref input }
        | LogicalPlan::Threshold { ref input }
        | LogicalPlan::Negate { ref input }
            if is_empty(input) =>
        {
            empty
        }
        LogicalPlan::Reduce {
            ref input,
            global: false,
            ..
        } if is_empty(input) => empty,
        LogicalPlan::Union { inputs } => {
            let inputs: Vec<LogicalPlan> = inputs.into_iter().filter(|i| !is_empty(i)).collect();
            if inputs.is_empty() {
                empty
            } else {
                LogicalPlan::Union { inputs }
            }
        }
        other => other,
    }
}

fn input_or(input: LogicalPlan, predicates: Vec<ScalarExpr>) -> LogicalPlan {
    input.filter(predicates)
}

fn is_false_or_null(expr: &ScalarExpr) -> bool {
    matches!(
        expr,
        ScalarExpr::Literal(Datum::Bool(false) | Datum::Null, _)
    )
}

fn bool_literal(b: bool) -> ScalarExpr {
    ScalarExpr::literal(Datum::Bool(b), ScalarType::Bool)
}

/// Simplifies an expression bottom-up.
pub(crate) fn simplify(mut expr: ScalarExpr) -> ScalarExpr {
    expr.visit_mut(&mut |e| {
        let taken = std::mem::replace(e, ScalarExpr::literal_true());
        *e = simplify_node(taken);
    });
    expr
}

fn simplify_node(expr: ScalarExpr) -> ScalarExpr {
    match expr {
        ScalarExpr::And(args) => simplify_junction(args, true),
        ScalarExpr::Or(args) => simplify_junction(args, false),
        ScalarExpr::If { cond, then, els } => match *cond {
            ScalarExpr::Literal(Datum::Bool(true), _) => *then,
            ScalarExpr::Literal(Datum::Bool(false) | Datum::Null, _) => *els,
            cond => ScalarExpr::If {
                cond: Box::new(cond),
                then,
                els,
            },
        },
        ScalarExpr::Coalesce(args) => {
            let first_null = args.first().cloned();
            let mut kept: Vec<ScalarExpr> = Vec::new();
            for arg in args {
                if matches!(arg, ScalarExpr::Literal(Datum::Null, _)) {
                    continue;
                }
                let stop = matches!(arg, ScalarExpr::Literal(..));
                kept.push(arg);
                if stop {
                    break;
                }
            }
            match kept.len() {
                0 => first_null.unwrap_or_else(|| ScalarExpr::null(ScalarType::Unknown)),
                1 if matches!(kept[0], ScalarExpr::Literal(..)) => kept.remove(0),
                _ => ScalarExpr::Coalesce(kept),
            }
        }
        ScalarExpr::Call { func, args } if args.iter().all(ScalarExpr::is_literal) => {
            let typ = match &func {
                Func::Not
                | Func::IsNull
                | Func::IsTrue
                | Func::IsFalse
                | Func::Eq
                | Func::NotEq
                | Func::Lt
                | Func::Lte
                | Func::Gt
                | Func::Gte
                | Func::IsDistinctFrom => Some(ScalarType::Bool),
                Func::Cast(t) => Some(t.clone()),
                _ => None,
            };
            let call = ScalarExpr::Call { func, args };
            match typ.map(|t| (call.eval(&[]), t)) {
                Some((Ok(datum), t)) => ScalarExpr::literal(datum, t),
                _ => call,
            }
        }
        other => other,
    }
}

fn simplify_junction(args: Vec<ScalarExpr>, and: bool) -> ScalarExpr {
    let mut flat = Vec::new();
    for arg in args {
        match (arg, and) {
            (ScalarExpr::And(inner), true) | (ScalarExpr::Or(inner), false) => flat.extend(inner),
            (other, _) => flat.push(other),
        }
    }
    let mut kept = Vec::new();
    // Duplicates are dropped through a hash set: long `x = 1 OR x = 2 OR ...` chains and
    // `IN` lists would make a linear search quadratic.
    let mut seen = std::collections::HashSet::new();
    for arg in flat {
        match arg {
            ScalarExpr::Literal(Datum::Bool(b), _) if b == and => {}
            ScalarExpr::Literal(Datum::Bool(b), _) if b != and => return bool_literal(b),
            other => {
                if seen.insert(other.clone()) {
                    kept.push(other)
                }
            }
        }
    }
    match kept.len() {
        0 => bool_literal(and),
        1 => kept.remove(0),
        _ if and => ScalarExpr::And(kept),
        _ => ScalarExpr::Or(kept),
    }
}
