//! The process-wide caches of parsed snapshots and footers never answer for another
//! object: a table deleted and re-created at the same path, by new `Table`s of the same
//! process (as each DuckDB query opens the table anew), reads as the new table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, Table, TableSchema};
use bazof_testkit::{current_rows, Value};

fn batch(key: &str, v: i64) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(vec![key])) as _),
        (
            "event_time",
            Arc::new(TimestampMicrosecondArray::from(vec![1]).with_timezone("UTC")) as _,
        ),
        ("v", Arc::new(Int64Array::from(vec![v])) as _),
    ])
    .unwrap()
}

#[test]
fn a_table_recreated_at_the_same_path_reads_anew() {
    let schema = TableSchema::new(KeyType::String, vec![ColumnDef::new("v", ColumnType::Int)]);
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t").to_str().unwrap().to_string();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        for v in 1..=3 {
            let t = Table::create(&loc, schema.clone()).await.unwrap();
            t.commit(&[batch("a", v)]).await.unwrap();
            // Twice: the second read is served from the caches.
            for _ in 0..2 {
                assert_eq!(
                    current_rows(&loc).await.unwrap(),
                    [vec![Value::Str("a".into()), Value::Time(1), Value::Int(v)]],
                    "round {v}"
                );
            }
            std::fs::remove_dir_all(&loc).unwrap();
        }
    });
}
