//! The schema of an import: `--schema` parsed and checked against an existing table,
//! or the schema of a new table inferred from samples of the files.

use bazof::{ColumnDef, ColumnType, KeyType, TableSchema};

use super::inputs::Input;
use super::Roles;
use crate::cli::InputFormat;
use crate::csv_input::{sample, CsvOptions};
use crate::error::Result;
use crate::fail;
use crate::infer::ColumnStats;
use crate::parquet_input;

/// One `--schema` entry.
#[derive(Debug, Clone)]
pub(super) struct SpecEntry {
    pub(super) name: String,
    pub(super) type_name: String,
}

pub(super) fn parse_spec(spec: &str) -> Result<Vec<SpecEntry>> {
    let mut out: Vec<SpecEntry> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, ty) = part
            .split_once(':')
            .ok_or_else(|| fail!("--schema: '{part}' is not COL:TYPE (types: string, int, float, boolean, datetime, date)"))?;
        let (name, ty) = (name.trim(), ty.trim());
        if name.is_empty() {
            return Err(fail!("--schema: '{part}' has an empty column name"));
        }
        if out.iter().any(|e| e.name == name) {
            return Err(fail!("--schema: column '{name}' is listed twice"));
        }
        if ColumnType::parse(ty).is_none() {
            return Err(fail!(
                "--schema: unknown type '{ty}' for column '{name}' (types: string, int, float, boolean, datetime, date)"
            ));
        }
        out.push(SpecEntry {
            name: name.to_string(),
            type_name: ty.to_string(),
        });
    }
    Ok(out)
}

pub(super) fn spec_type(spec: &[SpecEntry], name: &str) -> Option<ColumnType> {
    spec.iter()
        .find(|e| e.name == name)
        .and_then(|e| ColumnType::parse(&e.type_name))
}

fn key_type_of(t: ColumnType, col: &str) -> Result<KeyType> {
    match t {
        ColumnType::String => Ok(KeyType::String),
        ColumnType::Int => Ok(KeyType::Int),
        other => Err(fail!(
            "--schema: the key column '{col}' must be string or int, not {other:?}"
        )),
    }
}

/// Checks that `--schema` agrees with an existing table's schema.
pub(super) fn check_spec(
    s: &TableSchema,
    spec: &[SpecEntry],
    roles: &Roles,
    table: &str,
) -> Result<()> {
    let (key_col, et_col) = (&roles.key, &roles.event_time);
    for e in spec {
        let given = ColumnType::parse(&e.type_name);
        let ok = if e.name == *key_col {
            given
                .map(|t| key_type_of(t, key_col))
                .transpose()?
                .is_some_and(|k| k == s.key_type)
        } else if e.name == *et_col {
            true
        } else {
            s.column(&e.name)
                .is_some_and(|c| Some(c.data_type) == given)
        };
        if !ok {
            return Err(fail!(
                "--schema says {}:{} but table {} has {}",
                e.name,
                e.type_name,
                table,
                describe_column(s, &e.name)
            ));
        }
    }
    Ok(())
}

fn describe_column(s: &TableSchema, name: &str) -> String {
    if name == s.key {
        format!("key {name}:{:?}", s.key_type).to_lowercase()
    } else if let Some(c) = s.column(name) {
        format!("{name}:{:?}", c.data_type).to_lowercase()
    } else {
        format!("no column '{name}'")
    }
}

/// What the values of each column of a file are: CSV files are sampled, NDJSON files were
/// sampled when their column names were read, Parquet files declare their types.
fn file_stats(input: &Input, opts: &CsvOptions) -> Result<Vec<ColumnStats>> {
    match input.format {
        InputFormat::Csv => sample(&input.path, opts, &input.header),
        InputFormat::Ndjson => Ok(input.stats.clone().unwrap_or_default()),
        InputFormat::Parquet => {
            let mut out = Vec::new();
            for (col, dt) in input.header.iter().zip(&input.types) {
                let mut st = ColumnStats::default();
                match parquet_input::column_type(dt) {
                    Ok(Some(t)) => st.observe_type(t),
                    Ok(None) => {}
                    Err(why) => {
                        return Err(fail!("{}: column '{col}' is {why}", input.path.display()))
                    }
                }
                out.push(st);
            }
            Ok(out)
        }
    }
}

/// The schema of a new table: `--schema`'s types, the others inferred from every file's
/// sample, columns in order of first appearance.
pub(super) fn infer_schema(
    inputs: &[Input],
    opts: &CsvOptions,
    spec: &[SpecEntry],
    roles: &Roles,
) -> Result<TableSchema> {
    let (key_col, et_col) = (roles.key.as_str(), roles.event_time.as_str());
    // Columns in order of first appearance; stats merged over every file's sample.
    let mut names: Vec<String> = Vec::new();
    let mut stats: Vec<ColumnStats> = Vec::new();
    let mut key_stats = ColumnStats::default();
    for input in inputs {
        let s = file_stats(input, opts)?;
        for (col, st) in input.header.iter().zip(&s) {
            if col == key_col {
                key_stats.merge(st);
            }
            if roles.is_special(col) {
                continue;
            }
            match names.iter().position(|n| n == col) {
                Some(i) => stats[i].merge(st),
                None => {
                    names.push(col.clone());
                    stats.push(st.clone());
                }
            }
        }
    }
    for e in spec {
        if e.name != key_col && e.name != et_col && !names.contains(&e.name) {
            return Err(fail!(
                "--schema names column '{}' which no input file has",
                e.name
            ));
        }
    }
    if let Some(t) = spec_type(spec, et_col) {
        if t != ColumnType::DateTime {
            return Err(fail!(
                "--schema: the event-time column '{et_col}' must be datetime, not {t:?}"
            ));
        }
    }
    let key_type = match spec_type(spec, key_col) {
        Some(t) => key_type_of(t, key_col)?,
        None => key_stats.key_type(),
    };
    let columns = names
        .iter()
        .zip(&stats)
        .map(|(n, st)| {
            ColumnDef::new(
                n.clone(),
                spec_type(spec, n).unwrap_or_else(|| st.value_type()),
            )
        })
        .collect();
    let schema = TableSchema {
        key: key_col.into(),
        key_type,
        event_time: et_col.into(),
        columns,
    };
    schema
        .validate()
        .map_err(|e| fail!("cannot create the table: {e}"))?;
    Ok(schema)
}
