//! SPEC §6.5: parallel scans. A plan splits into independent key ranges: resolution is
//! per key, so the merges of disjoint ranges, put together in key order, equal the
//! whole scan. Each range prunes files, row groups and pages by itself. A range as
//! plain data ([`ScanTask`]) is what a distributed engine would ship to a worker.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::StreamExt;
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};

use super::options::{ScanMode, ScanOptions};
use super::plan::ScanPlan;
use super::prune::{page_key_range, page_selection, row_group_may_match};
use crate::error::{Error, Result};
use crate::predicate::KeyPredicate;
use crate::snapshot::{FileKind, KeyValue};
use crate::table::Table;
use crate::Commit;

/// Tasks a scan runs by default: one per core.
pub fn default_tasks() -> usize {
    // Asked once: the standard library reads the cgroup quota files on every call,
    // which cost a key lookup about 4 % of its time.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Rows a key range decodes, about, when a scan splits into more ranges than it runs
/// at once (SPEC §6.5): a reader taking the ranges in key order holds the output of
/// the ranges running ahead of the one it reads, so this bounds its memory per task.
pub const RANGE_ROWS: u64 = 8 * crate::data_file::ROW_GROUP_ROWS as u64;

/// Key ranges a plan splits into when `tasks` of them run at once: one per task, and
/// more for a plan that decodes more than `tasks` times [`RANGE_ROWS`] rows, so that
/// a reader in key order keeps every task busy in bounded memory.
pub fn ranges_for(plan: &ScanPlan, tasks: usize) -> usize {
    if tasks <= 1 {
        return 1;
    }
    let ranges = planned_rows(plan).div_ceil(RANGE_ROWS);
    tasks.max(usize::try_from(ranges).unwrap_or(usize::MAX))
}

/// Rows a plan decodes: the rows its page selections keep, else its row groups' rows.
pub(crate) fn planned_rows(plan: &ScanPlan) -> u64 {
    plan.files
        .iter()
        .map(|f| match &f.selection {
            Some(selection) => selection.row_count() as u64,
            None => {
                let md = f.metadata.metadata();
                f.row_groups
                    .iter()
                    .map(|&rg| md.row_group(rg).num_rows().max(0) as u64)
                    .sum()
            }
        })
        .sum()
}

/// Whether a plan decodes so few rows (a few pages per file: key lookups) that handing
/// its files to runtime workers costs more than decoding them on the merge's task.
pub(crate) fn decodes_inline(plan: &ScanPlan) -> bool {
    planned_rows(plan) < 16 * crate::data_file::PAGE_ROWS as u64
}

/// Tasks a scan runs when the caller does not say: one per core, but a single merge
/// for small scans (under two row groups of rows to decode, e.g. key lookups), where
/// splitting would only open the same files twice.
pub fn default_for(plan: &ScanPlan) -> usize {
    if planned_rows(plan) < 2 * crate::data_file::ROW_GROUP_ROWS as u64 {
        1
    } else {
        default_tasks()
    }
}

/// Drives a stream on the runtime, up to `ahead` items ahead of its reader; it stops
/// after the first error, or when the reader goes away.
pub(crate) fn stream_ahead<T: Send + 'static, E: Send + 'static>(
    handle: &tokio::runtime::Handle,
    mut stream: BoxStream<'static, std::result::Result<T, E>>,
    ahead: usize,
) -> BoxStream<'static, std::result::Result<T, E>> {
    let (tx, rx) = tokio::sync::mpsc::channel(ahead.max(1));
    handle.spawn(async move {
        while let Some(item) = stream.next().await {
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) }).boxed()
}

/// Keys at which row groups (or, with a page index, pages) of the planned files start,
/// with the rows that follow each: the statistics a split is chosen from.
fn starts(plan: &ScanPlan) -> Vec<(KeyValue, u64)> {
    let mut out = Vec::new();
    for f in &plan.files {
        let md = f.metadata.metadata();
        for &rg in &f.row_groups {
            let rows = md.row_group(rg).num_rows().max(0) as u64;
            let ix = md.page_index_for_row_group(rg);
            let pages = md
                .page_index()
                .and_then(|_| Some((ix.column_index(0)?, ix.offset_index(0)?)));
            if let Some((index, offsets)) = pages {
                let locs = offsets.page_locations();
                for (p, loc) in locs.iter().enumerate() {
                    let end = locs.get(p + 1).map_or(rows as i64, |n| n.first_row_index);
                    if let Some((lo, _)) = page_key_range(index, p) {
                        out.push((lo, (end - loc.first_row_index).max(0) as u64));
                    }
                }
                continue;
            }
            let min = match md.row_group(rg).column(0).statistics() {
                Some(Statistics::ByteArray(s)) => s
                    .min_opt()
                    .and_then(|v| v.as_utf8().ok())
                    .map(|v| KeyValue::String(v.into())),
                Some(Statistics::Int64(s)) => s.min_opt().map(|v| KeyValue::Int(*v)),
                _ => None,
            };
            if let Some(min) = min {
                out.push((min, rows));
            }
        }
    }
    out
}

/// Split keys cutting the planned rows into about `n` equal parts (weighted by rows,
/// so skewed files and dense key ranges get narrower ranges).
fn split_keys(plan: &ScanPlan, n: usize) -> Vec<KeyValue> {
    let mut starts = starts(plan);
    starts.sort();
    let total: u64 = starts.iter().map(|s| s.1).sum();
    let Some(first) = starts.first().map(|s| s.0.clone()) else {
        return Vec::new();
    };
    let mut keys: Vec<KeyValue> = Vec::new();
    let mut seen = 0u64;
    let mut part = 1u64;
    for (key, rows) in starts {
        while part < n as u64 && seen >= total * part / n as u64 {
            if key != first && keys.last() != Some(&key) {
                keys.push(key.clone());
            }
            part += 1;
        }
        seen += rows;
    }
    keys
}

impl ScanPlan {
    /// Splits the plan into at most `n` key ranges, each a plan of its own that reads
    /// only the row groups and pages its range may hold. Every mode splits (each key's
    /// rows lie in one range; history reads all rows by range); plans that must stay
    /// whole (a row limit, bazof 0.2 tables whose files are read whole) and plans too
    /// small to split come back as one.
    pub fn split(&self, n: usize) -> Vec<ScanPlan> {
        if n <= 1 || !self.may_split() {
            return vec![self.clone()];
        }
        let keys = split_keys(self, n);
        if keys.is_empty() {
            return vec![self.clone()];
        }
        let mut bounds = vec![Bound::Unbounded];
        bounds.extend(keys.into_iter().map(Bound::Included));
        let mut parts = Vec::with_capacity(bounds.len());
        for (i, lower) in bounds.iter().enumerate() {
            let upper = match bounds.get(i + 1) {
                Some(Bound::Included(k)) => Bound::Excluded(k.clone()),
                _ => Bound::Unbounded,
            };
            parts.push(self.restrict(lower.clone(), upper));
        }
        parts
    }

    /// Whether the plan may split into key ranges: not with a row limit, not for a
    /// bazof 0.2 table (its files are read whole), not without files.
    pub(crate) fn may_split(&self) -> bool {
        self.options.limit.is_none() && self.format_version != 0 && !self.files.is_empty()
    }

    /// The plan for the keys in `[lower, upper)` only.
    fn restrict(&self, lower: Bound<KeyValue>, upper: Bound<KeyValue>) -> ScanPlan {
        let range = KeyPredicate::Range { lower, upper };
        let pred = match &self.options.key_predicate {
            Some(p) => KeyPredicate::And(vec![p.clone(), range]),
            None => range,
        };
        let mut part = self.clone();
        part.files = self
            .files
            .iter()
            .filter_map(|f| {
                let row_groups: Vec<usize> = f
                    .row_groups
                    .iter()
                    .copied()
                    .filter(|&rg| row_group_may_match(&f.metadata, rg, 0, &pred))
                    .collect();
                if row_groups.is_empty() {
                    return None;
                }
                let mut file = f.clone();
                file.selection = page_selection(&f.metadata, &row_groups, 0, &pred);
                file.row_groups = row_groups;
                Some(file)
            })
            .collect();
        part.options.key_predicate = Some(pred);
        part
    }

    /// This plan as a [`ScanTask`] of the table at `location`.
    pub fn task(&self, location: &str) -> ScanTask {
        ScanTask {
            location: location.to_string(),
            snapshot: self.snapshot,
            as_of: self.as_of,
            columns: self
                .output_schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            key_predicate: self.options.key_predicate.clone(),
            files: self.files.iter().map(|f| f.path.clone()).collect(),
            batch_size: self.options.batch_size,
        }
    }
}

/// One key range of a scan as plain data: what a worker needs to run it, given access
/// to the table's store (SPEC §6.5). Serialisable (serde), so an engine can ship it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanTask {
    /// The table location.
    pub location: String,
    /// The snapshot scanned.
    pub snapshot: Commit,
    /// The event time scanned (None = current).
    pub as_of: Option<DateTime<Utc>>,
    /// Output columns.
    pub columns: Vec<String>,
    /// The task's key predicate: the scan's, AND its key range.
    pub key_predicate: Option<KeyPredicate>,
    /// Data files to read (paths relative to the table root).
    pub files: Vec<String>,
    /// Rows per output batch.
    pub batch_size: usize,
}

impl Table {
    /// Plans a task (made by [`ScanPlan::task`], possibly on another machine): the
    /// same files, pruned by the same key predicate. Execute it with one merge:
    /// `table.execute(plan)`, its `tasks` option already being 1.
    pub async fn plan_task(&self, task: &ScanTask) -> Result<ScanPlan> {
        let snap = self.snapshot(Some(task.snapshot)).await?;
        let files: Vec<_> = snap
            .files()
            .into_iter()
            .filter(|f| task.files.contains(&f.path))
            .cloned()
            .collect();
        if files.len() != task.files.len() || snap.is_legacy() {
            return Err(Error::InvalidScan {
                table: self.location().to_string(),
                reason: format!(
                    "the task names files that snapshot {} does not hold",
                    task.snapshot
                ),
            });
        }
        let options = ScanOptions {
            as_of: task.as_of,
            snapshot: Some(task.snapshot),
            columns: Some(task.columns.clone()),
            key_predicate: task.key_predicate.clone(),
            batch_size: task.batch_size,
            limit: None,
            tasks: Some(1),
        };
        let mut plan = self
            .plan_snapshot(&snap, &options, Some(&files), ScanMode::Resolve)
            .await?;
        plan.base = files
            .iter()
            .find(|f| f.kind == FileKind::Base)
            .map(|f| f.path.clone());
        Ok(plan)
    }
}
