//! Corrupt files must end in an error, not a panic. parquet-rs's decoders panic on
//! some corrupt input (documented, e.g. a variable-length integer longer than ten
//! bytes in a run-length or delta-packed page); these guards turn a panic while
//! decoding a file into the reason that file cannot be read. The panic hook still
//! runs (Rust's default one prints the panic to stderr). [`panic_message`] is the one
//! reading of a caught panic's message, for the doors' own guards too.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use futures::{FutureExt, Stream, StreamExt};

/// The message a caught panic (or a panic hook's payload) carried, "no message" if none.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// Why a file whose decoder panicked cannot be read.
fn corrupt(payload: &(dyn Any + Send)) -> String {
    format!(
        "is corrupt: its Parquet decoder failed ({})",
        panic_message(payload)
    )
}

/// Runs `decode` (synchronous decoding of one file); a panic becomes `Err(reason)`.
pub fn catch_decoder_panic<T>(decode: impl FnOnce() -> T) -> std::result::Result<T, String> {
    catch_unwind(AssertUnwindSafe(decode)).map_err(|p| corrupt(p.as_ref()))
}

/// `stream` (one file's decoder) with a panic turned into its last item,
/// `Err(error(reason))`.
pub(crate) fn guard_stream<S, T, E>(
    stream: S,
    error: impl Fn(String) -> E,
) -> impl Stream<Item = std::result::Result<T, E>>
where
    S: Stream<Item = std::result::Result<T, E>>,
{
    AssertUnwindSafe(stream)
        .catch_unwind()
        .map(move |item| item.unwrap_or_else(|p| Err(error(corrupt(p.as_ref())))))
}

/// `future` (reading one file's metadata) with a panic turned into
/// `Err(error(reason))`.
pub(crate) async fn guard_future<T, E>(
    future: impl Future<Output = std::result::Result<T, E>>,
    error: impl FnOnce(String) -> E,
) -> std::result::Result<T, E> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .unwrap_or_else(|p| Err(error(corrupt(p.as_ref()))))
}
