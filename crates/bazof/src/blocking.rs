//! A blocking facade for engines that call from synchronous code (Polars, DuckDB, CLI).

use std::future::Future;
use std::sync::OnceLock;

use arrow::array::RecordBatch;
use futures::StreamExt;

use crate::error::Result;
use crate::scan::ScanStream;

/// The process-wide runtime the blocking facade runs on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("bazof-io")
            .build()
            .unwrap_or_else(|e| panic!("cannot start the bazof runtime: {e}"))
    })
}

/// Runs a future to completion on the bazof runtime.
///
/// Must not be called from inside an async context of another tokio runtime's
/// worker thread; call the async API there instead.
pub fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// Iterates a scan's batches from synchronous code.
pub struct BlockingScan {
    stream: ScanStream,
}

impl BlockingScan {
    /// Wraps a scan stream.
    pub fn new(stream: ScanStream) -> Self {
        Self { stream }
    }
    /// The scan being iterated.
    pub fn stream(&self) -> &ScanStream {
        &self.stream
    }
}

impl Iterator for BlockingScan {
    type Item = Result<RecordBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        block_on(self.stream.next())
    }
}
