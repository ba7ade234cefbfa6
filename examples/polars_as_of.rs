//! Event-time travel from Polars: a late event changes one past answer and not another.
//!
//! Commit 1 records a widget's price of 10 on Jan 1 and 12 on Mar 1. Commit 2 arrives
//! later with an event dated Feb 1 (a price of 11 that was reported late). "What was
//! the price on Feb 15?" changes with commit 2; "on Jan 15?" does not. The snapshot
//! (commit) answers "as known when".
//!
//! Run: `cargo run -p bazof-examples --example polars_as_of`

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, Table, TableSchema};
use bazof_polars::{scan_bazof, ScanArgsBazof};
use polars::prelude::*;

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

/// The widget's price on `day`, as known at `snapshot` (None = now).
fn widget_price(location: &str, day: &str, snapshot: Option<u64>) -> Result<i64, Error> {
    let mut args = ScanArgsBazof::default().with_as_of_str(day)?;
    if let Some(s) = snapshot {
        args = args.with_snapshot(s);
    }
    let df = scan_bazof(location, args)?
        .filter(col("key").eq(lit("widget")))
        .select([col("price")])
        .collect()?;
    df.column("price")?
        .i64()?
        .get(0)
        .ok_or_else(|| "no widget price".into())
}

pub fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let location = dir.path().join("prices").to_string_lossy().into_owned();
    let schema = TableSchema::new(
        KeyType::String,
        vec![ColumnDef::new("price", ColumnType::Int)],
    );

    bazof::blocking::block_on(async {
        let table = Table::create(&location, schema).await?;
        table
            .commit(&[prices(&[
                ("widget", "2024-01-01T00:00:00Z", 10),
                ("widget", "2024-03-01T00:00:00Z", 12),
                ("gadget", "2024-01-01T00:00:00Z", 5),
            ])?])
            .await?;
        // The late event: dated Feb 1, committed after the March price.
        table
            .commit(&[prices(&[("widget", "2024-02-01T00:00:00Z", 11)])?])
            .await?;
        Ok::<_, Error>(())
    })?;

    for (day, before, after) in [
        ("2024-01-15", 10, 10),
        ("2024-02-15", 10, 11),
        ("2024-03-15", 12, 12),
    ] {
        let known_then = widget_price(&location, day, Some(1))?;
        let known_now = widget_price(&location, day, None)?;
        println!("widget on {day}: {known_then} as known at commit 1, {known_now} as known now");
        assert_eq!((known_then, known_now), (before, after));
    }

    // The whole table on Feb 15, as a Polars frame.
    let feb = scan_bazof(
        &location,
        ScanArgsBazof::default().with_as_of_str("2024-02-15")?,
    )?
    .collect()?;
    println!("{feb}");
    assert_eq!(feb.height(), 2);
    Ok(())
}
