//! The `'postgres'` sink: upserts by key (or appends) into a table. See the parent
//! module's docs for the semantics.

use std::collections::BTreeMap;

use laaster_repr::strconv::format_datum;
use laaster_repr::{Datum, Diff, RelationDesc, Row, Timestamp};
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use super::{
    PgColumn, Session, TableInfo, comparable, describe_table, match_columns, pg_error, quote_ident,
};
use crate::api::{ConnectorError, SinkWriter};

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

/// A row (or key) as column texts, `None` for SQL NULL.
type Texts = Vec<Option<String>>;

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
        // In time order; within one time by key, retractions first, so a (-old, +new)
        // pair for one key ends as an upsert and a later lone retraction as a delete.
        // A full buffer is written between keys, never between a key's changes.
        let mut order: Vec<(Timestamp, Texts, bool, Texts)> = updates
            .iter()
            .map(|(row, time, diff)| {
                let text = row_text(row);
                let key_text = key.iter().map(|&i| text[i].clone()).collect();
                (*time, key_text, *diff > 0, text)
            })
            .collect();
        order.sort();
        let mut previous: Option<Vec<Option<String>>> = None;
        for (_, key_text, insertion, text) in order {
            if previous.as_ref() != Some(&key_text) && self.changes.len() >= self.max_rows {
                self.flush()?;
            }
            let change = if insertion {
                KeyChange::Upsert(text)
            } else {
                KeyChange::Delete(text)
            };
            previous = Some(key_text.clone());
            self.changes.insert(key_text, change);
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
