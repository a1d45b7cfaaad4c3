//! Map-filter-project: evaluates a [`MapFilterProject`] on every row.

use laaster_repr::plan::MapFilterProject;

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
