//! Window Top-N: a filter `rn <= N` (or `rn < N`, `rn = 1`) directly over the `Window`
//! that computes `rn` sets the window's `limit`, so only the top rows of each partition
//! are kept incrementally. The filter stays (it is still correct, and cheap).

use laaster_repr::{Datum, Func, ScalarExpr};

use super::{OptimizerRule, transform_up};
use crate::error::PlanError;
use crate::logical::LogicalPlan;

pub struct WindowTopN;

impl OptimizerRule for WindowTopN {
    fn name(&self) -> &'static str {
        "window_topn"
    }

    fn apply(&self, plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
        transform_up(plan, &|node| {
            Ok(match node {
                LogicalPlan::Filter { input, predicates } => match *input {
                    LogicalPlan::Window {
                        input: window_input,
                        partition,
                        order,
                        func,
                        limit,
                    } => {
                        let column = window_input.arity();
                        let bound = predicates
                            .iter()
                            .filter_map(|p| upper_bound(p, column))
                            .min();
                        let limit = match (limit, bound) {
                            (Some(l), Some(b)) => Some(l.min(b)),
                            (l, b) => l.or(b),
                        };
                        LogicalPlan::Filter {
                            input: Box::new(LogicalPlan::Window {
                                input: window_input,
                                partition,
                                order,
                                func,
                                limit,
                            }),
                            predicates,
                        }
                    }
                    other => LogicalPlan::Filter {
                        input: Box::new(other),
                        predicates,
                    },
                },
                other => other,
            })
        })
    }
}

/// An integer literal, possibly under a cast.
fn integer(expr: &ScalarExpr) -> Option<i64> {
    match expr {
        ScalarExpr::Literal(datum, _) => match datum {
            Datum::Decimal(d) if d.fract().is_zero() => i64::try_from(*d).ok(),
            other => other.as_i64(),
        },
        ScalarExpr::Call {
            func: Func::Cast(_),
            args,
        } if args.len() == 1 => integer(&args[0]),
        _ => None,
    }
}

/// The largest value of column `column` that `predicate` admits, if it bounds it.
fn upper_bound(predicate: &ScalarExpr, column: usize) -> Option<u64> {
    let ScalarExpr::Call { func, args } = predicate else {
        return None;
    };
    let [a, b] = args.as_slice() else { return None };
    let is_column = |e: &ScalarExpr| matches!(e, ScalarExpr::Column(c) if *c == column);
    let bound = match func {
        Func::Lte if is_column(a) => integer(b)?,
        Func::Lt if is_column(a) => integer(b)?.checked_sub(1)?,
        Func::Gte if is_column(b) => integer(a)?,
        Func::Gt if is_column(b) => integer(a)?.checked_sub(1)?,
        Func::Eq if is_column(a) => integer(b)?,
        Func::Eq if is_column(b) => integer(a)?,
        _ => return None,
    };
    u64::try_from(bound.max(0)).ok()
}

#[cfg(test)]
mod tests {
    use laaster_repr::ScalarType;

    use super::*;

    #[test]
    fn extreme_bounds_do_not_overflow() {
        let rn = ScalarExpr::column(3);
        let lit = |v: i64| ScalarExpr::literal(Datum::Int64(v), ScalarType::Int64);
        let bound = |func, a, b| upper_bound(&ScalarExpr::call2(func, a, b), 3);
        assert_eq!(bound(Func::Lt, rn.clone(), lit(i64::MIN)), None);
        assert_eq!(bound(Func::Gt, lit(i64::MIN), rn.clone()), None);
        assert_eq!(bound(Func::Lt, rn.clone(), lit(3)), Some(2));
        assert_eq!(bound(Func::Lte, rn.clone(), lit(-5)), Some(0));
        assert_eq!(
            bound(Func::Lte, rn.clone(), lit(i64::MAX)),
            Some(i64::MAX as u64)
        );
    }
}
