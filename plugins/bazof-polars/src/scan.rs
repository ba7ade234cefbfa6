//! The Polars `AnonymousScan` over a bazof table.

use std::any::Any;

use bazof::{KeyPredicate, KeyType, ScanOptions, Table, TableSchema};
use futures::StreamExt;
use polars::prelude::*;

use crate::convert::batch_to_frame;
use crate::predicate::{columns_of, evaluable, is_row_local, key_predicate};
use crate::{ScanArgsBazof, ScanReport};

pub(crate) fn bazof_err(e: bazof::Error) -> PolarsError {
    polars_err!(ComputeError: "bazof: {}", e)
}

/// A table pinned at one commit, as Polars sees it.
pub(crate) struct BazofScan {
    pub(crate) table: Table,
    /// The commit resolved when the LazyFrame was made: every collect reads it.
    pub(crate) commit: u64,
    pub(crate) schema: TableSchema,
    pub(crate) polars_schema: SchemaRef,
    pub(crate) args: ScanArgsBazof,
}

impl AnonymousScan for BazofScan {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self, _infer_schema_length: Option<usize>) -> PolarsResult<SchemaRef> {
        Ok(self.polars_schema.clone())
    }

    fn allows_predicate_pushdown(&self) -> bool {
        true
    }

    fn allows_projection_pushdown(&self) -> bool {
        true
    }

    fn scan(&self, scan_opts: AnonymousScanArgs) -> PolarsResult<DataFrame> {
        let pushed = Pushdown::new(scan_opts, &self.polars_schema, &self.schema.key)?;
        // The first n rows in key order are the core's `limit`.
        let key_pred = pushed.key_predicate(&self.schema.key, self.schema.key_type);
        let mut opts = ScanOptions::default()
            .with_snapshot(self.commit)
            .with_columns(pushed.read.clone());
        if let Some(t) = self.args.as_of {
            opts = opts.with_as_of(t);
        }
        if let Some(k) = key_pred {
            opts = opts.with_key_predicate(k);
        }
        if let Some(n) = self.args.batch_size {
            opts = opts.with_batch_size(n);
        }
        if let Some(n) = pushed.n_rows {
            opts = opts.with_limit(n);
        }
        let row_local = pushed.row_local();
        let batches_filtered = row_local.is_some();

        let table = &self.table;
        let stream = bazof::blocking::block_on(table.scan(opts.clone())).map_err(bazof_err)?;
        let plan = stream.plan();
        let (decoded_columns, files_planned, files_skipped) = (
            plan.decoded_columns.clone(),
            plan.files.len(),
            plan.skipped.len(),
        );
        let metrics = stream.metrics();
        let (frames, resolved, batches) =
            frames_in_key_order(stream.into_parts(), row_local.as_ref())?;
        let bazof::MetricTotals {
            files_read,
            row_groups_read,
            row_groups_skipped,
            rows_decoded,
            bytes_decoded,
        } = metrics.totals();
        let mut report = ScanReport {
            options: opts,
            polars_predicate: pushed.predicate.as_ref().map(|p| format!("{p}")),
            filtered_per_batch: batches_filtered,
            decoded_columns,
            files_planned,
            files_skipped,
            files_read,
            row_groups_read,
            row_groups_skipped,
            rows_decoded,
            bytes_decoded,
            batches,
            rows_resolved: resolved,
            rows_returned: 0,
        };

        let df = pushed.finish(frames, &self.polars_schema, batches_filtered)?;
        report.rows_returned = df.height();
        if let Some(sink) = &self.args.report {
            if let Ok(mut reports) = sink.lock() {
                reports.push(report);
            }
        }
        Ok(df)
    }
}

/// What Polars pushed into one of bazof's sources: the columns to return, the columns
/// to read (those and whatever the filter looks at; the key when there are none, since
/// `select(len())` needs rows but no values), the filter, which runs batch by batch
/// when it looks at one row at a time, and a slice (`head(n)`).
///
/// Polars' contract for a source's slice is "the first n rows, then the filter": the
/// in-memory engine applies a filter the source does not accept after `scan(n_rows)`,
/// and `head(n).filter(p)` does reach a source with both. So with a slice the key
/// predicate does not prune (it would change *which* rows are first), and the filter
/// runs once, after the slice.
pub(crate) struct Pushdown {
    output: Vec<String>,
    /// The columns the source must read.
    pub(crate) read: Vec<String>,
    /// The filter to apply to the rows read.
    pub(crate) predicate: Option<Expr>,
    /// Only the first n rows (in key order), before the filter.
    pub(crate) n_rows: Option<usize>,
}

impl Pushdown {
    /// Reads Polars' projection (`None`: every column of `schema`), filter and slice.
    pub(crate) fn new(args: AnonymousScanArgs, schema: &Schema, key: &str) -> PolarsResult<Self> {
        let output: Vec<String> = match &args.with_columns {
            Some(cols) => cols.iter().map(|c| c.to_string()).collect(),
            None => schema.iter_names().map(|c| c.to_string()).collect(),
        };
        let predicate = match args.predicate {
            Some(p) => evaluable(p)?,
            None => None,
        };
        let mut read = output.clone();
        if let Some(p) = &predicate {
            let mut used = Vec::new();
            columns_of(p, &mut used);
            for c in used {
                if !read.contains(&c) && schema.contains(&c) {
                    read.push(c);
                }
            }
        }
        if read.is_empty() {
            read.push(key.to_string());
        }
        Ok(Pushdown {
            output,
            read,
            predicate,
            n_rows: args.n_rows,
        })
    }

    /// The key predicate in the filter, for pruning (none under a slice).
    pub(crate) fn key_predicate(&self, key: &str, key_type: KeyType) -> Option<KeyPredicate> {
        self.predicate
            .as_ref()
            .filter(|_| self.n_rows.is_none())
            .and_then(|p| key_predicate(p, key, key_type))
    }

    /// The filter, when it can run on each batch as it arrives (not under a slice).
    pub(crate) fn row_local(&self) -> Option<Expr> {
        self.predicate
            .clone()
            .filter(|p| self.n_rows.is_none() && is_row_local(p))
    }

    /// The answer from the frames read (in order): stacked, cut to the slice, filtered
    /// unless each batch was (`batches_filtered`: by [`Pushdown::row_local`]), and cut
    /// to the output columns.
    pub(crate) fn finish(
        &self,
        frames: Vec<DataFrame>,
        schema: &Schema,
        batches_filtered: bool,
    ) -> PolarsResult<DataFrame> {
        let mut frames = frames.into_iter();
        let mut df = match frames.next() {
            Some(first) => first,
            None => {
                let names: Vec<PlSmallStr> = self.read.iter().map(|c| c.as_str().into()).collect();
                DataFrame::empty_with_schema(&schema.try_project(names)?)
            }
        };
        for f in frames {
            // Appends the chunks: no copy of the column buffers.
            df.vstack_mut_owned(f)?;
        }
        if let Some(n) = self.n_rows {
            df = df.slice(0, n);
        }
        if let (false, Some(p)) = (batches_filtered, &self.predicate) {
            df = filter(df, p)?;
        }
        if self.output.is_empty() {
            Ok(DataFrame::empty_with_height(df.height()))
        } else {
            df.select(self.output.iter().map(String::as_str))
        }
    }
}

/// Frames of a core read's key ranges, in key order, each filtered by `row_local` (a
/// predicate that looks at one row at a time) as it arrives. Returns the frames, the
/// rows read and the batches read.
///
/// Every range's merge and its batches' conversion into frames run ahead on the
/// runtime, range beside range, and this takes whichever range's frame is ready next.
/// Filters run here, on the calling (Polars) thread, outside the runtime: Polars
/// evaluates them on its own pool, and a runtime thread waiting for that pool hangs
/// once every Polars thread is itself waiting for a scan (a `concat` of more bazof
/// sources than Polars has threads).
pub(crate) fn frames_in_key_order(
    parts: Vec<bazof::PartStream>,
    row_local: Option<&Expr>,
) -> PolarsResult<(Vec<DataFrame>, u64, usize)> {
    let mut per_range: Vec<Vec<DataFrame>> = parts.iter().map(|_| Vec::new()).collect();
    // Each range's batches become frames on the runtime, beside the other ranges'.
    let frames = parts
        .into_iter()
        .map(|part| {
            let converted = part.map(|batch| batch_to_frame(&batch.map_err(bazof_err)?));
            bazof::blocking::run_ahead(converted.boxed()).map_err(bazof_err)
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    let mut ready = futures::stream::select_all(
        frames
            .into_iter()
            .enumerate()
            .map(|(i, part)| part.map(move |df| (i, df))),
    );
    let (mut resolved, mut batches) = (0u64, 0usize);
    while let Some((i, df)) = next_blocking(&mut ready)? {
        let mut df = df?;
        resolved += df.height() as u64;
        batches += 1;
        if let Some(p) = row_local {
            df = filter(df, p)?;
        }
        if df.height() > 0 {
            if let Some(frames) = per_range.get_mut(i) {
                frames.push(df);
            }
        }
    }
    Ok((per_range.into_iter().flatten().collect(), resolved, batches))
}

/// The frames of a core read's first `n` rows in key order (at least `n` rows, or all
/// there are): its key ranges read one after another, stopping there.
pub(crate) fn first_frames(
    parts: Vec<bazof::PartStream>,
    n: usize,
) -> PolarsResult<Vec<DataFrame>> {
    let (mut frames, mut rows) = (Vec::new(), 0usize);
    for mut part in parts {
        while rows < n {
            let Some(batch) = next_blocking(&mut part)? else {
                break;
            };
            let df = batch_to_frame(&batch.map_err(bazof_err)?)?;
            rows += df.height();
            frames.push(df);
        }
    }
    Ok(frames)
}

/// The next item of a stream, waited for on the bazof runtime from this (Polars) thread.
fn next_blocking<S: futures::Stream + Unpin + Send>(s: &mut S) -> PolarsResult<Option<S::Item>>
where
    S::Item: Send,
{
    bazof::blocking::block_on(async { Ok::<_, bazof::Error>(s.next().await) }).map_err(bazof_err)
}

/// `df` filtered by `p` (Polars' own evaluation).
fn filter(df: DataFrame, p: &Expr) -> PolarsResult<DataFrame> {
    df.lazy().filter(p.clone()).collect()
}
