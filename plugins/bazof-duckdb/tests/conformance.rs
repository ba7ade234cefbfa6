//! The conformance suite (`bazof_testkit::conformance`) through SQL, on the C API v1
//! functions (`register` without `install`): `keys => [...]` for key lists, a `WHERE`
//! clause on the key for the other predicates. `conformance_v2.rs` runs the same on
//! the C API v2 functions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof_testkit::conformance::{run_written, Suite};
use common::door::{reads_equal_oracle, write_with_sql, DuckDb};
use duckdb::Connection;

#[test]
fn duckdb_equals_oracle() {
    let con = Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    reads_equal_oracle(con, "plain");
}

/// SPEC §2.1 through SQL: evolving logs written by `bazof_write` (columns added
/// mid-history, Int widened to Float), read back by `bazof_scan`, `bazof_history` and
/// `bazof_diff` at every as_of and snapshot, equal the oracle.
#[test]
fn bazof_write_and_evolving_schemas_equal_oracle() {
    let con = Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    con.register_table_function::<duckdb::vtab::arrow::ArrowVTab>("arrow")
        .unwrap();
    let writer = con.try_clone().unwrap();
    let mut door = DuckDb::new(con, "written", None);
    let checked = run_written(
        &mut door,
        &mut |location, log| write_with_sql(&writer, location, log),
        Suite {
            logs: 60,
            evolve: true,
            ..Suite::default()
        },
    );
    assert_eq!(checked, 360);
}
