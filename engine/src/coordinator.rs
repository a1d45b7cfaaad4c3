//! The coordinator: owns the catalog and the clock, plans statements, and drives the
//! workers with commands. (Skeleton; filled in by the runtime work.)

use std::time::Duration;

use crossbeam_channel::Sender;
use laaster_repr::{ErrorResponse, Row};

use crate::result::ExecuteResult;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Timely worker threads. Results are identical for every count.
    pub workers: usize,
    /// How often time advances (and subscribers get progress) when nothing else moves it.
    pub tick: Duration,
    /// How far back `AS OF` may read: arrangements keep distinct history for this long.
    pub retain_history: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tick: Duration::from_millis(1),
            retain_history: Duration::ZERO,
        }
    }
}

pub(crate) enum Request {
    CancelSubscribe { id: u64 },
}

/// A running engine: the coordinator thread and the workers.
pub struct Engine {
    requests: Sender<Request>,
}

impl Engine {
    /// Starts the workers and the coordinator.
    pub fn start(config: EngineConfig) -> Result<Engine, ErrorResponse> {
        let _ = config;
        let (requests, _) = crossbeam_channel::unbounded();
        Ok(Engine { requests })
    }

    /// A new session (cheap; sessions may be used from different threads).
    pub fn session(&self) -> Session {
        Session {
            requests: self.requests.clone(),
        }
    }
}

/// A connection to the engine. Statements run one at a time, in order.
pub struct Session {
    requests: Sender<Request>,
}

impl Session {
    /// Runs every statement of `sql` in order and returns their results; stops at the
    /// first error. Error positions are relative to `sql`.
    pub fn execute(&mut self, sql: &str) -> Result<Vec<ExecuteResult>, ErrorResponse> {
        let mut results = Vec::new();
        self.execute_each(sql, |r| results.push(r))?;
        Ok(results)
    }

    /// Like [`Session::execute`], handing each result to `on_result` as soon as its
    /// statement completes (so earlier results are not lost when a later one fails).
    pub fn execute_each(
        &mut self,
        sql: &str,
        mut on_result: impl FnMut(ExecuteResult),
    ) -> Result<(), ErrorResponse> {
        let _ = (&self.requests, sql, &mut on_result);
        Err(ErrorResponse::new("XX000", "engine not implemented yet"))
    }

    /// Inserts rows (in the table's column order, already typed) without SQL parsing —
    /// the fast path for programs and benchmarks. Returns the number of rows.
    pub fn insert_rows(&mut self, table: &str, rows: Vec<Row>) -> Result<u64, ErrorResponse> {
        let _ = (table, rows);
        Err(ErrorResponse::new("XX000", "engine not implemented yet"))
    }
}
