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
//! A batch PostgreSQL refuses (a value out of range for its column, a constraint) is
//! rolled back and reported as the error of `write`/`complete`, naming the table, the
//! first row of the failing statement and the server's message; it is not retried.
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
//! In the engine every reading view (consumer) opens the source through
//! `SourceConfig::open_for` and gets its own slot, `<slot.name>_<consumer>` (see
//! [`consumer_slot`]), so several views can read one table. Dropping the view (or the
//! subscription, or the source for its own consumers) drops its slot
//! (`SourceConfig::release`, [`drop_slot`]), since a slot left behind holds WAL
//! forever; the publication stays (it holds no WAL, and other slots may use it). A slot
//! survives an engine shutdown or crash, and as the engine keeps no view state across
//! restarts, a view restarted on an existing slot sees only the changes after its last
//! commit (drop its slot to get a fresh snapshot).
//!
//! Not supported: `TRUNCATE` (not published), `bytea`/text values over ~2 kB that an
//! update leaves unchanged (PostgreSQL does not log unchanged TOASTed values; the
//! event's field is then missing), one slot read by several readers at once (PostgreSQL
//! refuses: the slot is active for another process).

mod cdc;
mod pgoutput;
mod sink;

use std::fmt;
use std::time::Duration;

use laaster_repr::{RelationDesc, ScalarType};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use crate::api::ConnectorError;

pub use cdc::{PostgresCdcOptions, PostgresCdcReader, StartupMode};
pub use sink::{PostgresSinkOptions, PostgresSinkWriter};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Drops the replication slot `slot` if it exists, so it no longer holds WAL back. A
/// slot in use by another process is an error naming it (it is left alone).
pub fn drop_slot(url: &str, slot: &str) -> Result<(), ConnectorError> {
    let session = Session::connect(url)?;
    session
        .query(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
             WHERE slot_name = $1::text",
            &[&slot],
        )
        .map_err(|e| {
            pg_error(format!("cannot drop replication slot '{slot}'"), e).hint(format!(
                "drop it once it is idle: SELECT pg_drop_replication_slot('{slot}')"
            ))
        })?;
    Ok(())
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

/// The slot of one consumer of a source: `<slot>_<consumer>`, lower-cased, with
/// characters a slot name cannot hold as `_`, and cut to PostgreSQL's 63 bytes (a hash
/// of the full name keeps cut names apart).
pub fn consumer_slot(slot: &str, consumer: &str) -> String {
    let name: String = format!("{slot}_{consumer}")
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    if name.len() <= 63 {
        return name;
    }
    // FNV-1a: stable across runs and builds.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}_{:08x}", &name[..54], hash as u32)
}

/// `X/Y` (hex halves) to a number.
fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_slots_are_valid_slot_names() {
        assert_eq!(
            consumer_slot("orders", "Per-Customer"),
            "orders_per_customer"
        );
        let long = consumer_slot(&"s".repeat(40), &"v".repeat(40));
        assert_eq!(long.len(), 63);
        assert_ne!(long, consumer_slot(&"s".repeat(40), &"v".repeat(41)));
    }

    #[test]
    fn lsn_round_trips() {
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(parse_lsn("nope"), None);
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
