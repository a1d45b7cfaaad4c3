//! # laaster-server: `laaster serve`
//!
//! Stage: the network edge over the embedded engine. Input: gRPC calls, HTTP requests
//! and WebSocket messages. Output: command results, Arrow record batches, change feeds
//! and metrics.
//!
//! ```text
//!            ┌─ gRPC  (tonic) ── grpc::LaasterService: Execute, Query, Subscribe, Ingest
//!  clients ──┤                   + grpc.health.v1 + server reflection
//!            └─ HTTP  (axum) ── http::router: /health /metrics /sql /ws, console, examples
//!                                  │ /ws ── feeds::FeedHub (one engine feed per view, fanned out)
//!                                  ▼
//!                        core::Core (blocking calls on tokio's blocking pool)
//!                          ├─ laaster_engine::Engine / Session
//!                          ├─ catalog_store: DDL in <data-dir>/catalog.sql, replayed on start
//!                          └─ metrics
//! ```
//!
//! Start reading at [`serve`] (the `laaster serve` command) and [`start`] (what tests
//! use: a server on the given addresses, port 0 for free ones).

pub mod arrow_ipc;
pub mod catalog_store;
pub mod config;
pub mod core;
pub mod feeds;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod values;
pub mod websocket;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use laaster_engine::ErrorResponse;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{ConfigError, ConfigOverrides, ServerConfig};

/// The generated protobuf messages and gRPC client/server of `proto/laaster.proto`.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("laaster.v1");

    /// The encoded file descriptor set, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/laaster_descriptor.bin"));
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the engine: {}", .0.message)]
    Engine(ErrorResponse),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Grpc(String),
    #[error("HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
}

/// A running server. Drop or [`RunningServer::shutdown`] stops it.
pub struct RunningServer {
    /// The bound gRPC address (the real port when 0 was asked for).
    pub grpc_addr: SocketAddr,
    /// The bound HTTP address.
    pub http_addr: SocketAddr,
    stopping: watch::Sender<bool>,
    grpc: JoinHandle<Result<(), ServerError>>,
    http: JoinHandle<Result<(), ServerError>>,
    core: Arc<Core>,
}

use crate::core::Core;

/// Starts the engine (replaying the catalog) and both endpoints; returns once they
/// listen.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let grpc_listener = bind(config.grpc_addr).await?;
    let http_listener = bind(config.http_addr).await?;
    let grpc_addr = grpc_listener
        .local_addr()
        .map_err(|source| ServerError::Bind {
            addr: config.grpc_addr,
            source,
        })?;
    let http_addr = http_listener
        .local_addr()
        .map_err(|source| ServerError::Bind {
            addr: config.http_addr,
            source,
        })?;
    let core = tokio::task::spawn_blocking(move || Core::open(config))
        .await
        .map_err(|e| ServerError::Grpc(e.to_string()))??;
    let core = Arc::new(core);
    let (stopping, stop_signal) = watch::channel(false);
    let grpc = tokio::spawn(serve_grpc(core.clone(), grpc_listener, stop_signal.clone()));
    let router = http::router(core.clone(), stop_signal.clone());
    let mut http_stop = stop_signal;
    // Feeds write small frames: without TCP_NODELAY, Nagle's algorithm and delayed
    // ACKs hold them back by up to tens of milliseconds.
    let http_listener = axum::serve::ListenerExt::tap_io(http_listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let http = tokio::spawn(async move {
        axum::serve(http_listener, router)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
            })
            .await
            .map_err(ServerError::Http)
    });
    tracing::info!(grpc = %grpc_addr, http = %http_addr, "laaster server listening");
    Ok(RunningServer {
        grpc_addr,
        http_addr,
        stopping,
        grpc,
        http,
        core,
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

async fn serve_grpc(
    core: Arc<Core>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    use proto::laaster_server::LaasterServer;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<LaasterServer<grpc::LaasterService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Grpc(e.to_string()))?;
    let service = LaasterServer::new(grpc::LaasterService::new(core))
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(service)
        .serve_with_incoming_shutdown(
            // TCP_NODELAY, as for HTTP (see `start`): tonic leaves incoming streams as
            // they are.
            tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |stream| {
                    stream.and_then(|tcp| {
                        tcp.set_nodelay(true)?;
                        Ok(tcp)
                    })
                },
            ),
            async move {
                let _ = stop.wait_for(|stop| *stop).await;
            },
        )
        .await
        .map_err(|e| ServerError::Grpc(e.to_string()))
}

impl RunningServer {
    /// Stops accepting, ends every feed and waits (up to 5 s) for the endpoints to
    /// finish; the engine shuts down when the last reference to it goes.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        tracing::info!("laaster server shutting down");
        self.core.begin_shutdown();
        let _ = self.stopping.send(true);
        let wait = async {
            let grpc = self.grpc.await;
            let http = self.http.await;
            (grpc, http)
        };
        match tokio::time::timeout(Duration::from_secs(5), wait).await {
            Ok((grpc, http)) => {
                grpc.map_err(|e| ServerError::Grpc(e.to_string()))??;
                http.map_err(|e| ServerError::Grpc(e.to_string()))??;
            }
            Err(_) => tracing::warn!("endpoints did not stop within 5 s; closing anyway"),
        }
        let core = self.core;
        // Engine shutdown joins its threads: keep that off the async workers.
        let _ = tokio::task::spawn_blocking(move || drop(core)).await;
        Ok(())
    }

    /// The shared state (for tests and embedding).
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }
}

/// `laaster serve`: runs until SIGINT or SIGTERM, then shuts down cleanly.
pub async fn serve(config: ServerConfig) -> Result<(), ServerError> {
    let server = start(config).await?;
    println!(
        "laaster serving: gRPC on {}, HTTP on http://{} (Ctrl-C to stop)",
        server.grpc_addr, server.http_addr
    );
    wait_for_signal().await;
    server.shutdown().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                    _ = terminate.recv() => tracing::info!("SIGTERM received"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
