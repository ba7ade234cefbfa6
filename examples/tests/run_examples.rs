//! Runs every example program, so `cargo test` keeps them working.
//! To add one: a `#[path]` module and a test calling its `main()`.

#[path = "../polars_as_of.rs"]
mod polars_as_of;
#[path = "../polars_financials.rs"]
mod polars_financials;

#[test]
fn polars_as_of() {
    polars_as_of::main().unwrap();
}

#[test]
fn polars_financials() {
    polars_financials::main().unwrap();
}

#[path = "../duckdb_as_of.rs"]
mod duckdb_as_of;

#[test]
fn duckdb_as_of() {
    duckdb_as_of::main().unwrap();
}

#[path = "../duckdb_point_in_time.rs"]
mod duckdb_point_in_time;

#[test]
fn duckdb_point_in_time() {
    duckdb_point_in_time::main().unwrap();
}
