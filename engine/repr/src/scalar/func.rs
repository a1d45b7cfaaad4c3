//! Implementations of [`Func`]: one function per SQL built-in, dispatching on datum
//! variants. Callers have already handled strictness (no `NULL` reaches a strict
//! function here).

use serde::{Deserialize, Serialize};

use super::Func;
use crate::{Datum, EvalError};

/// Which side `trim` strips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TrimSide {
    Both,
    Leading,
    Trailing,
}

/// A field of a date, time, timestamp or interval (`extract`, `date_part`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DateTimeField {
    Millennium,
    Century,
    Decade,
    Year,
    Quarter,
    Month,
    Week,
    Day,
    DayOfWeek,
    IsoDayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Second,
    Milliseconds,
    Microseconds,
    Epoch,
}

pub(super) fn apply(func: &Func, args: &[Datum]) -> Result<Datum, EvalError> {
    match (func, args) {
        (Func::Not, [Datum::Bool(b)]) => Ok(Datum::Bool(!b)),
        (Func::IsNull, [d]) => Ok(Datum::Bool(d.is_null())),
        (Func::Eq, [a, b]) => Ok(Datum::Bool(a == b)),
        (Func::NotEq, [a, b]) => Ok(Datum::Bool(a != b)),
        (Func::Lt, [a, b]) => Ok(Datum::Bool(a < b)),
        (Func::Lte, [a, b]) => Ok(Datum::Bool(a <= b)),
        (Func::Gt, [a, b]) => Ok(Datum::Bool(a > b)),
        (Func::Gte, [a, b]) => Ok(Datum::Bool(a >= b)),
        (Func::Add, [Datum::Int64(a), Datum::Int64(b)]) => a
            .checked_add(*b)
            .map(Datum::Int64)
            .ok_or_else(|| EvalError::OutOfRange("bigint".into())),
        _ => Err(EvalError::Other(format!(
            "function {func:?} is not implemented for arguments {args:?}"
        ))),
    }
}
