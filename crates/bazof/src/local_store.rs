//! SPEC §1's local paths: object_store's `LocalFileSystem`, except that small reads
//! (metadata, `version.txt`, snapshot files, footers and pages up to [`INLINE_BYTES`])
//! run on the calling task. `LocalFileSystem` hands every call inside a tokio runtime
//! to the blocking pool and waits for it: two thread switches per call, which were the
//! largest cost of a point lookup (a page-cache read of a few KB takes microseconds).
//! Large reads of ranges (column chunks) go to the blocking pool and are mapped, not
//! copied: the page cache's pages are the buffer (`LocalFileSystem` zeroes every range,
//! then copies the file into it); only ranges that cover less than half their span
//! (a few columns of a row group) are copied, into memory that is not zeroed.
//! Everything else (writes, listings, conditional or large whole-object reads) is
//! delegated.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    Attributes, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    Result,
};

/// Reads up to this many bytes run on the calling task.
const INLINE_BYTES: u64 = 64 << 10;

/// A local file system whose small reads skip the blocking pool.
#[derive(Debug, Default)]
pub(crate) struct LocalStore(LocalFileSystem);

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn io_error(location: &Path, e: std::io::Error) -> object_store::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        object_store::Error::NotFound {
            path: location.to_string(),
            source: Box::new(e),
        }
    } else {
        object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(e),
        }
    }
}

/// `LocalFileSystem`'s ETag of a file (inode, modification time in µs, size), so that
/// the metadata is the same whether a call is served here or delegated.
fn e_tag(m: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let inode = 0u64;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_micros();
    format!("\"{inode:x}-{mtime:x}-{:x}\"", m.len())
}

impl LocalStore {
    /// The metadata of a file from one `stat` (a directory is not found, as in
    /// `LocalFileSystem`).
    fn meta(&self, location: &Path) -> Result<ObjectMeta> {
        let path = self.0.path_to_filesystem(location)?;
        let m = std::fs::metadata(&path).map_err(|e| io_error(location, e))?;
        Self::object_meta(location, &m)
    }

    /// The open file and its metadata.
    fn open(&self, location: &Path) -> Result<(File, ObjectMeta)> {
        Self::open_at(&self.0.path_to_filesystem(location)?, location)
    }

    /// [`LocalStore::open`] of the file `path` that `location` names.
    fn open_at(path: &std::path::Path, location: &Path) -> Result<(File, ObjectMeta)> {
        let file = File::open(path).map_err(|e| io_error(location, e))?;
        let m = file.metadata().map_err(|e| io_error(location, e))?;
        Ok((file, Self::object_meta(location, &m)?))
    }

    fn object_meta(location: &Path, m: &std::fs::Metadata) -> Result<ObjectMeta> {
        if m.is_dir() {
            return Err(io_error(
                location,
                std::io::Error::new(std::io::ErrorKind::NotFound, "is a directory"),
            ));
        }
        Ok(ObjectMeta {
            location: location.clone(),
            last_modified: m
                .modified()
                .map(DateTime::from)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            size: m.len(),
            e_tag: Some(e_tag(m)),
            version: None,
        })
    }

    /// One range of an open file, read into memory that is not zeroed first (zeroing
    /// column chunks before reading them in was 2 % of a current scan's instructions);
    /// a seek and a read, one system call more than a positioned read.
    fn read(file: &File, location: &Path, range: &Range<u64>) -> Result<Bytes> {
        let len = range.end.saturating_sub(range.start);
        let mut buf = Vec::with_capacity(len as usize);
        let mut f = file;
        f.seek(SeekFrom::Start(range.start))
            .and_then(|_| f.take(len).read_to_end(&mut buf))
            .map_err(|e| io_error(location, e))?;
        if (buf.len() as u64) < len {
            let short = std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} bytes at {} but {len} asked", buf.len(), range.start),
            );
            return Err(io_error(location, short));
        }
        Ok(Bytes::from(buf))
    }

    /// Ranges of an open file, `start..end` covering them all, mapped into memory as
    /// one span: no copy out of the page cache and no buffer to allocate and fault in
    /// (a mapping per range cost more in system calls and unmapping than the copies it
    /// saved). The span's pages are mapped, and read from disk if need be, before this
    /// returns: decoding never waits on a page fault.
    fn map(
        file: &File,
        location: &Path,
        ranges: &[Range<u64>],
        (start, end): (u64, u64),
    ) -> Result<Vec<Bytes>> {
        if end <= start {
            return Ok(vec![Bytes::new(); ranges.len()]);
        }
        let mut options = memmap2::MmapOptions::new();
        options.offset(start).len((end - start) as usize).populate();
        // SAFETY: the mapping is valid as long as the file is neither truncated nor
        // written while it is mapped. A table's data files are written whole before a
        // commit names them and never changed after (vacuum deletes them, which leaves
        // a mapping valid); the span is within the size the open file has (checked by
        // the caller). Another program truncating a table's file during a read would
        // fault the process, as it would Polars', which maps the Parquet files it
        // reads the same way.
        let span = unsafe { options.map(file) }.map_err(|e| io_error(location, e))?;
        let span = Bytes::from_owner(span);
        Ok(ranges
            .iter()
            .map(|r| match r.end > r.start {
                true => span.slice((r.start - start) as usize..(r.end - start) as usize),
                false => Bytes::new(),
            })
            .collect())
    }

    /// The ranges of the file `path` that `location` names, each checked against its
    /// size; `large`: through [`LocalStore::map`] if they cover at least half their
    /// span (column chunks of a row group; a projection's few columns would map the
    /// others' bytes too), else each by [`LocalStore::read`].
    fn read_ranges(
        path: &std::path::Path,
        location: &Path,
        ranges: &[Range<u64>],
        large: bool,
    ) -> Result<Vec<Bytes>> {
        let (file, meta) = Self::open_at(path, location)?;
        if let Some(r) = ranges.iter().find(|r| r.end > meta.size || r.start > r.end) {
            return Err(object_store::Error::Generic {
                store: "LocalFileSystem",
                source: format!(
                    "range {}..{} is out of bounds for {} ({} bytes)",
                    r.start, r.end, location, meta.size
                )
                .into(),
            });
        }
        let start = ranges.iter().map(|r| r.start).min().unwrap_or(0);
        let end = ranges.iter().map(|r| r.end).max().unwrap_or(0);
        let covered: u64 = ranges.iter().map(|r| r.end - r.start).sum();
        match large && 2 * covered >= end.saturating_sub(start) {
            true => Self::map(&file, location, ranges, (start, end)),
            false => ranges
                .iter()
                .map(|r| Self::read(&file, location, r))
                .collect(),
        }
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.0.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let plain = options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.version.is_none();
        if !plain {
            return self.0.get_opts(location, options).await;
        }
        if options.head {
            let meta = self.meta(location)?;
            return Ok(GetResult {
                payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
                range: 0..meta.size,
                meta,
                attributes: Attributes::default(),
                extensions: Default::default(),
            });
        }
        let (file, meta) = self.open(location)?;
        let range = match &options.range {
            Some(r) => r
                .as_range(meta.size)
                .map_err(|e| object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                })?,
            None => 0..meta.size,
        };
        if range.end - range.start > INLINE_BYTES {
            return self.0.get_opts(location, options).await;
        }
        let bytes = Self::read(&file, location, &range)?;
        let payload = futures::stream::once(async move { Ok(bytes) }).boxed();
        Ok(GetResult {
            payload: GetResultPayload::Stream(payload),
            meta,
            range,
            attributes: Attributes::default(),
            extensions: Default::default(),
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let path = self.0.path_to_filesystem(location)?;
        let total: u64 = ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum();
        if total <= INLINE_BYTES {
            return Self::read_ranges(&path, location, ranges, false);
        }
        // Large reads (column chunks) on the blocking pool, as `LocalFileSystem` does:
        // mapping a range not in the page cache reads it from disk.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Self::read_ranges(&path, location, ranges, true);
        };
        let (location, ranges) = (location.clone(), ranges.to_vec());
        runtime
            .spawn_blocking(move || Self::read_ranges(&path, &location, &ranges, true))
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            })?
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.0.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.0.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.0.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.0.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.0.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    /// Inline and delegated reads answer as `LocalFileSystem` does: whole files, small
    /// and large ranges, heads, and a missing file or a directory as `NotFound`.
    #[test]
    fn reads_equal_local_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3 * INLINE_BYTES as usize)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(dir.path().join("f"), &data).unwrap();
        std::fs::write(dir.path().join("small"), b"42").unwrap();
        let path = |name: &str| Path::from_absolute_path(dir.path().join(name)).unwrap();
        let (ours, theirs) = (LocalStore::default(), LocalFileSystem::new());
        crate::blocking::block_on(async {
            for name in ["f", "small"] {
                let p = path(name);
                let a = ours.get(&p).await?.bytes().await?;
                let b = theirs.get(&p).await?.bytes().await?;
                assert_eq!(a, b, "{name}");
                assert_eq!(ours.head(&p).await?, theirs.head(&p).await?, "{name}");
            }
            let p = path("f");
            let ranges = [0..10, 100..(INLINE_BYTES / 2), 5..(2 * INLINE_BYTES)];
            for r in &ranges {
                assert_eq!(
                    ours.get_range(&p, r.clone()).await?,
                    theirs.get_range(&p, r.clone()).await?
                );
            }
            // Inline (under INLINE_BYTES in all) and on the blocking pool.
            for some in [&ranges[..2], &ranges[..]] {
                assert_eq!(
                    ours.get_ranges(&p, some).await?,
                    theirs.get_ranges(&p, some).await?
                );
            }
            // Large: mapped, an empty range among them, and sparse: read.
            let slice = |r: Range<usize>| Bytes::copy_from_slice(&data[r]);
            let (two, three) = (2 * INLINE_BYTES as usize, 3 * INLINE_BYTES as usize);
            assert_eq!(
                ours.get_ranges(&p, &[7..7, 5..two as u64]).await?,
                [Bytes::new(), slice(5..two)]
            );
            assert_eq!(
                ours.get_ranges(&p, &[0..10, two as u64..three as u64])
                    .await?,
                [slice(0..10), slice(two..three)]
            );
            std::fs::create_dir(dir.path().join("sub")).unwrap();
            for (store, name) in [(&ours as &dyn ObjectStore, "ours"), (&theirs, "theirs")] {
                assert!(
                    matches!(
                        store.head(&path("sub")).await,
                        Err(object_store::Error::NotFound { .. })
                    ),
                    "{name}: a directory is not an object"
                );
            }
            let missing = path("missing");
            assert!(matches!(
                ours.head(&missing).await,
                Err(object_store::Error::NotFound { .. })
            ));
            assert!(matches!(
                ours.get(&missing).await,
                Err(object_store::Error::NotFound { .. })
            ));
            assert!(ours
                .get_ranges(&p, &[0..10, 0..(10 * INLINE_BYTES)])
                .await
                .is_err());
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .unwrap();
    }
}
