//! `bazof.duckdb_extension`: the loadable form of `bazof-duckdb` for the DuckDB
//! CLI and the DuckDB Python package (`LOAD '…/bazof.duckdb_extension'`).
#![allow(clippy::missing_safety_doc)]

use std::error::Error;

use duckdb::{duckdb_entrypoint_c_api, Connection};

/// Called by DuckDB on `LOAD`: registers `bazof_scan`, `bazof_scan_at`, `bazof_log`,
/// `bazof_history` and `bazof_diff`. The positional `bazof_scan(path, as_of)` is a table macro, created
/// in the database when it is in-memory (see `bazof_duckdb::register`).
#[duckdb_entrypoint_c_api(ext_name = "bazof", min_duckdb_version = "v1.2.0")]
pub fn extension_entrypoint(con: Connection) -> Result<(), Box<dyn Error>> {
    bazof_duckdb::register(&con)?;
    bazof_duckdb::install_positional_form(&con, true)?;
    Ok(())
}
