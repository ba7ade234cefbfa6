//! bazof 0.2 compatibility: the seed's invocations against the tables it wrote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use common::{ok, run, test_data, tree};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn compat() -> String {
    let dir = test_data();
    assert!(dir.join("table0").exists(), "{} is missing", dir.display());
    dir.to_string_lossy().into_owned()
}

fn key_values(csv: &str) -> BTreeMap<String, String> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[2].to_string())
        })
        .collect()
}

fn kv(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn seed_scan_invocations() {
    let dir = compat();
    let before = tree(&test_data().join("table0"));
    let current = ok(&["scan", "--path", &dir, "--table", "table0"]);
    assert_eq!(current.lines().next(), Some("key,event_time,value"));
    assert_eq!(
        key_values(&current),
        kv(&[("1", "abc2"), ("2", "xyz2"), ("3", "www2")])
    );
    let past = ok(&[
        "scan",
        "--path",
        &dir,
        "--table",
        "table0",
        "--as-of",
        "2024-02-17T00:00:00",
    ]);
    assert_eq!(key_values(&past), kv(&[("1", "abc2"), ("2", "xyz")]));
    // The seed README's example time, and the TABLE form.
    let t = format!("{dir}/table0");
    assert_eq!(
        key_values(&ok(&["scan", &t, "--as-of", "2024-03-15T14:30:00"])),
        key_values(&current)
    );
    assert_eq!(
        key_values(&ok(&["scan", &t, "--as-of", "2024-02-17"])),
        key_values(&past)
    );
    assert_eq!(
        before,
        tree(&test_data().join("table0")),
        "reading must not write"
    );
}

#[test]
fn legacy_info_log_check() {
    let t = format!("{}/table2", compat());
    let info = ok(&["info", &t]);
    assert!(info.contains("format version: 0"), "{info}");
    for col in [
        "value1",
        "value2",
        "is_active",
        "created",
        "base.parquet",
        "delta1.parquet",
    ] {
        assert!(info.contains(col), "{col} in {info}");
    }
    assert_eq!(ok(&["log", &t]).lines().count(), 1);
    assert!(ok(&["check", &t]).starts_with("ok: 1 snapshots, 2 data files"));
    let json = ok(&["scan", &t, "--format", "json", "--key", "2"]);
    assert_eq!(
        json,
        "{\"key\":\"2\",\"event_time\":\"2024-02-20T00:00:00Z\",\"value1\":\"xyz2\",\"value2\":222,\"is_active\":false,\"created\":\"2024-01-01T00:00:00Z\"}\n"
    );
}

#[test]
fn financials_as_of_like_the_seed_datafusion_example() {
    let t = format!("{}/financials", compat());
    let out = ok(&[
        "scan",
        &t,
        "--as-of",
        "2019-01-17T00:00:00Z",
        "--columns",
        "key,industry,revenue",
        "--key",
        "ADBE",
        "--key",
        "MSFT",
    ]);
    assert_eq!(out.lines().next(), Some("key,industry,revenue"));
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("MSFT,Software,32471000000"), "{out}");
    let limited = ok(&["scan", &t, "--limit", "5", "--as-of", "2019-01-17"]);
    assert_eq!(limited.lines().count(), 6);
}

fn read_parquet(path: &std::path::Path) -> (arrow::datatypes::SchemaRef, Vec<RecordBatch>) {
    let file = std::fs::File::open(path).expect("open");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let schema = builder.schema().clone();
    let batches = builder
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("read");
    (schema, batches)
}

#[test]
fn gen_writes_the_legacy_layout() {
    let src = test_data().join("table2");
    let dir = tempfile::tempdir().expect("tempdir");
    let dst = dir.path().join("table2");
    std::fs::create_dir(&dst).expect("mkdir");
    for f in [
        "s1.json",
        "version.txt",
        "base.csv",
        "delta1.csv",
        "delta1.parquet",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).expect("copy");
    }
    let out = ok(&[
        "gen",
        "--path",
        dir.path().to_str().expect("utf8"),
        "--table",
        "table2",
        "--file",
        "base",
    ]);
    assert!(out.contains("base.parquet (2 rows)"), "{out}");
    let (want_schema, want) = read_parquet(&src.join("base.parquet"));
    let (got_schema, got) = read_parquet(&dst.join("base.parquet"));
    let strip = |s: &arrow::datatypes::Schema| {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&got_schema), strip(&want_schema));
    let cols = |b: &[RecordBatch]| b.iter().map(|b| b.columns().to_vec()).collect::<Vec<_>>();
    assert_eq!(cols(&got), cols(&want));
    // The generated table scans like the original.
    let t = dst.to_str().expect("utf8");
    let orig = format!("{}/table2", compat());
    assert_eq!(ok(&["scan", t]), ok(&["scan", &orig]));
    assert_eq!(
        ok(&["scan", t, "--as-of", "2024-02-17"]),
        ok(&["scan", &orig, "--as-of", "2024-02-17"])
    );
    // Legacy tables are read-only for import.
    let csv = common::write(
        dir.path(),
        "x.csv",
        "key,event_time,value1,value2,is_active,created\n9,2024-05-01,a,1,true,2024-05-01\n",
    );
    let (code, _, err) = run(&["import", t, &csv]);
    assert_eq!(code, 1);
    assert!(err.contains("read-only"), "{err}");
}
