//! PostgreSQL: an upsert sink (`'connector' = 'postgres'`) and a change-data-capture
//! source through logical decoding with the `pgoutput` plugin (`'connector' =
//! 'postgres-cdc'`). Both use tokio-postgres on a small current-thread runtime per reader
//! or writer, like the NATS connector.
//!
//! ```sql
//! CREATE TABLE tally_out (contestant TEXT, votes BIGINT) WITH ('connector' = 'postgres',
//!   'url' = 'postgres://postgres@127.0.0.1:5432/test', 'table-name' = 'public.tally');
//! CREATE TABLE orders (id INT, amount NUMERIC, status TEXT) WITH ('connector' = 'postgres-cdc',
//!   'url' = 'postgres://postgres@127.0.0.1:5432/test', 'table-name' = 'orders',
//!   'slot.name' = 'laaster_orders', 'scan.startup.mode' = 'initial');
//! ```
//!
//! # Sink
//!
//! [`PostgresSinkWriter`] checks the target table when it opens: the table exists, every
//! sink column is one of its columns with a type that can hold the sink's values (an
//! error names the column and both types), its `NOT NULL` columns without a default are
//! given, and the key (`'key.columns'`, or the table's `PRIMARY KEY` when not given) is
//! covered by a unique index, which `ON CONFLICT` needs.
//!
//! With a key, the changes of each completed batch are reduced to their net effect per
//! key (in time order, retractions first within a time): the key's last row is upserted
//! (`INSERT ... ON CONFLICT (key) DO UPDATE`), a key whose last change is a retraction is
//! deleted. A delete is conditional on the stored row still being the retracted one
//! (`json` columns and types without equality are not compared), so a retraction that
//! reaches the table after the replacement row (which another worker may write) never
//! deletes the replacement. Without a key the sink is append-only (`INSERT`) and a
//! retraction is an error naming the row.
//!
//! Rows travel as text arrays, one per column, cast to the column's type by PostgreSQL
//! (`INSERT ... SELECT CAST(u.c0 AS type), ... FROM unnest($1::text[], ...)`), so one
//! prepared statement writes up to `'sink.buffer-flush.max-rows'` rows. A batch bigger
//! than that is written in several statements of one transaction; `complete(upper)`
//! commits it, so readers of the table see every completed timestamp whole or not at all.
//!
//! # CDC source
//!
//! Needs `wal_level = logical` (scripts/postgres-logical.sh sets it for the tests). On
//! open, the reader of split 0 (a table is one partition; other splits stay idle):
//!
//! 1. checks the table and its `REPLICA IDENTITY FULL` (updates and deletes must carry
//!    the old row, which the change events' `before` image needs;
//!    `ALTER TABLE t REPLICA IDENTITY FULL` is the fix the error suggests);
//! 2. creates the publication `'publication.name'` for the table if it does not exist
//!    (publishing inserts, updates and deletes; `TRUNCATE` is not captured), or checks
//!    that the existing one covers the table;
//! 3. resumes the slot `'slot.name'` if it exists, or creates it. For a new slot with
//!    `'scan.startup.mode' = 'initial'` it then reads a snapshot of the table.
//!
//! Changes are read over an ordinary connection with
//! `pg_logical_slot_peek_binary_changes(slot, upto_lsn, upto_n, 'proto_version', '1',
//! 'publication_names', pub)` and the `pgoutput` messages (Relation, Begin, Insert,
//! Update, Delete, Commit) are parsed here. Each change becomes one Debezium change event
//! (`{"before", "after", "op", "source"}`), decoded by `'format' = 'debezium-json'` (the
//! default): inserts `+after`, updates `-before +after`, deletes `-before`, snapshot rows
//! op `r`. With `'format' = 'json'` the source is insert-only (each event is the new
//! row) and an update or delete is a connector error, reported until the slot is dropped.
//! Values are PostgreSQL's text output (the session uses `TimeZone` UTC and ISO dates),
//! `bytea` as base64 and `json`/`jsonb` as JSON.
//!
//! Positions: a change's offset is `<commit end LSN>#<index in its transaction>`. A poll
//! hands out whole transactions (more than `max` messages when one transaction is larger),
//! so the engine's commits fall on transaction boundaries, and `commit(position)` moves
//! the slot with `pg_replication_slot_advance` to the end of the last whole transaction
//! committed. A reader reopened on the slot resumes after it: nothing committed is read
//! twice, nothing uncommitted is lost. When no change is pending, idle polls advance the
//! slot past unrelated WAL so it does not hold WAL back.
//!
//! The initial snapshot is consistent with the slot without an exported snapshot (which
//! needs the replication protocol): the slot is created first, then a repeatable-read
//! transaction takes the snapshot and notes `pg_current_snapshot()` and the WAL insert
//! position `L` right after it. The table's rows are read through a cursor (op `r`),
//! then the slot's transactions committed before `L` that the snapshot does not see are
//! appended (those it does see are already in the snapshot's rows), and the commit of
//! the last of them advances the slot to `L`. Closing the reader before then drops the
//! slot, so the next open takes the snapshot again. A process that dies during the
//! snapshot leaves the slot behind: drop it (`SELECT pg_drop_replication_slot('...')`)
//! to start over.
//!
//! Not supported: `TRUNCATE` (not published), `bytea`/text values over ~2 kB that an
//! update leaves unchanged (PostgreSQL does not log unchanged TOASTed values; the
//! event's field is then missing), one slot read by several readers at once (PostgreSQL
//! refuses: the slot is active for another process).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use laaster_repr::strconv::format_datum;
use laaster_repr::{Datum, Diff, RelationDesc, Row, ScalarType, Timestamp};
use serde_json::{Map, Value, json};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use crate::api::{ConnectorError, Message, Poll, Position, SinkWriter, SourceReader};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle CDC reader asks the slot for changes.
const IDLE_INTERVAL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------
// Connections, errors, catalog lookups
// ---------------------------------------------------------------------------------------

/// A connection and the runtime that drives it (the connection task runs while a call
/// blocks on the runtime).
struct Session {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Session {
    fn connect(url: &str) -> Result<Session, ConnectorError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            ConnectorError::new(format!("invalid PostgreSQL url '{url}': {e}"))
                .hint("write 'url' = 'postgres://postgres@127.0.0.1:5432/test'")
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                ConnectorError::new(format!("cannot start the PostgreSQL client runtime: {e}"))
            })?;
        let (client, connection) = runtime
            .block_on(async { tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls)).await })
            .map_err(|_| {
                ConnectorError::new(format!(
                    "timed out after {CONNECT_TIMEOUT:?} connecting to PostgreSQL at '{url}'"
                ))
                .hint("check 'url' and that PostgreSQL is running")
            })?
            .map_err(|e| pg_error(format!("cannot connect to PostgreSQL at '{url}'"), e))?;
        runtime.spawn(async move {
            // An error here (the server went away) surfaces as the next query's error.
            let _ = connection.await;
        });
        let session = Session { runtime, client };
        // Text values in a fixed, parseable shape whatever the server's defaults.
        session
            .batch(
                "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; \
                 SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; \
                 SET bytea_output = 'hex'",
            )
            .map_err(|e| pg_error("cannot set up the PostgreSQL session", e))?;
        Ok(session)
    }

    fn batch(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.runtime.block_on(self.client.batch_execute(sql))
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        self.runtime.block_on(self.client.query(sql, params))
    }

    fn execute(
        &self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.runtime
            .block_on(self.client.execute(statement, params))
    }
}

/// Runs `sql` (one or more statements, simple query protocol) and returns the rows of
/// its results as text, `None` for NULL. For tests and tools that check a table.
pub fn query_text(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, ConnectorError> {
    let session = Session::connect(url)?;
    let messages = session
        .runtime
        .block_on(session.client.simple_query(sql))
        .map_err(|e| pg_error("query failed", e))?;
    Ok(messages
        .iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// A PostgreSQL error as a connector error: what we were doing, the server's message,
/// detail and hint.
fn pg_error(what: impl fmt::Display, e: tokio_postgres::Error) -> ConnectorError {
    match e.as_db_error() {
        Some(db) => {
            let mut message = format!("{what}: {}", db.message());
            if let Some(detail) = db.detail() {
                message.push_str(&format!(" (detail: {detail})"));
            }
            let error = ConnectorError::new(message);
            match db.hint() {
                Some(hint) => error.hint(hint),
                None => error,
            }
        }
        None => ConnectorError::new(format!("{what}: {e}"))
            .hint("check 'url' and that PostgreSQL is running (psql <url> -c 'SELECT 1')"),
    }
}

/// `"name"`, with inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A column of a PostgreSQL table.
#[derive(Clone, Debug)]
struct PgColumn {
    name: String,
    /// `pg_type.typname`: `int4`, `text`, `_int4` for `int4[]`.
    type_name: String,
    /// The type with its modifier (`numeric(10,2)`), for comparisons.
    full_type: String,
    /// The type without modifier, for casting values (assignment applies the modifier
    /// and reports what does not fit rather than truncating).
    base_type: String,
    type_oid: u32,
    not_null: bool,
    has_default: bool,
}

/// What the sink and the source need to know about a table.
#[derive(Clone, Debug)]
struct TableInfo {
    /// `"schema"."table"`, for SQL.
    qualified: String,
    /// `schema.table`, for messages.
    display: String,
    columns: Vec<PgColumn>,
    primary_key: Vec<String>,
    /// Column sets of unique indexes usable by `ON CONFLICT`.
    unique_keys: Vec<Vec<String>>,
    /// `pg_class.relreplident`: `d`efault, `f`ull, `n`othing, `i`ndex.
    replica_identity: String,
}

fn describe_table(session: &Session, name: &str, url: &str) -> Result<TableInfo, ConnectorError> {
    let found = session
        .query(
            "SELECT c.oid::int8, quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
                    n.nspname::text || '.' || c.relname::text, c.relreplident::text, c.relkind::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass($1::text)",
            &[&name],
        )
        .map_err(|e| pg_error(format!("cannot look up table '{name}'"), e))?;
    let Some(row) = found.first() else {
        return Err(ConnectorError::new(format!(
            "table '{name}' does not exist in the database at '{url}'"
        ))
        .hint("create it first; unquoted names are lower-cased as in SQL, so write 'schema.table' as PostgreSQL shows it"));
    };
    let oid: i64 = row.get(0);
    let kind: String = row.get(4);
    if kind != "r" && kind != "p" {
        return Err(
            ConnectorError::new(format!("'{name}' is not a table (relkind '{kind}')"))
                .hint("name an ordinary or partitioned table"),
        );
    }
    let columns = session
        .query(
            "SELECT a.attname::text, t.typname::text, format_type(a.atttypid, a.atttypmod), \
                    format_type(a.atttypid, NULL), a.atttypid::int8, a.attnotnull, \
                    a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&oid],
        )
        .map_err(|e| pg_error(format!("cannot read the columns of '{name}'"), e))?
        .iter()
        .map(|r| PgColumn {
            name: r.get(0),
            type_name: r.get(1),
            full_type: r.get(2),
            base_type: r.get(3),
            type_oid: u32::try_from(r.get::<_, i64>(4)).unwrap_or(0),
            not_null: r.get(5),
            has_default: r.get(6),
        })
        .collect();
    let indexes = session
        .query(
            "SELECT i.indisprimary, ARRAY(SELECT a.attname::text \
                 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 ORDER BY k.ord) \
             FROM pg_index i WHERE i.indrelid = $1::int8::oid AND i.indisunique \
               AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indisvalid",
            &[&oid],
        )
        .map_err(|e| pg_error(format!("cannot read the indexes of '{name}'"), e))?;
    let mut primary_key = Vec::new();
    let mut unique_keys = Vec::new();
    for index in &indexes {
        let columns: Vec<String> = index.get(1);
        if index.get::<_, bool>(0) {
            primary_key = columns.clone();
        }
        unique_keys.push(columns);
    }
    Ok(TableInfo {
        qualified: row.get(1),
        display: row.get(2),
        columns,
        primary_key,
        unique_keys,
        replica_identity: row.get(3),
    })
}

/// Whether a PostgreSQL column of type `type_name` (`pg_type.typname`) holds values of
/// `scalar` (both ways: the sink writes them, the source reads them).
fn compatible(scalar: &ScalarType, type_name: &str) -> bool {
    let integers = ["int2", "int4", "int8"];
    match scalar {
        ScalarType::Unknown => true,
        ScalarType::Bool => type_name == "bool",
        ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 => {
            integers.contains(&type_name) || ["numeric", "float4", "float8"].contains(&type_name)
        }
        ScalarType::Float32 | ScalarType::Float64 | ScalarType::Decimal { .. } => {
            ["numeric", "float4", "float8"].contains(&type_name) || integers.contains(&type_name)
        }
        ScalarType::Text | ScalarType::VarChar { .. } => {
            ["text", "varchar", "bpchar", "name", "citext"].contains(&type_name)
        }
        ScalarType::Bytea => type_name == "bytea",
        ScalarType::Date => type_name == "date",
        ScalarType::Time => type_name == "time",
        ScalarType::Timestamp => type_name == "timestamp",
        ScalarType::TimestampTz => type_name == "timestamptz",
        ScalarType::Interval => type_name == "interval",
        ScalarType::Jsonb => type_name == "jsonb" || type_name == "json",
        ScalarType::Array(element) => type_name
            .strip_prefix('_')
            .is_some_and(|element_type| compatible(element, element_type)),
        ScalarType::Record(_) => false,
    }
}

/// Types whose stored value equals the value cast from our text (for conditional
/// deletes): everything with a plain equality.
fn comparable(type_name: &str) -> bool {
    let base = type_name.strip_prefix('_').unwrap_or(type_name);
    [
        "bool",
        "int2",
        "int4",
        "int8",
        "numeric",
        "float4",
        "float8",
        "text",
        "varchar",
        "bpchar",
        "name",
        "bytea",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "interval",
        "jsonb",
    ]
    .contains(&base)
}

/// Checks that every declared column is a column of `table` of a compatible type.
fn match_columns<'t>(
    columns: &RelationDesc,
    table: &'t TableInfo,
) -> Result<Vec<&'t PgColumn>, ConnectorError> {
    let mut matched = Vec::with_capacity(columns.arity());
    for column in &columns.columns {
        let Some(pg) = table.columns.iter().find(|c| c.name == column.name) else {
            return Err(ConnectorError::new(format!(
                "column '{}' is not a column of table {}",
                column.name, table.display
            ))
            .hint(format!(
                "its columns: {}",
                table
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if !compatible(&column.typ.scalar, &pg.type_name) {
            return Err(ConnectorError::new(format!(
                "column '{}' is {} in Laaster but {} in table {}",
                column.name,
                column.typ.scalar.to_string().to_uppercase(),
                pg.full_type,
                table.display
            ))
            .hint("declare the column with a matching type, or change the table's column type"));
        }
        matched.push(pg);
    }
    Ok(matched)
}

/// `X/Y` (hex halves) to a number.
fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

// ---------------------------------------------------------------------------------------
// Sink
// ---------------------------------------------------------------------------------------

/// The options of `'connector' = 'postgres'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresSinkOptions {
    pub url: String,
    /// `table` or `schema.table`.
    pub table: String,
    /// `None`: the table's primary key, or append-only without one.
    pub key_columns: Option<Vec<String>>,
    /// Rows per statement (and the bound on what a writer buffers before writing).
    pub max_rows: usize,
}

/// The last change of a key within a batch (column texts, `None` for SQL NULL).
#[derive(Debug)]
enum KeyChange {
    Upsert(Vec<Option<String>>),
    Delete(Vec<Option<String>>),
}

/// Writes one worker's share of a view into a PostgreSQL table. See the module docs.
pub struct PostgresSinkWriter {
    session: Session,
    table: String,
    /// Positions of the key columns in the sink's rows; `None` for append-only.
    key: Option<Vec<usize>>,
    columns: Vec<String>,
    insert: Statement,
    delete: Option<Statement>,
    max_rows: usize,
    changes: BTreeMap<Vec<Option<String>>, KeyChange>,
    appends: Vec<Vec<Option<String>>>,
    in_transaction: bool,
}

fn datum_text(datum: &Datum) -> Option<String> {
    match datum {
        Datum::Null => None,
        Datum::Text(text) => Some(text.to_string()),
        other => Some(format_datum(other)),
    }
}

fn row_text(row: &Row) -> Vec<Option<String>> {
    row.iter().map(datum_text).collect()
}

fn describe_row(columns: &[String], row: &[Option<String>]) -> String {
    let fields: Vec<String> = columns
        .iter()
        .zip(row)
        .map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("NULL")))
        .collect();
    format!("({})", fields.join(", "))
}

impl PostgresSinkWriter {
    /// Connects and checks the table against the sink's `columns` (see the module docs).
    pub fn open(
        options: &PostgresSinkOptions,
        columns: &RelationDesc,
    ) -> Result<PostgresSinkWriter, ConnectorError> {
        let session = Session::connect(&options.url)?;
        let table = describe_table(&session, &options.table, &options.url)?;
        let matched = match_columns(columns, &table)?;
        if let Some(missing) = table
            .columns
            .iter()
            .find(|c| c.not_null && !c.has_default && !columns.names().any(|n| n == c.name))
        {
            return Err(ConnectorError::new(format!(
                "column '{}' of table {} is NOT NULL without a default, and the sink does not give it",
                missing.name, table.display
            ))
            .hint("add the column to the sink table, or give it a default in PostgreSQL"));
        }
        let key_names = match &options.key_columns {
            Some(names) => names.clone(),
            None => table.primary_key.clone(),
        };
        let key = if key_names.is_empty() {
            None
        } else {
            let mut positions = Vec::new();
            for name in &key_names {
                let Some(position) = columns.index_of(name) else {
                    return Err(ConnectorError::new(format!(
                        "key column '{name}' of table {} is not a column of the sink",
                        table.display
                    ))
                    .hint(
                        "add it to the sink table, or set 'key.columns' to columns the sink has",
                    ));
                };
                positions.push(position);
            }
            let mut wanted = key_names.clone();
            wanted.sort();
            let covered = table.unique_keys.iter().any(|index| {
                let mut index = index.clone();
                index.sort();
                index == wanted
            });
            if !covered {
                return Err(ConnectorError::new(format!(
                    "table {} has no primary key or unique index on ({})",
                    table.display,
                    key_names.join(", ")
                ))
                .hint(format!(
                    "upserts need one: ALTER TABLE {} ADD PRIMARY KEY ({})",
                    table.qualified,
                    key_names
                        .iter()
                        .map(|n| quote_ident(n))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            Some(positions)
        };
        let (insert, delete) = statements(&table, &matched, key.as_deref());
        let prepare = |sql: &str| {
            session
                .runtime
                .block_on(session.client.prepare(sql))
                .map_err(|e| pg_error(format!("cannot prepare writes to {}", table.display), e))
        };
        let insert = prepare(&insert)?;
        let delete = match delete {
            Some(sql) => Some(prepare(&sql)?),
            None => None,
        };
        Ok(PostgresSinkWriter {
            session,
            table: table.display.clone(),
            key,
            columns: columns.names().map(str::to_string).collect(),
            insert,
            delete,
            max_rows: options.max_rows.max(1),
            changes: BTreeMap::new(),
            appends: Vec::new(),
            in_transaction: false,
        })
    }

    fn buffered(&self) -> usize {
        self.changes.len() + self.appends.len()
    }

    /// Writes what is buffered inside the open transaction (starting one if needed).
    fn flush(&mut self) -> Result<(), ConnectorError> {
        if self.buffered() == 0 {
            return Ok(());
        }
        let result = self.flush_inner();
        if result.is_err() {
            self.changes.clear();
            self.appends.clear();
            if self.in_transaction {
                let _ = self.session.batch("ROLLBACK");
                self.in_transaction = false;
            }
        }
        result
    }

    fn flush_inner(&mut self) -> Result<(), ConnectorError> {
        if !self.in_transaction {
            self.session.batch("BEGIN").map_err(|e| {
                pg_error(format!("cannot begin a transaction on {}", self.table), e)
            })?;
            self.in_transaction = true;
        }
        let mut upserts = std::mem::take(&mut self.appends);
        let mut deletes = Vec::new();
        for (_, change) in std::mem::take(&mut self.changes) {
            match change {
                KeyChange::Upsert(row) => upserts.push(row),
                KeyChange::Delete(row) => deletes.push(row),
            }
        }
        let width = self.columns.len();
        for (rows, statement, verb) in [
            (&upserts, Some(&self.insert), "writing"),
            (&deletes, self.delete.as_ref(), "deleting"),
        ] {
            let Some(statement) = statement else { continue };
            for chunk in rows.chunks(self.max_rows) {
                let mut arrays: Vec<Vec<Option<String>>> =
                    vec![Vec::with_capacity(chunk.len()); width];
                for row in chunk {
                    for (array, value) in arrays.iter_mut().zip(row) {
                        array.push(value.clone());
                    }
                }
                let params: Vec<&(dyn ToSql + Sync)> =
                    arrays.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                self.session.execute(statement, &params).map_err(|e| {
                    pg_error(
                        format!(
                            "{verb} {} rows of table {} failed (first row {})",
                            chunk.len(),
                            self.table,
                            describe_row(&self.columns, &chunk[0])
                        ),
                        e,
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// The prepared statements' text: an insert (an upsert with a key) and, with a key, a
/// conditional delete.
fn statements(
    table: &TableInfo,
    columns: &[&PgColumn],
    key: Option<&[usize]>,
) -> (String, Option<String>) {
    let arrays = (1..=columns.len())
        .map(|i| format!("${i}::text[]"))
        .collect::<Vec<_>>()
        .join(", ");
    let aliases = (0..columns.len())
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let names = columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let values = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("CAST(u.c{i} AS {})", c.base_type))
        .collect::<Vec<_>>()
        .join(", ");
    let mut insert = format!(
        "INSERT INTO {} ({names}) SELECT {values} FROM unnest({arrays}) AS u({aliases})",
        table.qualified
    );
    let Some(key) = key else {
        return (insert, None);
    };
    let key_names = key
        .iter()
        .map(|&i| quote_ident(&columns[i].name))
        .collect::<Vec<_>>()
        .join(", ");
    let updates: Vec<String> = (0..columns.len())
        .filter(|i| !key.contains(i))
        .map(|i| {
            let name = quote_ident(&columns[i].name);
            format!("{name} = EXCLUDED.{name}")
        })
        .collect();
    if updates.is_empty() {
        insert.push_str(&format!(" ON CONFLICT ({key_names}) DO NOTHING"));
    } else {
        insert.push_str(&format!(
            " ON CONFLICT ({key_names}) DO UPDATE SET {}",
            updates.join(", ")
        ));
    }
    let conditions: Vec<String> = columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let name = quote_ident(&c.name);
            if key.contains(&i) {
                Some(format!("t.{name} = CAST(u.c{i} AS {})", c.full_type))
            } else if comparable(&c.type_name) {
                Some(format!(
                    "t.{name} IS NOT DISTINCT FROM CAST(u.c{i} AS {})",
                    c.full_type
                ))
            } else {
                None
            }
        })
        .collect();
    let delete = format!(
        "DELETE FROM {} AS t USING unnest({arrays}) AS u({aliases}) WHERE {}",
        table.qualified,
        conditions.join(" AND ")
    );
    (insert, Some(delete))
}

impl SinkWriter for PostgresSinkWriter {
    fn write(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        let Some(key) = self.key.clone() else {
            for (row, _, diff) in updates {
                let text = row_text(row);
                if *diff < 0 {
                    return Err(ConnectorError::new(format!(
                        "table {} has no key, so the retraction of row {} cannot be applied",
                        self.table,
                        describe_row(&self.columns, &text)
                    ))
                    .hint("give the table a PRIMARY KEY or set 'key.columns', or sink an append-only query"));
                }
                for _ in 0..*diff {
                    self.appends.push(text.clone());
                }
                if self.appends.len() >= self.max_rows {
                    self.flush()?;
                }
            }
            return Ok(());
        };
        // In time order, and within one time retractions first, so a (-old, +new) pair
        // for one key ends as an upsert and a later lone retraction as a delete.
        let mut order: Vec<&(Row, Timestamp, Diff)> = updates.iter().collect();
        order.sort_by_key(|(_, time, diff)| (*time, *diff > 0));
        for (row, _, diff) in order {
            let text = row_text(row);
            let key_text: Vec<Option<String>> = key.iter().map(|&i| text[i].clone()).collect();
            let change = if *diff < 0 {
                KeyChange::Delete(text)
            } else {
                KeyChange::Upsert(text)
            };
            self.changes.insert(key_text, change);
            if self.changes.len() >= self.max_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn complete(&mut self, _upper: Timestamp) -> Result<(), ConnectorError> {
        self.flush()?;
        if self.in_transaction {
            self.in_transaction = false;
            self.session
                .batch("COMMIT")
                .map_err(|e| pg_error(format!("committing to table {} failed", self.table), e))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// pgoutput (protocol version 1)
// ---------------------------------------------------------------------------------------

/// One column value of a tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TupleValue {
    Null,
    /// An unchanged TOASTed value, not in the WAL.
    Unchanged,
    Text(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Relation {
    namespace: String,
    name: String,
    /// Name and type oid of each column.
    columns: Vec<(String, u32)>,
}

#[derive(Debug)]
enum Change {
    Begin {
        xid: u32,
    },
    Commit {
        end_lsn: u64,
    },
    Relation(u32, Relation),
    Insert {
        relation: u32,
        new: Vec<TupleValue>,
    },
    Update {
        relation: u32,
        old: Option<Vec<TupleValue>>,
        new: Vec<TupleValue>,
    },
    Delete {
        relation: u32,
        old: Option<Vec<TupleValue>>,
    },
    Truncate {
        relations: Vec<u32>,
    },
    /// Origin, Type, Message: nothing for us.
    Other,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "message truncated: wanted {n} bytes at byte {} of {}",
                self.at,
                self.bytes.len()
            ));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut array = [0; 8];
        array.copy_from_slice(b);
        Ok(u64::from_be_bytes(array))
    }

    fn string(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(format!("unterminated string at byte {}", self.at));
        };
        let text = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.at += len + 1;
        Ok(text)
    }

    fn tuple(&mut self) -> Result<Vec<TupleValue>, String> {
        let count = self.i16()?;
        let mut values = Vec::with_capacity(count.max(0) as usize);
        for _ in 0..count {
            values.push(match self.u8()? {
                b'n' => TupleValue::Null,
                b'u' => TupleValue::Unchanged,
                b't' => {
                    let len = self.u32()? as usize;
                    TupleValue::Text(self.take(len)?.to_vec())
                }
                other => return Err(format!("unknown tuple value kind '{}'", other as char)),
            });
        }
        Ok(values)
    }
}

/// Parses one pgoutput message.
fn parse_pgoutput(bytes: &[u8]) -> Result<Change, String> {
    let mut c = Cursor { bytes, at: 0 };
    Ok(match c.u8()? {
        b'B' => {
            let _final_lsn = c.u64()?;
            let _timestamp = c.u64()?;
            Change::Begin { xid: c.u32()? }
        }
        b'C' => {
            let _flags = c.u8()?;
            let _commit_lsn = c.u64()?;
            Change::Commit { end_lsn: c.u64()? }
        }
        b'R' => {
            let id = c.u32()?;
            let namespace = c.string()?;
            let name = c.string()?;
            let _identity = c.u8()?;
            let count = c.i16()?;
            let mut columns = Vec::with_capacity(count.max(0) as usize);
            for _ in 0..count {
                let _flags = c.u8()?;
                let column = c.string()?;
                let type_oid = c.u32()?;
                let _modifier = c.u32()?;
                columns.push((column, type_oid));
            }
            Change::Relation(
                id,
                Relation {
                    namespace: if namespace.is_empty() {
                        "pg_catalog".into()
                    } else {
                        namespace
                    },
                    name,
                    columns,
                },
            )
        }
        b'I' => {
            let relation = c.u32()?;
            match c.u8()? {
                b'N' => Change::Insert {
                    relation,
                    new: c.tuple()?,
                },
                other => return Err(format!("insert: expected 'N', got '{}'", other as char)),
            }
        }
        b'U' => {
            let relation = c.u32()?;
            let mut old = None;
            let mut kind = c.u8()?;
            if kind == b'K' || kind == b'O' {
                let tuple = c.tuple()?;
                // A key-only old tuple is not the old row: leave `before` out.
                if kind == b'O' {
                    old = Some(tuple);
                }
                kind = c.u8()?;
            }
            if kind != b'N' {
                return Err(format!("update: expected 'N', got '{}'", kind as char));
            }
            Change::Update {
                relation,
                old,
                new: c.tuple()?,
            }
        }
        b'D' => {
            let relation = c.u32()?;
            let kind = c.u8()?;
            let tuple = c.tuple()?;
            Change::Delete {
                relation,
                old: (kind == b'O').then_some(tuple),
            }
        }
        b'T' => {
            let count = c.u32()?;
            let _options = c.u8()?;
            let mut relations = Vec::new();
            for _ in 0..count {
                relations.push(c.u32()?);
            }
            Change::Truncate { relations }
        }
        b'O' | b'Y' | b'M' => Change::Other,
        other => return Err(format!("unknown pgoutput message '{}'", other as char)),
    })
}

const BYTEA_OID: u32 = 17;
const JSON_OID: u32 = 114;
const JSONB_OID: u32 = 3802;

/// A value's text output as the JSON the table's format reads.
fn text_to_json(type_oid: u32, text: &[u8]) -> Value {
    let text = String::from_utf8_lossy(text);
    match type_oid {
        BYTEA_OID => match text.strip_prefix("\\x").map(decode_hex) {
            Some(Some(bytes)) => Value::String(BASE64.encode(bytes)),
            _ => Value::String(text.into_owned()),
        },
        JSON_OID | JSONB_OID => {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
        }
        _ => Value::String(text.into_owned()),
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A tuple as a JSON object by column name. An unchanged TOASTed value is taken from
/// `fallback` (the old row) when it has it, and left out otherwise.
fn image(
    columns: &[(String, u32)],
    tuple: &[TupleValue],
    fallback: Option<&[TupleValue]>,
) -> Value {
    let mut object = Map::new();
    for (i, ((name, type_oid), value)) in columns.iter().zip(tuple).enumerate() {
        let value = match value {
            TupleValue::Unchanged => match fallback.and_then(|old| old.get(i)) {
                Some(TupleValue::Text(text)) => text_to_json(*type_oid, text),
                Some(TupleValue::Null) => Value::Null,
                _ => continue,
            },
            TupleValue::Null => Value::Null,
            TupleValue::Text(text) => text_to_json(*type_oid, text),
        };
        object.insert(name.clone(), value);
    }
    Value::Object(object)
}

// ---------------------------------------------------------------------------------------
// CDC source
// ---------------------------------------------------------------------------------------

/// Where a new slot starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupMode {
    /// A snapshot of the table, then its changes.
    Initial,
    /// Only changes after the slot is created.
    LatestOffset,
}

/// The options of `'connector' = 'postgres-cdc'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresCdcOptions {
    pub url: String,
    pub schema: String,
    pub table: String,
    pub slot: String,
    pub publication: String,
    pub startup: StartupMode,
    /// `true`: Debezium change events (`debezium-json`); `false`: the new row of each
    /// insert (`json`), and an update or delete is an error.
    pub changelog: bool,
}

/// One change decoded and not yet handed out.
#[derive(Debug)]
struct Pending {
    message: Message,
    /// The slot may advance to this LSN once this message is committed (the end of its
    /// transaction, when it is the transaction's last message).
    advance: Option<u64>,
    /// A transaction goes on after this message: do not stop a poll here.
    mid_transaction: bool,
    /// Committing this message completes the initial snapshot.
    ends_snapshot: bool,
}

/// Which transactions a snapshot sees (`pg_current_snapshot()`), as 32-bit xids.
#[derive(Clone, Debug)]
struct SnapshotXids {
    xmin: u32,
    xmax: u32,
    in_progress: Vec<u32>,
}

fn xid_precedes(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl SnapshotXids {
    /// Parses `xmin:xmax:xip,...` (64-bit xids, cut to the 32 bits pgoutput sends).
    fn parse(text: &str) -> Option<SnapshotXids> {
        let mut parts = text.splitn(3, ':');
        let xid = |s: &str| s.trim().parse::<u64>().ok().map(|v| v as u32);
        let xmin = xid(parts.next()?)?;
        let xmax = xid(parts.next()?)?;
        let in_progress = match parts.next() {
            Some(list) if !list.trim().is_empty() => {
                list.split(',').map(xid).collect::<Option<Vec<_>>>()?
            }
            _ => Vec::new(),
        };
        Some(SnapshotXids {
            xmin,
            xmax,
            in_progress,
        })
    }

    fn sees(&self, xid: u32) -> bool {
        xid_precedes(xid, self.xmin)
            || (xid_precedes(xid, self.xmax) && !self.in_progress.contains(&xid))
    }
}

/// The initial snapshot being read: a second connection in a repeatable-read
/// transaction with an open cursor over the table.
struct SnapshotRead {
    session: Session,
    xids: SnapshotXids,
    /// The WAL insert position right after the snapshot was taken.
    lsn: u64,
    rows: u64,
}

/// One change of the table, decoded.
enum TableChange {
    /// `op` is `c`, `u` or `d`; `before`/`after` are row images or `null`.
    Row {
        op: &'static str,
        before: Value,
        after: Value,
    },
    /// A `TRUNCATE`: not representable without the table's contents, so it becomes an
    /// event the format rejects and the 'on-error' policy counts.
    Truncate(Value),
}

/// One decoded transaction of the table.
struct Transaction {
    xid: u32,
    messages: Vec<TableChange>,
}

struct ActiveCdc {
    options: PostgresCdcOptions,
    session: Session,
    table: TableInfo,
    relations: HashMap<u32, Relation>,
    snapshot: Option<SnapshotRead>,
    queue: VecDeque<Pending>,
    /// Handed out, not yet committed: offset, advance, ends_snapshot.
    delivered: VecDeque<(String, Option<u64>, bool)>,
    /// End LSN of the last transaction decoded into the queue.
    read_upto: u64,
    /// The slot's confirmed position as we last set or read it.
    confirmed: u64,
    created_slot: bool,
    snapshot_done: bool,
    next_query: Instant,
}

/// Reads a table's changes through a logical replication slot. Only split 0 reads; the
/// others are idle. See the module docs.
pub struct PostgresCdcReader {
    active: Option<ActiveCdc>,
}

impl PostgresCdcReader {
    /// Opens split `split`: split 0 connects, checks the table, creates the publication
    /// and slot as needed and (new slot, `initial`) starts the snapshot.
    pub fn open(
        options: &PostgresCdcOptions,
        split: usize,
    ) -> Result<PostgresCdcReader, ConnectorError> {
        if split != 0 {
            return Ok(PostgresCdcReader { active: None });
        }
        Ok(PostgresCdcReader {
            active: Some(ActiveCdc::open(options)?),
        })
    }
}

fn slot_error(
    options: &PostgresCdcOptions,
    what: &str,
    e: tokio_postgres::Error,
) -> ConnectorError {
    let error = pg_error(format!("{what} (slot '{}')", options.slot), e);
    if error.message.contains("wal_level") {
        error.hint("logical decoding needs wal_level = logical: ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL (scripts/postgres-logical.sh does both)")
    } else {
        error
    }
}

/// Creates the publication for the table if it does not exist; checks that an existing
/// one covers the table.
fn ensure_publication(
    session: &Session,
    options: &PostgresCdcOptions,
    table: &TableInfo,
) -> Result<(), ConnectorError> {
    let what = format!("cannot set up publication '{}'", options.publication);
    let exists = session
        .query(
            "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1::text), \
                    EXISTS (SELECT 1 FROM pg_publication_tables \
                            WHERE pubname = $1::text AND schemaname = $2::text AND tablename = $3::text)",
            &[&options.publication, &options.schema, &options.table],
        )
        .map_err(|e| pg_error(&what, e))?;
    let (publication, covers) = (exists[0].get::<_, bool>(0), exists[0].get::<_, bool>(1));
    if !publication {
        let created = session.batch(&format!(
            "CREATE PUBLICATION {} FOR TABLE {} WITH (publish = 'insert, update, delete')",
            quote_ident(&options.publication),
            table.qualified
        ));
        // Two readers may race to create it: only a failure that left no publication
        // behind is an error.
        if let Err(e) = created {
            let again = session
                .query(
                    "SELECT 1 FROM pg_publication WHERE pubname = $1::text",
                    &[&options.publication],
                )
                .map_err(|e| pg_error(&what, e))?;
            if again.is_empty() {
                return Err(pg_error(&what, e));
            }
        }
    } else if !covers {
        return Err(ConnectorError::new(format!(
            "publication '{}' exists but does not publish table {}",
            options.publication, table.display
        ))
        .hint(format!(
            "ALTER PUBLICATION {} ADD TABLE {}, or choose another 'publication.name'",
            quote_ident(&options.publication),
            table.qualified
        )));
    }
    Ok(())
}

impl ActiveCdc {
    fn open(options: &PostgresCdcOptions) -> Result<ActiveCdc, ConnectorError> {
        let session = Session::connect(&options.url)?;
        let name = format!(
            "{}.{}",
            quote_ident(&options.schema),
            quote_ident(&options.table)
        );
        let table = describe_table(&session, &name, &options.url)?;
        if table.replica_identity != "f" {
            return Err(ConnectorError::new(format!(
                "table {} does not log old rows (REPLICA IDENTITY is not FULL), so its updates and deletes cannot become retractions",
                table.display
            ))
            .hint(format!("ALTER TABLE {} REPLICA IDENTITY FULL", table.qualified)));
        }
        ensure_publication(&session, options, &table)?;
        let existing = session
            .query(
                "SELECT plugin::text, database::text, slot_type, confirmed_flush_lsn::text, \
                        active_pid, current_database()::text \
                 FROM pg_replication_slots WHERE slot_name = $1::text",
                &[&options.slot],
            )
            .map_err(|e| slot_error(options, "cannot look up the replication slot", e))?;
        let mut reader = ActiveCdc {
            options: options.clone(),
            session,
            table,
            relations: HashMap::new(),
            snapshot: None,
            queue: VecDeque::new(),
            delivered: VecDeque::new(),
            read_upto: 0,
            confirmed: 0,
            created_slot: false,
            snapshot_done: true,
            next_query: Instant::now(),
        };
        match existing.first() {
            Some(slot) => {
                let plugin: Option<String> = slot.get(0);
                let database: Option<String> = slot.get(1);
                let active: Option<i32> = slot.get(4);
                let current: String = slot.get(5);
                if plugin.as_deref() != Some("pgoutput") || database.as_deref() != Some(&current) {
                    return Err(ConnectorError::new(format!(
                        "replication slot '{}' exists but is not a pgoutput slot of database '{current}' (plugin {plugin:?}, database {database:?})",
                        options.slot
                    ))
                    .hint("choose another 'slot.name'"));
                }
                if let Some(pid) = active {
                    return Err(ConnectorError::new(format!(
                        "replication slot '{}' is in use by process {pid}",
                        options.slot
                    ))
                    .hint("one reader per slot: give each source its own 'slot.name'"));
                }
                let confirmed: Option<String> = slot.get(3);
                reader.confirmed = confirmed.as_deref().and_then(parse_lsn).unwrap_or(0);
                reader.read_upto = reader.confirmed;
            }
            None => {
                let created = reader
                    .session
                    .query(
                        "SELECT lsn::text FROM pg_create_logical_replication_slot($1::text::name, 'pgoutput')",
                        &[&options.slot],
                    )
                    .map_err(|e| slot_error(options, "cannot create the replication slot", e))?;
                reader.created_slot = true;
                let lsn: String = created[0].get(0);
                reader.confirmed = parse_lsn(&lsn).unwrap_or(0);
                reader.read_upto = reader.confirmed;
                if options.startup == StartupMode::Initial {
                    reader.snapshot_done = false;
                    match reader.start_snapshot() {
                        Ok(snapshot) => reader.snapshot = Some(snapshot),
                        Err(e) => {
                            reader.drop_slot();
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(reader)
    }

    fn start_snapshot(&self) -> Result<SnapshotRead, ConnectorError> {
        let session = Session::connect(&self.options.url)?;
        let what = format!("cannot read the snapshot of table {}", self.table.display);
        session
            .batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(|e| pg_error(&what, e))?;
        // The first statement takes the transaction's snapshot; the WAL position is read
        // after it, so every transaction the snapshot sees ends before it.
        let row = session
            .query(
                "SELECT pg_current_snapshot()::text, pg_current_wal_insert_lsn()::text",
                &[],
            )
            .map_err(|e| pg_error(&what, e))?;
        let xids_text: String = row[0].get(0);
        let lsn_text: String = row[0].get(1);
        let (Some(xids), Some(lsn)) = (SnapshotXids::parse(&xids_text), parse_lsn(&lsn_text))
        else {
            return Err(ConnectorError::new(format!(
                "{what}: unexpected snapshot '{xids_text}' or LSN '{lsn_text}'"
            )));
        };
        let columns = self
            .table
            .columns
            .iter()
            .map(|c| format!("{}::text", quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        session
            .batch(&format!(
                "DECLARE laaster_snapshot NO SCROLL CURSOR FOR SELECT {columns} FROM {}",
                self.table.qualified
            ))
            .map_err(|e| pg_error(&what, e))?;
        Ok(SnapshotRead {
            session,
            xids,
            lsn,
            rows: 0,
        })
    }

    fn drop_slot(&mut self) {
        let _ = self.session.query(
            "SELECT pg_drop_replication_slot($1::text::name)",
            &[&self.options.slot],
        );
    }

    fn partition(&self) -> String {
        self.table.display.clone()
    }

    fn envelope(&self, op: &str, before: Value, after: Value, lsn: u64, xid: u32) -> Value {
        json!({
            "before": before,
            "after": after,
            "op": op,
            "source": {
                "connector": "postgres",
                "schema": self.options.schema,
                "table": self.options.table,
                "lsn": format_lsn(lsn),
                "txId": xid,
            }
        })
    }

    /// Reads up to `max` snapshot rows into the queue; at the end of the table, appends
    /// the transactions the snapshot does not see and marks the snapshot's end.
    fn read_snapshot(&mut self, max: usize) -> Result<(), ConnectorError> {
        let Some(snapshot) = self.snapshot.as_mut() else {
            return Ok(());
        };
        let what = format!("reading the snapshot of table {}", self.table.display);
        let rows = snapshot
            .session
            .query(
                &format!("FETCH FORWARD {} FROM laaster_snapshot", max.max(1)),
                &[],
            )
            .map_err(|e| pg_error(&what, e))?;
        let columns: Vec<(String, u32)> = self
            .table
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.type_oid))
            .collect();
        let lsn = snapshot.lsn;
        let first = snapshot.rows;
        snapshot.rows += rows.len() as u64;
        let exhausted = rows.len() < max.max(1);
        for (i, row) in rows.iter().enumerate() {
            let tuple: Vec<TupleValue> = (0..columns.len())
                .map(|c| match row.get::<_, Option<String>>(c) {
                    Some(text) => TupleValue::Text(text.into_bytes()),
                    None => TupleValue::Null,
                })
                .collect();
            let after = image(&columns, &tuple, None);
            let payload = if self.options.changelog {
                self.envelope("r", Value::Null, after, lsn, 0)
            } else {
                after
            };
            self.queue.push_back(Pending {
                message: Message {
                    position: Position {
                        partition: self.partition(),
                        offset: format!("snapshot#{}", first + i as u64),
                    },
                    key: None,
                    payload: payload.to_string().into_bytes(),
                },
                advance: None,
                mid_transaction: false,
                ends_snapshot: false,
            });
        }
        if exhausted {
            let Some(snapshot) = self.snapshot.take() else {
                return Ok(());
            };
            let _ = snapshot.session.batch("CLOSE laaster_snapshot; COMMIT");
            self.finish_snapshot(snapshot)?;
        }
        Ok(())
    }

    /// Appends the slot's transactions before the snapshot's LSN that the snapshot does
    /// not see; committing the last message moves the slot to that LSN.
    fn finish_snapshot(&mut self, snapshot: SnapshotRead) -> Result<(), ConnectorError> {
        let transactions = self.peek(Some(snapshot.lsn), None)?;
        for (end_lsn, transaction) in transactions {
            if snapshot.xids.sees(transaction.xid) {
                continue;
            }
            self.enqueue(end_lsn, transaction)?;
        }
        for pending in self.queue.iter_mut() {
            pending.advance = None;
            pending.mid_transaction = false;
        }
        self.read_upto = self.read_upto.max(snapshot.lsn);
        if let Some(last) = self.queue.back_mut() {
            last.advance = Some(snapshot.lsn);
            last.ends_snapshot = true;
        } else if let Some(last) = self.delivered.back_mut() {
            last.1 = Some(snapshot.lsn);
            last.2 = true;
        } else {
            self.advance(snapshot.lsn)?;
            self.snapshot_done = true;
        }
        Ok(())
    }

    /// Decodes the slot's transactions (of our table) committed before `upto`, at most
    /// about `changes` messages, without consuming them.
    fn peek(
        &mut self,
        upto: Option<u64>,
        changes: Option<i32>,
    ) -> Result<Vec<(u64, Transaction)>, ConnectorError> {
        let upto_text = upto.map(format_lsn);
        let rows = self
            .session
            .query(
                "SELECT data FROM pg_logical_slot_peek_binary_changes($1::text::name, \
                     $2::text::pg_lsn, $3::int4, 'proto_version', '1', 'publication_names', $4::text)",
                &[
                    &self.options.slot,
                    &upto_text,
                    &changes,
                    &quote_ident(&self.options.publication),
                ],
            )
            .map_err(|e| slot_error(&self.options, "cannot read changes", e))?;
        let mut transactions = Vec::new();
        let mut current: Option<Transaction> = None;
        for row in &rows {
            let data: Vec<u8> = row.get(0);
            let change = parse_pgoutput(&data).map_err(|e| {
                ConnectorError::new(format!(
                    "cannot parse a pgoutput message of slot '{}': {e}",
                    self.options.slot
                ))
                .hint("this reader speaks pgoutput protocol version 1")
            })?;
            match change {
                Change::Begin { xid } => {
                    current = Some(Transaction {
                        xid,
                        messages: Vec::new(),
                    })
                }
                Change::Commit { end_lsn } => {
                    if let Some(transaction) = current.take() {
                        transactions.push((end_lsn, transaction));
                    }
                }
                Change::Relation(id, relation) => {
                    self.relations.insert(id, relation);
                }
                Change::Other => {}
                change => {
                    if let Some(transaction) = current.as_mut()
                        && let Some(message) = self.change_message(change)?
                    {
                        transaction.messages.push(message);
                    }
                }
            }
        }
        Ok(transactions)
    }

    /// A row change of our table (`None` for other tables).
    fn change_message(&self, change: Change) -> Result<Option<TableChange>, ConnectorError> {
        let ours = |id: &u32| {
            self.relations
                .get(id)
                .filter(|r| r.namespace == self.options.schema && r.name == self.options.table)
        };
        let (op, before, after) = match &change {
            Change::Insert { relation, new } => {
                let Some(r) = ours(relation) else {
                    return Ok(None);
                };
                ("c", Value::Null, image(&r.columns, new, None))
            }
            Change::Update { relation, old, new } => {
                let Some(r) = ours(relation) else {
                    return Ok(None);
                };
                let before = old
                    .as_ref()
                    .map_or(Value::Null, |old| image(&r.columns, old, None));
                ("u", before, image(&r.columns, new, old.as_deref()))
            }
            Change::Delete { relation, old } => {
                let Some(r) = ours(relation) else {
                    return Ok(None);
                };
                let before = old
                    .as_ref()
                    .map_or(Value::Null, |old| image(&r.columns, old, None));
                ("d", before, Value::Null)
            }
            Change::Truncate { relations } => {
                if !relations.iter().any(|id| ours(id).is_some()) {
                    return Ok(None);
                }
                return Ok(Some(TableChange::Truncate(json!({"op": "t", "source": {
                    "connector": "postgres", "schema": self.options.schema,
                    "table": self.options.table, "error": "TRUNCATE is not captured"}}))));
            }
            _ => return Ok(None),
        };
        Ok(Some(TableChange::Row { op, before, after }))
    }

    /// Puts a decoded transaction's messages in the queue.
    fn enqueue(&mut self, end_lsn: u64, transaction: Transaction) -> Result<(), ConnectorError> {
        let count = transaction.messages.len();
        let partition = self.partition();
        for (i, change) in transaction.messages.into_iter().enumerate() {
            let payload = match change {
                TableChange::Truncate(event) => event,
                TableChange::Row { op, before, after } => {
                    if self.options.changelog {
                        self.envelope(op, before, after, end_lsn, transaction.xid)
                    } else if op == "c" {
                        after
                    } else {
                        return Err(ConnectorError::new(format!(
                            "table {} had {} at LSN {} (transaction {}), but 'format' = 'json' reads inserts only",
                            self.table.display,
                            if op == "u" { "an UPDATE" } else { "a DELETE" },
                            format_lsn(end_lsn),
                            transaction.xid
                        ))
                        .hint("use 'format' = 'debezium-json' (the default) to read updates and deletes"));
                    }
                }
            };
            let last = i + 1 == count;
            self.queue.push_back(Pending {
                message: Message {
                    position: Position {
                        partition: partition.clone(),
                        offset: format!("{}#{i}", format_lsn(end_lsn)),
                    },
                    key: None,
                    payload: payload.to_string().into_bytes(),
                },
                advance: last.then_some(end_lsn),
                mid_transaction: !last,
                ends_snapshot: false,
            });
        }
        self.read_upto = self.read_upto.max(end_lsn);
        Ok(())
    }

    /// Reads the slot's next transactions into the queue; when there are none and
    /// nothing is waiting for a commit, moves the slot past the WAL read.
    fn read_changes(&mut self, max: usize) -> Result<(), ConnectorError> {
        let current = self
            .session
            .query("SELECT pg_current_wal_lsn()::text", &[])
            .map_err(|e| slot_error(&self.options, "cannot read the WAL position", e))?;
        let current: String = current[0].get(0);
        let upto = parse_lsn(&current);
        let limit = i32::try_from(max.max(1)).unwrap_or(i32::MAX);
        let transactions = self.peek(upto, Some(limit))?;
        let mut any = false;
        for (end_lsn, transaction) in transactions {
            if end_lsn <= self.read_upto {
                continue;
            }
            any = true;
            if transaction.messages.is_empty() {
                self.read_upto = end_lsn;
                continue;
            }
            self.enqueue(end_lsn, transaction)?;
        }
        if self.queue.is_empty()
            && self.delivered.is_empty()
            && self.snapshot_done
            && let Some(upto) = upto
        {
            // Nothing of ours before `upto` (or only empty transactions): skip it.
            let target = if any {
                self.read_upto
            } else {
                upto.max(self.read_upto)
            };
            self.read_upto = self.read_upto.max(target);
            if target > self.confirmed {
                self.advance(target)?;
            }
        }
        Ok(())
    }

    fn advance(&mut self, lsn: u64) -> Result<(), ConnectorError> {
        self.session
            .query(
                "SELECT pg_replication_slot_advance($1::text::name, $2::text::pg_lsn)",
                &[&self.options.slot, &format_lsn(lsn)],
            )
            .map_err(|e| slot_error(&self.options, "cannot advance the replication slot", e))?;
        self.confirmed = self.confirmed.max(lsn);
        Ok(())
    }

    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        if self.queue.is_empty() {
            if self.snapshot.is_some() {
                self.read_snapshot(max)?;
            } else {
                let now = Instant::now();
                if now < self.next_query {
                    let wait = self.next_query - now;
                    if timeout < wait {
                        return Ok(Poll::Idle);
                    }
                    std::thread::sleep(wait);
                }
                self.read_changes(max)?;
                if self.queue.is_empty() {
                    self.next_query = Instant::now() + IDLE_INTERVAL;
                }
            }
        }
        if self.queue.is_empty() {
            return Ok(Poll::Idle);
        }
        let mut taken = 0;
        while let Some(pending) = self.queue.pop_front() {
            taken += 1;
            let stop = taken >= max && !pending.mid_transaction;
            self.delivered.push_back((
                pending.message.position.offset.clone(),
                pending.advance,
                pending.ends_snapshot,
            ));
            out.push(pending.message);
            if stop {
                break;
            }
        }
        Ok(Poll::Ready)
    }

    fn commit(&mut self, through: &Position) -> Result<(), ConnectorError> {
        let Some(end) = self
            .delivered
            .iter()
            .position(|(offset, _, _)| *offset == through.offset)
        else {
            return Ok(());
        };
        let mut target = None;
        for (_, advance, ends_snapshot) in self.delivered.drain(..=end) {
            if advance.is_some() {
                target = advance.max(target);
            }
            if ends_snapshot {
                self.snapshot_done = true;
            }
        }
        match target {
            Some(lsn) if lsn > self.confirmed => self.advance(lsn),
            _ => Ok(()),
        }
    }

    fn close(&mut self) {
        if let Some(snapshot) = self.snapshot.take() {
            let _ = snapshot.session.batch("ROLLBACK");
        }
        if self.created_slot && !self.snapshot_done {
            // The snapshot was not delivered whole: start over next time.
            self.drop_slot();
        }
    }
}

impl SourceReader for PostgresCdcReader {
    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        match self.active.as_mut() {
            Some(active) => active.poll(max, timeout, out),
            None => {
                std::thread::sleep(timeout.min(IDLE_INTERVAL));
                Ok(Poll::Idle)
            }
        }
    }

    fn commit(&mut self, through: &Position) -> Result<(), ConnectorError> {
        match self.active.as_mut() {
            Some(active) => active.commit(through),
            None => Ok(()),
        }
    }

    fn close(&mut self) {
        if let Some(active) = self.active.as_mut() {
            active.close();
        }
        self.active = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_round_trips() {
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(parse_lsn("nope"), None);
    }

    #[test]
    fn snapshot_visibility() {
        let xids = SnapshotXids::parse("100:105:101,103").unwrap();
        assert!(xids.sees(99));
        assert!(!xids.sees(101));
        assert!(xids.sees(102));
        assert!(!xids.sees(103));
        assert!(!xids.sees(105));
        assert!(!xids.sees(200));
        assert!(SnapshotXids::parse("5:5:").is_some());
        assert!(SnapshotXids::parse("x").is_none());
    }

    #[test]
    fn pgoutput_messages_parse_and_truncation_is_an_error() {
        let mut relation = vec![b'R'];
        relation.extend(16384u32.to_be_bytes());
        relation.extend(b"public\0t\0");
        relation.push(b'f');
        relation.extend(2i16.to_be_bytes());
        for (name, oid) in [("id", 23u32), ("doc", JSONB_OID)] {
            relation.push(1);
            relation.extend(name.as_bytes());
            relation.push(0);
            relation.extend(oid.to_be_bytes());
            relation.extend((-1i32).to_be_bytes());
        }
        let Change::Relation(id, parsed) = parse_pgoutput(&relation).unwrap() else {
            panic!("not a relation")
        };
        assert_eq!(id, 16384);
        assert_eq!(parsed.columns[1], ("doc".to_string(), JSONB_OID));
        let mut insert = vec![b'I'];
        insert.extend(16384u32.to_be_bytes());
        insert.push(b'N');
        insert.extend(2i16.to_be_bytes());
        insert.push(b't');
        insert.extend(1u32.to_be_bytes());
        insert.push(b'7');
        insert.push(b'n');
        let Change::Insert { new, .. } = parse_pgoutput(&insert).unwrap() else {
            panic!("not an insert")
        };
        assert_eq!(
            image(&parsed.columns, &new, None),
            json!({"id": "7", "doc": null})
        );
        for cut in 0..insert.len() {
            assert!(parse_pgoutput(&insert[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse_pgoutput(b"Z").is_err());
    }

    #[test]
    fn values_become_the_json_the_format_reads() {
        assert_eq!(text_to_json(BYTEA_OID, b"\\x0001ff"), json!("AAH/"));
        assert_eq!(text_to_json(JSONB_OID, br#"{"a": 1}"#), json!({"a": 1}));
        assert_eq!(text_to_json(25, b"hi"), json!("hi"));
    }

    #[test]
    fn types_are_checked() {
        assert!(compatible(&ScalarType::Int64, "int8"));
        assert!(compatible(&ScalarType::Int32, "int8"));
        assert!(!compatible(&ScalarType::Int64, "text"));
        assert!(!compatible(&ScalarType::Text, "int4"));
        assert!(compatible(
            &ScalarType::Array(Box::new(ScalarType::Int32)),
            "_int4"
        ));
        assert!(!compatible(&ScalarType::TimestampTz, "timestamp"));
    }
}
