//! What a scan asks for (SPEC §6): as of, snapshot, columns, key predicate, batch
//! size, limit and tasks; and what its merge emits.

use chrono::{DateTime, Utc};

use crate::predicate::KeyPredicate;
use crate::Commit;

/// Default number of rows per output batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// What to scan: `scan(as_of, snapshot)` of DESIGN §1 plus projection, key predicate and limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOptions {
    /// Event time: keep events with `event_time <= as_of` (default: no limit, "current").
    pub as_of: Option<DateTime<Utc>>,
    /// Commit: take events of commits `<= snapshot` (default: the latest).
    pub snapshot: Option<Commit>,
    /// User columns to return, in this order (default: key, event time, values).
    pub columns: Option<Vec<String>>,
    /// Only keys satisfying this predicate (prunes files, row groups and pages).
    pub key_predicate: Option<KeyPredicate>,
    /// Rows per output batch.
    pub batch_size: usize,
    /// Stop after this many rows (in key order).
    pub limit: Option<usize>,
    /// Key-range tasks to run in parallel (default: one per core; 1 = one merge).
    pub tasks: Option<usize>,
}

/// What a scan's merge emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ScanMode {
    /// DESIGN §1: the winning row per key, tombstones dropped, user columns.
    #[default]
    Resolve,
    /// The winning row per key including tombstones, in the raw merge layout
    /// (reserved columns kept): the content of a base file.
    Base,
    /// Every row, in the raw merge layout: the content of merged delta files.
    AllRows,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            as_of: None,
            snapshot: None,
            columns: None,
            key_predicate: None,
            batch_size: DEFAULT_BATCH_SIZE,
            limit: None,
            tasks: None,
        }
    }
}

impl ScanOptions {
    /// Sets the event time to travel to.
    #[must_use]
    pub fn with_as_of(mut self, as_of: DateTime<Utc>) -> Self {
        self.as_of = Some(as_of);
        self
    }
    /// Sets the commit to travel to.
    #[must_use]
    pub fn with_snapshot(mut self, snapshot: Commit) -> Self {
        self.snapshot = Some(snapshot);
        self
    }
    /// Sets the projection.
    #[must_use]
    pub fn with_columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }
    /// Sets the key predicate.
    #[must_use]
    pub fn with_key_predicate(mut self, p: KeyPredicate) -> Self {
        self.key_predicate = Some(p);
        self
    }
    /// Sets the output batch size.
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    /// Sets a row limit.
    #[must_use]
    pub fn with_limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
    /// Sets how many key-range tasks may run in parallel (1: a single merge).
    #[must_use]
    pub fn with_tasks(mut self, n: usize) -> Self {
        self.tasks = Some(n.max(1));
        self
    }
}
