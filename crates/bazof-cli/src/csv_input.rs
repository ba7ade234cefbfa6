//! Reading CSV: headers, the sample type inference reads ([`crate::infer`]), and
//! conversion of blocks of records into Arrow batches on all cores ([`crate::blocks`]),
//! with errors that name file, line and column.
//!
//! The mapping from text to values (README, "CSV import"): an empty field is null; a
//! String is the field byte for byte (spaces included); an Int is written canonically
//! ([`crate::forms`]); Float, Boolean, Date and DateTime fields of a column whose type was
//! given (`--schema`, or the existing table) may carry surrounding spaces and any accepted
//! spelling, while an inferred column takes only the forms that read back as written.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

use crate::batches::BatchBuilder;
use crate::blocks::{self, Block, BlockConverter, BlockReader, Records, BLOCK_BYTES};
use crate::convert::{Cell, ColumnMap};
use crate::csv_blocks::{split_plain, Fields};
use crate::error::{CliError, Result};
use crate::fail;
use crate::infer::{ColumnStats, SAMPLE_ROWS};
use crate::quoting::{quote_error, QuoteCheck};
use crate::source::open_text;

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
    path: PathBuf,
    reader: csv::Reader<QuoteCheck<Box<dyn BufRead + Send>>>,
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
        let (text, _) = open_text(path)?;
        let mut f = CsvFile::over(path, text, opts, 1, true);
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

    /// Reads `text`, which starts at the start of a record on `line` of the file `path`;
    /// `at_start` if that is the start of the file.
    fn over(
        path: &Path,
        text: Box<dyn BufRead + Send>,
        opts: &CsvOptions,
        line: u64,
        at_start: bool,
    ) -> CsvFile {
        let reader = csv::ReaderBuilder::new()
            .delimiter(opts.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(QuoteCheck::starting_at(
                text,
                opts.delimiter,
                line,
                at_start,
            ));
        CsvFile {
            name: path.display().to_string(),
            path: path.to_path_buf(),
            reader,
            opts: opts.clone(),
            header: Vec::new(),
            record: csv::StringRecord::new(),
            line: 0,
        }
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

/// Parses one block into records; an error comes after the records before it, so that
/// converting those may report an earlier one.
fn block_records(block: Block, file: &Template) -> (Fields, Option<CliError>) {
    let width = file.header.len();
    let bytes = if block.quote_free && !block.at_start {
        match split_plain(block.bytes, file.opts.delimiter, width, block.first_line) {
            Ok(records) => return (records, None),
            Err(bytes) => bytes,
        }
    } else {
        block.bytes
    };
    let text = Box::new(std::io::Cursor::new(bytes));
    let mut f = CsvFile::over(
        &file.path,
        text,
        &file.opts,
        block.first_line,
        block.at_start,
    );
    f.header.clone_from(&file.header);
    let mut records = Fields::default();
    let mut read = || -> Result<()> {
        if block.at_start && file.opts.has_header {
            // The header row, which `CsvFile::open` read and checked.
            f.next_record()?;
        }
        while f.next_row()? {
            records.push(&f.record, f.line());
        }
        Ok(())
    };
    let failed = read().err();
    (records, failed)
}

/// What every converting thread needs to know of the file.
#[derive(Clone)]
struct Template {
    path: PathBuf,
    name: String,
    header: Vec<String>,
    opts: CsvOptions,
}

/// Converts a CSV file into batches on all cores ([`crate::blocks`]): one per block of
/// about [`BLOCK_BYTES`].
pub fn converter(file: CsvFile, columns: Vec<ColumnMap>) -> Result<BlockConverter> {
    converter_with(file, columns, BLOCK_BYTES, blocks::threads())
}

/// As [`converter`], with blocks of `block_bytes` on `threads` converting threads.
pub fn converter_with(
    file: CsvFile,
    columns: Vec<ColumnMap>,
    block_bytes: usize,
    threads: usize,
) -> Result<BlockConverter> {
    let template = Template {
        path: file.path.clone(),
        name: file.name.clone(),
        header: file.header.clone(),
        opts: file.opts.clone(),
    };
    drop(file);
    // The header was read through `file`; the blocks read the file from its start.
    let (text, counted) = open_text(&template.path)?;
    let records = Records::Csv(template.opts.delimiter);
    let blocks = BlockReader::new(text, counted, records, block_bytes);
    BlockConverter::start(template.name.clone(), blocks, threads, || {
        let (file, mut out) = (template.clone(), BatchBuilder::new(columns.clone()));
        move |block: Block| {
            let (records, failed) = block_records(block, &file);
            let batch = convert(&file, &mut out, &records);
            let batch = batch.and_then(|b| failed.map_or(Ok(b), Err));
            (batch, Some(records.into_bytes()))
        }
    })
}

/// Converts records into a batch of the output columns.
fn convert(
    file: &Template,
    out: &mut BatchBuilder,
    records: &Fields,
) -> Result<Option<RecordBatch>> {
    let width = file.header.len();
    // The parsers pass only records of the header's width.
    if records.fields() != records.lines.len() * width {
        return Err(fail!(
            "{}: internal: a block of {} records holds {} fields, not {width} per record",
            file.name,
            records.lines.len(),
            records.fields()
        ));
    }
    // Column by column; the error reported is the first in row order, as if row by row:
    // a later column need only be converted up to the row of the first error so far.
    let mut first: Option<(usize, usize, String)> = None;
    for i in 0..out.columns().len() {
        let csv_index = out.columns()[i].csv_index;
        let column = &file.header[csv_index];
        let rows = first.as_ref().map_or(records.lines.len(), |f| f.0);
        let cell = |r| file.opts.cell(records.field(r, width, csv_index));
        if let Err((r, reason)) = out.push_column(i, column, rows, cell) {
            first = Some((r, csv_index, reason));
        }
    }
    if let Some((r, csv_index, reason)) = first {
        let line = records.lines.get(r).copied().unwrap_or(0);
        return Err(fail!(
            "{}: line {line}, column {} ('{}'): {reason}",
            file.name,
            csv_index + 1,
            file.header[csv_index],
        ));
    }
    out.end_rows(records.lines.len());
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::testing::{drain, same_in_blocks};
    use crate::convert::Target;
    use crate::source::ByteCount;
    use bazof::ColumnType;
    use proptest::prelude::*;

    type Rows = std::result::Result<Vec<(u64, Vec<String>)>, String>;

    fn opts(has_header: bool) -> CsvOptions {
        CsvOptions {
            delimiter: b',',
            has_header,
            nulls: Vec::new(),
        }
    }

    fn header() -> Vec<String> {
        ["a", "b", "c"].map(String::from).to_vec()
    }

    fn template(has_header: bool) -> Template {
        Template {
            path: PathBuf::from("t.csv"),
            name: "t.csv".into(),
            header: header(),
            opts: opts(has_header),
        }
    }

    /// The text read in one pass by the CSV reader: the oracle.
    fn one_pass(text: &[u8], has_header: bool) -> Rows {
        let cursor = Box::new(std::io::Cursor::new(text.to_vec()));
        let o = opts(has_header);
        let mut f = CsvFile::over(Path::new("t.csv"), cursor, &o, 1, true);
        let mut rows = Vec::new();
        let mut read = || -> Result<()> {
            if has_header {
                f.next_record()?;
            }
            f.header = header();
            while f.next_row()? {
                rows.push((f.line(), f.record.iter().map(String::from).collect()));
            }
            Ok(())
        };
        read().map_err(|e| e.to_string())?;
        Ok(rows)
    }

    /// The text cut into blocks of about `block` bytes, each parsed on its own; with the
    /// number of blocks after the first that were split without the CSV reader, and of all.
    fn by_blocks(text: &[u8], has_header: bool, block: usize) -> (Rows, usize, usize) {
        let t = template(has_header);
        let mut blocks = BlockReader::new(text, ByteCount::default(), Records::Csv(b','), block);
        let (mut rows, mut plain, mut all) = (Vec::new(), 0, 0);
        loop {
            let b = match blocks.next_block(None) {
                Ok(Some(b)) => b,
                Ok(None) => return (Ok(rows), plain, all),
                Err(e) => return (Err(e.to_string()), plain, all),
            };
            all += 1;
            plain += usize::from(b.quote_free && !b.at_start);
            let (r, failed) = block_records(b, &t);
            rows.extend(
                r.lines.iter().enumerate().map(|(i, &line)| {
                    (line, (0..3).map(|c| r.field(i, 3, c).to_string()).collect())
                }),
            );
            if let Some(e) = failed {
                return (Err(e.to_string()), plain, all);
            }
        }
    }

    const FIELDS: &[&[u8]] = &[
        b"k1",
        b"",
        b" x ",
        b"\xc3\xa9t\xc3\xa9",
        b"2024-01-01",
        b"\"q,uo\"",
        b"\"two\nlines\"",
        b"\"say \"\"hi\"\"\"",
        b"\"\"",
        b"a\"b",
    ];
    const ENDS: &[&[u8]] = &[b"\n", b"\n", b"\n", b"\r\n", b"\r"];
    const BAD: &[&[u8]] = &[
        b"\n",
        b"\r\n\r\n",
        b"x,y\n",
        b"1,2,3,4\n",
        b"\"open",
        b"\"ab\"c,d,e\n",
        b"\xff,b,c\n",
        b"  \n",
        b",,\n",
    ];

    fn text() -> impl Strategy<Value = Vec<u8>> {
        let field = prop::sample::select(FIELDS);
        let row = (
            field.clone(),
            field.clone(),
            field,
            prop::sample::select(ENDS),
        )
            .prop_map(|(a, b, c, e)| [a, b",", b, b",", c, e].concat());
        let part = prop_oneof![30 => row, 1 => prop::sample::select(BAD).prop_map(<[u8]>::to_vec)];
        (any::<bool>(), prop::collection::vec(part, 0..60)).prop_map(|(bom, parts)| {
            let mut t = if bom {
                b"\xef\xbb\xbf".to_vec()
            } else {
                Vec::new()
            };
            t.extend_from_slice(b"a,b,c\n");
            t.extend(parts.concat());
            t
        })
    }

    proptest! {
        /// Cut into blocks of any size, a text gives the rows, lines and first error of
        /// reading it in one pass.
        #[test]
        fn blocks_read_as_one_pass(text in text(), has_header in any::<bool>(), block in 1usize..80) {
            let (rows, _, _) = by_blocks(&text, has_header, block);
            prop_assert_eq!(rows, one_pass(&text, has_header));
        }
    }

    #[test]
    fn plain_blocks_skip_the_csv_reader() {
        let mut text = b"a,b,c\n".to_vec();
        for i in 0..2000 {
            text.extend(format!("k{i},{},x y\r\n", i * 7).bytes());
        }
        let (rows, plain, all) = by_blocks(&text, true, 4096);
        assert_eq!(rows, one_pass(&text, true));
        assert_eq!(rows.map(|r| r.len()), Ok(2000));
        assert!(
            all > 5 && plain == all - 1,
            "{plain} of {all} blocks were split without the CSV reader"
        );
    }

    fn converted(path: &Path, block: usize, threads: usize) -> Result<Vec<RecordBatch>> {
        let columns = (0..3)
            .map(|i| ColumnMap {
                name: header()[i].clone(),
                csv_index: i,
                target: Target::Value([ColumnType::String, ColumnType::Int, ColumnType::Float][i]),
                inferred: false,
            })
            .collect();
        drain(converter_with(
            CsvFile::open(path, &opts(true))?,
            columns,
            block,
            threads,
        )?)
    }

    #[test]
    fn threads_keep_file_order_and_the_first_error() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let mut text = b"a,b,c\n".to_vec();
        for i in 0..5000 {
            text.extend(format!("k{i},{i},\"{i}.5\"\n").bytes());
        }
        let good = dir.path().join("good.csv");
        std::fs::write(&good, &text)?;
        same_in_blocks(|block, threads| converted(&good, block, threads), 700, 5000)?;
        // Three bad rows: the first one in the file is the one reported, although its
        // column comes after the second one's (columns are converted one by one).
        text.extend(b"k,1,notafloat\n");
        text.extend(b"k,notanint,1.5\n");
        text.extend(b"k,1,1.5,extra\n");
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, &text)?;
        for threads in [1, 3] {
            let err = converted(&bad, 700, threads)
                .expect_err("bad rows")
                .to_string();
            assert!(err.contains("line 5002, column 3 ('c')"), "{err}");
        }
        Ok(())
    }
}
