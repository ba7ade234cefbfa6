//! Reading NDJSON (one JSON object per line, `.ndjson`, `.jsonl`, `.json`, gzipped too),
//! in blocks of lines on all cores ([`crate::blocks`]), in bounded memory, into the same
//! cells as CSV ([`crate::convert`]).
//!
//! A JSON string is text and follows the CSV rules for the column's type (so a timestamp
//! or date is written as a string); a JSON number, boolean or null is typed. Inference:
//! integers make an Int column, numbers with a fraction or exponent a Float, booleans a
//! Boolean, strings a Date or DateTime when every one has that exact form, else a String.
//! A column mixing kinds is a String holding each value's JSON text; nested values
//! (arrays, objects) are stored as their JSON text in a String column. An object that
//! names a member twice is an error.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use arrow::array::RecordBatch;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::batches::BatchBuilder;
use crate::blocks::{self, Block, BlockConverter, BlockReader, Records, BLOCK_BYTES};
use crate::convert::{Cell, ColumnMap};
use crate::error::Result;
use crate::fail;
use crate::infer::{ColumnStats, SAMPLE_ROWS};
use crate::source::open_text;

/// A JSON object with its members in file order (a new table takes that column order).
#[derive(Default)]
struct Object(Vec<(String, Value)>);

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object ({\"column\": value, ...})")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Object, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.push((k, v));
        }
        Ok(Object(out))
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Object, D::Error> {
        d.deserialize_map(ObjectVisitor)
    }
}

/// An open NDJSON file.
pub struct JsonFile {
    /// The path as given (for messages).
    pub name: String,
    reader: Box<dyn BufRead + Send>,
    line: u64,
    buf: String,
    object: Object,
}

impl JsonFile {
    /// Opens a file (gunzipping `.gz`).
    pub fn open(path: &Path) -> Result<JsonFile> {
        let (reader, _) = open_text(path)?;
        Ok(JsonFile::over(path.display().to_string(), reader, 0))
    }

    /// Reads `reader`, lines of the file `name` after its first `line` lines.
    fn over(name: String, reader: Box<dyn BufRead + Send>, line: u64) -> JsonFile {
        JsonFile {
            name,
            reader,
            line,
            buf: String::new(),
            object: Object::default(),
        }
    }

    /// Reads the next object into `self.object`; false at the end. Blank lines are skipped.
    fn next_object(&mut self) -> Result<bool> {
        loop {
            self.buf.clear();
            let n = self.reader.read_line(&mut self.buf).map_err(|e| {
                let why = if e.kind() == std::io::ErrorKind::InvalidData {
                    "not valid UTF-8 (bazof reads UTF-8 text)".to_string()
                } else {
                    e.to_string()
                };
                fail!("{}: line {}: {why}", self.name, self.line + 1)
            })?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            let mut text = self.buf.trim();
            if self.line == 1 {
                text = text.trim_start_matches('\u{feff}');
            }
            if text.is_empty() {
                continue;
            }
            return match serde_json::from_str::<Object>(text) {
                Ok(o) => {
                    self.object = o;
                    Ok(true)
                }
                Err(e) => {
                    let msg = e.to_string();
                    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                    let what = if e.is_data() {
                        "not a JSON object"
                    } else {
                        "not valid JSON"
                    };
                    Err(fail!(
                        "{}: line {}, character {}: {what}: {msg}",
                        self.name,
                        self.line,
                        e.column()
                    ))
                }
            };
        }
    }
}

/// Takes one JSON value into a column's statistics (see the module docs).
fn observe(stats: &mut ColumnStats, v: &Value) {
    match v {
        Value::Null => {}
        Value::String(s) => stats.observe_string(s),
        Value::Number(n) => stats.observe(&n.to_string()),
        Value::Bool(b) => stats.observe(if *b { "true" } else { "false" }),
        nested => stats.observe_string(&nested.to_string()),
    }
}

/// Reads up to [`SAMPLE_ROWS`] objects: the column names in order of first appearance,
/// and what their values are.
pub fn sample(path: &Path) -> Result<(Vec<String>, Vec<ColumnStats>)> {
    let mut f = JsonFile::open(path)?;
    let mut names: Vec<String> = Vec::new();
    let mut stats: Vec<ColumnStats> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for _ in 0..SAMPLE_ROWS {
        if !f.next_object()? {
            break;
        }
        for (k, v) in &f.object.0 {
            let i = match index.get(k) {
                Some(&i) => i,
                None => {
                    index.insert(k.clone(), names.len());
                    names.push(k.clone());
                    stats.push(ColumnStats::default());
                    names.len() - 1
                }
            };
            observe(&mut stats[i], v);
        }
    }
    Ok((names, stats))
}

/// A JSON value as a cell; `scratch` holds the text of numbers beyond 64 bits and of
/// nested values.
fn cell<'a>(v: Option<&'a Value>, scratch: &'a mut String) -> Cell<'a> {
    match v {
        None | Some(Value::Null) => Cell::Null,
        Some(Value::String(s)) => Cell::Text(s),
        Some(Value::Bool(b)) => Cell::Bool(*b),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Cell::Int(i)
            } else if let (true, Some(x)) = (n.is_f64(), n.as_f64()) {
                Cell::Float(x)
            } else {
                *scratch = n.to_string();
                Cell::Text(scratch)
            }
        }
        Some(nested) => {
            *scratch = nested.to_string();
            Cell::Text(scratch)
        }
    }
}

/// Converts an NDJSON file into batches on all cores ([`crate::blocks`]), one per
/// block of about [`BLOCK_BYTES`]; `header` names the columns the maps point into.
pub fn converter(
    path: &Path,
    header: Vec<String>,
    columns: Vec<ColumnMap>,
) -> Result<BlockConverter> {
    converter_with(path, header, columns, BLOCK_BYTES, blocks::threads())
}

/// As [`converter`], with blocks of `block_bytes` on `threads` converting threads.
pub fn converter_with(
    path: &Path,
    header: Vec<String>,
    columns: Vec<ColumnMap>,
    block_bytes: usize,
    threads: usize,
) -> Result<BlockConverter> {
    let name = path.display().to_string();
    let (text, counted) = open_text(path)?;
    let blocks = BlockReader::new(text, counted, Records::Lines, block_bytes);
    BlockConverter::start(name.clone(), blocks, threads, || {
        let (name, header, mut out) = (
            name.clone(),
            header.clone(),
            BatchBuilder::new(columns.clone()),
        );
        move |block: Block| {
            let reader = Box::new(std::io::Cursor::new(block.bytes));
            let mut file = JsonFile::over(name.clone(), reader, block.first_line - 1);
            (convert(&mut file, &header, &mut out), None)
        }
    })
}

/// Converts every object of `file` into a batch of the output columns.
fn convert(
    file: &mut JsonFile,
    header: &[String],
    out: &mut BatchBuilder,
) -> Result<Option<RecordBatch>> {
    let mut scratch = String::new();
    let mut slots: Vec<Option<usize>> = vec![None; header.len()];
    while file.next_object()? {
        slots.iter_mut().for_each(|s| *s = None);
        for (j, (k, _)) in file.object.0.iter().enumerate() {
            match header.iter().position(|h| h == k) {
                // A member named twice is ambiguous: refused (as DuckDB's read_json
                // does), not resolved by keeping one of its values.
                Some(i) if slots[i].is_some() => {
                    return Err(fail!(
                        "{}: line {}: member {k:?} appears twice in the object",
                        file.name,
                        file.line
                    ))
                }
                Some(i) => slots[i] = Some(j),
                None => {
                    return Err(fail!(
                        "{}: line {}: column '{k}' is not among the columns of this import \
                         ({}): it is not in the table's schema, or it first appears after \
                         line {SAMPLE_ROWS} (a new table takes its columns from the first \
                         {SAMPLE_ROWS} lines of each file)",
                        file.name,
                        file.line,
                        header.join(", ")
                    ))
                }
            }
        }
        for i in 0..out.columns().len() {
            let index = out.columns()[i].csv_index;
            let column = &header[index];
            let value = slots[index].map(|j| &file.object.0[j].1);
            let c = cell(value, &mut scratch);
            if let Err(reason) = out.push(i, column, c) {
                return Err(fail!(
                    "{}: line {}, column '{column}': {reason}",
                    file.name,
                    file.line,
                ));
            }
        }
        out.end_rows(1);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::testing::{drain, same_in_blocks};
    use crate::convert::Target;
    use bazof::ColumnType;

    fn converted(path: &Path, block: usize, threads: usize) -> Result<Vec<RecordBatch>> {
        let header: Vec<String> = ["k", "n"].map(String::from).to_vec();
        let columns = [ColumnType::String, ColumnType::Int]
            .iter()
            .enumerate()
            .map(|(i, &t)| ColumnMap {
                name: header[i].clone(),
                csv_index: i,
                target: Target::Value(t),
                inferred: false,
            })
            .collect();
        drain(converter_with(path, header, columns, block, threads)?)
    }

    #[test]
    fn blocks_keep_file_order_and_the_first_error() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&format!("{{\"k\": \"k{i}\", \"n\": {i}}}\n"));
            if i % 700 == 0 {
                text.push_str("\r\n"); // blank lines are skipped
            }
        }
        let good = dir.path().join("good.ndjson");
        std::fs::write(&good, &text)?;
        same_in_blocks(|block, threads| converted(&good, block, threads), 500, 3000)?;
        // A bad value, then bad JSON: the first in the file is the one reported.
        text.push_str("{\"k\": \"x\", \"n\": \"many\"}\n{\"k\": \n");
        let bad = dir.path().join("bad.ndjson");
        std::fs::write(&bad, &text)?;
        for threads in [1, 3] {
            let err = converted(&bad, 500, threads)
                .expect_err("bad lines")
                .to_string();
            assert!(err.contains("bad.ndjson: line 3006, column 'n'"), "{err}");
        }
        Ok(())
    }
}
