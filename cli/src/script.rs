//! Running SQL through a [`Session`] and printing what comes back: the layer `-e`, `-f`,
//! piped stdin and the REPL share.

use std::io::{self, Write};
use std::time::Instant;

use laaster_engine::{ErrorResponse, ExecuteResult, Session};

use crate::args::SubscribeOptions;
use crate::format::{self, OutputFormat};
use crate::statements::split_statements;
use crate::subscribe::{self, FeedEnd, FeedError};

/// Where statements run: an embedded engine's session, or a server over gRPC
/// (`--server`).
pub enum Backend {
    Embedded(Session),
    Remote(Box<crate::remote::RemoteSession>),
}

impl Backend {
    /// Runs statements and returns their results (SUBSCRIBE only when embedded).
    pub fn execute(&mut self, sql: &str) -> Result<Vec<ExecuteResult>, ErrorResponse> {
        match self {
            Backend::Embedded(session) => session.execute(sql),
            Backend::Remote(remote) => remote.execute(sql),
        }
    }
}

/// A session plus the output settings the user chose.
pub struct SqlRunner {
    pub session: Backend,
    pub format: OutputFormat,
    pub subscribe: SubscribeOptions,
    /// Print `Time: 1.234 ms` after each statement (`\timing`).
    pub timing: bool,
}

/// What running one statement did, beyond printing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatementOutcome {
    /// A CREATE, DROP or ALTER ran: names for completion may have changed.
    pub changed_catalog: bool,
    /// A SUBSCRIBE ended because the user pressed Ctrl-C.
    pub interrupted: bool,
}

/// Why a statement failed.
#[derive(Debug)]
pub enum StatementError {
    Engine(ErrorResponse),
    Io(io::Error),
}

impl From<io::Error> for StatementError {
    fn from(err: io::Error) -> Self {
        StatementError::Io(err)
    }
}

/// Why a script stopped early.
#[derive(Debug)]
pub enum ScriptError {
    /// A statement failed; the error is rendered Postgres-style, prefixed by the
    /// script's name and the line when the script has a name.
    Statement(String),
    /// Writing the output failed (e.g. a closed pipe).
    Io(io::Error),
    /// Ctrl-C ended a SUBSCRIBE; the rest of the script does not run.
    Interrupted,
}

impl SqlRunner {
    pub fn new(session: Session, format: OutputFormat, subscribe: SubscribeOptions) -> Self {
        Self::with_backend(Backend::Embedded(session), format, subscribe)
    }

    /// A runner over any backend (the remote one for `--server`).
    pub fn with_backend(
        session: Backend,
        format: OutputFormat,
        subscribe: SubscribeOptions,
    ) -> Self {
        SqlRunner {
            session,
            format,
            subscribe,
            timing: false,
        }
    }

    /// Runs `sql` (normally one statement) and prints its results to `out`.
    pub fn run_statement(
        &mut self,
        sql: &str,
        out: &mut dyn Write,
    ) -> Result<StatementOutcome, StatementError> {
        let started = Instant::now();
        let mut outcome = StatementOutcome::default();
        if let Backend::Remote(remote) = &mut self.session
            && crate::remote::is_subscribe(sql)
        {
            let request = laaster_server::proto::SubscribeRequest {
                sql: sql.to_string(),
                ..Default::default()
            };
            match remote.subscribe(request, self.format, self.subscribe, out) {
                Ok(FeedEnd::Interrupted) => outcome.interrupted = true,
                Ok(FeedEnd::MaxEvents | FeedEnd::Closed) => {}
                Err(FeedError::Engine(err)) => return Err(StatementError::Engine(err)),
                Err(FeedError::Io(err)) => return Err(StatementError::Io(err)),
            }
            out.flush()?;
            return Ok(outcome);
        }
        let results = self.session.execute(sql).map_err(StatementError::Engine)?;
        for result in results {
            match result {
                ExecuteResult::Command { tag } => {
                    outcome.changed_catalog |= changes_catalog(&tag);
                    format::write_command(out, &tag, self.format)?;
                }
                ExecuteResult::Rows(rows) => format::write_rows(out, &rows, self.format)?,
                ExecuteResult::Subscription(feed) => {
                    match subscribe::stream(feed, self.format, self.subscribe, out) {
                        Ok(FeedEnd::Interrupted) => outcome.interrupted = true,
                        Ok(FeedEnd::MaxEvents | FeedEnd::Closed) => {}
                        Err(FeedError::Engine(err)) => return Err(StatementError::Engine(err)),
                        Err(FeedError::Io(err)) => return Err(StatementError::Io(err)),
                    }
                }
            }
        }
        if self.timing {
            let millis = started.elapsed().as_secs_f64() * 1000.0;
            writeln!(out, "Time: {millis:.3} ms")?;
        }
        out.flush()?;
        Ok(outcome)
    }

    /// Runs every statement of `script` in order, stopping at the first error. `origin`
    /// (a file name, `<stdin>`) prefixes error messages as `origin:line: `.
    pub fn run_script(
        &mut self,
        script: &str,
        origin: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<StatementOutcome, ScriptError> {
        let mut total = StatementOutcome::default();
        for statement in split_statements(script) {
            match self.run_statement(statement.text, out) {
                Ok(outcome) => {
                    total.changed_catalog |= outcome.changed_catalog;
                    // Ctrl-C ends the script: in a SUBSCRIBE, or (in the REPL, where
                    // it is caught) during any statement.
                    if outcome.interrupted || subscribe::interrupted() {
                        return Err(ScriptError::Interrupted);
                    }
                }
                Err(StatementError::Io(err)) => return Err(ScriptError::Io(err)),
                Err(StatementError::Engine(err)) => {
                    let _ = out.flush();
                    return Err(ScriptError::Statement(render_error(
                        &err,
                        statement.text,
                        statement.line,
                        origin,
                    )));
                }
            }
        }
        Ok(total)
    }

    /// The first column of every row `sql` returns (errors give nothing): names for
    /// completion from `SHOW TABLES` / `SHOW VIEWS`.
    pub fn first_column(&mut self, sql: &str) -> Vec<String> {
        let Ok(results) = self.session.execute(sql) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        for result in results {
            if let ExecuteResult::Rows(rows) = result {
                names.extend(
                    rows.rows
                        .iter()
                        .filter_map(|row| row.first().and_then(|d| d.as_str()).map(str::to_string)),
                );
            }
        }
        names
    }
}

/// Renders an engine error Postgres-style (`ERROR:  ...`, `LINE n:` with a caret). With
/// an `origin`, prefixes `origin:line: ` where `line` is the script line the error points
/// at (the statement's first line when the error has no position).
pub fn render_error(
    err: &ErrorResponse,
    statement: &str,
    statement_line: usize,
    origin: Option<&str>,
) -> String {
    let rendered = err.render(Some(statement));
    match origin {
        Some(origin) => {
            let offset = err.position.map_or(0, |p| {
                usize::try_from(p.line.saturating_sub(1)).unwrap_or(0)
            });
            format!("{origin}:{}: {rendered}", statement_line + offset)
        }
        None => rendered,
    }
}

fn changes_catalog(tag: &str) -> bool {
    ["CREATE", "DROP", "ALTER"]
        .iter()
        .any(|verb| tag.starts_with(verb))
}

#[cfg(test)]
mod tests {
    use laaster_repr::Position;

    use super::*;

    #[test]
    fn errors_name_the_script_line() {
        let err = ErrorResponse::new("42P01", "unknown catalog item 'nope'")
            .with_position(Position { line: 2, column: 6 });
        let statement = "SELECT *\nFROM nope";
        assert_eq!(
            render_error(&err, statement, 12, Some("pipeline.sql")),
            "pipeline.sql:13: ERROR:  unknown catalog item 'nope'\nLINE 2: FROM nope\n             ^"
        );
        let plain = ErrorResponse::new("XX000", "boom");
        assert_eq!(
            render_error(&plain, "SELECT 1", 4, Some("a.sql")),
            "a.sql:4: ERROR:  boom"
        );
        assert_eq!(render_error(&plain, "SELECT 1", 4, None), "ERROR:  boom");
    }

    #[test]
    fn catalog_changing_tags() {
        assert!(changes_catalog("CREATE TABLE"));
        assert!(changes_catalog("DROP VIEW"));
        assert!(!changes_catalog("INSERT 0 3"));
    }
}
