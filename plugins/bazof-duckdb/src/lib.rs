//! # bazof-duckdb: query bazof tables from DuckDB SQL
//!
//! Table functions (and, on C API v2, `COPY … TO (FORMAT bazof)`), added to a
//! connection by [`register`] (in-process, with DuckDB's bundled build; after
//! `install` on C API v2) or by loading the `bazof.duckdb_extension` built from
//! `extension/` (same source, crate feature `loadable-extension`, C API v2):
//!
//! ```sql
//! -- what was true at an event time (DESIGN §1), as known now
//! SELECT * FROM bazof_scan('s3://bucket/prices', TIMESTAMP '2024-03-15 14:30:00');
//! -- named forms; as_of also takes TIMESTAMPTZ, DATE or an ISO-8601 string
//! SELECT * FROM bazof_scan('data/prices', as_of => '2024-03-15T14:30:00Z', snapshot => 3);
//! -- key pruning (files, row groups and pages are skipped by key statistics)
//! SELECT * FROM bazof_scan('data/prices', keys => ['AAPL', 'MSFT']);
//! -- the commits, to choose a snapshot
//! SELECT * FROM bazof_log('data/prices');
//! ```
//!
//! ## `bazof_scan(path [, as_of] [, as_of => …] [, snapshot => N] [, keys => [...]])`
//!
//! * `as_of`: the event time to travel to: TIMESTAMP (read as UTC), TIMESTAMPTZ,
//!   DATE (its midnight, UTC) or a VARCHAR in ISO-8601 (`2024-03-15`,
//!   `2024-03-15 14:30:00`, `2024-03-15T14:30:00+02:00`; no offset means UTC).
//!   Omitted or NULL: current. Any other type, or text that is not a time, is an
//!   error naming the argument.
//! * `snapshot`: the commit to travel to (see `bazof_log`); default the latest.
//! * `keys`: a list of VARCHAR (String keys) or integers (Int keys); only those
//!   keys are returned, and the core prunes files and row groups by key range.
//!
//! Columns keep the table's order and map Utf8 → VARCHAR, Int64 → BIGINT,
//! Float64 → DOUBLE, Boolean → BOOLEAN, Timestamp(µs, UTC) → TIMESTAMPTZ,
//! Date32 → DATE; nulls stay nulls. Rows come in key order where DuckDB keeps
//! insertion order.
//!
//! ## What the table-function API allows, and what this crate does
//!
//! * **Projection pushdown: yes.** The function declares pushdown support;
//!   DuckDB passes the columns the query needs (`InitInfo::get_column_indices`)
//!   and only those go into [`bazof::ScanOptions::columns`]. `count(*)` asks for
//!   no column (or one), and the scan then reads the key column only.
//! * **Filter pushdown: key predicates, on C API v2.** In the loadable extension, and
//!   in-process after `install` (before the database opens), `bazof_scan` is a C API
//!   v2 table function: DuckDB offers it
//!   every `WHERE` conjunct, and those that compare the bare key column with
//!   constants of the key's type (`=`, `IN`, `<`, `<=`, `>`, `>=`, `BETWEEN`, AND/OR
//!   of them) become the core's key predicate, pruning files, row groups and pages
//!   as `keys => [...]` does. None is accepted: DuckDB applies every filter above the
//!   scan, that is after resolution, which is what DESIGN §5 requires for value
//!   columns. Each such scan logs its plan's summary (key predicate, files and row
//!   groups read and skipped) to DuckDB's log, type `bazof` (`CALL enable_logging()`,
//!   then `duckdb_logs`). Without `install`, the functions use C API v1, which
//!   passes no filters; `keys => [...]` prunes there.
//! * **Streaming: yes.** `init` opens the core's [`bazof::ScanStream`] (batches of
//!   DuckDB's vector size, 2048 rows); each call of the table function pulls at
//!   most one batch, on the core's runtime, and emits it as one DuckDB chunk. The
//!   table is never materialised; `LIMIT` stops the pulls early.
//! * **Parallelism: across DuckDB's threads.** A scan (and a history) splits into
//!   key ranges (SPEC §6.5), each its own merge running ahead on the core's
//!   runtime; the ranges are a shared pool in the global state that DuckDB's
//!   threads draw from (`max_threads` = number of ranges). Where output order
//!   matters DuckDB keeps one thread for a v1 function, which reads the ranges in
//!   key order; the v2 `bazof_scan` has each thread claim whole ranges and report
//!   their positions (batch indexes), so DuckDB reorders the output of all threads.
//! * `bind` runs twice per query; it reads metadata only (the version hint and
//!   one snapshot file), never data files.
//!
//! Errors of the core (not a table, corrupt metadata, missing snapshot) become
//! DuckDB errors carrying the core's message. Nothing in the callbacks unwraps
//! user-influenced values, and the duckdb crate contains any panic at the FFI
//! boundary.
//!
//! ## `bazof_log(path)`
//!
//! One row per commit: `commit BIGINT, commit_time TIMESTAMPTZ, operation VARCHAR,
//! rows_added BIGINT, files_added BIGINT, min_event_time TIMESTAMPTZ,
//! max_event_time TIMESTAMPTZ` (event-time range of the events the commit added,
//! NULL if none). A legacy (bazof 0.2) table shows one row for its snapshot, NULL
//! where 0.2 recorded nothing.
#![warn(missing_docs)]

mod bitemporal;
mod capi_v2;
mod emit;
mod log;
mod params;
mod scan;
mod types;
mod write;

pub use bitemporal::{BazofDiff, BazofHistory};
#[cfg(not(feature = "bundled"))]
#[doc(hidden)]
pub use capi_v2::loadable_entry;
#[cfg(feature = "bundled")]
pub use capi_v2::{install, InstallError};
pub use log::BazofLog;
pub use scan::{BazofScan, BazofScanAt};
pub use write::{write_query, BazofWrite, WriteConnection, WriteError};

/// Adds `bazof_scan`, `bazof_scan_at`, `bazof_log`, `bazof_history`, `bazof_diff` and
/// `bazof_write` to a DuckDB connection.
///
/// `bazof_scan_at(path, as_of)` and `bazof_scan(path, as_of => …)` are table
/// functions in DuckDB's system catalog. If [`install`] ran before the database
/// opened, the database already has the C API v2 functions (key predicates in `WHERE`
/// prune, `COPY … TO (FORMAT bazof)` writes), and this function only adds
/// `bazof_write`. DuckDB's C API (v1) keeps
/// only the first of two table functions registered under one name, so the optional
/// positional `as_of` of `bazof_scan(path [, as_of])` is a table macro over
/// `bazof_scan_at`, which shadows the named-only function: a `TEMP` macro of this
/// connection, or, for an in-memory database (the CLI's and Python's default),
/// a macro of the database that every connection sees.
///
/// ```no_run
/// let con = duckdb::Connection::open_in_memory()?;
/// bazof_duckdb::register(&con)?;
/// let n: i64 = con.query_row(
///     "SELECT count(*) FROM bazof_scan('data/prices', DATE '2024-03-15')",
///     [],
///     |r| r.get(0),
/// )?;
/// # Ok::<_, duckdb::Error>(())
/// ```
pub fn register(con: &duckdb::Connection) -> duckdb::Result<()> {
    // With [`install`] run before the database opened, the database already has the
    // C API v2 functions (key pushdown from WHERE, key order on all threads; the v2
    // `bazof_scan` takes the positional as_of itself): only `bazof_write` is added.
    let v2 = any_row(
        con,
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'bazof_scan'",
    );
    if !v2 {
        con.register_table_function::<BazofScanAt>("bazof_scan_at")?;
        con.register_table_function::<BazofScan>("bazof_scan")?;
        con.register_table_function::<BazofLog>("bazof_log")?;
        con.register_table_function::<BazofHistory>("bazof_history")?;
        con.register_table_function::<BazofDiff>("bazof_diff")?;
    }
    let writer: WriteConnection = std::sync::Arc::new(std::sync::Mutex::new(con.try_clone()?));
    con.register_table_function_with_extra_info::<BazofWrite, _>("bazof_write", &writer)?;
    if v2 {
        Ok(())
    } else {
        install_positional_form(con, false)
    }
}

/// Whether a `SELECT count(*) …` of the catalog counts anything (false if it fails).
fn any_row(con: &duckdb::Connection, count_sql: &str) -> bool {
    con.query_row(count_sql, [], |r| r.get::<_, i64>(0))
        .unwrap_or(0)
        > 0
}

/// The table macro giving `bazof_scan` its optional positional `as_of`. `shared`:
/// create it in the database (if in-memory) rather than as a TEMP macro.
#[doc(hidden)]
pub fn install_positional_form(con: &duckdb::Connection, shared: bool) -> duckdb::Result<()> {
    const BODY: &str =
        "MACRO bazof_scan(path, as_of := NULL, snapshot := NULL, keys := NULL) AS TABLE \
        SELECT * FROM bazof_scan_at(path, as_of, snapshot => snapshot, keys => keys)";
    let in_memory = any_row(
        con,
        "SELECT count(*) FROM duckdb_databases() WHERE database_name = current_database() AND path IS NULL",
    );
    if shared && in_memory {
        con.execute_batch(&format!("CREATE OR REPLACE {BODY}"))
    } else {
        con.execute_batch(&format!("CREATE OR REPLACE TEMP {BODY}"))
    }
}
