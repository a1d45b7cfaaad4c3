//! [`Datum`]: one SQL value, and [`Interval`].
//!
//! A datum does not carry its SQL type; the type lives in the relation's schema
//! ([`crate::RelationDesc`]). Values of one base type always use the same variant, so
//! ordering and equality between datums of a column are well defined. The derived order
//! puts `Null` first; SQL's `NULLS LAST` default for ascending sorts is applied by the
//! operators that sort ([`crate::plan::SortKey`]), not by this order.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use ordered_float::OrderedFloat;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use crate::jsonb::JsonbText;

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// One SQL value.
///
/// Representations: `Date` is days since 1970-01-01; `Time` is microseconds since
/// midnight; `Timestamp` is microseconds since 1970-01-01 00:00:00 (no zone);
/// `TimestampTz` is microseconds since the Unix epoch in UTC; `Jsonb` holds the
/// canonical text of the document (keys sorted, Postgres spacing), whose equality,
/// hashing and order follow jsonb's (numbers compare by value: `1.0` equals `1`; see
/// [`JsonbText`]).
// `Hash` is derived while `Eq` is written out below: the two agree because `eq` is
// exactly the derived equality (same variant, equal payloads).
#[allow(clippy::derived_hash_with_manual_eq)]
#[derive(Clone, Debug, Hash, Serialize, Deserialize)]
pub enum Datum {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(OrderedFloat<f32>),
    Float64(OrderedFloat<f64>),
    Decimal(Decimal),
    Text(Arc<str>),
    Bytes(Arc<[u8]>),
    Date(i32),
    Time(i64),
    Timestamp(i64),
    TimestampTz(i64),
    Interval(Interval),
    Jsonb(JsonbText),
    Array(Arc<[Datum]>),
    Record(Arc<[Datum]>),
}

impl Datum {
    /// The variant's position in declaration order: datums of different variants
    /// order by it (so `Null` sorts first), as a derived `Ord` would.
    #[inline]
    fn variant_rank(&self) -> u8 {
        match self {
            Datum::Null => 0,
            Datum::Bool(_) => 1,
            Datum::Int16(_) => 2,
            Datum::Int32(_) => 3,
            Datum::Int64(_) => 4,
            Datum::Float32(_) => 5,
            Datum::Float64(_) => 6,
            Datum::Decimal(_) => 7,
            Datum::Text(_) => 8,
            Datum::Bytes(_) => 9,
            Datum::Date(_) => 10,
            Datum::Time(_) => 11,
            Datum::Timestamp(_) => 12,
            Datum::TimestampTz(_) => 13,
            Datum::Interval(_) => 14,
            Datum::Jsonb(_) => 15,
            Datum::Array(_) => 16,
            Datum::Record(_) => 17,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    pub fn text(s: &str) -> Datum {
        Datum::Text(Arc::from(s))
    }

    pub fn float64(f: f64) -> Datum {
        Datum::Float64(OrderedFloat(f))
    }

    pub fn float32(f: f32) -> Datum {
        Datum::Float32(OrderedFloat(f))
    }

    /// The boolean inside, or `None` for `NULL` (and for non-booleans).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Datum::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Integer value of any integer variant.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Datum::Int16(v) => Some(i64::from(*v)),
            Datum::Int32(v) => Some(i64::from(*v)),
            Datum::Int64(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Datum::Text(s) => Some(s),
            Datum::Jsonb(s) => Some(s),
            _ => None,
        }
    }
}

// Equality and order are what `derive` would give (variant first, then payload); they
// are written out so that the common same-variant cases inline into the comparisons
// arrangements run millions of times per second.
impl PartialEq for Datum {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Datum::Int64(a), Datum::Int64(b)) => a == b,
            (Datum::Int32(a), Datum::Int32(b)) => a == b,
            (Datum::Text(a), Datum::Text(b)) => a == b,
            (Datum::Null, Datum::Null) => true,
            (Datum::Bool(a), Datum::Bool(b)) => a == b,
            (Datum::Int16(a), Datum::Int16(b)) => a == b,
            (Datum::Float32(a), Datum::Float32(b)) => a == b,
            (Datum::Float64(a), Datum::Float64(b)) => a == b,
            (Datum::Decimal(a), Datum::Decimal(b)) => a == b,
            (Datum::Bytes(a), Datum::Bytes(b)) => a == b,
            (Datum::Date(a), Datum::Date(b)) => a == b,
            (Datum::Time(a), Datum::Time(b))
            | (Datum::Timestamp(a), Datum::Timestamp(b))
            | (Datum::TimestampTz(a), Datum::TimestampTz(b)) => a == b,
            (Datum::Interval(a), Datum::Interval(b)) => a == b,
            (Datum::Jsonb(a), Datum::Jsonb(b)) => a == b,
            (Datum::Array(a), Datum::Array(b)) | (Datum::Record(a), Datum::Record(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Datum {}

impl PartialOrd for Datum {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Datum {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Datum::Int64(a), Datum::Int64(b)) => a.cmp(b),
            (Datum::Int32(a), Datum::Int32(b)) => a.cmp(b),
            (Datum::Text(a), Datum::Text(b)) => a.cmp(b),
            (Datum::Null, Datum::Null) => Ordering::Equal,
            (Datum::Bool(a), Datum::Bool(b)) => a.cmp(b),
            (Datum::Int16(a), Datum::Int16(b)) => a.cmp(b),
            (Datum::Float32(a), Datum::Float32(b)) => a.cmp(b),
            (Datum::Float64(a), Datum::Float64(b)) => a.cmp(b),
            (Datum::Decimal(a), Datum::Decimal(b)) => a.cmp(b),
            (Datum::Bytes(a), Datum::Bytes(b)) => a.cmp(b),
            (Datum::Date(a), Datum::Date(b)) => a.cmp(b),
            (Datum::Time(a), Datum::Time(b))
            | (Datum::Timestamp(a), Datum::Timestamp(b))
            | (Datum::TimestampTz(a), Datum::TimestampTz(b)) => a.cmp(b),
            (Datum::Interval(a), Datum::Interval(b)) => a.cmp(b),
            (Datum::Jsonb(a), Datum::Jsonb(b)) => a.cmp(b),
            (Datum::Array(a), Datum::Array(b)) | (Datum::Record(a), Datum::Record(b)) => {
                cmp_elements(a, b)
            }
            _ => self.variant_rank().cmp(&other.variant_rank()),
        }
    }
}

/// Postgres' order of arrays and records (`array_cmp`, `record_cmp`): element by
/// element, a NULL element after any non-null one, then the shorter first. So
/// `(1,2) < (1,)` and `(,)` sorts after `(a,b)`, as in an ORDER BY in Postgres.
fn cmp_elements(a: &[Datum], b: &[Datum]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// A Postgres interval: months, days and microseconds kept apart (a month is not a
/// fixed number of days). Comparison and hashing use Postgres' normalization (a month
/// counts as 30 days, a day as 24 hours), so `'1 month' = '30 days'` as in Postgres.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl Interval {
    pub fn new(months: i32, days: i32, micros: i64) -> Self {
        Interval {
            months,
            days,
            micros,
        }
    }

    /// Total span in microseconds under the 30-day month convention.
    pub fn normalized_micros(&self) -> i128 {
        (i128::from(self.months) * 30 + i128::from(self.days)) * i128::from(MICROS_PER_DAY)
            + i128::from(self.micros)
    }
}

impl PartialEq for Interval {
    fn eq(&self, other: &Self) -> bool {
        self.normalized_micros() == other.normalized_micros()
    }
}

impl Eq for Interval {}

impl PartialOrd for Interval {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Interval {
    fn cmp(&self, other: &Self) -> Ordering {
        self.normalized_micros().cmp(&other.normalized_micros())
    }
}

impl Hash for Interval {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized_micros().hash(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_arrays_sort_null_elements_last() {
        let record = |items: Vec<Datum>| Datum::Record(Arc::from(items));
        let (one, two) = (Datum::Int32(1), Datum::Int32(2));
        // Postgres: (1,2) < (1,) < (2,1) and (a,b) < (,).
        assert!(record(vec![one.clone(), two.clone()]) < record(vec![one.clone(), Datum::Null]));
        assert!(record(vec![one.clone(), Datum::Null]) < record(vec![two.clone(), one.clone()]));
        assert!(record(vec![two.clone(), two.clone()]) < record(vec![Datum::Null, Datum::Null]));
        let array = |items: Vec<Datum>| Datum::Array(Arc::from(items));
        assert!(array(vec![one.clone()]) < array(vec![one.clone(), Datum::Null]));
        assert!(array(vec![two]) < array(vec![Datum::Null]));
        assert_eq!(
            array(vec![Datum::Null, one.clone()]).cmp(&array(vec![Datum::Null, one])),
            Ordering::Equal
        );
    }

    #[test]
    fn null_sorts_first_and_intervals_normalize() {
        assert!(Datum::Null < Datum::Int64(i64::MIN));
        assert_eq!(Interval::new(1, 0, 0), Interval::new(0, 30, 0));
        assert!(Interval::new(0, 1, 0) > Interval::new(0, 0, MICROS_PER_DAY - 1));
    }
}
