//! [`Row`]: one tuple of a relation, and the dataflow's time and multiplicity types.

use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};

use crate::Datum;

/// Logical time of a change: milliseconds of the engine's clock (see
/// `docs/design/time.md`). Every input batch gets one; progress marks are in this unit.
pub type Timestamp = u64;

/// Multiplicity change of a row: `+1` insert, `-1` delete; updates are a delete plus an
/// insert at the same time.
pub type Diff = i64;

/// One tuple: datums in column order. Cheap to clone for text-heavy rows because text
/// datums share their buffers.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Row(pub Vec<Datum>);

impl Row {
    pub fn new(datums: Vec<Datum>) -> Self {
        Row(datums)
    }

    pub fn empty() -> Self {
        Row(Vec::new())
    }

    pub fn into_datums(self) -> Vec<Datum> {
        self.0
    }

    /// A new row with only the given columns, in the given order.
    pub fn project(&self, columns: &[usize]) -> Row {
        Row(columns.iter().map(|&c| self.0[c].clone()).collect())
    }

    /// This row followed by `other`.
    pub fn concat(&self, other: &Row) -> Row {
        let mut datums = Vec::with_capacity(self.0.len() + other.0.len());
        datums.extend_from_slice(&self.0);
        datums.extend_from_slice(&other.0);
        Row(datums)
    }
}

impl Deref for Row {
    type Target = Vec<Datum>;
    fn deref(&self) -> &Vec<Datum> {
        &self.0
    }
}

impl DerefMut for Row {
    fn deref_mut(&mut self) -> &mut Vec<Datum> {
        &mut self.0
    }
}

impl From<Vec<Datum>> for Row {
    fn from(datums: Vec<Datum>) -> Self {
        Row(datums)
    }
}

impl FromIterator<Datum> for Row {
    fn from_iter<I: IntoIterator<Item = Datum>>(iter: I) -> Self {
        Row(iter.into_iter().collect())
    }
}
