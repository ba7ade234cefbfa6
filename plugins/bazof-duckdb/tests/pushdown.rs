//! SQL key predicates reach the core (C API v2, after `bazof_duckdb::install`): a
//! data file that a `WHERE` on the key rules out is never opened, so a scan whose
//! predicate rules out a missing file succeeds, and one that does not, or whose
//! predicate is not a plain comparison of the key, still reads (and fails on) it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bazof::{KeyType, KeyValue, Table};
use bazof_testkit::{test_schema, to_batch, Event, Value};
use common::rows;
use duckdb::Connection;

fn con() -> Connection {
    bazof_duckdb::install().unwrap();
    let con = Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    con
}

fn files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.insert(p);
            }
        }
    }
    out
}

fn event(key: &str, i: i64) -> Event {
    Event {
        key: KeyValue::String(key.into()),
        event_time: 1_000_000 * i,
        values: vec![
            Value::Str(format!("v{i}")),
            Value::Int(i),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
        deleted: false,
    }
}

/// A table of two commits, keys `a…` then keys `n…`, with the second commit's data
/// file deleted; returns its location.
fn table_missing_second_file(dir: &Path) -> String {
    let path = dir.to_string_lossy().into_owned();
    let schema = test_schema(KeyType::String);
    let first: Vec<Event> = ["a1", "a2", "b1"].iter().map(|k| event(k, 1)).collect();
    let second: Vec<Event> = ["n1", "n2", "p1"].iter().map(|k| event(k, 2)).collect();
    let before = bazof_testkit::block_on(async {
        let t = Table::create(&path, schema.clone()).await.unwrap();
        t.commit(&[to_batch(&schema, &first)]).await.unwrap();
        let before = files(dir);
        t.commit(&[to_batch(&schema, &second)]).await.unwrap();
        before
    });
    let added: Vec<PathBuf> = files(dir).difference(&before).cloned().collect();
    assert_eq!(added.len(), 1, "the second commit writes one data file");
    std::fs::remove_file(&added[0]).unwrap();
    path
}

#[test]
fn where_on_the_key_prunes_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = table_missing_second_file(dir.path());
    let con = con();
    let scan = |cond: &str| {
        let sql = format!("SELECT key, i FROM bazof_scan('{path}') WHERE {cond} ORDER BY key");
        con.prepare(&sql)
            .and_then(|mut s| s.query_arrow([]).map(|r| r.count()))
            .map(|_| rows(&con, &sql))
            .map_err(|e| e.to_string())
    };
    let a = |k: &str| {
        vec![
            bazof_testkit::Value::Str(k.into()),
            bazof_testkit::Value::Int(1),
        ]
    };
    // Pruned: only the first file can hold these keys.
    assert_eq!(scan("key = 'a2'").unwrap(), vec![a("a2")]);
    assert_eq!(scan("'a2' = key").unwrap(), vec![a("a2")]);
    assert_eq!(scan("key IN ('a1', 'b1')").unwrap(), vec![a("a1"), a("b1")]);
    assert_eq!(scan("key < 'b5'").unwrap(), vec![a("a1"), a("a2"), a("b1")]);
    assert_eq!(
        scan("key BETWEEN 'a' AND 'b'").unwrap(),
        vec![a("a1"), a("a2")]
    );
    assert_eq!(
        scan("key > 'a1' AND key < 'c'").unwrap(),
        vec![a("a2"), a("b1")]
    );
    assert_eq!(
        scan("key = 'a1' OR key = 'b1'").unwrap(),
        vec![a("a1"), a("b1")]
    );
    assert_eq!(scan("key = 'a1' AND i > 0").unwrap(), vec![a("a1")]);
    // Not pruned: the second file is read, and it is missing. (`key || ''` is not
    // here: DuckDB's optimizer rewrites it to `key`, which is then rightly pushed.)
    for cond in [
        "key = 'p1'",
        "key >= 'b'",
        "key = 'a1' OR i > 0",
        "lower(key) = 'a1'",
        "key = s",
        "key <> 'a1'",
    ] {
        let e = scan(cond).expect_err(cond);
        assert!(
            e.contains("parquet") || e.contains("No such file"),
            "{cond}: {e}"
        );
    }
}

#[test]
fn the_log_shows_the_pushed_predicate_and_what_it_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let path = table_missing_second_file(dir.path());
    let con = con();
    con.execute_batch("CALL enable_logging()").unwrap();
    let n: i64 = con
        .query_row(
            &format!(
                "SELECT count(*) FROM bazof_scan('{path}') WHERE key IN ('a1', 'b1') AND i > 0"
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2);
    let logged: Vec<String> = con
        .prepare("SELECT message FROM duckdb_logs WHERE type = 'bazof'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        logged,
        ["bazof_scan: key predicate: key IN ('a1', 'b1'); files: 1 read, 1 skipped (1 by key range); \
          row groups: 1 of 1 read"],
        "the scan logs its plan"
    );
}
