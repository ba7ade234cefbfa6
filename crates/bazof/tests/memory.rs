//! A scan's memory is bounded by open files x row-group size and, read in key order,
//! by the key ranges running ahead (about 512k rows each), not by table size: a
//! counting allocator measures the peak while a table ~10x larger is scanned.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use bazof_testkit::alloc::{peak_during, CountingAlloc};

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, ScanOptions, Table, TableSchema};
use futures::StreamExt;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const COMMITS: usize = 4;

fn commit_batch(c: usize, rows: usize) -> RecordBatch {
    let keys: Vec<String> = (0..rows)
        .map(|i| format!("key-{:09}", (i * 7919 + c) % 1_000_000))
        .collect();
    RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(keys)) as _),
        (
            "event_time",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values((0..rows).map(|i| (i + c * 13) as i64))
                    .with_timezone("UTC"),
            ) as _,
        ),
        (
            "v",
            Arc::new(Int64Array::from_iter_values(
                (0..rows).map(|i| (i * c) as i64),
            )) as _,
        ),
        (
            "s",
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("value-{}", i % 977)),
            )) as _,
        ),
    ])
    .unwrap()
}

/// Writes a table of COMMITS commits of `rows` rows; returns (Arrow bytes written, scan peak bytes).
fn measure(rt: &tokio::runtime::Runtime, rows: usize) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("big").to_str().unwrap().to_string();
    let table_bytes: usize = rt.block_on(async {
        let schema = TableSchema::new(
            KeyType::String,
            vec![
                ColumnDef::new("v", ColumnType::Int),
                ColumnDef::new("s", ColumnType::String),
            ],
        );
        let t = Table::create(&loc, schema).await.unwrap();
        let mut bytes = 0;
        for c in 0..COMMITS {
            let b = commit_batch(c, rows);
            bytes += b.get_array_memory_size();
            t.commit(&[b]).await.unwrap();
        }
        bytes
    });
    let (out, peak) = rt.block_on(async {
        let t = Table::open(&loc).await.unwrap();
        peak_during(async {
            let mut stream = t.scan(ScanOptions::default()).await.unwrap();
            let mut out = 0;
            while let Some(b) = stream.next().await {
                out += b.unwrap().num_rows();
            }
            out
        })
        .await
    });
    // More key ranges than tasks (2 here) for the bigger table: read in key order
    // through a window of two, they give what one merge gives.
    rt.block_on(async {
        let t = Table::open(&loc).await.unwrap();
        let two = ScanOptions::default().with_tasks(2);
        let plan = t.plan(&two).await.unwrap();
        let ranges = bazof::scan::tasks::ranges_for(&plan, 2);
        let windowed = t
            .execute(plan)
            .await
            .unwrap()
            .collect_batches()
            .await
            .unwrap();
        let one = t.scan(ScanOptions::default().with_tasks(1)).await.unwrap();
        let one = one.collect_batches().await.unwrap();
        let concat = |b: &[RecordBatch]| arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
        assert_eq!(concat(&windowed), concat(&one), "{ranges} ranges");
        assert!(rows < 400_000 || ranges > 2, "{ranges} ranges");
    });
    eprintln!(
        "table: {} rows, {:.1} MB in Arrow; scan: {out} rows out, peak {:.1} MB above baseline ({:.1}%)",
        COMMITS * rows,
        table_bytes as f64 / 1e6,
        peak as f64 / 1e6,
        100.0 * peak as f64 / table_bytes as f64
    );
    assert!(out > 0);
    (table_bytes, peak)
}

#[test]
fn scan_peak_memory_is_bounded_by_open_files_not_table_size() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (small_table, small_peak) = measure(&rt, 100_000);
    let (big_table, big_peak) = measure(&rt, 400_000);
    assert!(big_table > 3 * small_table);
    // Same number of files, four times the rows: the peak stays flat (one compressed
    // row group plus a few decoded batches per open file, and the output of the key
    // ranges running ahead), far below the table size.
    assert!(
        (big_peak as f64) < 1.5 * small_peak as f64 + 4e6,
        "peak grew with the table: {small_peak} B -> {big_peak} B"
    );
    assert!(
        big_peak < big_table / 3,
        "scan peak {big_peak} B is not bounded (table {big_table} B)"
    );
}
