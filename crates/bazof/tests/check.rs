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

/// The schema of [`batch`].
fn batch_schema() -> TableSchema {
    TableSchema::new(
        KeyType::String,
        vec![ColumnDef::new("v", ColumnType::String)],
    )
}

#[tokio::test]
async fn expired_snapshots_are_not_problems_but_missing_retained_files_are() {
    let location = "memory://check/expired";
    let table = Table::create(location, batch_schema())
        .await
        .expect("create");
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

/// Every problem of a report on one line each (the damage loop matches file names).
fn problems(report: &bazof::CheckReport) -> Result<(), String> {
    match report.is_ok() {
        true => Ok(()),
        false => Err(report
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// `check_data` reads every row: a compacted table with bases and deltas passes, and
/// so does a bazof 0.2 table (whose rows it only decodes); damage inside pages, which
/// `check` (footers only) does not see, is a problem naming the file.
#[test]
fn check_data_decodes_every_page() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let table = Table::create("memory://check/data", batch_schema())
            .await
            .unwrap();
        let day = 86_400_000_000i64;
        for (i, t) in [0, 10 * day, 40 * day, 5 * day].into_iter().enumerate() {
            let keys = [["a", "b"], ["b", "c"], ["c", "d"], ["a", "d"]][i];
            table.commit(&[batch(&keys, t)]).await.unwrap();
        }
        let policy = CompactionPolicy {
            max_deltas: 0,
            ..Default::default()
        };
        table.compact(&policy).await.unwrap();
        let report = table.check_data().await.unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert!(report.files_checked >= 2, "{report:?}");
        let legacy = Table::open(bazof_testkit::fixture("financials").to_str().unwrap())
            .await
            .unwrap();
        let report = legacy.check_data().await.unwrap();
        assert!(report.is_ok(), "{report:?}");
    });

    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().into_owned();
    let victim = bazof_testkit::damage::one_file_table(&location);
    let table = rt.block_on(Table::open(&location)).unwrap();
    let mut only_data_sees_it = 0;
    bazof_testkit::damage::at_every_offset(&victim, 3, || {
        let data = problems(&rt.block_on(table.check_data()).unwrap());
        let footers = problems(&rt.block_on(table.check()).unwrap());
        if data.is_err() && footers.is_ok() {
            only_data_sees_it += 1;
        }
        // Whatever the footers show wrong, reading the rows shows too.
        assert!(footers.is_ok() || data.is_err(), "{footers:?}");
        data
    });
    assert!(only_data_sees_it > 0);
}

/// Rows that break SPEC §4's order, or lie outside the ranges the snapshot records,
/// give wrong answers without an error (scans merge by that order and prune by those
/// ranges): `check_data` names them; `check`, which reads footers only, cannot.
#[test]
fn check_data_finds_rows_out_of_order_or_outside_the_snapshot_ranges() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;

    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().into_owned();
    let victim = bazof_testkit::damage::one_file_table(&location);
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    let snapshot = dir.path().join("t/s1.json");
    let pristine = (
        std::fs::read(&victim).unwrap(),
        std::fs::read(&snapshot).unwrap(),
    );
    // Edits the snapshot's record of the data file.
    let edit_record = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&snapshot).unwrap()).unwrap();
        for segment in json["segments"].as_array_mut().unwrap() {
            for file in segment["deltas"].as_array_mut().unwrap() {
                edit(file);
            }
        }
        std::fs::write(&snapshot, serde_json::to_vec(&json).unwrap()).unwrap();
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reports = || {
        rt.block_on(async {
            let table = Table::open(&location).await.unwrap();
            (
                problems(&table.check().await.unwrap()),
                problems(&table.check_data().await.unwrap()),
            )
        })
    };

    // The same rows, written in reverse order (the snapshot's size updated).
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&victim).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let rows = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let reversed: Vec<u32> = (0..rows.num_rows() as u32).rev().collect();
    let reversed =
        arrow::compute::take_record_batch(&rows, &arrow::array::UInt32Array::from(reversed))
            .unwrap();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&victim).unwrap(),
        reversed.schema(),
        None,
    )
    .unwrap();
    writer.write(&reversed).unwrap();
    writer.close().unwrap();
    let size = std::fs::metadata(&victim).unwrap().len();
    edit_record(&|file| file["bytes"] = size.into());
    let (footers, data) = reports();
    assert!(footers.is_ok(), "{footers:?}");
    let data = data.unwrap_err();
    assert!(data.contains(&name) && data.contains("order"), "{data}");

    // The original rows, but the snapshot says the file ends earlier in event time.
    std::fs::write(&victim, &pristine.0).unwrap();
    std::fs::write(&snapshot, &pristine.1).unwrap();
    assert_eq!(reports(), (Ok(()), Ok(())));
    edit_record(&|file| file["max_event_time"] = "1970-01-01T00:00:01.000000Z".into());
    let (footers, data) = reports();
    assert!(footers.is_ok(), "{footers:?}");
    let data = data.unwrap_err();
    assert!(
        data.contains(&name) && data.contains("event time"),
        "{data}"
    );

    // Or that its keys end before they do.
    std::fs::write(&snapshot, &pristine.1).unwrap();
    edit_record(&|file| file["max_key"] = "k050".into());
    let data = reports().1.unwrap_err();
    assert!(data.contains("max_key"), "{data}");

    // A base holds the state before its start: one whose recorded start comes before
    // its rows' event times is named.
    std::fs::write(&snapshot, &pristine.1).unwrap();
    rt.block_on(async {
        let table = Table::open(&location).await.unwrap();
        table.compact(&CompactionPolicy::default()).await.unwrap();
    });
    assert_eq!(reports(), (Ok(()), Ok(())));
    let latest = dir.path().join("t/s2.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&latest).unwrap()).unwrap();
    let bases: Vec<&mut serde_json::Value> = json["segments"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter(|g| !g["base"].is_null())
        .collect();
    assert!(!bases.is_empty(), "compaction wrote no base");
    for g in bases {
        g["base"]["base_start"] = "1970-01-01T00:00:00.000001Z".into();
    }
    std::fs::write(&latest, serde_json::to_vec(&json).unwrap()).unwrap();
    let data = reports().1.unwrap_err();
    assert!(data.contains("base's start"), "{data}");
}
