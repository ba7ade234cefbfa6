//! `bazof_log(path)`: one row per commit, so that a SQL user can pick a `snapshot`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use bazof::blocking::block_on;
use bazof::{LogEntry, Table};

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

/// One row per commit of the core's log.
fn log_batch(log: &[LogEntry]) -> Result<RecordBatch, BoxError> {
    let int = |f: &dyn Fn(&LogEntry) -> Option<u64>| -> ArrayRef {
        Arc::new(Int64Array::from_iter(
            log.iter().map(|e| f(e).and_then(|v| i64::try_from(v).ok())),
        ))
    };
    let ts = |f: &dyn Fn(&LogEntry) -> Option<chrono::DateTime<chrono::Utc>>| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from_iter(log.iter().map(|e| micros(f(e))))
                .with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        int(&|e| Some(e.commit)),
        ts(&|e| e.commit_time),
        Arc::new(StringArray::from_iter(
            log.iter().map(|e| e.operation.as_deref()),
        )),
        int(&|e| e.rows_added),
        int(&|e| e.files_added),
        ts(&|e| e.min_event_time),
        ts(&|e| e.max_event_time),
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
        let log = block_on(async move { Table::open(&path).await?.log().await })?;
        init.set_max_threads(1);
        Ok(LogInit {
            batch: log_batch(&log)?,
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
