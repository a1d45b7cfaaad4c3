//! Session windows: rows of one partition key whose times are closer than the gap share
//! a session; see [`laaster_repr::plan::Plan::SessionWindows`].
//!
//! Rendered as a differential `reduce` keyed by the partition key whose values are
//! `(time, row)`: the reduce sees a key's rows sorted by time, walks them once to cut
//! sessions where the next time is at or past the running end (`last time + gap`), and
//! emits every row with its session's bounds appended. Differential diffs that output
//! against the previous one, so a row arriving between two sessions retracts both
//! sessions' rows and re-emits them merged, and retracting it splits them back — the
//! result is exact at every timestamp, under any mix of inserts and deletes.

use differential_dataflow::AsCollection;
use laaster_repr::{Datum, Diff, EvalError, Row, ScalarExpr};
use timely::dataflow::operators::core::OkErr;

use super::Rendered;

/// Microseconds in a millisecond: `window_time` is `window_end` minus one.
const MICROS_PER_MILLI: i64 = 1_000;

/// The sessions over `times` (sorted ascending) with gap `gap`: `(start, end, count)`
/// where `count` is how many leading entries of the remaining slice the session covers.
/// A time `t` opens `[t, t + gap)`; the next time merges while it is before the end.
pub fn sessions(times: impl IntoIterator<Item = i64>, gap: i64) -> Vec<(i64, i64, usize)> {
    let mut out: Vec<(i64, i64, usize)> = Vec::new();
    for time in times {
        let end = time.saturating_add(gap);
        match out.last_mut() {
            Some((_, current_end, count)) if time < *current_end => {
                *current_end = (*current_end).max(end);
                *count += 1;
            }
            _ => out.push((time, end, 1)),
        }
    }
    out
}

/// Renders `SessionWindows { partition, time, gap }`.
pub fn render_session<'s>(
    input: Rendered<'s>,
    partition: Vec<usize>,
    time: ScalarExpr,
    gap: i64,
) -> Rendered<'s> {
    // Evaluate each row's time once; NULL times drop the row, failures become errors.
    let evaluated = input.oks.flat_map(move |row| {
        let (micros, tz) = match time.eval(&row) {
            Ok(Datum::Timestamp(micros)) => (micros, false),
            Ok(Datum::TimestampTz(micros)) => (micros, true),
            Ok(Datum::Null) => return None,
            Ok(other) => {
                return Some(Err(EvalError::Other(format!(
                    "the time column of a SESSION window must be a timestamp, got {other:?}"
                ))));
            }
            Err(error) => return Some(Err(error)),
        };
        Some(Ok((row.project(&partition), (micros, tz, row))))
    });
    let (keyed, errors) = evaluated.inner.ok_err(|(result, t, diff)| match result {
        Ok(keyed) => Ok((keyed, t, diff)),
        Err(error) => Err((error, t, diff)),
    });
    let oks = keyed
        .as_collection()
        .reduce_named(
            "SessionWindows",
            move |_key, values: &[(&(i64, bool, Row), Diff)], output: &mut Vec<(Row, Diff)>| {
                // Values arrive sorted by (time, ...): one pass cuts the sessions.
                let live: Vec<&(i64, bool, Row)> = values
                    .iter()
                    .filter(|(_, copies)| *copies > 0)
                    .map(|(value, _)| *value)
                    .collect();
                let copies: Vec<Diff> = values
                    .iter()
                    .filter(|(_, copies)| *copies > 0)
                    .map(|(_, copies)| *copies)
                    .collect();
                let mut position = 0;
                for (start, end, count) in sessions(live.iter().map(|(t, _, _)| *t), gap) {
                    for (offset, (_, tz, row)) in
                        live[position..position + count].iter().enumerate()
                    {
                        let stamp = if *tz {
                            Datum::TimestampTz
                        } else {
                            Datum::Timestamp
                        };
                        let mut datums = row.to_vec();
                        datums.push(stamp(start));
                        datums.push(stamp(end));
                        datums.push(stamp(end.saturating_sub(MICROS_PER_MILLI)));
                        output.push((Row::new(datums), copies[position + offset]));
                    }
                    position += count;
                }
            },
        )
        .map(|(_key, row)| row);
    Rendered {
        oks,
        errs: input.errs.concat(errors.as_collection()),
    }
}

#[cfg(test)]
mod tests {
    use super::sessions;

    #[test]
    fn times_closer_than_the_gap_share_a_session() {
        // Gap 10: 0 and 5 merge (5 < 10), 15 is past 15 = 5 + 10 (not before it).
        assert_eq!(
            sessions([0, 5, 15, 20, 40], 10),
            vec![(0, 15, 2), (15, 30, 2), (40, 50, 1)]
        );
        assert_eq!(sessions([3, 3, 3], 1), vec![(3, 4, 3)]);
        assert!(sessions([], 10).is_empty());
    }

    #[test]
    fn a_bridging_time_merges_two_sessions() {
        assert_eq!(sessions([0, 20], 15), vec![(0, 15, 1), (20, 35, 1)]);
        // 10 < 15 extends the first session to 25, and 20 < 25 joins the second.
        assert_eq!(sessions([0, 10, 20], 15), vec![(0, 35, 3)]);
    }
}
