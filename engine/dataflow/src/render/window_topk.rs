//! Window Top-N with state freed behind the watermark ([`Plan::WindowTopN`]).
//!
//! A ranking window function (`ROW_NUMBER`, `RANK`, `DENSE_RANK`) with a limit, over
//! partitions that each belong to one event-time window (the partition key holds a
//! window bound). Rows go to the worker of their partition; the source's watermark
//! updates are broadcast. Times are processed in order once both inputs' frontiers have
//! passed them: the rows of a time update their partitions (each kept sorted by the
//! ORDER BY, ties broken by the whole row, as [`Plan::Window`] does), and each changed
//! partition emits its old ranked rows retracted and its new ones; then the watermark
//! advances and every partition whose window closed is freed. Its final rows stay in
//! the downstream arrangement. A row for a window already closed (a reader back from
//! idle behind the others) is dropped and counted.
//!
//! Over an append-only input `ROW_NUMBER` keeps only a partition's first `limit` rows:
//! a row ranked past the limit can never come back, since rows are only added.
//!
//! [`Plan::WindowTopN`]: laaster_repr::plan::Plan::WindowTopN
//! [`Plan::Window`]: laaster_repr::plan::Plan::Window

use std::cmp::Ordering as CmpOrdering;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use differential_dataflow::{AsCollection, Hashable};
use laaster_repr::plan::{EventTimeColumn, Plan, SortKey, WindowFunc, compare_rows};
use laaster_repr::{Datum, Diff, EvalError, Row, Timestamp};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Broadcast;

use super::watermark::CombinedWatermark;
use super::{FastMap, RenderContext, Rendered, WatermarkCollection, split_results};
use crate::source::{WATERMARK_DONE, WatermarkUpdate};

static LIVE_PARTITIONS: AtomicI64 = AtomicI64::new(0);
static CLOSED_PARTITIONS: AtomicU64 = AtomicU64::new(0);
static LATE_ROWS: AtomicU64 = AtomicU64::new(0);

/// The window Top-N operators' state counters (process-wide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowTopNMetrics {
    /// Partitions (windows) holding state now.
    pub live_partitions: i64,
    /// Partitions freed so far.
    pub closed_partitions: u64,
    /// Rows that reached a window already closed and were dropped.
    pub late_rows: u64,
}

/// The current [`WindowTopNMetrics`].
pub fn window_top_n_metrics() -> WindowTopNMetrics {
    WindowTopNMetrics {
        live_partitions: LIVE_PARTITIONS.load(Ordering::Relaxed),
        closed_partitions: CLOSED_PARTITIONS.load(Ordering::Relaxed),
        late_rows: LATE_ROWS.load(Ordering::Relaxed),
    }
}

/// What [`render_window_top_n`] needs besides its inputs.
#[derive(Clone, Debug)]
pub struct WindowTopNSpec {
    pub partition: Vec<usize>,
    pub order: Vec<SortKey>,
    pub func: WindowFunc,
    pub limit: u64,
    pub time: EventTimeColumn,
}

/// An input row as the operator receives it: partition key, close time, the row.
type Keyed = (Row, i64, Row);

type Output = (Result<Row, EvalError>, Timestamp, Diff);

/// One open partition: its rows sorted by the ORDER BY then by row, with multiplicities.
#[derive(Default)]
struct Partition {
    rows: Vec<(Row, Diff)>,
}

/// The operator's state on one worker.
struct TopNState {
    order: Vec<SortKey>,
    func: WindowFunc,
    limit: i64,
    /// Keep only the first `limit` rows (ROW_NUMBER over an append-only input).
    prune: bool,
    partitions: FastMap<Row, Partition>,
    /// Open partitions by the watermark that closes them.
    closing: BTreeMap<i64, Vec<Row>>,
    watermark: CombinedWatermark,
}

impl TopNState {
    fn new(spec: &WindowTopNSpec, peers: usize) -> TopNState {
        TopNState {
            order: spec.order.clone(),
            func: spec.func,
            limit: i64::try_from(spec.limit).unwrap_or(i64::MAX),
            prune: spec.func == WindowFunc::RowNumber && !spec.time.retractable,
            partitions: FastMap::default(),
            closing: BTreeMap::new(),
            watermark: CombinedWatermark::new(peers),
        }
    }

    /// The ranked rows of a partition (the row with its rank appended), as the ordinary
    /// window function computes them.
    fn ranked(&self, partition: &Partition) -> Vec<(Row, Diff)> {
        let mut output = Vec::new();
        let mut position: i64 = 0;
        let mut dense: i64 = 0;
        let mut rank: i64 = 0;
        let mut previous: Option<&Row> = None;
        'rows: for (row, copies) in partition.rows.iter().filter(|(_, c)| *c > 0) {
            let peer =
                previous.is_some_and(|p| compare_rows(p, row, &self.order) == CmpOrdering::Equal);
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
            match self.func {
                WindowFunc::RowNumber => {
                    for _ in 0..*copies {
                        position += 1;
                        if position > self.limit {
                            break 'rows;
                        }
                        output.push((with_rank(position), 1));
                    }
                }
                WindowFunc::Rank | WindowFunc::DenseRank => {
                    let value = if self.func == WindowFunc::Rank {
                        rank
                    } else {
                        dense
                    };
                    if value > self.limit {
                        break 'rows;
                    }
                    output.push((with_rank(value), *copies));
                    position += copies;
                }
            }
        }
        output
    }

    /// Applies the rows of one time and emits each changed partition's difference.
    fn apply_rows(&mut self, time: Timestamp, rows: Vec<(Keyed, Diff)>, out: &mut Vec<Output>) {
        let mut before: FastMap<Row, Vec<(Row, Diff)>> = FastMap::default();
        for ((key, close_at, row), diff) in rows {
            if self.watermark.get().is_some_and(|w| close_at <= w) {
                if diff > 0 {
                    LATE_ROWS.fetch_add(diff as u64, Ordering::Relaxed);
                } else {
                    out.push((
                        Err(EvalError::Other(
                            "internal error: a row was retracted from a window Top-N input after its window closed"
                                .into(),
                        )),
                        time,
                        1,
                    ));
                }
                continue;
            }
            if !self.partitions.contains_key(&key) {
                LIVE_PARTITIONS.fetch_add(1, Ordering::Relaxed);
                self.closing.entry(close_at).or_default().push(key.clone());
                self.partitions.insert(key.clone(), Partition::default());
            }
            if !before.contains_key(&key) {
                let ranked = self.ranked(&self.partitions[&key]);
                before.insert(key.clone(), ranked);
            }
            self.insert(&key, row, diff);
        }
        for (key, old) in before {
            let new = self
                .partitions
                .get(&key)
                .map(|p| self.ranked(p))
                .unwrap_or_default();
            let mut changes: FastMap<Row, Diff> = FastMap::default();
            for (row, diff) in old {
                *changes.entry(row).or_default() -= diff;
            }
            for (row, diff) in new {
                *changes.entry(row).or_default() += diff;
            }
            out.extend(
                changes
                    .into_iter()
                    .filter(|(_, diff)| *diff != 0)
                    .map(|(row, diff)| (Ok(row), time, diff)),
            );
        }
    }

    /// Adds `diff` copies of `row` to its partition, in order.
    fn insert(&mut self, key: &Row, row: Row, diff: Diff) {
        let order = std::mem::take(&mut self.order);
        let Some(partition) = self.partitions.get_mut(key) else {
            self.order = order;
            return;
        };
        let compare = |a: &Row, b: &Row| compare_rows(a, b, &order).then_with(|| a.cmp(b));
        match partition
            .rows
            .binary_search_by(|(held, _)| compare(held, &row))
        {
            Ok(at) => {
                partition.rows[at].1 += diff;
                if partition.rows[at].1 == 0 {
                    partition.rows.remove(at);
                }
            }
            Err(at) => partition.rows.insert(at, (row, diff)),
        }
        if self.prune {
            // Past the first `limit` copies nothing can rank again.
            let mut copies: i64 = 0;
            let mut keep = partition.rows.len();
            for (index, (_, diff)) in partition.rows.iter_mut().enumerate() {
                if copies >= self.limit {
                    keep = index;
                    break;
                }
                *diff = (*diff).min(self.limit - copies);
                copies += *diff;
            }
            partition.rows.truncate(keep);
        }
        self.order = order;
    }

    /// Takes the watermark updates of one time and frees the partitions it closed.
    fn apply_watermarks(&mut self, updates: Vec<WatermarkUpdate>) {
        let mut advanced = None;
        for update in updates {
            if let Some(w) = self.watermark.update(update) {
                advanced = Some(w);
            }
        }
        let Some(watermark) = advanced else {
            return;
        };
        while let Some(entry) = self.closing.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            for key in entry.remove() {
                if self.partitions.remove(&key).is_some() {
                    LIVE_PARTITIONS.fetch_sub(1, Ordering::Relaxed);
                    CLOSED_PARTITIONS.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if self.partitions.is_empty() {
            self.partitions.shrink_to(0);
        }
    }
}

impl Drop for TopNState {
    fn drop(&mut self) {
        LIVE_PARTITIONS.fetch_sub(self.partitions.len() as i64, Ordering::Relaxed);
    }
}

/// Renders a [`Plan::WindowTopN`] node (the dispatch in [`RenderContext::render`]).
pub fn render_plan<'s>(context: &RenderContext<'s>, plan: &Plan) -> Rendered<'s> {
    let Plan::WindowTopN {
        input,
        partition,
        order,
        func,
        limit,
        time,
    } = plan
    else {
        return context.render(plan);
    };
    let spec = WindowTopNSpec {
        partition: partition.clone(),
        order: order.clone(),
        func: *func,
        limit: *limit,
        time: *time,
    };
    let watermarks = context.watermarks.get(&time.source).cloned();
    render_window_top_n(context.render(input), watermarks, spec)
}

/// Renders `WindowTopN`. Without `watermarks` (a source with no streamed readers)
/// windows never close: results are exact, state is not freed.
pub fn render_window_top_n<'s>(
    input: Rendered<'s>,
    watermarks: Option<WatermarkCollection<'s>>,
    spec: WindowTopNSpec,
) -> Rendered<'s> {
    let scope = input.oks.scope();
    let partition = spec.partition.clone();
    let time = spec.time;
    let keyed = input.oks.map(move |row| {
        let close_at = match row.get(time.column) {
            Some(Datum::Timestamp(t) | Datum::TimestampTz(t)) => t
                .saturating_add(time.offset)
                .saturating_add(time.allowed_lateness),
            // A partition without a window bound never closes.
            _ => WATERMARK_DONE,
        };
        (row.project(&partition), close_at, row)
    });
    let watermarks = match watermarks {
        Some(watermarks) => watermarks.inner.broadcast(),
        None => timely::dataflow::operators::vec::ToStream::to_stream(
            Vec::<(WatermarkUpdate, Timestamp, Diff)>::new(),
            scope,
        ),
    };
    let peers = scope.peers();
    let exchange = Exchange::new(|((key, _, _), _, _): &(Keyed, Timestamp, Diff)| key.hashed());
    let results = keyed
        .inner
        .binary_frontier::<_, timely::container::CapacityContainerBuilder<Vec<Output>>, _, _, _, _>(
            watermarks,
            exchange,
            Pipeline,
            "WindowTopN",
            move |_capability, _info| {
                let mut state = TopNState::new(&spec, peers);
                let mut pending: BTreeMap<Timestamp, Vec<(Keyed, Diff)>> = BTreeMap::new();
                let mut marks: BTreeMap<Timestamp, Vec<WatermarkUpdate>> = BTreeMap::new();
                let mut held: Option<Capability<Timestamp>> = None;
                let mut out = Vec::new();
                move |(data, data_frontier), (mark_input, mark_frontier), output| {
                    data.for_each(|capability, batch| {
                        hold(&mut held, capability.retain_least(0));
                        for (record, time, diff) in batch.drain(..) {
                            pending.entry(time).or_default().push((record, diff));
                        }
                    });
                    mark_input.for_each(|capability, batch| {
                        hold(&mut held, capability.retain_least(0));
                        for (update, time, _diff) in batch.drain(..) {
                            marks.entry(time).or_default().push(update);
                        }
                    });
                    let ready = |time: &Timestamp| {
                        !data_frontier.less_equal(time) && !mark_frontier.less_equal(time)
                    };
                    let mut times: Vec<Timestamp> = pending
                        .keys()
                        .chain(marks.keys())
                        .copied()
                        .filter(|t| ready(t))
                        .collect();
                    times.sort_unstable();
                    times.dedup();
                    for time in times {
                        if let Some(batch) = pending.remove(&time) {
                            state.apply_rows(time, batch, &mut out);
                        }
                        if let Some(updates) = marks.remove(&time) {
                            state.apply_watermarks(updates);
                        }
                        if !out.is_empty()
                            && let Some(capability) = held.as_ref()
                        {
                            let capability = capability.delayed(&time);
                            output.session(&capability).give_iterator(out.drain(..));
                        }
                    }
                    match pending.keys().chain(marks.keys()).min().copied() {
                        Some(time) => {
                            if let Some(capability) = held.as_mut() {
                                capability.downgrade(&time);
                            }
                        }
                        None => held = None,
                    }
                }
            },
        );
    let (oks, errs) = split_results(results.as_collection());
    Rendered {
        oks,
        errs: input.errs.concat(errs),
    }
}

/// Keeps the earlier of the held capability and `new`.
fn hold(held: &mut Option<Capability<Timestamp>>, new: Option<Capability<Timestamp>>) {
    let Some(new) = new else {
        return;
    };
    match held {
        Some(current) if current.time() <= new.time() => {}
        _ => *held = Some(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(func: WindowFunc, limit: u64, retractable: bool) -> TopNState {
        let spec = WindowTopNSpec {
            partition: vec![0],
            order: vec![SortKey {
                column: 1,
                descending: true,
                nulls_last: false,
            }],
            func,
            limit,
            time: EventTimeColumn {
                source: 1,
                column: 0,
                offset: 0,
                allowed_lateness: 0,
                retractable,
            },
        };
        TopNState::new(&spec, 1)
    }

    fn row(window: i64, price: i64, diff: Diff) -> (Keyed, Diff) {
        let row = Row::new(vec![Datum::Timestamp(window), Datum::Int64(price)]);
        (
            (Row::new(vec![Datum::Timestamp(window)]), window, row),
            diff,
        )
    }

    fn ranked(window: i64, price: i64, rank: i64) -> Row {
        Row::new(vec![
            Datum::Timestamp(window),
            Datum::Int64(price),
            Datum::Int64(rank),
        ])
    }

    #[test]
    fn top_rows_change_as_rows_arrive_and_closed_windows_are_freed() {
        let mut state = state(WindowFunc::RowNumber, 2, false);
        let mut out = Vec::new();
        state.apply_rows(1, vec![row(10, 5, 1), row(10, 7, 1)], &mut out);
        out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        assert_eq!(
            out,
            vec![(Ok(ranked(10, 5, 2)), 1, 1), (Ok(ranked(10, 7, 1)), 1, 1)]
        );
        out.clear();
        // 9 enters at the top; 5 drops out and, over append-only rows, is forgotten.
        state.apply_rows(2, vec![row(10, 9, 1), row(20, 1, 1)], &mut out);
        assert_eq!(out.len(), 5, "{out:?}");
        assert_eq!(
            state.partitions[&Row::new(vec![Datum::Timestamp(10)])]
                .rows
                .len(),
            2
        );
        state.apply_watermarks(vec![(0, 1, 10, false)]);
        assert_eq!(state.partitions.len(), 1, "the window ending at 10 closed");
        out.clear();
        state.apply_rows(3, vec![row(10, 100, 1)], &mut out);
        assert!(out.is_empty(), "a row for a closed window is dropped");
    }

    #[test]
    fn retractions_over_a_window_aggregate_bring_rows_back() {
        let mut state = state(WindowFunc::Rank, 1, true);
        let mut out = Vec::new();
        state.apply_rows(1, vec![row(10, 5, 1), row(10, 7, 1)], &mut out);
        assert_eq!(out, vec![(Ok(ranked(10, 7, 1)), 1, 1)]);
        out.clear();
        state.apply_rows(2, vec![row(10, 7, -1)], &mut out);
        out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        assert_eq!(
            out,
            vec![(Ok(ranked(10, 5, 1)), 2, 1), (Ok(ranked(10, 7, 1)), 2, -1)]
        );
    }
}
