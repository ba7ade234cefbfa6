//! Issue 13 #11: planning calendar segments costs memory in proportion to the segments
//! written (`max_segments`), not to the event-time span: a counting allocator measures
//! the peak while two events 400,000 years apart are compacted into day segments.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use bazof_testkit::alloc::{peak_during, CountingAlloc};

use arrow::array::{Int64Array, RecordBatch, TimestampMicrosecondArray};
use bazof::{
    AnySnapshot, ColumnDef, ColumnType, CompactionPolicy, KeyType, ScanOptions, SegmentWidth,
    Table, TableSchema,
};
use chrono::{TimeZone, Utc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn day_segments_over_400000_years_cost_what_they_write() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let schema = TableSchema::new(KeyType::Int, vec![ColumnDef::new("v", ColumnType::Int)]);
            let table = Table::create("memory://span/t", schema).await.unwrap();
            let times = [
                Utc.with_ymd_and_hms(-200_000, 1, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(200_000, 1, 1, 0, 0, 0).unwrap(),
            ];
            let batch = RecordBatch::try_from_iter([
                ("key", Arc::new(Int64Array::from(vec![1, 2])) as _),
                (
                    "event_time",
                    Arc::new(
                        TimestampMicrosecondArray::from(
                            times
                                .iter()
                                .map(|t| t.timestamp_micros())
                                .collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ) as _,
                ),
                ("v", Arc::new(Int64Array::from(vec![10, 20])) as _),
            ])
            .unwrap();
            table.commit(&[batch]).await.unwrap();
            let before = table
                .scan(ScanOptions::default())
                .await
                .unwrap()
                .collect_batches()
                .await
                .unwrap();

            let policy = CompactionPolicy {
                segment: SegmentWidth::Day,
                ..Default::default()
            };
            let ((), peak) = peak_during(async {
                table.compact(&policy).await.unwrap().unwrap();
            })
            .await;
            // Before the fix this planned one entry per day: 146 million, 1.7 GB.
            assert!(peak < 64 << 20, "compaction peaked at {} MB", peak >> 20);

            let snap = table.snapshot(None).await.unwrap();
            let AnySnapshot::V1(s) = snap.as_ref() else {
                panic!("format 1")
            };
            assert!(
                s.segments.len() <= policy.max_segments + 1,
                "{} segments",
                s.segments.len()
            );
            let after = table
                .scan(ScanOptions::default())
                .await
                .unwrap()
                .collect_batches()
                .await
                .unwrap();
            // Rows, not batches: key-range tasks may cut the answer into other batches.
            assert_eq!(
                bazof_testkit::batch_rows(&before),
                bazof_testkit::batch_rows(&after),
                "compaction changed the answer"
            );
            for (i, t) in times.into_iter().enumerate() {
                let n: usize = table
                    .scan(ScanOptions::default().with_as_of(t))
                    .await
                    .unwrap()
                    .collect_batches()
                    .await
                    .unwrap()
                    .iter()
                    .map(|b| b.num_rows())
                    .sum();
                assert_eq!(n, i + 1, "as of {t}");
            }
        });
}
