//! The server's shared state and its blocking operations on the engine: running SQL
//! (recording DDL in the catalog file), writing ingested rows, and building the SQL of
//! a subscription. Every function here blocks on the engine: async callers run them
//! with `tokio::task::spawn_blocking`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use laaster_engine::{Engine, EngineConfig, ErrorResponse, ExecuteResult, Session, Subscription};
use laaster_repr::plan::GlobalId;
use laaster_repr::{Datum, RelationDesc, Row};
use laaster_sql::parse::{Statement, parse_statements};
use laaster_sql::{Catalog, CatalogItem, PlanContext, StatementPlan};

use crate::ServerError;
use crate::catalog_store::{CatalogStore, is_catalog_change};
use crate::config::ServerConfig;
use crate::feeds::FeedHub;
use crate::metrics::Metrics;
use crate::values::{RowConversionError, TableSchema, json_row};

/// Everything the endpoints share.
pub struct Core {
    pub config: ServerConfig,
    pub metrics: Arc<Metrics>,
    pub feeds: FeedHub,
    catalog: CatalogStore,
    session: Session,
    stopping: AtomicBool,
    // Declared last so it is dropped (shut down) after the sessions above.
    _engine: Engine,
}

/// What one Execute did: the results of the statements that ran and the error that
/// stopped it, if any.
pub struct ExecuteOutcome {
    pub results: Vec<ExecuteResult>,
    pub error: Option<ErrorResponse>,
}

/// One ingested batch's outcome.
pub struct IngestOutcome {
    pub rows_written: u64,
    pub row_errors: Vec<(usize, RowConversionError)>,
    pub error: Option<ErrorResponse>,
}

/// Milliseconds since the Unix epoch (the engine's logical clock).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Core {
    /// Starts the engine and replays the catalog of `config.data_dir`.
    pub fn open(config: ServerConfig) -> Result<Core, ServerError> {
        let catalog =
            CatalogStore::open(&config.data_dir).map_err(|source| ServerError::DataDir {
                path: config.data_dir.clone(),
                source,
            })?;
        let engine = Engine::start(EngineConfig {
            workers: config.workers,
            retain_history: std::time::Duration::from_millis(config.retain_history_ms),
            ..EngineConfig::default()
        })
        .map_err(ServerError::Engine)?;
        let mut session = engine.session();
        let statements = catalog
            .statements()
            .map_err(|source| ServerError::DataDir {
                path: catalog.path().to_path_buf(),
                source,
            })?;
        let mut replayed = 0;
        for statement in &statements {
            match session.execute(statement) {
                Ok(_) => replayed += 1,
                Err(error) => tracing::warn!(
                    statement = %statement,
                    error = %error.render(Some(statement)),
                    "catalog statement failed on replay; skipped"
                ),
            }
        }
        tracing::info!(path = %catalog.path().display(), statements = replayed, "catalog replayed");
        let metrics = Arc::new(Metrics::default());
        Ok(Core {
            feeds: FeedHub::new(engine.session(), metrics.clone()),
            config,
            metrics,
            catalog,
            session,
            stopping: AtomicBool::new(false),
            _engine: engine,
        })
    }

    /// Marks the server as stopping: feeds end and their clients are let go.
    pub fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        self.feeds.close_all();
    }

    /// Whether [`Core::begin_shutdown`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// A session on the engine (cheap; sessions may be used from any thread).
    pub fn session(&self) -> Session {
        self.session.clone()
    }

    /// Runs the statements of `sql` in order, stopping at the first error. DDL that
    /// succeeds is appended to the catalog file; SUBSCRIBE is refused (feeds have their
    /// own endpoints).
    pub fn execute(&self, sql: &str) -> ExecuteOutcome {
        let parsed = match parse_statements(sql) {
            Ok(parsed) => parsed,
            Err(error) => {
                self.metrics.statement(false);
                return ExecuteOutcome {
                    results: Vec::new(),
                    error: Some(error.to_response()),
                };
            }
        };
        if parsed
            .iter()
            .any(|p| matches!(p.statement, Statement::Subscribe(_)))
        {
            self.metrics.statement(false);
            return ExecuteOutcome {
                results: Vec::new(),
                error: Some(
                    ErrorResponse::new("0A000", "SUBSCRIBE is not supported here").with_hint(
                        "use the Subscribe RPC, `laaster subscribe`, or the /ws WebSocket",
                    ),
                ),
            };
        }
        let mut results = Vec::new();
        let mut index = 0;
        let outcome = self.session().execute_each(sql, |result| {
            if let ExecuteResult::Command { tag } = &result
                && let Some(statement) = parsed.get(index)
            {
                self.after_command(tag, &statement.sql);
            }
            self.metrics.statement(true);
            index += 1;
            results.push(result);
        });
        let error = outcome.err();
        if error.is_some() {
            self.metrics.statement(false);
        }
        ExecuteOutcome { results, error }
    }

    fn after_command(&self, tag: &str, statement: &str) {
        if is_catalog_change(tag) {
            if let Err(error) = self.catalog.append(statement) {
                tracing::error!(
                    path = %self.catalog.path().display(),
                    error = %error,
                    statement = %statement,
                    "could not record a catalog change; it will be missing after a restart"
                );
            }
        } else if let Some(count) = tag.strip_prefix("INSERT 0 ")
            && let Ok(count) = count.trim().parse::<u64>()
            && let Some(table) = insert_target(statement)
        {
            self.metrics.rows_ingested(&table, count);
        }
    }

    /// The schema of a table, read with `SELECT * FROM table LIMIT 0`.
    pub fn table_desc(&self, table: &str) -> Result<RelationDesc, ErrorResponse> {
        let sql = format!("SELECT * FROM {} LIMIT 0", quote_identifier(table));
        match self.session().execute(&sql)?.pop() {
            Some(ExecuteResult::Rows(rows)) => Ok(rows.desc),
            _ => Err(ErrorResponse::new(
                "XX000",
                "SELECT returned no rows result",
            )),
        }
    }

    /// A table's schema with the values of its column DEFAULTs (computed now), for
    /// Ingest. A stream of Ingest requests computes them again per request
    /// ([`TableSchema::refreshed`]), so `DEFAULT now()` is each batch's time.
    pub fn table_schema(&self, table: &str) -> Result<TableSchema, ErrorResponse> {
        let desc = self.table_desc(table)?;
        let sql = format!("SHOW CREATE TABLE {}", quote_identifier(table));
        let create_sql = match self.session().execute(&sql).map(|mut r| r.pop()) {
            Ok(Some(ExecuteResult::Rows(rows))) => {
                rows.rows.first().and_then(|row| match row.get(1) {
                    Some(Datum::Text(text)) => Some(text.to_string()),
                    _ => None,
                })
            }
            _ => None,
        };
        let schema = TableSchema {
            defaults: vec![None; desc.arity()],
            desc,
            create_sql,
        };
        Ok(refreshed(schema))
    }

    /// Converts JSON rows and writes the good ones to `table` in one write.
    pub fn ingest_json(
        &self,
        table: &str,
        schema: &TableSchema,
        json_rows: &[String],
    ) -> IngestOutcome {
        let rows = json_rows
            .iter()
            .map(|text| json_row(text, schema))
            .collect();
        self.ingest(table, rows)
    }

    /// Converts the rows of an Arrow IPC stream and writes the good ones to `table` in
    /// one write.
    pub fn ingest_arrow(&self, table: &str, schema: &TableSchema, bytes: &[u8]) -> IngestOutcome {
        match crate::arrow_ipc::decode_rows(bytes, schema) {
            Ok(rows) => self.ingest(table, rows),
            Err(error) => IngestOutcome {
                rows_written: 0,
                row_errors: Vec::new(),
                error: Some(error),
            },
        }
    }

    /// Writes the converted rows in one write; the others become row errors by index.
    fn ingest(
        &self,
        table: &str,
        converted: Vec<Result<Row, RowConversionError>>,
    ) -> IngestOutcome {
        let mut rows = Vec::with_capacity(converted.len());
        let mut row_errors = Vec::new();
        for (index, row) in converted.into_iter().enumerate() {
            match row {
                Ok(row) => rows.push(row),
                Err(error) => row_errors.push((index, error)),
            }
        }
        if rows.is_empty() {
            return IngestOutcome {
                rows_written: 0,
                row_errors,
                error: None,
            };
        }
        match self.session().insert_rows(table, rows) {
            Ok(written) => {
                self.metrics.rows_ingested(table, written);
                IngestOutcome {
                    rows_written: written,
                    row_errors,
                    error: None,
                }
            }
            Err(error) => IngestOutcome {
                rows_written: 0,
                row_errors,
                error: Some(error),
            },
        }
    }

    /// Source names and the rows each has produced, from `SHOW SOURCES` (empty when the
    /// statement is not available).
    pub fn source_rows(&self) -> Vec<(String, u64)> {
        let Ok(mut results) = self.session().execute("SHOW SOURCES") else {
            return Vec::new();
        };
        let Some(ExecuteResult::Rows(rows)) = results.pop() else {
            return Vec::new();
        };
        let names: Vec<&str> = rows.desc.names().collect();
        let (Some(name_at), Some(rows_at)) = (
            names.iter().position(|n| *n == "name" || *n == "source"),
            names.iter().position(|n| *n == "rows"),
        ) else {
            return Vec::new();
        };
        rows.to_text()
            .into_iter()
            .filter_map(|r| Some((r.get(name_at)?.clone(), r.get(rows_at)?.parse().ok()?)))
            .collect()
    }
}

/// The SQL of a subscription to `target`: a view or table name, or a query. Checked to
/// be exactly one SUBSCRIBE statement, so a target cannot smuggle in other statements.
pub fn subscribe_sql(
    target: &str,
    snapshot: bool,
    as_of: Option<u64>,
) -> Result<String, ErrorResponse> {
    let target = target.trim().trim_end_matches(';').trim_end();
    if target.is_empty() {
        return Err(ErrorResponse::new("42601", "nothing to subscribe to")
            .with_hint("give a view name or a SELECT query"));
    }
    let is_name = target
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '"');
    let mut sql = if is_name {
        format!("SUBSCRIBE TO {target}")
    } else {
        format!("SUBSCRIBE ({target})")
    };
    if !snapshot {
        sql.push_str(" WITH (snapshot = false)");
    }
    if let Some(as_of) = as_of {
        sql.push_str(&format!(" AS OF {as_of}"));
    }
    match parse_statements(&sql) {
        Ok(parsed)
            if parsed.len() == 1 && matches!(parsed[0].statement, Statement::Subscribe(_)) =>
        {
            Ok(sql)
        }
        Ok(_) => Err(ErrorResponse::new(
            "42601",
            "a subscription must be one view name or one query",
        )
        .with_detail(format!("got: {target}"))),
        Err(error) => Err(error.to_response()),
    }
}

/// `sql` when it is exactly one SUBSCRIBE statement.
pub fn check_subscribe_statement(sql: &str) -> Result<String, ErrorResponse> {
    let parsed = parse_statements(sql).map_err(|e| e.to_response())?;
    if parsed.len() == 1 && matches!(parsed[0].statement, Statement::Subscribe(_)) {
        Ok(sql.to_string())
    } else {
        Err(ErrorResponse::new(
            "42601",
            "expected exactly one SUBSCRIBE statement",
        ))
    }
}

/// Starts a subscription (blocking until the engine has set it up).
pub fn start_subscription(session: &mut Session, sql: &str) -> Result<Subscription, ErrorResponse> {
    match session.execute(sql)?.pop() {
        Some(ExecuteResult::Subscription(feed)) => Ok(feed),
        _ => Err(ErrorResponse::new(
            "XX000",
            "SUBSCRIBE did not return a change feed",
        )),
    }
}

/// The empty catalog a table's own CREATE TABLE is planned against (for its DEFAULTs).
struct NoCatalog;

impl Catalog for NoCatalog {
    fn get(&self, _name: &str) -> Option<&CatalogItem> {
        None
    }

    fn get_by_id(&self, _id: GlobalId) -> Option<&CatalogItem> {
        None
    }

    fn items(&self) -> Vec<&CatalogItem> {
        Vec::new()
    }
}

/// `"name"` with embedded quotes doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The table of `INSERT INTO name ...`, lower-cased unless quoted.
fn insert_target(statement: &str) -> Option<String> {
    let mut words = statement.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("insert") || !words.next()?.eq_ignore_ascii_case("into")
    {
        return None;
    }
    let name = words.next()?;
    let name = name.split('(').next()?;
    if let Some(quoted) = name.strip_prefix('"') {
        Some(quoted.trim_end_matches('"').to_string())
    } else {
        Some(name.to_lowercase())
    }
}

/// `schema` with its DEFAULTs evaluated now: its `SHOW CREATE TABLE` text planned again
/// on its own (a DEFAULT cannot reference other relations) and each DEFAULT evaluated.
/// No DEFAULTs when there is no text or it does not plan as a plain table.
pub fn refreshed(mut schema: TableSchema) -> TableSchema {
    let arity = schema.desc.arity();
    schema.defaults = vec![None; arity];
    let Some(create_sql) = schema.create_sql.as_deref() else {
        return schema;
    };
    let Ok(parsed) = parse_statements(create_sql) else {
        return schema;
    };
    let [statement] = parsed.as_slice() else {
        return schema;
    };
    let context = PlanContext {
        now_micros: (now_millis() * 1000) as i64,
    };
    let plan = laaster_sql::statement::plan_statement(&NoCatalog, &statement.statement, &context);
    if let Ok(StatementPlan::CreateTable { info, .. }) = plan
        && info.defaults.len() == arity
    {
        schema.defaults = info
            .defaults
            .iter()
            .map(|default| {
                default
                    .as_ref()
                    .map(|expr| expr.eval(&[]).map_err(ErrorResponse::from))
            })
            .collect();
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_targets() {
        assert_eq!(
            subscribe_sql("tally", true, None).unwrap(),
            "SUBSCRIBE TO tally"
        );
        assert_eq!(
            subscribe_sql("SELECT 1", false, Some(5)).unwrap(),
            "SUBSCRIBE (SELECT 1) WITH (snapshot = false) AS OF 5"
        );
        assert!(subscribe_sql("SELECT 1); DROP TABLE t; --", true, None).is_err());
        assert!(subscribe_sql("  ", true, None).is_err());
    }

    #[test]
    fn insert_targets() {
        assert_eq!(
            insert_target("INSERT INTO Votes VALUES (1)").as_deref(),
            Some("votes")
        );
        assert_eq!(
            insert_target("insert into t(a) values (1)").as_deref(),
            Some("t")
        );
        assert_eq!(insert_target("SELECT 1"), None);
    }
}
