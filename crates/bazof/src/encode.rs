//! SPEC §4: encoding one data file. Rows are cut into row groups of
//! [`ROW_GROUP_ROWS`](crate::data_file::ROW_GROUP_ROWS); the columns of each row group
//! are encoded and compressed on all cores at once (a flat schema has one Parquet
//! leaf per column), appended in schema order, and uploaded while the next row group
//! fills. The file is byte for byte the one Parquet's own single-threaded
//! `ArrowWriter` writes with the same properties (a test checks it).

use std::collections::VecDeque;
use std::sync::Mutex;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use object_store::buffered::BufWriter;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
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
}

impl FileEncoder {
    /// Starts a file of `schema` (flat) with `props`, uploading to `upload`.
    pub(crate) fn try_new(
        upload: BufWriter,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> Result<Self> {
        let row_group_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
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
        })
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
        let writers = self.factory.create_column_writers(index)?;
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        let chunks = encode_columns(&self.schema, writers, &pending)?;
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

/// Encodes one row group: every column on the next free core, started in schema
/// order (the key, the widest, first). Returns the chunks in schema order.
fn encode_columns(
    schema: &SchemaRef,
    writers: Vec<ArrowColumnWriter>,
    rows: &[RecordBatch],
) -> Result<Vec<ArrowColumnChunk>> {
    let fields = schema.fields();
    if writers.len() != fields.len() {
        return Err(ParquetError::General(format!(
            "a data file's schema must be flat: {} Parquet leaves for {} columns",
            writers.len(),
            fields.len()
        )));
    }
    // A queue of columns in schema order; each core takes the next one when free.
    let queue = Mutex::new(writers.into_iter().enumerate().collect::<VecDeque<_>>());
    let encode = |i: usize, mut writer: ArrowColumnWriter| -> Result<ArrowColumnChunk> {
        for batch in rows {
            for leaf in compute_leaves(&fields[i], batch.column(i))? {
                writer.write(&leaf)?;
            }
        }
        writer.close()
    };
    let worker = || {
        let mut done = Vec::new();
        while let Some((i, writer)) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
            done.push((i, encode(i, writer)));
        }
        done
    };
    let threads = crate::scan::tasks::default_tasks().min(fields.len());
    let mut done = std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(worker)).collect();
        let mut done = worker();
        for other in others {
            // A worker that panicked loses its columns: the count below says so.
            done.extend(other.join().unwrap_or_default());
        }
        done
    });
    if done.len() != fields.len() {
        return Err(ParquetError::General(format!(
            "{} of {} columns were encoded",
            done.len(),
            fields.len()
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
            let mut encoder = FileEncoder::try_new(upload, batch.schema(), props()).unwrap();
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
}
