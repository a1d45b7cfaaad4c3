//! # laaster-dataflow: plans rendered into timely/differential dataflow, and the workers
//!
//! Stage: execution. Input: [`Command`]s from the coordinator (create a table input,
//! install a dataflow for a [`laaster_repr::plan::Plan`], insert, advance time, peek,
//! subscribe, drop), applied by every worker in the same order. Output: [`Response`]s
//! (peek rows, subscription updates with frontiers) back to the coordinator.
//!
//! - [`render`] turns a plan into operators; each operator yields an `oks` collection of
//!   rows and an `errs` collection of evaluation errors (errors are data; a bad row
//!   never panics a worker).
//! - [`worker`] is the step loop: apply commands, step timely, answer peeks once the
//!   frontier passes their timestamp, forward subscription updates once complete.
//!
//! Start reading at [`worker::run_worker`]. Differential dataflow is confined to this
//! crate.

pub mod command;
pub mod external;
pub mod render;
pub mod sink;
pub mod source;
pub mod upsert;
pub mod worker;

pub use command::{Command, Response};
pub use worker::{WorkerHandles, start_workers};
