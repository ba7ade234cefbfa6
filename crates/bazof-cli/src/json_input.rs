//! Reading NDJSON (one JSON object per line, `.ndjson`, `.jsonl`, `.json`, gzipped too),
//! line by line in bounded memory, into the same cells as CSV ([`crate::convert`]).
//!
//! A JSON string is text and follows the CSV rules for the column's type (so a timestamp
//! or date is written as a string); a JSON number, boolean or null is typed. Inference:
//! integers make an Int column, numbers with a fraction or exponent a Float, booleans a
//! Boolean, strings a Date or DateTime when every one has that exact form, else a String.
//! A column mixing kinds is a String holding each value's JSON text; nested values
//! (arrays, objects) are stored as their JSON text in a String column.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use arrow::array::RecordBatch;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::convert::{BatchBuilder, BatchSource, Cell, ColumnMap, CHUNK_ROWS};
use crate::csv_input::{ColumnStats, SAMPLE_ROWS};
use crate::error::Result;
use crate::fail;
use crate::source::{open_text, ByteCount};

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
    counted: ByteCount,
    line: u64,
    buf: String,
    object: Object,
}

impl JsonFile {
    /// Opens a file (gunzipping `.gz`).
    pub fn open(path: &Path) -> Result<JsonFile> {
        let (reader, counted) = open_text(path)?;
        Ok(JsonFile {
            name: path.display().to_string(),
            reader,
            counted,
            line: 0,
            buf: String::new(),
            object: Object::default(),
        })
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

/// Converts an NDJSON file into batches of at most [`CHUNK_ROWS`] rows.
pub struct JsonConverter {
    file: JsonFile,
    out: BatchBuilder,
    /// The column names this import takes (`ColumnMap::csv_index` indexes it).
    header: Vec<String>,
    rows: u64,
}

impl JsonConverter {
    /// Prepares conversion of `file`; `header` names the columns the maps point into.
    pub fn new(file: JsonFile, header: Vec<String>, columns: Vec<ColumnMap>) -> JsonConverter {
        JsonConverter {
            file,
            out: BatchBuilder::new(columns),
            header,
            rows: 0,
        }
    }
}

impl BatchSource for JsonConverter {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut scratch = String::new();
        let mut slots: Vec<Option<usize>> = vec![None; self.header.len()];
        while self.out.rows() < CHUNK_ROWS {
            if !self.file.next_object()? {
                break;
            }
            slots.iter_mut().for_each(|s| *s = None);
            for (j, (k, _)) in self.file.object.0.iter().enumerate() {
                match self.header.iter().position(|h| h == k) {
                    Some(i) => slots[i] = Some(j),
                    None => {
                        return Err(fail!(
                            "{}: line {}: column '{k}' is not among the columns of this import \
                             ({}): it is not in the table's schema, or it first appears after \
                             line {SAMPLE_ROWS} (a new table takes its columns from the first \
                             {SAMPLE_ROWS} lines of each file)",
                            self.file.name,
                            self.file.line,
                            self.header.join(", ")
                        ))
                    }
                }
            }
            for i in 0..self.out.columns().len() {
                let index = self.out.columns()[i].csv_index;
                let column = &self.header[index];
                let value = slots[index].map(|j| &self.file.object.0[j].1);
                let c = cell(value, &mut scratch);
                if let Err(reason) = self.out.push(i, column, c) {
                    return Err(fail!(
                        "{}: line {}, column '{column}': {reason}",
                        self.file.name,
                        self.file.line,
                    ));
                }
            }
            self.out.end_rows(1);
            self.rows += 1;
        }
        self.out.finish()
    }

    fn rows(&self) -> u64 {
        self.rows
    }

    fn bytes(&self) -> u64 {
        self.file.counted.get()
    }
}
