//! What the planner needs to know about existing tables and views.

use laaster_repr::plan::GlobalId;
use laaster_repr::{RelationDesc, ScalarExpr};

/// Read access to the catalog. Names are already normalized (unquoted identifiers
/// folded to lower case, as Postgres does).
pub trait Catalog {
    /// The item with this name, if any.
    fn get(&self, name: &str) -> Option<&CatalogItem>;
    /// The item with this id, if any.
    fn get_by_id(&self, id: GlobalId) -> Option<&CatalogItem>;
    /// Every item, in creation order (for suggestions and SHOW).
    fn items(&self) -> Vec<&CatalogItem>;
    /// For a streamed (append-only) source table with a WATERMARK: its event-time column
    /// and allowed lateness. Window operators over it may free state behind the watermark.
    fn event_time(&self, _id: GlobalId) -> Option<EventTime> {
        None
    }
    /// Whether the source table `id` can also be written (`INSERT INTO` it starts a sink
    /// dataflow into its connector, as Flink's tables with a source-and-sink connector).
    fn source_writable(&self, _id: GlobalId) -> bool {
        false
    }
    /// Whether the source table `id` carries changes, not only insertions (a
    /// `debezium-json` or upsert source): operators that need an append-only input
    /// refuse it.
    fn source_retracts(&self, _id: GlobalId) -> bool {
        false
    }
    /// Whether reading `id` only ever yields insertions, never retractions: a streamed
    /// source table whose connector only appends (not `'scan.retain'`, not a changelog
    /// format). Aggregates and Top-N over it keep only what can still change their
    /// result (see [`crate::monotonic`]).
    fn append_only(&self, _id: GlobalId) -> bool {
        false
    }
}

/// A source's event time, as window operators use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventTime {
    /// The `WATERMARK FOR` column.
    pub column: usize,
    /// `'allowed-lateness'` in microseconds: how long past a window's end its state stays.
    pub allowed_lateness: i64,
}

/// The kind of a catalog item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A table: rows come from INSERT/UPDATE/DELETE (or later a connector).
    Table,
    /// A view: a named query, expanded where it is used (nothing is kept).
    View,
    /// A materialized view: a dataflow keeps its result up to date and arranged.
    MaterializedView,
    /// A source table: rows from a connector (`WITH ('connector' = ...)`), append-only
    /// unless [`Catalog::source_retracts`]; UPDATE/DELETE are refused, INSERT too unless
    /// [`Catalog::source_writable`].
    Source,
    /// A sink: a sink table (`CREATE TABLE ... WITH ('connector' = <sink>)`; `INSERT INTO
    /// sink SELECT ...` starts a continuous dataflow into it) or `CREATE SINK name FROM
    /// relation`. Rows go out through its connector; it cannot be read.
    Sink,
}

impl ItemKind {
    /// The Postgres-style name: "table", "view", "materialized view".
    pub fn name(&self) -> &'static str {
        match self {
            ItemKind::Table => "table",
            ItemKind::View => "view",
            ItemKind::MaterializedView => "materialized view",
            ItemKind::Source => "source table",
            ItemKind::Sink => "sink table",
        }
    }
}

/// A table or view known to the catalog.
#[derive(Clone, Debug)]
pub struct CatalogItem {
    pub id: GlobalId,
    pub name: String,
    pub kind: ItemKind,
    pub desc: RelationDesc,
    /// The statement that created the item, as normalized SQL text.
    pub create_sql: String,
    /// For views and materialized views: the defining query's SQL text. A plain view is
    /// planned by planning this query where the view is referenced.
    pub query_sql: Option<String>,
    /// Items this one reads (for DROP ... CASCADE and dependency errors).
    pub uses: Vec<GlobalId>,
    /// For tables: defaults and keys.
    pub table: Option<TableInfo>,
}

/// Table-only details.
#[derive(Clone, Debug, Default)]
pub struct TableInfo {
    /// Per column: the DEFAULT expression (no column references), if declared, as
    /// planned when the table was created (checks its type; `now()` in it is folded to
    /// the creation time, so writes plan `default_exprs` again instead).
    pub defaults: Vec<Option<ScalarExpr>>,
    /// Per column: the DEFAULT as written. INSERT and UPDATE plan it again with their
    /// own statement time, so `DEFAULT now()` is the time of the write, as in Postgres.
    pub default_exprs: Vec<Option<sqlparser::ast::Expr>>,
    /// Column indexes of the PRIMARY KEY, if declared.
    pub primary_key: Option<Vec<usize>>,
}
