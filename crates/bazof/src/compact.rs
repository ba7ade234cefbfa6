//! SPEC §8: compaction (segments, bases, delta merges) and vacuum.
//!
//! Compaction is an optimisation: every `scan(as_of, snapshot)` returns the same
//! rows before and after it, for old snapshots too (they keep their own files).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use futures::StreamExt;
use object_store::ObjectStoreExt;

use crate::commit::publish;
use crate::data_file::{write_partitioned, write_stream, NewFile};
use crate::error::{Error, Result};
use crate::scan::plan::{ScanMode, ScanOptions};
use crate::snapshot::{
    AnySnapshot, CommitSummary, DataFile, FileKind, Segment, Snapshot, FORMAT_VERSION,
};
use crate::table::Table;
use crate::Commit;

/// Width of the segments compaction closes: calendar periods of event time, or a
/// number of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentWidth {
    /// Calendar days (UTC).
    Day,
    /// Calendar months (UTC).
    Month,
    /// Calendar years (UTC).
    Year,
    /// About this many events per segment: the open segment is closed at the event
    /// times that cut its events into runs of this many (ties keep equal times together).
    Rows(u64),
}

impl SegmentWidth {
    /// The start of the calendar period containing `t` (`Rows`: `t`).
    fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let (y, m, d) = match self {
            SegmentWidth::Day => (t.year(), t.month(), t.day()),
            SegmentWidth::Month => (t.year(), t.month(), 1),
            SegmentWidth::Year => (t.year(), 1, 1),
            SegmentWidth::Rows(_) => return t,
        };
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap_or(t)
    }

    /// The start of the calendar period after the one starting at `start`.
    fn next(self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            SegmentWidth::Day => start.checked_add_days(chrono::Days::new(1)),
            SegmentWidth::Month => start.checked_add_months(chrono::Months::new(1)),
            SegmentWidth::Year => start.checked_add_months(chrono::Months::new(12)),
            SegmentWidth::Rows(_) => None,
        }
    }

    /// Parses `day`, `month`, `year` or `rows:N`.
    pub fn parse(s: &str) -> Option<SegmentWidth> {
        let s = s.to_ascii_lowercase();
        if let Some(n) = s.strip_prefix("rows:") {
            return n
                .trim()
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .map(SegmentWidth::Rows);
        }
        match s.as_str() {
            "day" | "daily" => Some(SegmentWidth::Day),
            "month" | "monthly" => Some(SegmentWidth::Month),
            "year" | "yearly" => Some(SegmentWidth::Year),
            _ => None,
        }
    }
}

/// How compaction lays out a table. The defaults were chosen by `benches/sweep.sh`
/// (see `benches/RESULTS.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionPolicy {
    /// Where segments close: at calendar period starts of event time, or every `n` events.
    pub segment: SegmentWidth,
    /// A segment's deltas are merged into one sorted run once it has more than this many.
    pub max_deltas: usize,
    /// Rows per written data file (larger outputs roll over to a new file).
    pub target_file_rows: usize,
    /// At most this many segments with bases; older boundaries are not added.
    pub max_segments: usize,
    /// Close the open segment at this event time too (in addition to period starts).
    pub close_at: Option<DateTime<Utc>>,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            segment: SegmentWidth::Month,
            max_deltas: 4,
            target_file_rows: 4 << 20,
            max_segments: 120,
            close_at: None,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionInfo {
    /// The commit it wrote.
    pub commit: Commit,
    /// Base files written.
    pub bases_written: usize,
    /// Delta files rewritten: split at segment ends or merged into sorted runs.
    pub deltas_rewritten: usize,
    /// Files written.
    pub files_added: Vec<String>,
}

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

fn legacy_refused(table: &Table, what: &str) -> Error {
    Error::ReadOnlyLegacy {
        table: table.location().to_string(),
        reason: format!(
            "cannot {what} it: its answers come from 0.2's segment-range file selection \
             (a key missing from a later base is gone there), which is not an event log that format 1 \
             can fold without changing results; re-import its data into a new table instead"
        ),
    }
}

fn segments_from(boundaries: &BTreeSet<DateTime<Utc>>) -> Vec<Segment> {
    let mut starts: Vec<Option<DateTime<Utc>>> = vec![None];
    starts.extend(boundaries.iter().map(|b| Some(*b)));
    (0..starts.len())
        .map(|i| Segment {
            start: starts[i],
            end: starts.get(i + 1).copied().flatten(),
            ..Default::default()
        })
        .collect()
}

fn segment_index(segments: &[Segment], t: Option<DateTime<Utc>>) -> usize {
    let t = t.unwrap_or(DateTime::<Utc>::MIN_UTC);
    segments
        .iter()
        .position(|s| s.contains(t))
        .unwrap_or(segments.len().saturating_sub(1))
}

impl Table {
    /// Compacts the table in one atomic commit; `None` if there was nothing to do.
    pub async fn compact(&self, policy: &CompactionPolicy) -> Result<Option<CompactionInfo>> {
        let snap = self.snapshot(None).await?;
        let s = match snap.as_ref() {
            AnySnapshot::V1(s) => s.clone(),
            AnySnapshot::Legacy(_) => return Err(legacy_refused(self, "compact")),
        };
        let commit = s.commit + 1;
        let files: Vec<DataFile> = s.files().into_iter().cloned().collect();
        let deltas: Vec<&DataFile> = files
            .iter()
            .filter(|f| f.kind == FileKind::Delta && f.rows > 0)
            .collect();
        let (Some(min_et), Some(max_et)) = (
            deltas.iter().filter_map(|f| f.min_event_time).min(),
            deltas.iter().filter_map(|f| f.max_event_time).max(),
        ) else {
            return Ok(None);
        };

        // Boundaries: existing segment starts, period starts over the data, close_at.
        let mut boundaries: BTreeSet<DateTime<Utc>> =
            s.segments.iter().filter_map(|g| g.start).collect();
        let mut periods = Vec::new();
        if let SegmentWidth::Rows(n) = policy.segment {
            let open_start = boundaries.iter().next_back().copied();
            periods = self.row_boundaries(&s, &deltas, open_start, n).await?;
        } else {
            let mut p = policy.segment.next(policy.segment.floor(min_et));
            let last = policy.segment.floor(max_et);
            while let Some(t) = p.filter(|t| *t <= last) {
                periods.push(t);
                p = policy.segment.next(t);
            }
        }
        let skip = periods.len().saturating_sub(policy.max_segments);
        boundaries.extend(periods.into_iter().skip(skip));
        boundaries.extend(policy.close_at);

        let mut segments = segments_from(&boundaries);
        // Keep the newest valid base per start; drop superseded ones from this snapshot.
        for f in files.iter().filter(|f| f.kind == FileKind::Base) {
            let i = segment_index(&segments, f.base_start);
            let better = segments[i]
                .base
                .as_ref()
                .is_none_or(|b| b.folds_through < f.folds_through);
            if segments[i].start == f.base_start && better {
                segments[i].base = Some(f.clone());
            }
        }
        for f in &deltas {
            let i = segment_index(&segments, f.min_event_time);
            segments[i].deltas.push((*f).clone());
        }

        let mut info = CompactionInfo {
            commit,
            bases_written: 0,
            deltas_rewritten: 0,
            files_added: Vec::new(),
        };
        let all_columns: Vec<String> = s.schema.column_names().map(String::from).collect();
        let mut working = Snapshot {
            commit,
            segments,
            ..s.clone()
        };

        // 1. Rewrite deltas (every row kept, with its reserved columns): split those
        //    whose events run past their segment's end into one piece per segment, so a
        //    scan as of a later time can skip them (SPEC §6.1), and merge the deltas of
        //    segments that hold more than `max_deltas` into sorted runs.
        let n = working.segments.len();
        let fits = |end: Option<DateTime<Utc>>, f: &DataFile| {
            f.max_event_time.is_some_and(|m| end.is_none_or(|e| m < e))
        };
        let mut touched = vec![false; n];
        let mut rewrite: Vec<DataFile> = Vec::new();
        for g in &working.segments {
            for f in g.deltas.iter().filter(|f| !fits(g.end, f)) {
                let lo = segment_index(&working.segments, f.min_event_time);
                let hi = segment_index(&working.segments, f.max_event_time);
                touched[lo..=hi.max(lo)].iter_mut().for_each(|t| *t = true);
                rewrite.push(f.clone());
            }
        }
        for (i, g) in working.segments.iter_mut().enumerate() {
            let end = g.end;
            g.deltas.retain(|f| fits(end, f));
            let count = g.deltas.len() + usize::from(touched[i]);
            if count > policy.max_deltas && count >= 2 {
                rewrite.append(&mut g.deltas);
            }
        }
        if !rewrite.is_empty() {
            let stream = self
                .all_rows(&working, &rewrite, all_columns.clone())
                .await?;
            let new = NewFile {
                kind: FileKind::Delta,
                commit,
                base_start: None,
                folds_through: None,
            };
            let bounds: Vec<i64> = working.segments[1..]
                .iter()
                .filter_map(|g| g.start.map(|t| t.timestamp_micros()))
                .collect();
            let written = write_partitioned(
                self,
                &s.schema,
                stream,
                new,
                policy.target_file_rows,
                &bounds,
            )
            .await?;
            info.deltas_rewritten += rewrite.len();
            for (g, files) in working.segments.iter_mut().zip(written) {
                info.files_added
                    .extend(files.iter().map(|f| f.path.clone()));
                g.deltas.extend(files);
            }
        }

        // 2. (Re)build the base of every boundary that lacks a valid one, oldest first,
        //    each from the previous base plus the deltas it must read (SPEC §6.1).
        for i in 1..working.segments.len() {
            let Some(start) = working.segments[i].start else {
                continue;
            };
            let stale = match &working.segments[i].base {
                None => true,
                Some(b) => {
                    let folds = b.folds_through.unwrap_or(0);
                    working.files().iter().any(|f| {
                        f.kind == FileKind::Delta
                            && f.max_commit > folds
                            && f.min_event_time.is_some_and(|t| t < start)
                    })
                }
            };
            if !stale {
                continue;
            }
            let as_of = start - Duration::microseconds(1);
            let opts = ScanOptions {
                as_of: Some(as_of),
                columns: Some(all_columns.clone()),
                ..Default::default()
            };
            let plan = self
                .plan_snapshot(
                    &AnySnapshot::V1(working.clone()),
                    &opts,
                    None,
                    ScanMode::Base,
                )
                .await?;
            let stream = self.execute(plan).await?;
            let new = NewFile {
                kind: FileKind::Base,
                commit,
                base_start: Some(start),
                folds_through: Some(s.commit),
            };
            let written = write_stream(self, &s.schema, stream, new, usize::MAX).await?;
            let base = written.into_iter().next().unwrap_or_else(|| DataFile {
                path: String::new(),
                kind: FileKind::Base,
                rows: 0,
                bytes: 0,
                min_event_time: None,
                max_event_time: None,
                min_key: None,
                max_key: None,
                commit,
                min_commit: commit,
                max_commit: commit,
                base_start: Some(start),
                folds_through: Some(s.commit),
            });
            if !base.path.is_empty() {
                info.files_added.push(base.path.clone());
                info.bases_written += 1;
                working.segments[i].base = Some(base);
            } else {
                // Nothing happened before `start`: no base is needed.
                working.segments[i].base = None;
            }
        }
        if info.files_added.is_empty() && working.segments.len() == s.segments.len() {
            return Ok(None);
        }
        working.commit_time = Utc::now();
        working.format_version = FORMAT_VERSION;
        working.summary = CommitSummary {
            operation: "compact".into(),
            rows_added: 0,
            files_added: info.files_added.clone(),
            min_event_time: None,
            max_event_time: None,
        };
        working
            .validate()
            .map_err(|reason| self.corrupt("compaction", reason))?;
        publish(self, &working).await?;
        Ok(Some(info))
    }

    /// Every row of `files` (with the given value columns), merged in file order (SPEC §4).
    async fn all_rows(
        &self,
        snap: &Snapshot,
        files: &[DataFile],
        columns: Vec<String>,
    ) -> Result<crate::ScanStream> {
        let opts = ScanOptions {
            columns: Some(columns),
            ..Default::default()
        };
        let plan = self
            .plan_snapshot(
                &AnySnapshot::V1(snap.clone()),
                &opts,
                Some(files),
                ScanMode::AllRows,
            )
            .await?;
        self.execute(plan).await
    }

    /// `SegmentWidth::Rows(n)`: the event times that cut the events of the open segment
    /// (at or after `open_start`) into runs of `n`, read from the event-time column of
    /// the deltas that reach into it (memory: 8 bytes per such event).
    async fn row_boundaries(
        &self,
        snap: &Snapshot,
        deltas: &[&DataFile],
        open_start: Option<DateTime<Utc>>,
        n: u64,
    ) -> Result<Vec<DateTime<Utc>>> {
        let reaching: Vec<DataFile> = deltas
            .iter()
            .filter(|f| open_start.is_none_or(|s| f.max_event_time.is_some_and(|m| m >= s)))
            .map(|f| (*f).clone())
            .collect();
        let mut stream = self.all_rows(snap, &reaching, Vec::new()).await?;
        let from = open_start.map_or(i64::MIN, |s| s.timestamp_micros());
        let mut times: Vec<i64> = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if let Some(et) = batch
                .column(1)
                .as_any()
                .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            {
                times.extend(et.values().iter().filter(|&&t| t >= from));
            }
        }
        times.sort_unstable();
        let mut out: Vec<DateTime<Utc>> = Vec::new();
        let mut last = from;
        for &t in times
            .iter()
            .step_by(usize::try_from(n).unwrap_or(usize::MAX))
            .skip(1)
        {
            if t > last {
                out.extend(DateTime::from_timestamp_micros(t));
                last = t;
            }
        }
        Ok(out)
    }

    /// Deletes data files that no retained snapshot references.
    pub async fn vacuum(&self, options: &VacuumOptions) -> Result<VacuumReport> {
        let snapshots = self.snapshots().await?;
        let now = Utc::now();
        let cutoff = now - options.retain;
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
