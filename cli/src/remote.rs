//! Client mode: the same commands against a `laaster serve` over gRPC (`--server URL`).
//!
//! [`RemoteSession`] turns gRPC answers back into the engine's result types (text
//! values are parsed back into typed values by their column type), so the REPL, the
//! output formats and the feed printer are the very ones of embedded mode. The gRPC
//! client runs on a small tokio runtime owned by the session; calls block.

use std::io::{self, Write};
use std::process::ExitCode;

use laaster_engine::{ErrorResponse, ExecuteResult, RowSet, SubscribeEvent};
use laaster_repr::{RelationDesc, ScalarType};
use laaster_server::proto::laaster_client::LaasterClient;
use laaster_server::proto::{self, statement_result, subscribe_response::Event};
use laaster_server::values::{desc_from_columns, error_from_proto, typed_row};
use tonic::transport::Channel;

use crate::args::SubscribeOptions;
use crate::format::{self, OutputFormat};
use crate::subscribe::{self, FeedEnd, FeedError};

/// A connection to a server.
pub struct RemoteSession {
    runtime: tokio::runtime::Runtime,
    client: LaasterClient<Channel>,
    url: String,
}

fn unavailable(url: &str, error: impl std::fmt::Display) -> ErrorResponse {
    ErrorResponse::new(
        "08006",
        format!("cannot reach the server at {url}: {error}"),
    )
    .with_hint("start one with `laaster serve`, or check --server")
}

fn from_status(status: &tonic::Status) -> ErrorResponse {
    let code = status
        .metadata()
        .get("x-laaster-sqlstate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("XX000");
    // The status message is already rendered Postgres-style; strip the prefix so the
    // CLI's own rendering does not repeat it.
    let message = status.message().trim_start_matches("ERROR:").trim_start();
    ErrorResponse::new(code, message.to_string())
}

impl RemoteSession {
    /// Connects to `url` (`http://host:port`).
    pub fn connect(url: &str) -> Result<RemoteSession, ErrorResponse> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ErrorResponse::new("XX000", format!("cannot start a runtime: {e}")))?;
        let url = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let client = runtime
            .block_on(LaasterClient::connect(url.clone()))
            .map_err(|e| unavailable(&url, e))?
            .max_decoding_message_size(64 << 20);
        Ok(RemoteSession {
            runtime,
            client,
            url,
        })
    }

    /// Runs statements like [`laaster_engine::Session::execute`].
    pub fn execute(&mut self, sql: &str) -> Result<Vec<ExecuteResult>, ErrorResponse> {
        let request = proto::ExecuteRequest { sql: sql.into() };
        let response = self
            .runtime
            .block_on(self.client.execute(request))
            .map_err(|status| from_status(&status))?
            .into_inner();
        if let Some(error) = &response.error {
            return Err(error_from_proto(error));
        }
        Ok(response
            .results
            .into_iter()
            .filter_map(|result| match result.result? {
                statement_result::Result::CommandTag(tag) => Some(ExecuteResult::Command { tag }),
                statement_result::Result::Rows(rows) => Some(ExecuteResult::Rows(row_set(&rows))),
            })
            .collect())
    }

    /// Streams a SUBSCRIBE (`sql` is the statement, or `target` a view/query) to `out`
    /// with the embedded mode's printer.
    pub fn subscribe(
        &mut self,
        request: proto::SubscribeRequest,
        format: OutputFormat,
        options: SubscribeOptions,
        out: &mut dyn Write,
    ) -> Result<FeedEnd, FeedError> {
        let mut feed = self
            .runtime
            .block_on(self.client.subscribe(request))
            .map_err(|status| FeedError::Engine(from_status(&status)))?
            .into_inner();
        let first = self
            .runtime
            .block_on(feed.message())
            .map_err(|status| FeedError::Engine(from_status(&status)))?;
        let Some(proto::SubscribeResponse {
            event: Some(Event::Schema(schema)),
        }) = first
        else {
            return Err(FeedError::Engine(ErrorResponse::new(
                "XX000",
                "the feed did not start with its schema",
            )));
        };
        let desc = desc_from_columns(&schema.columns);
        let types = column_types(&desc);
        let runtime = &self.runtime;
        subscribe::stream_events(
            &desc,
            |timeout| {
                let next =
                    runtime.block_on(async { tokio::time::timeout(timeout, feed.message()).await });
                match next {
                    Err(_) => Ok(None),
                    Ok(Ok(Some(response))) => {
                        Ok(response.event.map(|event| feed_event(event, &types)))
                    }
                    Ok(Ok(None)) | Ok(Err(_)) => Err(()),
                }
            },
            format,
            options,
            out,
        )
    }

    /// Runs a query and returns the Arrow IPC stream bytes.
    pub fn query_arrow(&mut self, sql: &str) -> Result<Vec<u8>, ErrorResponse> {
        let request = proto::QueryRequest {
            sql: sql.into(),
            batch_rows: 0,
        };
        let url = self.url.clone();
        self.runtime.block_on(async {
            let mut stream = self
                .client
                .query(request)
                .await
                .map_err(|status| from_status(&status))?
                .into_inner();
            let mut bytes = Vec::new();
            while let Some(response) = stream.message().await.map_err(|e| unavailable(&url, e))? {
                bytes.extend(response.arrow_ipc);
            }
            Ok(bytes)
        })
    }
}

fn column_types(desc: &RelationDesc) -> Vec<ScalarType> {
    desc.columns.iter().map(|c| c.typ.scalar.clone()).collect()
}

fn row_set(rows: &proto::RowSet) -> RowSet {
    let desc = desc_from_columns(&rows.columns);
    let types = column_types(&desc);
    RowSet {
        rows: rows.rows.iter().map(|r| typed_row(r, &types)).collect(),
        desc,
        timestamp: rows.timestamp,
    }
}

fn feed_event(event: Event, types: &[ScalarType]) -> SubscribeEvent {
    match event {
        Event::Updates(updates) => SubscribeEvent::Updates(
            updates
                .updates
                .iter()
                .map(|u| {
                    let row = u
                        .row
                        .as_ref()
                        .map_or_else(laaster_repr::Row::empty, |r| typed_row(r, types));
                    (row, u.time, u.diff)
                })
                .collect(),
        ),
        Event::Progress(time) => SubscribeEvent::Progress(time),
        Event::Error(error) => SubscribeEvent::Error(error_from_proto(&error)),
        Event::Schema(_) => SubscribeEvent::Updates(Vec::new()),
    }
}

/// Whether `sql` is a SUBSCRIBE statement (its first word, after comments).
pub fn is_subscribe(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    loop {
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    rest.get(..9)
        .is_some_and(|word| word.eq_ignore_ascii_case("subscribe"))
}

/// How `laaster query` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
    Tsv,
    /// The Arrow IPC stream, raw, to stdout (e.g. `| python3 -c 'import pyarrow...'`).
    Arrow,
}

/// `laaster query SQL --server URL`.
pub fn run_query(url: &str, sql: &str, format: QueryFormat) -> ExitCode {
    let mut session = match RemoteSession::connect(url) {
        Ok(session) => session,
        Err(error) => return fail(&error, None),
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = if format == QueryFormat::Arrow {
        match session.query_arrow(sql) {
            Ok(bytes) => out.write_all(&bytes),
            Err(error) => return fail(&error, Some(sql)),
        }
    } else {
        let format = match format {
            QueryFormat::Csv => OutputFormat::Csv,
            QueryFormat::Json => OutputFormat::Json,
            QueryFormat::Tsv => OutputFormat::Tsv,
            _ => OutputFormat::Table,
        };
        match session.execute(sql) {
            Ok(results) => results.iter().try_for_each(|result| match result {
                ExecuteResult::Rows(rows) => format::write_rows(&mut out, rows, format),
                ExecuteResult::Command { tag } => format::write_command(&mut out, tag, format),
                ExecuteResult::Subscription(_) => Ok(()),
            }),
            Err(error) => return fail(&error, Some(sql)),
        }
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("laaster: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `laaster subscribe TARGET --server URL`.
pub fn run_subscribe(
    url: &str,
    target: &str,
    snapshot: bool,
    as_of: Option<u64>,
    format: OutputFormat,
    options: SubscribeOptions,
) -> ExitCode {
    if let Err(err) = subscribe::install_interrupt_handler(false) {
        eprintln!("laaster: cannot install the Ctrl-C handler: {err}");
    }
    let mut session = match RemoteSession::connect(url) {
        Ok(session) => session,
        Err(error) => return fail(&error, None),
    };
    let is_name = target
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '"');
    let request = proto::SubscribeRequest {
        view: if is_name {
            target.to_string()
        } else {
            String::new()
        },
        query: if is_name {
            String::new()
        } else {
            target.to_string()
        },
        sql: String::new(),
        snapshot: Some(snapshot),
        as_of,
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match session.subscribe(request, format, options, &mut out) {
        Ok(_) => ExitCode::SUCCESS,
        Err(FeedError::Engine(error)) => fail(&error, Some(target)),
        Err(FeedError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(FeedError::Io(e)) => {
            eprintln!("laaster: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fail(error: &ErrorResponse, sql: Option<&str>) -> ExitCode {
    eprintln!("{}", error.render(sql));
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_subscribe() {
        assert!(is_subscribe("SUBSCRIBE TO t"));
        assert!(is_subscribe("  -- feed\n subscribe (SELECT 1)"));
        assert!(is_subscribe("/* x */ Subscribe t"));
        assert!(!is_subscribe("SELECT 'subscribe'"));
        assert!(!is_subscribe("SUB"));
    }
}
