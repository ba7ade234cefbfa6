//! SPEC §6: scan planning: which data files, row groups and pages a scan reads, and why
//! the others are skipped. Planning never changes a result, only the work.

use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection};
use parquet::file::metadata::PageIndexPolicy;

use crate::decode_guard::guard_future;
use crate::error::{Error, Result};
use crate::object_cache;
use crate::predicate::KeyPredicate;
use crate::schema::TableSchema;
use crate::snapshot::legacy::LegacyAsOf;
use crate::snapshot::{AnySnapshot, DataFile, FileKind, KeyValue, Snapshot};
use crate::table::Table;
use crate::Commit;

use super::options::{ScanMode, ScanOptions};
use super::prune::{page_selection, row_group_may_match};

/// Why a data file is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// All its events are later than `as_of`.
    AfterAsOf,
    /// Its events lie before the chosen base's start and were committed no later than
    /// the base folds in: the base already holds their outcome.
    FoldedIntoBase,
    /// A base for an earlier segment start, or one starting after `as_of`.
    OtherBase,
    /// Its key range cannot satisfy the key predicate.
    KeyRange,
    /// Legacy tables: not selected by bazof 0.2's segment rule.
    NotInLegacySegment,
}

/// A data file the scan reads.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Path relative to the table root.
    pub path: String,
    /// Base or delta.
    pub kind: FileKind,
    /// Rows in the file.
    pub rows: u64,
    /// Row groups that will be read.
    pub row_groups: Vec<usize>,
    /// Row groups in the file.
    pub row_groups_total: usize,
    /// Rows of the chosen row groups to decode, from the page index (None: all of them).
    pub selection: Option<RowSelection>,
    /// Legacy tables: rank of the file in bazof 0.2's precedence (higher wins ties).
    pub(crate) precedence: u64,
    pub(crate) file_size: Option<u64>,
    pub(crate) metadata: ArrowReaderMetadata,
}

/// A data file the scan does not read, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedFile {
    /// Path relative to the table root.
    pub path: String,
    /// Why.
    pub reason: SkipReason,
}

/// The result of planning: inspectable, testable, and what execution runs.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    /// The snapshot scanned.
    pub snapshot: Commit,
    /// 1, or 0 for a bazof 0.2 table.
    pub format_version: u64,
    /// The event time scanned (None = current).
    pub as_of: Option<DateTime<Utc>>,
    /// The table schema at that snapshot.
    pub schema: TableSchema,
    /// The schema of the batches the scan returns.
    pub output_schema: SchemaRef,
    /// User columns decoded from Parquet (projection pushdown).
    pub decoded_columns: Vec<String>,
    /// The base file chosen, if any.
    pub base: Option<String>,
    /// Files to read, in precedence order for legacy tables.
    pub files: Vec<PlannedFile>,
    /// Files skipped.
    pub skipped: Vec<SkippedFile>,
    pub(crate) options: ScanOptions,
    pub(crate) mode: ScanMode,
}

impl ScanPlan {
    /// One line saying what the plan prunes and reads: the key predicate, files read
    /// and skipped (with why), and row groups read of the read files' total.
    pub fn summary(&self) -> String {
        let predicate = self
            .options
            .key_predicate
            .as_ref()
            .map_or_else(|| "none".to_string(), |p| p.to_string());
        let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
        for s in &self.skipped {
            let why = match s.reason {
                SkipReason::AfterAsOf => "after as_of",
                SkipReason::FoldedIntoBase => "folded into the base",
                SkipReason::OtherBase => "another base",
                SkipReason::KeyRange => "key range",
                SkipReason::NotInLegacySegment => "0.2 segment rule",
            };
            *reasons.entry(why).or_default() += 1;
        }
        let why: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} by {r}")).collect();
        let read: usize = self.files.iter().map(|f| f.row_groups.len()).sum();
        let total: usize = self.files.iter().map(|f| f.row_groups_total).sum();
        format!(
            "key predicate: {predicate}; files: {} read, {} skipped{}; row groups: {read} of {total} read",
            self.files.len(),
            self.skipped.len(),
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join(", "))
            }
        )
    }

    /// Whether the plan reads one base file and nothing else: one row per key
    /// (SPEC §8), so resolution needs no merge and no ranks (SPEC §5).
    pub(crate) fn base_alone(&self) -> bool {
        self.mode != ScanMode::AllRows && matches!(&self.files[..], [f] if self.unique_keys(f))
    }

    /// Whether a file of the plan holds one row per key: a base of a bazof table
    /// (SPEC §8; a bazof 0.2 table's bases need not).
    pub(crate) fn unique_keys(&self, f: &PlannedFile) -> bool {
        self.format_version != 0 && f.kind == crate::snapshot::FileKind::Base
    }

    /// Total row groups read.
    pub fn row_groups_read(&self) -> usize {
        self.files.iter().map(|f| f.row_groups.len()).sum()
    }
}

/// Picks the base of greatest start `<= as_of` (ties: greatest `folds_through`).
pub fn choose_base<'a>(
    files: &[&'a DataFile],
    as_of: Option<DateTime<Utc>>,
) -> Option<&'a DataFile> {
    files
        .iter()
        .copied()
        .filter(|f| f.kind == FileKind::Base)
        .filter(|f| match (as_of, f.base_start) {
            (Some(t), Some(s)) => s <= t,
            (None, Some(_)) => true,
            _ => false,
        })
        .max_by_key(|f| (f.base_start, f.folds_through))
}

/// SPEC §6.1: the files of a format-1 snapshot a scan must read.
pub fn select_files<'a>(
    snap: &'a Snapshot,
    as_of: Option<DateTime<Utc>>,
    key: Option<&KeyPredicate>,
) -> (Option<&'a DataFile>, Vec<&'a DataFile>, Vec<SkippedFile>) {
    let files = snap.files();
    let base = choose_base(&files, as_of);
    let mut read = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        let skip = |reason| SkippedFile {
            path: f.path.clone(),
            reason,
        };
        let reason = match f.kind {
            FileKind::Base if Some(f.path.as_str()) != base.map(|b| b.path.as_str()) => {
                Some(SkipReason::OtherBase)
            }
            FileKind::Base => None,
            FileKind::Delta => {
                if matches!((as_of, f.min_event_time), (Some(t), Some(m)) if m > t) {
                    Some(SkipReason::AfterAsOf)
                } else if let Some(b) = base {
                    let before_base =
                        matches!((f.max_event_time, b.base_start), (Some(m), Some(s)) if m < s);
                    let folded = f.max_commit <= b.folds_through.unwrap_or(0);
                    (before_base && folded).then_some(SkipReason::FoldedIntoBase)
                } else {
                    None
                }
            }
        };
        let reason = reason.or_else(|| match (key, &f.min_key, &f.max_key) {
            (Some(p), Some(lo), Some(hi)) if !p.may_match_range(lo, hi) => {
                Some(SkipReason::KeyRange)
            }
            _ => None,
        });
        match reason {
            Some(r) => skipped.push(skip(r)),
            None if f.rows == 0 => {}
            None => read.push(f),
        }
    }
    (base, read, skipped)
}

impl Table {
    /// Plans a scan: resolves the snapshot, chooses files and row groups.
    pub async fn plan(&self, options: &ScanOptions) -> Result<ScanPlan> {
        let snap = self.snapshot(options.snapshot).await?;
        self.plan_snapshot(&snap, options, None, ScanMode::Resolve)
            .await
    }

    /// Plans a scan of a given snapshot; `only` replaces file selection by exactly
    /// these files (compaction reads chosen deltas this way).
    pub(crate) async fn plan_snapshot(
        &self,
        snap: &AnySnapshot,
        options: &ScanOptions,
        only: Option<&[DataFile]>,
        mode: ScanMode,
    ) -> Result<ScanPlan> {
        let schema = snap.schema().clone();
        let columns: Vec<String> = match &options.columns {
            Some(c) => c.clone(),
            None => schema.column_names().map(String::from).collect(),
        };
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let output_schema =
            schema
                .arrow_projection(&names)
                .map_err(|reason| Error::InvalidScan {
                    table: self.location().to_string(),
                    reason: format!(
                        "{reason}; the table has {}",
                        schema.column_names().collect::<Vec<_>>().join(", ")
                    ),
                })?;
        if let Some(p) = &options.key_predicate {
            check_predicate_type(self, &schema, p)?;
        }
        let mut decoded_columns = vec![schema.key.clone(), schema.event_time.clone()];
        decoded_columns.extend(
            columns
                .iter()
                .filter(|c| !decoded_columns.contains(c))
                .cloned()
                .collect::<Vec<_>>(),
        );

        // (path, kind, rows, bytes, legacy precedence) of each file to read.
        type Chosen = (String, FileKind, u64, Option<u64>, u64);
        let (base, chosen, skipped): (Option<String>, Vec<Chosen>, Vec<SkippedFile>) =
            match (only, snap) {
                (Some(files), _) => (
                    None,
                    files
                        .iter()
                        .map(|f| (f.path.clone(), f.kind, f.rows, Some(f.bytes), 0))
                        .collect(),
                    Vec::new(),
                ),
                (None, AnySnapshot::V1(s)) => {
                    let (base, read, skipped) =
                        select_files(s, options.as_of, options.key_predicate.as_ref());
                    (
                        base.map(|b| b.path.clone()),
                        read.iter()
                            .map(|f| (f.path.clone(), f.kind, f.rows, Some(f.bytes), 0))
                            .collect(),
                        skipped,
                    )
                }
                (None, AnySnapshot::Legacy(l)) => {
                    let as_of = options
                        .as_of
                        .map_or(LegacyAsOf::Current, LegacyAsOf::EventTime);
                    let files = l.data_files(as_of);
                    let n = files.len() as u64;
                    let skipped = l
                        .all_files()
                        .into_iter()
                        .filter(|f| !files.contains(f))
                        .map(|path| SkippedFile {
                            path,
                            reason: SkipReason::NotInLegacySegment,
                        })
                        .collect();
                    let chosen = files
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| (p, FileKind::Delta, 0, None, n - i as u64))
                        .collect();
                    (None, chosen, skipped)
                }
            };
        let key_index = 0;
        // The page index is worth its extra read when keys can prune pages, or when the
        // scan splits into key ranges (ranges then meet inside a page, not a row group;
        // without it a delta's row groups, each spanning nearly all keys, are weighed at
        // their smallest key: history's split fell at key 32 of 200,000).
        let splits = options.limit.is_none()
            && options.tasks.unwrap_or_else(super::tasks::default_tasks) > 1;
        let page_index = options.key_predicate.is_some() || splits;
        let planned = try_join_all(chosen.into_iter().map(
            |(path, kind, rows, bytes, precedence)| {
                let pred = options.key_predicate.clone();
                async move {
                    let metadata = self.cached_metadata(&path, bytes, page_index).await?;
                    let total = metadata.metadata().num_row_groups();
                    let row_groups: Vec<usize> = (0..total)
                        .filter(|&i| match &pred {
                            None => true,
                            Some(p) => row_group_may_match(&metadata, i, key_index, p),
                        })
                        .collect();
                    let selection = pred
                        .as_ref()
                        .and_then(|p| page_selection(&metadata, &row_groups, key_index, p));
                    let rows = if rows == 0 {
                        metadata.metadata().file_metadata().num_rows() as u64
                    } else {
                        rows
                    };
                    Ok::<_, Error>(PlannedFile {
                        path,
                        kind,
                        rows,
                        row_groups,
                        row_groups_total: total,
                        selection,
                        precedence,
                        file_size: bytes,
                        metadata,
                    })
                }
            },
        ))
        .await?;
        Ok(ScanPlan {
            snapshot: snap.commit(),
            format_version: snap.format_version(),
            as_of: options.as_of,
            schema,
            output_schema,
            decoded_columns,
            base,
            files: planned,
            skipped,
            options: options.clone(),
            mode,
        })
    }

    /// Reads a data file's Parquet footer (`size`: the byte size the snapshot records,
    /// saving a HEAD request), from the store (never from the scans' cache). Errors say
    /// whether the file is missing, replaced or not Parquet.
    pub async fn load_footer(&self, path: &str, size: Option<u64>) -> Result<ArrowReaderMetadata> {
        self.load_metadata(path, size, false).await
    }

    /// [`Table::load_metadata`] through the process's cache of footers (`object_cache::footers`):
    /// data files are immutable, so a footer read by an earlier scan is reused as long
    /// as the file's size and version (ETag, else modification time) are unchanged. The
    /// check costs one HEAD request instead of the footer's reads and decoding; a
    /// file that is missing or differs from the snapshot is read (and reported) anew.
    async fn cached_metadata(
        &self,
        path: &str,
        size: Option<u64>,
        page_index: bool,
    ) -> Result<ArrowReaderMetadata> {
        let object = self.location.child(path);
        let head = match self.location.store.head(&object).await {
            Ok(head) if size.is_none_or(|s| s == head.size) => head,
            _ => return self.load_metadata(path, size, page_index).await,
        };
        let key = object_cache::footer_key(self.location.store.as_ref(), &head, page_index);
        let footers = object_cache::footers();
        if let Some(meta) = footers.get(&key) {
            return Ok(meta);
        }
        let meta = self
            .load_metadata(path, Some(head.size), page_index)
            .await?;
        footers.put(key, &meta, meta.metadata().memory_size());
        Ok(meta)
    }

    /// [`Table::load_footer`], optionally with the page index (column and offset index).
    async fn load_metadata(
        &self,
        path: &str,
        size: Option<u64>,
        page_index: bool,
    ) -> Result<ArrowReaderMetadata> {
        let options = if page_index {
            ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional)
        } else {
            ArrowReaderOptions::new()
        };
        let mut reader = self.parquet_reader(path, size);
        let loaded = guard_future(
            async { Ok(ArrowReaderMetadata::load_async(&mut reader, options).await) },
            |reason| Error::DataFile {
                table: self.location().to_string(),
                file: path.to_string(),
                reason,
            },
        )
        .await?;
        let err = match loaded {
            Ok(meta) => return Ok(meta),
            Err(e) => e,
        };
        // Say why in the user's terms: missing, replaced (size differs) or not Parquet.
        let reason = match self.location.store.head(&self.location.child(path)).await {
            Err(object_store::Error::NotFound { .. }) => "is missing".to_string(),
            Ok(meta) if size.is_some_and(|s| s != meta.size) => format!(
                "is {} bytes but the snapshot says {}: it was replaced or truncated",
                meta.size,
                size.unwrap_or_default()
            ),
            _ => match err {
                parquet::errors::ParquetError::External(inner) => {
                    format!("cannot be read: {inner}")
                }
                other => format!("is not a readable Parquet file: {other}"),
            },
        };
        Err(Error::DataFile {
            table: self.location().to_string(),
            file: path.to_string(),
            reason,
        })
    }
}

fn check_predicate_type(table: &Table, schema: &TableSchema, p: &KeyPredicate) -> Result<()> {
    let values: Vec<&KeyValue> = match p {
        KeyPredicate::Eq(v) => vec![v],
        KeyPredicate::In(vs) => vs.iter().collect(),
        KeyPredicate::Range { lower, upper } => [lower, upper]
            .into_iter()
            .filter_map(|b| match b {
                std::ops::Bound::Included(v) | std::ops::Bound::Excluded(v) => Some(v),
                std::ops::Bound::Unbounded => None,
            })
            .collect(),
        KeyPredicate::And(ps) | KeyPredicate::Or(ps) => {
            return ps
                .iter()
                .try_for_each(|p| check_predicate_type(table, schema, p))
        }
    };
    for v in values {
        let ok = matches!(
            (v, schema.key_type),
            (KeyValue::Int(_), crate::schema::KeyType::Int)
                | (KeyValue::String(_), crate::schema::KeyType::String)
        );
        if !ok {
            return Err(Error::InvalidScan {
                table: table.location().to_string(),
                reason: format!(
                    "key predicate value {v:?} does not match the key type {:?}",
                    schema.key_type
                ),
            });
        }
    }
    Ok(())
}
