//! Shared helpers for the end-to-end tests (the tests themselves are the `[[test]]` targets in Cargo.toml).
