//! Values parsed from objects, kept process-wide, so that repeated queries in one
//! session (point lookups in DuckDB or Polars, whose every query opens the table anew)
//! skip the reads and the parsing:
//!
//! * Parquet footers (with or without the page index), keyed by the store, the object
//!   path, its size and its version (ETag, else modification time, from a HEAD
//!   request): data files are never rewritten in place, and a file replaced or
//!   truncated since is read anew. `check` bypasses this cache.
//! * Snapshot files, keyed by their bytes (read anyway; a few KB): a table deleted and
//!   re-created at the same path cannot be answered from the old one, whatever the
//!   store's versions (`InMemory` counts them per instance).
//!
//! Each cache is bounded by its values' memory size; the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;

use crate::snapshot::AnySnapshot;
use crate::Commit;

/// Which footer: store, object path, size, version, and whether it holds the page index.
pub(crate) type FooterKey = (String, String, u64, String, bool);

/// The key of a footer from its file's HEAD.
pub(crate) fn footer_key(
    store: &dyn ObjectStore,
    head: &ObjectMeta,
    page_index: bool,
) -> FooterKey {
    let version = head
        .e_tag
        .clone()
        .unwrap_or_else(|| head.last_modified.to_rfc3339());
    (
        store.to_string(),
        head.location.to_string(),
        head.size,
        version,
        page_index,
    )
}

/// A bounded map from keys to parsed values.
pub(crate) struct ObjectCache<K, V> {
    budget: usize,
    inner: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    map: HashMap<K, (V, usize)>,
    order: VecDeque<K>,
    bytes: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> ObjectCache<K, V> {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
            }),
        }
    }

    /// The cached value of `key`, if any.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let c = self.inner.lock().ok()?;
        c.map.get(key).map(|(v, _)| v.clone())
    }

    /// Keeps `value` (of about `size` bytes) for `key`, dropping the oldest entries
    /// beyond the budget.
    pub(crate) fn put(&self, key: K, value: &V, size: usize) {
        if size > self.budget {
            return;
        }
        let Ok(mut c) = self.inner.lock() else {
            return;
        };
        if c.map.contains_key(&key) {
            return;
        }
        while c.bytes + size > self.budget {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            if let Some((_, s)) = c.map.remove(&old) {
                c.bytes -= s;
            }
        }
        c.bytes += size;
        c.order.push_back(key.clone());
        c.map.insert(key, (value.clone(), size));
    }
}

/// Parsed Parquet footers: at most 256 MB.
pub(crate) fn footers() -> &'static ObjectCache<FooterKey, ArrowReaderMetadata> {
    static CACHE: OnceLock<ObjectCache<FooterKey, ArrowReaderMetadata>> = OnceLock::new();
    CACHE.get_or_init(|| ObjectCache::new(256 << 20))
}

/// Parsed snapshot files by commit number and bytes: at most 64 MB of their JSON.
pub(crate) fn snapshots() -> &'static ObjectCache<(Commit, Bytes), Arc<AnySnapshot>> {
    static CACHE: OnceLock<ObjectCache<(Commit, Bytes), Arc<AnySnapshot>>> = OnceLock::new();
    CACHE.get_or_init(|| ObjectCache::new(64 << 20))
}
