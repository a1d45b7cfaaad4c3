//! EXPLAIN golden tests: each `tests/explain/NAME.sql` holds setup statements and EXPLAIN
//! statements; the EXPLAIN output must equal `tests/explain/NAME.out`. Regenerate after
//! an intended plan change with `LAASTER_BLESS=1 cargo test -p laaster-tests --test
//! explain_golden` and review the diff.

use std::fs;
use std::path::Path;

use laaster_engine::{Engine, EngineConfig, ExecuteResult};

fn explain_file(path: &Path) -> String {
    let engine = Engine::start(EngineConfig {
        workers: 1,
        ..EngineConfig::default()
    })
    .expect("engine starts");
    let mut session = engine.session();
    let script = fs::read_to_string(path).expect("read script");
    let mut out = String::new();
    for statement in script.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        let results = session
            .execute(statement)
            .unwrap_or_else(|e| panic!("{}: {statement}: {e}", path.display()));
        if statement.to_uppercase().starts_with("EXPLAIN") {
            out.push_str(&format!("-- {statement}\n"));
            for result in results {
                if let ExecuteResult::Rows(rows) = result {
                    for row in rows.to_text() {
                        out.push_str(&row.join(" "));
                        out.push('\n');
                    }
                }
            }
            out.push('\n');
        }
    }
    out
}

#[test]
fn explain_matches_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("explain");
    let bless = std::env::var_os("LAASTER_BLESS").is_some();
    let mut scripts: Vec<_> = fs::read_dir(&dir)
        .expect("tests/explain exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    scripts.sort();
    assert!(
        !scripts.is_empty(),
        "no EXPLAIN scripts in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for script in scripts {
        let actual = explain_file(&script);
        let golden = script.with_extension("out");
        if bless {
            fs::write(&golden, &actual).expect("write golden");
            continue;
        }
        let expected = fs::read_to_string(&golden).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{} differs from {}:\n--- expected\n{expected}\n--- actual\n{actual}",
                script.display(),
                golden.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(rerun with LAASTER_BLESS=1 to accept)",
        failures.join("\n")
    );
}
