//! `Table::check` judges what retained snapshots reference: after compaction and a vacuum
//! that keeps only the latest snapshot the table is whole, and the snapshots whose files
//! vacuum removed are listed as expired; a file the latest snapshot needs is a problem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{
    ColumnDef, ColumnType, CompactionPolicy, KeyType, Location, Table, TableSchema, VacuumOptions,
};
use object_store::ObjectStoreExt;

fn batch(keys: &[&str], micros: i64) -> RecordBatch {
    let times = vec![micros; keys.len()];
    RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(keys.to_vec())) as _),
        (
            "event_time",
            Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")) as _,
        ),
        ("v", Arc::new(StringArray::from(vec!["x"; keys.len()])) as _),
    ])
    .expect("batch")
}

#[tokio::test]
async fn expired_snapshots_are_not_problems_but_missing_retained_files_are() {
    let location = "memory://check/expired";
    let schema = TableSchema::new(
        KeyType::String,
        vec![ColumnDef::new("v", ColumnType::String)],
    );
    let table = Table::create(location, schema).await.expect("create");
    let day = 86_400_000_000i64;
    for (i, t) in [0, 10 * day, 40 * day].into_iter().enumerate() {
        let keys = [["a", "b"], ["b", "c"], ["c", "d"]][i];
        table.commit(&[batch(&keys, t)]).await.expect("commit");
    }
    let report = table.check().await.expect("check");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.retained, [1, 2, 3]);
    assert!(report.expired.is_empty());

    let policy = CompactionPolicy {
        max_deltas: 0,
        ..Default::default()
    };
    let info = table.compact(&policy).await.expect("compact");
    assert!(info.is_some_and(|i| i.deltas_rewritten > 0));
    let vacuum = table
        .vacuum(&VacuumOptions {
            retain: chrono::TimeDelta::zero(),
            dry_run: false,
        })
        .await
        .expect("vacuum");
    assert!(!vacuum.deleted.is_empty());

    let report = table.check().await.expect("check");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.latest, 4);
    assert_eq!(report.retained, [4]);
    let expired: Vec<u64> = report.expired.iter().map(|e| e.commit).collect();
    assert_eq!(expired, [1, 2, 3]);
    // Every file an expired snapshot misses is one vacuum deleted.
    for e in &report.expired {
        assert!(
            e.missing_files.iter().all(|f| vacuum.deleted.contains(f)),
            "{e:?}"
        );
    }
    assert!(report.unreferenced.is_empty(), "{report:?}");

    // A file the latest snapshot needs goes missing: a problem naming it.
    let snap = table.snapshot(None).await.expect("latest");
    let bazof::AnySnapshot::V1(latest) = snap.as_ref() else {
        panic!("a format-1 snapshot");
    };
    let lost = latest.files()[0].path.clone();
    let loc = Location::parse(location).expect("location");
    loc.store.delete(&loc.child(&lost)).await.expect("delete");
    let report = table.check().await.expect("check");
    assert!(!report.is_ok());
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(report.problems[0].file, lost);
    assert!(
        report.problems[0]
            .reason
            .contains("is missing (named by s4.json)"),
        "{report:?}"
    );
}
