//! Rendering: a [`Plan`] into differential dataflow operators.
//!
//! Every operator produces a pair of collections: `oks` (the rows) and `errs` (evaluation
//! errors). Errors from all inputs flow to the output's `errs`, so a view whose rows hit
//! a division by zero reports that error when read, and its workers keep running.
//!
//! One file per operator family: [`mfp`], [`join`], [`reduce`] (generic) and
//! [`accumulate`] (counts and sums on the diff field), [`topk`], and [`monotonic`]
//! (aggregates and Top-N over append-only input, keeping O(groups) state).

pub mod accumulate;
pub mod interval_join;
pub mod join;
pub mod mfp;
pub mod monotonic;
pub mod reduce;
pub mod session;
pub mod topk;
pub mod watermark;
pub mod window_agg;
pub mod window_topk;

use std::cell::RefCell;
use std::collections::BTreeMap;

use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::implementations::KeySpine;
use differential_dataflow::{AsCollection, VecCollection};
use laaster_repr::ScalarExpr;
use laaster_repr::plan::{GlobalId, JoinKind, MapFilterProject, Plan, ReduceMonotonicity};
use laaster_repr::{Diff, EvalError, PackedRow, Row, Timestamp};
use timely::dataflow::Scope;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::vec::ToStream;

/// A collection of rows.
pub type RowCollection<'s> = VecCollection<'s, Timestamp, Row, Diff>;
/// A collection of evaluation errors.
pub type ErrCollection<'s> = VecCollection<'s, Timestamp, EvalError, Diff>;
/// Source readers' watermarks (see [`crate::source::WatermarkUpdate`]).
pub type WatermarkCollection<'s> =
    VecCollection<'s, Timestamp, crate::source::WatermarkUpdate, Diff>;
/// An arrangement of rows by the whole row (how tables and views are kept), packed
/// (see [`PackedRow`]): read it with [`PackedRow::unpack`].
pub type RowTrace = TraceAgent<KeySpine<PackedRow, Timestamp, Diff>>;
/// An arrangement of errors.
pub type ErrTrace = TraceAgent<KeySpine<EvalError, Timestamp, Diff>>;

/// The hasher of operator-local hash maps (keyed by rows, group keys, partition keys):
/// foldhash, several times cheaper than std's SipHash on short rows. These maps hold
/// one worker's state of one operator and their keys come from the data, but a HashDoS
/// attack on them is not part of the threat model (a query's author controls its
/// data anyway); each map still gets its own random seed, so draining one map into
/// another never meets the clustering a shared fixed seed can cause.
pub type FastState = foldhash::fast::RandomState;
/// A [`HashMap`](std::collections::HashMap) with the [`FastState`] hasher.
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastState>;

/// The rows and errors of one rendered operator.
#[derive(Clone)]
pub struct Rendered<'s> {
    pub oks: RowCollection<'s>,
    pub errs: ErrCollection<'s>,
}

/// A collection of packed rows (see [`PackedRow`]).
pub type PackedCollection<'s> = VecCollection<'s, Timestamp, PackedRow, Diff>;

/// An imported table or view: its rows as packed in its arrangement, and its errors.
#[derive(Clone)]
pub struct Imported<'s> {
    pub rows: PackedCollection<'s>,
    pub errs: ErrCollection<'s>,
}

/// What a dataflow under construction can read: the imported arrangements of tables and
/// views, as collections.
pub struct RenderContext<'s> {
    pub scope: Scope<'s, Timestamp>,
    /// Inputs that arrive as rows (streamed sources).
    pub imports: BTreeMap<GlobalId, Rendered<'s>>,
    /// Imported arrangements of tables and views, as packed rows: operators that can work
    /// on packed rows (joins and counts on columns) read them without unpacking; a plain
    /// `Get` unpacks them.
    pub arranged: BTreeMap<GlobalId, Imported<'s>>,
    /// For each streamed source the dataflow reads: its readers' watermarks.
    pub watermarks: BTreeMap<GlobalId, WatermarkCollection<'s>>,
    /// Stateful subplans rendered so far (see [`RenderContext::render`]): an identical
    /// subplan met again (as in a query that spells out the same windowed aggregation
    /// twice) reuses the rendered collections instead of computing them a second time.
    pub shared: RefCell<Vec<(Plan, Rendered<'s>)>>,
}

/// Whether [`RenderContext::render`] renders identical copies of `plan` once: the
/// operators that keep state (and whose inputs are then rendered once too).
fn shared(plan: &Plan) -> bool {
    matches!(
        plan,
        Plan::Reduce { .. }
            | Plan::WindowAggregate { .. }
            | Plan::EventTimeSessions { .. }
            | Plan::SessionWindows { .. }
            | Plan::WindowTopN { .. }
            | Plan::TopK { .. }
            | Plan::Join { .. }
            | Plan::IntervalJoin { .. }
            | Plan::Distinct { .. }
    )
}

impl<'s> RenderContext<'s> {
    /// Renders `plan`, returning its rows and errors. A stateful subplan equal to one
    /// rendered before in this dataflow is not rendered again: its collections are
    /// reused (they are the same collections either way, as rendering is deterministic).
    pub fn render(&self, plan: &Plan) -> Rendered<'s> {
        if !shared(plan) {
            return self.render_once(plan);
        }
        if let Some((_, rendered)) = self.shared.borrow().iter().find(|(p, _)| p == plan) {
            return rendered.clone();
        }
        let rendered = self.render_once(plan);
        self.shared
            .borrow_mut()
            .push((plan.clone(), rendered.clone()));
        rendered
    }

    /// Renders `plan` (its inputs through [`RenderContext::render`]).
    fn render_once(&self, plan: &Plan) -> Rendered<'s> {
        match plan {
            Plan::Get { id, .. } => match (self.imports.get(id), self.arranged.get(id)) {
                (Some(rendered), _) => rendered.clone(),
                (None, Some(imported)) => Rendered {
                    oks: imported.rows.clone().map(|row| row.unpack()),
                    errs: imported.errs.clone(),
                },
                (None, None) => self.constant_error(EvalError::Other(format!(
                    "internal error: relation {id} is not available to this dataflow"
                ))),
            },
            Plan::Constant { rows, .. } => {
                let rows = if self.scope.index() == 0 {
                    rows.iter()
                        .map(|(row, diff)| (row.clone(), 0, *diff))
                        .collect()
                } else {
                    Vec::new()
                };
                Rendered {
                    oks: rows.to_stream(self.scope).as_collection(),
                    errs: self.empty_errors(),
                }
            }
            Plan::Mfp { input, mfp } => match input.as_ref() {
                // Fused into the join: the joined row is projected as it is produced.
                join @ Plan::Join {
                    kind: JoinKind::Inner,
                    ..
                } => self.render_join(join, Some(mfp.clone())),
                _ => {
                    let input = self.render(input);
                    mfp::render_mfp(input, mfp.clone())
                }
            },
            join @ Plan::Join { .. } => self.render_join(join, None),
            join @ Plan::IntervalJoin { .. } => interval_join::render_plan(self, join),
            top @ Plan::WindowTopN { .. } => window_topk::render_plan(self, top),
            sessions @ Plan::EventTimeSessions { .. } => session::render_plan(self, sessions),
            Plan::Reduce {
                input,
                group_key,
                aggregates,
                global,
                monotonic,
            } => {
                if let Some(counts) =
                    session::render_reduce_plan(self, input, group_key, aggregates, *global)
                {
                    return counts;
                }
                if *monotonic != ReduceMonotonicity::Ordinary
                    && aggregates.iter().all(monotonic::supports)
                {
                    let input = self.render(input);
                    return monotonic::render_monotonic_reduce(
                        input,
                        group_key.clone(),
                        aggregates.clone(),
                        *global,
                        *monotonic,
                    );
                }
                if accumulate::rows_only(aggregates)
                    && let Some(imported) = self.packed_import(input)
                {
                    return accumulate::unpack(accumulate::render_packed_row_counts(
                        imported,
                        group_key.clone(),
                        aggregates.len(),
                        *global,
                    ));
                }
                let input = self.render(input);
                reduce::render_reduce(input, group_key.clone(), aggregates.clone(), *global)
            }
            Plan::WindowAggregate {
                input,
                group_key,
                aggregates,
                source,
                window_end,
                end_offset,
                allowed_lateness,
                emit,
            } => {
                let input = self.render(input);
                let spec = window_agg::WindowAggregateSpec {
                    group_key: group_key.clone(),
                    aggregates: aggregates.clone(),
                    window_end: *window_end,
                    end_offset: *end_offset,
                    allowed_lateness: *allowed_lateness,
                    emit: *emit,
                };
                let watermarks = self.watermarks.get(source).cloned();
                window_agg::render_window_aggregate(input, watermarks, spec)
            }
            Plan::TopK {
                input,
                group_key,
                order,
                limit,
                offset,
                monotonic,
            } => {
                let input = self.render(input);
                let render = if *monotonic {
                    monotonic::render_monotonic_topk
                } else {
                    topk::render_topk
                };
                render(input, group_key.clone(), order.clone(), *limit, *offset)
            }
            Plan::Window {
                input,
                partition,
                order,
                func,
                limit,
                monotonic,
            } => {
                let input = self.render(input);
                let render = if *monotonic {
                    monotonic::render_monotonic_window
                } else {
                    topk::render_window
                };
                render(input, partition.clone(), order.clone(), *func, *limit)
            }
            Plan::Windows { input, time, kind } => {
                let input = self.render(input);
                mfp::render_windows(input, time.clone(), *kind)
            }
            Plan::SessionWindows {
                input,
                partition,
                time,
                gap,
            } => {
                let input = self.render(input);
                session::render_session(input, partition.clone(), time.clone(), *gap)
            }
            Plan::Distinct { input } => {
                let input = self.render(input);
                Rendered {
                    oks: input.oks.distinct_core::<Diff>(),
                    errs: input.errs,
                }
            }
            Plan::Threshold { input } => {
                let input = self.render(input);
                Rendered {
                    oks: input
                        .oks
                        .threshold(|_row, count| if *count > 0 { *count } else { 0 }),
                    errs: input.errs,
                }
            }
            Plan::Negate { input } => {
                let input = self.render(input);
                Rendered {
                    oks: input.oks.negate(),
                    errs: input.errs,
                }
            }
            Plan::Union { inputs } => {
                let rendered: Vec<Rendered<'s>> = inputs.iter().map(|i| self.render(i)).collect();
                let mut oks = Vec::new();
                let mut errs = Vec::new();
                for r in rendered {
                    oks.push(r.oks);
                    errs.push(r.errs);
                }
                Rendered {
                    oks: differential_dataflow::collection::concatenate(self.scope, oks),
                    errs: differential_dataflow::collection::concatenate(self.scope, errs),
                }
            }
        }
    }

    /// Renders `plan` as packed rows, ready to be arranged. Operators that can build
    /// their output packed — inner joins of tables or views on columns with a plain
    /// projection, row counts of a table or view — do, so the rows are never built as
    /// [`Row`]s; anything else is rendered and packed.
    pub fn render_packed(&self, plan: &Plan) -> Imported<'s> {
        let columns = |key: &[ScalarExpr]| -> Option<Vec<usize>> {
            key.iter()
                .map(|k| match k {
                    ScalarExpr::Column(c) => Some(*c),
                    _ => None,
                })
                .collect()
        };
        match plan {
            Plan::Mfp { input, mfp } if mfp.is_projection() => {
                if let Plan::Join {
                    left,
                    right,
                    left_key,
                    right_key,
                    residual: None,
                    kind: JoinKind::Inner,
                } = input.as_ref()
                    && let (Some(l), Some(r)) =
                        (self.packed_import(left), self.packed_import(right))
                    && let (Some(lc), Some(rc)) = (columns(left_key), columns(right_key))
                {
                    return join::render_packed_join(l, r, lc, rc, mfp.projection.clone());
                }
            }
            Plan::Reduce {
                input,
                group_key,
                aggregates,
                global,
                monotonic: ReduceMonotonicity::Ordinary,
            } if accumulate::rows_only(aggregates) => {
                if let Some(imported) = self.packed_import(input) {
                    return accumulate::render_packed_row_counts(
                        imported,
                        group_key.clone(),
                        aggregates.len(),
                        *global,
                    );
                }
            }
            _ => {}
        }
        let rendered = self.render(plan);
        Imported {
            rows: rendered.oks.map(|row| PackedRow::from(&row)),
            errs: rendered.errs,
        }
    }

    /// Renders a join, with `output` fused into it (inner joins only).
    fn render_join(&self, plan: &Plan, output: Option<MapFilterProject>) -> Rendered<'s> {
        let Plan::Join {
            left,
            right,
            left_key,
            right_key,
            residual,
            kind,
        } = plan
        else {
            return self.render(plan);
        };
        let spec = join::JoinSpec {
            left_key: left_key.clone(),
            right_key: right_key.clone(),
            residual: residual.clone(),
            kind: *kind,
            left_arity: left.arity(),
            right_arity: right.arity(),
            output,
        };
        let input = |plan: &Plan, key: &[ScalarExpr]| match self.packed_import(plan) {
            Some(imported)
                if *kind == JoinKind::Inner
                    && key.iter().all(|k| matches!(k, ScalarExpr::Column(_))) =>
            {
                join::JoinInput::Packed(imported)
            }
            _ => join::JoinInput::Rows(self.render(plan)),
        };
        join::render_join(input(left, left_key), input(right, right_key), spec)
    }

    /// The packed rows of `plan` when it reads an imported table or view directly.
    fn packed_import(&self, plan: &Plan) -> Option<Imported<'s>> {
        match plan {
            Plan::Get { id, .. } if !self.imports.contains_key(id) => {
                self.arranged.get(id).cloned()
            }
            _ => None,
        }
    }

    fn empty_errors(&self) -> ErrCollection<'s> {
        Vec::<(EvalError, Timestamp, Diff)>::new()
            .to_stream(self.scope)
            .as_collection()
    }

    fn constant_error(&self, error: EvalError) -> Rendered<'s> {
        let errs = if self.scope.index() == 0 {
            vec![(error, 0, 1)]
        } else {
            Vec::new()
        };
        Rendered {
            oks: Vec::<(Row, Timestamp, Diff)>::new()
                .to_stream(self.scope)
                .as_collection(),
            errs: errs.to_stream(self.scope).as_collection(),
        }
    }
}

/// Arranges `rows` by the whole row, packed: how tables and views keep their contents.
pub fn arrange_rows(rows: RowCollection<'_>, name: &str) -> RowTrace {
    arrange_packed(rows.map(|row| PackedRow::from(&row)), name)
}

/// Arranges packed rows by the whole row.
pub fn arrange_packed(rows: PackedCollection<'_>, name: &str) -> RowTrace {
    rows.arrange_by_self_named(name).trace
}

/// Splits a collection of results into rows and errors.
pub fn split_results<'s>(
    results: VecCollection<'s, Timestamp, Result<Row, EvalError>, Diff>,
) -> (RowCollection<'s>, ErrCollection<'s>) {
    let (oks, errs) = results.inner.ok_err(|(result, time, diff)| match result {
        Ok(row) => Ok((row, time, diff)),
        Err(error) => Err((error, time, diff)),
    });
    (oks.as_collection(), errs.as_collection())
}
