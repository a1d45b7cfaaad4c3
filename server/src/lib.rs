//! # laaster-server (not implemented yet)
//!
//! `laaster serve` — gRPC (tonic), WebSocket change feeds, HTTP metrics and the console —
//! is issue 4 and does not exist yet. This crate holds its place in the workspace layout
//! fixed by DESIGN.md.
