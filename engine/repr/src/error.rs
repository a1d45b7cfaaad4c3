//! Errors shared by every stage.
//!
//! [`EvalError`] is what evaluating a scalar expression on one row can fail with; inside
//! dataflows it travels as data (the `errs` collection beside `oks`) and never panics a
//! worker. [`ErrorResponse`] is the user-facing, Postgres-shaped form (SQLSTATE code,
//! message, detail, hint, position) that every stage's error converts into at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A runtime error evaluating an expression on a row. Messages follow Postgres.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Error, Serialize, Deserialize)]
pub enum EvalError {
    #[error("division by zero")]
    DivisionByZero,
    /// `type` is the Postgres type name, e.g. "integer", "bigint".
    #[error("{0} out of range")]
    OutOfRange(String),
    #[error("invalid input syntax for type {typ}: \"{input}\"")]
    InvalidInputSyntax { typ: String, input: String },
    #[error("value too long for type {0}")]
    ValueTooLong(String),
    #[error("numeric field overflow")]
    NumericFieldOverflow,
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    #[error("more than one row returned by a subquery used as an expression")]
    MultipleRowsFromSubquery,
    #[error("null value in column \"{0}\" violates not-null constraint")]
    NullViolation(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// A value nests deeper than Laaster walks recursively (e.g. a JSON document).
    #[error("stack depth limit exceeded")]
    StackDepthLimitExceeded,
    /// A result would exceed a size limit, e.g. `requested length too large`.
    #[error("{0}")]
    ProgramLimitExceeded(String),
    /// An internal error: a state the planner should have ruled out (SQLSTATE XX000).
    #[error("{0}")]
    Other(String),
    // The variants below carry a full Postgres message; they only fix its SQLSTATE.
    // (Appended after `Other` so existing variants keep their serialized indices.)
    /// 22008, e.g. `date/time field value out of range: "..."`, `cannot subtract infinite dates`.
    #[error("{0}")]
    DatetimeFieldOverflow(String),
    /// 22015, e.g. `interval field value out of range: "..."`.
    #[error("{0}")]
    IntervalFieldOverflow(String),
    /// 22003 with a full message, e.g. `value "..." is out of range for type integer`.
    #[error("{0}")]
    NumericValueOutOfRange(String),
    /// 22P02 with a full message, e.g. `malformed array literal: "..."`.
    #[error("{0}")]
    InvalidTextRepresentation(String),
    /// 22P05, e.g. `unsupported Unicode escape sequence`.
    #[error("{0}")]
    UntranslatableCharacter(String),
    /// 2201E, e.g. `cannot take logarithm of zero`.
    #[error("{0}")]
    InvalidArgumentForLogarithm(String),
    /// 2201F, e.g. `zero raised to a negative power is undefined`.
    #[error("{0}")]
    InvalidArgumentForPower(String),
    /// 22011: `negative substring length not allowed`.
    #[error("negative substring length not allowed")]
    NegativeSubstringLength,
    /// 0A000, e.g. `cannot convert infinity to numeric`.
    #[error("{0}")]
    FeatureNotSupported(String),
    /// 42883, e.g. `function to_char(boolean, text) does not exist`.
    #[error("{0}")]
    UndefinedFunction(String),
    /// 42846, e.g. `cannot cast type boolean to date`.
    #[error("{0}")]
    CannotCoerce(String),
}

impl EvalError {
    /// The Postgres SQLSTATE for this error.
    pub fn code(&self) -> &'static str {
        match self {
            EvalError::DivisionByZero => "22012",
            EvalError::OutOfRange(_) | EvalError::NumericFieldOverflow => "22003",
            EvalError::InvalidInputSyntax { .. } => "22P02",
            EvalError::ValueTooLong(_) => "22001",
            EvalError::InvalidRegex(_) => "2201B",
            EvalError::MultipleRowsFromSubquery => "21000",
            EvalError::NullViolation(_) => "23502",
            EvalError::InvalidParameter(_) => "22023",
            EvalError::StackDepthLimitExceeded => "54001",
            EvalError::ProgramLimitExceeded(_) => "54000",
            EvalError::Other(_) => "XX000",
            EvalError::DatetimeFieldOverflow(_) => "22008",
            EvalError::IntervalFieldOverflow(_) => "22015",
            EvalError::NumericValueOutOfRange(_) => "22003",
            EvalError::InvalidTextRepresentation(_) => "22P02",
            EvalError::UntranslatableCharacter(_) => "22P05",
            EvalError::InvalidArgumentForLogarithm(_) => "2201E",
            EvalError::InvalidArgumentForPower(_) => "2201F",
            EvalError::NegativeSubstringLength => "22011",
            EvalError::FeatureNotSupported(_) => "0A000",
            EvalError::UndefinedFunction(_) => "42883",
            EvalError::CannotCoerce(_) => "42846",
        }
    }
}

/// Where a statement's text an error points: 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

/// A user-facing error: what happened (`message`), the particulars (`detail`), what to do
/// (`hint`), and where in the SQL text (`position`). `code` is a Postgres SQLSTATE.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<Position>,
}

impl ErrorResponse {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorResponse {
            code: code.to_string(),
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_position(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    /// Renders the error Postgres-style, with a caret under the error position when the
    /// SQL text is given.
    pub fn render(&self, sql: Option<&str>) -> String {
        let mut out = format!("ERROR:  {}", self.message);
        if let (Some(pos), Some(sql)) = (self.position, sql)
            && let Some(line) = sql.lines().nth(pos.line.saturating_sub(1) as usize)
        {
            let prefix = format!("LINE {}: ", pos.line);
            out.push_str(&format!("\n{prefix}{line}\n"));
            let caret_at = prefix.len()
                + line
                    .chars()
                    .take(pos.column.saturating_sub(1) as usize)
                    .count();
            out.push_str(&" ".repeat(caret_at));
            out.push('^');
        }
        if let Some(detail) = &self.detail {
            out.push_str(&format!("\nDETAIL:  {detail}"));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\nHINT:  {hint}"));
        }
        out
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL:  {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT:  {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorResponse {}

impl From<EvalError> for ErrorResponse {
    fn from(err: EvalError) -> Self {
        ErrorResponse::new(err.code(), err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarType;
    use crate::strconv::datetime::{parse_date, parse_interval};
    use crate::strconv::{parse_array, parse_bytea, parse_decimal, parse_integer};

    /// Errors Postgres raises with a specific SQLSTATE carry that code, not XX000, and
    /// keep Postgres' message text.
    #[test]
    fn postgres_codes() {
        let cases = [
            (
                parse_integer("99999999999", &ScalarType::Int32).unwrap_err(),
                "22003",
                "value \"99999999999\" is out of range for type integer",
            ),
            (
                parse_array("{1,2", &ScalarType::Int32).unwrap_err(),
                "22P02",
                "malformed array literal: \"{1,2\"",
            ),
            (
                parse_bytea("\\xabc").unwrap_err(),
                "22023",
                "invalid hexadecimal data: odd number of digits",
            ),
            (
                parse_date("2020-13-01").unwrap_err(),
                "22008",
                "date/time field value out of range: \"2020-13-01\"",
            ),
            (
                parse_interval("2147483648 months").unwrap_err(),
                "22015",
                "interval field value out of range: \"2147483648 months\"",
            ),
            (
                crate::jsonb::parse_json("{bad").unwrap_err(),
                "22P02",
                "invalid input syntax for type json",
            ),
            (
                crate::cast::float_to_decimal(f64::INFINITY, 15).unwrap_err(),
                "0A000",
                "cannot convert infinity to numeric",
            ),
            (
                EvalError::NegativeSubstringLength,
                "22011",
                "negative substring length not allowed",
            ),
        ];
        for (err, code, message) in cases {
            assert_eq!(err.to_string(), message);
            assert_eq!(err.code(), code, "{err}");
            assert_eq!(ErrorResponse::from(err).code, code);
        }
        assert!(parse_decimal("NaN").unwrap_err().code() == "0A000");
    }
}
