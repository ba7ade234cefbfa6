//! `bazof import`: CSV, NDJSON and Parquet files → one atomic commit.
//!
//! [`inputs`] reads every file's column names and maps them onto the table's columns;
//! [`schema`] checks `--schema` against an existing table or infers a new table's schema.

mod inputs;
mod schema;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use bazof::blocking::block_on;
use bazof::{CommitInfo, Table, TableSchema, DELETED_COLUMN};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::batches::BatchSource;
use crate::cli::{ImportArgs, InputFormat};
use crate::csv_input::{self, parse_delimiter, CsvFile, CsvOptions};
use crate::error::{CliError, Result};
use crate::json_input;
use crate::parquet_input::{ParquetConverter, ParquetFile};
use crate::{fail, usage};

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

/// The input columns that hold the key, the event time and the deletion marker.
struct Roles {
    key: String,
    event_time: String,
    deleted: Option<String>,
}

impl Roles {
    /// Whether input column `c` holds the key, the event time or the deletion marker.
    fn is_special(&self, c: &str) -> bool {
        c == self.key || c == self.event_time || self.deleted.as_deref() == Some(c)
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
        .map(schema::parse_spec)
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
            if snap.is_legacy() {
                return Err(legacy_refusal(&args.table, snap.schema()));
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
    let mut roles = Roles {
        key: key_col,
        event_time: et_col,
        deleted: args.deleted.clone(),
    };
    let inputs = inputs::read(&args, &opts, &spec, existing_schema.as_ref(), &roles)?;
    // Without --deleted, a column named like the marker in every file is the marker.
    if roles.deleted.is_none() {
        roles.deleted = inputs
            .iter()
            .all(|i| i.header.iter().any(|c| c == DELETED_COLUMN))
            .then(|| DELETED_COLUMN.into());
    }

    // The table schema: the existing one, or one inferred from the files.
    let schema = match &existing_schema {
        Some(s) => {
            schema::check_spec(s, &spec, &roles, &args.table)?;
            s.clone()
        }
        None => schema::infer_schema(&inputs, &opts, &spec, &roles)?,
    };

    // A column's type is inferred when the table is new and --schema does not give it.
    let is_inferred =
        |col: &str| existing_schema.is_none() && schema::spec_type(&spec, col).is_none();
    let maps = inputs::column_maps(&inputs, &opts, &schema, &roles, &is_inferred, &args.table)?;
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
