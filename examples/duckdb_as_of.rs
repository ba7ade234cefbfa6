//! Event-time travel from DuckDB SQL: a late event changes one past answer and not another.
//!
//! Commit 1 records a widget's price of 10 on Jan 1 and 12 on Mar 1. Commit 2 arrives
//! later with an event dated Feb 1 (a price of 11 that was reported late). In SQL,
//! `bazof_scan(path, as_of)` answers "what was the price on Feb 15?" (changed by
//! commit 2) and `snapshot => 1` answers it "as known after commit 1";
//! `bazof_log(path)` lists the commits to choose from.
//!
//! Run: `cargo run -p bazof-examples --example duckdb_as_of`

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, Table, TableSchema};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn prices(rows: &[(&str, &str, i64)]) -> Result<RecordBatch, Error> {
    let time =
        |t: &str| Ok::<_, Error>(chrono::DateTime::parse_from_rfc3339(t)?.timestamp_micros());
    let times = rows
        .iter()
        .map(|r| time(r.1))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_from_iter([
        (
            "key",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
        ),
        (
            "event_time",
            Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")) as ArrayRef,
        ),
        (
            "price",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))) as ArrayRef,
        ),
    ])?)
}

pub fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let location = dir.path().join("prices").to_string_lossy().into_owned();

    // Write the table with the core (its blocking facade: no async runtime needed here).
    bazof::blocking::block_on(async {
        let schema = TableSchema::new(
            KeyType::String,
            vec![ColumnDef::new("price", ColumnType::Int)],
        );
        let table = Table::create(&location, schema).await?;
        table
            .commit(&[prices(&[
                ("widget", "2024-01-01T00:00:00Z", 10),
                ("widget", "2024-03-01T00:00:00Z", 12),
            ])?])
            .await?;
        table
            .commit(&[prices(&[("widget", "2024-02-01T00:00:00Z", 11)])?])
            .await?;
        Ok::<_, Error>(())
    })?;

    // Before the database opens: `WHERE key = …` then prunes by key (C API v2).
    bazof_duckdb::install()?;
    let con = duckdb::Connection::open_in_memory()?;
    bazof_duckdb::register(&con)?;

    let price = |sql: &str| -> Result<i64, Error> { Ok(con.query_row(sql, [], |r| r.get(0))?) };
    let feb15_now = price(&format!(
        "SELECT price FROM bazof_scan('{location}', TIMESTAMP '2024-02-15') WHERE key = 'widget'"
    ))?;
    let feb15_then = price(&format!(
        "SELECT price FROM bazof_scan('{location}', as_of => DATE '2024-02-15', snapshot => 1) WHERE key = 'widget'"
    ))?;
    let jan15 = price(&format!(
        "SELECT price FROM bazof_scan('{location}', as_of => '2024-01-15T00:00:00Z', keys => ['widget'])"
    ))?;
    let current = price(&format!("SELECT price FROM bazof_scan('{location}')"))?;
    println!("widget on Feb 15: {feb15_now} (as known after commit 1: {feb15_then}); on Jan 15: {jan15}; now: {current}");
    assert_eq!((feb15_now, feb15_then, jan15, current), (11, 10, 10, 12));

    let mut stmt = con.prepare(&format!(
        "SELECT commit, operation, rows_added FROM bazof_log('{location}') ORDER BY commit"
    ))?;
    let log: Vec<(i64, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (commit, op, rows) in &log {
        println!("commit {commit}: {op}, {rows} rows");
    }
    assert_eq!(log.len(), 2);
    Ok(())
}
