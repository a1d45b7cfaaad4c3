//! The dataflow plan IR: what `laaster-sql` lowers a query into and what
//! `laaster-dataflow` renders into timely/differential operators.
//!
//! A [`Plan`] is a tree of relational operators over collections of `(Row, Time, Diff)`.
//! Every variant's doc says what it computes, what state the rendered operator keeps, and
//! what it costs per input change (the thing to look at when a view is slow or large).
//! Each rendered operator produces two collections: `oks` (rows) and `errs` (row-level
//! evaluation errors, which make reads of the view fail rather than crash a worker).
//!
//! Column references inside a node always index that node's *input* row (for
//! [`Plan::Join`], the concatenation left ++ right).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::{Datum, Diff, EvalError, Row, ScalarExpr, ScalarType};

/// Identifies a catalog item (table or materialized view) whose arrangement a plan reads.
pub type GlobalId = u64;

/// A relational operator tree. See the module docs for conventions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Plan {
    /// Reads the arrangement of a table or materialized view.
    /// State: none (imports a shared trace). Cost: O(1) per change.
    Get { id: GlobalId, arity: usize },
    /// A constant collection, emitted once at the dataflow's start time.
    /// State: none. Cost: once.
    Constant {
        rows: Vec<(Row, Diff)>,
        arity: usize,
    },
    /// Maps, filters and projects each row (fused; see [`MapFilterProject`]).
    /// State: none. Cost: O(expression size) per change.
    Mfp {
        input: Box<Plan>,
        mfp: MapFilterProject,
    },
    /// Joins two inputs on equality of `left_key` (over left rows) and `right_key` (over
    /// right rows); rows whose key contains a NULL never match (SQL equality). `residual`
    /// is evaluated over left ++ right and must be true for a pair to match. Outer kinds
    /// also emit unmatched rows padded with NULLs. Output: left columns then right columns.
    /// Empty keys make a cross join (all rows meet on one worker).
    /// State: both inputs arranged by key (O(|left| + |right|)); outer joins also
    /// arrange the matched keys. Cost: O(matches) per change.
    Join {
        left: Box<Plan>,
        right: Box<Plan>,
        left_key: Vec<ScalarExpr>,
        right_key: Vec<ScalarExpr>,
        residual: Option<ScalarExpr>,
        kind: JoinKind,
    },
    /// Groups rows by the `group_key` columns and computes `aggregates` per group.
    /// Output: key columns then one column per aggregate. With an empty key and
    /// `global` set, exactly one row is produced even for empty input (SQL's
    /// `SELECT count(*) FROM empty` = 0).
    /// State: the input arranged by key plus the output (O(|input|)). Cost: O(group size)
    /// per change to a group (O(1) amortized for counts and sums).
    ///
    /// With `monotonic` other than [`ReduceMonotonicity::Ordinary`] (set by the planner,
    /// see docs/design/monotonic.md) every aggregate is kept as one running accumulator
    /// per group, never the rows. State: O(groups). Cost: O(aggregates) per input row.
    Reduce {
        input: Box<Plan>,
        group_key: Vec<usize>,
        aggregates: Vec<AggregateExpr>,
        global: bool,
        monotonic: ReduceMonotonicity,
    },
    /// Keeps, per group, the rows ranked `offset .. offset + limit` by `order` (ties
    /// broken by the whole row, so the result is deterministic). A `None` limit keeps all
    /// rows past the offset.
    /// State: input arranged by group. Cost: O(group size) per change to a group.
    ///
    /// With `monotonic` (append-only input and a limit, see [`Plan::Reduce`]) each group
    /// keeps only its first `offset + limit` rows; a row that cannot enter is dropped on
    /// arrival (it never can later: rows are only added). State: O(groups × (offset +
    /// limit)). Cost: O(offset + limit) per input row that enters, O(log) for one that
    /// does not.
    TopK {
        input: Box<Plan>,
        group_key: Vec<usize>,
        order: Vec<SortKey>,
        limit: Option<u64>,
        offset: u64,
        monotonic: bool,
    },
    /// Appends the value of a ranking window function per row: `ROW_NUMBER`, `RANK` or
    /// `DENSE_RANK` over `partition` ordered by `order`. With `limit`, only rows whose
    /// value is at most `limit` are kept (the incremental Top-N for `rn <= N`).
    /// State: input arranged by partition. Cost: O(partition size) per change.
    ///
    /// With `monotonic` (append-only input and a limit, see [`Plan::Reduce`]) each
    /// partition keeps only the rows ranked within `limit` (all tied rows for RANK and
    /// DENSE_RANK); a row ranked past it is dropped for good, since ranks only grow as
    /// rows arrive. State: O(partitions × limit). Cost: O(limit) per input row.
    Window {
        input: Box<Plan>,
        partition: Vec<usize>,
        order: Vec<SortKey>,
        func: WindowFunc,
        limit: Option<u64>,
        monotonic: bool,
    },
    /// Event-time windows (Flink's window table functions TUMBLE, HOP, CUMULATE):
    /// each row whose `time` (a TIMESTAMP expression over the row) is not NULL becomes
    /// one row per window containing that time, with `window_start`, `window_end` and
    /// `window_time` (= end - 1 ms) appended. A NULL time drops the row.
    /// State: none. Cost: O(windows per row) per change.
    Windows {
        input: Box<Plan>,
        time: ScalarExpr,
        kind: WindowKind,
    },
    /// Session windows (Flink's `SESSION`): per `partition` key, the rows whose `time`
    /// is not NULL, sorted by time, form sessions — a row at `t` opens `[t, t + gap)` and
    /// overlapping ranges merge. Each row is output with its session's `window_start`
    /// (first time), `window_end` (last time + gap) and `window_time` (= end - 1 ms)
    /// appended. A row that bridges two sessions merges them; deleting it splits them
    /// again. A NULL time drops the row.
    /// State: the input arranged by partition key plus the output (O(|input|)).
    /// Cost: O(partition size) per change to a partition (its sessions are recomputed
    /// and every row of a session whose bounds moved is retracted and re-emitted).
    SessionWindows {
        input: Box<Plan>,
        partition: Vec<usize>,
        time: ScalarExpr,
        /// The gap in microseconds (positive).
        gap: i64,
    },
    /// Grouped aggregation over event-time windows of an append-only streamed source
    /// (`GROUP BY window_start, window_end, ...` over a window TVF): output as
    /// [`Plan::Reduce`] (key columns, then one column per aggregate), plus the window's
    /// lifetime: a group's window ends at `window_end` (a TIMESTAMP column of the input
    /// row) plus `end_offset`, and once the watermark of `source` (the minimum over its
    /// readers, idle ones excluded) passes that end plus `allowed_lateness`, the group's
    /// state is freed. With [`WindowEmit::OnUpdate`] every change emits the old row
    /// retracted and the new one; with [`WindowEmit::OnWindowClose`] each group's final
    /// row is emitted once, when the watermark closes its window (append-only output).
    /// Times are processed in order once the inputs' frontier passes them.
    /// State: one accumulator per open (key, window) (a value set for `count(DISTINCT)`);
    /// nothing for closed windows. Cost: O(aggregates) per input row.
    WindowAggregate {
        input: Box<Plan>,
        group_key: Vec<usize>,
        aggregates: Vec<AggregateExpr>,
        source: GlobalId,
        /// The input column holding the window's end (or start, with `end_offset` the
        /// window's largest size).
        window_end: usize,
        end_offset: i64,
        allowed_lateness: i64,
        emit: WindowEmit,
    },
    /// An inner join of two event-time inputs whose matching rows are close in event
    /// time (interval joins `l.ts BETWEEN r.ts - a AND r.ts + b`, window joins on
    /// `window_start`/`window_end`): output as [`Plan::Join`] with the same keys and
    /// residual, which imply `lower <= left[left_time.column] - right[right_time.column]
    /// <= upper` (microseconds) for every matching pair. A row is kept only while a row
    /// of the other side could still match it: once the other side's watermark rules
    /// that out (and its own window, for a side that is a window aggregate's output, has
    /// closed), it is freed. Rows of an append-only side arriving behind their own
    /// watermark by more than the allowed lateness are dropped and counted. Matches are
    /// emitted when rows arrive (times in order once the inputs' frontiers pass them).
    /// State: the rows of each side within the interval of the watermark, per key.
    /// Cost: O(matches in the key's live rows) per input row.
    IntervalJoin {
        left: Box<Plan>,
        right: Box<Plan>,
        left_key: Vec<ScalarExpr>,
        right_key: Vec<ScalarExpr>,
        residual: Option<ScalarExpr>,
        left_time: EventTimeColumn,
        right_time: EventTimeColumn,
        lower: i64,
        upper: i64,
    },
    /// A ranking window function with a limit (Top-N) per partition of an event-time
    /// input whose partition key holds a window bound (`PARTITION BY window_start,
    /// window_end`): output as [`Plan::Window`] with `limit`. A partition's window
    /// closes once the watermark passes `time` (the bound column) plus its offset and
    /// allowed lateness: its state is then freed, its final rows stay downstream. Rows
    /// arriving for a closed window are dropped and counted. Over an append-only input
    /// `ROW_NUMBER` keeps only the first `limit` rows of a partition.
    /// State: the rows of open windows' partitions (at most `limit` each for
    /// `ROW_NUMBER` over append-only rows). Cost: O(partition size) per change.
    WindowTopN {
        input: Box<Plan>,
        partition: Vec<usize>,
        order: Vec<SortKey>,
        func: WindowFunc,
        limit: u64,
        time: EventTimeColumn,
    },
    /// Session windows (as [`Plan::SessionWindows`], same output) over append-only rows of
    /// a watermarked source, partitioned by `partition`, on the event-time column `time`.
    /// A session `[start, end)` closes once the watermark reaches `end` plus the column's
    /// offset and allowed lateness (no row still to come can reach into it): its rows are
    /// freed, its output rows stay downstream. Rows arriving behind the watermark by more
    /// than the allowed lateness are dropped and counted.
    /// State: the rows of open sessions. Cost: O(open rows of the partition) per change.
    /// A [`Plan::Reduce`] of it whose groups are its sessions (every partition column and
    /// a session bound) and whose aggregates are all `count(*)` is rendered as one
    /// operator emitting a row per session; it keeps the open sessions' times, not their
    /// rows, and costs O(log n) per row that does not merge or split sessions.
    EventTimeSessions {
        input: Box<Plan>,
        partition: Vec<usize>,
        time: EventTimeColumn,
        /// The gap in microseconds (positive).
        gap: i64,
    },
    /// Each distinct row once. State: arranged input. Cost: O(1) amortized per change.
    Distinct { input: Box<Plan> },
    /// Keeps rows with positive multiplicity, clamping negatives to absent
    /// (`EXCEPT`/`INTERSECT ALL`). State: arranged input. Cost: O(1) per change.
    Threshold { input: Box<Plan> },
    /// Multiplies every diff by -1. State: none.
    Negate { input: Box<Plan> },
    /// Concatenation of same-arity inputs (`UNION ALL`). State: none.
    Union { inputs: Vec<Plan> },
}

/// What a [`Plan::Reduce`] may assume about how its input changes (set by the planner,
/// see docs/design/monotonic.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceMonotonicity {
    /// Rows may be inserted and retracted in any way: the input is arranged and a changed
    /// group is recomputed from its rows.
    #[default]
    Ordinary,
    /// Rows are only inserted (a streamed source through maps, filters, window TVFs,
    /// inner joins and unions): one running accumulator per aggregate (count, exact sum,
    /// min, max, bool_and/or, a value set for count DISTINCT). A retraction reaching it
    /// is reported as an error (the planner's promise was broken).
    AppendOnly,
    /// Every aggregate is a `max` of an input column that only grows per group: a row is
    /// retracted only at a time at which a row of the same group with a value at least as
    /// large is inserted (counts or maxima per key of an append-only input, regrouped by
    /// part of that key). The maximum over every row ever inserted is then the maximum
    /// over the current rows, so retractions are skipped and one value per group is kept.
    MaxOfGrowing,
}

/// When a [`Plan::WindowAggregate`] emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowEmit {
    /// At every change (partial results visible at once): Flink's and RisingWave's default.
    OnUpdate,
    /// Once per window, its final row, when the watermark closes it (`EMIT ON WINDOW CLOSE`).
    OnWindowClose,
}

/// The shape of event-time windows; all lengths in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowKind {
    /// Fixed windows `[k·size + offset, (k+1)·size + offset)`.
    Tumble { size: i64, offset: i64 },
    /// Windows of `size` starting every `slide`; a row is in `size / slide` of them.
    Hop { slide: i64, size: i64 },
    /// Windows starting at multiples of `max` that grow by `step` up to `max`.
    Cumulate { step: i64, max: i64 },
}

impl WindowKind {
    /// The `(start, end)` of every window containing `time` (microseconds), earliest
    /// start first. Empty when a length is not positive or the bounds overflow.
    pub fn windows(&self, time: i64) -> Vec<(i64, i64)> {
        let floor = |t: i64, size: i64, offset: i64| -> Option<i64> {
            let shifted = t.checked_sub(offset)?;
            shifted
                .checked_sub(shifted.rem_euclid(size))?
                .checked_add(offset)
        };
        let mut out = Vec::new();
        match *self {
            WindowKind::Tumble { size, offset } if size > 0 => {
                if let Some(start) = floor(time, size, offset)
                    && let Some(end) = start.checked_add(size)
                {
                    out.push((start, end));
                }
            }
            WindowKind::Hop { slide, size } if slide > 0 && size > 0 => {
                // The last window starting at or before `time`, then earlier ones while
                // they still contain it.
                let Some(mut start) = floor(time, slide, 0) else {
                    return out;
                };
                while let Some(end) = start.checked_add(size) {
                    if end <= time {
                        break;
                    }
                    out.push((start, end));
                    match start.checked_sub(slide) {
                        Some(previous) => start = previous,
                        None => break,
                    }
                }
                out.reverse();
            }
            WindowKind::Cumulate { step, max } if step > 0 && max > 0 => {
                let Some(start) = floor(time, max, 0) else {
                    return out;
                };
                let mut end = match floor(time, step, 0).and_then(|f| f.checked_add(step)) {
                    Some(end) => end,
                    None => return out,
                };
                while let Some(limit) = start.checked_add(max) {
                    if end > limit {
                        break;
                    }
                    out.push((start, end));
                    match end.checked_add(step) {
                        Some(next) => end = next,
                        None => break,
                    }
                }
            }
            _ => {}
        }
        out
    }
}

/// An event-time column of a [`Plan::IntervalJoin`] input and what the watermark of
/// `source` says about it: every row still to come has `column + offset >= watermark -
/// allowed_lateness` (`offset` 0 for the watermarked column itself; for a window bound
/// the distance to the window's end). With `retractable` (a window aggregate's output)
/// a row may still change until the watermark reaches `column + offset +
/// allowed_lateness` (its window closed); otherwise rows never change once arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTimeColumn {
    pub source: GlobalId,
    pub column: usize,
    pub offset: i64,
    pub allowed_lateness: i64,
    pub retractable: bool,
}

/// Which rows of a join survive without a partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinKind {
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
}

/// A ranking window function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowFunc {
    RowNumber,
    Rank,
    DenseRank,
}

/// One sort column: `column` of the row, direction, and where NULLs go. Postgres'
/// defaults are `ASC NULLS LAST` and `DESC NULLS FIRST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortKey {
    pub column: usize,
    pub descending: bool,
    pub nulls_last: bool,
}

impl SortKey {
    pub fn asc(column: usize) -> SortKey {
        SortKey {
            column,
            descending: false,
            nulls_last: true,
        }
    }
}

/// Compares two rows by the sort keys (and nothing else).
pub fn compare_rows(left: &[Datum], right: &[Datum], keys: &[SortKey]) -> Ordering {
    for key in keys {
        let (a, b) = (&left[key.column], &right[key.column]);
        let ordering = match (a.is_null(), b.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) if key.nulls_last => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, true) if key.nulls_last => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) if key.descending => b.cmp(a),
            (false, false) => a.cmp(b),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

/// An aggregate over the rows of a group: `func(DISTINCT? args ORDER BY order_by)`.
/// `FILTER (WHERE p)` is planned as arguments that are NULL where `p` is not true (every
/// aggregate here ignores NULL inputs, `count(*)` being `count(true)`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateExpr {
    pub func: AggregateFunc,
    /// Argument expressions over the input row. `string_agg` takes (value, delimiter).
    pub args: Vec<ScalarExpr>,
    pub distinct: bool,
    /// Order of values for `string_agg` / `array_agg`: expressions over the input row.
    pub order_by: Vec<(ScalarExpr, SortKey)>,
}

/// The aggregate functions. All ignore NULL arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggregateFunc {
    /// Number of non-null argument values (`count(*)` has the argument `true`).
    Count,
    /// Sum producing `output` (`bigint` for small ints, `numeric` for bigint and numeric,
    /// float types for floats). NULL over no non-null values.
    Sum {
        output: ScalarType,
    },
    Min,
    Max,
    BoolAnd,
    BoolOr,
    /// `string_agg(value, delimiter)`.
    StringAgg,
    /// `array_agg(value)`; unlike the others it keeps NULL elements.
    ArrayAgg,
}

impl AggregateFunc {
    /// Whether the aggregate can be maintained by adding and subtracting per change
    /// (counts and exact sums), rather than by re-reading the group.
    pub fn is_accumulable(&self) -> bool {
        match self {
            AggregateFunc::Count => true,
            AggregateFunc::Sum { output } => !output.is_float(),
            _ => false,
        }
    }
}

/// A fused map, filter and project, applied to each row: append `expressions` (each may
/// read the input and earlier expressions), keep the row only if every predicate is
/// true, then output the `projection` columns. A predicate is evaluated as soon as the
/// columns it reads exist, so `WHERE x <> 0` guards a `1 / x` in the select list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapFilterProject {
    pub input_arity: usize,
    pub expressions: Vec<ScalarExpr>,
    pub predicates: Vec<ScalarExpr>,
    pub projection: Vec<usize>,
}

impl MapFilterProject {
    /// The identity on rows of `arity` columns.
    pub fn identity(arity: usize) -> Self {
        MapFilterProject {
            input_arity: arity,
            expressions: Vec::new(),
            predicates: Vec::new(),
            projection: (0..arity).collect(),
        }
    }

    pub fn output_arity(&self) -> usize {
        self.projection.len()
    }

    /// Whether the operator only selects columns (no maps, no filters), and so cannot
    /// fail or drop a row.
    pub fn is_projection(&self) -> bool {
        self.expressions.is_empty() && self.predicates.is_empty()
    }

    pub fn is_identity(&self) -> bool {
        self.expressions.is_empty()
            && self.predicates.is_empty()
            && self.projection.len() == self.input_arity
            && self.projection.iter().enumerate().all(|(i, &c)| i == c)
    }

    /// Appends expressions; returns self for chaining.
    pub fn map(mut self, expressions: impl IntoIterator<Item = ScalarExpr>) -> Self {
        self.expressions.extend(expressions);
        self
    }

    pub fn filter(mut self, predicates: impl IntoIterator<Item = ScalarExpr>) -> Self {
        self.predicates.extend(predicates);
        self
    }

    pub fn project(mut self, columns: Vec<usize>) -> Self {
        self.projection = columns;
        self
    }

    /// Applies the operator to one row. `Ok(None)` means the row was filtered out.
    /// Operators applied to many rows should [`prepare`](Self::prepare) once instead.
    pub fn evaluate(&self, row: &[Datum]) -> Result<Option<Row>, EvalError> {
        self.prepare().evaluate(row)
    }

    /// Precomputes when each predicate can run, for repeated evaluation.
    pub fn prepare(&self) -> PreparedMfp {
        let mut predicates_after: Vec<Vec<ScalarExpr>> =
            vec![Vec::new(); self.expressions.len() + 1];
        for predicate in &self.predicates {
            let needed = predicate.columns().last().map_or(0, |&c| c + 1);
            let level = needed
                .saturating_sub(self.input_arity)
                .min(self.expressions.len());
            predicates_after[level].push(predicate.clone());
        }
        PreparedMfp {
            expressions: self.expressions.clone(),
            predicates_after,
            projection: self.projection.clone(),
        }
    }
}

/// A [`MapFilterProject`] ready to run on many rows: `predicates_after[i]` holds the
/// predicates that can be evaluated once the first `i` expressions have been appended.
#[derive(Clone, Debug)]
pub struct PreparedMfp {
    expressions: Vec<ScalarExpr>,
    predicates_after: Vec<Vec<ScalarExpr>>,
    projection: Vec<usize>,
}

impl PreparedMfp {
    /// Applies the operator to one row. `Ok(None)` means the row was filtered out.
    pub fn evaluate(&self, row: &[Datum]) -> Result<Option<Row>, EvalError> {
        if !Self::passes(&self.predicates_after[0], row)? {
            return Ok(None);
        }
        if self.expressions.is_empty() {
            return Ok(Some(
                self.projection.iter().map(|&c| row[c].clone()).collect(),
            ));
        }
        // Expressions read the row and the values appended so far, without a copy.
        let mut appended: Vec<Datum> = Vec::with_capacity(self.expressions.len());
        for (index, expression) in self.expressions.iter().enumerate() {
            let value = expression.eval_split(row, &appended)?;
            appended.push(value);
            for predicate in &self.predicates_after[index + 1] {
                if predicate.eval_split(row, &appended)? != Datum::Bool(true) {
                    return Ok(None);
                }
            }
        }
        let width = row.len();
        Ok(Some(
            self.projection
                .iter()
                .map(|&c| {
                    if c < width {
                        row[c].clone()
                    } else {
                        appended[c - width].clone()
                    }
                })
                .collect(),
        ))
    }

    fn passes(predicates: &[ScalarExpr], datums: &[Datum]) -> Result<bool, EvalError> {
        for predicate in predicates {
            if predicate.eval(datums)? != Datum::Bool(true) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Plan {
    /// Number of columns in the output rows.
    pub fn arity(&self) -> usize {
        match self {
            Plan::Get { arity, .. } | Plan::Constant { arity, .. } => *arity,
            Plan::Mfp { mfp, .. } => mfp.output_arity(),
            Plan::Join { left, right, .. } | Plan::IntervalJoin { left, right, .. } => {
                left.arity() + right.arity()
            }
            Plan::Reduce {
                group_key,
                aggregates,
                ..
            }
            | Plan::WindowAggregate {
                group_key,
                aggregates,
                ..
            } => group_key.len() + aggregates.len(),
            Plan::Window { input, .. } | Plan::WindowTopN { input, .. } => input.arity() + 1,
            Plan::Windows { input, .. }
            | Plan::SessionWindows { input, .. }
            | Plan::EventTimeSessions { input, .. } => input.arity() + 3,
            Plan::TopK { input, .. }
            | Plan::Distinct { input }
            | Plan::Threshold { input }
            | Plan::Negate { input } => input.arity(),
            Plan::Union { inputs } => inputs.first().map_or(0, Plan::arity),
        }
    }

    /// The catalog items this plan reads.
    pub fn imports(&self) -> Vec<GlobalId> {
        let mut ids = Vec::new();
        self.visit(&mut |p| {
            if let Plan::Get { id, .. } = p {
                ids.push(*id);
            }
        });
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Calls `f` on every node, parents first.
    pub fn visit(&self, f: &mut impl FnMut(&Plan)) {
        f(self);
        for child in self.children() {
            child.visit(f);
        }
    }

    pub fn children(&self) -> Vec<&Plan> {
        match self {
            Plan::Get { .. } | Plan::Constant { .. } => vec![],
            Plan::Mfp { input, .. }
            | Plan::Reduce { input, .. }
            | Plan::WindowAggregate { input, .. }
            | Plan::TopK { input, .. }
            | Plan::Window { input, .. }
            | Plan::WindowTopN { input, .. }
            | Plan::Windows { input, .. }
            | Plan::SessionWindows { input, .. }
            | Plan::EventTimeSessions { input, .. }
            | Plan::Distinct { input }
            | Plan::Threshold { input }
            | Plan::Negate { input } => vec![input],
            Plan::Join { left, right, .. } | Plan::IntervalJoin { left, right, .. } => {
                vec![left, right]
            }
            Plan::Union { inputs } => inputs.iter().collect(),
        }
    }
}

/// What an ad hoc `SELECT` does to its result rows after reading them at one timestamp:
/// sort, skip, limit and project away sort-only columns. Views do not have a
/// finishing; their `ORDER BY ... LIMIT` is a [`Plan::TopK`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSetFinishing {
    pub order: Vec<SortKey>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub projection: Vec<usize>,
}

impl RowSetFinishing {
    /// Sorts, offsets, limits and projects `rows` (expanded to one entry per copy).
    pub fn apply(&self, mut rows: Vec<Row>) -> Vec<Row> {
        rows.sort_by(|a, b| compare_rows(a, b, &self.order));
        rows.into_iter()
            .skip(usize::try_from(self.offset).unwrap_or(usize::MAX))
            .take(
                self.limit
                    .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)),
            )
            .map(|row| row.project(&self.projection))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::Func;

    #[test]
    fn predicate_guards_later_expression() {
        // SELECT 10 / x FROM t WHERE x <> 0
        let mfp = MapFilterProject::identity(1)
            .map([ScalarExpr::call2(
                Func::Div,
                ScalarExpr::literal(Datum::Int64(10), ScalarType::Int64),
                ScalarExpr::column(0),
            )])
            .filter([ScalarExpr::call2(
                Func::NotEq,
                ScalarExpr::column(0),
                ScalarExpr::literal(Datum::Int64(0), ScalarType::Int64),
            )])
            .project(vec![1]);
        assert_eq!(mfp.evaluate(&[Datum::Int64(0)]), Ok(None));
    }

    #[test]
    fn window_bounds_follow_flink() {
        let second = 1_000_000;
        let tumble = WindowKind::Tumble {
            size: 10 * second,
            offset: 0,
        };
        assert_eq!(
            tumble.windows(12 * second),
            vec![(10 * second, 20 * second)]
        );
        assert_eq!(tumble.windows(-1), vec![(-10 * second, 0)]);
        let hop = WindowKind::Hop {
            slide: 2 * second,
            size: 10 * second,
        };
        let windows = hop.windows(11 * second);
        assert_eq!(windows.len(), 5);
        assert_eq!(windows[0], (2 * second, 12 * second));
        assert_eq!(windows[4], (10 * second, 20 * second));
        let cumulate = WindowKind::Cumulate {
            step: 2 * second,
            max: 10 * second,
        };
        assert_eq!(
            cumulate.windows(13 * second),
            vec![
                (10 * second, 14 * second),
                (10 * second, 16 * second),
                (10 * second, 18 * second),
                (10 * second, 20 * second)
            ]
        );
        assert!(WindowKind::Hop { slide: 0, size: 1 }.windows(5).is_empty());
    }

    #[test]
    fn nulls_sort_last_ascending_first_descending() {
        let rows = [vec![Datum::Null], vec![Datum::Int64(1)]];
        let asc = [SortKey::asc(0)];
        assert_eq!(compare_rows(&rows[0], &rows[1], &asc), Ordering::Greater);
        let desc = [SortKey {
            column: 0,
            descending: true,
            nulls_last: false,
        }];
        assert_eq!(compare_rows(&rows[0], &rows[1], &desc), Ordering::Less);
    }
}
