//! Choosing the window Top-N: a pass over the lowered dataflow [`Plan`] that turns a
//! ranking [`Plan::Window`] with a limit (`ROW_NUMBER() OVER (PARTITION BY window_start,
//! window_end ORDER BY ...) <= N`) into a [`Plan::WindowTopN`], which frees a
//! partition's state once the watermark closes its window, when that is safe; otherwise
//! it stays the ordinary window function (exact, every row kept).
//!
//! Safe means: the input is an event-time input (rows of a streamed source with a
//! WATERMARK through maps, filters and window TVFs, or a window aggregate's output; see
//! [`crate::interval_join`]) and the partition key holds one of its window bounds, so
//! every partition belongs to one window whose end is known.
//!
//! The same holds for session windows: [`choose_event_time_sessions`] turns
//! `SessionWindows` over append-only rows of a watermarked source, on its event-time
//! column, into [`Plan::EventTimeSessions`], which frees closed sessions.

use laaster_repr::ScalarExpr;
use laaster_repr::plan::Plan;

use crate::catalog::Catalog;
use crate::interval_join::event_time_input;
use crate::window_aggregate::map_children;

/// Rewrites every eligible ranking window function in `plan` (bottom-up).
pub fn choose_window_top_n(plan: Plan, catalog: &dyn Catalog) -> Plan {
    let plan = map_children(plan, &|child| choose_window_top_n(child, catalog));
    let Plan::Window {
        input,
        partition,
        order,
        func,
        limit: Some(limit),
        ..
    } = &plan
    else {
        return plan;
    };
    // The partition column whose window end is nearest (window_end itself when there).
    let time = event_time_input(input, catalog).and_then(|found| {
        partition
            .iter()
            .filter_map(|c| found.bounds.get(c).map(|offset| (*c, *offset)))
            .min_by_key(|(_, offset)| *offset)
            .map(|(column, _)| found.column(column))
    });
    match time {
        Some(time) => Plan::WindowTopN {
            input: input.clone(),
            partition: partition.clone(),
            order: order.clone(),
            func: *func,
            limit: *limit,
            time,
        },
        None => plan,
    }
}

/// Rewrites every `SessionWindows` over append-only event-time rows, timed by one of
/// their event-time columns, into `EventTimeSessions` (bottom-up).
pub fn choose_event_time_sessions(plan: Plan, catalog: &dyn Catalog) -> Plan {
    let plan = map_children(plan, &|child| choose_event_time_sessions(child, catalog));
    let Plan::SessionWindows {
        input,
        partition,
        time: ScalarExpr::Column(column),
        gap,
    } = &plan
    else {
        return plan;
    };
    let time = event_time_input(input, catalog)
        .filter(|found| !found.retractable && found.bounds.contains_key(column))
        .map(|found| found.column(*column));
    match time {
        Some(time) => Plan::EventTimeSessions {
            input: input.clone(),
            partition: partition.clone(),
            time,
            gap: *gap,
        },
        None => plan,
    }
}
