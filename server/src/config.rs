//! The server's settings, resolved once from defaults, an optional `laaster.toml`, the
//! environment and command-line flags (later wins).
//!
//! | setting | flag | environment | toml key | default |
//! | --- | --- | --- | --- | --- |
//! | gRPC address | `--grpc-addr` | `LAASTER_GRPC_ADDR` | `grpc_addr` | `127.0.0.1:6875` |
//! | HTTP address | `--http-addr` | `LAASTER_HTTP_ADDR` | `http_addr` | `127.0.0.1:6876` |
//! | timely workers | `--workers` | `LAASTER_WORKERS` | `workers` | number of cores |
//! | data directory | `--data-dir` | `LAASTER_DATA_DIR` | `data_dir` | `./laaster-data` |
//! | static files | `--static-dir` | `LAASTER_STATIC_DIR` | `static_dir` | the repo's `examples/` when present |
//! | WebSocket buffer | `--ws-buffer` | `LAASTER_WS_BUFFER` | `ws_buffer` | 256 messages |
//! | gRPC Subscribe buffer | | `LAASTER_SUBSCRIBE_BUFFER` | `subscribe_buffer` | 256 events |
//! | AS OF history | | `LAASTER_RETAIN_HISTORY_MS` | `retain_history_ms` | 10000 ms |
//!
//! `retain_history_ms` is how far back a feed may resume with AS OF (arrangements keep
//! distinct times that long, which costs memory in proportion to the update rate).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Resolved settings of one server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where the gRPC API listens (port 0 picks a free port).
    pub grpc_addr: SocketAddr,
    /// Where HTTP (`/health`, `/metrics`, `/sql`, `/ws`, static files) listens.
    pub http_addr: SocketAddr,
    /// Timely worker threads.
    pub workers: usize,
    /// Holds `catalog.sql`, the DDL replayed on start.
    pub data_dir: PathBuf,
    /// Served under `/examples/`; `None` serves no directory.
    pub static_dir: Option<PathBuf>,
    /// Messages queued per WebSocket client before it counts as overflowing.
    pub ws_buffer: usize,
    /// Events queued per gRPC Subscribe stream before it counts as overflowing.
    pub subscribe_buffer: usize,
    /// How far back (ms) a feed may start with AS OF.
    pub retain_history_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 6875)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 6876)),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            data_dir: PathBuf::from("laaster-data"),
            static_dir: default_static_dir(),
            ws_buffer: 256,
            subscribe_buffer: 256,
            retain_history_ms: 10_000,
        }
    }
}

/// The repository's `examples/` directory, when the binary runs from a checkout.
fn default_static_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    dir.is_dir().then_some(dir)
}

/// Settings given on the command line (or in a test); `None` keeps the lower layers.
#[derive(Clone, Debug, Default)]
pub struct ConfigOverrides {
    pub config_file: Option<PathBuf>,
    pub grpc_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    pub workers: Option<usize>,
    pub data_dir: Option<PathBuf>,
    pub static_dir: Option<PathBuf>,
    pub ws_buffer: Option<usize>,
}

/// The `laaster.toml` layout: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    workers: Option<usize>,
    data_dir: Option<PathBuf>,
    static_dir: Option<PathBuf>,
    ws_buffer: Option<usize>,
    subscribe_buffer: Option<usize>,
    retain_history_ms: Option<u64>,
}

/// Why the settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value \"{value}\" for {name}: {message}")]
    Env {
        name: &'static str,
        value: String,
        message: String,
    },
    #[error("{name} must be at least 1")]
    Zero { name: &'static str },
}

impl ServerConfig {
    /// Defaults, then the config file (if any), then the environment (read through
    /// `env`), then `overrides`.
    pub fn resolve(
        overrides: &ConfigOverrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ServerConfig, ConfigError> {
        let mut config = ServerConfig::default();
        if let Some(path) = &overrides.config_file {
            config.apply_file(path)?;
        }
        config.apply_env(env)?;
        let o = overrides.clone();
        config.grpc_addr = o.grpc_addr.unwrap_or(config.grpc_addr);
        config.http_addr = o.http_addr.unwrap_or(config.http_addr);
        config.workers = o.workers.unwrap_or(config.workers);
        config.data_dir = o.data_dir.unwrap_or(config.data_dir);
        config.static_dir = o.static_dir.or(config.static_dir);
        config.ws_buffer = o.ws_buffer.unwrap_or(config.ws_buffer);
        if config.workers == 0 {
            return Err(ConfigError::Zero { name: "workers" });
        }
        if config.ws_buffer == 0 {
            return Err(ConfigError::Zero { name: "ws_buffer" });
        }
        if config.subscribe_buffer == 0 {
            return Err(ConfigError::Zero {
                name: "subscribe_buffer",
            });
        }
        Ok(config)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // Relative paths in the file are relative to the file.
        let base = path.parent().unwrap_or(Path::new("."));
        self.grpc_addr = file.grpc_addr.unwrap_or(self.grpc_addr);
        self.http_addr = file.http_addr.unwrap_or(self.http_addr);
        self.workers = file.workers.unwrap_or(self.workers);
        if let Some(dir) = file.data_dir {
            self.data_dir = base.join(dir);
        }
        if let Some(dir) = file.static_dir {
            self.static_dir = Some(base.join(dir));
        }
        self.ws_buffer = file.ws_buffer.unwrap_or(self.ws_buffer);
        self.subscribe_buffer = file.subscribe_buffer.unwrap_or(self.subscribe_buffer);
        self.retain_history_ms = file.retain_history_ms.unwrap_or(self.retain_history_ms);
        Ok(())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(addr) = parse_env(&env, "LAASTER_GRPC_ADDR")? {
            self.grpc_addr = addr;
        }
        if let Some(addr) = parse_env(&env, "LAASTER_HTTP_ADDR")? {
            self.http_addr = addr;
        }
        if let Some(workers) = parse_env(&env, "LAASTER_WORKERS")? {
            self.workers = workers;
        }
        if let Some(dir) = env("LAASTER_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(dir) = env("LAASTER_STATIC_DIR") {
            self.static_dir = Some(PathBuf::from(dir));
        }
        if let Some(buffer) = parse_env(&env, "LAASTER_WS_BUFFER")? {
            self.ws_buffer = buffer;
        }
        if let Some(buffer) = parse_env(&env, "LAASTER_SUBSCRIBE_BUFFER")? {
            self.subscribe_buffer = buffer;
        }
        if let Some(ms) = parse_env(&env, "LAASTER_RETAIN_HISTORY_MS")? {
            self.retain_history_ms = ms;
        }
        Ok(())
    }
}

fn parse_env<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match env(name) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|e: T::Err| ConfigError::Env {
                name,
                message: e.to_string(),
                value,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = std::env::temp_dir().join(format!("laaster-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("laaster.toml");
        std::fs::write(
            &file,
            "grpc_addr = \"127.0.0.1:7000\"\nhttp_addr = \"127.0.0.1:7001\"\nworkers = 3\ndata_dir = \"data\"\n",
        )
        .unwrap();
        let overrides = ConfigOverrides {
            config_file: Some(file),
            http_addr: Some("127.0.0.1:9001".parse().unwrap()),
            ..ConfigOverrides::default()
        };
        let env = |name: &str| (name == "LAASTER_WORKERS").then(|| "5".to_string());
        let config = ServerConfig::resolve(&overrides, env).unwrap();
        assert_eq!(config.grpc_addr.port(), 7000); // file
        assert_eq!(config.workers, 5); // env over file
        assert_eq!(config.http_addr.port(), 9001); // flag over file
        assert_eq!(config.data_dir, dir.join("data")); // relative to the file
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        let env = |name: &str| (name == "LAASTER_GRPC_ADDR").then(|| "nope".to_string());
        let err = ServerConfig::resolve(&ConfigOverrides::default(), env).unwrap_err();
        assert!(err.to_string().contains("LAASTER_GRPC_ADDR"), "{err}");
        let overrides = ConfigOverrides {
            workers: Some(0),
            ..ConfigOverrides::default()
        };
        let err = ServerConfig::resolve(&overrides, |_| None).unwrap_err();
        assert_eq!(err.to_string(), "workers must be at least 1");
    }
}
