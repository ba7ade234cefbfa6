//! bazof 0.2 tables from test-data/ (written by bazof 0.2 itself) read correctly, in place.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampMillisecondType;
use bazof::{ScanOptions, Table};
use bazof_testkit::{batch_rows, Value};
use chrono::{DateTime, TimeZone, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn compat(name: &str) -> PathBuf {
    bazof_testkit::fixture(name)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn scan(table: &str, as_of: Option<DateTime<Utc>>, columns: &[&str]) -> Vec<Vec<Value>> {
    rt().block_on(async {
        let t = Table::open(compat(table).to_str().unwrap()).await.unwrap();
        let mut o = ScanOptions::default().with_columns(columns.iter().copied());
        if let Some(a) = as_of {
            o = o.with_as_of(a);
        }
        batch_rows(&t.scan(o).await.unwrap().collect_batches().await.unwrap())
    })
}

fn kv(rows: Vec<Vec<Value>>) -> Vec<(String, String)> {
    rows.into_iter()
        .map(|r| (r[0].to_string(), r[1].to_string()))
        .collect()
}

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// Expected answers are the ones bazof 0.2's own test suite asserted for these tables.
#[test]
fn table0_as_in_bazof_02() {
    assert_eq!(
        kv(scan("table0", None, &["key", "value"])),
        pairs(&[("1", "abc2"), ("2", "xyz2"), ("3", "www2")])
    );
    assert_eq!(
        kv(scan("table0", Some(day(2024, 2, 17)), &["key", "value"])),
        pairs(&[("1", "abc2"), ("2", "xyz")])
    );
    assert_eq!(
        kv(scan("table0", Some(day(2023, 12, 1)), &["key", "value"])),
        vec![]
    );
}

#[test]
fn table1_as_in_bazof_02() {
    assert_eq!(
        kv(scan("table1", None, &["key", "value"])),
        pairs(&[("1", "abc4"), ("2", "xyz3")])
    );
    assert_eq!(
        kv(scan("table1", Some(day(2024, 6, 1)), &["key", "value"])),
        pairs(&[("1", "abc3"), ("2", "xyz2")])
    );
    assert_eq!(
        kv(scan("table1", Some(day(2024, 2, 1)), &["key", "value"])),
        pairs(&[("1", "abc2")])
    );
}

/// table2 against its CSVs: the state as of t is the newest CSV row per key with event_time <= t.
#[test]
fn table2_matches_its_csvs() {
    let dir = compat("table2");
    let mut events: Vec<Vec<String>> = Vec::new();
    for f in ["base.csv", "delta1.csv"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        events.extend(
            text.lines()
                .filter(|l| !l.is_empty())
                .map(|l| l.split(',').map(String::from).collect()),
        );
    }
    for as_of in [
        day(2024, 1, 1),
        day(2024, 2, 10),
        day(2024, 3, 1),
        day(2024, 3, 20),
    ] {
        let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in &events {
            let t = DateTime::parse_from_rfc3339(&e[1]).unwrap();
            if t <= as_of
                && want
                    .get(&e[0])
                    .is_none_or(|w| DateTime::parse_from_rfc3339(&w[1]).unwrap() < t)
            {
                want.insert(e[0].clone(), e.clone());
            }
        }
        let got = scan(
            "table2",
            Some(as_of),
            &["key", "value1", "value2", "is_active"],
        );
        let got: Vec<Vec<String>> = got
            .iter()
            .map(|r| r.iter().map(|v| v.to_string()).collect())
            .collect();
        let want: Vec<Vec<String>> = want
            .values()
            .map(|e| vec![e[0].clone(), e[2].clone(), e[3].clone(), e[4].clone()])
            .collect();
        assert_eq!(got, want, "as of {as_of}");
    }
}

/// An independent reading of the financials table: bazof 0.2's yearly/quarterly file
/// naming, newest event per key among the files in range (first file wins ties).
fn financials_by_hand(as_of: DateTime<Utc>) -> BTreeMap<String, (i64, Option<String>, i64, i64)> {
    use chrono::Datelike;
    let dir = compat("financials");
    let (y, q) = (as_of.year(), (as_of.month() - 1) / 3 + 1);
    let mut files = vec![format!("year_{y}_q{q}_delta.parquet")];
    if q > 1 {
        files.push(format!("year_{y}_q{q}_base.parquet"));
    }
    files.push(format!("year_{y}_base.parquet"));
    let mut best: BTreeMap<String, (i64, Option<String>, i64, i64)> = BTreeMap::new();
    for f in files {
        let path = dir.join(&f);
        if !path.exists() {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let b: RecordBatch = batch.unwrap();
            let keys = b.column(0).as_string::<i32>();
            let ts = b.column(1).as_primitive::<TimestampMillisecondType>();
            let ind = b.column(2).as_string::<i32>();
            let rev = b.column(3).as_primitive::<arrow::datatypes::Int64Type>();
            let ni = b.column(5).as_primitive::<arrow::datatypes::Int64Type>();
            for r in 0..b.num_rows() {
                let t = ts.value(r);
                if t > as_of.timestamp_millis() {
                    continue;
                }
                let k = keys.value(r).to_string();
                if best.get(&k).is_none_or(|b| b.0 < t) {
                    let industry = ind.is_valid(r).then(|| ind.value(r).to_string());
                    best.insert(k, (t, industry, rev.value(r), ni.value(r)));
                }
            }
        }
    }
    best
}

#[test]
fn financials_match_an_independent_reading() {
    for as_of in [
        day(2000, 2, 1),
        day(2005, 5, 17),
        day(2012, 8, 30),
        day(2019, 1, 17),
        day(2020, 12, 31),
    ] {
        let want: Vec<Vec<Value>> = financials_by_hand(as_of)
            .into_iter()
            .map(|(k, (_, ind, rev, ni))| {
                vec![
                    Value::Str(k),
                    ind.map_or(Value::Null, Value::Str),
                    Value::Int(rev),
                    Value::Int(ni),
                ]
            })
            .collect();
        let got = scan(
            "financials",
            Some(as_of),
            &["key", "industry", "revenue", "net_income"],
        );
        assert!(!want.is_empty());
        assert_eq!(got.len(), want.len(), "as of {as_of}");
        assert_eq!(got, want, "as of {as_of}");
    }
}

/// The seed's headline query: as of 2019-01-17, industry = 'Software', top 5 by revenue.
#[test]
fn financials_headline_query() {
    let as_of = day(2019, 1, 17);
    let mut want: Vec<(i64, String, i64)> = financials_by_hand(as_of)
        .into_iter()
        .filter(|(_, v)| v.1.as_deref() == Some("Software"))
        .map(|(k, v)| (v.2, k, v.3))
        .collect();
    want.sort_by_key(|r| std::cmp::Reverse(r.0));
    want.truncate(5);
    let mut got: Vec<(i64, String, i64)> = scan(
        "financials",
        Some(as_of),
        &["key", "industry", "revenue", "net_income"],
    )
    .into_iter()
    .filter(|r| r[1] == Value::Str("Software".into()))
    .map(|r| match (&r[0], &r[2], &r[3]) {
        (Value::Str(k), Value::Int(rev), Value::Int(ni)) => (*rev, k.clone(), *ni),
        other => panic!("unexpected row {other:?}"),
    })
    .collect();
    got.sort_by_key(|r| std::cmp::Reverse(r.0));
    got.truncate(5);
    assert_eq!(got.len(), 5);
    assert_eq!(got, want);
}

#[test]
fn legacy_tables_refuse_commits_and_compaction() {
    rt().block_on(async {
        let t = Table::open(compat("table0").to_str().unwrap())
            .await
            .unwrap();
        let err = t
            .compact(&Default::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("bazof 0.2"), "{err}");
        let err = t.begin_commit().await.err().unwrap().to_string();
        assert!(err.contains("read-only"), "{err}");
    });
}
