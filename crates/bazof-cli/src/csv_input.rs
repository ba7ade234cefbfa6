//! Reading CSV: headers, type inference by sampling, and conversion of chunks of
//! records into Arrow batches with errors that name file, line and column.
//!
//! The mapping from text to values (README, "CSV import"): an empty field is null; a
//! String is the field byte for byte (spaces included); an Int is written canonically
//! ([`crate::forms`]); Float, Boolean, Date and DateTime fields of a column whose type was
//! given (`--schema`, or the existing table) may carry surrounding spaces and any accepted
//! spelling, while an inferred column takes only the forms that read back as written.

use std::io::BufRead;
use std::path::Path;

use arrow::array::RecordBatch;
use bazof::{ColumnType, KeyType};

use crate::convert::{BatchBuilder, BatchSource, Cell, ColumnMap};
use crate::error::{CliError, Result};
use crate::fail;
use crate::forms::{boolean_form, canonical_int, date_form, datetime_form, exact_float};
use crate::quoting::{quote_error, QuoteCheck};
use crate::source::{open_text, ByteCount};

/// Rows converted per Arrow batch handed to the commit writer.
pub const CHUNK_ROWS: usize = 32 * 1024;
/// Rows per file sampled to infer column types.
pub const SAMPLE_ROWS: usize = 10_000;

/// How to read the files.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// Field delimiter.
    pub delimiter: u8,
    /// Whether the first record is a header.
    pub has_header: bool,
    /// Fields that mean null besides the empty field (`--null`).
    pub nulls: Vec<String>,
}

impl CsvOptions {
    /// A field as a cell: the empty field and the `--null` strings are null.
    pub fn cell<'a>(&self, raw: &'a str) -> Cell<'a> {
        if raw.is_empty() || self.nulls.iter().any(|n| n == raw) {
            Cell::Null
        } else {
            Cell::Text(raw)
        }
    }
}

/// Parses `--delimiter`.
pub fn parse_delimiter(s: &str) -> Result<u8> {
    match s {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        "\"" | "\n" | "\r" => Err(fail!(
            "--delimiter cannot be a quote or a line break, got {s:?}"
        )),
        s if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        s => Err(fail!(
            "--delimiter must be one ASCII character (or '\\t'), got '{s}'"
        )),
    }
}

/// An open CSV file.
pub struct CsvFile {
    /// The path as given (for messages).
    pub name: String,
    reader: csv::Reader<QuoteCheck<Box<dyn BufRead + Send>>>,
    /// Bytes of the file (compressed, if it is) read so far.
    counted: ByteCount,
    opts: CsvOptions,
    /// Column names: the header row, or names given by the caller.
    pub header: Vec<String>,
    record: csv::StringRecord,
    /// The line the current record starts on.
    line: u64,
}

/// A CSV reader error as one line; `line` is where the record that failed starts.
fn csv_error(name: &str, e: &csv::Error, line: Option<u64>) -> CliError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if let Some(q) = quote_error(io) {
            return fail!("{name}: {q}");
        }
    }
    let line = line.or_else(|| e.position().map(|p| p.line()));
    match (e.kind(), line) {
        (csv::ErrorKind::Utf8 { err, .. }, Some(l)) => fail!(
            "{name}: line {l}, column {}: not valid UTF-8 (bazof reads UTF-8 text)",
            err.field() + 1
        ),
        (_, Some(l)) => fail!("{name}: line {l}: {e}"),
        (_, None) => fail!("{name}: {e}"),
    }
}

impl CsvFile {
    /// Opens a file and reads its header row (if it has one).
    pub fn open(path: &Path, opts: &CsvOptions) -> Result<CsvFile> {
        let name = path.display().to_string();
        let (text, counted) = open_text(path)?;
        let reader = csv::ReaderBuilder::new()
            .delimiter(opts.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(QuoteCheck::new(text, opts.delimiter));
        let mut f = CsvFile {
            name,
            reader,
            counted,
            opts: opts.clone(),
            header: Vec::new(),
            record: csv::StringRecord::new(),
            line: 0,
        };
        if opts.has_header {
            if !f.next_record()? {
                return Err(fail!(
                    "{}: line 1: the file is empty (expected a header row)",
                    f.name
                ));
            }
            f.header = f.record.iter().map(|s| s.trim().to_string()).collect();
            if let Some((i, _)) = f.header.iter().enumerate().find(|(_, h)| h.is_empty()) {
                return Err(fail!(
                    "{}: line 1, column {}: empty column name in the header",
                    f.name,
                    i + 1
                ));
            }
            for (i, h) in f.header.iter().enumerate() {
                if let Some(j) = f.header[..i].iter().position(|x| x == h) {
                    return Err(fail!(
                        "{}: line 1, column {}: column '{h}' appears twice (also column {})",
                        f.name,
                        i + 1,
                        j + 1
                    ));
                }
            }
        }
        Ok(f)
    }

    /// The number of columns of the first data record (for `--no-header` without names).
    pub fn peek_width(path: &Path, opts: &CsvOptions) -> Result<usize> {
        let mut f = CsvFile::open(
            path,
            &CsvOptions {
                has_header: false,
                ..opts.clone()
            },
        )?;
        Ok(if f.next_record()? { f.record.len() } else { 0 })
    }

    /// Reads the next record into `self.record`; false at the end.
    fn next_record(&mut self) -> Result<bool> {
        match self.reader.read_record(&mut self.record) {
            Ok(true) => {
                self.line = self.reader.get_mut().take_record_line().unwrap_or(0);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => {
                let line = self.reader.get_mut().take_record_line();
                Err(csv_error(&self.name, &e, line))
            }
        }
    }

    /// Line of the current record (1-based).
    fn line(&self) -> u64 {
        self.line
    }

    /// Bytes consumed so far.
    pub fn bytes(&self) -> u64 {
        self.counted.get()
    }

    /// Reads the next data record, checking its width; false at the end.
    fn next_row(&mut self) -> Result<bool> {
        loop {
            if !self.next_record()? {
                return Ok(false);
            }
            // A blank line (one empty field) in a multi-column file is skipped.
            if self.record.len() == 1 && self.header.len() > 1 && self.record[0].trim().is_empty() {
                continue;
            }
            let (want, got) = (self.header.len(), self.record.len());
            if got != want {
                let column = want.min(got) + 1;
                return Err(fail!(
                    "{}: line {}, column {column}: ragged row: {got} fields, but the header has {want}",
                    self.name,
                    self.line()
                ));
            }
            return Ok(true);
        }
    }
}

/// What sampling found about one column: which types every non-empty value fits.
#[derive(Debug, Clone)]
pub struct ColumnStats {
    nonempty: usize,
    int: bool,
    float: bool,
    boolean: bool,
    date: bool,
    datetime: bool,
}

impl Default for ColumnStats {
    fn default() -> Self {
        Self {
            nonempty: 0,
            int: true,
            float: true,
            boolean: true,
            date: true,
            datetime: true,
        }
    }
}

impl ColumnStats {
    /// Takes one field into account; an empty field (null) fits every type.
    pub fn observe(&mut self, raw: &str) {
        if raw.is_empty() {
            return;
        }
        self.nonempty += 1;
        self.int = self.int && canonical_int(raw).is_some();
        self.float = self.float && exact_float(raw).is_some();
        self.boolean = self.boolean && boolean_form(raw).is_some();
        self.date = self.date && date_form(raw).is_some();
        self.datetime = self.datetime && datetime_form(raw).is_some();
    }

    /// Takes one text value that is a string by type (a JSON string): it can be a Date or
    /// a DateTime (JSON has no such types), never an Int, Float or Boolean.
    pub fn observe_string(&mut self, raw: &str) {
        self.nonempty += 1;
        self.int = false;
        self.float = false;
        self.boolean = false;
        self.date = self.date && date_form(raw).is_some();
        self.datetime = self.datetime && datetime_form(raw).is_some();
    }

    /// Takes a column whose type the file declares (Parquet); an Int also fits a Float.
    pub fn observe_type(&mut self, t: ColumnType) {
        self.nonempty += 1;
        self.int &= t == ColumnType::Int;
        self.float &= matches!(t, ColumnType::Int | ColumnType::Float);
        self.boolean &= t == ColumnType::Boolean;
        self.date &= t == ColumnType::Date;
        self.datetime &= t == ColumnType::DateTime;
    }

    /// The inferred value type: the first of Int, Float, Boolean, Date, DateTime whose form
    /// every value has, else String (also when the column holds no value at all).
    pub fn value_type(&self) -> ColumnType {
        if self.nonempty == 0 {
            ColumnType::String
        } else if self.int {
            ColumnType::Int
        } else if self.float {
            ColumnType::Float
        } else if self.boolean {
            ColumnType::Boolean
        } else if self.date {
            ColumnType::Date
        } else if self.datetime {
            ColumnType::DateTime
        } else {
            ColumnType::String
        }
    }

    /// The inferred key type: Int if every sampled key is an Int written canonically
    /// (so `007`, `+7` and ` 7` keep the key a String, distinct from `7`).
    pub fn key_type(&self) -> KeyType {
        if self.nonempty > 0 && self.int {
            KeyType::Int
        } else {
            KeyType::String
        }
    }

    /// Combines the stats of the same column in two files.
    pub fn merge(&mut self, o: &ColumnStats) {
        self.nonempty += o.nonempty;
        self.int &= o.int;
        self.float &= o.float;
        self.boolean &= o.boolean;
        self.date &= o.date;
        self.datetime &= o.datetime;
    }
}

/// Samples up to [`SAMPLE_ROWS`] records of a file; stats per header column.
pub fn sample(path: &Path, opts: &CsvOptions, header: &[String]) -> Result<Vec<ColumnStats>> {
    let mut f = CsvFile::open(path, opts)?;
    if !opts.has_header {
        f.header = header.to_vec();
    }
    let mut stats = vec![ColumnStats::default(); f.header.len()];
    for _ in 0..SAMPLE_ROWS {
        if !f.next_row()? {
            break;
        }
        for (s, v) in stats.iter_mut().zip(f.record.iter()) {
            if let Cell::Text(v) = opts.cell(v) {
                s.observe(v);
            }
        }
    }
    Ok(stats)
}

/// Parses a float; accepts what Rust does (incl. `1e3`, `NaN`, `inf`).
pub fn parse_float(v: &str) -> Option<f64> {
    v.parse::<f64>().ok()
}

/// Parses a boolean: true/false, t/f, yes/no, y/n, 1/0 (case-insensitive).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Records read ahead: up to [`CHUNK_ROWS`] of them, their fields back to back in one
/// string (one copy per record, no allocation per record), with the line each starts on.
#[derive(Default)]
struct Chunk {
    text: String,
    /// End of every field in `text`, record after record (each has the header's width).
    ends: Vec<usize>,
    lines: Vec<u64>,
    /// Bytes of the file consumed once the chunk was read.
    bytes: u64,
}

impl Chunk {
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.lines.clear();
    }

    /// Appends the record the file just read.
    fn push(&mut self, record: &csv::StringRecord, line: u64) {
        let base = self.text.len();
        self.text.push_str(record.as_slice());
        self.ends.extend(
            (0..record.len())
                .filter_map(|i| record.range(i))
                .map(|r| base + r.end),
        );
        self.lines.push(line);
    }

    /// Field `i` of record `r`, for records of `width` fields.
    fn field(&self, r: usize, width: usize, i: usize) -> &str {
        let at = r * width + i;
        let start = if at == 0 { 0 } else { self.ends[at - 1] };
        self.text.get(start..self.ends[at]).unwrap_or("")
    }
}

/// What the reading thread sends: chunks in file order, then the end or an error.
enum Ahead {
    Rows(Chunk),
    End,
    Failed(CliError),
}

/// Chunks read ahead before the converter takes them (memory: this many plus two).
const CHUNKS_AHEAD: usize = 2;

/// Converts a CSV file into batches of at most [`CHUNK_ROWS`] rows. Splitting records
/// into fields (and checking quotes, widths and UTF-8) runs on its own thread, a few
/// chunks ahead of the conversion of their fields into typed columns, so the two use
/// two cores; the rows, their order and every error are those of reading in one pass.
pub struct Converter {
    name: String,
    header: Vec<String>,
    opts: CsvOptions,
    ahead: std::sync::mpsc::Receiver<Ahead>,
    /// Chunks handed back to the reading thread to be refilled (no new allocations).
    spent: std::sync::mpsc::Sender<Chunk>,
    reader: Option<std::thread::JoinHandle<()>>,
    out: BatchBuilder,
    rows: u64,
    bytes: u64,
    /// The end was reached: every later call returns `None`.
    ended: bool,
}

/// The reading thread: fills chunks with records until the end or the first error.
fn read_ahead(
    mut file: CsvFile,
    ahead: std::sync::mpsc::SyncSender<Ahead>,
    spent: std::sync::mpsc::Receiver<Chunk>,
) {
    loop {
        let mut chunk = spent.try_recv().unwrap_or_default();
        chunk.clear();
        let mut failed = None;
        while chunk.lines.len() < CHUNK_ROWS {
            match file.next_row() {
                Ok(true) => chunk.push(&file.record, file.line()),
                Ok(false) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        chunk.bytes = file.bytes();
        let full = chunk.lines.len() == CHUNK_ROWS;
        if !chunk.lines.is_empty() && ahead.send(Ahead::Rows(chunk)).is_err() {
            return; // the converter is gone
        }
        if let Some(e) = failed {
            let _ = ahead.send(Ahead::Failed(e));
            return;
        }
        if !full {
            let _ = ahead.send(Ahead::End);
            return;
        }
    }
}

impl Converter {
    /// Prepares conversion of `file` into the given columns and starts reading it.
    pub fn new(file: CsvFile, columns: Vec<ColumnMap>) -> Converter {
        let (name, header, opts) = (file.name.clone(), file.header.clone(), file.opts.clone());
        let (ahead_tx, ahead) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
        let (spent, spent_rx) = std::sync::mpsc::channel();
        let reader = std::thread::Builder::new()
            .name("bazof-csv-read".into())
            .spawn(move || read_ahead(file, ahead_tx, spent_rx));
        let (reader, ahead) = match reader {
            Ok(handle) => (Some(handle), ahead),
            Err(e) => {
                // No thread: the converter reports it as the first thing it reads.
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                let _ = tx.send(Ahead::Failed(fail!(
                    "{name}: cannot start a reading thread: {e}"
                )));
                (None, rx)
            }
        };
        Converter {
            name,
            header,
            opts,
            ahead,
            spent,
            reader,
            out: BatchBuilder::new(columns),
            rows: 0,
            bytes: 0,
            ended: false,
        }
    }

    /// Converts one chunk's records into the batch being built.
    fn convert(&mut self, chunk: &Chunk) -> Result<()> {
        let width = self.header.len();
        // The reading thread passes only records of the header's width.
        if chunk.ends.len() != chunk.lines.len() * width {
            return Err(fail!(
                "{}: internal: a chunk of {} records holds {} fields, not {width} per record",
                self.name,
                chunk.lines.len(),
                chunk.ends.len()
            ));
        }
        for (r, &line) in chunk.lines.iter().enumerate() {
            for i in 0..self.out.columns().len() {
                let csv_index = self.out.columns()[i].csv_index;
                let raw = chunk.field(r, width, csv_index);
                let column = &self.header[csv_index];
                let cell = self.opts.cell(raw);
                if let Err(reason) = self.out.push(i, column, cell) {
                    return Err(fail!(
                        "{}: line {line}, column {} ('{column}'): {reason}",
                        self.name,
                        csv_index + 1,
                    ));
                }
            }
            self.out.end_rows(1);
            self.rows += 1;
        }
        Ok(())
    }
}

impl BatchSource for Converter {
    fn rows(&self) -> u64 {
        self.rows
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.ended {
            return Ok(None);
        }
        match self.ahead.recv() {
            Ok(Ahead::Rows(chunk)) => {
                self.convert(&chunk)?;
                self.bytes = chunk.bytes;
                let _ = self.spent.send(chunk);
                self.out.finish()
            }
            Ok(Ahead::End) => {
                self.ended = true;
                Ok(None)
            }
            Ok(Ahead::Failed(e)) => Err(e),
            Err(_) => {
                // The thread ended without saying so: it panicked.
                let reason = match self.reader.take().map(std::thread::JoinHandle::join) {
                    Some(Err(p)) => p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown cause".into()),
                    _ => "the reading thread stopped".into(),
                };
                Err(fail!("{}: reading failed: {reason}", self.name))
            }
        }
    }
}
