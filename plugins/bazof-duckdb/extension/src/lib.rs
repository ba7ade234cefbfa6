//! `bazof.duckdb_extension`: the loadable form of `bazof-duckdb` for the DuckDB
//! CLI and the DuckDB Python package (`LOAD '…/bazof.duckdb_extension'`), on DuckDB's
//! C API v2, so pinned to DuckDB 2.0.0 (ABI `C_STRUCT_UNSTABLE`).

use std::os::raw::c_void;

/// Called by DuckDB on `LOAD`: registers `bazof_scan` (also as `bazof_scan_at`),
/// `bazof_log`, `bazof_history` and `bazof_diff`.
///
/// # Safety
/// Only DuckDB calls it, with its `duckdb_v2_extension_input*`.
#[no_mangle]
pub unsafe extern "C" fn bazof_init_c_api_v2(input: *mut c_void) {
    // SAFETY: DuckDB passes its live entry-point input.
    unsafe { bazof_duckdb::loadable_entry(input) }
}
