//! Top-K per group and ranking window functions.
//!
//! Both key rows by their group (partition) and, when a group changes, re-sort the
//! group's rows by the ORDER BY (ties broken by the whole row, so the choice among equal
//! rows is deterministic and the same for every worker count). Top-K keeps the rows
//! ranked `offset .. offset + limit`; the window function appends each row's rank and,
//! with a limit, keeps only ranks up to it — the incremental Top-N.
//!
//! The ranking itself ([`take_topk`], [`rank_group`]) is shared with the monotonic
//! Top-N ([`super::monotonic`]), which runs it over the few rows it keeps per group, so
//! both paths choose exactly the same rows, ties included.

use std::cmp::Ordering;

use laaster_repr::plan::{SortKey, WindowFunc, compare_rows};
use laaster_repr::{Datum, Diff, Row};

use super::Rendered;

/// The order of a group's rows: by the sort keys, then by the whole row.
pub(super) fn group_order(a: &Row, b: &Row, order: &[SortKey]) -> Ordering {
    compare_rows(a, b, order).then_with(|| a.cmp(b))
}

/// A group's rows with their multiplicities, sorted by [`group_order`].
fn sorted_group<'a>(values: &[(&'a Row, Diff)], order: &[SortKey]) -> Vec<(&'a Row, Diff)> {
    let mut rows: Vec<(&Row, Diff)> = values
        .iter()
        .filter(|(_, copies)| *copies > 0)
        .map(|(row, copies)| (*row, *copies))
        .collect();
    rows.sort_by(|a, b| group_order(a.0, b.0, order));
    rows
}

/// Top-K over a sorted group's multiplicities: per leading entry, `(copies output,
/// copies used)` where used counts the copies skipped by the offset too. Entries past
/// the returned ones are neither output nor needed to place the output.
pub(super) fn take_topk(
    copies: impl IntoIterator<Item = Diff>,
    limit: Option<u64>,
    offset: u64,
) -> Vec<(Diff, Diff)> {
    let mut skip = i64::try_from(offset).unwrap_or(i64::MAX);
    let mut take = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let mut taken = Vec::new();
    for copies in copies {
        let skipped = copies.min(skip);
        skip -= skipped;
        let kept = (copies - skipped).min(take);
        take -= kept;
        taken.push((kept, skipped + kept));
        if take == 0 {
            break;
        }
    }
    taken
}

/// Ranks a group sorted by [`group_order`]: calls `output(index, row with its rank,
/// copies)` for every output row, in order, where `index` is the entry's position in
/// `rows`. Rows ranked past `limit` are not output, and neither is anything after them.
pub(super) fn rank_group(
    rows: &[(&Row, Diff)],
    order: &[SortKey],
    func: WindowFunc,
    limit: Option<u64>,
    mut output: impl FnMut(usize, Row, Diff),
) {
    let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let mut position: i64 = 0;
    let mut dense: i64 = 0;
    let mut rank: i64 = 0;
    let mut previous: Option<&Row> = None;
    'rows: for (index, &(row, copies)) in rows.iter().enumerate() {
        let peer = previous.is_some_and(|p| compare_rows(p, row, order) == Ordering::Equal);
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
                    output(index, with_rank(position), 1);
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
                output(index, with_rank(value), copies);
                position += copies;
            }
        }
    }
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
            let sorted = sorted_group(values, &order);
            let taken = take_topk(sorted.iter().map(|(_, copies)| *copies), limit, offset);
            for ((row, _), (kept, _)) in sorted.iter().zip(taken) {
                if kept > 0 {
                    output.push(((*row).clone(), kept));
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
    let oks = input
        .oks
        .map(move |row| (row.project(&partition), row))
        .reduce_named("Window", move |_key, values: &[(&Row, Diff)], output| {
            let sorted = sorted_group(values, &order);
            rank_group(&sorted, &order, func, limit, |_, row, copies| {
                output.push((row, copies));
            });
        })
        .map(|(_key, row)| row);
    Rendered {
        oks,
        errs: input.errs,
    }
}
