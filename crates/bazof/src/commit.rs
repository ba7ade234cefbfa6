//! SPEC §7: atomic commits: data files first, `s{n}.json` with put-if-absent, `version.txt` last.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::data_file::{arrow_err, write_stream, NewFile};
use crate::error::{Error, Result};
use crate::schema::{TableSchema, DELETED_COLUMN};
use crate::snapshot::{
    AnySnapshot, CommitSummary, DataFile, FileKind, Segment, Snapshot, FORMAT_VERSION,
};
use crate::sorted_run::sort_for_file;
use crate::table::{snapshot_file, Table, VERSION_FILE};
use crate::Commit;

/// Rows buffered in memory before a sorted run is written as its own data file.
pub const DEFAULT_RUN_ROWS: usize = 1 << 20;

/// What a successful commit did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitInfo {
    /// The new commit number.
    pub commit: Commit,
    /// Event rows written (after dropping rows that can never win, see SPEC §4).
    pub rows: u64,
    /// Data files written, relative to the table root.
    pub files: Vec<String>,
}

/// Writes one commit in bounded memory: rows are buffered, sorted and written as
/// runs of at most `run_rows` rows; nothing is visible until [`CommitWriter::finish`]
/// writes the snapshot file. Dropping the writer abandons the commit (its data files
/// are unreferenced orphans that `vacuum` removes).
pub struct CommitWriter {
    table: Table,
    schema: TableSchema,
    parent: Option<Arc<AnySnapshot>>,
    commit: Commit,
    run: u32,
    run_rows: usize,
    buffer: Vec<RecordBatch>,
    buffered: usize,
    files: Vec<DataFile>,
    /// Runs being sorted and written on other threads: while input is read at most one
    /// (so memory stays at two runs), at the end the last one as well.
    in_flight: Vec<tokio::task::JoinHandle<Result<Vec<DataFile>>>>,
    rows_in: u64,
    /// The input column marking tombstones.
    deleted: String,
}

impl Table {
    /// Appends one commit of events, atomically. Each batch has the key, event-time
    /// and value columns by name (missing nullable value columns are null) and
    /// optionally a boolean [`DELETED_COLUMN`] marking tombstones.
    pub async fn commit(&self, batches: &[RecordBatch]) -> Result<CommitInfo> {
        let mut writer = self.begin_commit().await?;
        for b in batches {
            writer.write(b).await?;
        }
        writer.finish().await
    }

    /// [`Table::commit`], retried up to `attempts` times when another writer wins the
    /// race for the commit number (safe for blind appends: the events do not depend
    /// on what the table held). Each attempt re-reads the latest snapshot.
    pub async fn commit_with_retry(
        &self,
        batches: &[RecordBatch],
        attempts: usize,
    ) -> Result<CommitInfo> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.commit(batches).await {
                Err(e) if e.is_conflict() && tries < attempts.max(1) => {
                    tokio::task::yield_now().await;
                }
                other => return other,
            }
        }
    }

    /// Starts a commit that can be fed batch by batch (see [`CommitWriter`]).
    pub async fn begin_commit(&self) -> Result<CommitWriter> {
        let (schema, parent) = match &self.new_schema {
            Some(schema) => match self.latest_commit().await {
                Err(Error::NotATable { .. }) => (schema.clone(), None),
                Err(e) => return Err(e),
                Ok(_) => {
                    let snap = self.snapshot(None).await?;
                    (snap.schema().clone(), Some(snap))
                }
            },
            None => {
                let snap = self.snapshot(None).await?;
                (snap.schema().clone(), Some(snap))
            }
        };
        if let Some(p) = &parent {
            if matches!(p.as_ref(), AnySnapshot::Legacy(_)) {
                return Err(Error::ReadOnlyLegacy {
                    table: self.location().to_string(),
                    reason:
                        "commit to a new table instead (scan the old one and import the result)"
                            .into(),
                });
            }
        }
        let commit = parent.as_ref().map_or(1, |p| p.commit() + 1);
        Ok(CommitWriter {
            table: self.clone(),
            schema,
            parent,
            commit,
            run: 0,
            run_rows: DEFAULT_RUN_ROWS,
            buffer: Vec::new(),
            buffered: 0,
            files: Vec::new(),
            in_flight: Vec::new(),
            rows_in: 0,
            deleted: DELETED_COLUMN.to_string(),
        })
    }
}

impl CommitWriter {
    /// Sets how many rows are sorted in memory per run (default [`DEFAULT_RUN_ROWS`]).
    #[must_use]
    pub fn with_run_rows(mut self, rows: usize) -> Self {
        self.run_rows = rows.max(1);
        self
    }

    /// The commit number this writer will create.
    pub fn commit_number(&self) -> Commit {
        self.commit
    }

    /// The schema events must follow.
    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    /// SPEC §2.1: commits under `next` instead of the parent's schema (new nullable
    /// columns appended, `Int` widened to `Float`). Checked here, before any row is
    /// written; the error says what to do instead. The first commit of a table may
    /// take any valid schema.
    pub fn evolve(mut self, next: TableSchema) -> Result<Self> {
        let err = |reason| Error::Schema {
            table: self.table.location().to_string(),
            reason,
        };
        if self.rows_in > 0 || !self.buffer.is_empty() || !self.files.is_empty() {
            return Err(err("the schema can only change before the first row".into()));
        }
        match self.parent {
            Some(_) => self.schema.check_evolution(&next).map_err(err)?,
            None => next.validate().map_err(err)?,
        }
        self.schema = next;
        Ok(self)
    }

    /// Reads tombstone markers from the Boolean input column `name` instead of
    /// [`DELETED_COLUMN`] (null = not deleted).
    #[must_use]
    pub fn with_deleted_column(mut self, name: impl Into<String>) -> Self {
        self.deleted = name.into();
        self
    }

    /// Adds events; may write a sorted run.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let normalized = normalize(
            &self.table,
            &self.schema,
            batch,
            Stamp {
                commit: self.commit,
                run: self.run,
                deleted: &self.deleted,
                first_row: self.rows_in,
            },
        )?;
        self.rows_in += normalized.num_rows() as u64;
        self.buffered += normalized.num_rows();
        self.buffer.push(normalized);
        if self.buffered >= self.run_rows {
            self.settle().await?;
            self.flush().await?;
        }
        Ok(())
    }

    /// Sorts and writes the buffered run as one file. On a runtime this happens on
    /// its threads while the caller reads the next run; [`CommitWriter::settle`] waits
    /// for it.
    async fn flush(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        self.buffered = 0;
        let (table, schema) = (self.table.clone(), self.schema.clone());
        let new = NewFile {
            kind: FileKind::Delta,
            commit: self.commit,
            base_start: None,
            folds_through: None,
        };
        let run = async move {
            let sorted = sort_for_file(&table, &buffer, &schema)?;
            drop(buffer);
            // One sorted run is one file (a run is at most `run_rows` rows).
            let batches = futures::stream::iter([Ok(sorted)]);
            write_stream(&table, &schema, batches, new, usize::MAX).await
        };
        self.run += 1;
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => self.in_flight.push(handle.spawn(run)),
            Err(_) => self.files.extend(run.await?),
        }
        Ok(())
    }

    /// Waits for the runs in flight and records their files, in run order.
    async fn settle(&mut self) -> Result<()> {
        // Every run is awaited, so that `abort` knows all files written.
        let mut first_err = None;
        for task in std::mem::take(&mut self.in_flight) {
            let files = task.await.map_err(|e| Error::Internal {
                table: self.table.location().to_string(),
                reason: format!("writing a sorted run failed: {e}"),
            });
            match files {
                Ok(Ok(files)) => self.files.extend(files),
                Ok(Err(e)) | Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Abandons the commit and deletes the data files this writer already wrote (runs
    /// flushed by [`CommitWriter::write`]), so that a failed import leaves the table
    /// exactly as before. Dropping the writer instead leaves them as orphans for `vacuum`.
    pub async fn abort(mut self) -> Result<()> {
        // A run still being written is deleted with the others once it is done.
        let _ = self.settle().await;
        for f in &self.files {
            match self
                .table
                .location
                .store
                .delete(&self.table.location.child(&f.path))
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.table.err_store(e)),
            }
        }
        Ok(())
    }

    /// Writes the last run and the snapshot file. On success the commit is visible to
    /// every reader; on [`Error::Conflict`] another writer took the commit number.
    pub async fn finish(mut self) -> Result<CommitInfo> {
        // The last run is sorted while the one before it may still be written.
        self.flush().await?;
        self.settle().await?;
        let mut segments = match self.parent.as_deref() {
            Some(AnySnapshot::V1(p)) => p.segments.clone(),
            _ => vec![Segment::default()],
        };
        for f in &self.files {
            let t = f.min_event_time.unwrap_or(DateTime::<Utc>::MIN_UTC);
            let idx = segments
                .iter()
                .position(|s| s.contains(t))
                .unwrap_or(segments.len().saturating_sub(1));
            if segments.is_empty() {
                segments.push(Segment::default());
            }
            segments[idx].deltas.push(f.clone());
        }
        let summary = CommitSummary {
            operation: "append".into(),
            rows_added: self.files.iter().map(|f| f.rows).sum(),
            files_added: self.files.iter().map(|f| f.path.clone()).collect(),
            min_event_time: self.files.iter().filter_map(|f| f.min_event_time).min(),
            max_event_time: self.files.iter().filter_map(|f| f.max_event_time).max(),
        };
        let snapshot = Snapshot {
            format_version: FORMAT_VERSION,
            commit: self.commit,
            commit_time: Utc::now(),
            schema: self.schema.clone(),
            segments,
            summary,
        };
        publish(&self.table, &snapshot).await?;
        Ok(CommitInfo {
            commit: self.commit,
            rows: snapshot.summary.rows_added,
            files: snapshot.summary.files_added.clone(),
        })
    }
}

/// Publishes a snapshot: put-if-absent of `s{n}.json`, then the `version.txt` hint.
pub(crate) async fn publish(table: &Table, snapshot: &Snapshot) -> Result<()> {
    let file = snapshot_file(snapshot.commit);
    let json = snapshot.to_json().map_err(|e| Error::Internal {
        table: table.location().to_string(),
        reason: format!("cannot serialise snapshot {}: {e}", snapshot.commit),
    })?;
    let opts = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    match table
        .location
        .store
        .put_opts(&table.location.child(&file), PutPayload::from(json), opts)
        .await
    {
        Ok(_) => {}
        Err(object_store::Error::AlreadyExists { .. })
        | Err(object_store::Error::Precondition { .. }) => {
            return Err(Error::Conflict {
                table: table.location().to_string(),
                commit: snapshot.commit,
            })
        }
        Err(e) => return Err(table.err_store(e)),
    }
    // The hint may lag (readers probe forward), so a failure here does not undo the commit.
    let _ = table
        .location
        .store
        .put(
            &table.location.child(VERSION_FILE),
            PutPayload::from(snapshot.commit.to_string()),
        )
        .await;
    Ok(())
}

/// What [`normalize`] stamps on the rows of a batch.
pub(crate) struct Stamp<'a> {
    /// The commit writing them.
    pub commit: Commit,
    /// Their sorted run.
    pub run: u32,
    /// The input column marking tombstones.
    pub deleted: &'a str,
    /// Input rows before this batch (errors count rows from 1 over the whole commit).
    pub first_row: u64,
}

/// Turns a user batch into the file schema: columns by name, cast to the table types,
/// reserved columns added. Errors name the column and the row.
pub(crate) fn normalize(
    table: &Table,
    schema: &TableSchema,
    batch: &RecordBatch,
    stamp: Stamp<'_>,
) -> Result<RecordBatch> {
    let Stamp {
        commit,
        run,
        deleted: deleted_name,
        first_row,
    } = stamp;
    let err = |reason: String| Error::Schema {
        table: table.location().to_string(),
        reason,
    };
    let rows = batch.num_rows();
    let known: std::collections::HashSet<&str> =
        schema.column_names().chain([deleted_name]).collect();
    let extra: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !known.contains(n))
        .collect();
    if !extra.is_empty() {
        return Err(err(format!(
            "column{} '{}' {} not in the table schema (ask for schema evolution to add {}, SPEC §2.1)",
            if extra.len() > 1 { "s" } else { "" },
            extra.join("', '"),
            if extra.len() > 1 { "are" } else { "is" },
            if extra.len() > 1 { "them" } else { "it" },
        )));
    }
    let deleted: BooleanArray = match batch.column_by_name(deleted_name) {
        None => BooleanArray::from(vec![false; rows]),
        Some(a) => a
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                err(format!(
                    "column '{deleted_name}' (deletion marker) must be Boolean, found {}",
                    a.data_type()
                ))
            })?
            .iter()
            .map(|v| Some(v.unwrap_or(false)))
            .collect(),
    };
    let file_schema = schema.file_schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(file_schema.fields().len());
    for name in schema.column_names() {
        let field = schema.arrow_field(name).ok_or_else(|| Error::Internal {
            table: table.location().to_string(),
            reason: format!("no field '{name}'"),
        })?;
        let array = match batch.column_by_name(name) {
            Some(a) => cast_column(a, field.data_type())
                .map_err(|reason| err(format!("column '{name}': {reason}")))?,
            None if field.is_nullable() => arrow::array::new_null_array(field.data_type(), rows),
            None => return Err(err(format!("column '{name}' is missing and not nullable"))),
        };
        // Keys and event times are never null; a tombstone needs no values, and every
        // other row honours the schema's nullability.
        let always = name == schema.key || name == schema.event_time;
        if !field.is_nullable() && array.null_count() > 0 {
            if let Some(row) =
                (0..rows).find(|&i| array.is_null(i) && (always || !deleted.value(i)))
            {
                return Err(err(format!(
                    "column '{name}' is not nullable but row {} is null",
                    first_row + row as u64 + 1
                )));
            }
        }
        columns.push(array);
    }
    columns.push(Arc::new(UInt64Array::from(vec![commit; rows])));
    columns.push(Arc::new(UInt32Array::from(vec![run; rows])));
    columns.push(Arc::new(deleted));
    RecordBatch::try_new(file_schema, columns).map_err(|e| arrow_err(table, e))
}

/// Casts an input column to a table type; only lossless, meaningful casts.
fn cast_column(a: &ArrayRef, to: &DataType) -> Result<ArrayRef, String> {
    let from = a.data_type();
    if from == to {
        return Ok(a.clone());
    }
    check_cast(from, to)?;
    let out = cast(a, to).map_err(|e| e.to_string())?;
    if out.null_count() != a.null_count() {
        return Err(format!("values do not fit {to}"));
    }
    Ok(out)
}

/// Whether input of type `from` may go into a column of type `to` (see [`cast_column`]).
pub(crate) fn check_cast(from: &DataType, to: &DataType) -> Result<(), String> {
    use DataType as T;
    let ok = from == to
        || matches!(
            (from, to),
            (T::Utf8 | T::LargeUtf8 | T::Utf8View, T::Utf8)
                | (T::Int8 | T::Int16 | T::Int32 | T::Int64, T::Int64)
                | (T::UInt8 | T::UInt16 | T::UInt32, T::Int64)
                | (T::Float32 | T::Float64, T::Float64)
                | (T::Int8 | T::Int16 | T::Int32 | T::Int64, T::Float64)
                | (
                    T::Timestamp(_, _) | T::Date32 | T::Date64,
                    T::Timestamp(_, _)
                )
                | (T::Date32 | T::Date64, T::Date32)
                | (T::Null, _)
        );
    if !ok {
        return Err(format!("expected {to}, found {from}"));
    }
    Ok(())
}
