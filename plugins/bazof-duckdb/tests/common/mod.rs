//! Helpers shared by the DuckDB door's test binaries.

#![allow(dead_code)] // each test binary uses some of these

use arrow::array::RecordBatch;
use bazof::{KeyType, KeyValue, ScanOptions, Table};
use bazof_testkit::{batch_rows, format_time, oracle, oracle_rows, test_schema, Event, Log, Value};
use duckdb::Connection;

pub mod door;

/// Runs `sql` and returns its rows as test-kit values (panics naming the query).
pub fn rows(con: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = con.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batches: Vec<RecordBatch> = stmt
        .query_arrow([])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect();
    batch_rows(&batches)
}

/// A deterministic pseudo-random log: 120k keys loaded, then a commit of late and
/// fresh events with ties and tombstones, then a commit of updates.
pub fn big_log() -> Log {
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
pub fn sorted(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by(|a, b| {
        a[..2]
            .partial_cmp(&b[..2])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    rows
}

/// An in-memory DuckDB with the bazof functions and `SET threads = 4`.
pub fn four_threads() -> Connection {
    let con = Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    con.execute_batch("SET threads = 4").unwrap();
    con
}

/// The result columns of a `bazof_scan` of [`big_log`]'s table.
pub fn big_log_columns() -> Vec<String> {
    ["key", "event_time", "s", "i", "f", "b", "t", "d"]
        .iter()
        .map(|c| c.to_string())
        .collect()
}

/// Writes [`big_log`] to `location` and reads it through `bazof_scan` with `SET threads
/// = 4`: rows in key order where DuckDB keeps insertion order, aggregates, and rows
/// sorted here where it does not. Returns the log.
pub fn scan_on_threads_equals_oracle(location: &str) -> Log {
    let log = big_log();
    bazof_testkit::conformance::write_log_blocking(location, &log);

    // The table really splits: more than one key range to hand out.
    let parts = bazof::blocking::block_on(async {
        let table = Table::open(location).await?;
        let stream = table.scan(ScanOptions::default().with_tasks(4)).await?;
        Ok::<_, bazof::Error>(stream.into_parts().len())
    })
    .unwrap();
    assert!(parts > 1, "expected several key ranges, got {parts}");

    let con = four_threads();
    let columns = big_log_columns();

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
    log
}
