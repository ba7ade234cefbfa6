//! Helpers shared by the DuckDB door's test binaries.

use arrow::array::RecordBatch;
use bazof_testkit::{batch_rows, Value};
use duckdb::Connection;

/// Runs `sql` and returns its rows as test-kit values (panics naming the query).
pub fn rows(con: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = con.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batches: Vec<RecordBatch> = stmt
        .query_arrow([])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect();
    batch_rows(&batches)
}
