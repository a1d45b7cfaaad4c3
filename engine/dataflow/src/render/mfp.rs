//! Map-filter-project: evaluates a [`MapFilterProject`] on every row.

use laaster_repr::plan::MapFilterProject;

use super::{Rendered, split_results};

/// Applies `mfp` to each row; rows whose predicates are not true vanish, rows whose
/// evaluation fails become errors.
pub fn render_mfp<'s>(input: Rendered<'s>, mfp: MapFilterProject) -> Rendered<'s> {
    if mfp.is_identity() {
        return input;
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
