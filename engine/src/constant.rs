//! Evaluating plans that read no relation (INSERT ... VALUES, SELECT 1 + 1) in the
//! coordinator, without a dataflow.

use laaster_repr::plan::Plan;
use laaster_repr::{Diff, ErrorResponse, Row};

/// The rows of `plan` if it reads no table or view and uses only row-at-a-time
/// operators; `None` if it needs the workers.
pub(crate) fn evaluate_constant(plan: &Plan) -> Option<Result<Vec<(Row, Diff)>, ErrorResponse>> {
    match plan {
        Plan::Constant { rows, .. } => Some(Ok(rows.clone())),
        Plan::Mfp { input, mfp } => {
            let rows = match evaluate_constant(input)? {
                Ok(rows) => rows,
                Err(e) => return Some(Err(e)),
            };
            let mfp = mfp.prepare();
            let mut out = Vec::with_capacity(rows.len());
            for (row, diff) in rows {
                match mfp.evaluate(&row) {
                    Ok(Some(row)) => out.push((row, diff)),
                    Ok(None) => {}
                    Err(error) => return Some(Err(error.into())),
                }
            }
            Some(Ok(out))
        }
        Plan::Union { inputs } => {
            let mut out = Vec::new();
            for input in inputs {
                match evaluate_constant(input)? {
                    Ok(rows) => out.extend(rows),
                    Err(e) => return Some(Err(e)),
                }
            }
            Some(Ok(out))
        }
        Plan::Negate { input } => Some(
            evaluate_constant(input)?
                .map(|rows| rows.into_iter().map(|(row, diff)| (row, -diff)).collect()),
        ),
        _ => None,
    }
}
