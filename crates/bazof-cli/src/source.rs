//! Input files: which format a file is in (its extension, or `--format`), gzip, and how
//! many of its bytes were read (for the progress bar).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::cli::InputFormat;
use crate::error::Result;
use crate::fail;

/// The extensions `bazof import` knows, for messages.
pub const EXTENSIONS: &str =
    ".csv, .tsv, .csv.gz, .parquet, .pq, .ndjson, .jsonl, .json, .ndjson.gz, .jsonl.gz, .json.gz";

/// The format of `path`: `given` (`--format`), else from the extension.
pub fn format_of(path: &Path, given: Option<InputFormat>) -> Result<InputFormat> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let base = name.strip_suffix(".gz").unwrap_or(&name);
    let found = match base.rsplit_once('.').map(|(_, ext)| ext) {
        Some("csv" | "tsv" | "txt") => Some(InputFormat::Csv),
        Some("parquet" | "pq") => Some(InputFormat::Parquet),
        Some("ndjson" | "jsonl" | "json") => Some(InputFormat::Ndjson),
        _ => None,
    };
    let format = given.or(found).ok_or_else(|| {
        fail!(
            "{}: cannot tell the format from the file name (known: {EXTENSIONS}); \
             give it with --format csv|ndjson|parquet",
            path.display()
        )
    })?;
    if format == InputFormat::Parquet && is_gzip(path) {
        return Err(fail!(
            "{}: a Parquet file is compressed inside; gunzip it first",
            path.display()
        ));
    }
    Ok(format)
}

/// Whether the file name ends in `.gz`.
pub fn is_gzip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Bytes read from a file so far, shared with the reader that reads them.
#[derive(Debug, Clone, Default)]
pub struct ByteCount(Arc<AtomicU64>);

impl ByteCount {
    /// Bytes read so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    count: ByteCount,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a text file (CSV or NDJSON), gunzipping it when its name ends in `.gz`.
pub fn open_text(path: &Path) -> Result<(Box<dyn BufRead + Send>, ByteCount)> {
    let file = File::open(path).map_err(|e| fail!("{}: {e}", path.display()))?;
    let count = ByteCount::default();
    let counting = Counting {
        inner: file,
        count: count.clone(),
    };
    let reader: Box<dyn BufRead + Send> = if is_gzip(path) {
        let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, counting));
        Box::new(BufReader::with_capacity(1 << 20, GzErrors { inner: gz }))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, counting))
    };
    Ok((reader, count))
}

/// Says "gzip" in decompression errors, which flate2 reports as bare I/O errors.
struct GzErrors<R> {
    inner: R,
}

impl<R: Read> Read for GzErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| std::io::Error::new(e.kind(), format!("not a valid gzip file ({e})")))
    }
}
