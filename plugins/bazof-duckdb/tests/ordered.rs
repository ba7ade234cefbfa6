//! The C API v2 `bazof_scan` (this binary calls `install`) on several threads where
//! DuckDB keeps insertion order: each thread claims whole key ranges and reports their
//! positions as batch indexes, and DuckDB puts the ranges' rows back in key order, in
//! a query's result, in `CREATE TABLE … AS` and in `COPY … TO`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof_testkit::{oracle_rows, Value};
use common::{big_log_columns, four_threads, rows, scan_on_threads_equals_oracle};

#[test]
fn ranges_read_on_all_threads_come_back_in_key_order() {
    bazof_duckdb::install().unwrap();
    let location = "memory://duckdb-ordered/t";
    // Results, aggregates and unordered rows, as for the v1 function.
    let log = scan_on_threads_equals_oracle(location);

    let con = four_threads();
    let expected = oracle_rows(&log, None, None, &big_log_columns());

    // A table created from the scan holds the rows in key order; so does one filled
    // by INSERT.
    con.execute_batch(&format!(
        "CREATE TABLE copied AS SELECT * FROM bazof_scan('{location}');
         CREATE TABLE inserted AS SELECT * FROM copied LIMIT 0;
         INSERT INTO inserted SELECT * FROM bazof_scan('{location}');"
    ))
    .unwrap();
    for table in ["copied", "inserted"] {
        assert!(
            rows(&con, &format!("SELECT * FROM {table}")) == expected,
            "{table}: rows differ from the oracle or are out of order"
        );
    }

    // So does a file written by COPY.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.csv");
    con.execute_batch(&format!(
        "COPY (SELECT key FROM bazof_scan('{location}')) TO '{}' (HEADER false)",
        file.display()
    ))
    .unwrap();
    let written: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|k| Value::Str(k.to_string()))
        .collect();
    let keys: Vec<Value> = expected.iter().map(|r| r[0].clone()).collect();
    assert!(written == keys, "COPY: keys out of order or missing");
}
