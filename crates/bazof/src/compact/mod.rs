//! SPEC §8: compaction (segments, bases, delta merges) and vacuum.
//!
//! Compaction is an optimisation: every `scan(as_of, snapshot)` returns the same
//! rows before and after it, for old snapshots too (they keep their own files).

mod policy;
mod vacuum;

pub use policy::{CompactionPolicy, SegmentWidth};
pub use vacuum::{VacuumOptions, VacuumReport};

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use object_store::ObjectStoreExt;

use crate::commit::publish;
use crate::data_file::{write_partitioned, write_stream, NewFile};
use crate::error::{Error, Result};
use crate::scan::options::{ScanMode, ScanOptions};
use crate::snapshot::{
    AnySnapshot, CommitSummary, DataFile, FileKind, Segment, Snapshot, FORMAT_VERSION,
};
use crate::table::Table;
use crate::Commit;
use policy::{merge_segments, thin_segments, volume_candidates, EventDensity};

/// What a compaction did (or, as a dry run, would do).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionInfo {
    /// The commit it wrote (a dry run: would write).
    pub commit: Commit,
    /// Base files written.
    pub bases_written: usize,
    /// Delta files rewritten: split at segment ends or merged into sorted runs.
    pub deltas_rewritten: usize,
    /// Files the new snapshot references that the commit wrote.
    pub files_added: Vec<String>,
    /// Files the previous snapshot referenced and the new one does not (superseded bases,
    /// rewritten deltas): older snapshots keep them until `vacuum` deletes them.
    pub files_dropped: Vec<String>,
    /// Bytes of every file written, including bases written and then found unneeded
    /// (deleted again before the commit).
    pub bytes_written: u64,
    /// Rows of every file written (as `bytes_written`).
    pub rows_written: u64,
    /// Whether nothing was published (a dry run: the files written were deleted).
    pub dry_run: bool,
}

pub(super) fn legacy_refused(table: &Table, what: &str) -> Error {
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

/// Whether the base of segment `g` misses events: a delta committed after the base
/// folds in holds events before its start (late events).
pub(super) fn base_is_stale(files: &[&DataFile], g: &Segment) -> bool {
    let (Some(start), Some(b)) = (g.start, &g.base) else {
        return g.start.is_some();
    };
    let folds = b.folds_through.unwrap_or(0);
    files.iter().any(|f| {
        f.kind == FileKind::Delta
            && f.max_commit > folds
            && f.min_event_time.is_some_and(|t| t < start)
    })
}

impl Table {
    /// Compacts the table in one atomic commit; `None` if there was nothing to do.
    pub async fn compact(&self, policy: &CompactionPolicy) -> Result<Option<CompactionInfo>> {
        self.compact_with(policy, false).await
    }

    /// Does the work of [`Table::compact`] and reports it, but publishes nothing: the
    /// files it wrote are deleted again and the table is left as it was.
    pub async fn compact_dry_run(
        &self,
        policy: &CompactionPolicy,
    ) -> Result<Option<CompactionInfo>> {
        self.compact_with(policy, true).await
    }

    async fn compact_with(
        &self,
        policy: &CompactionPolicy,
        dry_run: bool,
    ) -> Result<Option<CompactionInfo>> {
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

        // Boundaries: existing segment starts, the policy's new ones, close_at.
        let mut boundaries: BTreeSet<DateTime<Utc>> =
            s.segments.iter().filter_map(|g| g.start).collect();
        let volume = policy.segment == SegmentWidth::Volume;
        let periods = match policy.segment {
            SegmentWidth::Volume => volume_candidates(&s, &deltas, max_et, policy),
            SegmentWidth::Rows(n) => {
                let open_start = boundaries.iter().next_back().copied();
                let mut p = self.row_boundaries(&s, &deltas, open_start, n).await?;
                let skip = p.len().saturating_sub(policy.max_segments);
                p.drain(..skip);
                p
            }
            calendar => calendar.periods(min_et, max_et, policy.max_segments),
        };
        boundaries.extend(periods);
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
        if volume {
            // Thin before building, from metadata: existing bases' rows, estimated events
            // per segment; a new start is assumed to need as many rows as the base before
            // it (a lower bound), so only starts that are surely not needed go.
            let density = EventDensity::new(&deltas);
            let mut rows = Vec::with_capacity(segments.len());
            let mut last = 0;
            for g in &segments {
                last = g.base.as_ref().map_or(last, |b| b.rows);
                rows.push(if g.start.is_some() { last } else { 0 });
            }
            let events: Vec<u64> = segments
                .iter()
                .map(|g| {
                    let lo = g
                        .start
                        .map_or(0.0, |t| density.before(t.timestamp_micros()));
                    let hi = g
                        .end
                        .map_or(density.total(), |t| density.before(t.timestamp_micros()));
                    (hi - lo).max(0.0).round() as u64
                })
                .collect();
            let keep = thin_segments(&segments, &rows, &events, policy);
            segments = merge_segments(segments, &keep);
        }

        let mut info = CompactionInfo {
            commit,
            bases_written: 0,
            deltas_rewritten: 0,
            files_added: Vec::new(),
            files_dropped: Vec::new(),
            bytes_written: 0,
            rows_written: 0,
            dry_run,
        };
        let mut working = Snapshot {
            commit,
            segments,
            ..s.clone()
        };
        let mut written: Vec<String> = Vec::new();
        let result = self
            .compact_steps(&s, &mut working, policy, &mut info, &mut written)
            .await;
        let referenced: BTreeSet<String> = working.files().iter().map(|f| f.path.clone()).collect();
        // Files written and then not used (bases dropped by thinning, pieces merged again;
        // everything, on failure or for a dry run) are deleted: no snapshot names them.
        let publish_it = result.is_ok() && !dry_run;
        let unused: Vec<String> = written
            .iter()
            .filter(|p| !publish_it || !referenced.contains(*p))
            .cloned()
            .collect();
        self.delete_quietly(&unused).await;
        result?;
        info.files_added = written
            .into_iter()
            .filter(|p| referenced.contains(p))
            .collect();
        info.files_dropped = files
            .iter()
            .filter(|f| !referenced.contains(&f.path))
            .map(|f| f.path.clone())
            .collect();
        info.bases_written = working
            .files()
            .iter()
            .filter(|f| f.kind == FileKind::Base && f.commit == commit)
            .count();
        let before: BTreeSet<&String> = files.iter().map(|f| &f.path).collect();
        if referenced.iter().collect::<BTreeSet<_>>() == before {
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
        if !dry_run {
            if let Err(e) = publish(self, &working).await {
                if e.is_conflict() {
                    self.delete_quietly(&info.files_added).await;
                }
                return Err(e);
            }
        }
        Ok(Some(info))
    }

    /// The writing part of a compaction: rewrite deltas, build bases, and (volume policy)
    /// thin the starts with the real base sizes. Every path written goes to `written`.
    async fn compact_steps(
        &self,
        s: &Snapshot,
        working: &mut Snapshot,
        policy: &CompactionPolicy,
        info: &mut CompactionInfo,
        written: &mut Vec<String>,
    ) -> Result<()> {
        self.rewrite_deltas(s, working, policy, info, written)
            .await?;
        self.build_bases(s, working, info, written).await?;
        if policy.segment == SegmentWidth::Volume {
            let rows: Vec<u64> = working
                .segments
                .iter()
                .map(|g| g.base.as_ref().map_or(0, |b| b.rows))
                .collect();
            let events: Vec<u64> = working
                .segments
                .iter()
                .map(|g| g.deltas.iter().map(|d| d.rows).sum())
                .collect();
            let keep = thin_segments(&working.segments, &rows, &events, policy);
            if keep.iter().any(|k| !k) {
                working.segments = merge_segments(std::mem::take(&mut working.segments), &keep);
                self.rewrite_deltas(s, working, policy, info, written)
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes files no snapshot references (best effort: vacuum removes leftovers).
    async fn delete_quietly(&self, paths: &[String]) {
        for p in paths {
            let _ = self.location.store.delete(&self.location.child(p)).await;
        }
    }

    /// SPEC §8 step 2: rewrites deltas, keeping every row with its reserved columns:
    /// splits those whose events run past their segment's end into one piece per
    /// segment, so a scan as of a later time can skip them (SPEC §6.1), and merges the
    /// smallest deltas of segments holding more than `max_deltas` into sorted runs.
    async fn rewrite_deltas(
        &self,
        s: &Snapshot,
        working: &mut Snapshot,
        policy: &CompactionPolicy,
        info: &mut CompactionInfo,
        written: &mut Vec<String>,
    ) -> Result<()> {
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
                // Size-tiered: merge the smallest deltas, so each row is rewritten a few
                // times over its life, not once per compaction.
                let take = (count + 1 - policy.max_deltas.max(1)).min(g.deltas.len());
                g.deltas.sort_by_key(|f| f.rows);
                rewrite.extend(g.deltas.drain(..take));
            }
        }
        if rewrite.is_empty() {
            return Ok(());
        }
        let all_columns: Vec<String> = s.schema.column_names().map(String::from).collect();
        let stream = self.all_rows(working, &rewrite, all_columns).await?;
        let new = NewFile {
            kind: FileKind::Delta,
            commit: working.commit,
            base_start: None,
            folds_through: None,
        };
        let bounds: Vec<i64> = working.segments[1..]
            .iter()
            .filter_map(|g| g.start.map(|t| t.timestamp_micros()))
            .collect();
        let out = write_partitioned(
            self,
            &s.schema,
            stream,
            new,
            policy.target_file_rows,
            &bounds,
        )
        .await?;
        info.deltas_rewritten += rewrite.len();
        for (g, files) in working.segments.iter_mut().zip(out) {
            for f in &files {
                written.push(f.path.clone());
                info.bytes_written += f.bytes;
                info.rows_written += f.rows;
            }
            g.deltas.extend(files);
        }
        Ok(())
    }

    /// SPEC §8 step 3: (re)builds the base of every start that lacks a valid one, oldest
    /// first, each from the previous base plus the deltas it must read (SPEC §6.1).
    async fn build_bases(
        &self,
        s: &Snapshot,
        working: &mut Snapshot,
        info: &mut CompactionInfo,
        written: &mut Vec<String>,
    ) -> Result<()> {
        let all_columns: Vec<String> = s.schema.column_names().map(String::from).collect();
        for i in 1..working.segments.len() {
            let Some(start) = working.segments[i].start else {
                continue;
            };
            if !base_is_stale(&working.files(), &working.segments[i]) {
                continue;
            }
            let as_of = start
                .checked_sub_signed(Duration::microseconds(1))
                .ok_or_else(|| Error::InvalidOption {
                    table: self.location().to_string(),
                    reason: format!("segment start {start} is the earliest representable time"),
                })?;
            // Read in key order: its key ranges run one per core (SPEC §6.5).
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
                commit: working.commit,
                base_start: Some(start),
                folds_through: Some(s.commit),
            };
            let base = write_stream(self, &s.schema, stream, new, usize::MAX)
                .await?
                .into_iter()
                .next()
                .filter(|b| !b.path.is_empty());
            if let Some(b) = &base {
                written.push(b.path.clone());
                info.bytes_written += b.bytes;
                info.rows_written += b.rows;
            }
            // No base when nothing happened before `start`.
            working.segments[i].base = base;
        }
        Ok(())
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
}
