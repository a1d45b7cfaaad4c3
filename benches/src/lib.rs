//! Benchmarks for Laaster. Run `cargo bench -p laaster-benches --bench core -- --help`.
//! See benches/README.md for what each benchmark measures and the latest figures.
