//! Map-filter-project: evaluates a [`MapFilterProject`] on every row.

use laaster_repr::plan::{MapFilterProject, WindowKind};
use laaster_repr::{Datum, EvalError, Row, ScalarExpr};

use super::{Rendered, split_results};

/// Applies `mfp` to each row; rows whose predicates are not true vanish, rows whose
/// evaluation fails become errors.
pub fn render_mfp<'s>(input: Rendered<'s>, mfp: MapFilterProject) -> Rendered<'s> {
    if mfp.is_identity() {
        return input;
    }
    if mfp.is_projection() {
        // Selecting columns cannot fail: no error channel needed.
        let projection = mfp.projection;
        return Rendered {
            oks: input.oks.map(move |row| row.project(&projection)),
            errs: input.errs,
        };
    }
    let mfp = mfp.prepare();
    let results = input
        .oks
        .flat_map(move |row| mfp.evaluate(&row).transpose());
    let (oks, errs) = split_results(results);
    Rendered {
        oks,
        errs: input.errs.concat(errs),
    }
}

/// Appends `window_start`, `window_end`, `window_time` for every window containing the
/// row's time; see [`laaster_repr::plan::Plan::Windows`].
pub fn render_windows<'s>(input: Rendered<'s>, time: ScalarExpr, kind: WindowKind) -> Rendered<'s> {
    let results = input.oks.flat_map(move |row| {
        let (micros, timestamp): (i64, fn(i64) -> Datum) = match time.eval(&row) {
            Ok(Datum::Timestamp(t)) => (t, Datum::Timestamp),
            Ok(Datum::TimestampTz(t)) => (t, Datum::TimestampTz),
            Ok(Datum::Null) => return Vec::new(),
            Ok(other) => {
                return vec![Err(EvalError::Other(format!(
                    "window time column must be a timestamp, got {other:?}"
                )))];
            }
            Err(error) => return vec![Err(error)],
        };
        kind.windows(micros)
            .into_iter()
            .map(|(start, end)| {
                let mut datums = row.to_vec();
                datums.push(timestamp(start));
                datums.push(timestamp(end));
                datums.push(timestamp(end - 1_000));
                Ok(Row::new(datums))
            })
            .collect()
    });
    let (oks, errs) = split_results(results);
    Rendered {
        oks,
        errs: input.errs.concat(errs),
    }
}
