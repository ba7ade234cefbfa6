//! The one bridge from synchronous code (Polars, DuckDB, the CLI) to the async core.
//!
//! [`block_on`] runs a future on a process-wide multi-threaded runtime. It is safe to
//! call from anywhere, including from inside another tokio runtime (an async `main`
//! that calls Polars' `collect()` or queries DuckDB): blocking a runtime thread would
//! panic there, so the future then runs on a short-lived thread of its own.

use std::future::Future;
use std::sync::OnceLock;

use arrow::array::RecordBatch;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::scan::ScanStream;

/// The process-wide runtime of the bridge, or why it could not start.
fn runtime() -> std::result::Result<&'static tokio::runtime::Runtime, Error> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("bazof-io")
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Internal {
        table: String::new(),
        reason: format!("cannot start the bazof runtime: {e}"),
    })
}

/// Runs a future to completion from synchronous code and returns its result.
///
/// Errors of the bridge itself (the runtime cannot start) become `E` through
/// `From<bazof::Error>`; a panic inside the future is resumed in the caller.
pub fn block_on<T, E, F>(f: F) -> std::result::Result<T, E>
where
    F: Future<Output = std::result::Result<T, E>> + Send,
    T: Send,
    E: From<Error> + Send,
{
    let rt = runtime()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return rt.block_on(f);
    }
    std::thread::scope(|s| match s.spawn(|| rt.block_on(f)).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Runs `stream` on the bridge's runtime, a couple of items ahead of its reader (it
/// stops after the first error): a door that maps each part of a scan into its
/// engine's format (`part.map(convert)`) does so on the runtime's threads, one part
/// beside the other, instead of on the thread that reads them.
pub fn run_ahead<T: Send + 'static, E: Send + 'static>(
    stream: BoxStream<'static, std::result::Result<T, E>>,
) -> Result<BoxStream<'static, std::result::Result<T, E>>> {
    Ok(crate::scan::tasks::stream_ahead(
        runtime()?.handle(),
        stream,
        2,
    ))
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
        let stream = &mut self.stream;
        block_on(async { Ok::<_, Error>(stream.next().await) }).unwrap_or_else(|e| Some(Err(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_plain_code() {
        assert_eq!(block_on(async { Ok::<_, Error>(7) }).ok(), Some(7));
    }

    #[test]
    fn from_inside_another_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let got = rt.block_on(async {
            // A synchronous engine callback made from async code.
            block_on(async {
                tokio::task::yield_now().await;
                Ok::<_, Error>(tokio::runtime::Handle::current().metrics().num_workers())
            })
        });
        assert!(got.is_ok_and(|workers| workers >= 1));
    }
}
