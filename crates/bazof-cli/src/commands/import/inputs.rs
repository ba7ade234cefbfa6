//! The files of an import: their column names, and which table column each fills.

use std::path::PathBuf;

use arrow::datatypes::DataType;
use bazof::{TableSchema, DELETED_COLUMN};

use super::schema::SpecEntry;
use super::Roles;
use crate::cli::{ImportArgs, InputFormat};
use crate::convert::{ColumnMap, Target};
use crate::csv_input::{CsvFile, CsvOptions};
use crate::error::Result;
use crate::fail;
use crate::infer::{ColumnStats, SAMPLE_ROWS};
use crate::json_input;
use crate::parquet_input::{self, ParquetFile};
use crate::source::format_of;

/// One input file: its format and column names.
pub(super) struct Input {
    pub(super) path: PathBuf,
    pub(super) format: InputFormat,
    pub(super) header: Vec<String>,
    /// Parquet: the column types, in header order.
    pub(super) types: Vec<DataType>,
    /// NDJSON: what the sampled values are, in header order.
    pub(super) stats: Option<Vec<ColumnStats>>,
}

impl Input {
    /// Where the column names come from, for messages.
    pub(super) fn place(&self, opts: &CsvOptions) -> String {
        match self.format {
            InputFormat::Csv if opts.has_header => "line 1 (header)".into(),
            InputFormat::Csv => "the column names (--no-header)".into(),
            InputFormat::Ndjson => format!("the first {SAMPLE_ROWS} lines"),
            InputFormat::Parquet => "the Parquet schema".into(),
        }
    }
}

/// Every file's column names (from its header, `--schema`, the table or the file's own
/// schema), checked to hold the key, event-time and deletion-marker columns.
pub(super) fn read(
    args: &ImportArgs,
    opts: &CsvOptions,
    spec: &[SpecEntry],
    existing_schema: Option<&TableSchema>,
    roles: &Roles,
) -> Result<Vec<Input>> {
    let (key_col, et_col) = (&roles.key, &roles.event_time);
    // The table's own column names (for headerless CSV and NDJSON files).
    let table_names = |s: &TableSchema| {
        let mut names: Vec<String> = vec![key_col.clone(), et_col.clone()];
        names.extend(s.columns.iter().map(|c| c.name.clone()));
        names.extend(roles.deleted.iter().cloned());
        names
    };
    let mut inputs: Vec<Input> = Vec::new();
    for path in &args.files {
        let format = format_of(path, args.format)?;
        let (mut types, mut stats) = (Vec::new(), None);
        let header = match format {
            InputFormat::Csv if opts.has_header => CsvFile::open(path, opts)?.header,
            InputFormat::Csv if !spec.is_empty() => spec.iter().map(|e| e.name.clone()).collect(),
            InputFormat::Csv => match existing_schema {
                Some(s) => table_names(s),
                None => {
                    let width = CsvFile::peek_width(path, opts)?;
                    let mut names = vec![key_col.clone(), et_col.clone()];
                    names.extend((3..=width).map(|i| format!("col{i}")));
                    if let (Some(d), true) = (&roles.deleted, width >= 3) {
                        names[width - 1] = d.clone();
                    }
                    names
                }
            },
            InputFormat::Ndjson => {
                let (mut names, mut sampled) = json_input::sample(path)?;
                for n in existing_schema.map(table_names).unwrap_or_default() {
                    if !names.contains(&n) {
                        names.push(n);
                        sampled.push(ColumnStats::default());
                    }
                }
                stats = Some(sampled);
                names
            }
            InputFormat::Parquet => {
                let file = ParquetFile::open(path)?;
                types = file.types;
                file.header
            }
        };
        let input = Input {
            path: path.clone(),
            format,
            header,
            types,
            stats,
        };
        let name = path.display();
        let hint = |what: &str, col: &str, flag: &str| {
            fail!(
                "{name}: {}: no {what} column '{col}' (columns: {}); name it with {flag} COL",
                input.place(opts),
                input.header.join(", ")
            )
        };
        if !input.header.contains(key_col) {
            return Err(hint("key", key_col, "--key"));
        }
        if !input.header.contains(et_col) {
            return Err(hint("event-time", et_col, "--event-time"));
        }
        if let Some(d) = &roles.deleted {
            if !input.header.contains(d) {
                return Err(hint("deleted", d, "--deleted"));
            }
        }
        inputs.push(input);
    }
    Ok(inputs)
}

/// Where every batch column comes from, per file: the table column each input column
/// fills, and whether its type was inferred (`is_inferred`).
pub(super) fn column_maps(
    inputs: &[Input],
    opts: &CsvOptions,
    schema: &TableSchema,
    roles: &Roles,
    is_inferred: &dyn Fn(&str) -> bool,
    table: &str,
) -> Result<Vec<Vec<ColumnMap>>> {
    let mut maps: Vec<Vec<ColumnMap>> = Vec::new();
    for input in inputs {
        let mut m = Vec::new();
        for (i, col) in input.header.iter().enumerate() {
            let (name, target) = if *col == roles.key {
                (schema.key.clone(), Target::Key(schema.key_type))
            } else if *col == roles.event_time {
                (schema.event_time.clone(), Target::EventTime)
            } else if roles.deleted.as_deref() == Some(col.as_str()) {
                (DELETED_COLUMN.to_string(), Target::Deleted)
            } else if let Some(c) = schema.column(col) {
                (c.name.clone(), Target::Value(c.data_type))
            } else {
                let at = match input.format {
                    InputFormat::Csv => format!("{}, column {}", input.place(opts), i + 1),
                    _ => input.place(opts),
                };
                return Err(fail!(
                    "{}: {at}: column '{col}' is not in the schema of table {} (columns: {})",
                    input.path.display(),
                    table,
                    schema.column_names().collect::<Vec<_>>().join(", ")
                ));
            };
            let inferred = matches!(target, Target::Key(_) | Target::Value(_)) && is_inferred(col);
            if let Some(dt) = input.types.get(i) {
                if !parquet_input::fits(dt, &target, inferred) {
                    return Err(fail!(
                        "{}: column '{col}' is {dt} in the Parquet file, which cannot be stored \
                         in the table's column '{col}' ({})",
                        input.path.display(),
                        target_name(&target)
                    ));
                }
            }
            m.push(ColumnMap {
                name,
                csv_index: i,
                target,
                inferred,
            });
        }
        maps.push(m);
    }
    Ok(maps)
}

/// A target type in words, for messages.
fn target_name(t: &Target) -> String {
    match t {
        Target::Key(k) => format!("key, {k:?}"),
        Target::EventTime => "event time, DateTime".into(),
        Target::Value(c) => format!("{c:?}"),
        Target::Deleted => "deletion marker, Boolean".into(),
    }
}
