//! Reading CSV: headers, type inference by sampling, and conversion of chunks of
//! records into Arrow batches with errors that name file, line and column.
//!
//! The mapping from text to values (README, "CSV import"): an empty field is null; a
//! String is the field byte for byte (spaces included); an Int is written canonically
//! ([`crate::forms`]); Float, Boolean, Date and DateTime fields of a column whose type was
//! given (`--schema`, or the existing table) may carry surrounding spaces and any accepted
//! spelling, while an inferred column takes only the forms that read back as written.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{Field, Schema};
use bazof::{ColumnType, KeyType};

use crate::error::{CliError, Result};
use crate::fail;
use crate::forms::{
    boolean_form, canonical_int, date_form, datetime_form, exact_float, whole_micros,
};
use crate::quoting::{quote_error, QuoteCheck};
use crate::timefmt::{self, parse_date, parse_timestamp};

/// Rows converted per Arrow batch handed to the commit writer.
pub const CHUNK_ROWS: usize = 32 * 1024;
/// Rows per file sampled to infer column types.
pub const SAMPLE_ROWS: usize = 10_000;

/// How to read the files.
#[derive(Debug, Clone, Copy)]
pub struct CsvOptions {
    /// Field delimiter.
    pub delimiter: u8,
    /// Whether the first record is a header.
    pub has_header: bool,
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
    reader: csv::Reader<QuoteCheck<BufReader<File>>>,
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
    pub fn open(path: &Path, opts: CsvOptions) -> Result<CsvFile> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| fail!("{name}: {e}"))?;
        let reader = csv::ReaderBuilder::new()
            .delimiter(opts.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(QuoteCheck::new(
                BufReader::with_capacity(1 << 20, file),
                opts.delimiter,
            ));
        let mut f = CsvFile {
            name,
            reader,
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
    pub fn peek_width(path: &Path, opts: CsvOptions) -> Result<usize> {
        let mut f = CsvFile::open(
            path,
            CsvOptions {
                has_header: false,
                ..opts
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
        self.reader.position().byte()
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
pub fn sample(path: &Path, opts: CsvOptions, header: &[String]) -> Result<Vec<ColumnStats>> {
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
            s.observe(v);
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

/// Where a batch column comes from and how to parse it.
#[derive(Debug, Clone)]
pub enum Target {
    /// The key column.
    Key(KeyType),
    /// The event-time column.
    EventTime,
    /// A value column.
    Value(ColumnType),
    /// The tombstone marker.
    Deleted,
}

/// One output column: its name in the batch, the CSV column it comes from, its type.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// Name in the batch (table column name or [`DELETED_COLUMN`]).
    pub name: String,
    /// Index of the CSV column.
    pub csv_index: usize,
    /// Target.
    pub target: Target,
    /// Whether the type was inferred from a sample: then every value must have the form
    /// the sample had ([`crate::forms`]), or the import is refused at that line.
    pub inferred: bool,
}

enum Builder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Time(TimestampMicrosecondBuilder),
    Date(Date32Builder),
}

impl Builder {
    fn new(target: &Target) -> Builder {
        match target {
            Target::Key(KeyType::String) | Target::Value(ColumnType::String) => {
                Builder::Str(StringBuilder::new())
            }
            Target::Key(KeyType::Int) | Target::Value(ColumnType::Int) => {
                Builder::Int(Int64Builder::new())
            }
            Target::Value(ColumnType::Float) => Builder::Float(Float64Builder::new()),
            Target::Value(ColumnType::Boolean) | Target::Deleted => {
                Builder::Bool(BooleanBuilder::new())
            }
            Target::EventTime | Target::Value(ColumnType::DateTime) => {
                Builder::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            Target::Value(ColumnType::Date) => Builder::Date(Date32Builder::new()),
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Str(b) => b.append_null(),
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
        }
    }
}

fn type_name(target: &Target) -> &'static str {
    match target {
        Target::Key(KeyType::Int) | Target::Value(ColumnType::Int) => "an Int (64-bit integer)",
        Target::Key(KeyType::String) | Target::Value(ColumnType::String) => "a String",
        Target::Value(ColumnType::Float) => "a Float",
        Target::Value(ColumnType::Boolean) | Target::Deleted => "a Boolean (true/false)",
        Target::Value(ColumnType::Date) => "a Date (YYYY-MM-DD)",
        Target::EventTime | Target::Value(ColumnType::DateTime) => "a timestamp",
    }
}

/// Appends one raw field; `Err` holds the reason (without position).
fn push(
    b: &mut Builder,
    target: &Target,
    inferred: bool,
    raw: &str,
) -> std::result::Result<(), String> {
    let bad = |why: &str| {
        let hint = match target {
            Target::EventTime | Target::Value(ColumnType::DateTime) => {
                format!(" ({})", timefmt::ACCEPTED)
            }
            _ => String::new(),
        };
        Err(format!("'{raw}' is not {}{why}{hint}", type_name(target)))
    };
    // Spaces around a value of a given (not inferred) type other than String and Int are
    // not part of it; an inferred column holds only values in their exact form.
    let v = if inferred { raw } else { raw.trim() };
    if raw.is_empty() || (v.is_empty() && !matches!(b, Builder::Str(_) | Builder::Int(_))) {
        return match (b, target) {
            (_, Target::Key(_)) => Err("the key is empty".into()),
            (_, Target::EventTime) => Err("the event time is empty".into()),
            (Builder::Bool(b), Target::Deleted) => {
                b.append_value(false);
                Ok(())
            }
            (b, _) => {
                b.append_null();
                Ok(())
            }
        };
    }
    match b {
        Builder::Str(b) => b.append_value(raw),
        Builder::Int(b) => match canonical_int(raw) {
            Some(i) => b.append_value(i),
            None => {
                return match raw.trim().trim_start_matches('+').parse::<i64>() {
                    Ok(i) => Err(format!(
                        "'{raw}' is not an Int written canonically (an optional '-' and \
                         digits, without a leading zero, '+' or spaces): it would read back as {i}"
                    )),
                    Err(_) => bad(""),
                }
            }
        },
        Builder::Float(b) => match (if inferred { exact_float } else { parse_float })(v) {
            Some(x) => b.append_value(x),
            None if inferred && parse_float(v).is_some() => {
                return bad(" in a form that reads back as written")
            }
            None => return bad(""),
        },
        Builder::Bool(b) => match (if inferred { boolean_form } else { parse_bool })(v) {
            Some(x) => b.append_value(x),
            None => return bad(""),
        },
        Builder::Time(b) => {
            let parse = if inferred {
                datetime_form
            } else {
                parse_timestamp
            };
            match parse(v) {
                Some(t) if whole_micros(&t) => b.append_value(t.timestamp_micros()),
                Some(_) => return bad(" to the microsecond (finer digits would be lost)"),
                None => return bad(""),
            }
        }
        Builder::Date(b) => match (if inferred { date_form } else { parse_date })(v) {
            Some(d) => b.append_value(timefmt::date_to_days(d)),
            None => return bad(""),
        },
    }
    Ok(())
}

/// Converts a file into batches of at most [`CHUNK_ROWS`] rows.
pub struct Converter {
    file: CsvFile,
    columns: Vec<ColumnMap>,
    schema: Arc<Schema>,
    /// Rows read so far.
    pub rows: u64,
}

impl Converter {
    /// Prepares conversion of `file` into the given columns.
    pub fn new(file: CsvFile, columns: Vec<ColumnMap>) -> Converter {
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| {
                let dt = match &c.target {
                    Target::Key(k) => k.arrow_type(),
                    Target::EventTime => bazof::schema::timestamp_type(),
                    Target::Value(t) => t.arrow_type(),
                    Target::Deleted => arrow::datatypes::DataType::Boolean,
                };
                let nullable = matches!(c.target, Target::Value(_));
                Field::new(&c.name, dt, nullable)
            })
            .collect();
        Converter {
            file,
            columns,
            schema: Arc::new(Schema::new(fields)),
            rows: 0,
        }
    }

    /// The file's bytes consumed so far.
    pub fn bytes(&self) -> u64 {
        self.file.bytes()
    }

    /// The next batch, or `None` at the end of the file.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut builders: Vec<Builder> = self
            .columns
            .iter()
            .map(|c| Builder::new(&c.target))
            .collect();
        let mut n = 0;
        while n < CHUNK_ROWS {
            if !self.file.next_row()? {
                break;
            }
            for (b, c) in builders.iter_mut().zip(&self.columns) {
                let raw = &self.file.record[c.csv_index];
                if let Err(reason) = push(b, &c.target, c.inferred, raw) {
                    let column = &self.file.header[c.csv_index];
                    let hint = if c.inferred {
                        format!(
                            "; the type was inferred from the first {SAMPLE_ROWS} rows of each \
                             file: give it with --schema '{column}:string' (or the right type)"
                        )
                    } else {
                        String::new()
                    };
                    return Err(fail!(
                        "{}: line {}, column {} ('{column}'): {reason}{hint}",
                        self.file.name,
                        self.file.line(),
                        c.csv_index + 1,
                    ));
                }
            }
            n += 1;
        }
        if n == 0 {
            return Ok(None);
        }
        self.rows += n as u64;
        let arrays: Vec<ArrayRef> = builders.iter_mut().map(Builder::finish).collect();
        Ok(Some(RecordBatch::try_new(self.schema.clone(), arrays)?))
    }
}
