//! `bazof_scan` on several DuckDB threads: a table large enough to split into key
//! ranges (SPEC §6.5), read with `SET threads = 4`, equals the oracle: row for row in
//! key order when the rows feed the result (DuckDB keeps insertion order), and as
//! aggregates and sorted rows when DuckDB may spread the ranges over its threads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof::{KeyValue, Table};
use bazof_testkit::conformance::{expected_history, HistoryQuery};
use bazof_testkit::{oracle_rows, Log, Value};
use common::{big_log, rows, scan_on_threads_equals_oracle, sorted};
use duckdb::Connection;

#[test]
fn many_threads_read_the_key_ranges_and_answer_as_the_oracle() {
    // The C API v1 function (this binary never calls `install`).
    scan_on_threads_equals_oracle("memory://duckdb-parallel/t");
}

/// History rows valid at `t` (`valid_from <= t < valid_to`) as scan rows: the key, the
/// version's event time, then the values.
fn valid_at(history: &[Vec<Value>], t: i64) -> Vec<Vec<Value>> {
    history
        .iter()
        .filter(|r| {
            let from = matches!(r[1], Value::Time(f) if f <= t);
            let to = match r[2] {
                Value::Time(end) => t < end,
                _ => true,
            };
            from && to
        })
        .map(|r| {
            let mut row = vec![r[0].clone(), r[1].clone()];
            row.extend(r[3..].iter().cloned());
            row
        })
        .collect()
}

#[test]
fn history_splits_into_key_ranges_and_answers_as_the_oracle() {
    let log = big_log();
    let location = "memory://duckdb-parallel/history";
    bazof_testkit::conformance::write_log_blocking(location, &log);
    let parts = bazof::blocking::block_on(async {
        let table = Table::open(location).await?;
        let stream = table.history(bazof::HistoryOptions::default()).await?;
        Ok::<_, bazof::Error>(stream.into_parts().len())
    })
    .unwrap();
    assert!(
        parts > 1 || bazof::scan::tasks::default_tasks() == 1,
        "{parts} ranges"
    );
    // The naive history oracle is quadratic: it runs on a sample of keys.
    let sample = |k: &KeyValue| matches!(k, KeyValue::String(s) if s.ends_with("00"));
    let sampled = Log::new(
        log.schema.clone(),
        log.commits
            .iter()
            .map(|c| c.iter().filter(|e| sample(&e.key)).cloned().collect())
            .collect(),
    );
    let columns: Vec<String> = ["key", "event_time", "s", "i", "f", "b", "t", "d"]
        .iter()
        .map(|c| c.to_string())
        .collect();
    let con = Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    con.execute_batch("SET threads = 4").unwrap();
    for snapshot in [None, Some(2)] {
        let args = match snapshot {
            Some(s) => format!("'{location}', snapshot => {s}"),
            None => format!("'{location}'"),
        };
        // In key order, then valid_from, with no ORDER BY: one thread, ranges in order.
        let got = rows(&con, &format!("SELECT * FROM bazof_history({args})"));
        con.execute_batch("SET preserve_insertion_order = false")
            .unwrap();
        let sorted = sorted(rows(&con, &format!("SELECT * FROM bazof_history({args})")));
        con.execute_batch("SET preserve_insertion_order = true")
            .unwrap();
        if sorted != got {
            let i = (0..got.len().min(sorted.len())).find(|&i| got[i] != sorted[i]);
            panic!(
                "snapshot {snapshot:?}: not in key order, or threads differ: {} vs {} rows, \
                 first difference at {i:?}: {:?} vs {:?}",
                got.len(),
                sorted.len(),
                i.map(|i| &got[i][..3]),
                i.map(|i| &sorted[i][..3])
            );
        }

        let q = HistoryQuery {
            snapshot,
            from: None,
            to: None,
            keys: None,
        };
        let got_sample: Vec<Vec<Value>> = got
            .iter()
            .filter(|r| matches!(&r[0], Value::Str(s) if s.ends_with("00")))
            .cloned()
            .collect();
        assert!(
            got_sample.len() > 1000,
            "{} sampled versions",
            got_sample.len()
        );
        assert!(
            got_sample == expected_history(&sampled, &q),
            "snapshot {snapshot:?}: sampled history differs from the oracle"
        );
        // The defining property on every key: valid at t = scan as of t.
        for t in [90, 150, 220, 400] {
            let t = t * 1_000_000;
            assert!(
                valid_at(&got, t) == oracle_rows(&log, Some(t), snapshot, &columns),
                "snapshot {snapshot:?}, t {t}: valid versions differ from the scan oracle"
            );
        }
    }
}
