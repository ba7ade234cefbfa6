//! SPEC §4 and §9: reading data files into the merge layout.
//!
//! Every source yields batches of the *merge schema*: key, event time,
//! `_bazof_commit`, `_bazof_seq`, `_bazof_deleted`, then the projected value
//! columns, sorted by key, holding only rows with `event_time <= as_of` and keys
//! that satisfy the key predicate.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::kernels::cmp::lt_eq;
use arrow::compute::{
    cast, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch, SortColumn,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};

use crate::data_file::arrow_err;
use crate::decode_guard::guard_stream;
use crate::error::{Error, Result};
use crate::scan::metrics::ScanMetrics;
use crate::scan::options::ScanMode;
use crate::scan::plan::{PlannedFile, ScanPlan};
use crate::schema::{timestamp_type, COMMIT_COLUMN, DELETED_COLUMN, SEQ_COLUMN};
use crate::table::Table;

/// A stream of merge-schema batches.
pub(crate) type Source = BoxStream<'static, Result<RecordBatch>>;

/// Index of the first value column in the merge schema.
pub(crate) const FIRST_VALUE: usize = 5;

/// The merge schema of a plan.
pub(crate) fn merge_schema(plan: &ScanPlan) -> SchemaRef {
    let s = &plan.schema;
    let mut fields = vec![
        Field::new(&s.key, s.key_type.arrow_type(), false),
        Field::new(&s.event_time, timestamp_type(), false),
        Field::new(COMMIT_COLUMN, DataType::UInt64, false),
        Field::new(SEQ_COLUMN, DataType::UInt32, false),
        Field::new(DELETED_COLUMN, DataType::Boolean, false),
    ];
    for name in value_columns(plan) {
        if let Some(f) = s.arrow_field(name) {
            fields.push(f.with_nullable(true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// Value columns the scan decodes, in decode order.
pub(crate) fn value_columns(plan: &ScanPlan) -> Vec<&str> {
    plan.decoded_columns
        .iter()
        .map(String::as_str)
        .filter(|c| *c != plan.schema.key && *c != plan.schema.event_time)
        .collect()
}

/// Opens one planned file as a source: decode the planned row groups and pages of the
/// needed columns, map every batch onto the merge schema, and sort bazof 0.2 files.
pub(crate) async fn open_source(
    table: &Table,
    plan: &ScanPlan,
    file: &PlannedFile,
    metrics: &Arc<ScanMetrics>,
) -> Result<Source> {
    let legacy = plan.format_version == 0;
    let target = merge_schema(plan);
    let mut sources = column_sources(table, plan, file, &target)?;
    let consts = if legacy {
        [None; 3]
    } else {
        constant_reserved(plan, file, &mut sources)
    };
    let leaf_indices: Vec<usize> = {
        let mut v: Vec<usize> = sources.iter().flatten().copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let stream = decode(table, plan, file, &leaf_indices, metrics)?;
    let mut mapper = BatchMapper {
        table: table.location().to_string(),
        path: file.path.clone(),
        target: target.clone(),
        // Position of each projected file column inside the decoded batch.
        batch_pos: sources
            .iter()
            .map(|s| s.and_then(|j| leaf_indices.iter().position(|&c| c == j)))
            .collect(),
        legacy,
        consts,
        precedence: file.precedence,
        as_of: plan.as_of.map(|t| t.timestamp_micros()),
        key_pred: plan.options.key_predicate.clone(),
        metrics: metrics.clone(),
        row_offset: 0,
    };
    let decoded = stream.map_err({
        let err = mapper.err();
        move |e| err(e.to_string())
    });
    let mapped = guard_stream(decoded, mapper.err())
        .and_then(move |batch| futures::future::ready(mapper.map(batch)))
        .try_filter(|b| futures::future::ready(b.num_rows() > 0));
    if legacy {
        let batches: Vec<RecordBatch> = mapped.try_collect().await?;
        let sorted = sort_by_key(table, &target, &batches)?;
        return Ok(futures::stream::iter([Ok(sorted)]).boxed());
    }
    Ok(mapped.boxed())
}

/// Which file column feeds each merge column (`None`: synthesised: reserved columns of
/// bazof 0.2 files, and value columns added after the file was written, SPEC §2.1).
/// bazof 0.2 files have no reserved columns and are positional: key, event time, then values.
fn column_sources(
    table: &Table,
    plan: &ScanPlan,
    file: &PlannedFile,
    target: &Schema,
) -> Result<Vec<Option<usize>>> {
    let legacy = plan.format_version == 0;
    let file_schema = file.metadata.schema();
    let mut sources: Vec<Option<usize>> = Vec::with_capacity(target.fields().len());
    for (i, field) in target.fields().iter().enumerate() {
        let idx = match (legacy, i) {
            (true, 2..FIRST_VALUE) => {
                sources.push(None);
                continue;
            }
            (true, 0 | 1) => Some(i),
            (true, _) => plan
                .schema
                .columns
                .iter()
                .position(|c| c.name == *field.name())
                .map(|p| p + 2),
            (false, _) => file_schema.index_of(field.name()).ok(),
        };
        match idx {
            Some(j) if j < file_schema.fields().len() => sources.push(Some(j)),
            // SPEC §4: a value column added after the file was written reads as null.
            None if !legacy && i >= FIRST_VALUE => sources.push(None),
            _ => {
                return Err(Error::DataFile {
                    table: table.location().to_string(),
                    file: file.path.clone(),
                    reason: format!("column '{}' is missing from the file", field.name()),
                })
            }
        }
    }
    Ok(sources)
}

/// Starts decoding the planned row groups (and pages) of the given file columns, and
/// counts what that reads.
#[allow(deprecated)]
fn decode(
    table: &Table,
    plan: &ScanPlan,
    file: &PlannedFile,
    leaf_indices: &[usize],
    metrics: &ScanMetrics,
) -> Result<parquet::arrow::async_reader::ParquetRecordBatchStream<ParquetObjectReader>> {
    let mask = ProjectionMask::roots(file.metadata.parquet_schema(), leaf_indices.iter().copied());
    let reader = table.parquet_reader(&file.path, file.file_size);
    let mut builder =
        ParquetRecordBatchStreamBuilder::new_with_metadata(reader, file.metadata.clone())
            .with_projection(mask)
            .with_row_groups(file.row_groups.clone())
            .with_batch_size(plan.options.batch_size.max(1024));
    if let Some(selection) = &file.selection {
        builder = builder.with_row_selection(selection.clone());
    }
    let stream = builder.build().map_err(|e| Error::DataFile {
        table: table.location().to_string(),
        file: file.path.clone(),
        reason: e.to_string(),
    })?;
    metrics.files_read.fetch_add(1, Ordering::Relaxed);
    metrics
        .row_groups_read
        .fetch_add(file.row_groups.len() as u64, Ordering::Relaxed);
    metrics.row_groups_skipped.fetch_add(
        (file.row_groups_total - file.row_groups.len()) as u64,
        Ordering::Relaxed,
    );
    metrics
        .bytes_decoded
        .fetch_add(compressed_bytes(file, leaf_indices), Ordering::Relaxed);
    Ok(stream)
}

/// Maps decoded batches of one file onto the merge schema: synthesised columns,
/// casts, then the as-of and key filters.
struct BatchMapper {
    table: String,
    path: String,
    target: SchemaRef,
    batch_pos: Vec<Option<usize>>,
    legacy: bool,
    /// Reserved columns (commit, seq, deleted) not decoded: their value in every row.
    consts: [Option<u64>; 3],
    precedence: u64,
    as_of: Option<i64>,
    key_pred: Option<crate::predicate::KeyPredicate>,
    metrics: Arc<ScanMetrics>,
    /// Rows of the file seen so far (legacy tie ranks).
    row_offset: u64,
}

impl BatchMapper {
    /// An error about this file.
    fn err(&self) -> impl Fn(String) -> Error + Send + 'static {
        let (table, file) = (self.table.clone(), self.path.clone());
        move |reason| Error::DataFile {
            table: table.clone(),
            file: file.clone(),
            reason,
        }
    }

    fn map(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let err = self.err();
        let rows = batch.num_rows();
        self.metrics
            .rows_decoded
            .fetch_add(rows as u64, Ordering::Relaxed);
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.target.fields().len());
        for (i, field) in self.target.fields().iter().enumerate() {
            let col = match self.batch_pos[i] {
                Some(p) => batch.column(p).clone(),
                None if i >= FIRST_VALUE => arrow::array::new_null_array(field.data_type(), rows),
                None => self.synthesised(i, rows),
            };
            let col = if col.data_type() == field.data_type() {
                col
            } else if self.legacy || compatible(col.data_type(), field.data_type()) {
                cast(&col, field.data_type())
                    .map_err(|e| err(format!("column '{}': {e}", field.name())))?
            } else {
                return Err(err(format!(
                    "column '{}' has type {} in the file but {} in the snapshot schema",
                    field.name(),
                    col.data_type(),
                    field.data_type()
                )));
            };
            cols.push(col);
        }
        self.row_offset += rows as u64;
        let batch = RecordBatch::try_new_with_options(
            self.target.clone(),
            cols,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| err(e.to_string()))?;
        // bazof 0.2 files are sorted after this filter; every other file is sorted already.
        filter_rows(&batch, self.as_of, self.key_pred.as_ref(), !self.legacy)
            .map_err(|e| err(e.to_string()))
    }

    /// A merge column the file does not store (bazof 0.2 files) or that is not
    /// decoded ([`constant_reserved`]): the commit rank, the seq rank or the deletion flag.
    fn synthesised(&self, i: usize, rows: usize) -> ArrayRef {
        let constant = (2..FIRST_VALUE)
            .contains(&i)
            .then(|| self.consts[i - 2])
            .flatten();
        if let Some(v) = constant {
            return match i {
                2 => Arc::new(UInt64Array::from(vec![v; rows])),
                3 => Arc::new(UInt32Array::from(vec![v as u32; rows])),
                _ => Arc::new(BooleanArray::from(vec![v != 0; rows])),
            };
        }
        match i {
            2 => Arc::new(UInt64Array::from(vec![self.precedence; rows])),
            // Legacy: earlier rows win ties (bazof 0.2 kept the first row it saw).
            3 => Arc::new(UInt32Array::from_iter_values((0..rows as u64).map(|r| {
                u32::MAX - (self.row_offset + r).min(u32::MAX as u64) as u32
            }))),
            _ => Arc::new(BooleanArray::from(vec![false; rows])),
        }
    }
}

/// Reserved merge columns (commit, seq, deleted) that need no decoding, taken out of
/// `sources`; their value per row. A column is constant when the statistics of every
/// planned row group bound it to one value (a delta of one commit and one run, a file
/// without tombstones). A base read alone by a resolving scan has one row per key, so
/// its ranks are never compared: they read as 0.
fn constant_reserved(
    plan: &ScanPlan,
    file: &PlannedFile,
    sources: &mut [Option<usize>],
) -> [Option<u64>; 3] {
    // Ranks are only compared between rows of one key; a base alone has one per key.
    let alone_base = plan.mode == ScanMode::Resolve && plan.base_alone();
    let mut consts = [None; 3];
    for (k, i) in (2..FIRST_VALUE).enumerate() {
        let Some(j) = sources[i] else { continue };
        let value = if alone_base && i < 4 {
            Some(0)
        } else {
            constant_column(file, j)
        };
        if value.is_some() {
            consts[k] = value;
            sources[i] = None;
        }
    }
    consts
}

/// The one value of an integer or boolean column over the planned row groups, when
/// their statistics say there is only one (min = max, no nulls).
fn constant_column(file: &PlannedFile, column: usize) -> Option<u64> {
    let md = file.metadata.metadata();
    let mut value = None;
    for &rg in &file.row_groups {
        let stats = md.row_group(rg).column(column).statistics()?;
        if stats.null_count_opt() != Some(0) {
            return None;
        }
        let (min, max) = (stats.min_bytes_opt()?, stats.max_bytes_opt()?);
        if min != max {
            return None;
        }
        let v = match min.len() {
            1 => min[0] as u64,
            4 => u32::from_le_bytes(min.try_into().ok()?) as u64,
            8 => u64::from_le_bytes(min.try_into().ok()?),
            _ => return None,
        };
        if value.is_some_and(|x| x != v) {
            return None;
        }
        value = Some(v);
    }
    value
}

/// bazof 0.2 files are not sorted by key: sorts the (small) file in memory.
fn sort_by_key(table: &Table, target: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let all = concat_batches(target, batches).map_err(|e| arrow_err(table, e))?;
    if all.num_rows() == 0 {
        return Ok(all);
    }
    let idx = lexsort_to_indices(
        &[SortColumn {
            values: all.column(0).clone(),
            options: None,
        }],
        None,
    )
    .map_err(|e| arrow_err(table, e))?;
    take_record_batch(&all, &idx).map_err(|e| arrow_err(table, e))
}

/// Compressed bytes of the given columns that reading `file` fetches: whole column
/// chunks of the chosen row groups, or, under a page selection, the pages that hold
/// selected rows.
fn compressed_bytes(file: &PlannedFile, columns: &[usize]) -> u64 {
    let md = file.metadata.metadata();
    let chunk = |rg: usize, c: usize| md.row_group(rg).column(c).compressed_size().max(0) as u64;
    let Some(selection) = &file.selection else {
        return file
            .row_groups
            .iter()
            .map(|&rg| columns.iter().map(|&c| chunk(rg, c)).sum::<u64>())
            .sum();
    };
    // Selected row ranges, in the row numbering of the concatenated chosen row groups.
    let mut ranges = Vec::new();
    let mut row = 0usize;
    for s in selection.iter() {
        if !s.skip {
            ranges.push(row..row + s.row_count);
        }
        row += s.row_count;
    }
    let mut total = 0;
    let mut rg_start = 0usize;
    for &rg in &file.row_groups {
        let rows = md.row_group(rg).num_rows().max(0) as usize;
        let pages = md.page_index_for_row_group(rg);
        for &c in columns {
            let Some(offsets) = pages.offset_index(c) else {
                total += chunk(rg, c);
                continue;
            };
            let locs = offsets.page_locations();
            for (i, loc) in locs.iter().enumerate() {
                let first = rg_start + loc.first_row_index.max(0) as usize;
                let end = rg_start
                    + locs
                        .get(i + 1)
                        .map_or(rows, |n| n.first_row_index.max(0) as usize);
                if ranges.iter().any(|r| r.start < end && first < r.end) {
                    total += loc.compressed_page_size.max(0) as u64;
                }
            }
        }
        rg_start += rows;
    }
    total
}

/// Types a v1 reader accepts in place of the schema type (cast on read).
fn compatible(found: &DataType, expected: &DataType) -> bool {
    matches!(
        (found, expected),
        (DataType::Timestamp(_, _), DataType::Timestamp(_, _))
            | (DataType::LargeUtf8 | DataType::Utf8View, DataType::Utf8)
            | (DataType::Int32, DataType::Int64)
            | (DataType::Float32, DataType::Float64)
            // SPEC §2.1: an Int column widened to Float after the file was written.
            | (DataType::Int32 | DataType::Int64, DataType::Float64)
    )
}

/// Keeps rows with `event_time <= as_of` whose key satisfies the predicate
/// (`sorted`: the batch is sorted by key). In a sorted batch the keys of an interval
/// predicate (a key range task's bounds, say) are one span of rows: it is sliced, not
/// copied.
fn filter_rows(
    batch: &RecordBatch,
    as_of: Option<i64>,
    key_pred: Option<&crate::predicate::KeyPredicate>,
    sorted: bool,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let span = key_pred
        .filter(|_| sorted)
        .and_then(|p| p.sorted_span(batch.column(0)));
    let batch = match &span {
        Some(s) if s.len() < batch.num_rows() => batch.slice(s.start, s.len()),
        _ => batch.clone(),
    };
    let mut mask: Option<BooleanArray> = match key_pred {
        Some(p) if span.is_none() => Some(p.evaluate(batch.column(0))),
        _ => None,
    };
    if let Some(t) = as_of {
        let ts = batch.column(1);
        let scalar = arrow::array::TimestampMicrosecondArray::new_scalar(t);
        let scalar_arr = scalar.into_inner();
        let t_arr = cast(&scalar_arr, ts.data_type())?;
        let m = lt_eq(ts, &arrow::array::Scalar::new(t_arr))?;
        mask = Some(match mask {
            Some(k) => arrow::compute::and(&k, &m)?,
            None => m,
        });
    }
    match mask {
        Some(m) if m.true_count() < batch.num_rows() => filter_record_batch(&batch, &m),
        _ => Ok(batch),
    }
}
