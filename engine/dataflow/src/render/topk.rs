//! Top-K per group and ranking window functions.
//!
//! Both key rows by their group (partition) and, when a group changes, re-sort the
//! group's rows by the ORDER BY (ties broken by the whole row, so the choice among equal
//! rows is deterministic and the same for every worker count). Top-K keeps the rows
//! ranked `offset .. offset + limit`; the window function appends each row's rank and,
//! with a limit, keeps only ranks up to it — the incremental Top-N.

use laaster_repr::plan::{SortKey, WindowFunc, compare_rows};
use laaster_repr::{Datum, Diff, Row};

use super::Rendered;

/// A group's rows with their multiplicities, sorted by `order` then by row.
fn sorted_group<'a>(values: &[(&'a Row, Diff)], order: &[SortKey]) -> Vec<(&'a Row, Diff)> {
    let mut rows: Vec<(&Row, Diff)> = values
        .iter()
        .filter(|(_, copies)| *copies > 0)
        .map(|(row, copies)| (*row, *copies))
        .collect();
    rows.sort_by(|a, b| compare_rows(a.0, b.0, order).then_with(|| a.0.cmp(b.0)));
    rows
}

/// Renders `TopK { group_key, order, limit, offset }`.
pub fn render_topk<'s>(
    input: Rendered<'s>,
    group_key: Vec<usize>,
    order: Vec<SortKey>,
    limit: Option<u64>,
    offset: u64,
) -> Rendered<'s> {
    let oks = input
        .oks
        .map(move |row| (row.project(&group_key), row))
        .reduce_named("TopK", move |_key, values: &[(&Row, Diff)], output| {
            let mut skip = i64::try_from(offset).unwrap_or(i64::MAX);
            let mut take = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
            for (row, copies) in sorted_group(values, &order) {
                let skipped = copies.min(skip);
                skip -= skipped;
                let kept = (copies - skipped).min(take);
                take -= kept;
                if kept > 0 {
                    output.push((row.clone(), kept));
                }
                if take == 0 {
                    break;
                }
            }
        })
        .map(|(_key, row)| row);
    Rendered {
        oks,
        errs: input.errs,
    }
}

/// Renders `Window { partition, order, func, limit }`: appends the rank column.
pub fn render_window<'s>(
    input: Rendered<'s>,
    partition: Vec<usize>,
    order: Vec<SortKey>,
    func: WindowFunc,
    limit: Option<u64>,
) -> Rendered<'s> {
    let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let oks = input
        .oks
        .map(move |row| (row.project(&partition), row))
        .reduce_named("Window", move |_key, values: &[(&Row, Diff)], output| {
            let mut position: i64 = 0;
            let mut dense: i64 = 0;
            let mut rank: i64 = 0;
            let mut previous: Option<&Row> = None;
            'rows: for (row, copies) in sorted_group(values, &order) {
                let peer = previous
                    .is_some_and(|p| compare_rows(p, row, &order) == std::cmp::Ordering::Equal);
                if !peer {
                    dense += 1;
                    rank = position + 1;
                }
                previous = Some(row);
                let with_rank = |value: i64| {
                    let mut datums = row.to_vec();
                    datums.push(Datum::Int64(value));
                    Row::new(datums)
                };
                match func {
                    WindowFunc::RowNumber => {
                        for _ in 0..copies {
                            position += 1;
                            if position > limit {
                                break 'rows;
                            }
                            output.push((with_rank(position), 1));
                        }
                    }
                    WindowFunc::Rank | WindowFunc::DenseRank => {
                        let value = if matches!(func, WindowFunc::Rank) {
                            rank
                        } else {
                            dense
                        };
                        if value > limit {
                            break 'rows;
                        }
                        output.push((with_rank(value), copies));
                        position += copies;
                    }
                }
            }
        })
        .map(|(_key, row)| row);
    Rendered {
        oks,
        errs: input.errs,
    }
}
