//! `bazof_log(path)`: one row per commit, so that a SQL user can pick a `snapshot`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use bazof::blocking::block_on;
use bazof::{LogEntry, Table};

use crate::params::{self, in_function, ArgValue};
use crate::types::{logical_type, vector_size, write_batch};

type BoxError = Box<dyn std::error::Error>;

/// The columns of `bazof_log`.
pub(crate) fn log_schema() -> SchemaRef {
    let time = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("commit", DataType::Int64, true),
        Field::new("commit_time", time(), true),
        Field::new("operation", DataType::Utf8, true),
        Field::new("rows_added", DataType::Int64, true),
        Field::new("files_added", DataType::Int64, true),
        Field::new("min_event_time", time(), true),
        Field::new("max_event_time", time(), true),
    ]))
}

/// The table path of a `bazof_log` call (either C API's value).
pub(crate) fn log_path<V: ArgValue>(path: &V) -> Result<String, BoxError> {
    Ok(in_function("bazof_log", params::path(path))?)
}

/// Reads the commits of the table at `path`, one row each.
pub(crate) fn read_log(path: &str) -> Result<RecordBatch, BoxError> {
    let path = path.to_string();
    let log = block_on(async move { Table::open(&path).await?.log().await })?;
    log_batch(&log)
}

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
    Ok(RecordBatch::try_new(log_schema(), columns)?)
}

impl VTab for BazofLog {
    type BindData = LogBind;
    type InitData = LogInit;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, BoxError> {
        let path = log_path(&bind.get_parameter(0))?;
        for field in log_schema().fields() {
            bind.add_result_column(field.name(), logical_type(field.data_type())?);
        }
        Ok(LogBind { path })
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        // SAFETY: the bind data `bind` stored for this query, alive until it ends.
        let bind = unsafe { init.get_bind_data::<LogBind>().as_ref() }
            .ok_or("bazof_log: missing bind data")?;
        init.set_max_threads(1);
        Ok(LogInit {
            batch: read_log(&bind.path)?,
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
