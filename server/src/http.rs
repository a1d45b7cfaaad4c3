//! The HTTP endpoints (axum):
//!
//! | route | what |
//! | --- | --- |
//! | `GET /health` | `{"status":"ok"}` while the server runs |
//! | `GET /metrics` | Prometheus text ([`crate::metrics`]) |
//! | `POST /sql` | body `{"sql": "..."}`; answers `{"results": [...], "error": {...}\|null}` (400 when `error` is set) |
//! | `GET /ws` | WebSocket change feeds ([`crate::websocket`]) |
//! | `GET /` | the console page (run SQL, watch a feed) |
//! | `GET /laaster.js` | the browser client (`examples/live-votes/laaster.js`) |
//! | `GET /examples/...` | files under the static directory (e.g. `/examples/live-votes/`) |

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use laaster_engine::ExecuteResult;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use tokio::sync::watch;

use crate::core::{Core, now_millis};
use crate::values::{columns_json, error_json, row_json};
use crate::websocket::serve_socket;

const CONSOLE_HTML: &str = include_str!("../static/console.html");
const LAASTER_JS: &str = include_str!("../../examples/live-votes/laaster.js");

#[derive(Clone)]
struct HttpState {
    core: Arc<Core>,
    stopping: watch::Receiver<bool>,
}

/// The router of all HTTP endpoints.
pub fn router(core: Arc<Core>, stopping: watch::Receiver<bool>) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/metrics", get(metrics))
        .route("/sql", post(sql))
        .route("/ws", get(websocket))
        .route("/", get(|| async { html(CONSOLE_HTML) }))
        .route("/laaster.js", get(|| async { javascript(LAASTER_JS) }))
        .route("/examples/{*path}", get(static_file))
        .with_state(HttpState { core, stopping })
}

fn html(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn javascript(body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn metrics(State(state): State<HttpState>) -> Response {
    let core = state.core.clone();
    let (sources, arrangements) = tokio::task::spawn_blocking(move || {
        let arrangements = core.session().arrangement_sizes().unwrap_or_default();
        (core.source_rows(), arrangements)
    })
    .await
    .unwrap_or_default();
    let text = state
        .core
        .metrics
        .render(now_millis(), &sources, &arrangements);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[derive(Deserialize)]
struct SqlRequest {
    sql: String,
}

async fn sql(State(state): State<HttpState>, body: axum::Json<SqlRequest>) -> Response {
    let core = state.core.clone();
    let sql = body.0.sql;
    let outcome = match tokio::task::spawn_blocking(move || core.execute(&sql)).await {
        Ok(outcome) => outcome,
        Err(e) => {
            let body = json!({"results": [], "error": {"code": "XX000", "message": e.to_string()}});
            return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
        }
    };
    let results: Vec<Json> = outcome
        .results
        .iter()
        .filter_map(|result| match result {
            ExecuteResult::Command { tag } => Some(json!({"tag": tag})),
            ExecuteResult::Rows(rows) => Some(json!({
                "columns": columns_json(&rows.desc),
                "rows": rows.rows.iter().map(row_json).collect::<Vec<_>>(),
                "timestamp": rows.timestamp,
            })),
            ExecuteResult::Subscription(_) => None,
        })
        .collect();
    let status = if outcome.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let error = outcome.error.as_ref().map(error_json);
    (
        status,
        axum::Json(json!({"results": results, "error": error})),
    )
        .into_response()
}

async fn websocket(State(state): State<HttpState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| serve_socket(socket, state.core, state.stopping))
}

async fn static_file(State(state): State<HttpState>, UrlPath(path): UrlPath<String>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found\n").into_response();
    let Some(root) = &state.core.config.static_dir else {
        return not_found();
    };
    let Some(file) = resolve_static(root, &path) else {
        return not_found();
    };
    let file = if file.is_dir() {
        file.join("index.html")
    } else {
        file
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&file))], bytes).into_response(),
        Err(_) => not_found(),
    }
}

/// `root/path` when `path` stays inside `root` (no `..`, no absolute parts).
fn resolve_static(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(root.join(relative))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "sql" | "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_paths_stay_inside_the_root() {
        let root = Path::new("/srv/examples");
        assert_eq!(
            resolve_static(root, "live-votes/index.html"),
            Some(PathBuf::from("/srv/examples/live-votes/index.html"))
        );
        assert_eq!(resolve_static(root, "../secret"), None);
        assert_eq!(resolve_static(root, "/etc/passwd"), None);
        assert_eq!(resolve_static(root, "a/../../b"), None);
    }
}
