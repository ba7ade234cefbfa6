//! `bazof_log(path)`: one row per commit, so that a SQL user can pick a `snapshot`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use bazof::{AnySnapshot, Table};

use crate::runtime::run;
use crate::types::{vector_size, write_batch};

type BoxError = Box<dyn std::error::Error>;

/// The columns of `bazof_log`.
const COLUMNS: [(&str, LogicalTypeId); 7] = [
    ("commit", LogicalTypeId::Bigint),
    ("commit_time", LogicalTypeId::TimestampTZ),
    ("operation", LogicalTypeId::Varchar),
    ("rows_added", LogicalTypeId::Bigint),
    ("files_added", LogicalTypeId::Bigint),
    ("min_event_time", LogicalTypeId::TimestampTZ),
    ("max_event_time", LogicalTypeId::TimestampTZ),
];

/// The table path.
pub struct LogBind {
    path: String,
}

/// The commits, read once per query, and how many rows went out.
pub struct LogInit {
    batch: RecordBatch,
    offset: AtomicUsize,
}

/// The `bazof_log` table function.
pub struct BazofLog;

fn micros(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_micros())
}

/// One row per snapshot; legacy (bazof 0.2) snapshots know only their number.
fn log_batch(snapshots: &[Arc<AnySnapshot>]) -> Result<RecordBatch, BoxError> {
    let mut commit = Vec::new();
    let mut commit_time = Vec::new();
    let mut operation = Vec::new();
    let mut rows_added = Vec::new();
    let mut files_added = Vec::new();
    let mut min_t = Vec::new();
    let mut max_t = Vec::new();
    for s in snapshots {
        commit.push(i64::try_from(s.commit()).ok());
        match s.as_ref() {
            AnySnapshot::V1(s) => {
                commit_time.push(Some(s.commit_time.timestamp_micros()));
                operation.push(Some(s.summary.operation.clone()));
                rows_added.push(i64::try_from(s.summary.rows_added).ok());
                files_added.push(i64::try_from(s.summary.files_added.len()).ok());
                min_t.push(micros(s.summary.min_event_time));
                max_t.push(micros(s.summary.max_event_time));
            }
            _ => {
                commit_time.push(None);
                operation.push(None);
                rows_added.push(None);
                files_added.push(None);
                min_t.push(None);
                max_t.push(None);
            }
        }
    }
    let ts = |v: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(commit)),
        ts(commit_time),
        Arc::new(StringArray::from(operation)),
        Arc::new(Int64Array::from(rows_added)),
        Arc::new(Int64Array::from(files_added)),
        ts(min_t),
        ts(max_t),
    ];
    let names = COLUMNS.iter().map(|(n, _)| *n);
    Ok(RecordBatch::try_from_iter(names.zip(columns))?)
}

impl VTab for BazofLog {
    type BindData = LogBind;
    type InitData = LogInit;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, BoxError> {
        let path = bind.get_parameter(0);
        if path.is_null() {
            return Err("bazof_log: the table path must not be NULL".into());
        }
        for (name, id) in COLUMNS {
            bind.add_result_column(name, LogicalTypeHandle::from(id));
        }
        Ok(LogBind {
            path: path.to_string(),
        })
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        // SAFETY: the bind data `bind` stored for this query, alive until it ends.
        let bind = unsafe { init.get_bind_data::<LogBind>().as_ref() }
            .ok_or("bazof_log: missing bind data")?;
        let path = bind.path.clone();
        let snapshots = run(async move { Table::open(&path).await?.snapshots().await })??;
        init.set_max_threads(1);
        Ok(LogInit {
            batch: log_batch(&snapshots)?,
            offset: AtomicUsize::new(0),
        })
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        let init = func.get_init_data();
        let total = init.batch.num_rows();
        let offset = init
            .offset
            .fetch_add(vector_size(), Ordering::Relaxed)
            .min(total);
        let len = (total - offset).min(vector_size());
        if len == 0 {
            output.set_len(0);
            return Ok(());
        }
        write_batch(&init.batch.slice(offset, len), output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }
}
