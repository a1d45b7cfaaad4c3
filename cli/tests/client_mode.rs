//! `laaster serve` as a process, and the CLI's client mode against it: `sql --server`,
//! `query --server --format ...`, `subscribe --server`; SIGTERM stops the server
//! cleanly and a restart brings the catalog back.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const LAASTER: &str = env!("CARGO_BIN_EXE_laaster");

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `laaster serve` on free ports and reads its gRPC address from stdout.
fn serve(data_dir: &std::path::Path) -> Server {
    let mut child = Command::new(LAASTER)
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--workers",
            "2",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "laaster serving: gRPC on 127.0.0.1:PORT, HTTP on http://127.0.0.1:PORT (...)"
    let address = line
        .split("gRPC on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    Server {
        url: format!("http://{address}"),
        child,
    }
}

fn laaster(args: &[&str]) -> Output {
    Command::new(LAASTER).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn client_mode_against_a_served_engine() {
    let dir = std::env::temp_dir().join(format!("laaster-cli-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = serve(&dir);
    let url = server.url.clone();

    let out = stdout(&laaster(&[
        "sql",
        "--server",
        &url,
        "-e",
        "CREATE TABLE votes (user_id BIGINT, contestant TEXT); \
         CREATE MATERIALIZED VIEW tally AS SELECT contestant, count(*) AS n FROM votes GROUP BY contestant; \
         INSERT INTO votes VALUES (1, 'A'), (2, 'B'), (3, 'A'); \
         SELECT * FROM tally ORDER BY contestant",
    ]));
    assert_eq!(
        out,
        "CREATE TABLE\nCREATE MATERIALIZED VIEW\nINSERT 0 3\n contestant | n\n------------+---\n A          | 2\n B          | 1\n(2 rows)\n\n"
    );
    // Errors: Postgres-style on stderr, exit code 1.
    let failed = laaster(&["sql", "--server", &url, "-e", "SELECT nope FROM tally"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("column \"nope\" does not exist"));

    let csv = stdout(&laaster(&[
        "query",
        "SELECT * FROM tally ORDER BY contestant",
        "--server",
        &url,
        "--format",
        "csv",
    ]));
    assert_eq!(csv, "contestant,n\nA,2\nB,1\n");
    let json = stdout(&laaster(&[
        "query",
        "SELECT * FROM tally ORDER BY contestant",
        "--server",
        &url,
        "--format",
        "json",
    ]));
    assert_eq!(
        json,
        "{\"contestant\":\"A\",\"n\":2}\n{\"contestant\":\"B\",\"n\":1}\n"
    );
    let arrow = laaster(&[
        "query",
        "SELECT * FROM tally",
        "--server",
        &url,
        "--format",
        "arrow",
    ]);
    assert!(arrow.status.success());
    // An Arrow IPC stream starts with a continuation marker and ends with the EOS marker.
    assert_eq!(&arrow.stdout[..4], &[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        &arrow.stdout[arrow.stdout.len() - 8..],
        &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
    );

    // The snapshot of the feed (two rows), then stop.
    let feed = stdout(&laaster(&[
        "subscribe",
        "tally",
        "--server",
        &url,
        "--max-events",
        "2",
        "--format",
        "csv",
    ]));
    let lines: Vec<&str> = feed.lines().collect();
    assert_eq!(lines[0], "time,diff,contestant,n");
    let mut rows: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_once(",1,").unwrap().1)
        .collect();
    rows.sort();
    assert_eq!(rows, ["A,2", "B,1"]);

    // SIGTERM: the server exits 0; a restart has the same catalog.
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut server = server;
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    drop(server);
    let server = serve(&dir);
    let views = stdout(&laaster(&[
        "query",
        "SHOW VIEWS",
        "--server",
        &server.url,
        "--format",
        "csv",
    ]));
    assert!(views.lines().any(|l| l.starts_with("tally")), "{views}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
