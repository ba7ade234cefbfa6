//! SPEC §10.1: `history`, one row per version of each key with its valid-time interval.
//!
//! For a snapshot `v`, the versions of a key come from its events (commits `<= v`) in
//! rank order (§5): at each distinct event time the winning event (ties: later commit,
//! then later row) opens a version that lasts until the key's next event time. A
//! winning tombstone ends the version before it and opens none. Hence, for every `t`,
//! the rows with `valid_from <= t < valid_to` (a null `valid_to` is open-ended) are
//! exactly `scan(as_of = t, snapshot = v)`. Consecutive versions with equal values are
//! not merged: each is one winning event.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{Field, Schema, SchemaRef, TimestampMicrosecondType};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::key_order::KeyColumn;
use crate::predicate::KeyPredicate;
use crate::scan::gather::Picks;
use crate::scan::merge::Merger;
use crate::scan::options::{ScanMode, ScanOptions, DEFAULT_BATCH_SIZE};
use crate::scan::read::FIRST_VALUE;
use crate::scan::{PartStream, Parts};
use crate::schema::{timestamp_type, TableSchema};
use crate::snapshot::FileKind;
use crate::table::Table;
use crate::Commit;

/// Name of the column holding the event time a version starts at.
pub const VALID_FROM: &str = "valid_from";
/// Name of the column holding the event time a version ends at (null: still current).
pub const VALID_TO: &str = "valid_to";

/// What [`Table::history`] reads.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// The commit whose knowledge is used (default: the latest).
    pub snapshot: Option<Commit>,
    /// Only versions still valid at or after this event time (`valid_to > from`).
    pub from: Option<DateTime<Utc>>,
    /// Only versions that start at or before this event time (`valid_from <= to`).
    pub to: Option<DateTime<Utc>>,
    /// Value columns to return (default: all); the key and event-time columns are
    /// always the key and `valid_from`.
    pub columns: Option<Vec<String>>,
    /// Keys to return (prunes files, row groups and pages as in a scan).
    pub key_predicate: Option<KeyPredicate>,
    /// Rows per output batch (a target, not a limit).
    pub batch_size: usize,
    /// Key-range tasks to run in parallel (SPEC §6.5; default: one per core; 1 = one merge).
    pub tasks: Option<usize>,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            snapshot: None,
            from: None,
            to: None,
            columns: None,
            key_predicate: None,
            batch_size: DEFAULT_BATCH_SIZE,
            tasks: None,
        }
    }
}

impl HistoryOptions {
    /// Uses the knowledge of commit `snapshot`.
    #[must_use]
    pub fn with_snapshot(mut self, snapshot: Commit) -> Self {
        self.snapshot = Some(snapshot);
        self
    }
    /// Keeps versions valid at or after `from`.
    #[must_use]
    pub fn with_from(mut self, from: DateTime<Utc>) -> Self {
        self.from = Some(from);
        self
    }
    /// Keeps versions starting at or before `to`.
    #[must_use]
    pub fn with_to(mut self, to: DateTime<Utc>) -> Self {
        self.to = Some(to);
        self
    }
    /// Returns these value columns.
    #[must_use]
    pub fn with_columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }
    /// Returns only keys matching the predicate.
    #[must_use]
    pub fn with_key_predicate(mut self, p: KeyPredicate) -> Self {
        self.key_predicate = Some(p);
        self
    }
    /// Sets the output batch size.
    #[must_use]
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }
    /// Splits the read into `n` key-range tasks (at least 1).
    #[must_use]
    pub fn with_tasks(mut self, n: usize) -> Self {
        self.tasks = Some(n.max(1));
        self
    }
}

/// A stream of Arrow batches with a known schema (history and diff), in key order.
pub struct BatchStream {
    schema: SchemaRef,
    parts: Parts,
}

impl BatchStream {
    pub(crate) fn new(schema: SchemaRef, parts: Parts) -> Self {
        BatchStream { schema, parts }
    }
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    /// The stream's key ranges, in key order (one when the stream does not split):
    /// concatenated they are this stream, and each may be read by another thread.
    pub fn into_parts(self) -> Vec<PartStream> {
        self.parts.into_vec()
    }
    /// Collects every batch.
    pub async fn collect_batches(mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(b) = self.parts.next().await {
            out.push(b?);
        }
        Ok(out)
    }
}

impl futures::Stream for BatchStream {
    type Item = Result<RecordBatch>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.parts.poll_next_unpin(cx)
    }
}

/// The schema of a history: the key, [`VALID_FROM`], [`VALID_TO`], then `values`
/// (value columns of `schema`, all nullable; unknown names are left out).
pub fn history_schema(schema: &TableSchema, values: &[String]) -> SchemaRef {
    let mut fields = vec![
        Field::new(&schema.key, schema.key_type.arrow_type(), false),
        Field::new(VALID_FROM, timestamp_type(), false),
        Field::new(VALID_TO, timestamp_type(), true),
    ];
    fields.extend(
        values
            .iter()
            .filter_map(|v| schema.arrow_field(v))
            .map(|f| f.with_nullable(true)),
    );
    Arc::new(Schema::new(fields))
}

impl Table {
    /// Every version of every key known at a snapshot, with its valid-time interval
    /// (SPEC §10.1), in key order and, per key, in event-time order.
    ///
    /// Output columns: the key, [`VALID_FROM`], [`VALID_TO`], then the value columns.
    pub async fn history(&self, options: HistoryOptions) -> Result<BatchStream> {
        let snap = self.snapshot(options.snapshot).await?;
        if snap.is_legacy() {
            return Err(Error::InvalidScan {
                table: self.location().to_string(),
                reason: "history needs the event log of a format-version-1 table; \
                         bazof 0.2 tables keep none (scan them as of each time instead)"
                    .into(),
            });
        }
        let schema = snap.schema().clone();
        let values: Vec<String> = match &options.columns {
            Some(c) => c
                .iter()
                .filter(|c| **c != schema.key && **c != schema.event_time)
                .cloned()
                .collect(),
            None => schema.columns.iter().map(|c| c.name.clone()).collect(),
        };
        for name in [VALID_FROM, VALID_TO] {
            if schema.key == name || values.iter().any(|v| v == name) {
                return Err(Error::InvalidScan {
                    table: self.location().to_string(),
                    reason: format!("column '{name}' clashes with history's own '{name}'"),
                });
            }
        }
        if let Some(unknown) = values.iter().find(|v| schema.column(v).is_none()) {
            return Err(Error::InvalidScan {
                table: self.location().to_string(),
                reason: format!(
                    "unknown column '{unknown}'; the table has {}",
                    schema.column_names().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        // Every event of commits <= v is a row of some delta of snapshot v (SPEC §8):
        // bases are copies and are not read.
        let deltas: Vec<_> = snap
            .files()
            .into_iter()
            .filter(|f| f.kind == FileKind::Delta && f.rows > 0)
            .filter(|f| match (&options.key_predicate, &f.min_key, &f.max_key) {
                (Some(p), Some(lo), Some(hi)) => p.may_match_range(lo, hi),
                _ => true,
            })
            .cloned()
            .collect();
        let scan = ScanOptions {
            columns: Some(values.clone()),
            key_predicate: options.key_predicate.clone(),
            batch_size: options.batch_size,
            tasks: options.tasks,
            ..Default::default()
        };
        let plan = self
            .plan_snapshot(&snap, &scan, Some(&deltas), ScanMode::AllRows)
            .await?;
        // Every key's events lie in one key range: each range is its own history,
        // running ahead on the runtime when there are several.
        let out = history_schema(&schema, &values);
        let (table, from, to) = (
            self.location().to_string(),
            options.from.map(|t| t.timestamp_micros()),
            options.to.map(|t| t.timestamp_micros()),
        );
        // Output columns in the merge layout: the key, the event time, the values.
        let columns: Vec<usize> = [0, 1]
            .into_iter()
            .chain((3..out.fields().len()).map(|i| FIRST_VALUE + i - 3))
            .collect();
        let schema_out = out.clone();
        let versions = move |merger: Merger| -> PartStream {
            let state = Versions {
                table: table.clone(),
                merger,
                schema: schema_out.clone(),
                columns: columns.clone(),
                from,
                to,
            };
            futures::stream::try_unfold(state, |mut s| async move {
                Ok(s.next_batch().await?.map(|b| (b, s)))
            })
            .boxed()
        };
        let parts = self
            .execute_with(plan, Some(out.clone()), versions)
            .await?
            .into_ranges();
        Ok(BatchStream::new(out, parts))
    }
}

/// The streaming state. The merge yields a key's rows in rank order (§5) and never
/// splits a key across two batches, so each batch is finished on its own: a row wins
/// its event time unless the next row has the same key and time, and its version
/// lasts until the next row's time when that row has the same key. The merge's picks
/// are read before anything is copied: only the rows kept, and only the columns
/// returned, are gathered.
struct Versions {
    table: String,
    merger: Merger,
    schema: SchemaRef,
    /// Merge-layout columns gathered, in output order (without `valid_to`).
    columns: Vec<usize>,
    from: Option<i64>,
    to: Option<i64>,
}

impl Versions {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while let Some((arena, keys, picks)) = self.merger.next_picks().await? {
            let out = self.versions(&arena, &keys, &picks)?;
            if out.num_rows() > 0 {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }

    /// The versions the picked rows (whole keys) of `arena`'s batches open; `keys`:
    /// the key prefixes of each batch.
    fn versions(
        &self,
        arena: &[RecordBatch],
        keys: &[Arc<KeyColumn>],
        picks: &Picks,
    ) -> Result<RecordBatch> {
        let arrow_err = |e| Error::Arrow {
            table: self.table.clone(),
            source: e,
        };
        let internal = |what: &str| Error::Internal {
            table: self.table.clone(),
            reason: format!("history input column {what}"),
        };
        let mut times = Vec::with_capacity(arena.len());
        let mut deleted = Vec::with_capacity(arena.len());
        for batch in arena {
            times.push(
                batch
                    .column(1)
                    .as_primitive_opt::<TimestampMicrosecondType>()
                    .ok_or_else(|| internal("event_time"))?
                    .values()
                    .as_ref(),
            );
            deleted.push(
                batch
                    .column(4)
                    .as_boolean_opt()
                    .ok_or_else(|| internal("_bazof_deleted"))?
                    .values(),
            );
        }
        let mut kept = Kept {
            picks: Picks::with_capacity(picks.len()),
            valid_to: Vec::with_capacity(picks.len()),
            has_end: Vec::with_capacity(picks.len()),
            from: self.from,
            to: self.to,
        };
        // Each row is decided when the next one is seen: whether it has the same key,
        // and its time.
        let mut previous: Option<(usize, usize, i64)> = None;
        for &(s, first, n) in picks.runs() {
            for (r, &time) in (first..).zip(&times[s][first..first + n]) {
                if let Some((ps, pr, pt)) = previous {
                    let next_time = keys[ps].eq_at(pr, &keys[s], r).then_some(time);
                    kept.decide(ps, pr, pt, deleted[ps].value(pr), next_time);
                }
                previous = Some((s, r, time));
            }
        }
        if let Some((ps, pr, pt)) = previous {
            kept.decide(ps, pr, pt, deleted[ps].value(pr), None);
        }
        if kept.picks.is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let valid_to: ArrayRef = Arc::new(
            TimestampMicrosecondArray::new(
                kept.valid_to.into(),
                Some(NullBuffer::from(kept.has_end)),
            )
            .with_timezone("UTC"),
        );
        let mut columns = kept
            .picks
            .gather_columns(arena, &self.columns)
            .map_err(arrow_err)?;
        columns.insert(2, valid_to);
        RecordBatch::try_new(self.schema.clone(), columns).map_err(arrow_err)
    }
}

/// The versions a batch keeps: the rows, each version's end, whether it has one.
struct Kept {
    picks: Picks,
    valid_to: Vec<i64>,
    has_end: Vec<bool>,
    from: Option<i64>,
    to: Option<i64>,
}

impl Kept {
    /// Decides row `r` of batch `s` (event time `time`), given the time of the key's
    /// next row if the key has one.
    #[inline(always)]
    fn decide(&mut self, s: usize, r: usize, time: i64, tombstone: bool, next: Option<i64>) {
        // A later-ranked row at the same time wins instead; a tombstone opens no
        // version; the window keeps versions starting by `to` and ending after `from`.
        let kept = next != Some(time)
            && !tombstone
            && self.to.is_none_or(|to| time <= to)
            && match (self.from, next) {
                (Some(from), Some(end)) => end > from,
                _ => true,
            };
        if kept {
            self.picks.push(s, r);
            self.valid_to.push(next.unwrap_or_default());
            self.has_end.push(next.is_some());
        }
    }
}
