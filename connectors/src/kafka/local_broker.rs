//! A local Kafka-protocol broker for tests, benchmarks and demos: the tansu binary that
//! `scripts/install-test-deps.sh` installs, started on a free loopback port with in-memory
//! storage and killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running tansu broker (see the module docs).
pub struct LocalBroker {
    child: Child,
    servers: String,
    log: PathBuf,
}

impl LocalBroker {
    /// Where the binary is: `$LAASTER_TEST_DEPS/bin/tansu`, by default under
    /// `~/.cache/laaster-test-deps`.
    pub fn binary() -> Option<PathBuf> {
        std::env::var_os("LAASTER_TEST_DEPS")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/laaster-test-deps"))
            })
            .map(|root| root.join("bin/tansu"))
    }

    /// Starts a broker and waits (up to 30 s) until it listens.
    pub fn start() -> Result<LocalBroker, String> {
        let binary = Self::binary().ok_or("HOME is not set")?;
        if !binary.exists() {
            return Err(format!(
                "the tansu broker is not installed at {}: run scripts/install-test-deps.sh (CI runs it first)",
                binary.display()
            ));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("laaster-tansu-{port}.log"));
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let stderr = log_file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(&binary)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let broker = LocalBroker {
            child,
            servers: format!("127.0.0.1:{port}"),
            log,
        };
        let start = Instant::now();
        while TcpStream::connect(&broker.servers).is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "tansu did not listen on {} within 30 s; its log: {}",
                    broker.servers,
                    std::fs::read_to_string(&broker.log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn servers(&self) -> &str {
        &self.servers
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
