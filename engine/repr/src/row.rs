//! [`Row`]: one tuple of a relation, and the dataflow's time and multiplicity types.

use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::Datum;

/// Logical time of a change: milliseconds of the engine's clock (see
/// `docs/design/time.md`). Every input batch gets one; progress marks are in this unit.
pub type Timestamp = u64;

/// Multiplicity change of a row: `+1` insert, `-1` delete; updates are a delete plus an
/// insert at the same time.
pub type Diff = i64;

/// Datums a row holds without a heap allocation.
const INLINE_DATUMS: usize = 2;

/// One tuple: datums in column order. Rows of up to two columns (keys, most
/// intermediate results of aggregations) live inline without a heap allocation; text
/// datums share their buffers, so clones are cheap either way.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Row(SmallVec<[Datum; INLINE_DATUMS]>);

impl Row {
    pub fn new(datums: Vec<Datum>) -> Self {
        Row(SmallVec::from_vec(datums))
    }

    pub fn empty() -> Self {
        Row(SmallVec::new())
    }

    pub fn into_datums(self) -> Vec<Datum> {
        self.0.into_vec()
    }

    /// Appends a datum.
    pub fn push(&mut self, datum: Datum) {
        self.0.push(datum);
    }

    /// A new row with only the given columns, in the given order.
    pub fn project(&self, columns: &[usize]) -> Row {
        Row(columns.iter().map(|&c| self.0[c].clone()).collect())
    }

    /// This row followed by `other`.
    pub fn concat(&self, other: &Row) -> Row {
        let mut datums = SmallVec::with_capacity(self.0.len() + other.0.len());
        datums.extend(self.0.iter().cloned());
        datums.extend(other.0.iter().cloned());
        Row(datums)
    }
}

impl Deref for Row {
    type Target = [Datum];
    fn deref(&self) -> &[Datum] {
        &self.0
    }
}

impl DerefMut for Row {
    fn deref_mut(&mut self) -> &mut [Datum] {
        &mut self.0
    }
}

impl From<Vec<Datum>> for Row {
    fn from(datums: Vec<Datum>) -> Self {
        Row::new(datums)
    }
}

impl FromIterator<Datum> for Row {
    fn from_iter<I: IntoIterator<Item = Datum>>(iter: I) -> Self {
        Row(iter.into_iter().collect())
    }
}
