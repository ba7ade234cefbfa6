//! Counters a scan updates while it runs (SPEC §6): what was read and what was skipped.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters a scan updates while it runs (shared, readable at any time).
#[derive(Debug, Default)]
pub struct ScanMetrics {
    /// Data files opened.
    pub files_read: AtomicU64,
    /// Row groups decoded.
    pub row_groups_read: AtomicU64,
    /// Row groups skipped by key statistics.
    pub row_groups_skipped: AtomicU64,
    /// Rows decoded from Parquet (before the event-time filter).
    pub rows_decoded: AtomicU64,
    /// Compressed bytes of the column chunks decoded (projection pushdown shows here).
    pub bytes_decoded: AtomicU64,
}

/// A plain copy of [`ScanMetrics`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricTotals {
    /// Data files opened.
    pub files_read: u64,
    /// Row groups decoded.
    pub row_groups_read: u64,
    /// Row groups skipped by key statistics.
    pub row_groups_skipped: u64,
    /// Rows decoded from Parquet (before the event-time filter).
    pub rows_decoded: u64,
    /// Compressed bytes of the column chunks decoded.
    pub bytes_decoded: u64,
}

impl ScanMetrics {
    /// The counters' current values.
    pub fn totals(&self) -> MetricTotals {
        MetricTotals {
            files_read: self.files_read.load(Ordering::Relaxed),
            row_groups_read: self.row_groups_read.load(Ordering::Relaxed),
            row_groups_skipped: self.row_groups_skipped.load(Ordering::Relaxed),
            rows_decoded: self.rows_decoded.load(Ordering::Relaxed),
            bytes_decoded: self.bytes_decoded.load(Ordering::Relaxed),
        }
    }
}
