//! Sources that run inside the workers: each worker reads its own share of the
//! connector's data and feeds the source's input at the current logical time, so source
//! data never passes through the coordinator.

use laaster_connectors::nexmark::{NexmarkGenerator, NexmarkStream, event_to_row};
use laaster_repr::{Row, ScalarExpr};

/// How a source table produces rows.
#[derive(Clone, Debug)]
pub enum SourceConnector {
    /// The Nexmark event generator; worker `i` of `n` produces its `i`-th share.
    Nexmark(NexmarkStream),
}

/// What a worker needs to run a source: the connector, and the computed columns to
/// append to each physical row.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    pub connector: SourceConnector,
    pub physical_arity: usize,
    /// Computed columns, each over the physical row, appended in order.
    pub computed: Vec<ScalarExpr>,
}

/// One worker's reader of one source.
pub struct SourceReader {
    generator: NexmarkGenerator,
    /// Rows produced so far by this worker.
    pub emitted: u64,
}

impl SourceReader {
    pub fn new(spec: &SourceSpec, worker: usize, workers: usize) -> Self {
        let generator = match &spec.connector {
            SourceConnector::Nexmark(stream) => stream.worker(worker, workers),
        };
        SourceReader {
            generator,
            emitted: 0,
        }
    }

    /// Produces up to `limit` physical rows into `out`; returns false once exhausted.
    pub fn produce(&mut self, limit: usize, out: &mut Vec<Row>) -> bool {
        for _ in 0..limit {
            match self.generator.next() {
                Some(event) => {
                    out.push(event_to_row(&event));
                    self.emitted += 1;
                }
                None => return false,
            }
        }
        true
    }
}
