//! # bazof-polars: a bazof table as a Polars `LazyFrame`
//!
//! [`scan_bazof`] returns a `LazyFrame` of a table as of an event time (`as_of`) and
//! as known at a commit (`snapshot`); the whole lazy API then applies:
//!
//! ```
//! # use std::sync::Arc;
//! # use arrow::array::{RecordBatch, StringArray, Int64Array, TimestampMicrosecondArray};
//! # use bazof::{ColumnDef, ColumnType, KeyType, Table, TableSchema};
//! use bazof_polars::{scan_bazof, ScanArgsBazof};
//! use polars::prelude::*;
//! # bazof::blocking::block_on(async {
//! # let schema = TableSchema::new(KeyType::String, vec![
//! #     ColumnDef::new("industry", ColumnType::String), ColumnDef::new("revenue", ColumnType::Int)]);
//! # let table = Table::create("memory://doc/financials", schema).await.unwrap();
//! # let t = |d: &str| chrono::DateTime::parse_from_rfc3339(d).unwrap().timestamp_micros();
//! # table.commit(&[RecordBatch::try_from_iter([
//! #     ("key", Arc::new(StringArray::from(vec!["ACME", "ACME", "INIT"])) as _),
//! #     ("event_time", Arc::new(TimestampMicrosecondArray::from(vec![
//! #         t("2019-01-01T00:00:00Z"), t("2019-02-01T00:00:00Z"), t("2019-01-05T00:00:00Z")]).with_timezone("UTC")) as _),
//! #     ("industry", Arc::new(StringArray::from(vec!["Software", "Retail", "Software"])) as _),
//! #     ("revenue", Arc::new(Int64Array::from(vec![10, 20, 5])) as _),
//! # ]).unwrap()]).await?;
//! # Ok::<_, bazof::Error>(())
//! # }).unwrap();
//! let args = ScanArgsBazof::default().with_as_of_str("2019-01-17")?;
//! let top = scan_bazof("memory://doc/financials", args)?
//!     .filter(col("industry").eq(lit("Software")))
//!     .sort(["revenue"], SortMultipleOptions::default().with_order_descending(true))
//!     .select([col("key").alias("symbol"), col("revenue")])
//!     .limit(5)
//!     .collect()?;
//! assert_eq!(top.height(), 2); // ACME only moved to Retail in February
//! # Ok::<_, PolarsError>(())
//! ```
//!
//! ## What the scan promises
//!
//! * **One snapshot.** The commit is resolved when `scan_bazof` is called (the latest
//!   one unless [`ScanArgsBazof::snapshot`] names one); the schema comes from that
//!   snapshot without reading any data file, and every `collect` of the `LazyFrame`
//!   reads that same commit, so the schema and the data always agree.
//! * **Projection pushdown.** Only the columns the query uses are decoded from
//!   Parquet (plus the key and event time, which resolution needs).
//! * **Predicate pushdown that never changes the answer** (DESIGN §5). The part of a
//!   filter that constrains only the key (`==`, `is_in`, `<`, `<=`, `>`, `>=`, a
//!   between written as `key >= a & key <= b`, and `&`/`|` of those) becomes a
//!   [`bazof::KeyPredicate`] that prunes files and row groups before resolution.
//!   The *whole* filter is then evaluated on the resolved rows inside the scan:
//!   Polars does not re-apply a predicate that a scan accepted, and a filter on a
//!   value column (`industry == "Software"`) evaluated before resolution would
//!   resurrect an older row of a key whose newest row no longer matches.
//! * **Slice pushdown.** A `head(n)`/`limit(n)` that Polars pushes into the scan
//!   becomes the core's `limit`: reading stops after `n` resolved rows in key order.
//!   Polars pushes it only when no filter sits between (`filter(p).head(n)` keeps its
//!   slice above the scan). In `head(n).filter(p)` the scan receives both, meaning
//!   "the first `n` rows, then `p`" (what Polars itself does with a predicate a scan
//!   refuses); then the key part of `p` does not prune, since pruning would change
//!   which rows come first.
//! * **Types.** Key `String` or `Int64`; event time and DateTime columns
//!   `Datetime(µs, "UTC")`; `Date`, `Float64`, `Boolean`, `Int64`; nulls stay nulls.
//!   Buffers move from arrow-rs to Polars through the Arrow C Data Interface without
//!   copying values (strings: Polars builds its views over the same bytes).
//!
//! ## Why `AnonymousScan`, and what it costs
//!
//! Polars 0.55.2 (pinned) offers a Rust library two ways to be a lazy source: an
//! in-memory `DataFrame` (no pushdown at all) and the [`AnonymousScan`] trait, which
//! receives the projection, the predicate as a walkable `Expr`, and the pushed
//! slice. Its newer streaming I/O sources (`FileScanIR`) are a closed enum of
//! built-in formats plus a Python-only dataset hook, with no Rust extension point.
//! So this crate implements `AnonymousScan`. Its limits, read from the 0.55.2 source:
//!
//! * **One `DataFrame` per scan.** `AnonymousScan::scan` returns a whole frame. The
//!   core yields the result in Arrow batches (default 8192 rows), one stream per key
//!   range; every range is read by a task of its own at the same time, each batch
//!   converted and filtered right away when the predicate is row-local (then only the
//!   matching rows are kept), and the batches are appended as chunks in key order
//!   (no copy). Peak
//!   memory is therefore the *result* of the scan (resolved, projected, filtered
//!   rows), not the table; a predicate that is not row-local (a window or an
//!   aggregate) is evaluated once on the whole resolved projection.
//! * **No streaming engine.** The new streaming engine lowers an anonymous scan to
//!   `todo!("unimplemented: AnonymousScan")` (`polars-stream`, `lower_ir.rs`), and the
//!   optimizer marks it "TODO: can be true after Anonymous scan dispatches to
//!   new-streaming". This workspace also builds Polars without its `streaming`
//!   feature, where `Engine::Streaming` panics with "activate 'streaming' feature"
//!   for *any* query. [`scan_bazof`] therefore returns an error (instead of leaving a
//!   panic for `collect`) when `POLARS_FORCE_STREAMING=1` is set; an explicit
//!   `collect_with_engine(Engine::Streaming)` cannot be intercepted by a source and
//!   panics inside Polars. Use the default engine (`collect()`); applications that
//!   enable Polars' `streaming` feature can set `POLARS_AUTO_STREAMING=1`, which
//!   catches that `todo!` and falls back to the in-memory engine. Sinks
//!   (`sink_parquet`) are likewise streaming-engine features in 0.55 and not built here.
//!
//! When Polars gains a Rust streaming source, only `scan.rs` changes: the core
//! already yields bounded batches.
//!
//! ## Observing the work
//!
//! [`ScanArgsBazof::report`] collects one [`ScanReport`] per scan Polars runs: the
//! core's options (columns, key predicate, limit), the columns decoded, files and
//! row groups read and skipped, rows and bytes decoded. The tests use it to prove
//! the pushdowns; it is also handy in an `explain`-style debugging session.
#![warn(missing_docs)]

mod bitemporal;
mod convert;
mod predicate;
mod scan;
mod write;

pub use bitemporal::{scan_bazof_diff, scan_bazof_history};
pub use convert::batch_to_frame;
pub use write::{write_bazof, WriteArgs, WriteInput};

use std::sync::{Arc, Mutex};

use bazof::{ScanOptions, Table};
use chrono::{DateTime, Utc};
use polars::prelude::*;

use crate::scan::{bazof_err, BazofScan};

/// Where [`ScanReport`]s are collected (shared with the `LazyFrame`'s scans).
pub type ScanReportSink = Arc<Mutex<Vec<ScanReport>>>;

/// Options of [`scan_bazof`].
#[derive(Debug, Default, Clone)]
pub struct ScanArgsBazof {
    /// Event time to travel to: keep events with `event_time <= as_of` (default: current).
    pub as_of: Option<DateTime<Utc>>,
    /// Commit to travel to (default: the latest when `scan_bazof` is called).
    /// Together with `as_of`: bitemporal, "what was true at `as_of`, as known at `snapshot`".
    pub snapshot: Option<u64>,
    /// Rows per batch the core yields (default: the core's, 8192).
    pub batch_size: Option<usize>,
    /// Collects a [`ScanReport`] for every scan the `LazyFrame` runs.
    pub report: Option<ScanReportSink>,
}

impl ScanArgsBazof {
    /// Sets the event time to travel to.
    #[must_use]
    pub fn with_as_of(mut self, as_of: DateTime<Utc>) -> Self {
        self.as_of = Some(as_of);
        self
    }

    /// Sets the event time from text in any form [`bazof::time`] accepts: RFC 3339
    /// (`2019-01-17T12:00:00Z`), a UTC date-time (`2019-01-17 12:00`, `2019-01-17T12:00Z`)
    /// or a date (`2019-01-17`, its first instant in UTC).
    pub fn with_as_of_str(self, as_of: &str) -> PolarsResult<Self> {
        Ok(self.with_as_of(parse_as_of(as_of)?))
    }

    /// Sets the commit to travel to.
    #[must_use]
    pub fn with_snapshot(mut self, snapshot: u64) -> Self {
        self.snapshot = Some(snapshot);
        self
    }

    /// Sets the batch size of the core scan.
    #[must_use]
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = Some(rows);
        self
    }

    /// Collects a [`ScanReport`] of every scan into `sink`.
    #[must_use]
    pub fn with_report(mut self, sink: ScanReportSink) -> Self {
        self.report = Some(sink);
        self
    }
}

/// Parses an `as_of` time in any form [`bazof::time`] accepts.
pub fn parse_as_of(text: &str) -> PolarsResult<DateTime<Utc>> {
    bazof::time::parse(text).map_err(bazof_err)
}

/// What one scan asked of the core and what it cost.
#[derive(Debug, Clone)]
pub struct ScanReport {
    /// The core scan's options: columns, key predicate (pruning), limit, as_of, snapshot.
    pub options: ScanOptions,
    /// The predicate Polars pushed into the scan, as Polars prints it.
    pub polars_predicate: Option<String>,
    /// Whether the predicate was applied batch by batch (row-local, no `head`) rather than once.
    pub filtered_per_batch: bool,
    /// User columns decoded from Parquet.
    pub decoded_columns: Vec<String>,
    /// Data files the plan reads.
    pub files_planned: usize,
    /// Data files the plan skips (with a reason in the core's plan).
    pub files_skipped: usize,
    /// Data files opened.
    pub files_read: u64,
    /// Row groups decoded.
    pub row_groups_read: u64,
    /// Row groups skipped by key statistics.
    pub row_groups_skipped: u64,
    /// Rows decoded from Parquet.
    pub rows_decoded: u64,
    /// Compressed bytes of the column chunks decoded.
    pub bytes_decoded: u64,
    /// Batches the core yielded.
    pub batches: usize,
    /// Rows after resolution (before the Polars predicate).
    pub rows_resolved: u64,
    /// Rows handed to Polars.
    pub rows_returned: usize,
}

/// A bazof table as a Polars `LazyFrame` (see the crate docs for what is pushed
/// down and the engine it needs).
///
/// `location` is a path, `file://`, `memory://` or `s3://` URL. Opens the table and
/// reads the snapshot's schema now (no data file); reads data at `collect`.
pub fn scan_bazof(location: &str, args: ScanArgsBazof) -> PolarsResult<LazyFrame> {
    if std::env::var("POLARS_FORCE_STREAMING").as_deref() == Ok("1") {
        polars_bail!(
            InvalidOperation: "bazof: POLARS_FORCE_STREAMING=1 is set, but Polars 0.55 runs custom scans only on the \
            in-memory engine (its streaming engine has no Rust scan sources yet); unset it to scan '{}'", location
        );
    }
    let (table, commit, schema) = bazof::blocking::block_on(async {
        let table = Table::open(location).await?;
        let snap = table.snapshot(args.snapshot).await?;
        Ok::<_, bazof::Error>((table, snap.commit(), snap.schema().clone()))
    })
    .map_err(bazof_err)?;
    let polars_schema = Arc::new(convert::schema_to_polars(&schema.arrow_schema())?);
    let source = BazofScan {
        table,
        commit,
        schema,
        polars_schema: polars_schema.clone(),
        args,
    };
    LazyFrame::anonymous_scan(
        Arc::new(source),
        ScanArgsAnonymous {
            schema: Some(polars_schema),
            name: "BAZOF SCAN",
            ..Default::default()
        },
    )
}

/// The table as an iterator of `DataFrame`s in key order, one per core batch, for Rust
/// callers that must not hold the whole result (bounded memory: a few batches per
/// key-range task). `columns` projects (default: all); the core's key pruning applies
/// through `key_predicate`. Polars' lazy API (and its in-memory engine) is not involved.
pub fn scan_bazof_batches(
    location: &str,
    args: ScanArgsBazof,
    columns: Option<Vec<String>>,
    key_predicate: Option<bazof::KeyPredicate>,
) -> PolarsResult<impl Iterator<Item = PolarsResult<DataFrame>>> {
    let mut opts = ScanOptions {
        as_of: args.as_of,
        snapshot: args.snapshot,
        columns,
        key_predicate,
        ..ScanOptions::default()
    };
    if let Some(n) = args.batch_size {
        opts = opts.with_batch_size(n);
    }
    let location = location.to_string();
    let stream = bazof::blocking::block_on(async move {
        let table = Table::open(&location).await?;
        table.scan(opts).await
    })
    .map_err(bazof_err)?;
    Ok(bazof::blocking::BlockingScan::new(stream)
        .map(|batch| batch_to_frame(&batch.map_err(bazof_err)?)))
}
