//! Scan output: aligned table, CSV, JSON lines, Parquet.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, BooleanArray, Date32Array, Float64Array, Int64Array, LargeStringArray, RecordBatch,
    StringArray, StringViewArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::ArrowWriter;

use crate::cli::Format;
use crate::error::{CliError, Result};
use crate::fail;
use crate::timefmt::format_micros;

/// A cell as the CLI prints it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Null.
    Null,
    /// Printed as a JSON number.
    Number(String),
    /// Printed as a JSON boolean.
    Bool(bool),
    /// Printed as a JSON string.
    Text(String),
}

impl Cell {
    /// The text in CSV and table output (empty for null).
    pub fn text(&self) -> &str {
        match self {
            Cell::Null => "",
            Cell::Number(s) | Cell::Text(s) => s,
            Cell::Bool(true) => "true",
            Cell::Bool(false) => "false",
        }
    }

    fn json(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Number(s) => s.clone(),
            Cell::Bool(b) => b.to_string(),
            Cell::Text(s) => serde_json::Value::String(s.clone()).to_string(),
        }
    }
}

/// Formats a float the way every output does: shortest round-trip form, with `.0`
/// for whole numbers (`3.0`, `0.1`, `1e20`).
pub fn format_float(x: f64) -> String {
    format!("{x:?}")
}

/// Reads one cell of an Arrow column.
pub fn cell(a: &dyn Array, row: usize) -> Cell {
    if a.is_null(row) {
        return Cell::Null;
    }
    let any = a.as_any();
    let text = |s: Option<String>| s.map_or(Cell::Null, Cell::Text);
    match a.data_type() {
        DataType::Utf8 => text(
            any.downcast_ref::<StringArray>()
                .map(|x| x.value(row).to_string()),
        ),
        DataType::LargeUtf8 => text(
            any.downcast_ref::<LargeStringArray>()
                .map(|x| x.value(row).to_string()),
        ),
        DataType::Utf8View => text(
            any.downcast_ref::<StringViewArray>()
                .map(|x| x.value(row).to_string()),
        ),
        DataType::Int64 => any
            .downcast_ref::<Int64Array>()
            .map_or(Cell::Null, |x| Cell::Number(x.value(row).to_string())),
        DataType::Float64 => any.downcast_ref::<Float64Array>().map_or(Cell::Null, |x| {
            let v = x.value(row);
            if v.is_finite() {
                Cell::Number(format_float(v))
            } else {
                Cell::Text(format_float(v))
            }
        }),
        DataType::Boolean => any
            .downcast_ref::<BooleanArray>()
            .map_or(Cell::Null, |x| Cell::Bool(x.value(row))),
        DataType::Timestamp(TimeUnit::Microsecond, _) => any
            .downcast_ref::<TimestampMicrosecondArray>()
            .map_or(Cell::Null, |x| Cell::Text(format_micros(x.value(row)))),
        DataType::Timestamp(_, _) => {
            match arrow::compute::cast(
                a,
                &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ) {
                Ok(c) => cell(c.as_ref(), row),
                Err(_) => generic(a, row),
            }
        }
        DataType::Date32 => any.downcast_ref::<Date32Array>().map_or(Cell::Null, |x| {
            x.value_as_date(row)
                .map_or(Cell::Null, |d| Cell::Text(d.format("%Y-%m-%d").to_string()))
        }),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => match generic(a, row) {
            Cell::Text(s) => Cell::Number(s),
            other => other,
        },
        _ => generic(a, row),
    }
}

fn generic(a: &dyn Array, row: usize) -> Cell {
    match ArrayFormatter::try_new(a, &FormatOptions::default()) {
        Ok(f) => Cell::Text(f.value(row).to_string()),
        Err(_) => Cell::Null,
    }
}

/// How a text format turns one batch into its bytes (every row, no header).
pub type Encoder = Arc<dyn Fn(&RecordBatch) -> Result<Vec<u8>> + Send + Sync>;

/// Where scan batches go.
pub trait Sink {
    /// Writes one batch.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Flushes and closes.
    fn finish(self: Box<Self>) -> Result<()>;
    /// For formats whose batches are encoded independently (CSV, JSON lines): the
    /// encoder, so that a caller can encode several batches at once on other threads
    /// and hand the bytes to [`Sink::write_encoded`] in order.
    fn encoder(&self) -> Option<Encoder> {
        None
    }
    /// Writes the bytes the [`Sink::encoder`] made of the next batch.
    fn write_encoded(&mut self, _bytes: &[u8]) -> Result<()> {
        Err(fail!(
            "this output format writes batches, not encoded bytes"
        ))
    }
}

/// Opens the sink for a format; `output` None = stdout.
pub fn open_sink(
    format: Format,
    schema: SchemaRef,
    output: Option<&Path>,
) -> Result<Box<dyn Sink + Send>> {
    let out: Box<dyn Write + Send> = match (format, output) {
        (Format::Parquet, None) => {
            return Err(fail!(
            "--format parquet needs --output FILE (Parquet is not written to a terminal or pipe)"
        ))
        }
        (Format::Parquet, Some(p)) => {
            let file = File::create(p).map_err(|e| fail!("{}: {e}", p.display()))?;
            let writer = ArrowWriter::try_new(file, schema, None)?;
            return Ok(Box::new(ParquetSink { writer }));
        }
        (_, Some(p)) => Box::new(BufWriter::new(
            File::create(p).map_err(|e| fail!("{}: {e}", p.display()))?,
        )),
        (_, None) => Box::new(BufWriter::new(std::io::stdout())),
    };
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    Ok(match format {
        Format::Csv => {
            let mut out = out;
            out.write_all(&encode_csv(std::iter::once(names.iter()))?)?;
            let encode: Encoder = Arc::new(encode_csv_batch);
            Box::new(TextSink { out, encode })
        }
        Format::Json => {
            // Each name as a JSON string, once.
            let keys: Vec<String> = names
                .iter()
                .map(|n| serde_json::Value::String(n.clone()).to_string())
                .collect();
            let encode: Encoder = Arc::new(move |batch| Ok(encode_json(batch, &keys)));
            Box::new(TextSink { out, encode })
        }
        Format::Table => Box::new(TableSink {
            out,
            names,
            rows: Vec::new(),
        }),
        Format::Parquet => unreachable!("handled above"),
    })
}

fn csv_err(e: csv::Error) -> CliError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => CliError::from(e),
        other => fail!("cannot write CSV: {other:?}"),
    }
}

fn rows(batch: &RecordBatch) -> impl Iterator<Item = Vec<Cell>> + '_ {
    (0..batch.num_rows()).map(move |r| {
        batch
            .columns()
            .iter()
            .map(|c| cell(c.as_ref(), r))
            .collect()
    })
}

/// A batch's rows as CSV records: each cell's text ([`Cell::text`]) written through one
/// reused string, the column's type looked up once per batch.
fn encode_csv_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    let columns: Vec<TextColumn> = batch
        .columns()
        .iter()
        .map(|c| TextColumn::of(c.as_ref()))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut text = String::new();
    for row in 0..batch.num_rows() {
        for c in &columns {
            text.clear();
            c.write_text(row, &mut text);
            w.write_field(&text).map_err(csv_err)?;
        }
        w.write_record(None::<&[u8]>).map_err(csv_err)?;
    }
    w.into_inner()
        .map_err(|e| fail!("cannot write CSV: {}", e.error()))
}

/// A column of a batch, its type looked up once, whose cells are appended as CSV text
/// ([`Cell::text`]) or JSON ([`Cell::json`]) without a string of their own for the
/// common types.
enum TextColumn<'a> {
    Str(&'a StringArray),
    Int(&'a Int64Array),
    Float(&'a Float64Array),
    Bool(&'a BooleanArray),
    Micros(&'a TimestampMicrosecondArray),
    /// Any other type, through [`cell`].
    Other(&'a dyn Array),
}

impl<'a> TextColumn<'a> {
    fn of(a: &'a dyn Array) -> Self {
        let any = a.as_any();
        let typed = match a.data_type() {
            DataType::Utf8 => any.downcast_ref().map(TextColumn::Str),
            DataType::Int64 => any.downcast_ref().map(TextColumn::Int),
            DataType::Float64 => any.downcast_ref().map(TextColumn::Float),
            DataType::Boolean => any.downcast_ref().map(TextColumn::Bool),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                any.downcast_ref().map(TextColumn::Micros)
            }
            _ => None,
        };
        typed.unwrap_or(TextColumn::Other(a))
    }

    /// Appends the JSON value of row `row` ([`Cell::json`]'s).
    fn write_json(&self, row: usize, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // Writing to a `Vec` cannot fail.
        let _ = match self {
            TextColumn::Other(a) => out.write_all(cell(*a, row).json().as_bytes()),
            TextColumn::Str(a) if a.is_valid(row) => {
                serde_json::to_writer(&mut *out, a.value(row)).map_err(std::io::Error::from)
            }
            TextColumn::Int(a) if a.is_valid(row) => write!(out, "{}", a.value(row)),
            TextColumn::Float(a) if a.is_valid(row) => match a.value(row) {
                v if v.is_finite() => write!(out, "{v:?}"),
                v => write!(out, "\"{v:?}\""),
            },
            TextColumn::Bool(a) if a.is_valid(row) => {
                out.write_all(if a.value(row) { b"true" } else { b"false" })
            }
            TextColumn::Micros(a) if a.is_valid(row) => {
                let mut text = String::with_capacity(27);
                crate::timefmt::write_micros(&mut text, a.value(row));
                serde_json::to_writer(&mut *out, &text).map_err(std::io::Error::from)
            }
            _ => out.write_all(b"null"),
        };
    }

    /// Appends the text of row `row` (nothing for a null).
    fn write_text(&self, row: usize, out: &mut String) {
        use std::fmt::Write as _;
        // Writing to a `String` cannot fail.
        let _ = match self {
            TextColumn::Other(a) => {
                out.push_str(cell(*a, row).text());
                Ok(())
            }
            TextColumn::Str(a) if a.is_valid(row) => {
                out.push_str(a.value(row));
                Ok(())
            }
            TextColumn::Int(a) if a.is_valid(row) => write!(out, "{}", a.value(row)),
            // As `format_float`.
            TextColumn::Float(a) if a.is_valid(row) => write!(out, "{:?}", a.value(row)),
            TextColumn::Bool(a) if a.is_valid(row) => {
                out.push_str(if a.value(row) { "true" } else { "false" });
                Ok(())
            }
            TextColumn::Micros(a) if a.is_valid(row) => {
                crate::timefmt::write_micros(out, a.value(row));
                Ok(())
            }
            _ => Ok(()),
        };
    }
}

/// CSV records (quoted where needed), as bytes.
fn encode_csv<R, C>(records: impl Iterator<Item = R>) -> Result<Vec<u8>>
where
    R: IntoIterator<Item = C>,
    C: AsRef<[u8]>,
{
    let mut w = csv::Writer::from_writer(Vec::new());
    for record in records {
        w.write_record(record).map_err(csv_err)?;
    }
    w.into_inner()
        .map_err(|e| fail!("cannot write CSV: {}", e.error()))
}

/// One JSON object per row, one row per line; `keys`: the column names as JSON strings.
fn encode_json(batch: &RecordBatch, keys: &[String]) -> Vec<u8> {
    let columns: Vec<TextColumn> = batch
        .columns()
        .iter()
        .map(|c| TextColumn::of(c.as_ref()))
        .collect();
    let mut out = Vec::new();
    for row in 0..batch.num_rows() {
        out.push(b'{');
        for (i, (k, c)) in keys.iter().zip(&columns).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(k.as_bytes());
            out.push(b':');
            c.write_json(row, &mut out);
        }
        out.extend_from_slice(b"}\n");
    }
    out
}

/// A text format (CSV, JSON lines): each batch encoded on its own, the bytes written
/// in order.
struct TextSink {
    out: Box<dyn Write + Send>,
    encode: Encoder,
}

impl Sink for TextSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let bytes = (self.encode)(batch)?;
        self.write_encoded(&bytes)
    }
    fn finish(mut self: Box<Self>) -> Result<()> {
        self.out.flush().map_err(CliError::from)
    }
    fn encoder(&self) -> Option<Encoder> {
        Some(self.encode.clone())
    }
    fn write_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(CliError::from)
    }
}

struct TableSink {
    out: Box<dyn Write + Send>,
    names: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Sink for TableSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows
            .extend(rows(batch).map(|r| r.iter().map(|c| c.text().to_string()).collect()));
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<()> {
        let text = render_table(&self.names, &self.rows);
        self.out.write_all(text.as_bytes())?;
        self.out.flush().map_err(CliError::from)
    }
}

/// An aligned table with a border, and a row count.
pub fn render_table(names: &[String], rows: &[Vec<String>]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = names.iter().map(|n| width(n)).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(width(c));
        }
    }
    let rule: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("| {c}{} ", " ".repeat(w - width(c))))
            .collect::<String>()
            + "|\n"
    };
    let mut s = rule.clone();
    s.push_str(&line(names));
    s.push_str(&rule);
    for r in rows {
        s.push_str(&line(r));
    }
    if !rows.is_empty() {
        s.push_str(&rule);
    }
    s.push_str(&format!(
        "({} row{})\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    s
}

struct ParquetSink {
    writer: ArrowWriter<File>,
}

impl Sink for ParquetSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        Ok(self.writer.write(batch)?)
    }
    fn finish(self: Box<Self>) -> Result<()> {
        self.writer.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Date32Array, Int32Array};
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// CSV and JSON lines written through typed columns are what writing each
        /// [`cell`]'s text or JSON value gives:
        /// strings needing quotes, every float (NaN, infinities, -0.0), timestamps of
        /// any year (fractions or none), nulls, and types without a typed column.
        #[test]
        fn typed_text_equals_cell_text(
            rows in prop::collection::vec(
                (
                    prop::option::weighted(0.9, "[a-z,\" \\n]{0,6}"),
                    prop::option::weighted(0.9, any::<i64>()),
                    prop::option::weighted(0.9, prop_oneof![
                        any::<f64>(), Just(f64::NAN), Just(-0.0), Just(1e20), Just(0.1)
                    ]),
                    prop::option::weighted(0.9, any::<bool>()),
                    prop::option::weighted(0.9, prop_oneof![
                        any::<i64>(),
                        -62_167_219_200_000_000i64..253_402_300_800_000_000,
                        (0i64..100_000).prop_map(|s| s * 1_000_000),
                        (0i64..100_000_000).prop_map(|ms| ms * 1000),
                    ]),
                    prop::option::weighted(0.9, -800_000i32..3_000_000),
                ),
                1..40,
            ),
        ) {
            let col = |a: ArrayRef| a;
            let batch = RecordBatch::try_from_iter([
                ("s", col(Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0.clone()))))),
                ("i", col(Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))))),
                ("f", col(Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))))),
                ("b", col(Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.3))))),
                ("t", col(Arc::new(
                    TimestampMicrosecondArray::from_iter(rows.iter().map(|r| r.4)).with_timezone("UTC"),
                ))),
                ("d", col(Arc::new(Date32Array::from_iter(rows.iter().map(|r| r.5))))),
                ("n", col(Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.5))))),
            ])
            .unwrap();
            let by_cell = encode_csv(
                super::rows(&batch).map(|r| r.into_iter().map(|c| c.text().to_string())),
            )
            .unwrap();
            prop_assert_eq!(
                String::from_utf8(encode_csv_batch(&batch).unwrap()).unwrap(),
                String::from_utf8(by_cell).unwrap()
            );
            // JSON lines likewise, against each cell's JSON value.
            let keys: Vec<String> = ["s", "i", "f", "b", "t", "d", "n"]
                .iter()
                .map(|n| serde_json::Value::String(n.to_string()).to_string())
                .collect();
            let by_cell: String = super::rows(&batch)
                .map(|r| {
                    let fields: Vec<String> =
                        keys.iter().zip(&r).map(|(k, c)| format!("{k}:{}", c.json())).collect();
                    format!("{{{}}}\n", fields.join(","))
                })
                .collect();
            prop_assert_eq!(String::from_utf8(encode_json(&batch, &keys)).unwrap(), by_cell);
        }
    }
}
