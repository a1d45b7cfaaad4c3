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
    #[error("{0}")]
    Other(String),
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
