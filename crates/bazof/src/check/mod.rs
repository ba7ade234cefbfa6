//! [`Table::check`]: is the table whole? Every snapshot file must parse (SPEC §3), and every
//! data file a *retained* snapshot references must be present and match what the snapshot
//! says of it (size, rows, columns). [`Table::check_data`] also reads every row
//! ([`rows`]).
//!
//! Vacuum (SPEC §8) deletes the data files that only expired snapshots reference, so a
//! snapshot other than the latest whose files are partly gone is *expired*, not broken:
//! time travel to it fails, which is what expiry means. Such snapshots are listed apart and
//! their files are not judged. Check cannot tell a file vacuum removed from one lost
//! otherwise once no retained snapshot needs it; the latest snapshot is always retained.
//! bazof 0.2 tables are never vacuumed, so for them every missing file is a problem.

mod rows;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use futures::StreamExt;

use crate::error::Error;
use crate::snapshot::{AnySnapshot, DataFile};
use crate::table::{snapshot_file, Table};
use crate::{Commit, Result};

/// One thing wrong with a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckProblem {
    /// The file concerned, relative to the table root (`s3.json`, `data/….parquet`).
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for CheckProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.reason)
    }
}

/// A snapshot whose data files were partly removed by vacuum: not a problem, but time
/// travel to it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredSnapshot {
    /// The commit of the snapshot.
    pub commit: Commit,
    /// Its data files that are gone, relative to the table root.
    pub missing_files: Vec<String>,
}

/// What [`Table::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The table location.
    pub table: String,
    /// The latest commit.
    pub latest: Commit,
    /// Snapshots judged, oldest first: the latest and every older one whose files are all present.
    pub retained: Vec<Commit>,
    /// Snapshots whose data files vacuum removed, oldest first (not judged).
    pub expired: Vec<ExpiredSnapshot>,
    /// Distinct data files the retained snapshots reference (each was checked).
    pub files_checked: usize,
    /// Everything wrong; empty when the table is whole.
    pub problems: Vec<CheckProblem>,
    /// Parquet files under the table root that no retained snapshot references
    /// (harmless: left by failed commits or expired snapshots; vacuum removes them).
    pub unreferenced: Vec<String>,
}

impl CheckReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Data files checked at once.
const FILES_AT_ONCE: usize = 16;

/// What a snapshot says about one of its data files.
#[derive(Clone)]
struct Expected {
    columns: Vec<String>,
    /// The first snapshot naming the file.
    named_by: Commit,
    /// The snapshot's record of the file: rows, bytes, ranges (`None`: a bazof 0.2
    /// file, which 0.2 snapshots record nothing of).
    record: Option<DataFile>,
}

/// One parsed snapshot's references.
struct Refs {
    commit: Commit,
    legacy: bool,
    files: Vec<(String, Expected)>,
}

/// The reason of a core error without the table prefix the report already names.
fn reason(e: &Error) -> String {
    match e {
        Error::CorruptMetadata { reason, .. } | Error::DataFile { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

impl Table {
    /// Checks the table: every snapshot file, and every data file a retained snapshot
    /// references (present, size and row count as recorded, every column of the schema).
    /// Reads only metadata and Parquet footers. Problems are reported, not returned as
    /// errors; `Err` means the table could not be listed or has no snapshot at all.
    pub async fn check(&self) -> Result<CheckReport> {
        self.check_reading(false).await
    }

    /// [`Table::check`], and every row of every data file besides: each page decodes,
    /// rows are in SPEC §4 order, and keys, event times and commits lie in the ranges
    /// the snapshot records (scans prune by them). Reads the whole table.
    pub async fn check_data(&self) -> Result<CheckReport> {
        self.check_reading(true).await
    }

    /// [`Table::check`]; `data`: [`Table::check_data`].
    async fn check_reading(&self, data: bool) -> Result<CheckReport> {
        let latest = self.latest_commit().await?;
        let sizes: BTreeMap<String, u64> = self
            .list_files()
            .await?
            .into_iter()
            .map(|o| (self.relative(&o.location), o.size))
            .collect();
        let mut problems = Vec::new();
        let mut snapshots = Vec::new();
        for c in 1..=latest {
            match self.load_snapshot(c).await {
                Ok(s) => snapshots.push(references(&s, &mut problems)),
                Err(e) => problems.push(CheckProblem {
                    file: snapshot_file(c),
                    reason: reason(&e),
                }),
            }
        }
        let mut retained = Vec::new();
        let mut expired = Vec::new();
        let mut judged: BTreeMap<String, Expected> = BTreeMap::new();
        for snap in snapshots {
            let missing: Vec<String> = snap
                .files
                .iter()
                .filter(|(p, _)| !sizes.contains_key(p))
                .map(|(p, _)| p.clone())
                .collect();
            if !missing.is_empty() && snap.commit != latest && !snap.legacy {
                expired.push(ExpiredSnapshot {
                    commit: snap.commit,
                    missing_files: missing,
                });
                continue;
            }
            retained.push(snap.commit);
            for (path, e) in snap.files {
                judged.entry(path).or_insert(e);
            }
        }
        // Files are checked side by side: footers are small reads (on S3, latency), rows
        // are decoded on every core; the problems come out in path order.
        let files: Vec<(String, Expected, Option<u64>)> = judged
            .iter()
            .map(|(path, e)| (path.clone(), e.clone(), sizes.get(path).copied()))
            .collect();
        let table = self.clone();
        let checks = files.into_iter().map(move |(path, e, size)| {
            let table = table.clone();
            tokio::spawn(async move { table.check_file(&path, &e, size, data).await })
        });
        let mut checked = futures::stream::iter(checks).buffered(FILES_AT_ONCE);
        while let Some(outcome) = checked.next().await {
            match outcome {
                Ok(Some(p)) => problems.push(p),
                Ok(None) => {}
                Err(e) => {
                    return Err(Error::Internal {
                        table: self.location().to_string(),
                        reason: format!("a file check stopped: {e}"),
                    })
                }
            }
        }
        let unreferenced = sizes
            .keys()
            .filter(|p| p.ends_with(".parquet") && !judged.contains_key(*p))
            .cloned()
            .collect();
        Ok(CheckReport {
            table: self.location().to_string(),
            latest,
            retained,
            expired,
            files_checked: judged.len(),
            problems,
            unreferenced,
        })
    }

    /// Checks one data file against what its snapshot says (`data`: every row too);
    /// `None` when it matches.
    async fn check_file(
        &self,
        path: &str,
        e: &Expected,
        size: Option<u64>,
        data: bool,
    ) -> Option<CheckProblem> {
        let problem = |reason: String| {
            Some(CheckProblem {
                file: path.to_string(),
                reason,
            })
        };
        let Some(size) = size else {
            return problem(format!(
                "is missing (named by {})",
                snapshot_file(e.named_by)
            ));
        };
        if let Some(b) = e.record.as_ref().map(|r| r.bytes).filter(|b| *b != size) {
            return problem(format!("the snapshot says {b} bytes, the file has {size}"));
        }
        let meta = match self.load_footer(path, Some(size)).await {
            Ok(m) => m,
            Err(err) => return problem(reason(&err)),
        };
        let n = meta.metadata().file_metadata().num_rows();
        if let Some(r) = e
            .record
            .as_ref()
            .map(|r| r.rows)
            .filter(|r| i64::try_from(*r).ok() != Some(n))
        {
            return problem(format!("the snapshot says {r} rows, the footer says {n}"));
        }
        let have: BTreeSet<&str> = meta
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let missing: Vec<&str> = e
            .columns
            .iter()
            .map(String::as_str)
            .filter(|c| !have.contains(c))
            .collect();
        if !missing.is_empty() {
            return problem(format!("columns missing: {}", missing.join(", ")));
        }
        if data {
            return rows::check_rows(self, path, size, meta, e.record.as_ref())
                .await
                .and_then(problem);
        }
        None
    }
}

/// The data files a snapshot references; metadata inconsistencies go to `problems`.
fn references(snap: &AnySnapshot, problems: &mut Vec<CheckProblem>) -> Refs {
    match snap {
        AnySnapshot::V1(s) => {
            let columns: Vec<String> = s
                .schema
                .file_schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let files = s.files();
            for p in &s.summary.files_added {
                if !files.iter().any(|f| &f.path == p) {
                    problems.push(CheckProblem {
                        file: snapshot_file(s.commit),
                        reason: format!("the summary names '{p}' but no segment holds it"),
                    });
                }
            }
            Refs {
                commit: s.commit,
                legacy: false,
                files: files
                    .into_iter()
                    .map(|f| {
                        let e = Expected {
                            columns: columns.clone(),
                            named_by: s.commit,
                            record: Some(f.clone()),
                        };
                        (f.path.clone(), e)
                    })
                    .collect(),
            }
        }
        AnySnapshot::Legacy(l) => {
            let columns: Vec<String> = l.table_schema.column_names().map(String::from).collect();
            Refs {
                commit: l.commit,
                legacy: true,
                files: l
                    .all_files()
                    .into_iter()
                    .map(|p| {
                        let e = Expected {
                            columns: columns.clone(),
                            named_by: l.commit,
                            record: None,
                        };
                        (p, e)
                    })
                    .collect(),
            }
        }
    }
}
