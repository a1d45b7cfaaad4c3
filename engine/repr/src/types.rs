//! SQL types: [`ScalarType`] (what a value is), [`ColumnType`] (plus nullability) and
//! [`RelationDesc`] (the named, typed columns of a relation).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The type of a single SQL value. Names follow PostgreSQL (`pg_typeof` output is what
/// [`fmt::Display`] prints), so error messages read like Postgres'.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScalarType {
    /// The type of an untyped `NULL` literal before the planner coerces it.
    Unknown,
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// Exact decimal, `numeric(precision, scale)`; `None` means unconstrained.
    /// Backed by a 96-bit mantissa: up to 28 significant digits.
    Decimal {
        precision: Option<u8>,
        scale: Option<u8>,
    },
    Text,
    /// `varchar(n)`; behaves as text, with a length check on assignment.
    VarChar {
        max_length: Option<u32>,
    },
    Bytea,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    Jsonb,
    /// One-dimensional array of an element type.
    Array(Box<ScalarType>),
    /// A composite (`ROW(...)`) value with named fields.
    Record(Vec<(String, ScalarType)>),
}

impl ScalarType {
    /// An unconstrained `numeric`.
    pub const NUMERIC: ScalarType = ScalarType::Decimal {
        precision: None,
        scale: None,
    };

    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64
        )
    }

    pub fn is_float(&self) -> bool {
        matches!(self, ScalarType::Float32 | ScalarType::Float64)
    }

    pub fn is_numeric(&self) -> bool {
        self.is_integer() || self.is_float() || matches!(self, ScalarType::Decimal { .. })
    }

    pub fn is_string(&self) -> bool {
        matches!(self, ScalarType::Text | ScalarType::VarChar { .. })
    }

    pub fn is_temporal(&self) -> bool {
        matches!(
            self,
            ScalarType::Date | ScalarType::Time | ScalarType::Timestamp | ScalarType::TimestampTz
        )
    }

    /// The type with modifiers stripped: `varchar(10)` → `text`, `numeric(10,2)` →
    /// `numeric`. Two values of the same base type compare directly.
    pub fn base(&self) -> ScalarType {
        match self {
            ScalarType::VarChar { .. } => ScalarType::Text,
            ScalarType::Decimal { .. } => ScalarType::NUMERIC,
            other => other.clone(),
        }
    }

    /// Whether the two types share a base type (and so compare without a cast).
    pub fn same_base(&self, other: &ScalarType) -> bool {
        self.base() == other.base()
    }

    /// The sqllogictest column-type letter: `I` integer, `R` real/decimal, `T` otherwise.
    pub fn slt_letter(&self) -> char {
        if self.is_integer() {
            'I'
        } else if self.is_float() || matches!(self, ScalarType::Decimal { .. }) {
            'R'
        } else {
            'T'
        }
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarType::Unknown => f.write_str("unknown"),
            ScalarType::Bool => f.write_str("boolean"),
            ScalarType::Int16 => f.write_str("smallint"),
            ScalarType::Int32 => f.write_str("integer"),
            ScalarType::Int64 => f.write_str("bigint"),
            ScalarType::Float32 => f.write_str("real"),
            ScalarType::Float64 => f.write_str("double precision"),
            ScalarType::Decimal {
                precision: Some(p),
                scale,
            } => write!(f, "numeric({},{})", p, scale.unwrap_or(0)),
            ScalarType::Decimal { .. } => f.write_str("numeric"),
            ScalarType::Text => f.write_str("text"),
            ScalarType::VarChar {
                max_length: Some(n),
            } => write!(f, "character varying({n})"),
            ScalarType::VarChar { max_length: None } => f.write_str("character varying"),
            ScalarType::Bytea => f.write_str("bytea"),
            ScalarType::Date => f.write_str("date"),
            ScalarType::Time => f.write_str("time without time zone"),
            ScalarType::Timestamp => f.write_str("timestamp without time zone"),
            ScalarType::TimestampTz => f.write_str("timestamp with time zone"),
            ScalarType::Interval => f.write_str("interval"),
            ScalarType::Jsonb => f.write_str("jsonb"),
            ScalarType::Array(element) => write!(f, "{element}[]"),
            ScalarType::Record(fields) => {
                f.write_str("record(")?;
                for (i, (name, typ)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name} {typ}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// A column's type: its scalar type and whether it may be `NULL`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnType {
    pub scalar: ScalarType,
    pub nullable: bool,
}

impl ColumnType {
    pub fn new(scalar: ScalarType, nullable: bool) -> Self {
        ColumnType { scalar, nullable }
    }

    pub fn nullable(scalar: ScalarType) -> Self {
        ColumnType {
            scalar,
            nullable: true,
        }
    }
}

/// One named column of a relation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub typ: ColumnType,
}

/// The schema of a relation: its columns in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelationDesc {
    pub columns: Vec<Column>,
}

impl RelationDesc {
    pub fn new(columns: Vec<Column>) -> Self {
        RelationDesc { columns }
    }

    pub fn arity(&self) -> usize {
        self.columns.len()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}
