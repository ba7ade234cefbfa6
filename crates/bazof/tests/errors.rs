//! Bad metadata, bad files and bad input give clear, typed errors (never a panic).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{
    ColumnDef, ColumnType, Error, HistoryOptions, KeyType, ScanOptions, Table, TableSchema,
};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn schema() -> TableSchema {
    TableSchema::new(
        KeyType::String,
        vec![ColumnDef::new("v", ColumnType::Int).with_nullable(false)],
    )
}

fn batch(keys: &[&str], times: &[i64], v: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(keys.to_vec())) as _),
        (
            "event_time",
            Arc::new(TimestampMicrosecondArray::from(times.to_vec()).with_timezone("UTC")) as _,
        ),
        ("v", Arc::new(Int64Array::from(v.to_vec())) as _),
    ])
    .unwrap()
}

/// A table with two commits in a temp dir.
fn table() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t").to_str().unwrap().to_string();
    rt().block_on(async {
        let t = Table::create(&loc, schema()).await.unwrap();
        t.commit(&[batch(&["a", "b"], &[1, 2], &[1, 2])])
            .await
            .unwrap();
        t.commit(&[batch(&["a"], &[3], &[3])]).await.unwrap();
    });
    (dir, loc)
}

fn scan_err(loc: &str) -> Error {
    rt().block_on(async {
        match Table::open(loc).await {
            Err(e) => e,
            Ok(t) => match t.scan(ScanOptions::default()).await {
                Err(e) => e,
                Ok(s) => s.collect_batches().await.expect_err("scan should fail"),
            },
        }
    })
}

fn data_files(loc: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(format!("{loc}/data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn malformed_snapshot_json() {
    let (_d, loc) = table();
    std::fs::write(
        format!("{loc}/s2.json"),
        b"{\"format_version\": 1, \"commit\": ",
    )
    .unwrap();
    let e = scan_err(&loc);
    assert!(matches!(e, Error::CorruptMetadata { .. }), "{e}");
    assert!(e.to_string().contains("s2.json"), "{e}");
}

#[test]
fn unknown_format_version() {
    let (_d, loc) = table();
    let text = std::fs::read_to_string(format!("{loc}/s2.json")).unwrap();
    std::fs::write(
        format!("{loc}/s2.json"),
        text.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    let e = scan_err(&loc);
    assert!(
        matches!(e, Error::UnsupportedFormatVersion { version: 99, .. }),
        "{e}"
    );
}

#[test]
fn missing_data_file() {
    let (_d, loc) = table();
    let victim = data_files(&loc).remove(0);
    std::fs::remove_file(&victim).unwrap();
    let e = scan_err(&loc);
    assert!(matches!(e, Error::DataFile { .. }), "{e}");
    assert!(
        e.to_string()
            .contains(victim.file_name().unwrap().to_str().unwrap()),
        "{e}"
    );
    assert!(e.to_string().contains("is missing"), "{e}");
}

/// Scans keep the footers they read (data files are immutable); a file replaced by one
/// of another size is read again, so the replacement is reported, not decoded with the
/// old footer.
#[test]
fn a_replaced_file_is_not_read_with_a_cached_footer() {
    let (_d, loc) = table();
    let rows = |loc: &str| {
        rt().block_on(async {
            let t = Table::open(loc).await.unwrap();
            let s = t.scan(ScanOptions::default()).await.unwrap();
            let batches = s.collect_batches().await.unwrap();
            batches.iter().map(|b| b.num_rows()).sum::<usize>()
        })
    };
    assert_eq!(rows(&loc), 2);
    // The second scan is served by the cached footers, and answers the same.
    assert_eq!(rows(&loc), 2);
    let victim = data_files(&loc).remove(0);
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let e = scan_err(&loc);
    assert!(matches!(e, Error::DataFile { .. }), "{e}");
    assert!(e.to_string().contains("replaced or truncated"), "{e}");
}

#[test]
fn truncated_data_file() {
    let (_d, loc) = table();
    let victim = data_files(&loc).remove(0);
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let e = scan_err(&loc);
    assert!(matches!(e, Error::DataFile { .. }), "{e}");
}

#[test]
fn data_file_schema_disagrees_with_snapshot() {
    let (_d, loc) = table();
    // Rewrite every data file with `v` as a string column.
    for f in data_files(&loc) {
        let b = RecordBatch::try_from_iter([
            ("key", Arc::new(StringArray::from(vec!["a"])) as _),
            (
                "event_time",
                Arc::new(TimestampMicrosecondArray::from(vec![1]).with_timezone("UTC")) as _,
            ),
            ("v", Arc::new(StringArray::from(vec!["x"])) as _),
            (
                "_bazof_commit",
                Arc::new(arrow::array::UInt64Array::from(vec![1])) as _,
            ),
            (
                "_bazof_seq",
                Arc::new(arrow::array::UInt32Array::from(vec![0])) as _,
            ),
            (
                "_bazof_deleted",
                Arc::new(arrow::array::BooleanArray::from(vec![false])) as _,
            ),
        ])
        .unwrap();
        let file = std::fs::File::create(&f).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
    let e = scan_err(&loc);
    assert!(e.to_string().contains("replaced or truncated"), "{e}");
    // With sizes patched to match, the type clash itself is reported.
    for s in ["s1.json", "s2.json"] {
        let path = format!("{loc}/{s}");
        let mut snap: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for d in snap["segments"][0]["deltas"].as_array_mut().unwrap() {
            let size = std::fs::metadata(format!("{loc}/{}", d["path"].as_str().unwrap()))
                .unwrap()
                .len();
            d["bytes"] = size.into();
        }
        std::fs::write(&path, serde_json::to_vec(&snap).unwrap()).unwrap();
    }
    let e = scan_err(&loc);
    assert!(matches!(e, Error::DataFile { .. }), "{e}");
    assert!(e.to_string().contains("column 'v'"), "{e}");
}

#[test]
fn version_hint_past_the_last_snapshot() {
    let (_d, loc) = table();
    std::fs::write(format!("{loc}/version.txt"), "7\n").unwrap();
    let e = scan_err(&loc);
    assert!(matches!(e, Error::CorruptMetadata { .. }), "{e}");
    assert!(e.to_string().contains("s7.json"), "{e}");
}

#[test]
fn garbage_version_hint() {
    let (_d, loc) = table();
    std::fs::write(format!("{loc}/version.txt"), "two").unwrap();
    assert!(matches!(scan_err(&loc), Error::CorruptMetadata { .. }));
}

#[test]
fn lagging_version_hint_is_probed_forward() {
    let (_d, loc) = table();
    std::fs::write(format!("{loc}/version.txt"), " 1 \n").unwrap();
    let latest = rt().block_on(async {
        Table::open(&loc)
            .await
            .unwrap()
            .latest_commit()
            .await
            .unwrap()
    });
    assert_eq!(latest, 2);
}

#[test]
fn not_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let e = scan_err(dir.path().to_str().unwrap());
    assert!(matches!(e, Error::NotATable { .. }), "{e}");
    // A file given as the table (a data file, a snapshot, any file) says so, for
    // reading and for creating alike.
    let file = dir.path().join("events.csv");
    std::fs::write(&file, "key,event_time\n").unwrap();
    let e = scan_err(file.to_str().unwrap());
    assert!(
        matches!(e, Error::InvalidLocation { .. }) && e.to_string().contains("it is a file"),
        "{e}"
    );
    let created = rt().block_on(Table::create(file.to_str().unwrap(), schema()));
    assert!(created.is_err_and(|e| e.to_string().contains("it is a file")));
}

#[test]
fn unknown_column_and_bad_snapshot() {
    let (_d, loc) = table();
    rt().block_on(async {
        let t = Table::open(&loc).await.unwrap();
        let e = t
            .scan(ScanOptions::default().with_columns(["nope"]))
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("unknown column 'nope'"), "{e}");
        let e = t
            .scan(ScanOptions::default().with_snapshot(9))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                e,
                Error::SnapshotNotFound {
                    snapshot: 9,
                    latest: 2,
                    ..
                }
            ),
            "{e}"
        );
    });
}

#[test]
fn commit_schema_mismatch_names_the_column() {
    let (_d, loc) = table();
    rt().block_on(async {
        let t = Table::open(&loc).await.unwrap();
        let wrong = RecordBatch::try_from_iter([
            ("key", Arc::new(StringArray::from(vec!["a"])) as _),
            (
                "event_time",
                Arc::new(TimestampMicrosecondArray::from(vec![1]).with_timezone("UTC")) as _,
            ),
            ("v", Arc::new(StringArray::from(vec!["x"])) as _),
        ])
        .unwrap();
        let e = t.commit(&[wrong]).await.unwrap_err();
        assert!(
            matches!(e, Error::Schema { .. }) && e.to_string().contains("column 'v'"),
            "{e}"
        );
        let extra = RecordBatch::try_from_iter([
            ("key", Arc::new(StringArray::from(vec!["a"])) as _),
            (
                "event_time",
                Arc::new(TimestampMicrosecondArray::from(vec![1]).with_timezone("UTC")) as _,
            ),
            ("v", Arc::new(Int64Array::from(vec![1])) as _),
            ("w", Arc::new(Int64Array::from(vec![1])) as _),
        ])
        .unwrap();
        let e = t.commit(&[extra]).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("column 'w' is not in the table schema"),
            "{e}"
        );
        assert_eq!(
            t.latest_commit().await.unwrap(),
            2,
            "failed commits leave the table as it was"
        );
    });
}

#[test]
fn racing_writers_one_wins_the_other_conflicts() {
    let (_d, loc) = table();
    rt().block_on(async {
        let t = Table::open(&loc).await.unwrap();
        let mut w1 = t.begin_commit().await.unwrap();
        let mut w2 = t.begin_commit().await.unwrap();
        w1.write(&batch(&["c"], &[5], &[5])).await.unwrap();
        w2.write(&batch(&["d"], &[5], &[6])).await.unwrap();
        assert_eq!(w1.finish().await.unwrap().commit, 3);
        let e = w2.finish().await.unwrap_err();
        assert!(e.is_conflict(), "{e}");
        let rows = t
            .scan(ScanOptions::default().with_columns(["key"]))
            .await
            .unwrap()
            .collect_batches()
            .await
            .unwrap();
        assert_eq!(
            rows.iter().map(|b| b.num_rows()).sum::<usize>(),
            3,
            "a, b, c: the losing commit is invisible"
        );
    });
}

/// Damage anywhere in a data file (12 bytes overwritten, at every third offset) ends in
/// an error that names the file, or in an answer read from whatever the bytes now say
/// (arrow-rs writes no page checksums); never in a panic. parquet-rs's decoders panic
/// on some corrupt input (a variable-length integer longer than ten bytes).
#[test]
fn damage_anywhere_in_a_data_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t").to_str().unwrap().to_string();
    let victim = bazof_testkit::damage::one_file_table(&loc);
    let runtime = rt();
    let read = || {
        runtime.block_on(async {
            let t = Table::open(&loc).await?;
            t.scan(ScanOptions::default())
                .await?
                .collect_batches()
                .await?;
            t.history(HistoryOptions::default())
                .await?
                .collect_batches()
                .await?;
            Ok::<_, Error>(())
        })
    };
    let outcome = |r: Result<(), Error>| match r {
        Ok(()) => Ok(()),
        Err(e @ Error::DataFile { .. }) => Err(e.to_string()),
        Err(e) => panic!("not a data file error: {e}"),
    };
    let errors = bazof_testkit::damage::at_every_offset(&victim, 3, || outcome(read()));
    // Most damage is found: the footer, the page headers and the compressed pages.
    let tries = std::fs::metadata(&victim).unwrap().len() as usize / 3;
    assert!(errors * 2 > tries, "{errors} errors in {tries} tries");
}
