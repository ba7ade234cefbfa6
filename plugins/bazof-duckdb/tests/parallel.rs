//! `bazof_scan` on several DuckDB threads: a table large enough to split into key
//! ranges (SPEC §6.5), read with `SET threads = 4`, equals the oracle: row for row in
//! key order when the rows feed the result (DuckDB keeps insertion order), and as
//! aggregates and sorted rows when DuckDB may spread the ranges over its threads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof::{KeyType, KeyValue, ScanOptions, Table};
use bazof_testkit::conformance::{expected_history, HistoryQuery};
use bazof_testkit::{format_time, oracle, oracle_rows, test_schema, Event, Log, Value};
use common::rows;
use duckdb::Connection;

/// A deterministic pseudo-random log: 120k keys loaded, then a commit of late and
/// fresh events with ties and tombstones, then a commit of updates.
fn big_log() -> Log {
    let schema = test_schema(KeyType::String);
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let keys = 120_000u64;
    let event = |k: u64, t: i64, deleted: bool, next: &mut dyn FnMut(u64) -> u64| Event {
        key: KeyValue::String(format!("k{k:07}")),
        event_time: t * 1_000_000,
        values: vec![
            Value::Str(format!("s{}", next(50))),
            Value::Int(next(1000) as i64),
            if next(4) == 0 {
                Value::Null
            } else {
                Value::Float(next(400) as f64 / 4.0)
            },
            Value::Bool(next(2) == 0),
            Value::Time(next(1_000_000) as i64 * 1_000_000),
            Value::Date(next(20_000) as i32),
        ],
        deleted,
    };
    let first = (0..keys)
        .map(|k| event(k, 100 + next(100) as i64, false, &mut next))
        .collect();
    let second = (0..keys / 2)
        .map(|_| {
            let k = next(keys);
            event(k, 50 + next(200) as i64, next(10) == 0, &mut next)
        })
        .collect();
    let third = (0..keys / 4)
        .map(|_| {
            let k = next(keys);
            event(k, 150 + next(200) as i64, next(20) == 0, &mut next)
        })
        .collect();
    Log::new(schema, vec![first, second, third])
}

/// Rows sorted by their first two cells (key, then event time or valid_from), here
/// rather than by SQL: DuckDB's Arrow result of a parallel `ORDER BY` with
/// `preserve_insertion_order = false` came back in another order in this test.
fn sorted(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by(|a, b| {
        a[..2]
            .partial_cmp(&b[..2])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    rows
}

#[test]
fn many_threads_read_the_key_ranges_and_answer_as_the_oracle() {
    let log = big_log();
    let location = "memory://duckdb-parallel/t";
    bazof_testkit::conformance::write_log_blocking(location, &log);

    // The table really splits: more than one key range to hand out.
    let parts = bazof::blocking::block_on(async {
        let table = Table::open(location).await?;
        let stream = table.scan(ScanOptions::default().with_tasks(4)).await?;
        Ok::<_, bazof::Error>(stream.into_parts().len())
    })
    .unwrap();
    assert!(parts > 1, "expected several key ranges, got {parts}");

    let con = Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    con.execute_batch("SET threads = 4").unwrap();
    let columns: Vec<String> = ["key", "event_time", "s", "i", "f", "b", "t", "d"]
        .iter()
        .map(|c| c.to_string())
        .collect();

    for as_of in [None, Some(160 * 1_000_000)] {
        let args = match as_of {
            Some(t) => format!("'{location}', as_of => '{}'", format_time(t)),
            None => format!("'{location}'"),
        };
        let expected = oracle_rows(&log, as_of, None, &columns);
        assert!(expected.len() > 50_000, "{} rows", expected.len());

        // Rows that feed the result: DuckDB keeps the key order of the ranges.
        let got = rows(&con, &format!("SELECT * FROM bazof_scan({args})"));
        assert!(
            got == expected,
            "as_of {as_of:?}: rows differ from the oracle"
        );

        // Aggregates: any thread may read any range.
        let resolved = oracle(&log, as_of, None);
        let sum_i: i64 = resolved
            .values()
            .map(|e| match e.values[1] {
                Value::Int(i) => i,
                _ => 0,
            })
            .sum();
        let agg = rows(
            &con,
            &format!(
                "SELECT count(*), sum(i)::BIGINT, count(DISTINCT key) FROM bazof_scan({args})"
            ),
        );
        let n = resolved.len() as i64;
        assert_eq!(
            agg,
            vec![vec![Value::Int(n), Value::Int(sum_i), Value::Int(n)]],
            "as_of {as_of:?}"
        );

        // No insertion order to keep: the ranges spread over threads; sorted here.
        con.execute_batch("SET preserve_insertion_order = false")
            .unwrap();
        let sorted = sorted(rows(&con, &format!("SELECT * FROM bazof_scan({args})")));
        con.execute_batch("SET preserve_insertion_order = true")
            .unwrap();
        assert!(sorted == expected, "as_of {as_of:?}: sorted rows differ");
    }
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
