//! SPEC §4: data files: Parquet, sorted by (key, event time), with reserved columns.

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, Scalar, StringArray,
    TimestampMicrosecondArray, UInt64Array,
};
use arrow::compute::kernels::zip::zip;
use arrow::error::ArrowError;
use chrono::{DateTime, Utc};
use object_store::buffered::BufWriter;
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::encode::FileEncoder;
use crate::error::{Error, Result};
use crate::schema::{ColumnType, KeyType, TableSchema, COMMIT_COLUMN, DELETED_COLUMN, SEQ_COLUMN};
use crate::snapshot::{DataFile, FileKind, KeyValue};
use crate::table::Table;
use crate::Commit;

/// Rows per Parquet row group: small enough for key predicates to skip most of a file.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

pub(crate) fn arrow_err(table: &Table, source: arrow::error::ArrowError) -> Error {
    Error::Arrow {
        table: table.location().to_string(),
        source,
    }
}

/// A key column, downcast once.
pub(crate) enum Keys<'a> {
    Str(&'a StringArray),
    Int(&'a Int64Array),
    None,
}

impl<'a> Keys<'a> {
    pub(crate) fn new(a: &'a dyn Array) -> Self {
        if let Some(s) = a.as_any().downcast_ref::<StringArray>() {
            Keys::Str(s)
        } else if let Some(i) = a.as_any().downcast_ref::<Int64Array>() {
            Keys::Int(i)
        } else {
            Keys::None
        }
    }

    pub(crate) fn value(&self, i: usize) -> Option<KeyValue> {
        match self {
            Keys::Str(s) => Some(KeyValue::String(s.value(i).to_string())),
            Keys::Int(a) => Some(KeyValue::Int(a.value(i))),
            Keys::None => None,
        }
    }
}

fn micros_to_time(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}

/// Rows per Parquet data page: with the page index, a key lookup decodes one page of
/// each column per matching key instead of the whole row group (SPEC §6.3).
pub const PAGE_ROWS: usize = 1024;

/// Largest dictionary page per column chunk. Reading any page of a chunk decodes its
/// dictionary first, so a page-sized lookup must not pay for a megabyte of it; a
/// column with more distinct values falls back to plain encoding.
const DICTIONARY_PAGE_BYTES: usize = 64 * 1024;

/// Writer settings: chunk statistics for every column and page statistics for the key
/// (the only column pages are pruned by), zstd (but for the event time and the
/// reserved columns; the encoder drops it for value columns where it does not pay,
/// see `FileEncoder::try_new`), bounded row groups and pages; no dictionary for the
/// key and event time (nearly every value is distinct).
/// Delta encodings where plain bytes compress badly: microsecond times carry some 46
/// random bits in 8 bytes (delta-packed: about 6 bytes a value where plain bytes under
/// zstd take 7), and a sorted integer key is delta-packed too; an integer or time value
/// column falls back to the same once its dictionary outgrows its page. A string key
/// shares long prefixes with its neighbour in a base (one row per key), so bases store
/// it delta-encoded; in deltas, where a key repeats or jumps, its lengths are
/// delta-packed and its bytes left to zstd, which is smaller there and decodes in one
/// copy instead of one string at a time.
pub(crate) fn writer_properties(schema: &TableSchema, kind: FileKind) -> WriterProperties {
    let key = ColumnPath::from(schema.key.as_str());
    let event_time = ColumnPath::from(schema.event_time.as_str());
    let key_encoding = match (schema.key_type, kind) {
        (KeyType::String, FileKind::Base) => Encoding::DELTA_BYTE_ARRAY,
        (KeyType::String, FileKind::Delta) => Encoding::DELTA_LENGTH_BYTE_ARRAY,
        (KeyType::Int, _) => Encoding::DELTA_BINARY_PACKED,
    };
    let mut props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_column_dictionary_enabled(key.clone(), false)
        .set_column_statistics_enabled(key.clone(), EnabledStatistics::Page)
        .set_column_encoding(key, key_encoding)
        .set_column_dictionary_enabled(event_time.clone(), false)
        .set_column_encoding(event_time, Encoding::DELTA_BINARY_PACKED)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_compression(Compression::ZSTD(Default::default()));
    // Uncompressed where ZSTD saves under 1 % (the reserved columns are runs of equal
    // values, the delta-packed event time is mostly random bits): parquet-rs builds a
    // compressor and a decompressor for every ZSTD column chunk it reads, which was a
    // tenth of a key lookup's time.
    for column in [
        schema.event_time.as_str(),
        DELETED_COLUMN,
        COMMIT_COLUMN,
        SEQ_COLUMN,
    ] {
        props = props.set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED);
    }
    // Tombstones are rare: run lengths instead of a bit per row (which ZSTD used to
    // squeeze), so that the uncompressed column stays as small as it was.
    props = props.set_column_encoding(ColumnPath::from(DELETED_COLUMN), Encoding::RLE);
    // A delta's commit and run are mostly one value per file: delta-packed, that is a
    // few bytes a page, without hashing every value into a dictionary of one entry. (A
    // base holds rows of many commits in key order, which a dictionary stores smaller.)
    if matches!(kind, FileKind::Delta) {
        for column in [COMMIT_COLUMN, SEQ_COLUMN] {
            props = props
                .set_column_dictionary_enabled(ColumnPath::from(column), false)
                .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
        }
    }
    for c in &schema.columns {
        if matches!(c.data_type, ColumnType::Int | ColumnType::DateTime) {
            props = props.set_column_encoding(
                ColumnPath::from(c.name.as_str()),
                Encoding::DELTA_BINARY_PACKED,
            );
        }
    }
    props.build()
}

/// What a new data file is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewFile {
    pub kind: FileKind,
    pub commit: Commit,
    pub base_start: Option<DateTime<Utc>>,
    pub folds_through: Option<Commit>,
}

/// Statistics of a file being written (batches arrive sorted by key).
#[derive(Default)]
struct Stats {
    rows: u64,
    min_key: Option<KeyValue>,
    max_key: Option<KeyValue>,
    min_et: Option<i64>,
    max_et: Option<i64>,
    min_commit: Option<Commit>,
    max_commit: Option<Commit>,
}

impl Stats {
    fn update(&mut self, batch: &RecordBatch, schema: &TableSchema) {
        let n = batch.num_rows();
        if n == 0 {
            return;
        }
        if let Some(k) = batch
            .column_by_name(&schema.key)
            .map(|a| Keys::new(a.as_ref()))
        {
            if self.rows == 0 {
                self.min_key = k.value(0);
            }
            self.max_key = k.value(n - 1);
        }
        if let Some(t) = batch
            .column_by_name(&schema.event_time)
            .and_then(|a| a.as_any().downcast_ref::<TimestampMicrosecondArray>())
        {
            self.min_et = [self.min_et, arrow::compute::min(t)]
                .into_iter()
                .flatten()
                .min();
            self.max_et = [self.max_et, arrow::compute::max(t)]
                .into_iter()
                .flatten()
                .max();
        }
        if let Some(c) = batch
            .column_by_name(COMMIT_COLUMN)
            .and_then(|a| a.as_any().downcast_ref::<UInt64Array>())
        {
            self.min_commit = [self.min_commit, arrow::compute::min(c)]
                .into_iter()
                .flatten()
                .min();
            self.max_commit = [self.max_commit, arrow::compute::max(c)]
                .into_iter()
                .flatten()
                .max();
        }
        self.rows += n as u64;
    }

    fn finish(self, path: String, bytes: u64, new: NewFile) -> DataFile {
        DataFile {
            path,
            kind: new.kind,
            rows: self.rows,
            bytes,
            min_event_time: self.min_et.and_then(micros_to_time),
            max_event_time: self.max_et.and_then(micros_to_time),
            min_key: self.min_key,
            max_key: self.max_key,
            commit: new.commit,
            min_commit: self.min_commit.unwrap_or(new.commit),
            max_commit: self.max_commit.unwrap_or(new.commit),
            base_start: new.base_start,
            folds_through: new.folds_through,
        }
    }
}

fn new_path(new: &NewFile) -> String {
    let kind = match new.kind {
        FileKind::Base => "base",
        FileKind::Delta => "delta",
    };
    format!(
        "data/c{:08}-{kind}-{}.parquet",
        new.commit,
        uuid::Uuid::new_v4().simple()
    )
}

/// A sequence of data files being written from sorted batches, each of at most
/// `max_rows` rows, uploading as it goes (bounded memory).
struct FileSink<'t> {
    table: &'t Table,
    schema: &'t TableSchema,
    new: NewFile,
    max_rows: usize,
    current: Option<(String, FileEncoder, Stats)>,
    done: Vec<DataFile>,
}

impl<'t> FileSink<'t> {
    fn new(table: &'t Table, schema: &'t TableSchema, new: NewFile, max_rows: usize) -> Self {
        Self {
            table,
            schema,
            new,
            max_rows,
            current: None,
            done: Vec::new(),
        }
    }

    /// Writes a batch already in file-schema order and sorted after everything before it.
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let table = self.table;
        if self.current.is_none() {
            let path = new_path(&self.new);
            let sink = BufWriter::new(table.location.store.clone(), table.location.child(&path));
            // The value columns keep zstd only where it pays (SPEC §4): after a
            // dictionary or delta encoding it often saves nothing, and every reader
            // would pay a codec and a decompression per column chunk.
            let values: Vec<usize> = self.schema.file_value_columns().collect();
            let writer = FileEncoder::try_new(
                sink,
                self.schema.file_schema(),
                writer_properties(self.schema, self.new.kind),
                &values,
            )
            .map_err(|e| data_err(table, &path, e))?;
            self.current = Some((path, writer, Stats::default()));
        }
        if let Some((path, writer, stats)) = self.current.as_mut() {
            let filled =
                without_tombstone_nulls(batch, self.schema).map_err(|e| arrow_err(table, e))?;
            writer
                .write(&filled)
                .await
                .map_err(|e| data_err(table, path, e))?;
            stats.update(batch, self.schema);
            if stats.rows as usize >= self.max_rows {
                if let Some(file) = self.current.take() {
                    self.done.push(close_file(table, file, self.new).await?);
                }
            }
        }
        Ok(())
    }

    /// Closes the open file; returns every file written.
    async fn finish(mut self) -> Result<Vec<DataFile>> {
        if let Some(file) = self.current.take() {
            self.done
                .push(close_file(self.table, file, self.new).await?);
        }
        Ok(self.done)
    }
}

/// SPEC §4: a tombstone's values are ignored. Where its nulls are the only ones of a
/// value column in a batch written to a data file, they are written as a value the
/// column already holds, here its first (a commit's sorted run arrives filled already:
/// `sorted_run` takes its tombstones' slots from the first live row as it gathers). The
/// column then holds no nulls, so readers need not spread a page's values over their
/// slots around its nulls (arrow-rs does that for every page that holds one), and the
/// value costs the encodings little (a dictionary entry that exists, a delta within the
/// column's range).
fn fill_tombstone_nulls(
    array: ArrayRef,
    deleted: &BooleanArray,
) -> std::result::Result<ArrayRef, ArrowError> {
    if !nulls_are_tombstones(array.as_ref(), deleted) {
        return Ok(array);
    }
    let Some(first) = array.nulls().and_then(|n| n.valid_indices().next()) else {
        return Ok(array);
    };
    zip(deleted, &Scalar::new(array.slice(first, 1)), &array)
}

/// Whether a column has nulls and tombstones hold all of them.
pub(crate) fn nulls_are_tombstones(array: &dyn Array, deleted: &BooleanArray) -> bool {
    array.nulls().is_some_and(|nulls| {
        nulls.null_count() > 0 && (nulls.inner() | deleted.values()).count_set_bits() == array.len()
    })
}

/// [`fill_tombstone_nulls`] on every value column of a batch in `schema`'s file order.
fn without_tombstone_nulls(
    batch: &RecordBatch,
    schema: &TableSchema,
) -> std::result::Result<RecordBatch, ArrowError> {
    let cols = batch.columns();
    let deleted = batch.column_by_name(DELETED_COLUMN);
    let Some(deleted) = deleted.and_then(|c| c.as_any().downcast_ref::<BooleanArray>()) else {
        return Ok(batch.clone());
    };
    if deleted.true_count() == 0 {
        return Ok(batch.clone());
    }
    // Key and event time first, then the value columns (SPEC §4).
    let mut out = cols.to_vec();
    for i in schema.file_value_columns() {
        out[i] = fill_tombstone_nulls(cols[i].clone(), deleted)?;
    }
    RecordBatch::try_new(batch.schema(), out)
}

/// Reorders a batch's columns into the file schema.
fn to_file_schema(table: &Table, schema: &TableSchema, batch: RecordBatch) -> Result<RecordBatch> {
    let file_schema = schema.file_schema();
    let indices = file_schema
        .fields()
        .iter()
        .map(|f| batch.schema().index_of(f.name()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| arrow_err(table, e))?;
    let batch = batch.project(&indices).map_err(|e| arrow_err(table, e))?;
    RecordBatch::try_new(file_schema, batch.columns().to_vec()).map_err(|e| arrow_err(table, e))
}

/// Streams sorted batches (any column order; written in file-schema order) into
/// data files of at most `max_rows` rows each, uploading as it goes (bounded memory).
pub(crate) async fn write_stream(
    table: &Table,
    schema: &TableSchema,
    batches: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
    new: NewFile,
    max_rows: usize,
) -> Result<Vec<DataFile>> {
    let mut parts = write_partitioned(table, schema, batches, new, max_rows, &[]).await?;
    Ok(parts.pop().unwrap_or_default())
}

/// Like [`write_stream`], but routes every row by its event time into one sequence of
/// files per event-time range: range `i` is `[bounds[i-1], bounds[i])` (`bounds` sorted;
/// range 0 starts at the beginning of time, the last one is open-ended). Each row keeps
/// its order, so every range's files are sorted too. Returns the files of each range.
pub(crate) async fn write_partitioned(
    table: &Table,
    schema: &TableSchema,
    mut batches: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
    new: NewFile,
    max_rows: usize,
    bounds: &[i64],
) -> Result<Vec<Vec<DataFile>>> {
    use futures::StreamExt;
    let mut sinks: Vec<FileSink> = (0..=bounds.len())
        .map(|_| FileSink::new(table, schema, new, max_rows))
        .collect();
    let et_index = 1;
    while let Some(batch) = batches.next().await {
        let batch = to_file_schema(table, schema, batch?)?;
        if bounds.is_empty() {
            sinks[0].write(&batch).await?;
            continue;
        }
        let Some(et) = batch
            .column(et_index)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
        else {
            return Err(Error::Internal {
                table: table.location().to_string(),
                reason: "event time is not a µs timestamp".into(),
            });
        };
        let part: Vec<usize> = et
            .values()
            .iter()
            .map(|t| bounds.partition_point(|b| b <= t))
            .collect();
        let first = part.first().copied().unwrap_or(0);
        if part.iter().all(|&p| p == first) {
            sinks[first].write(&batch).await?;
            continue;
        }
        for (i, sink) in sinks.iter_mut().enumerate() {
            let mask: arrow::array::BooleanArray = part.iter().map(|&p| Some(p == i)).collect();
            if mask.true_count() > 0 {
                let rows = arrow::compute::filter_record_batch(&batch, &mask)
                    .map_err(|e| arrow_err(table, e))?;
                sink.write(&rows).await?;
            }
        }
    }
    let mut out = Vec::with_capacity(sinks.len());
    for sink in sinks {
        out.push(sink.finish().await?);
    }
    Ok(out)
}

async fn close_file(
    table: &Table,
    (path, writer, stats): (String, FileEncoder, Stats),
    new: NewFile,
) -> Result<DataFile> {
    // `finish` writes the footer and completes the upload; the size is then known.
    let bytes = writer
        .finish()
        .await
        .map_err(|e| data_err(table, &path, e))?;
    Ok(stats.finish(path, bytes, new))
}

fn data_err(table: &Table, path: &str, e: parquet::errors::ParquetError) -> Error {
    Error::DataFile {
        table: table.location().to_string(),
        file: path.to_string(),
        reason: e.to_string(),
    }
}
