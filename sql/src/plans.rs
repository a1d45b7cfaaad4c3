//! The output of planning: one [`StatementPlan`] per statement.

use laaster_repr::plan::{GlobalId, Plan, RowSetFinishing};
use laaster_repr::{RelationDesc, ScalarExpr, Timestamp};

use crate::catalog::{ItemKind, TableInfo};

/// Facts about the moment of planning.
#[derive(Clone, Debug)]
pub struct PlanContext {
    /// Wall-clock time of the statement in microseconds since the Unix epoch; `now()`
    /// in ad hoc queries and DML evaluates to this.
    pub now_micros: i64,
}

/// A planned query: the dataflow plan, the schema of its output, and what to do to the
/// result rows of an ad hoc read (sort/limit/offset/project). For views the finishing is
/// the identity and any ORDER BY ... LIMIT is a TopK inside `plan`.
#[derive(Clone, Debug)]
pub struct QueryPlan {
    pub plan: Plan,
    /// Schema of the rows after `finishing` is applied.
    pub desc: RelationDesc,
    pub finishing: RowSetFinishing,
}

/// What a statement does, fully resolved against the catalog.
#[derive(Clone, Debug)]
pub enum StatementPlan {
    CreateTable {
        name: String,
        desc: RelationDesc,
        info: TableInfo,
        if_not_exists: bool,
        create_sql: String,
    },
    CreateView {
        name: String,
        materialized: bool,
        /// Planned with view semantics (no finishing).
        query: QueryPlan,
        query_sql: String,
        uses: Vec<GlobalId>,
        if_not_exists: bool,
        or_replace: bool,
        create_sql: String,
    },
    /// Insert the rows `source` produces (already in the table's column order, with
    /// defaults filled and values cast to the column types).
    Insert {
        table: GlobalId,
        source: QueryPlan,
    },
    /// For each row of `table` where `filter` (over the row) is true, replace the listed
    /// columns by the expressions (over the old row).
    Update {
        table: GlobalId,
        filter: Option<ScalarExpr>,
        assignments: Vec<(usize, ScalarExpr)>,
    },
    /// Delete each row of `table` where `filter` is true (all rows when `None`).
    Delete {
        table: GlobalId,
        filter: Option<ScalarExpr>,
    },
    /// An ad hoc query, read at one timestamp.
    Select(QueryPlan),
    /// A change feed: snapshot (unless `snapshot` is false) then every change.
    Subscribe {
        query: QueryPlan,
        snapshot: bool,
        as_of: Option<Timestamp>,
    },
    /// Drop the named items (already resolved; missing ones with IF EXISTS are left out).
    Drop {
        kind: ItemKind,
        ids: Vec<GlobalId>,
        cascade: bool,
        /// Names given with IF EXISTS that do not exist (reported as notices).
        missing: Vec<String>,
    },
    ShowTables,
    ShowViews,
    ShowColumns {
        id: GlobalId,
    },
    ShowCreate {
        id: GlobalId,
    },
    /// EXPLAIN output, one line per row.
    Explain {
        text: String,
    },
}
