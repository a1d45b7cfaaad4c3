//! The upsert operator: an upsert source's messages into the changes of "the latest row
//! per key".
//!
//! An upsert source (`'scan.mode' = 'upsert'`, keyed by the table's PRIMARY KEY) sends
//! one row per message: the source's full row, then the message's order (its position,
//! as [`crate::external::position_order`] writes it) and whether it deletes the key. This
//! operator, rendered where the dataflow reading the source imports it:
//!
//! - exchanges the messages by the hash of their key, so one worker owns each key;
//! - holds them until the input frontier passes their time, then applies them in time
//!   order, and within a time in message order;
//! - keeps, per key, the current row (or none after a deletion) and the order of the
//!   message that set it. A message older than the one applied (a Redis consumer group
//!   can hand a key's messages to different workers, which may ingest them in either
//!   order) is ignored, so the result is the row of the key's latest message whatever
//!   the arrival order;
//! - emits `-old` and `+new` when a key's row changes, `-old` when it is deleted.
//!
//! State: one row and one order string per key ever seen (deleted keys keep their order
//! so that a late older message cannot bring them back). Cost: a hash map update per
//! message; the output is as small as the changes.

use std::collections::{BTreeMap, HashMap};

use differential_dataflow::{AsCollection, Hashable};
use laaster_repr::{Datum, Diff, Row, Timestamp};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;

use crate::render::RowCollection;

/// The latest row per key of an upsert source's encoded messages (rows of `arity`
/// columns followed by the order and the deletion flag).
pub fn render_upsert<'s>(
    messages: RowCollection<'s>,
    key: &[usize],
    arity: usize,
) -> RowCollection<'s> {
    let route = key.to_vec();
    let key = key.to_vec();
    let exchange =
        Exchange::new(move |(row, _, _): &(Row, Timestamp, Diff)| row.project(&route).hashed());
    messages
        .inner
        .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<(Row, Timestamp, Diff)>>, _, _, _>(
            exchange,
            "Upsert",
            move |_capability, _info| {
                let mut pending: BTreeMap<Timestamp, Vec<Row>> = BTreeMap::new();
                let mut held: Option<Capability<Timestamp>> = None;
                let mut state: HashMap<Row, (String, Option<Row>)> = HashMap::new();
                let mut out = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|capability, batch| {
                        if let Some(new) = capability.retain_least(0) {
                            match &held {
                                Some(current) if current.time() <= new.time() => {}
                                _ => held = Some(new),
                            }
                        }
                        for (row, time, diff) in batch.drain(..) {
                            // Readers send each message once (diff 1).
                            for _ in 0..diff.max(0) {
                                pending.entry(time).or_default().push(row.clone());
                            }
                        }
                    });
                    let ready: Vec<Timestamp> = pending
                        .keys()
                        .copied()
                        .filter(|time| !frontier.less_equal(time))
                        .collect();
                    for time in ready {
                        let Some(mut messages) = pending.remove(&time) else {
                            continue;
                        };
                        messages.sort_by(|a, b| a.get(arity).cmp(&b.get(arity)));
                        for message in messages {
                            apply(&mut state, &key, arity, message, time, &mut out);
                        }
                        if !out.is_empty()
                            && let Some(capability) = held.as_ref()
                        {
                            let capability = capability.delayed(&time);
                            output.session(&capability).give_iterator(out.drain(..));
                        }
                    }
                    match pending.keys().next().copied() {
                        Some(time) => {
                            if let Some(capability) = held.as_mut() {
                                capability.downgrade(&time);
                            }
                        }
                        None => held = None,
                    }
                }
            },
        )
        .as_collection()
}

/// Applies one message to the state, appending the changes it makes to `out`.
fn apply(
    state: &mut HashMap<Row, (String, Option<Row>)>,
    key: &[usize],
    arity: usize,
    message: Row,
    time: Timestamp,
    out: &mut Vec<(Row, Timestamp, Diff)>,
) {
    let deleted = matches!(message.get(arity + 1), Some(Datum::Bool(true)));
    let order = match message.get(arity) {
        Some(Datum::Text(order)) => order.to_string(),
        _ => String::new(),
    };
    let message: Row = message.iter().take(arity).cloned().collect();
    let key_row = message.project(key);
    let entry = state.entry(key_row).or_insert((String::new(), None));
    if !entry.0.is_empty() && order < entry.0 {
        // An older message of the key than the one applied: superseded.
        return;
    }
    entry.0 = order;
    let new = (!deleted).then_some(message);
    if entry.1 == new {
        return;
    }
    if let Some(old) = entry.1.take() {
        out.push((old, time, -1));
    }
    if let Some(new) = &new {
        out.push((new.clone(), time, 1));
    }
    entry.1 = new;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: i64, value: Option<&str>, order: &str) -> Row {
        Row::new(vec![
            Datum::Int64(key),
            value.map_or(Datum::Null, Datum::text),
            Datum::text(order),
            Datum::Bool(value.is_none()),
        ])
    }

    #[test]
    fn the_latest_message_per_key_wins_in_any_arrival_order() {
        let mut state = HashMap::new();
        let mut out = Vec::new();
        apply(
            &mut state,
            &[0],
            2,
            message(1, Some("a"), "01"),
            5,
            &mut out,
        );
        apply(
            &mut state,
            &[0],
            2,
            message(1, Some("c"), "03"),
            6,
            &mut out,
        );
        // Older than what was applied: ignored.
        apply(
            &mut state,
            &[0],
            2,
            message(1, Some("b"), "02"),
            7,
            &mut out,
        );
        apply(
            &mut state,
            &[0],
            2,
            message(2, Some("x"), "04"),
            7,
            &mut out,
        );
        apply(&mut state, &[0], 2, message(2, None, "05"), 8, &mut out);
        // A deleted key stays deleted for older messages.
        apply(
            &mut state,
            &[0],
            2,
            message(2, Some("y"), "04"),
            9,
            &mut out,
        );
        let text = |row: &Row| format!("{:?}", row.get(1));
        let changes: Vec<(String, Timestamp, Diff)> =
            out.iter().map(|(r, t, d)| (text(r), *t, *d)).collect();
        let a = text(&Row::new(vec![Datum::Null, Datum::text("a")]));
        let c = text(&Row::new(vec![Datum::Null, Datum::text("c")]));
        let x = text(&Row::new(vec![Datum::Null, Datum::text("x")]));
        assert_eq!(
            changes,
            vec![
                (a.clone(), 5, 1),
                (a, 6, -1),
                (c, 6, 1),
                (x.clone(), 7, 1),
                (x, 8, -1)
            ]
        );
    }
}
