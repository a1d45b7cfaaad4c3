//! # laaster-engine: the embedded streaming SQL engine
//!
//! Stage: the top of the library. Input: SQL text from a [`Session`]. Output: command
//! results, result sets read at one timestamp, and change feeds ([`Subscription`]).
//!
//! ```text
//!  Session ──SQL──▶ Coordinator (one thread: catalog, clock, plans)
//!                      │ parse + plan (laaster-sql)
//!                      │ commands, broadcast in one order
//!                      ▼
//!               N timely workers (laaster-dataflow): inputs, arrangements, dataflows
//!                      │ peek rows, subscription updates + frontiers
//!                      ▼
//!               Coordinator merges per-worker answers ──▶ Session / Subscription
//! ```
//!
//! Start reading at [`Engine::start`] and [`Session::execute`]; the coordinator's loop
//! is in `coordinator.rs`.
//!
//! # Example
//!
//! ```
//! use laaster_engine::{Engine, EngineConfig, ExecuteResult, SubscribeEvent};
//!
//! let engine = Engine::start(EngineConfig { workers: 2, ..EngineConfig::default() }).unwrap();
//! let mut session = engine.session();
//! session.execute("CREATE TABLE votes (user_id BIGINT, contestant TEXT)").unwrap();
//! session
//!     .execute("CREATE MATERIALIZED VIEW tally AS SELECT contestant, count(*) AS n FROM votes GROUP BY contestant")
//!     .unwrap();
//! session.execute("INSERT INTO votes VALUES (1, 'B'), (2, 'A'), (3, 'B')").unwrap();
//!
//! let results = session.execute("SELECT contestant, n FROM tally ORDER BY contestant").unwrap();
//! let ExecuteResult::Rows(rows) = &results[0] else { panic!("expected rows") };
//! assert_eq!(rows.to_text(), vec![vec!["A", "1"], vec!["B", "2"]]);
//!
//! // A change feed: the snapshot, then every change with its time, then progress.
//! let mut results = session.execute("SUBSCRIBE TO tally").unwrap();
//! let ExecuteResult::Subscription(feed) = results.remove(0) else { panic!("expected a feed") };
//! session.execute("INSERT INTO votes VALUES (4, 'A')").unwrap();
//! let mut seen = Vec::new();
//! while seen.len() < 4 {
//!     match feed.recv().unwrap() {
//!         SubscribeEvent::Updates(updates) => seen.extend(updates),
//!         SubscribeEvent::Progress(_) => {}
//!         SubscribeEvent::Error(e) => panic!("{e}"),
//!     }
//! }
//! // snapshot (A,1) (B,2); then (A,1) retracted and (A,2) inserted at one later time.
//! assert_eq!(seen.iter().map(|u| u.2).sum::<i64>(), 2);
//! ```

mod catalog;
mod connector;
mod constant;
mod coordinator;
mod result;
mod sequence;
mod sink;
mod subscribe;

pub use coordinator::{ArrangementSize, Engine, EngineConfig, Session, SourceStatus};
pub use laaster_repr::{ErrorResponse, Row, Timestamp};
pub use result::{ExecuteResult, FeedEnded, RowSet, SubscribeEvent, Subscription};
