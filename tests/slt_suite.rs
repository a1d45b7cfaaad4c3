//! Runs the sqllogictest suite in `tests/slt/` (expected results computed by
//! PostgreSQL 15; see tests/slt/README.md) against the embedded engine with 1 and with 2
//! workers — results must be identical for every worker count.

use std::path::PathBuf;

use laaster_cli::slt::{SltOptions, run_slt_files};

fn run_suite(workers: usize) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("slt");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    let summary = run_slt_files(
        &files,
        &SltOptions {
            workers: Some(workers),
            ..SltOptions::default()
        },
    );
    println!("workers={workers}: {}", summary.summary_line());
    assert!(
        summary.passed >= 1000,
        "too few records ran: {}",
        summary.summary_line()
    );
    assert!(
        summary.failures.is_empty(),
        "workers={workers}: {}\n{}",
        summary.summary_line(),
        summary.failures.join("\n\n")
    );
}

#[test]
fn slt_suite_one_worker() {
    run_suite(1);
}

#[test]
fn slt_suite_two_workers() {
    run_suite(2);
}
