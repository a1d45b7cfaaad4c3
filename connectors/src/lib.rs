//! # laaster-connectors: where events come from and where results go
//!
//! Stage: the edge of the system. Connectors never depend on the engine's internals
//! (`laaster-engine`, `laaster-dataflow`); the runtime adapts them. The only engine
//! crate used here is `laaster-repr`, for converting records into [`laaster_repr::Row`]s.
//!
//! What lives here today:
//!
//! - [`nexmark`] — the Nexmark benchmark's event generator, compatible with the Flink
//!   generator behind published Nexmark numbers (`../shared/nexmark/generator.md`):
//!
//!   ```text
//!   WITH options ──NexmarkConfig::from_options──▶ NexmarkConfig
//!        │ NexmarkGenerator::new / ::for_worker(worker, workers)
//!        ▼
//!   Event (Person | Auction | Bid) ──json::write_event──▶ JSON lines (Flink's ddl_kafka.sql layout)
//!                                  └─row::event_to_row───▶ laaster_repr::Row (event_type, person, auction, bid)
//!   ```
//!
//! - [`api`] — the source/sink contract (who calls what, in which order, how a consumer's
//!   external state is released on DROP); [`registry`] — every external connector and its
//!   checked options; [`format`](mod@format) — json, csv, raw, debezium-json, avro, parquet;
//!   [`metadata`] — metadata columns (`METADATA FROM 'key'`, Kafka's envelope); one module
//!   per system: [`kafka`], [`redis`], [`nats`], [`postgres`], [`file`](mod@file).
//!
//! Start reading at [`api`] for connectors, at [`nexmark`] for the generator.

pub mod api;
pub mod datagen;
pub mod file;
pub mod format;
pub mod kafka;
pub mod metadata;
pub mod nats;
pub mod nexmark;
pub mod postgres;
pub mod redis;
pub mod registry;
