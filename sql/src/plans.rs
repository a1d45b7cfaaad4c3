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
    /// `CREATE TABLE name (...) WITH ('connector' = ...)`: a table fed by a connector.
    CreateSource(CreateSourcePlan),
    /// `CREATE TABLE name (...) WITH ('connector' = <sink connector>)`: a sink table; or
    /// `CREATE SINK name FROM relation WITH (...)`.
    CreateSink(CreateSinkPlan),
    /// `INSERT INTO sink SELECT ...`: a continuous dataflow writing every change of
    /// `query` (already in the sink's column order and types) to the sink `sink`.
    InsertIntoSink {
        sink: GlobalId,
        query: QueryPlan,
        /// The catalog items the query reads (they cannot be dropped while it runs).
        uses: Vec<GlobalId>,
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
    /// UPDATE as read-then-write: `selection` is read at one timestamp; each of its rows
    /// is a row of `table` to change (its first `arity` columns) followed by one value
    /// per SET expression. The new row is the old one with each `(column, expr)`
    /// replaced by `expr` evaluated over the selection row.
    Update {
        table: GlobalId,
        selection: QueryPlan,
        assignments: Vec<(usize, ScalarExpr)>,
    },
    /// DELETE as read-then-write: every row `selection` reads (at one timestamp) is a row
    /// of `table` to delete.
    Delete {
        table: GlobalId,
        selection: QueryPlan,
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
    /// Source tables: rows produced, late rows dropped, watermark, whether exhausted.
    ShowSources,
    /// Sink tables: connector, rows inserted and retracted, errors, running dataflows.
    ShowSinks,
    /// `CREATE FUNCTION name AS 'class'` for a known class: nothing to do (the built-in
    /// `name` implements it).
    CreateFunction {
        name: String,
    },
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

/// A sink: where the changes of `INSERT INTO name SELECT ...` (a sink table) or of the
/// relation of `CREATE SINK name FROM relation` go.
#[derive(Clone, Debug)]
pub struct CreateSinkPlan {
    pub name: String,
    pub desc: RelationDesc,
    /// `blackhole`, `print`, or an external connector of the connector registry.
    pub connector: String,
    /// The connector's options (for `print`: `print-identifier`, `standard-error`).
    pub options: Vec<(String, String)>,
    /// The declared `PRIMARY KEY (...) NOT ENFORCED` (column indexes): an upsert sink's key.
    pub primary_key: Option<Vec<usize>>,
    /// `CREATE SINK ... FROM relation`: the query reading the relation, started at once.
    pub from: Option<SinkFrom>,
    pub if_not_exists: bool,
    pub create_sql: String,
}

/// What `CREATE SINK name FROM relation` writes: `SELECT * FROM relation`.
#[derive(Clone, Debug)]
pub struct SinkFrom {
    pub query: QueryPlan,
    /// The catalog items the query reads.
    pub uses: Vec<GlobalId>,
}

/// A source table: the connector produces the first `physical_arity` columns; computed
/// columns (`c AS expr`) follow, evaluated over the physical row; the watermark, if
/// declared, is an expression over the full row (e.g. `ts - INTERVAL '4' SECOND`) whose
/// running maximum bounds the event time of rows still to come.
#[derive(Clone, Debug)]
pub struct CreateSourcePlan {
    pub name: String,
    /// All columns: physical, then computed.
    pub desc: RelationDesc,
    pub physical_arity: usize,
    /// One expression per computed column, over the physical row, in column order.
    pub computed: Vec<ScalarExpr>,
    /// `(event-time column, watermark expression over the full row)`.
    pub watermark: Option<(usize, ScalarExpr)>,
    /// The `connector` option's value, lower-cased (`nexmark`, `datagen`, ...).
    pub connector: String,
    /// Every other WITH option, in order, keys as written.
    pub options: Vec<(String, String)>,
    /// The declared `PRIMARY KEY (...) NOT ENFORCED` (physical column indexes): the key of
    /// an upsert source (`'scan.mode' = 'upsert'`), or of the table used as an upsert sink.
    pub primary_key: Option<Vec<usize>>,
    /// Metadata columns (`name TYPE METADATA [FROM 'key']`): physical column index and
    /// metadata key as written (the column's name when `FROM` is omitted). The engine
    /// checks the keys against the connector.
    pub metadata: Vec<(usize, String)>,
    pub if_not_exists: bool,
    pub create_sql: String,
}
