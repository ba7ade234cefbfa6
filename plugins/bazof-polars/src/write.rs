//! `write_bazof`: a Polars `DataFrame` or `LazyFrame` as one atomic bazof commit.

use bazof::{CommitInfo, Table, WriteOptions};
use polars::prelude::*;

use crate::convert::{chunk_to_batch, frame_schema};
use crate::scan::bazof_err;

/// Options of [`write_bazof`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteArgs {
    /// The key column (String or an integer type).
    pub key: String,
    /// The event-time column (Datetime or Date).
    pub event_time: String,
    /// A Boolean column marking deletions (tombstones); null = not deleted.
    pub deleted: Option<String>,
    /// SPEC §2.1: add columns the table lacks (nullable) and widen Int columns that
    /// receive Float values. Off: such input is refused, naming the columns.
    pub evolve: bool,
}

impl Default for WriteArgs {
    /// bazof's default column names: `key` and `event_time`.
    fn default() -> Self {
        Self {
            key: "key".into(),
            event_time: "event_time".into(),
            deleted: None,
            evolve: false,
        }
    }
}

/// What [`write_bazof`] writes: a frame in memory, or a lazy query.
pub enum WriteInput {
    /// A `DataFrame`, written chunk by chunk.
    Frame(DataFrame),
    /// A `LazyFrame`, collected by Polars' in-memory engine first (see [`write_bazof`]).
    Lazy(Box<LazyFrame>),
}

impl From<DataFrame> for WriteInput {
    fn from(df: DataFrame) -> Self {
        WriteInput::Frame(df)
    }
}

impl From<LazyFrame> for WriteInput {
    fn from(lf: LazyFrame) -> Self {
        WriteInput::Lazy(Box::new(lf))
    }
}

/// Writes the rows of a `DataFrame` or `LazyFrame` to the bazof table at `location`
/// as **one atomic commit**, creating the table (schema from the frame) on the first
/// write. Columns are matched by name; the input's schema is checked against the
/// table's before anything is written, and a failure leaves the table byte-for-byte
/// unchanged (files written so far are deleted).
///
/// Memory: the frame's chunks are handed to the core one at a time through the Arrow
/// C Data Interface (no copy), and the core sorts and writes runs of at most
/// [`bazof::DEFAULT_RUN_ROWS`] rows, so the writer adds bounded memory to what the frame
/// holds. A `LazyFrame`, though, is **collected first** by Polars' in-memory engine:
/// Polars 0.55 runs batch callbacks (`sink_batches`, `collect_batches`) only on its
/// streaming engine, which this build does not include, so the query's result is in
/// memory once. Slicing the query instead would re-run it per slice and still
/// materialise sorts and joins; to write more than fits in memory, write it in several
/// frames (each its own commit) or use `bazof import`.
pub fn write_bazof(
    frame: impl Into<WriteInput>,
    location: &str,
    args: WriteArgs,
) -> PolarsResult<CommitInfo> {
    let mut df = match frame.into() {
        WriteInput::Frame(df) => df,
        WriteInput::Lazy(lf) => lf.collect()?,
    };
    if df.should_rechunk() {
        df.align_chunks();
    }
    let schema = std::sync::Arc::new(frame_schema(&df)?);
    let mut options = WriteOptions::new(args.key, args.event_time).with_evolve(args.evolve);
    options.deleted = args.deleted;
    let mut writer = bazof::blocking::block_on(Table::begin_write(location, &schema, &options))
        .map_err(bazof_err)?;
    for chunk in df.iter_chunks(CompatLevel::newest(), false) {
        let written = chunk_to_batch(&schema, chunk)
            .and_then(|batch| bazof::blocking::block_on(writer.write(&batch)).map_err(bazof_err));
        if let Err(e) = written {
            // Leave the table as it was: delete the runs already written.
            let _ = bazof::blocking::block_on(writer.abort());
            return Err(e);
        }
    }
    bazof::blocking::block_on(writer.finish()).map_err(bazof_err)
}
