//! The cells: one query run by one engine. Every cell computes the same answer (a
//! checksum over every column of the as-of state, or the per-category sums of
//! query 5) inside its engine, so the engines do the whole work while only a few
//! numbers cross back to the benchmark.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::SchemaRef;
use bazof::{KeyPredicate, KeyValue, ScanOptions, Table};
use chrono::DateTime;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use duckdb::vtab::arrow::ArrowBatchRegistration;

use crate::gen::{state_file_for, Meta};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    clap::ValueEnum,
    Serialize,
    Deserialize,
)]
pub enum Query {
    /// Current state of every key.
    Q1,
    /// State as of the middle of history.
    Q2,
    /// State as of a time inside the late-event window.
    Q3,
    /// Point lookup of a few keys as of a past time.
    Q4,
    /// Sum of an Int value by category over the as-of state (middle of history).
    Q5,
    /// One key, current (`WHERE key = x` in SQL).
    Q6,
    /// Point-in-time join: orders with each customer's row at the order's time.
    Pit,
    /// Every version of every key (history), against reading the raw events once.
    Hist,
    /// CSV import.
    Import,
}

impl Query {
    pub const ALL: [Query; 9] = [
        Query::Q1,
        Query::Q2,
        Query::Q3,
        Query::Q4,
        Query::Q5,
        Query::Q6,
        Query::Pit,
        Query::Hist,
        Query::Import,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Query::Q1 => "q1",
            Query::Q2 => "q2",
            Query::Q3 => "q3",
            Query::Q4 => "q4",
            Query::Q5 => "q5",
            Query::Q6 => "q6",
            Query::Pit => "pit",
            Query::Hist => "hist",
            Query::Import => "import",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Query::Q1 => "current state of every key",
            Query::Q2 => "as of mid-history",
            Query::Q3 => "as of a time in the late-event window",
            Query::Q4 => "5 keys as of a past time",
            Query::Q5 => "sum(qty) by category, as of mid-history",
            Query::Q6 => "one key, current",
            Query::Pit => "point-in-time join: 5 orders per key (at most 1M) with the customer's row at each order's time",
            Query::Hist => "every version of every key (history; the raw cells read the raw events once)",
            Query::Import => "CSV import (first quarter of the commits)",
        }
    }

    /// The event time the query travels to (None: current).
    pub fn as_of(self, meta: &Meta) -> Option<i64> {
        match self {
            Query::Q1 | Query::Q6 | Query::Pit | Query::Hist | Query::Import => None,
            Query::Q2 | Query::Q5 => Some(meta.mid_us),
            Query::Q3 => Some(meta.late_window_us),
            Query::Q4 => Some(meta.lookup_us),
        }
    }

    fn keys(self, meta: &Meta) -> Option<&[String]> {
        match self {
            Query::Q4 => Some(meta.lookup_keys.as_slice()),
            Query::Q6 => meta.lookup_keys.get(..1),
            _ => None,
        }
    }

    fn grouped(self) -> bool {
        self == Query::Q5
    }

    /// Whether engine `e`'s answer must equal the other cells' of this query: not for
    /// imports (they report rows stored: bazof keeps one event per (key, event time)),
    /// nor for the raw reads that `hist` is weighed against.
    pub fn compares(self, e: Engine) -> bool {
        let import = matches!(
            e,
            Engine::BazofImport | Engine::DuckdbImport | Engine::DuckdbCopyBazof
        );
        let raw = matches!(
            e,
            Engine::DuckdbParquet | Engine::PolarsParquet | Engine::CoreParquet
        );
        !(import || (self == Query::Hist && raw))
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    clap::ValueEnum,
    Serialize,
    Deserialize,
)]
pub enum Engine {
    /// DuckDB SQL over `bazof_scan` (key lookups as `keys => [...]`).
    DuckdbBazof,
    /// DuckDB SQL over `bazof_scan`, key lookups as `WHERE key IN (...)` (pushed to
    /// the core as a key predicate); only queries with keys.
    DuckdbBazofWhere,
    /// DuckDB SQL over the raw Parquet (`read_parquet` + QUALIFY row_number()).
    DuckdbParquet,
    /// Polars over `scan_bazof`.
    PolarsBazof,
    /// Polars over the raw Parquet (read with arrow-rs, then filter / sort / last per key).
    PolarsParquet,
    /// The core's `Table::scan` alone, checksum computed in Rust batch by batch.
    Core,
    /// The raw Parquet read once with arrow-rs, the core's own reader, a file per
    /// thread (only `hist`: what a Rust user reads the raw events with).
    CoreParquet,
    /// DuckDB `read_parquet` of just the compacted base holding the state (the least work).
    Limit,
    /// `bazof import` (the CLI binary).
    BazofImport,
    /// DuckDB `COPY (FROM read_csv(...)) TO '....parquet'`.
    DuckdbImport,
    /// DuckDB `COPY (FROM read_csv(...)) TO 'table' (FORMAT bazof)` (C API v2).
    DuckdbCopyBazof,
}

impl Engine {
    pub const QUERY_ENGINES: [Engine; 8] = [
        Engine::DuckdbBazof,
        Engine::DuckdbBazofWhere,
        Engine::DuckdbParquet,
        Engine::PolarsBazof,
        Engine::PolarsParquet,
        Engine::Core,
        Engine::CoreParquet,
        Engine::Limit,
    ];
    pub const IMPORT_ENGINES: [Engine; 3] = [
        Engine::BazofImport,
        Engine::DuckdbCopyBazof,
        Engine::DuckdbImport,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Engine::DuckdbBazof => "duckdb-bazof",
            Engine::DuckdbBazofWhere => "duckdb-bazof-where",
            Engine::DuckdbParquet => "duckdb-parquet",
            Engine::PolarsBazof => "polars-bazof",
            Engine::PolarsParquet => "polars-parquet",
            Engine::Core => "core",
            Engine::CoreParquet => "core-parquet",
            Engine::Limit => "limit",
            Engine::BazofImport => "bazof-import",
            Engine::DuckdbImport => "duckdb-import",
            Engine::DuckdbCopyBazof => "duckdb-copy-bazof",
        }
    }

    pub fn engines_for(q: Query) -> &'static [Engine] {
        if q == Query::Import {
            &Self::IMPORT_ENGINES
        } else {
            &Self::QUERY_ENGINES
        }
    }

    /// The baseline this cell is compared with (same engine, raw Parquet).
    pub fn baseline(self) -> Option<Engine> {
        match self {
            Engine::DuckdbBazof | Engine::DuckdbBazofWhere | Engine::Core => {
                Some(Engine::DuckdbParquet)
            }
            Engine::PolarsBazof => Some(Engine::PolarsParquet),
            Engine::BazofImport | Engine::DuckdbCopyBazof => Some(Engine::DuckdbImport),
            _ => None,
        }
    }

    pub fn is_bazof(self) -> bool {
        matches!(
            self,
            Engine::DuckdbBazof
                | Engine::DuckdbBazofWhere
                | Engine::PolarsBazof
                | Engine::Core
                | Engine::BazofImport
                | Engine::DuckdbCopyBazof
        )
    }
}

/// A query's answer, reduced to a few numbers every engine can compute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Q1–Q4: rows, sum(qty), sum(event_time µs mod p), count(active), sum(updated_at µs mod p),
    /// distinct categories (p = 1e9+7: exact in i64 in every engine, no floor division needed).
    /// Q5: groups, total, sum((i+1) * sum_i) over categories in name order. Import: rows.
    pub ints: Vec<i64>,
    /// Q1–Q4: sum(price).
    pub float: f64,
}

impl Answer {
    pub fn agrees(&self, other: &Answer) -> bool {
        self.ints == other.ints
            && (self.float - other.float).abs() <= 1e-6 * self.float.abs().max(1.0)
    }

    pub fn rows(&self) -> i64 {
        self.ints.first().copied().unwrap_or(0)
    }

    fn from_groups(groups: &BTreeMap<String, i64>) -> Answer {
        let total: i64 = groups.values().sum();
        let weighted: i64 = groups
            .values()
            .enumerate()
            .map(|(i, s)| (i as i64 + 1) * s)
            .sum();
        Answer {
            ints: vec![groups.len() as i64, total, weighted],
            float: 0.0,
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ints: Vec<String> = self.ints.iter().map(|i| i.to_string()).collect();
        write!(f, "{}", ints.join("/"))?;
        if self.float != 0.0 {
            write!(f, "/{:.2}", self.float)?;
        }
        Ok(())
    }
}

/// What one cell run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellOutcome {
    pub answer: Answer,
    pub wall_ms: f64,
    /// Bytes read: compressed column-chunk bytes decoded (bazof scans) or the size
    /// of the files read (Parquet baselines, limit; an upper bound).
    pub bytes: Option<u64>,
    pub note: String,
    /// Door cells: their engine's aggregate alone, over the same answer held in
    /// memory, timed after the cell's clock (the cell splits into door and engine).
    #[serde(default)]
    pub aggregate_ms: Option<f64>,
}

fn ts_sql(us: i64) -> String {
    let t = DateTime::from_timestamp_micros(us).expect("time");
    format!("TIMESTAMPTZ '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
}

fn sql_list(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

const CHECKSUM_SQL: &str = "SELECT count(*)::BIGINT, coalesce(sum(qty), 0)::BIGINT, \
    coalesce(sum(epoch_us(event_time) % 1000000007), 0)::BIGINT, coalesce(sum(active::INTEGER), 0)::BIGINT, \
    coalesce(sum(epoch_us(updated_at) % 1000000007), 0)::BIGINT, count(DISTINCT category)::BIGINT, \
    coalesce(sum(price), 0)::DOUBLE";

pub(crate) fn duckdb_answer(
    con: &duckdb::Connection,
    q: Query,
    src: &str,
    params: &[ArrowBatchRegistration],
) -> Result<Answer, BoxError> {
    let params = duckdb::params_from_iter(params.iter());
    if q.grouped() {
        let sql = format!(
            "SELECT category, sum(qty)::BIGINT FROM ({src}) GROUP BY category ORDER BY category"
        );
        let mut stmt = con.prepare(&sql)?;
        let rows = stmt.query_map(params, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut groups = BTreeMap::new();
        for row in rows {
            let (c, s) = row?;
            groups.insert(c, s);
        }
        Ok(Answer::from_groups(&groups))
    } else {
        let sql = format!("{CHECKSUM_SQL} FROM ({src})");
        Ok(con.query_row(&sql, params, |r| {
            Ok(Answer {
                ints: (0..6)
                    .map(|i| r.get::<_, i64>(i))
                    .collect::<Result<Vec<_>, _>>()?,
                float: r.get::<_, f64>(6)?,
            })
        })?)
    }
}

fn file_bytes(paths: &[String]) -> u64 {
    paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Runs one cell once; `Ok(None)` if the cell does not apply (e.g. no base for the limit).
pub fn run_cell(
    q: Query,
    e: Engine,
    meta: &Meta,
    scratch: &Path,
) -> Result<Option<CellOutcome>, BoxError> {
    match q {
        Query::Pit => return crate::pit::run_cell(e, meta),
        Query::Hist => return crate::hist::run_cell(e, meta),
        _ => {}
    }
    let as_of = q.as_of(meta);
    let keys = q.keys(meta);
    match e {
        Engine::DuckdbBazof | Engine::DuckdbBazofWhere => {
            let in_where = e == Engine::DuckdbBazofWhere;
            if in_where && keys.is_none() {
                return Ok(None);
            }
            // The C API v2 `bazof_scan`, which prunes by key predicates in WHERE.
            bazof_duckdb::install()?;
            let con = duckdb::Connection::open_in_memory()?;
            bazof_duckdb::register(&con)?;
            let mut args = format!("'{}'", meta.table);
            if let Some(t) = as_of {
                args += &format!(", as_of => {}", ts_sql(t));
            }
            let mut src = format!("SELECT * FROM bazof_scan({args}");
            match keys {
                Some([one]) if in_where => src += &format!(") WHERE key = '{one}'"),
                Some(k) if in_where => src += &format!(") WHERE key IN ({})", sql_list(k)),
                Some(k) => src += &format!(", keys => [{}])", sql_list(k)),
                None => src += ")",
            }
            let start = Instant::now();
            let answer = duckdb_answer(&con, q, &src, &[])?;
            let wall_ms = ms(start);
            let aggregate_ms = duckdb_aggregate_alone(&con, q, &src, &[])?;
            Ok(Some(CellOutcome {
                answer,
                wall_ms,
                bytes: None,
                note: String::new(),
                aggregate_ms: Some(aggregate_ms),
            }))
        }
        Engine::DuckdbParquet => {
            let con = duckdb::Connection::open_in_memory()?;
            let mut filter = match as_of {
                Some(t) => format!("event_time <= {}", ts_sql(t)),
                None => "true".to_string(),
            };
            if let Some(k) = keys {
                filter += &format!(" AND key IN ({})", sql_list(k));
            }
            let start = Instant::now();
            let (raw, regs) = duckdb_parquet_source(&con, &meta.raw_files, q.grouped())?;
            let src = format!(
                "SELECT * FROM (SELECT * FROM {raw} WHERE {filter} \
                 QUALIFY row_number() OVER (PARTITION BY key ORDER BY event_time DESC, \"commit\" DESC, \"row\" DESC) = 1) \
                 WHERE NOT deleted"
            );
            let answer = duckdb_answer(&con, q, &src, &regs)?;
            Ok(Some(CellOutcome {
                answer,
                wall_ms: ms(start),
                bytes: Some(file_bytes(&meta.raw_files)),
                note: PARQUET_NOTE.to_string(),
                aggregate_ms: None,
            }))
        }
        Engine::Limit => {
            if keys.is_some() {
                return Ok(None);
            }
            let files = [state_file_for(&meta.table, as_of)?];
            let con = duckdb::Connection::open_in_memory()?;
            let start = Instant::now();
            let (state, regs) = duckdb_parquet_source(&con, &files, q.grouped())?;
            let src = format!("SELECT * FROM {state}");
            let answer = duckdb_answer(&con, q, &src, &regs)?;
            Ok(Some(CellOutcome {
                answer,
                wall_ms: ms(start),
                bytes: Some(file_bytes(&files)),
                note: "the resolved state".into(),
                aggregate_ms: None,
            }))
        }
        Engine::PolarsBazof => {
            let report = Arc::new(Mutex::new(Vec::new()));
            let mut args = bazof_polars::ScanArgsBazof::default().with_report(report.clone());
            args.as_of = as_of.map(|t| DateTime::from_timestamp_micros(t).expect("time"));
            let start = Instant::now();
            let mut lf = bazof_polars::scan_bazof(&meta.table, args)?;
            if let Some(k) = keys {
                let list = Series::new("".into(), k.to_vec());
                lf = lf.filter(col("key").is_in(lit(list).implode(false), false));
            }
            let answer = polars_answer(q, lf.clone())?;
            let wall_ms = ms(start);
            let bytes = report
                .lock()
                .map(|r| r.iter().map(|s| s.bytes_decoded).sum())
                .ok();
            let aggregate_ms = polars_aggregate_alone(q, lf)?;
            Ok(Some(CellOutcome {
                answer,
                wall_ms,
                bytes,
                note: String::new(),
                aggregate_ms: Some(aggregate_ms),
            }))
        }
        Engine::PolarsParquet => {
            let start = Instant::now();
            let mut lf = polars_parquet_source(&meta.raw_files, q.grouped())?;
            if let Some(t) = as_of {
                lf = lf.filter(col("event_time").cast(DataType::Int64).lt_eq(lit(t)));
            }
            if let Some(k) = keys {
                let list = Series::new("".into(), k.to_vec());
                lf = lf.filter(col("key").is_in(lit(list).implode(false), false));
            }
            let lf = lf
                .sort(
                    ["event_time", "commit", "row"],
                    SortMultipleOptions::default(),
                )
                .unique_generic(Some(vec![col("key")]), UniqueKeepStrategy::Last)
                .filter(col("deleted").not());
            let answer = polars_answer(q, lf)?;
            Ok(Some(CellOutcome {
                answer,
                wall_ms: ms(start),
                bytes: Some(file_bytes(&meta.raw_files)),
                note: String::new(),
                aggregate_ms: None,
            }))
        }
        Engine::Core => {
            let start = Instant::now();
            let (
                answer,
                bazof::MetricTotals {
                    files_read: files,
                    row_groups_read: rg_read,
                    row_groups_skipped: rg_skipped,
                    rows_decoded: rows,
                    bytes_decoded: bytes,
                },
            ) = bazof::blocking::block_on(core_answer(q, meta, as_of, keys))?;
            Ok(Some(CellOutcome {
                answer,
                wall_ms: ms(start),
                bytes: Some(bytes),
                note: format!(
                    "{files} files, {rg_read} row groups read, {rg_skipped} skipped, {rows} rows decoded"
                ),
                aggregate_ms: None,
            }))
        }
        Engine::BazofImport => {
            let Some(cli) = bazof_cli() else {
                return Ok(None);
            };
            let dest = scratch.join("import-table");
            let _ = std::fs::remove_dir_all(&dest);
            let start = Instant::now();
            let out = std::process::Command::new(&cli)
                .arg("import")
                .arg(&dest)
                .arg(&meta.csv)
                .args(["--deleted", "deleted"])
                .stdin(std::process::Stdio::null())
                .output()?;
            let wall_ms = ms(start);
            if !out.status.success() {
                return Err(format!(
                    "{} import failed: {}",
                    cli.display(),
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
            imported(&dest, wall_ms, meta)
        }
        Engine::DuckdbCopyBazof => {
            let dest = scratch.join("copy-table");
            let _ = std::fs::remove_dir_all(&dest);
            bazof_duckdb::install()?;
            let con = duckdb::Connection::open_in_memory()?;
            let start = Instant::now();
            con.execute(
                &format!(
                    "COPY (FROM read_csv('{}')) TO '{}' (FORMAT bazof, DELETED 'deleted')",
                    meta.csv,
                    dest.display()
                ),
                [],
            )?;
            imported(&dest, ms(start), meta)
        }
        // Applies to `hist` only (above).
        Engine::CoreParquet => Ok(None),
        Engine::DuckdbImport => {
            let dest = scratch.join(if cfg!(feature = "duckdb-parquet") {
                "import.parquet"
            } else {
                "import.duckdb"
            });
            let _ = std::fs::remove_file(&dest);
            let start = Instant::now();
            let rows = if cfg!(feature = "duckdb-parquet") {
                let con = duckdb::Connection::open_in_memory()?;
                let sql = format!(
                    "COPY (FROM read_csv('{}')) TO '{}' (FORMAT parquet)",
                    meta.csv,
                    dest.display()
                );
                con.execute(&sql, [])? as i64
            } else {
                // Without DuckDB's parquet extension: into DuckDB's own file format.
                let con = duckdb::Connection::open(&dest)?;
                let n = con.execute(
                    &format!("CREATE TABLE imported AS FROM read_csv('{}')", meta.csv),
                    [],
                )? as i64;
                con.execute_batch("CHECKPOINT")?;
                n
            };
            let wall_ms = ms(start);
            let _ = std::fs::remove_file(&dest);
            let _ = std::fs::remove_file(dest.with_extension("duckdb.wal"));
            let note = if cfg!(feature = "duckdb-parquet") {
                ""
            } else {
                "CSV → DuckDB database file"
            };
            Ok(Some(import_outcome(rows, wall_ms, meta, note)))
        }
    }
}

/// The outcome of an import into the table at `dest` (removed afterwards): the rows
/// its commit stored.
fn imported(dest: &Path, wall_ms: f64, meta: &Meta) -> Result<Option<CellOutcome>, BoxError> {
    let rows = bazof::blocking::block_on(async {
        let t = Table::open(&dest.to_string_lossy()).await?;
        let s = t.snapshot(None).await?;
        Ok::<_, bazof::Error>(s.summary().map_or(-1, |s| s.rows_added as i64))
    })?;
    let _ = std::fs::remove_dir_all(dest);
    Ok(Some(import_outcome(rows, wall_ms, meta, "")))
}

/// An import cell's outcome: `rows` stored from the run's CSV.
fn import_outcome(rows: i64, wall_ms: f64, meta: &Meta, note: &str) -> CellOutcome {
    CellOutcome {
        answer: Answer {
            ints: vec![rows],
            float: 0.0,
        },
        wall_ms,
        bytes: Some(file_bytes(std::slice::from_ref(&meta.csv))),
        note: note.into(),
        aggregate_ms: None,
    }
}

/// How the DuckDB baseline reads Parquet. DuckDB's own `read_parquet` needs its
/// parquet extension, which the workspace's bundled DuckDB is built without (and
/// which cannot be downloaded here); with the crate feature `duckdb-parquet` the
/// benchmark uses it. Otherwise the files are decoded with arrow-rs (in parallel)
/// and scanned by DuckDB through its Arrow table function `arrow(?)` — the same
/// decoder and the same Arrow → DuckDB hand-over that `bazof_scan` uses.
const PARQUET_NOTE: &str = if cfg!(feature = "duckdb-parquet") {
    "read_parquet"
} else {
    "arrow-rs → arrow()"
};

pub(crate) fn duckdb_parquet_source(
    con: &duckdb::Connection,
    files: &[String],
    grouped: bool,
) -> Result<(String, Vec<ArrowBatchRegistration>), BoxError> {
    if cfg!(feature = "duckdb-parquet") {
        let list = files
            .iter()
            .map(|f| format!("'{f}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Ok((format!("read_parquet([{list}])"), Vec::new()));
    }
    con.register_table_function::<duckdb::vtab::arrow::ArrowVTab>("arrow")?;
    let columns: &[&str] = if grouped { &GROUPED_COLUMNS } else { &[] };
    let batches = read_parquet_files(files, columns)?;
    let regs: Vec<ArrowBatchRegistration> = batches
        .into_iter()
        .map(ArrowBatchRegistration::new)
        .collect();
    let union = (0..regs.len())
        .map(|_| "SELECT * FROM arrow(?)")
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    Ok((format!("({union})"), regs))
}

/// How the Polars baseline reads Parquet: Polars' own lazy `scan_parquet` with the
/// crate feature `polars-parquet` (it compiles Polars' Parquet reader, so it is off in
/// the test build), otherwise arrow-rs (files in parallel) handed to Polars zero-copy.
pub(crate) fn polars_parquet_source(
    files: &[String],
    grouped: bool,
) -> Result<LazyFrame, BoxError> {
    #[cfg(feature = "polars-parquet")]
    {
        let _ = grouped; // Polars pushes the projection down itself
        let paths = files.iter().map(|f| PlRefPath::new(f.as_str())).collect();
        Ok(LazyFrame::scan_parquet_files(
            paths,
            ScanArgsParquet::default(),
        )?)
    }
    #[cfg(not(feature = "polars-parquet"))]
    {
        let columns: &[&str] = if grouped { &GROUPED_COLUMNS } else { &[] };
        Ok(read_parquet_to_polars(files, columns)?.lazy())
    }
}

/// Columns query 5 needs (raw files and bases; missing names are ignored).
const GROUPED_COLUMNS: [&str; 8] = [
    "key",
    "event_time",
    "category",
    "qty",
    "deleted",
    "commit",
    "row",
    "_bazof_deleted",
];

/// After a cell's clock: freezes its peak RSS, then times DuckDB's aggregate alone over
/// the rows of `src` held in a table, so that the cell splits into the read and
/// DuckDB's own work.
pub(crate) fn duckdb_aggregate_alone(
    con: &duckdb::Connection,
    q: Query,
    src: &str,
    params: &[ArrowBatchRegistration],
) -> Result<f64, BoxError> {
    crate::freeze_peak_rss();
    con.execute(
        &format!("CREATE TEMP TABLE answer AS {src}"),
        duckdb::params_from_iter(params.iter()),
    )?;
    let start = Instant::now();
    duckdb_answer(con, q, "SELECT * FROM answer", &[])?;
    Ok(ms(start))
}

/// After a cell's clock: freezes its peak RSS, then times Polars' aggregate alone over
/// the rows of `lf` already in memory.
pub(crate) fn polars_aggregate_alone(q: Query, lf: LazyFrame) -> Result<f64, BoxError> {
    crate::freeze_peak_rss();
    let df = lf.collect()?;
    let start = Instant::now();
    polars_answer(q, df.lazy())?;
    Ok(ms(start))
}

pub(crate) fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// The `bazof` CLI: `$BAZOF_CLI`, else next to this binary (or its parent, for test binaries).
pub fn bazof_cli() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("BAZOF_CLI") {
        return Some(p.into());
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("bazof"), dir.parent()?.join("bazof")]
        .into_iter()
        .find(|p| p.is_file())
}

pub(crate) fn polars_answer(q: Query, lf: LazyFrame) -> Result<Answer, BoxError> {
    if q.grouped() {
        let df = lf
            .group_by([col("category")])
            .agg([col("qty").sum().cast(DataType::Int64).alias("s")])
            .collect()?;
        let cats = df.column("category")?.str()?.clone();
        let sums = df.column("s")?.i64()?.clone();
        let mut groups = BTreeMap::new();
        for (c, s) in (0..df.height()).map(|i| (cats.get(i), sums.get(i))) {
            if let Some(c) = c {
                groups.insert(c.to_string(), s.unwrap_or(0));
            }
        }
        return Ok(Answer::from_groups(&groups));
    }
    let secs = |c: &str| (col(c).cast(DataType::Int64) % lit(1_000_000_007i64)).sum();
    let df = lf
        .select([
            len().cast(DataType::Int64).alias("n"),
            col("qty").sum().cast(DataType::Int64).alias("qty"),
            secs("event_time").alias("secs"),
            col("active").cast(DataType::Int64).sum().alias("active"),
            secs("updated_at").alias("upd"),
            col("category")
                .n_unique()
                .cast(DataType::Int64)
                .alias("cats"),
            col("price").sum().cast(DataType::Float64).alias("price"),
        ])
        .collect()?;
    let get_i = |c: &str| -> Result<i64, BoxError> {
        Ok(df.column(c)?.get(0)?.extract::<i64>().unwrap_or(0))
    };
    Ok(Answer {
        ints: vec![
            get_i("n")?,
            get_i("qty")?,
            get_i("secs")?,
            get_i("active")?,
            get_i("upd")?,
            get_i("cats")?,
        ],
        float: df.column("price")?.get(0)?.extract::<f64>().unwrap_or(0.0),
    })
}

/// Reads Parquet files with arrow-rs, files in parallel (one thread per core),
/// each file as one record batch of the given columns (all if empty).
pub fn read_parquet_files(
    files: &[String],
    columns: &[&str],
) -> Result<Vec<RecordBatch>, BoxError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ProjectionMask;
    for_each_file(files, |path: &String| -> Result<RecordBatch, BoxError> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)?;
        let builder = if columns.is_empty() {
            builder
        } else {
            let present: Vec<usize> = builder
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| columns.contains(&f.name().as_str()))
                .map(|(i, _)| i)
                .collect();
            let mask = ProjectionMask::roots(builder.parquet_schema(), present);
            builder.with_projection(mask)
        };
        let reader = builder.with_batch_size(65536).build()?;
        let schema = arrow::array::RecordBatchReader::schema(&reader);
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        Ok(arrow::compute::concat_batches(&schema, &batches)?)
    })
}

/// `f` of every file, a thread per core taking the next file; results in file order.
pub(crate) fn for_each_file<T: Send>(
    files: &[String],
    f: impl Fn(&String) -> Result<T, BoxError> + Sync,
) -> Result<Vec<T>, BoxError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<T, BoxError>>>> =
        (0..files.len()).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.min(files.len()).max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= files.len() {
                    break;
                }
                let r = f(&files[i]);
                *results[i].lock().expect("lock") = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().expect("lock").expect("every file is read"))
        .collect()
}

/// Reads Parquet files with arrow-rs into one Polars frame, handing the buffers
/// over without copying (Arrow C Data Interface).
#[cfg_attr(feature = "polars-parquet", allow(dead_code))]
pub fn read_parquet_to_polars(files: &[String], columns: &[&str]) -> Result<DataFrame, BoxError> {
    let mut frame: Option<DataFrame> = None;
    for batch in read_parquet_files(files, columns)? {
        let df = bazof_polars::batch_to_frame(&batch)?;
        match frame.as_mut() {
            None => frame = Some(df),
            Some(f) => {
                f.vstack_mut(&df)?;
            }
        }
    }
    frame.ok_or_else(|| "no raw Parquet data".into())
}

#[derive(Default)]
pub(crate) struct Checksum {
    rows: i64,
    qty: i64,
    secs: i64,
    active: i64,
    upd: i64,
    cats: HashSet<String, foldhash::fast::RandomState>,
    price: f64,
    groups: HashMap<String, i64, foldhash::fast::RandomState>,
}

/// The sum of `v mod 1e9+7` over the valid values of a timestamp column.
fn sum_mod(a: &TimestampMicrosecondArray) -> i64 {
    const P: i64 = 1_000_000_007;
    let values = a.values();
    match a.nulls() {
        None => values.iter().map(|v| v.rem_euclid(P)).sum(),
        Some(n) => values
            .iter()
            .zip(n.iter())
            .map(|(v, ok)| if ok { v.rem_euclid(P) } else { 0 })
            .sum(),
    }
}

impl Checksum {
    /// The checksum answer (queries 1–4).
    pub(crate) fn answer(&self) -> Answer {
        Answer {
            ints: vec![
                self.rows,
                self.qty,
                self.secs,
                self.active,
                self.upd,
                self.cats.len() as i64,
            ],
            float: self.price,
        }
    }

    /// Adds another checksum's rows (of other keys).
    pub(crate) fn merge(&mut self, other: Checksum) {
        self.rows += other.rows;
        self.qty += other.qty;
        self.secs += other.secs;
        self.active += other.active;
        self.upd += other.upd;
        self.cats.extend(other.cats);
        self.price += other.price;
        for (c, s) in other.groups {
            *self.groups.entry(c).or_insert(0) += s;
        }
    }

    /// Adds a batch's rows; `time` names the column summed as the event time.
    /// Column at a time, with Arrow's kernels where they exist (as an engine would).
    pub(crate) fn add(
        &mut self,
        b: &RecordBatch,
        schema: &SchemaRef,
        time: &str,
        grouped: bool,
    ) -> Result<(), BoxError> {
        let col = |name: &str| -> Result<&dyn Array, BoxError> {
            let i = schema.index_of(name)?;
            Ok(b.column(i).as_ref())
        };
        let cat: &StringArray = col("category")?.as_string::<i32>();
        let qty: &Int64Array = col("qty")?.as_primitive();
        if grouped {
            for i in 0..b.num_rows() {
                if cat.is_valid(i) {
                    let v = if qty.is_valid(i) { qty.value(i) } else { 0 };
                    match self.groups.get_mut(cat.value(i)) {
                        Some(s) => *s += v,
                        None => {
                            self.groups.insert(cat.value(i).to_string(), v);
                        }
                    }
                }
            }
            return Ok(());
        }
        let et: &TimestampMicrosecondArray = col(time)?.as_primitive();
        let active: &BooleanArray = col("active")?.as_boolean();
        let upd: &TimestampMicrosecondArray = col("updated_at")?.as_primitive();
        let price: &Float64Array = col("price")?.as_primitive();
        self.rows += b.num_rows() as i64;
        self.qty += arrow::compute::sum(qty).unwrap_or(0);
        self.secs += sum_mod(et);
        self.active += active.true_count() as i64;
        self.upd += sum_mod(upd);
        self.price += arrow::compute::sum(price).unwrap_or(0.0);
        for c in cat.iter().flatten() {
            if !self.cats.contains(c) {
                self.cats.insert(c.to_string());
            }
        }
        Ok(())
    }
}

/// The checksum of a read's key ranges, each summed by a task of its own (as an engine
/// aggregates on every core), then put together.
pub(crate) async fn checksum_parts(
    parts: Vec<bazof::PartStream>,
    schema: &SchemaRef,
    time: &str,
    grouped: bool,
) -> Result<Checksum, BoxError> {
    use futures::StreamExt;
    let tasks: Vec<_> = parts
        .into_iter()
        .map(|mut part| {
            let (schema, time) = (schema.clone(), time.to_string());
            tokio::spawn(async move {
                let mut sum = Checksum::default();
                while let Some(batch) = part.next().await {
                    sum.add(&batch?, &schema, &time, grouped)?;
                }
                Ok::<_, BoxError>(sum)
            })
        })
        .collect();
    let mut total = Checksum::default();
    for task in tasks {
        total.merge(task.await??);
    }
    Ok(total)
}

async fn core_answer(
    q: Query,
    meta: &Meta,
    as_of: Option<i64>,
    keys: Option<&[String]>,
) -> Result<(Answer, bazof::MetricTotals), BoxError> {
    let table = Table::open(&meta.table).await?;
    let mut opts = ScanOptions::default();
    if let Some(t) = as_of {
        opts = opts.with_as_of(DateTime::from_timestamp_micros(t).expect("time"));
    }
    if let Some(k) = keys {
        opts = opts.with_key_predicate(KeyPredicate::In(
            k.iter().map(|s| KeyValue::String(s.clone())).collect(),
        ));
    }
    if q.grouped() {
        opts = opts.with_columns(["category", "qty"]);
    }
    let stream = table.scan(opts).await?;
    let schema = stream.schema();
    let metrics = stream.metrics();
    let sum = checksum_parts(stream.into_parts(), &schema, "event_time", q.grouped()).await?;
    let totals = metrics.totals();
    let answer = if q.grouped() {
        Answer::from_groups(&sum.groups.into_iter().collect())
    } else {
        sum.answer()
    };
    Ok((answer, totals))
}
