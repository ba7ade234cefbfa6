//! `check --data`: every row of a data file, decoded, against what SPEC §4 and the
//! snapshot say of it. Scans trust both: they merge files assuming the §4 order, and
//! prune files by the snapshot's key, event-time and commit ranges, so a file that
//! breaks either gives wrong answers without an error.

use std::cmp::Ordering;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType, UInt32Type, UInt64Type};
use futures::StreamExt;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::arrow::ParquetRecordBatchStreamBuilder;

use crate::decode_guard::guard_stream;
use crate::schema::{COMMIT_COLUMN, SEQ_COLUMN};
use crate::snapshot::{DataFile, FileKind, KeyValue};
use crate::table::Table;
use crate::time::format_micros;

/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;

/// The key column of one batch, typed.
enum Keys<'a> {
    Int(&'a arrow::array::PrimitiveArray<Int64Type>),
    Str(&'a arrow::array::StringArray),
}

impl Keys<'_> {
    fn of(column: &dyn Array) -> Option<Keys<'_>> {
        if let Some(a) = column.as_primitive_opt::<Int64Type>() {
            return Some(Keys::Int(a));
        }
        column.as_string_opt::<i32>().map(Keys::Str)
    }
    fn value(&self, i: usize) -> KeyValue {
        match self {
            Keys::Int(a) => KeyValue::Int(a.value(i)),
            Keys::Str(a) => KeyValue::String(a.value(i).to_string()),
        }
    }
    /// Row `i` against row `j` (SPEC §2: numbers, or UTF-8 bytes).
    fn cmp(&self, i: usize, j: usize) -> Ordering {
        match self {
            Keys::Int(a) => a.value(i).cmp(&a.value(j)),
            Keys::Str(a) => a.value(i).as_bytes().cmp(a.value(j).as_bytes()),
        }
    }
}

/// The sort tuple of a row (SPEC §4), kept across batches.
type Last = (KeyValue, i64, u64, u32);

/// What the rows must satisfy, from the snapshot's record of the file.
struct Bounds {
    times: Option<(i64, i64)>,
    commits: (u64, u64),
    /// Bases: events before the segment start, from commits up to the folded one.
    base: Option<(Option<i64>, Option<u64>)>,
}

/// Reads every row of the bazof data file at `path` (every page of every column
/// decoded) and checks the §4 order and the snapshot's ranges (`record`); for a bazof
/// 0.2 file (`record` is `None`) only that it decodes. Returns the first violation.
pub(super) async fn check_rows(
    table: &Table,
    path: &str,
    size: u64,
    meta: ArrowReaderMetadata,
    record: Option<&DataFile>,
) -> Option<String> {
    let reader = table.parquet_reader(path, Some(size));
    let stream = match ParquetRecordBatchStreamBuilder::new_with_metadata(reader, meta)
        .with_batch_size(BATCH_ROWS)
        .build()
    {
        Ok(s) => s.map(|b| b.map_err(|e| format!("is corrupt: {e}"))),
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    let mut batches = Box::pin(guard_stream(stream, |reason| reason));
    let bounds = record.map(|f| Bounds {
        times: f
            .min_event_time
            .zip(f.max_event_time)
            .map(|(lo, hi)| (lo.timestamp_micros(), hi.timestamp_micros())),
        commits: (f.min_commit, f.max_commit),
        base: (f.kind == FileKind::Base)
            .then(|| (f.base_start.map(|t| t.timestamp_micros()), f.folds_through)),
    });
    let mut last: Option<Last> = None;
    let mut row = 0usize;
    while let Some(batch) = batches.next().await {
        let batch = match batch {
            Ok(b) => b,
            Err(reason) => return Some(format!("{reason} (in the rows from row {row})")),
        };
        if let (Some(record), Some(bounds)) = (record, &bounds) {
            if let Err(problem) = check_batch(&batch, row, record, bounds, &mut last) {
                return Some(problem);
            }
        }
        row += batch.num_rows();
    }
    let (Some(record), Some((last_key, ..))) = (record, &last) else {
        return None;
    };
    match &record.max_key {
        Some(max) if last_key > max => Some(format!(
            "key {last_key} (row {}) is above the snapshot's max_key {max}",
            row.saturating_sub(1)
        )),
        _ => None,
    }
}

/// Checks one batch of a bazof file; `first` is the file row of its row 0.
fn check_batch(
    batch: &RecordBatch,
    first: usize,
    record: &DataFile,
    bounds: &Bounds,
    last: &mut Option<Last>,
) -> Result<(), String> {
    if batch.num_rows() == 0 {
        return Ok(());
    }
    let keys = Keys::of(batch.column(0).as_ref()).ok_or("the key column is not Int or String")?;
    let times = batch
        .column(1)
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or("column 1 is not the event time")?;
    let commits = batch
        .column_by_name(COMMIT_COLUMN)
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        .ok_or("no _bazof_commit column")?;
    let seqs = batch
        .column_by_name(SEQ_COLUMN)
        .and_then(|c| c.as_primitive_opt::<UInt32Type>())
        .ok_or("no _bazof_seq column")?;
    if last.is_none() {
        if let Some(min) = &record.min_key {
            let key = keys.value(0);
            if &key < min {
                return Err(format!(
                    "key {key} (row {first}) is below the snapshot's min_key {min}"
                ));
            }
        }
    }
    let tuple = |i: usize| (times.value(i), commits.value(i), seqs.value(i));
    for i in 0..batch.num_rows() {
        let row = first + i;
        let order = match (i, &*last) {
            (0, None) => Ordering::Greater,
            (0, Some((key, t, c, s))) => keys
                .value(0)
                .cmp(key)
                .then_with(|| tuple(0).cmp(&(*t, *c, *s))),
            _ => keys.cmp(i, i - 1).then_with(|| tuple(i).cmp(&tuple(i - 1))),
        };
        if order != Ordering::Greater {
            return Err(format!(
                "row {row} is not after row {} in (key, event time, _bazof_commit, \
                 _bazof_seq) order (SPEC §4)",
                row.saturating_sub(1)
            ));
        }
        let (t, c, _) = tuple(i);
        if let Some((lo, hi)) = bounds.times {
            if t < lo || t > hi {
                return Err(format!(
                    "row {row}: event time {} is outside the snapshot's {} .. {}",
                    format_micros(t),
                    format_micros(lo),
                    format_micros(hi)
                ));
            }
        }
        if c < bounds.commits.0 || c > bounds.commits.1 {
            return Err(format!(
                "row {row}: _bazof_commit {c} is outside the snapshot's {} .. {}",
                bounds.commits.0, bounds.commits.1
            ));
        }
        if let Some((start, folds)) = bounds.base {
            if let Some(start) = start.filter(|s| t >= *s) {
                return Err(format!(
                    "row {row}: event time {} is not before the base's start {}",
                    format_micros(t),
                    format_micros(start)
                ));
            }
            if let Some(folds) = folds.filter(|f| c > *f) {
                return Err(format!(
                    "row {row}: _bazof_commit {c} is after {folds}, the last commit the base folds"
                ));
            }
        }
    }
    let end = batch.num_rows() - 1;
    let (t, c, s) = tuple(end);
    *last = Some((keys.value(end), t, c, s));
    Ok(())
}
