//! Running the core's async API from DuckDB's (synchronous) callbacks.

use std::future::Future;

/// Runs a future on the bazof runtime ([`bazof::blocking::block_on`]). Called from
/// inside another tokio runtime (a `#[tokio::main]` program querying DuckDB), it
/// runs on a helper thread instead, since blocking a runtime thread would panic.
pub(crate) fn run<F>(f: F) -> Result<F::Output, Box<dyn std::error::Error>>
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(bazof::blocking::block_on(f));
    }
    std::thread::scope(|s| s.spawn(|| bazof::blocking::block_on(f)).join())
        .map_err(|_| "bazof: the scan thread panicked".into())
}
