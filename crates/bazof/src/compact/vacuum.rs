//! SPEC §8, vacuum: deletes data files no retained snapshot references.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use futures::StreamExt;
use object_store::ObjectStoreExt;

use super::legacy_refused;
use crate::error::{Error, Result};
use crate::snapshot::AnySnapshot;
use crate::table::Table;
use crate::Commit;

/// How vacuum decides what to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct VacuumOptions {
    /// Snapshots committed within this period (and always the latest) are retained;
    /// unreferenced files younger than it are kept too (they may belong to a commit in flight).
    pub retain: Duration,
    /// List, do not delete.
    pub dry_run: bool,
}

impl Default for VacuumOptions {
    fn default() -> Self {
        Self {
            retain: Duration::days(7),
            dry_run: false,
        }
    }
}

/// What vacuum deleted (or would delete).
#[derive(Debug, Clone, PartialEq)]
pub struct VacuumReport {
    /// Data files deleted (relative paths).
    pub deleted: Vec<String>,
    /// Snapshots whose files were all kept.
    pub retained_snapshots: Vec<Commit>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl Table {
    /// Deletes data files that no retained snapshot references.
    pub async fn vacuum(&self, options: &VacuumOptions) -> Result<VacuumReport> {
        let snapshots = self.snapshots().await?;
        let now = Utc::now();
        let cutoff =
            now.checked_sub_signed(options.retain)
                .ok_or_else(|| Error::InvalidOption {
                    table: self.location().to_string(),
                    reason: format!(
                    "a retention of {} hours reaches before the earliest time bazof can represent",
                    options.retain.num_hours()
                ),
                })?;
        let latest = snapshots.last().map(|s| s.commit()).unwrap_or(0);
        let mut keep: BTreeSet<String> = BTreeSet::new();
        let mut retained = Vec::new();
        for snap in &snapshots {
            let s = match snap.as_ref() {
                AnySnapshot::V1(s) => s,
                AnySnapshot::Legacy(_) => return Err(legacy_refused(self, "vacuum")),
            };
            if s.commit == latest || s.commit_time >= cutoff {
                retained.push(s.commit);
                keep.extend(s.files().into_iter().map(|f| f.path.clone()));
            }
        }
        let mut deleted = Vec::new();
        for meta in self.list_files().await? {
            let rel = self.relative(&meta.location);
            if !rel.starts_with("data/") || keep.contains(&rel) || meta.last_modified > cutoff {
                continue;
            }
            deleted.push(rel);
        }
        deleted.sort();
        if !options.dry_run {
            let store = self.location.store.clone();
            let paths: Vec<_> = deleted.iter().map(|r| self.location.child(r)).collect();
            let mut results = futures::stream::iter(paths)
                .map(|p| {
                    let store = store.clone();
                    async move { store.delete(&p).await }
                })
                .buffer_unordered(8);
            while let Some(r) = results.next().await {
                match r {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.err_store(e)),
                }
            }
        }
        Ok(VacuumReport {
            deleted,
            retained_snapshots: retained,
            dry_run: options.dry_run,
        })
    }
}
