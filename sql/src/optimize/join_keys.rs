//! Extracts equi-join keys: a join condition conjunct `f(left) = g(right)` becomes the
//! key pair `(f, g)` (NULL never matches, as SQL equality), and `f IS NOT DISTINCT FROM
//! g` becomes a NULL-safe key pair (both sides wrapped in a one-field record, which is
//! never NULL itself). What remains is the residual condition.

use laaster_repr::{Func, ScalarExpr};

use super::{OptimizerRule, transform_up};
use crate::error::PlanError;
use crate::logical::{LogicalPlan, local_columns, remapped};

pub struct JoinKeys;

impl OptimizerRule for JoinKeys {
    fn name(&self) -> &'static str {
        "join_keys"
    }

    fn apply(&self, plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
        transform_up(plan, &|node| {
            Ok(match node {
                LogicalPlan::Join {
                    left,
                    right,
                    kind,
                    mut equi,
                    on,
                } => {
                    let nl = left.arity();
                    let mut residual = Vec::new();
                    for predicate in on {
                        match key_pair(&predicate, nl) {
                            Some(pair) => {
                                if !equi.contains(&pair) {
                                    equi.push(pair)
                                }
                            }
                            None => residual.push(predicate),
                        }
                    }
                    LogicalPlan::Join {
                        left,
                        right,
                        kind,
                        equi,
                        on: residual,
                    }
                }
                other => other,
            })
        })
    }
}

/// Which side of a join an expression reads, if only one (and at least one column).
fn side(expr: &ScalarExpr, nl: usize) -> Option<bool> {
    let columns = local_columns(expr);
    if columns.is_empty() {
        None
    } else if columns.iter().all(|&c| c < nl) {
        Some(true)
    } else if columns.iter().all(|&c| c >= nl) {
        Some(false)
    } else {
        None
    }
}

fn key_pair(predicate: &ScalarExpr, nl: usize) -> Option<(ScalarExpr, ScalarExpr)> {
    let (a, b, null_safe) = match predicate {
        ScalarExpr::Call {
            func: Func::Eq,
            args,
        } if args.len() == 2 => (&args[0], &args[1], false),
        ScalarExpr::Call {
            func: Func::Not,
            args,
        } if args.len() == 1 => match &args[0] {
            ScalarExpr::Call {
                func: Func::IsDistinctFrom,
                args,
            } if args.len() == 2 => (&args[0], &args[1], true),
            _ => return None,
        },
        _ => return None,
    };
    let (l, r) = match (side(a, nl)?, side(b, nl)?) {
        (true, false) => (a.clone(), b.clone()),
        (false, true) => (b.clone(), a.clone()),
        _ => return None,
    };
    let r = remapped(r, &|c| c - nl);
    if null_safe {
        let wrap = |e| ScalarExpr::call(Func::MakeRecord, vec![e]);
        Some((wrap(l), wrap(r)))
    } else {
        Some((l, r))
    }
}
