//! SPEC §4: encoding one data file. Rows are cut into row groups of
//! [`ROW_GROUP_ROWS`](crate::data_file::ROW_GROUP_ROWS); the columns of each row group
//! are encoded and compressed on all cores at once (a flat schema has one Parquet
//! leaf per column), appended in schema order, and uploaded while the next row group
//! fills. The file is byte for byte the one Parquet's own single-threaded
//! `ArrowWriter` writes with the same properties (a test checks it), unless the caller
//! lets the first row group choose some columns' codec ([`FileEncoder::try_new`]).

use std::collections::VecDeque;
use std::sync::Mutex;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use object_store::buffered::BufWriter;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use tokio::io::AsyncWriteExt;

/// A Parquet file being written to an object store upload.
pub(crate) struct FileEncoder {
    schema: SchemaRef,
    writer: SerializedFileWriter<Vec<u8>>,
    factory: ArrowRowGroupWriterFactory,
    upload: BufWriter,
    /// Rows of the row group being filled, as slices of the caller's batches.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    row_group_rows: usize,
    /// Writers of the same columns without compression (for the trial's columns).
    uncompressed: Option<ArrowRowGroupWriterFactory>,
    /// Columns whose codec the first row group chooses (emptied once it has).
    trial: Vec<usize>,
    /// Columns written without compression: those of `trial` that the codec shrank
    /// to more than [`KEEP_COMPRESSED_SHARE`] of their encoded bytes.
    plain: Vec<usize>,
}

/// A column of `trial` keeps its codec where that shrinks the first row group's chunk
/// to at most this share of its encoded bytes (saves a tenth or more).
const KEEP_COMPRESSED_SHARE: f64 = 0.9;

impl FileEncoder {
    /// Starts a file of `schema` (flat) with `props`, uploading to `upload`. The
    /// columns in `trial` keep their codec only where it pays: their chunks of the
    /// first row group are encoded as `props` says, and those the codec shrank by
    /// under a tenth are encoded again without compression, as they are in every
    /// later row group (each column chunk names its codec in the footer, so readers
    /// need nothing else).
    pub(crate) fn try_new(
        upload: BufWriter,
        schema: SchemaRef,
        props: WriterProperties,
        trial: &[usize],
    ) -> Result<Self> {
        let row_group_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        let uncompressed = match trial {
            [] => None,
            _ => {
                let mut plain = props.clone().into_builder();
                for &c in trial {
                    let field = schema.fields().get(c).ok_or_else(|| {
                        ParquetError::General(format!("no column {c} to compress or not"))
                    })?;
                    plain = plain.set_column_compression(
                        ColumnPath::from(field.name().as_str()),
                        Compression::UNCOMPRESSED,
                    );
                }
                let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(plain.build()))?;
                Some(writer.into_serialized_writer()?.1)
            }
        };
        // `ArrowWriter` derives the Parquet schema and embeds the Arrow one; its
        // lower-level parts then let each column chunk be encoded on its own thread.
        let (writer, factory) = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?
            .into_serialized_writer()?;
        Ok(Self {
            schema,
            writer,
            factory,
            upload,
            pending: Vec::new(),
            pending_rows: 0,
            row_group_rows,
            uncompressed,
            trial: trial.to_vec(),
            plain: Vec::new(),
        })
    }

    /// Writers for row group `index`: `factory`'s, but `uncompressed`'s for `plain`.
    fn column_writers(&self, index: usize) -> Result<Vec<(usize, ArrowColumnWriter)>> {
        let mut writers: Vec<(usize, ArrowColumnWriter)> = self
            .factory
            .create_column_writers(index)?
            .into_iter()
            .enumerate()
            .collect();
        if writers.len() != self.schema.fields().len() {
            return Err(ParquetError::General(format!(
                "a data file's schema must be flat: {} Parquet leaves for {} columns",
                writers.len(),
                self.schema.fields().len()
            )));
        }
        for (c, w) in self.plain_writers(index)? {
            writers[c].1 = w;
        }
        Ok(writers)
    }

    /// Uncompressed writers for row group `index` of the columns in `plain`.
    fn plain_writers(&self, index: usize) -> Result<Vec<(usize, ArrowColumnWriter)>> {
        match (&self.uncompressed, self.plain.is_empty()) {
            (Some(factory), false) => Ok(factory
                .create_column_writers(index)?
                .into_iter()
                .enumerate()
                .filter(|(c, _)| self.plain.contains(c))
                .collect()),
            _ => Ok(Vec::new()),
        }
    }

    /// Adds rows (in the file's schema); full row groups are encoded and uploaded.
    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (self.row_group_rows - self.pending_rows).min(batch.num_rows() - offset);
            self.pending.push(batch.slice(offset, take));
            self.pending_rows += take;
            offset += take;
            if self.pending_rows == self.row_group_rows {
                self.flush_row_group().await?;
            }
        }
        Ok(())
    }

    /// Encodes the pending rows as one row group on all cores and uploads its bytes.
    async fn flush_row_group(&mut self) -> Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let index = self.writer.flushed_row_groups().len();
        let writers = self.column_writers(index)?;
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        let mut chunks = encode_columns(&self.schema, writers, &pending)?;
        if !self.trial.is_empty() {
            let shrank_little = |c: &usize| {
                chunks.get(*c).is_some_and(|chunk| {
                    let m = &chunk.close().metadata;
                    m.compressed_size() as f64
                        > KEEP_COMPRESSED_SHARE * m.uncompressed_size() as f64
                })
            };
            self.plain = std::mem::take(&mut self.trial)
                .into_iter()
                .filter(shrank_little)
                .collect();
            let writers = self.plain_writers(index)?;
            let columns: Vec<usize> = writers.iter().map(|(c, _)| *c).collect();
            let again = encode_columns(&self.schema, writers, &pending)?;
            for (c, chunk) in columns.into_iter().zip(again) {
                chunks[c] = chunk;
            }
        }
        drop(pending);
        let mut row_group = self.writer.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        self.upload_buffered().await
    }

    async fn upload_buffered(&mut self) -> Result<()> {
        let bytes = std::mem::take(self.writer.inner_mut());
        self.upload
            .write_all(&bytes)
            .await
            .map_err(|e| ParquetError::External(Box::new(e)))
    }

    /// Writes the last row group and the footer and completes the upload; returns the
    /// file's size in bytes.
    pub(crate) async fn finish(mut self) -> Result<u64> {
        self.flush_row_group().await?;
        self.writer.finish()?;
        self.upload_buffered().await?;
        self.upload
            .shutdown()
            .await
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(self.writer.bytes_written() as u64)
    }
}

/// Encodes the given columns (index, writer) of one row group: each on the next free
/// core, started in schema order (the key, the widest, first). Returns the chunks in
/// the order of `writers`.
fn encode_columns(
    schema: &SchemaRef,
    writers: Vec<(usize, ArrowColumnWriter)>,
    rows: &[RecordBatch],
) -> Result<Vec<ArrowColumnChunk>> {
    let fields = schema.fields();
    let count = writers.len();
    // A queue of columns in schema order; each core takes the next one when free.
    let queue = Mutex::new(writers.into_iter().enumerate().collect::<VecDeque<_>>());
    let encode = |(i, mut writer): (usize, ArrowColumnWriter)| -> Result<ArrowColumnChunk> {
        let field = fields
            .get(i)
            .ok_or_else(|| ParquetError::General(format!("no column {i} to encode")))?;
        for batch in rows {
            for leaf in compute_leaves(field, batch.column(i))? {
                writer.write(&leaf)?;
            }
        }
        writer.close()
    };
    let worker = || {
        let mut done = Vec::new();
        while let Some((n, column)) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
            done.push((n, encode(column)));
        }
        done
    };
    let threads = crate::scan::tasks::default_tasks().min(count);
    let mut done = std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(worker)).collect();
        let mut done = worker();
        for other in others {
            // A worker that panicked loses its columns: the count below says so.
            done.extend(other.join().unwrap_or_default());
        }
        done
    });
    if done.len() != count {
        return Err(ParquetError::General(format!(
            "{} of {count} columns were encoded",
            done.len()
        )));
    }
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, chunk)| chunk).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::ObjectStoreExt;
    use parquet::basic::Compression;
    use parquet::file::properties::EnabledStatistics;

    use super::*;

    /// Row groups of 3,000 rows fed in pieces of 2,500, pages of 512, statistics per
    /// page, nulls: the parallel encoder's file equals `ArrowWriter`'s, byte for byte.
    #[test]
    fn parallel_encoding_writes_the_bytes_arrow_writer_writes() {
        let n = 10_000usize;
        let batch = RecordBatch::try_from_iter([
            (
                "k",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("k{i:06}")),
                )) as ArrayRef,
            ),
            (
                "i",
                Arc::new(Int64Array::from_iter(
                    (0..n as i64).map(|i| (i % 7 != 0).then_some(i * 3)),
                )),
            ),
            (
                "f",
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| i as f64 / 3.0),
                )),
            ),
            (
                "b",
                Arc::new(BooleanArray::from_iter(
                    (0..n).map(|i| (i % 5 != 0).then_some(i % 2 == 0)),
                )),
            ),
        ])
        .unwrap();
        let props = || {
            WriterProperties::builder()
                .set_max_row_group_row_count(Some(3000))
                .set_data_page_row_count_limit(512)
                .set_statistics_enabled(EnabledStatistics::Page)
                .set_compression(Compression::ZSTD(Default::default()))
                .build()
        };
        let pieces = || {
            (0..n)
                .step_by(2500)
                .map(|o| batch.slice(o, 2500.min(n - o)))
        };
        let mut expected = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut expected, batch.schema(), Some(props())).unwrap();
        for piece in pieces() {
            writer.write(&piece).unwrap();
        }
        writer.close().unwrap();

        let store = Arc::new(InMemory::new());
        let path = Path::from("x.parquet");
        let (size, got) = crate::blocking::block_on(async {
            let upload = BufWriter::new(store.clone(), path.clone());
            let mut encoder = FileEncoder::try_new(upload, batch.schema(), props(), &[]).unwrap();
            for piece in pieces() {
                encoder.write(&piece).await.unwrap();
            }
            let size = encoder.finish().await.unwrap();
            let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
            Ok::<_, crate::Error>((size, bytes))
        })
        .unwrap();
        assert_eq!(size as usize, expected.len());
        assert!(got.as_ref() == expected.as_slice(), "the files differ");
    }

    /// Columns left to the first row group: one zstd shrinks little (pseudo-random
    /// 64-bit values) is uncompressed in every row group, one it shrinks much (a few
    /// repeating values, no dictionary) keeps zstd, a column not in the trial keeps
    /// zstd whatever it holds; the file reads back as written.
    #[test]
    fn the_first_row_group_chooses_the_trial_columns_codecs() {
        let n = 10_000usize;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut random = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as i64
        };
        let noise: Vec<i64> = (0..n).map(|_| random()).collect();
        let batch = RecordBatch::try_from_iter([
            (
                "noise",
                Arc::new(Int64Array::from(noise.clone())) as ArrayRef,
            ),
            (
                "repeats",
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| (i % 3) as f64),
                )),
            ),
            ("kept", Arc::new(Int64Array::from(noise)) as ArrayRef),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(3000))
            .set_dictionary_enabled(false)
            .set_compression(Compression::ZSTD(Default::default()))
            .build();
        let store = Arc::new(InMemory::new());
        let path = Path::from("x.parquet");
        let bytes = crate::blocking::block_on(async {
            let upload = BufWriter::new(store.clone(), path.clone());
            let mut encoder = FileEncoder::try_new(upload, batch.schema(), props, &[0, 1]).unwrap();
            for o in (0..n).step_by(2500) {
                encoder
                    .write(&batch.slice(o, 2500.min(n - o)))
                    .await
                    .unwrap();
            }
            encoder.finish().await.unwrap();
            Ok::<_, crate::Error>(store.get(&path).await.unwrap().bytes().await.unwrap())
        })
        .unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let row_groups = reader.metadata().row_groups().to_vec();
        assert_eq!(row_groups.len(), 4);
        for rg in &row_groups {
            let codecs: Vec<Compression> = rg.columns().iter().map(|c| c.compression()).collect();
            assert_eq!(
                codecs,
                [
                    Compression::UNCOMPRESSED,
                    Compression::ZSTD(Default::default()),
                    Compression::ZSTD(Default::default())
                ]
            );
        }
        let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let read = arrow::compute::concat_batches(&batch.schema(), &read).unwrap();
        assert_eq!(read, batch);
    }
}
