//! Choosing the window aggregate: a pass over the lowered dataflow [`Plan`] that turns a
//! `Reduce` into a [`Plan::WindowAggregate`] (state freed behind the watermark) when that
//! is safe, and leaves it an ordinary `Reduce` (exact, unbounded state) otherwise.
//!
//! Safe means: the reduce's input is append-only rows of one streamed source with a
//! WATERMARK (through maps, filters and projections), put into windows by a window TVF
//! (`TUMBLE`, `HOP`, `CUMULATE`) over that watermarked time column; its group key holds a
//! window bound (`window_end`, `window_start` or `window_time`), so every group belongs to
//! one window whose end is known; and every aggregate is one the operator implements
//! (count, count distinct, exact sums — so also avg —, min, max, bool_and, bool_or).
//! `EXPLAIN` shows `WindowAggregate` or `Reduce` accordingly.

use std::collections::{BTreeMap, BTreeSet};

use laaster_repr::ScalarExpr;
use laaster_repr::plan::{
    AggregateExpr, AggregateFunc, GlobalId, MapFilterProject, Plan, WindowEmit, WindowKind,
};

use crate::catalog::Catalog;

/// Rewrites every eligible `Reduce` in `plan` (bottom-up) into a `WindowAggregate` with
/// the default emission.
pub fn choose_window_aggregates(plan: Plan, catalog: &dyn Catalog) -> Plan {
    let plan = map_children(plan, &|child| choose_window_aggregates(child, catalog));
    match plan {
        Plan::Reduce {
            input,
            group_key,
            aggregates,
            global: false,
            monotonic,
        } if aggregates.iter().all(supported) => {
            // The tightest bound in the key (window_end itself when it is there).
            let window = windowed_source(&input, catalog).and_then(|found| {
                group_key
                    .iter()
                    .filter_map(|column| found.bounds.get(column).map(|offset| (*column, *offset)))
                    .min_by_key(|(_, offset)| *offset)
                    .map(|(column, offset)| (found.source, found.allowed_lateness, column, offset))
            });
            match window {
                Some((source, allowed_lateness, window_end, end_offset)) => Plan::WindowAggregate {
                    input,
                    group_key,
                    aggregates,
                    source,
                    window_end,
                    end_offset,
                    allowed_lateness,
                    emit: WindowEmit::OnUpdate,
                },
                None => Plan::Reduce {
                    input,
                    group_key,
                    aggregates,
                    global: false,
                    monotonic,
                },
            }
        }
        other => other,
    }
}

/// Chooses the operators that free state behind the watermark: window aggregates, then
/// window Top-N, session windows, interval and window joins (whose inputs may be window
/// aggregates).
pub fn choose_event_time_operators(plan: Plan, catalog: &dyn Catalog) -> Plan {
    let plan = choose_window_aggregates(plan, catalog);
    let plan = crate::window_top_n::choose_window_top_n(plan, catalog);
    let plan = crate::window_top_n::choose_event_time_sessions(plan, catalog);
    crate::interval_join::choose_interval_joins(plan, catalog)
}

/// Sets `emit` on every `WindowAggregate` of `plan`; returns how many there were.
pub fn set_emit(plan: &mut Plan, emit: WindowEmit) -> usize {
    let mut count = 0;
    if let Plan::WindowAggregate { emit: current, .. } = plan {
        *current = emit;
        count += 1;
    }
    for child in children_mut(plan) {
        count += set_emit(child, emit);
    }
    count
}

/// The aggregates the window operator implements (see the dataflow's `window_agg`).
/// Float sums stay on the reduce, which sums in value order.
fn supported(aggregate: &AggregateExpr) -> bool {
    if !aggregate.order_by.is_empty() || aggregate.args.len() != 1 {
        return false;
    }
    match &aggregate.func {
        AggregateFunc::Count
        | AggregateFunc::Min
        | AggregateFunc::Max
        | AggregateFunc::BoolAnd
        | AggregateFunc::BoolOr => true,
        AggregateFunc::Sum { output } => !aggregate.distinct && !output.is_float(),
        AggregateFunc::StringAgg | AggregateFunc::ArrayAgg => false,
    }
}

/// Rows of a watermarked streamed source, with its time columns (output positions).
struct TimedSource {
    source: GlobalId,
    allowed_lateness: i64,
    times: BTreeSet<usize>,
}

/// Windowed rows of a watermarked source: per output column that is a window bound, how
/// far the window's end is past the column's value.
struct WindowedSource {
    source: GlobalId,
    allowed_lateness: i64,
    bounds: BTreeMap<usize, i64>,
}

/// Where each output column of `mfp` comes from in its input, when it is a copy.
fn copied_columns(mfp: &MapFilterProject) -> Vec<Option<usize>> {
    mfp.projection
        .iter()
        .map(|&column| {
            if column < mfp.input_arity {
                Some(column)
            } else {
                match mfp.expressions.get(column - mfp.input_arity) {
                    Some(ScalarExpr::Column(source)) if *source < mfp.input_arity => Some(*source),
                    _ => None,
                }
            }
        })
        .collect()
}

fn timed_source(plan: &Plan, catalog: &dyn Catalog) -> Option<TimedSource> {
    match plan {
        Plan::Get { id, .. } => catalog.event_time(*id).map(|time| TimedSource {
            source: *id,
            allowed_lateness: time.allowed_lateness,
            times: BTreeSet::from([time.column]),
        }),
        Plan::Mfp { input, mfp } => {
            let inner = timed_source(input, catalog)?;
            let times = copied_columns(mfp)
                .into_iter()
                .enumerate()
                .filter_map(|(output, source)| {
                    source.filter(|c| inner.times.contains(c)).map(|_| output)
                })
                .collect();
            Some(TimedSource { times, ..inner })
        }
        _ => None,
    }
}

fn windowed_source(plan: &Plan, catalog: &dyn Catalog) -> Option<WindowedSource> {
    match plan {
        Plan::Windows { input, time, kind } => {
            let source = timed_source(input, catalog)?;
            let ScalarExpr::Column(column) = time else {
                return None;
            };
            if !source.times.contains(column) {
                return None;
            }
            let arity = input.arity();
            let largest = match *kind {
                WindowKind::Tumble { size, .. } | WindowKind::Hop { size, .. } => size,
                WindowKind::Cumulate { max, .. } => max,
            };
            // window_start + largest size >= window_end; window_time = window_end - 1 ms.
            let bounds = BTreeMap::from([(arity, largest), (arity + 1, 0), (arity + 2, 1000)]);
            Some(WindowedSource {
                source: source.source,
                allowed_lateness: source.allowed_lateness,
                bounds,
            })
        }
        Plan::Mfp { input, mfp } => {
            let inner = windowed_source(input, catalog)?;
            let bounds = copied_columns(mfp)
                .into_iter()
                .enumerate()
                .filter_map(|(output, source)| {
                    source
                        .and_then(|c| inner.bounds.get(&c))
                        .map(|offset| (output, *offset))
                })
                .collect();
            Some(WindowedSource { bounds, ..inner })
        }
        _ => None,
    }
}

pub(crate) fn children_mut(plan: &mut Plan) -> Vec<&mut Plan> {
    match plan {
        Plan::Get { .. } | Plan::Constant { .. } => vec![],
        Plan::Join { left, right, .. } | Plan::IntervalJoin { left, right, .. } => {
            vec![left, right]
        }
        Plan::Union { inputs } => inputs.iter_mut().collect(),
        Plan::Mfp { input, .. }
        | Plan::Reduce { input, .. }
        | Plan::WindowAggregate { input, .. }
        | Plan::TopK { input, .. }
        | Plan::Window { input, .. }
        | Plan::WindowTopN { input, .. }
        | Plan::EventTimeSessions { input, .. }
        | Plan::Windows { input, .. }
        | Plan::Distinct { input }
        | Plan::Threshold { input }
        | Plan::SessionWindows { input, .. }
        | Plan::Negate { input } => vec![input],
    }
}

pub(crate) fn map_children(mut plan: Plan, f: &impl Fn(Plan) -> Plan) -> Plan {
    for child in children_mut(&mut plan) {
        let taken = std::mem::replace(
            child,
            Plan::Constant {
                rows: Vec::new(),
                arity: 0,
            },
        );
        *child = f(taken);
    }
    plan
}
