//! Implementations of [`Func`]: one function per SQL built-in, dispatching on datum
//! variants. Callers have already handled strictness (no `NULL` reaches a strict
//! function here).
//!
//! The functions are grouped by concept: [`numeric`] (arithmetic and math),
//! [`datetime`] (date/time arithmetic, `extract`, `date_trunc`), [`string`] (text
//! functions, `LIKE`, regular expressions), [`to_char`] (formatting), [`date_format`]
//! (Flink's `DATE_FORMAT` with Java date patterns). Comparison, null
//! handling, jsonb access, arrays and records are small enough to live here.

mod date_format;
mod datetime;
mod numeric;
mod string;
mod to_char;

use std::cmp::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Func;
use crate::cast::cast_datum;
use crate::jsonb::{JsonbPath, jsonb_get_datum, jsonb_get_text_datum};
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

/// The error for a function called with argument variants it has no implementation
/// for (a planner bug, or a type combination Laaster does not support).
pub(crate) fn unsupported(func: &Func, args: &[Datum]) -> EvalError {
    let types: Vec<&str> = args.iter().map(crate::cast::datum_type_name).collect();
    EvalError::Other(format!(
        "function {func:?} is not supported for argument types ({})",
        types.join(", ")
    ))
}

pub(super) fn apply(func: &Func, args: &[Datum]) -> Result<Datum, EvalError> {
    match func {
        Func::Not => match args {
            [Datum::Bool(b)] => Ok(Datum::Bool(!b)),
            _ => Err(unsupported(func, args)),
        },
        Func::IsNull => match args {
            [d] => Ok(Datum::Bool(d.is_null())),
            _ => Err(unsupported(func, args)),
        },
        Func::IsTrue => match args {
            [d] => Ok(Datum::Bool(matches!(d, Datum::Bool(true)))),
            _ => Err(unsupported(func, args)),
        },
        Func::IsFalse => match args {
            [d] => Ok(Datum::Bool(matches!(d, Datum::Bool(false)))),
            _ => Err(unsupported(func, args)),
        },
        Func::Eq => compare(func, args, Ordering::is_eq),
        Func::NotEq => compare(func, args, Ordering::is_ne),
        Func::Lt => compare(func, args, Ordering::is_lt),
        Func::Lte => compare(func, args, Ordering::is_le),
        Func::Gt => compare(func, args, Ordering::is_gt),
        Func::Gte => compare(func, args, Ordering::is_ge),
        Func::IsDistinctFrom => match args {
            [Datum::Null, Datum::Null] => Ok(Datum::Bool(false)),
            [Datum::Null, _] | [_, Datum::Null] => Ok(Datum::Bool(true)),
            [a, b] => Ok(Datum::Bool(compare_datums(a, b)? != Ordering::Equal)),
            _ => Err(unsupported(func, args)),
        },
        Func::Neg
        | Func::Add
        | Func::Sub
        | Func::Mul
        | Func::Div
        | Func::Mod
        | Func::Power
        | Func::Abs
        | Func::Sqrt
        | Func::Ln
        | Func::Log10
        | Func::Exp
        | Func::Sign
        | Func::Floor
        | Func::Ceil
        | Func::Round
        | Func::Trunc => numeric::apply(func, args),
        Func::Cast(to) => match args {
            [d] => cast_datum(d, to),
            _ => Err(unsupported(func, args)),
        },
        Func::Lower
        | Func::Upper
        | Func::Length
        | Func::OctetLength
        | Func::Substring
        | Func::Trim(_)
        | Func::Concat
        | Func::ConcatOp
        | Func::Position
        | Func::Replace
        | Func::SplitPart
        | Func::Left
        | Func::Right
        | Func::Lpad
        | Func::Rpad
        | Func::RegexpMatch
        | Func::RegexpReplace
        | Func::RegexpExtract
        | Func::SplitIndex
        | Func::StartsWith
        | Func::Like { .. } => string::apply(func, args),
        Func::NullIf => match args {
            [Datum::Null, _] => Ok(Datum::Null),
            [a, Datum::Null] => Ok(a.clone()),
            [a, b] if compare_datums(a, b)? == Ordering::Equal => Ok(Datum::Null),
            [a, _] => Ok(a.clone()),
            _ => Err(unsupported(func, args)),
        },
        Func::Greatest => extreme(args, Ordering::Greater),
        Func::Least => extreme(args, Ordering::Less),
        Func::Extract(field) => match args {
            [d] => datetime::extract(*field, d),
            _ => Err(unsupported(func, args)),
        },
        Func::ExtractBigint(field) => match args {
            [d] => datetime::extract_bigint(*field, d),
            _ => Err(unsupported(func, args)),
        },
        Func::DatePart(field) => match args {
            [d] => datetime::date_part(*field, d),
            _ => Err(unsupported(func, args)),
        },
        Func::DateTrunc => match args {
            [Datum::Text(unit), value] => datetime::date_trunc(unit, value),
            _ => Err(unsupported(func, args)),
        },
        Func::ToChar => match args {
            [value, Datum::Text(format)] => to_char::to_char(value, format),
            _ => Err(unsupported(func, args)),
        },
        Func::DateFormat => match args {
            [value, Datum::Text(format)] => date_format::date_format(value, format),
            _ => Err(unsupported(func, args)),
        },
        Func::JsonbGet | Func::JsonbGetText => jsonb_access(func, args),
        Func::MakeArray => Ok(Datum::Array(Arc::from(args))),
        Func::ArrayIndex => match args {
            [Datum::Array(elements), index] => {
                let index = index.as_i64().ok_or_else(|| unsupported(func, args))?;
                Ok(index
                    .checked_sub(1)
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| elements.get(i))
                    .cloned()
                    .unwrap_or(Datum::Null))
            }
            _ => Err(unsupported(func, args)),
        },
        Func::ArrayLength => match args {
            [Datum::Array(elements), dimension] => {
                let dimension = dimension.as_i64().ok_or_else(|| unsupported(func, args))?;
                Ok(array_length(elements, dimension))
            }
            _ => Err(unsupported(func, args)),
        },
        Func::MakeRecord => Ok(Datum::Record(Arc::from(args))),
        Func::CountChar => match args {
            [_, Datum::Null] => Ok(Datum::Null),
            [Datum::Null, _] => Ok(Datum::Int64(0)),
            [Datum::Text(s), Datum::Text(c)] => match c.chars().next() {
                Some(wanted) => Ok(Datum::Int64(
                    i64::try_from(s.chars().filter(|&ch| ch == wanted).count()).unwrap_or(i64::MAX),
                )),
                None => Err(EvalError::Other(
                    "count_char: the character argument is empty".into(),
                )),
            },
            _ => Err(unsupported(func, args)),
        },
        Func::Proctime => {
            let since_epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Ok(Datum::Timestamp(
                i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX),
            ))
        }
        Func::RecordGet(index) => match args {
            [Datum::Record(fields)] => fields
                .get(*index)
                .cloned()
                .ok_or_else(|| EvalError::Other(format!("record has no field {}", index + 1))),
            _ => Err(unsupported(func, args)),
        },
    }
}

/// Compares two non-null datums of the same SQL type. Same-variant datums use the
/// datum order (which is Postgres' order for each type); mixed numeric or date/time
/// variants are promoted first, as a defense against an uncoerced plan.
pub(crate) fn compare_datums(a: &Datum, b: &Datum) -> Result<Ordering, EvalError> {
    if std::mem::discriminant(a) == std::mem::discriminant(b) {
        return Ok(a.cmp(b));
    }
    use Datum::*;
    match (a, b) {
        (Int16(_) | Int32(_) | Int64(_), Int16(_) | Int32(_) | Int64(_)) => {
            Ok(a.as_i64().cmp(&b.as_i64()))
        }
        (
            Int16(_) | Int32(_) | Int64(_) | Decimal(_),
            Int16(_) | Int32(_) | Int64(_) | Decimal(_),
        ) => Ok(numeric::to_decimal(a)?.cmp(&numeric::to_decimal(b)?)),
        (
            Int16(_) | Int32(_) | Int64(_) | Decimal(_) | Float32(_) | Float64(_),
            Int16(_) | Int32(_) | Int64(_) | Decimal(_) | Float32(_) | Float64(_),
        ) => {
            let (x, y) = (numeric::to_f64(a)?, numeric::to_f64(b)?);
            Ok(ordered_float::OrderedFloat(x).cmp(&ordered_float::OrderedFloat(y)))
        }
        (Date(_) | Timestamp(_) | TimestampTz(_), Date(_) | Timestamp(_) | TimestampTz(_)) => {
            Ok(datetime::to_timestamp(a)?.cmp(&datetime::to_timestamp(b)?))
        }
        (Text(x), Jsonb(y)) => Ok(x.as_ref().cmp(y.as_str())),
        (Jsonb(x), Text(y)) => Ok(x.as_str().cmp(y.as_ref())),
        _ => Err(EvalError::Other(format!(
            "cannot compare {} with {}",
            crate::cast::datum_type_name(a),
            crate::cast::datum_type_name(b)
        ))),
    }
}

fn compare(func: &Func, args: &[Datum], test: fn(Ordering) -> bool) -> Result<Datum, EvalError> {
    match args {
        [a, b] => Ok(Datum::Bool(test(compare_datums(a, b)?))),
        _ => Err(unsupported(func, args)),
    }
}

/// `greatest`/`least`: the extreme non-null argument; `NULL` if all are null.
fn extreme(args: &[Datum], keep: Ordering) -> Result<Datum, EvalError> {
    let mut best: Option<&Datum> = None;
    for arg in args.iter().filter(|a| !a.is_null()) {
        best = match best {
            Some(current) if compare_datums(arg, current)? != keep => Some(current),
            _ => Some(arg),
        };
    }
    Ok(best.cloned().unwrap_or(Datum::Null))
}

fn jsonb_access(func: &Func, args: &[Datum]) -> Result<Datum, EvalError> {
    let (document, path) = match args {
        [Datum::Jsonb(doc), Datum::Text(key)] => (doc, JsonbPath::Key(key)),
        [
            Datum::Jsonb(doc),
            index @ (Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_)),
        ] => (doc, JsonbPath::Index(index.as_i64().unwrap_or_default())),
        _ => return Err(unsupported(func, args)),
    };
    if matches!(func, Func::JsonbGetText) {
        jsonb_get_text_datum(document, path)
    } else {
        jsonb_get_datum(document, path)
    }
}

/// `array_length(a, dim)`: `NULL` for an empty array or a dimension it does not have.
fn array_length(elements: &[Datum], dimension: i64) -> Datum {
    if elements.is_empty() || dimension < 1 {
        return Datum::Null;
    }
    if dimension == 1 {
        return i32::try_from(elements.len()).map_or(Datum::Null, Datum::Int32);
    }
    match elements.first() {
        Some(Datum::Array(inner)) => array_length(inner, dimension - 1),
        _ => Datum::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarType;

    fn call(func: Func, args: Vec<Datum>) -> Result<Datum, EvalError> {
        func.apply(&args)
    }

    #[test]
    fn comparisons_and_null_handling() {
        assert_eq!(
            call(Func::Lt, vec![Datum::Int32(1), Datum::Int32(2)]).unwrap(),
            Datum::Bool(true)
        );
        assert_eq!(
            call(
                Func::Eq,
                vec![Datum::float64(f64::NAN), Datum::float64(f64::NAN)]
            )
            .unwrap(),
            Datum::Bool(true)
        );
        assert_eq!(
            call(
                Func::Gt,
                vec![Datum::float64(f64::NAN), Datum::float64(f64::INFINITY)]
            )
            .unwrap(),
            Datum::Bool(true)
        );
        assert_eq!(
            call(Func::Eq, vec![Datum::Null, Datum::Int32(1)]).unwrap(),
            Datum::Null
        );
        assert_eq!(
            call(Func::IsDistinctFrom, vec![Datum::Null, Datum::Null]).unwrap(),
            Datum::Bool(false)
        );
        assert_eq!(
            call(Func::IsDistinctFrom, vec![Datum::Null, Datum::Int32(1)]).unwrap(),
            Datum::Bool(true)
        );
        assert_eq!(
            call(Func::IsTrue, vec![Datum::Null]).unwrap(),
            Datum::Bool(false)
        );
        assert_eq!(
            call(Func::IsFalse, vec![Datum::Bool(false)]).unwrap(),
            Datum::Bool(true)
        );
        assert_eq!(
            call(Func::NullIf, vec![Datum::Int32(1), Datum::Int32(1)]).unwrap(),
            Datum::Null
        );
        assert_eq!(
            call(Func::NullIf, vec![Datum::Int32(1), Datum::Null]).unwrap(),
            Datum::Int32(1)
        );
        assert_eq!(
            call(
                Func::Greatest,
                vec![Datum::Null, Datum::Int32(3), Datum::Int32(5)]
            )
            .unwrap(),
            Datum::Int32(5)
        );
        assert_eq!(
            call(
                Func::Least,
                vec![Datum::Null, Datum::Int32(3), Datum::Int32(5)]
            )
            .unwrap(),
            Datum::Int32(3)
        );
        assert_eq!(
            call(Func::Least, vec![Datum::Null, Datum::Null]).unwrap(),
            Datum::Null
        );
        assert_eq!(
            call(
                Func::Eq,
                vec![
                    Datum::Decimal(rust_decimal::Decimal::new(150, 2)),
                    Datum::Decimal(rust_decimal::Decimal::new(15, 1))
                ]
            )
            .unwrap(),
            Datum::Bool(true)
        );
    }

    #[test]
    fn arrays_records_and_jsonb() {
        let array = call(
            Func::MakeArray,
            vec![Datum::Int32(1), Datum::Null, Datum::Int32(3)],
        )
        .unwrap();
        assert_eq!(
            call(Func::ArrayIndex, vec![array.clone(), Datum::Int32(3)]).unwrap(),
            Datum::Int32(3)
        );
        assert_eq!(
            call(Func::ArrayIndex, vec![array.clone(), Datum::Int32(0)]).unwrap(),
            Datum::Null
        );
        assert_eq!(
            call(Func::ArrayIndex, vec![array.clone(), Datum::Int64(4)]).unwrap(),
            Datum::Null
        );
        assert_eq!(
            call(Func::ArrayLength, vec![array.clone(), Datum::Int32(1)]).unwrap(),
            Datum::Int32(3)
        );
        assert_eq!(
            call(Func::ArrayLength, vec![array, Datum::Int32(2)]).unwrap(),
            Datum::Null
        );
        let empty = Datum::Array(Arc::from(Vec::<Datum>::new()));
        assert_eq!(
            call(Func::ArrayLength, vec![empty, Datum::Int32(1)]).unwrap(),
            Datum::Null
        );
        let record = call(Func::MakeRecord, vec![Datum::Int32(1), Datum::Null]).unwrap();
        assert_eq!(
            call(Func::RecordGet(0), vec![record.clone()]).unwrap(),
            Datum::Int32(1)
        );
        assert!(call(Func::RecordGet(5), vec![record]).is_err());
        let doc =
            crate::strconv::parse_datum(r#"{"a": [1, {"b": "x"}], "s": "t"}"#, &ScalarType::Jsonb)
                .unwrap();
        let inner = call(Func::JsonbGet, vec![doc.clone(), Datum::text("a")]).unwrap();
        assert_eq!(crate::strconv::format_datum(&inner), r#"[1, {"b": "x"}]"#);
        let last = call(Func::JsonbGet, vec![inner, Datum::Int32(-1)]).unwrap();
        assert_eq!(
            call(Func::JsonbGetText, vec![last, Datum::text("b")]).unwrap(),
            Datum::text("x")
        );
        assert_eq!(
            call(Func::JsonbGetText, vec![doc.clone(), Datum::text("s")]).unwrap(),
            Datum::text("t")
        );
        assert_eq!(
            call(Func::JsonbGet, vec![doc, Datum::text("zz")]).unwrap(),
            Datum::Null
        );
    }

    #[test]
    fn unsupported_combinations_error_without_panicking() {
        assert!(call(Func::Add, vec![Datum::text("a"), Datum::Int32(1)]).is_err());
        assert!(call(Func::Not, vec![Datum::Int32(1)]).is_err());
        assert!(call(Func::Lt, vec![Datum::text("a"), Datum::Int32(1)]).is_err());
        assert!(call(Func::Substring, vec![]).is_err());
    }
}
