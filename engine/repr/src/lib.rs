//! # laaster-repr: the data model and the plan IR
//!
//! Stage: shared by every other crate; links no timely. Holds:
//!
//! - the data model: [`Datum`] (one value), [`Row`] (one tuple), [`ScalarType`] /
//!   [`RelationDesc`] (types and schemas), [`Timestamp`] and [`Diff`] (a change is
//!   `(Row, Timestamp, Diff)`);
//! - scalar expressions ([`ScalarExpr`], [`scalar::Func`]) and their evaluation;
//! - the dataflow plan IR ([`plan::Plan`]) that `laaster-sql` lowers queries into and
//!   `laaster-dataflow` renders;
//! - errors: [`EvalError`] (a row failed to evaluate; data inside dataflows) and
//!   [`ErrorResponse`] (the Postgres-shaped error users see);
//! - text input/output of values ([`strconv`]), in Postgres' formats.
//!
//! Start reading at [`plan::Plan`].

pub mod cast;
pub mod datum;
pub mod error;
pub mod jsonb;
pub mod packed;
pub mod plan;
pub mod row;
pub mod scalar;
pub mod strconv;
pub mod types;

pub use datum::{Datum, Interval};
pub use error::{ErrorResponse, EvalError, Position};
pub use packed::{PackedRow, RowPacker};
pub use row::{Diff, Row, Timestamp};
pub use scalar::{Func, ScalarExpr};
pub use types::{Column, ColumnType, RelationDesc, ScalarType};
