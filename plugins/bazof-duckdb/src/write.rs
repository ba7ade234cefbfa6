//! `bazof_write(path, query, key => …, event_time => …, deleted => …, evolve => …)`:
//! the rows of a SQL query as one atomic bazof commit.
//!
//! The C API v1 way to write (a database opened without `install`): DuckDB 2.0.0's v1
//! copy functions (`duckdb_create_copy_function`) hand the bind callback the *types* of
//! the copied columns but not their *names*, and a bazof commit matches columns by
//! name. On C API v2, `COPY … TO (FORMAT bazof)` does the same (`capi_v2::copy`).

use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};
use duckdb::Connection;

use bazof::blocking::block_on;
use bazof::{CommitInfo, Table, WriteOptions};

use crate::types::write_batch;

type BoxError = Box<dyn std::error::Error>;

/// An error of [`write_query`]: the query's, or the core's.
pub type WriteError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `query` on `con` and writes its rows to the bazof table at `location` as one
/// atomic commit, creating the table on the first write (schema from the query's
/// columns). Rows stream from DuckDB in Arrow batches into the core's bounded sorted
/// runs, so memory stays bounded. The query's columns are checked against the table
/// before anything is written; on any error the files already written are deleted
/// and the table is unchanged.
pub fn write_query(
    con: &Connection,
    query: &str,
    location: &str,
    options: &WriteOptions,
) -> Result<CommitInfo, WriteError> {
    let mut stmt = con.prepare(query)?;
    let stream = stmt.stream_arrow([])?;
    let schema = stream.get_schema();
    let mut writer = block_on(Table::begin_write(location, &schema, options))?;
    for batch in stream {
        let written: Result<(), WriteError> = match batch {
            Ok(b) => block_on(writer.write(&b)).map_err(Into::into),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = written {
            let _ = block_on(writer.abort());
            return Err(e);
        }
    }
    Ok(block_on(writer.finish())?)
}

/// The connection `bazof_write` runs its queries on: a second connection to the
/// caller's database (a table function cannot run SQL on the caller's own).
pub type WriteConnection = Arc<Mutex<Connection>>;

/// The arguments of one `bazof_write` call.
pub struct WriteBind {
    location: String,
    query: String,
    options: WriteOptions,
}

/// Whether this call has committed yet (it emits one row).
pub struct WriteInit {
    done: Mutex<bool>,
}

/// The `bazof_write` table function (register with the connection's clone as extra
/// info, see [`crate::register`]).
pub struct BazofWrite;

const F: &str = "bazof_write";

/// The result columns: what the commit did.
const COLUMNS: [&str; 3] = ["commit", "rows", "files"];

fn text(bind: &BindInfo, name: &str) -> Result<Option<String>, BoxError> {
    match bind.get_named_parameter(name) {
        Some(v) if !v.is_null() => Ok(Some(v.to_string())),
        _ => Ok(None),
    }
}

impl VTab for BazofWrite {
    type BindData = WriteBind;
    type InitData = WriteInit;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, BoxError> {
        let location = bind.get_parameter(0);
        let query = bind.get_parameter(1);
        if location.is_null() || query.is_null() {
            return Err(format!("{F}: the table path and the query must not be NULL").into());
        }
        let mut options = WriteOptions::new(
            text(bind, "key")?.unwrap_or_else(|| "key".into()),
            text(bind, "event_time")?.unwrap_or_else(|| "event_time".into()),
        );
        options.deleted = text(bind, "deleted")?;
        options.evolve = bind
            .get_named_parameter("evolve")
            .is_some_and(|v| !v.is_null() && v.to_bool());
        for name in COLUMNS {
            bind.add_result_column(name, LogicalTypeHandle::from(LogicalTypeId::Bigint));
        }
        // Bind runs twice per query: nothing is read or written here.
        Ok(WriteBind {
            location: location.to_string(),
            query: query.to_string(),
            options,
        })
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        init.set_max_threads(1);
        Ok(WriteInit {
            done: Mutex::new(false),
        })
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        let mut done = func
            .get_init_data()
            .done
            .lock()
            .map_err(|_| format!("{F}: an earlier call failed"))?;
        if *done {
            output.set_len(0);
            return Ok(());
        }
        *done = true;
        let bind = func.get_bind_data();
        // SAFETY: `register` stores a `WriteConnection` as this function's extra info;
        // DuckDB keeps it alive (and hands out the same pointer) while the function is
        // registered, which outlasts every call.
        let con = unsafe { func.get_extra_info::<WriteConnection>().as_ref() }
            .ok_or_else(|| format!("{F}: no connection to run the query on"))?;
        let con = con
            .lock()
            .map_err(|_| format!("{F}: an earlier call failed"))?;
        let info = write_query(&con, &bind.query, &bind.location, &bind.options)
            .map_err(|e| format!("{F}: {e}"))?;
        let int = |v: u64| -> ArrayRef { Arc::new(Int64Array::from(vec![v as i64])) };
        let row = RecordBatch::try_from_iter([
            (COLUMNS[0], int(info.commit)),
            (COLUMNS[1], int(info.rows)),
            (COLUMNS[2], int(info.files.len() as u64)),
        ])?;
        write_batch(&row, output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
        ])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        let varchar = || LogicalTypeHandle::from(LogicalTypeId::Varchar);
        Some(vec![
            ("key".into(), varchar()),
            ("event_time".into(), varchar()),
            ("deleted".into(), varchar()),
            (
                "evolve".into(),
                LogicalTypeHandle::from(LogicalTypeId::Boolean),
            ),
        ])
    }
}
