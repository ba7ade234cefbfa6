//! `bazof import`: CSV, NDJSON and Parquet files → one atomic commit.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::datatypes::DataType;
use bazof::blocking::block_on;
use bazof::{
    AnySnapshot, ColumnDef, ColumnType, CommitInfo, KeyType, Table, TableSchema, DELETED_COLUMN,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{ImportArgs, InputFormat};
use crate::convert::{BatchSource, ColumnMap, Target};
use crate::csv_input::{
    self, parse_delimiter, sample, ColumnStats, CsvFile, CsvOptions, SAMPLE_ROWS,
};
use crate::error::{CliError, Result};
use crate::json_input;
use crate::parquet_input::{self, ParquetConverter, ParquetFile};
use crate::source::format_of;
use crate::{fail, usage};

/// One `--schema` entry.
#[derive(Debug, Clone)]
struct SpecEntry {
    name: String,
    type_name: String,
}

fn parse_spec(spec: &str) -> Result<Vec<SpecEntry>> {
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

fn spec_type(spec: &[SpecEntry], name: &str) -> Option<ColumnType> {
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

/// Runs `bazof import` and prints its one-line summary.
pub fn run(args: ImportArgs) -> Result<()> {
    if args.table.starts_with("memory:") {
        return Err(usage!(
            "{}: a memory:// table lives only inside one process, so nothing `bazof import` \
             wrote there would outlast the command; give a path, a file:// or an s3:// URL",
            args.table
        ));
    }
    let summary = import(args)?;
    writeln!(std::io::stdout().lock(), "{summary}")?;
    Ok(())
}

/// The refusal to write to a bazof 0.2 table, with the commands that copy it into a new one.
fn legacy_refusal(table: &str, schema: &TableSchema) -> CliError {
    let types: Vec<String> = schema
        .column_names()
        .map(|n| {
            let t = if n == schema.key {
                "string".to_string()
            } else if n == schema.event_time {
                "datetime".to_string()
            } else {
                schema.column(n).map_or("string".into(), |c| {
                    format!("{:?}", c.data_type).to_lowercase()
                })
            };
            format!("{n}:{t}")
        })
        .collect();
    fail!(
        "table {table} is a bazof 0.2 table, which is read-only: bazof neither commits to it nor \
         converts it (compact refuses it too). To add data, copy the rows it holds now into a new \
         table and import into that: bazof scan {table} --format csv --output current.csv && \
         bazof import NEW current.csv --schema '{}'",
        types.join(",")
    )
}

/// One input file: its format and column names.
struct Input {
    path: PathBuf,
    format: InputFormat,
    header: Vec<String>,
    /// Parquet: the column types, in header order.
    types: Vec<DataType>,
    /// NDJSON: what the sampled values are, in header order.
    stats: Option<Vec<ColumnStats>>,
}

impl Input {
    /// Where the column names come from, for messages.
    fn place(&self, opts: &CsvOptions) -> String {
        match self.format {
            InputFormat::Csv if opts.has_header => "line 1 (header)".into(),
            InputFormat::Csv => "the column names (--no-header)".into(),
            InputFormat::Ndjson => format!("the first {SAMPLE_ROWS} lines"),
            InputFormat::Parquet => "the Parquet schema".into(),
        }
    }
}

/// Imports the files as one commit; returns the summary line `bazof import` prints.
pub fn import(args: ImportArgs) -> Result<String> {
    let opts = CsvOptions {
        delimiter: parse_delimiter(&args.delimiter)?,
        has_header: !args.no_header,
        nulls: args.null.clone(),
    };
    let spec = args
        .schema
        .as_deref()
        .map(parse_spec)
        .transpose()?
        .unwrap_or_default();
    let existing = match block_on(Table::open(&args.table)) {
        Ok(t) => Some(t),
        Err(bazof::Error::NotATable { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let existing_schema = match &existing {
        Some(t) => {
            let snap = block_on(t.snapshot(None))?;
            if let AnySnapshot::Legacy(l) = snap.as_ref() {
                return Err(legacy_refusal(&args.table, &l.table_schema));
            }
            Some(snap.schema().clone())
        }
        None => None,
    };
    let key_col = args
        .key
        .clone()
        .or_else(|| existing_schema.as_ref().map(|s| s.key.clone()))
        .unwrap_or("key".into());
    let et_col = args
        .event_time
        .clone()
        .or_else(|| existing_schema.as_ref().map(|s| s.event_time.clone()))
        .unwrap_or("event_time".into());
    if let Some(d) = &args.deleted {
        for (col, what, flag) in [
            (&key_col, "key", "--key"),
            (&et_col, "event-time", "--event-time"),
        ] {
            if d == col {
                return Err(usage!(
                    "--deleted '{d}' names the {what} column (see {flag}); the deletion marker \
                     must be a Boolean column of its own (true deletes the row's key)"
                ));
            }
        }
    }
    // The table's own column names (for headerless CSV and NDJSON files).
    let table_names = |s: &TableSchema| {
        let mut names: Vec<String> = vec![key_col.clone(), et_col.clone()];
        names.extend(s.columns.iter().map(|c| c.name.clone()));
        names.extend(args.deleted.iter().cloned());
        names
    };

    // Column names of every file.
    let mut inputs: Vec<Input> = Vec::new();
    for path in &args.files {
        let format = format_of(path, args.format)?;
        let (mut types, mut stats) = (Vec::new(), None);
        let header = match format {
            InputFormat::Csv if opts.has_header => CsvFile::open(path, &opts)?.header,
            InputFormat::Csv if !spec.is_empty() => spec.iter().map(|e| e.name.clone()).collect(),
            InputFormat::Csv => match &existing_schema {
                Some(s) => table_names(s),
                None => {
                    let width = CsvFile::peek_width(path, &opts)?;
                    let mut names = vec![key_col.clone(), et_col.clone()];
                    names.extend((3..=width).map(|i| format!("col{i}")));
                    if let (Some(d), true) = (&args.deleted, width >= 3) {
                        names[width - 1] = d.clone();
                    }
                    names
                }
            },
            InputFormat::Ndjson => {
                let (mut names, mut sampled) = json_input::sample(path)?;
                for n in existing_schema
                    .as_ref()
                    .map(table_names)
                    .unwrap_or_default()
                {
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
                input.place(&opts),
                input.header.join(", ")
            )
        };
        if !input.header.contains(&key_col) {
            return Err(hint("key", &key_col, "--key"));
        }
        if !input.header.contains(&et_col) {
            return Err(hint("event-time", &et_col, "--event-time"));
        }
        if let Some(d) = &args.deleted {
            if !input.header.contains(d) {
                return Err(hint("deleted", d, "--deleted"));
            }
        }
        inputs.push(input);
    }
    let deleted_col = args.deleted.clone().or_else(|| {
        inputs
            .iter()
            .all(|i| i.header.iter().any(|c| c == DELETED_COLUMN))
            .then(|| DELETED_COLUMN.into())
    });
    let is_special = |c: &str| c == key_col || c == et_col || deleted_col.as_deref() == Some(c);

    // The table schema: the existing one, or one inferred from the files.
    let schema = match &existing_schema {
        Some(s) => {
            for e in &spec {
                let given = ColumnType::parse(&e.type_name);
                let ok = if e.name == key_col {
                    given
                        .map(|t| key_type_of(t, &key_col))
                        .transpose()?
                        .is_some_and(|k| k == s.key_type)
                } else if e.name == et_col {
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
                        args.table,
                        describe_column(s, &e.name)
                    ));
                }
            }
            s.clone()
        }
        None => infer_schema(&inputs, &opts, &spec, &key_col, &et_col, &is_special)?,
    };

    // A column's type is inferred when the table is new and --schema does not give it.
    let is_inferred = |col: &str| existing_schema.is_none() && spec_type(&spec, col).is_none();
    // Where every batch column comes from, per file.
    let mut maps: Vec<Vec<ColumnMap>> = Vec::new();
    for input in &inputs {
        let mut m = Vec::new();
        for (i, col) in input.header.iter().enumerate() {
            let (name, target) = if *col == key_col {
                (schema.key.clone(), Target::Key(schema.key_type))
            } else if *col == et_col {
                (schema.event_time.clone(), Target::EventTime)
            } else if deleted_col.as_deref() == Some(col.as_str()) {
                (DELETED_COLUMN.to_string(), Target::Deleted)
            } else if let Some(c) = schema.column(col) {
                (c.name.clone(), Target::Value(c.data_type))
            } else {
                let at = match input.format {
                    InputFormat::Csv => format!("{}, column {}", input.place(&opts), i + 1),
                    _ => input.place(&opts),
                };
                return Err(fail!(
                    "{}: {at}: column '{col}' is not in the schema of table {} (columns: {})",
                    input.path.display(),
                    args.table,
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

    let created = existing.is_none();
    let table = match existing {
        Some(t) => t,
        None => block_on(Table::create(&args.table, schema))?,
    };
    let mut writer = block_on(table.begin_commit())?;
    if let Some(n) = args.run_rows {
        writer = writer.with_run_rows(n);
    }
    let total_bytes: u64 = args
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let progress = Progress::new(total_bytes);
    let mut rows_read = 0u64;
    let mut done_bytes = 0u64;
    let stream_all = || -> Result<()> {
        for (input, map) in inputs.iter().zip(maps) {
            let mut source: Box<dyn BatchSource> = match input.format {
                InputFormat::Csv => {
                    let mut file = CsvFile::open(&input.path, &opts)?;
                    if !opts.has_header {
                        file.header = input.header.clone();
                    }
                    Box::new(csv_input::converter(file, map)?)
                }
                InputFormat::Ndjson => Box::new(json_input::converter(
                    &input.path,
                    input.header.clone(),
                    map,
                )?),
                InputFormat::Parquet => {
                    Box::new(ParquetConverter::new(ParquetFile::open(&input.path)?, map))
                }
            };
            while let Some(batch) = source.next_batch()? {
                block_on(writer.write(&batch))?;
                progress.update(rows_read + source.rows(), done_bytes + source.bytes());
            }
            rows_read += source.rows();
            done_bytes += source.bytes();
        }
        if rows_read == 0 {
            let files: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
            return Err(match (files.as_slice(), inputs.first()) {
                ([one], Some(i)) if i.format == InputFormat::Csv => {
                    let first = if opts.has_header { "line 2" } else { "line 1" };
                    fail!("{one}: {first}: no data rows, nothing to import")
                }
                ([one], _) => fail!("{one}: no rows, nothing to import"),
                (many, _) => fail!(
                    "{}: no data rows in any of the {} files, nothing to import",
                    many.join(", "),
                    many.len()
                ),
            });
        }
        Ok(())
    };
    if let Err(e) = stream_all() {
        // Nothing is committed; delete the runs already written so the table is as before.
        progress.finish();
        let _ = block_on(writer.abort());
        return Err(e);
    }
    let info = block_on(writer.finish())?;
    progress.finish();
    Ok(summary(
        &info,
        rows_read,
        args.files.len(),
        table.location(),
        created,
    ))
}

/// The line `bazof import` prints. Rows superseded within the commit (a later row of the
/// commit has the same key and event time, SPEC §4) are read but not stored.
fn summary(info: &CommitInfo, read: u64, files: usize, location: &str, created: bool) -> String {
    let files = format!("{files} file{}", if files == 1 { "" } else { "s" });
    let created = if created { " (table created)" } else { "" };
    let superseded = read.saturating_sub(info.rows);
    if superseded == 0 {
        format!(
            "commit {}: {} rows from {files} into {location}{created}",
            info.commit, info.rows
        )
    } else {
        format!(
            "commit {}: {read} rows read from {files}, {superseded} superseded within the \
             commit (a later row has the same key and event time), {} stored into {location}{created}",
            info.commit, info.rows
        )
    }
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

fn infer_schema(
    inputs: &[Input],
    opts: &CsvOptions,
    spec: &[SpecEntry],
    key_col: &str,
    et_col: &str,
    is_special: &dyn Fn(&str) -> bool,
) -> Result<TableSchema> {
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
            if is_special(col) {
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

/// A progress bar on stderr, only when stderr is a terminal.
struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
}

impl Progress {
    fn new(total_bytes: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            start: Instant::now(),
        }
    }

    fn update(&self, rows: u64, bytes: u64) {
        if let Some(bar) = &self.bar {
            let secs = self.start.elapsed().as_secs_f64().max(1e-3);
            bar.set_position(bytes);
            bar.set_message(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
