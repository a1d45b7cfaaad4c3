//! [`PlanError`]: everything that can go wrong between SQL text and a plan. Each variant
//! converts into a Postgres-style [`ErrorResponse`] (message, detail, hint, position).

use laaster_repr::{ErrorResponse, EvalError, Position, ScalarType};
use thiserror::Error;

/// A planning error. Messages follow Postgres' wording.
#[derive(Debug, Error)]
pub enum PlanError {
    /// The SQL text does not parse.
    #[error("{message}")]
    Syntax {
        message: String,
        position: Option<Position>,
    },
    #[error("relation \"{name}\" does not exist")]
    UnknownRelation {
        name: String,
        suggestion: Option<String>,
    },
    #[error("column \"{name}\" does not exist")]
    UnknownColumn {
        name: String,
        suggestion: Option<String>,
    },
    #[error("column reference \"{0}\" is ambiguous")]
    AmbiguousColumn(String),
    #[error("function {name}({}) does not exist", display_types(.arg_types))]
    UnknownFunction {
        name: String,
        arg_types: Vec<ScalarType>,
        suggestion: Option<String>,
    },
    #[error("operator does not exist: {left} {op} {right}")]
    UnknownOperator {
        op: String,
        left: ScalarType,
        right: ScalarType,
    },
    /// A value of one type used where another is required, e.g. a WHERE clause that is
    /// not boolean, or CASE branches of incompatible types.
    #[error("{context} types {left} and {right} cannot be matched")]
    TypeMismatch {
        context: String,
        left: ScalarType,
        right: ScalarType,
    },
    #[error("cannot cast type {from} to {to}")]
    InvalidCast { from: ScalarType, to: ScalarType },
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists { kind: &'static str, name: String },
    #[error("cannot drop {kind} {name} because other objects depend on it")]
    DependentObjects {
        kind: &'static str,
        name: String,
        dependents: Vec<String>,
    },
    #[error("\"{name}\" is not a {expected}")]
    WrongObjectKind {
        name: String,
        expected: &'static str,
    },
    #[error("{feature} is not supported")]
    Unsupported {
        feature: String,
        hint: Option<String>,
    },
    /// Evaluating a constant expression while planning failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// Anything else, already in user-facing form.
    #[error("{}", .0.message)]
    Response(ErrorResponse),
}

fn display_types(types: &[ScalarType]) -> String {
    types
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl PlanError {
    /// The Postgres SQLSTATE code.
    pub fn code(&self) -> &str {
        match self {
            PlanError::Syntax { .. } => "42601",
            PlanError::UnknownRelation { .. } => "42P01",
            PlanError::UnknownColumn { .. } => "42703",
            PlanError::AmbiguousColumn(_) => "42702",
            PlanError::UnknownFunction { .. } | PlanError::UnknownOperator { .. } => "42883",
            PlanError::TypeMismatch { .. } => "42804",
            PlanError::InvalidCast { .. } => "42846",
            PlanError::AlreadyExists { .. } => "42P07",
            PlanError::DependentObjects { .. } => "2BP01",
            PlanError::WrongObjectKind { .. } => "42809",
            PlanError::Unsupported { .. } => "0A000",
            PlanError::Eval(e) => e.code(),
            PlanError::Response(r) => &r.code,
        }
    }

    /// The user-facing form, with detail and hint where the variant has them.
    pub fn to_response(&self) -> ErrorResponse {
        if let PlanError::Response(r) = self {
            return r.clone();
        }
        let mut response = ErrorResponse::new(self.code(), self.to_string());
        match self {
            PlanError::Syntax {
                position: Some(p), ..
            } => response = response.with_position(*p),
            PlanError::UnknownRelation {
                suggestion: Some(s),
                ..
            }
            | PlanError::UnknownColumn {
                suggestion: Some(s),
                ..
            } => response = response.with_hint(format!("Perhaps you meant \"{s}\".")),
            PlanError::UnknownFunction { suggestion, .. } => {
                response = response.with_hint(match suggestion {
                    Some(s) => format!("Perhaps you meant {s}()."),
                    None => "No function matches the given name and argument types. You might need to add explicit type casts.".to_string(),
                })
            }
            PlanError::UnknownOperator { .. } => {
                response = response.with_hint(
                    "No operator matches the given name and argument types. You might need to add explicit type casts.",
                )
            }
            PlanError::DependentObjects { dependents, .. } => {
                response = response
                    .with_detail(dependents.join("\n"))
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too.")
            }
            PlanError::Unsupported { hint: Some(h), .. } => response = response.with_hint(h),
            _ => {}
        }
        response
    }
}

impl From<PlanError> for ErrorResponse {
    fn from(err: PlanError) -> Self {
        err.to_response()
    }
}

/// The closest of `candidates` to `name` by edit distance, if it is close enough to be
/// a plausible typo.
pub fn closest_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(distance, c)| *distance <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c.to_string())
}
