//! Parsed Parquet footers (with or without the page index) of the data files this
//! process has read, kept across scans: data files are immutable (a file is never
//! rewritten in place; every write names a new file), so a footer read once stays
//! right. Repeated queries in one session (point lookups in DuckDB or Polars) then
//! skip the footer's reads and its decoding, which dominate a one-key lookup.
//!
//! Keyed by the store, the object path, the file's size and its version (ETag, else
//! modification time, from a HEAD request), so a file replaced or truncated since is
//! read anew. Bounded by the footers' memory size; the oldest entries go first.
//! `check` bypasses it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use parquet::arrow::arrow_reader::ArrowReaderMetadata;

/// At most this many bytes of parsed footers are kept.
const BUDGET_BYTES: usize = 256 << 20;

/// Which footer: store, object path, size, version, and whether it holds the page index.
pub(crate) type Key = (String, String, u64, String, bool);

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, (ArrowReaderMetadata, usize)>,
    order: VecDeque<Key>,
    bytes: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The cached footer of `key`, if any.
pub(crate) fn get(key: &Key) -> Option<ArrowReaderMetadata> {
    let c = cache().lock().ok()?;
    c.entries.get(key).map(|(m, _)| m.clone())
}

/// Keeps `meta` as the footer of `key`, dropping the oldest footers beyond the budget.
pub(crate) fn put(key: Key, meta: &ArrowReaderMetadata) {
    let size = meta.metadata().memory_size();
    if size > BUDGET_BYTES {
        return;
    }
    let Ok(mut c) = cache().lock() else {
        return;
    };
    if c.entries.contains_key(&key) {
        return;
    }
    while c.bytes + size > BUDGET_BYTES {
        let Some(old) = c.order.pop_front() else {
            break;
        };
        if let Some((_, s)) = c.entries.remove(&old) {
            c.bytes -= s;
        }
    }
    c.bytes += size;
    c.order.push_back(key.clone());
    c.entries.insert(key, (meta.clone(), size));
}
