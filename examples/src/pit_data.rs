//! The customers and orders of the point-in-time join examples (DuckDB and Polars).
//!
//! Commit 1 loads tiers; commit 2 is a late file: bob's upgrade dated Feb 10 (after
//! an order that was already placed) and carol's account closed on Mar 15 (a
//! tombstone: her later order has no tier).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, Table, TableSchema, DELETED_COLUMN};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub fn micros(t: &str) -> Result<i64, Error> {
    Ok(chrono::DateTime::parse_from_rfc3339(t)?.timestamp_micros())
}

/// Tier events: (customer, event time, tier, deleted).
fn tiers(rows: &[(&str, &str, &str, bool)]) -> Result<RecordBatch, Error> {
    let times = rows
        .iter()
        .map(|r| micros(r.1))
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
            "tier",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))) as ArrayRef,
        ),
        (
            DELETED_COLUMN,
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.3)))) as ArrayRef,
        ),
    ])?)
}

/// Orders: (id, customer, time).
pub const ORDERS: [(&str, &str, &str); 7] = [
    ("o1", "alice", "2024-01-15T00:00:00Z"),
    ("o2", "bob", "2024-02-05T00:00:00Z"),
    ("o3", "bob", "2024-02-20T00:00:00Z"),
    ("o4", "carol", "2024-03-20T00:00:00Z"),
    ("o5", "alice", "2024-03-02T00:00:00Z"),
    ("o6", "dave", "2024-02-01T00:00:00Z"),
    ("o7", "carol", "2024-02-01T00:00:00Z"),
];

/// Writes the customers table (two commits) at `location`.
pub fn write_customers(location: &str) -> Result<(), Error> {
    bazof::blocking::block_on(async {
        let schema = TableSchema::new(
            KeyType::String,
            vec![ColumnDef::new("tier", ColumnType::String)],
        );
        let table = Table::create(location, schema).await?;
        table
            .commit(&[tiers(&[
                ("alice", "2024-01-01T00:00:00Z", "gold", false),
                ("alice", "2024-03-01T00:00:00Z", "platinum", false),
                ("bob", "2024-01-01T00:00:00Z", "silver", false),
                ("carol", "2024-02-01T00:00:00Z", "bronze", false),
            ])?])
            .await?;
        table
            .commit(&[tiers(&[
                ("bob", "2024-02-10T00:00:00Z", "gold", false),
                ("carol", "2024-03-15T00:00:00Z", "", true),
            ])?])
            .await?;
        Ok::<_, Error>(())
    })
}

/// What the scenario says the join must give for a few orders: bob's late upgrade
/// reaches o3 (Feb 20) but not o2 (Feb 5); carol's o4 comes after her account closed;
/// dave never was a customer.
pub fn check_story(tier: impl Fn(&str) -> Option<String>) {
    assert_eq!(tier("o2").as_deref(), Some("silver"));
    assert_eq!(tier("o3").as_deref(), Some("gold"));
    assert_eq!(tier("o4"), None);
    assert_eq!(tier("o6"), None);
}
