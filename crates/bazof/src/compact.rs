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

/// Where compaction places segment boundaries (and so bases): by data volume (the
/// default), at calendar periods of event time, or every `n` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentWidth {
    /// By data volume (SPEC §8.1): a base of the current state once the events after
    /// the newest base outgrow [`CompactionPolicy::current_ratio`] of it, and past bases
    /// only where an as-of scan would otherwise read more than
    /// `1 + `[`CompactionPolicy::history_ratio`] times the rows of the state.
    Volume,
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
    /// The start of the calendar period containing `t` (`Rows`, `Volume`: `t`).
    fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let (y, m, d) = match self {
            SegmentWidth::Day => (t.year(), t.month(), t.day()),
            SegmentWidth::Month => (t.year(), t.month(), 1),
            SegmentWidth::Year => (t.year(), 1, 1),
            SegmentWidth::Rows(_) | SegmentWidth::Volume => return t,
        };
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap_or(t)
    }

    /// The start of the calendar period before the one starting at `start`.
    fn prev(self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            SegmentWidth::Day => start.checked_sub_days(chrono::Days::new(1)),
            SegmentWidth::Month => start.checked_sub_months(chrono::Months::new(1)),
            SegmentWidth::Year => start.checked_sub_months(chrono::Months::new(12)),
            SegmentWidth::Rows(_) | SegmentWidth::Volume => None,
        }
    }

    /// Parses `volume`, `day`, `month`, `year` or `rows:N`.
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
            "volume" => Some(SegmentWidth::Volume),
            "day" | "daily" => Some(SegmentWidth::Day),
            "month" | "monthly" => Some(SegmentWidth::Month),
            "year" | "yearly" => Some(SegmentWidth::Year),
            _ => None,
        }
    }

    /// Calendar period starts `p` with `floor(min) < p <= floor(max)`, at most the
    /// newest `limit` of them: memory follows `limit`, not the time span (issue 13 #11).
    fn periods(self, min: DateTime<Utc>, max: DateTime<Utc>, limit: usize) -> Vec<DateTime<Utc>> {
        let first = self.floor(min);
        let mut out = Vec::new();
        let mut p = Some(self.floor(max));
        while let Some(t) = p.filter(|t| *t > first && out.len() < limit) {
            out.push(t);
            p = self.prev(t);
        }
        out.reverse();
        out
    }
}

/// How compaction lays out a table. The defaults were chosen by measurement
/// (`benches/RESULTS.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionPolicy {
    /// Where segments (and bases) are placed: by data volume, by calendar period, or every `n` events.
    pub segment: SegmentWidth,
    /// A segment's deltas are merged (the smallest first) once it has more than this many.
    pub max_deltas: usize,
    /// Rows per written data file (larger outputs roll over to a new file).
    pub target_file_rows: usize,
    /// Calendar and row policies: at most this many new boundaries per compaction.
    pub max_segments: usize,
    /// Close the open segment at this event time too (in addition to the policy's boundaries).
    pub close_at: Option<DateTime<Utc>>,
    /// `Volume`: a past base is dropped while an as-of scan, without it, reads at most
    /// `1 + history_ratio` times the rows of the state (space ≈ 1 + 1/history_ratio per event).
    pub history_ratio: f64,
    /// `Volume`: a base of the current state is written once the events after the newest
    /// base exceed this fraction of its rows (current scans read at most `1 + current_ratio`).
    pub current_ratio: f64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            segment: SegmentWidth::Volume,
            max_deltas: 4,
            target_file_rows: 4 << 20,
            max_segments: 120,
            close_at: None,
            history_ratio: 1.0,
            current_ratio: 0.1,
        }
    }
}

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

/// Estimated number of delta events with event time `< t`, from file metadata alone:
/// each delta's rows spread evenly over its `[min, max]` event times.
struct EventDensity(Vec<(i64, i64, f64)>);

impl EventDensity {
    fn new(deltas: &[&DataFile]) -> Self {
        EventDensity(
            deltas
                .iter()
                .filter_map(|f| {
                    let lo = f.min_event_time?.timestamp_micros();
                    let hi = f.max_event_time?.timestamp_micros();
                    Some((lo, hi, f.rows as f64))
                })
                .collect(),
        )
    }

    fn before(&self, t: i64) -> f64 {
        self.0
            .iter()
            .map(|&(lo, hi, rows)| {
                if t <= lo {
                    0.0
                } else if t > hi {
                    rows
                } else {
                    rows * ((t as f64 - lo as f64) / (hi as f64 - lo as f64 + 1.0))
                }
            })
            .sum()
    }

    fn total(&self) -> f64 {
        self.0.iter().map(|f| f.2).sum()
    }

    /// The smallest `t` in `(lo, hi]` with `before(t) >= target` (`hi` if none).
    fn quantile(&self, target: f64, mut lo: i64, mut hi: i64) -> i64 {
        while i128::from(hi) - i128::from(lo) > 1 {
            let mid = lo / 2 + hi / 2 + (lo % 2 + hi % 2) / 2;
            if self.before(mid) >= target {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }
}

/// SPEC §8.1, thinning: which segment starts to keep, given for every segment the rows
/// of its base (`base_rows[0]`: the first segment has none, 0) and the events that lie in
/// it. Walking oldest first, a start is dropped while the merged gap keeps an as-of scan
/// within `1 + alpha` times the state it returns, both just after the dropped start
/// (the scan reads the dropped segment's deltas whole) and just before the next start:
/// the scan reads the previous kept base plus the gap's events, the state is the base
/// rows at either start. The last start is always kept.
fn thin(base_rows: &[u64], events: &[u64], alpha: f64) -> Vec<bool> {
    let n = base_rows.len();
    let mut keep = vec![true; n];
    if n < 3 {
        return keep;
    }
    let mut p = 0;
    let mut acc = events[0];
    for i in 1..n - 1 {
        let merged = acc + events[i];
        let reads = (base_rows[p] + merged) as f64;
        // A growing state is smallest just after the dropped start, a shrinking one
        // just before the next.
        let state = base_rows[i].min(base_rows[i + 1]);
        if reads <= (1.0 + alpha) * state as f64 {
            keep[i] = false;
            acc = merged;
        } else {
            p = i;
            acc = events[i];
        }
    }
    keep
}

/// [`thin`] over segments; a start the caller asked for (`close_at`) is always kept.
fn thin_segments(
    segments: &[Segment],
    base_rows: &[u64],
    events: &[u64],
    policy: &CompactionPolicy,
) -> Vec<bool> {
    let mut keep = thin(base_rows, events, policy.history_ratio);
    for (k, g) in keep.iter_mut().zip(segments) {
        *k |= g.start.is_some() && g.start == policy.close_at;
    }
    keep
}

/// Merges every segment whose start is not kept into the one before it (its base is
/// dropped from the snapshot, its deltas move).
fn merge_segments(segments: Vec<Segment>, keep: &[bool]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
    for (g, &k) in segments.into_iter().zip(keep) {
        match out.last_mut() {
            Some(prev) if !k => {
                prev.end = g.end;
                prev.deltas.extend(g.deltas);
            }
            _ => out.push(g),
        }
    }
    out
}

/// Whether the base of segment `g` misses events: a delta committed after the base
/// folds in holds events before its start (late events).
fn base_is_stale(files: &[&DataFile], g: &Segment) -> bool {
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

/// SPEC §8.1, new starts of the volume policy, from delta metadata alone (no data is
/// read): when the events after the newest start outgrow `current_ratio` of its base
/// (or it has none, or it is stale), a start just after the greatest event time (the
/// base of the current state), plus, when those events exceed `history_ratio` of the
/// base, candidates at estimated event quantiles (at most 7) that thinning may keep.
fn volume_candidates(
    s: &Snapshot,
    deltas: &[&DataFile],
    max_et: DateTime<Utc>,
    policy: &CompactionPolicy,
) -> Vec<DateTime<Utc>> {
    let last = s.segments.last();
    let last_start = last.and_then(|g| g.start);
    let base_rows = last.and_then(|g| g.base.as_ref()).map_or(0, |b| b.rows) as f64;
    let stale = last.is_some_and(|g| g.start.is_some() && base_is_stale(&s.files(), g));
    let density = EventDensity::new(deltas);
    let from = last_start.map_or(i64::MIN, |t| t.timestamp_micros());
    let done = last_start.map_or(0.0, |t| density.before(t.timestamp_micros()));
    let tail = density.total() - done;
    let Some(current) = max_et.checked_add_signed(Duration::microseconds(1)) else {
        return Vec::new();
    };
    if tail < 1.0 || (base_rows > 0.0 && tail <= policy.current_ratio * base_rows && !stale) {
        return Vec::new();
    }
    if last_start.is_some_and(|t| t >= current) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let step = (policy.history_ratio * base_rows).max(tail / 8.0).max(1.0);
    let lo = deltas
        .iter()
        .filter_map(|f| f.min_event_time)
        .min()
        .map_or(from, |t| t.timestamp_micros().max(from));
    let hi = current.timestamp_micros();
    let mut k = 1.0;
    while k * step < tail {
        let t = density.quantile(done + k * step, lo, hi);
        if t > out.last().copied().unwrap_or(from) && t < hi {
            out.push(t);
        }
        k += 1.0;
    }
    out.into_iter()
        .filter_map(DateTime::from_timestamp_micros)
        .chain(std::iter::once(current))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_a_start_where_reads_would_outgrow_the_state() {
        // A slowly changing table: 1000 keys loaded, then 5 segments of 50 changes each.
        // Every as-of scan reads at most 1250 events: no past base is needed.
        let rows = [0, 1000, 1000, 1000, 1000, 1000];
        let events = [1000, 50, 50, 50, 50, 0];
        assert_eq!(
            thin(&rows, &events, 1.0),
            [true, false, false, false, false, true]
        );
        // A dense one: each segment holds more than the whole state again.
        let events = [1100, 1100, 1100, 1100, 1100, 0];
        assert_eq!(thin(&rows, &events, 1.0), [true; 6]);
        // With history_ratio 2, a scan may read the base plus two states of events.
        let events = [1000, 1000, 1000, 1000, 1000, 0];
        assert_eq!(
            thin(&rows, &events, 2.0),
            [true, false, false, true, false, true]
        );
        // The first and the last start are always kept.
        assert_eq!(thin(&[0, 5], &[100, 0], 1.0), [true, true]);
        // A growing state: dropping start 1 would make a scan just after it read
        // 1000 events for a state of 100; the end of the gap alone (state 1000) hides it.
        assert_eq!(
            thin(&[0, 100, 1000, 1000], &[100, 900, 100, 0], 1.0),
            [true, true, false, true]
        );
    }

    #[test]
    fn calendar_periods_are_bounded_by_the_limit_not_the_span() {
        let min = Utc.with_ymd_and_hms(-200_000, 1, 1, 0, 0, 0).unwrap();
        let max = Utc.with_ymd_and_hms(200_000, 1, 1, 0, 0, 0).unwrap();
        let p = SegmentWidth::Day.periods(min, max, 120);
        assert_eq!(p.len(), 120);
        assert_eq!(p.last(), Some(&max));
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        // A short span yields all its periods, oldest first.
        let m = SegmentWidth::Month.periods(
            Utc.with_ymd_and_hms(2024, 1, 15, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 4, 2, 0, 0, 0).unwrap(),
            120,
        );
        let months: Vec<u32> = m.iter().map(|t| t.month()).collect();
        assert_eq!(months, [2, 3, 4]);
    }

    #[test]
    fn density_quantiles_follow_file_statistics() {
        let f = |lo: i64, hi: i64, rows: u64| DataFile {
            path: "x".into(),
            kind: FileKind::Delta,
            rows,
            bytes: 1,
            min_event_time: DateTime::from_timestamp_micros(lo),
            max_event_time: DateTime::from_timestamp_micros(hi),
            min_key: None,
            max_key: None,
            commit: 1,
            min_commit: 1,
            max_commit: 1,
            base_start: None,
            folds_through: None,
        };
        let files = [f(0, 999, 1000), f(1000, 1999, 1000)];
        let refs: Vec<&DataFile> = files.iter().collect();
        let d = EventDensity::new(&refs);
        assert_eq!(d.total(), 2000.0);
        let q = d.quantile(1500.0, 0, 2000);
        assert!((1495..=1505).contains(&q), "{q}");
        let extreme = [f(i64::MIN / 2, i64::MAX / 2, 10)];
        let refs: Vec<&DataFile> = extreme.iter().collect();
        let q = EventDensity::new(&refs).quantile(5.0, i64::MIN / 2, i64::MAX / 2);
        assert!(q.abs() < i64::MAX / 8, "{q}");
    }
}
