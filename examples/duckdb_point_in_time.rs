//! A point-in-time join in DuckDB: every order gets the customer's tier *at the
//! order's own time*, from `bazof_history` and DuckDB's `ASOF JOIN`, and the answer
//! equals a naive join that asks `bazof_scan` as of each order's time, row by row.
//!
//! Commit 1 loads tiers; commit 2 is a late file: bob's upgrade dated Feb 10 (after
//! orders that were already placed) and carol's account closed on Mar 15 (a tombstone:
//! her later order has no tier).
//!
//! Run: `cargo run -p bazof-examples --example duckdb_point_in_time`

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, Table, TableSchema, DELETED_COLUMN};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn micros(t: &str) -> Result<i64, Error> {
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
const ORDERS: [(&str, &str, &str); 7] = [
    ("o1", "alice", "2024-01-15T00:00:00Z"),
    ("o2", "bob", "2024-02-05T00:00:00Z"),
    ("o3", "bob", "2024-02-20T00:00:00Z"),
    ("o4", "carol", "2024-03-20T00:00:00Z"),
    ("o5", "alice", "2024-03-02T00:00:00Z"),
    ("o6", "dave", "2024-02-01T00:00:00Z"),
    ("o7", "carol", "2024-02-01T00:00:00Z"),
];

pub fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let location = dir.path().join("customers").to_string_lossy().into_owned();
    bazof::blocking::block_on(async {
        let schema = TableSchema::new(
            KeyType::String,
            vec![ColumnDef::new("tier", ColumnType::String)],
        );
        let table = Table::create(&location, schema).await?;
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
    })?;

    let con = duckdb::Connection::open_in_memory()?;
    bazof_duckdb::register(&con)?;
    con.execute_batch("CREATE TABLE orders (id VARCHAR, customer VARCHAR, at TIMESTAMPTZ)")?;
    for (id, customer, at) in ORDERS {
        con.execute(
            "INSERT INTO orders VALUES (?, ?, CAST(? AS TIMESTAMPTZ))",
            [id, customer, at],
        )?;
    }

    // The point-in-time join: the version in effect at the order's time, if any
    // (a version ends at valid_to: a deletion leaves a gap).
    let mut stmt = con.prepare(&format!(
        "SELECT o.id, CASE WHEN h.valid_to IS NULL OR o.at < h.valid_to THEN h.tier END AS tier
         FROM orders o ASOF LEFT JOIN bazof_history('{location}') h
           ON o.customer = h.key AND o.at >= h.valid_from
         ORDER BY o.id"
    ))?;
    let joined: Vec<(String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;

    // The naive join: one as-of scan per order.
    let mut naive = Vec::new();
    let mut sorted = ORDERS.to_vec();
    sorted.sort();
    for (id, customer, at) in sorted {
        let tier: Option<String> = con
            .query_row(
                &format!(
                    "SELECT max(tier) FROM bazof_scan('{location}', as_of => '{at}', keys => ['{customer}'])"
                ),
                [],
                |r| r.get(0),
            )?;
        naive.push((id.to_string(), tier));
    }
    for (id, tier) in &joined {
        println!("{id}: {}", tier.as_deref().unwrap_or("-"));
    }
    assert_eq!(
        joined, naive,
        "the ASOF JOIN equals one as-of scan per order"
    );
    // bob's late upgrade reaches o3 (Feb 20) but not o2 (Feb 5); carol's o4 comes
    // after her account closed; dave never was a customer.
    let tier = |id: &str| joined.iter().find(|r| r.0 == id).and_then(|r| r.1.clone());
    assert_eq!(tier("o2").as_deref(), Some("silver"));
    assert_eq!(tier("o3").as_deref(), Some("gold"));
    assert_eq!(tier("o4"), None);
    assert_eq!(tier("o6"), None);
    Ok(())
}
