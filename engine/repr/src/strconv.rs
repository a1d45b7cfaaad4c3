//! Text input and output of datums in Postgres' formats: [`format_datum`] prints a value
//! as `psql` would; [`parse_datum`] reads a value of a type from text (casts from text,
//! typed literals like `DATE '2024-01-01'`).

use crate::{Datum, EvalError, ScalarType};

/// Formats a datum as Postgres' text output. `NULL` formats as `NULL`.
pub fn format_datum(datum: &Datum) -> String {
    match datum {
        Datum::Null => "NULL".to_string(),
        Datum::Bool(true) => "t".to_string(),
        Datum::Bool(false) => "f".to_string(),
        Datum::Int16(v) => v.to_string(),
        Datum::Int32(v) => v.to_string(),
        Datum::Int64(v) => v.to_string(),
        Datum::Decimal(v) => v.to_string(),
        Datum::Text(s) | Datum::Jsonb(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

/// Parses text as a value of `typ`.
pub fn parse_datum(text: &str, typ: &ScalarType) -> Result<Datum, EvalError> {
    let invalid = || EvalError::InvalidInputSyntax {
        typ: typ.to_string(),
        input: text.to_string(),
    };
    match typ {
        ScalarType::Text | ScalarType::VarChar { .. } => Ok(Datum::text(text)),
        ScalarType::Int64 => text.trim().parse().map(Datum::Int64).map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}
