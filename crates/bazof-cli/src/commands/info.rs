//! `bazof info` and `bazof log`: reading metadata.

use std::collections::BTreeMap;
use std::io::Write;

use bazof::blocking::block_on;
use bazof::{DataFile, FileKind, Segment, Table, TableSchema};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;

use crate::cli::{InfoArgs, TableArg};
use crate::error::Result;
use crate::timefmt::{format_opt, format_time};

/// Sizes of every object under the table root, by path relative to it.
fn object_sizes(table: &Table) -> Result<BTreeMap<String, u64>> {
    let objects = block_on(table.list_files())?;
    Ok(objects
        .into_iter()
        .map(|o| (table.relative(&o.location), o.size))
        .collect())
}

/// Reads a data file's Parquet footer.
fn footer(table: &Table, rel: &str, size: Option<u64>) -> Result<ArrowReaderMetadata> {
    Ok(block_on(table.load_footer(rel, size))?)
}

fn type_name(schema: &TableSchema, name: &str) -> String {
    if name == schema.key {
        format!("{:?}", schema.key_type)
    } else if name == schema.event_time {
        "DateTime".into()
    } else {
        schema
            .column(name)
            .map(|c| format!("{:?}", c.data_type))
            .unwrap_or_default()
    }
}

fn print_schema(out: &mut dyn Write, schema: &TableSchema) -> Result<()> {
    writeln!(out, "schema:")?;
    let names: Vec<&str> = schema.column_names().collect();
    let w = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for n in names {
        let role = if n == schema.key {
            "key".to_string()
        } else if n == schema.event_time {
            "event time".to_string()
        } else if schema.column(n).is_some_and(|c| c.nullable) {
            "nullable".to_string()
        } else {
            "not null".to_string()
        };
        writeln!(out, "  {n:w$}  {:9} {role}", type_name(schema, n))?;
    }
    Ok(())
}

fn range(s: &Segment) -> String {
    format!(
        "[{}, {})",
        s.start
            .map(|t| format_time(&t))
            .unwrap_or_else(|| "-inf".into()),
        s.end
            .map(|t| format_time(&t))
            .unwrap_or_else(|| "+inf".into())
    )
}

fn file_line(f: &DataFile) -> String {
    let kind = match f.kind {
        FileKind::Base => "base ",
        FileKind::Delta => "delta",
    };
    let mut s = format!(
        "{kind} {}  rows {}  bytes {}  event time {} .. {}  commit {}",
        f.path,
        f.rows,
        f.bytes,
        format_opt(f.min_event_time),
        format_opt(f.max_event_time),
        f.commit
    );
    if let (Some(start), Some(folds)) = (f.base_start, f.folds_through) {
        s.push_str(&format!(
            "  (state at {}, folds commits <= {folds})",
            format_time(&start)
        ));
    }
    s
}

fn print_segment(out: &mut dyn Write, s: &Segment, depth: usize) -> Result<()> {
    let pad = "  ".repeat(depth);
    writeln!(out, "{pad}segment {}", range(s))?;
    for f in s.base.iter().chain(&s.deltas) {
        writeln!(out, "{pad}  {}", file_line(f))?;
    }
    for child in &s.segments {
        print_segment(out, child, depth + 1)?;
    }
    Ok(())
}

/// The bases, the level of events above the newest one, and the space amplification.
fn print_layout(out: &mut dyn Write, files: &[&DataFile]) -> Result<()> {
    let sum = |kind: FileKind| -> (usize, u64, u64) {
        files
            .iter()
            .filter(|f| f.kind == kind)
            .fold((0, 0, 0), |(n, r, b), f| (n + 1, r + f.rows, b + f.bytes))
    };
    let (nd, drows, dbytes) = sum(FileKind::Delta);
    let (nb, brows, bbytes) = sum(FileKind::Base);
    writeln!(out, "layout:")?;
    writeln!(
        out,
        "  events: {nd} delta files, {drows} rows, {dbytes} bytes"
    )?;
    writeln!(out, "  bases:  {nb} files, {brows} rows, {bbytes} bytes")?;
    if dbytes > 0 {
        writeln!(
            out,
            "  space amplification: {:.2}x the delta files (all data files / event files)",
            (dbytes + bbytes) as f64 / dbytes as f64
        )?;
    }
    let mut newest: Option<&DataFile> = None;
    for f in files.iter().filter(|f| f.kind == FileKind::Base) {
        writeln!(
            out,
            "  base  state before {}  rows {}  folds commits <= {}",
            format_opt(f.base_start),
            f.rows,
            f.folds_through.unwrap_or(0)
        )?;
        if newest.is_none_or(|n| n.base_start < f.base_start) {
            newest = Some(f);
        }
    }
    // The level: what a current scan reads beside the newest base (SPEC §6.1).
    let level: Vec<&&DataFile> = files
        .iter()
        .filter(|f| f.kind == FileKind::Delta && f.rows > 0)
        .filter(|f| {
            newest.is_none_or(|b| {
                f.max_event_time >= b.base_start || f.max_commit > b.folds_through.unwrap_or(0)
            })
        })
        .collect();
    let rows: u64 = level.iter().map(|f| f.rows).sum();
    match newest {
        Some(b) => writeln!(
            out,
            "  level above the newest base: {} delta files, {rows} rows ({:.2} of the base's rows): a current scan reads {:.2}x the base",
            level.len(),
            rows as f64 / b.rows.max(1) as f64,
            (b.rows + rows) as f64 / b.rows.max(1) as f64
        )?,
        None => writeln!(
            out,
            "  no base: a current scan reads every event ({} delta files, {rows} rows)",
            level.len()
        )?,
    }
    Ok(())
}

/// Runs `bazof info`.
pub fn info(args: InfoArgs) -> Result<()> {
    let table = block_on(Table::open(&args.table))?;
    let latest = block_on(table.latest_commit())?;
    let snap = block_on(table.snapshot(args.snapshot))?;
    let out = &mut std::io::stdout().lock();
    writeln!(out, "table:          {}", table.location())?;
    match snap.format_version() {
        0 => writeln!(out, "format version: 0 (bazof 0.2, read-only)")?,
        v => writeln!(out, "format version: {v}")?,
    }
    writeln!(out, "latest commit:  {latest}")?;
    match (snap.commit_time(), snap.summary()) {
        (Some(t), Some(summary)) => writeln!(
            out,
            "snapshot:       {} (committed {}, {})",
            snap.commit(),
            format_time(&t),
            summary.operation
        )?,
        _ => writeln!(out, "snapshot:       {}", snap.commit())?,
    }
    print_schema(out, snap.schema())?;
    if snap.is_legacy() {
        return legacy_files(out, &table, &snap.data_paths());
    }
    let files = snap.files();
    writeln!(
        out,
        "segment tree: {} files, {} rows, {} bytes",
        files.len(),
        files.iter().map(|f| f.rows).sum::<u64>(),
        files.iter().map(|f| f.bytes).sum::<u64>()
    )?;
    for seg in snap.segments() {
        print_segment(out, seg, 1)?;
    }
    print_layout(out, &files)
}

fn legacy_files(out: &mut dyn Write, table: &Table, files: &[String]) -> Result<()> {
    let sizes = object_sizes(table)?;
    writeln!(out, "data files: {}", files.len())?;
    for f in files {
        let size = sizes.get(f).copied();
        let meta = footer(table, f, size)?;
        let rows = meta.metadata().file_metadata().num_rows();
        writeln!(
            out,
            "  {f}  rows {rows}  bytes {}",
            size.map_or("?".into(), |s| s.to_string())
        )?;
    }
    Ok(())
}

/// Runs `bazof log`.
pub fn log(args: TableArg) -> Result<()> {
    let table = block_on(Table::open(&args.table))?;
    let rows: Vec<Vec<String>> = block_on(table.log())?
        .into_iter()
        .map(|e| {
            let files = e.files_added.map_or("- files".into(), |n| {
                format!("{n} file{}", if n == 1 { "" } else { "s" })
            });
            let range = if e.commit_time.is_some() {
                format!(
                    "{} .. {}",
                    format_opt(e.min_event_time),
                    format_opt(e.max_event_time)
                )
            } else {
                "-".into()
            };
            vec![
                e.commit.to_string(),
                format_opt(e.commit_time),
                e.operation.unwrap_or_else(|| "bazof 0.2".into()),
                e.rows_added
                    .map_or("- rows".into(), |n| format!("+{n} rows")),
                files,
                range,
            ]
        })
        .collect();
    let out = &mut std::io::stdout().lock();
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 || i == 3 {
                    format!("{c:>w$}")
                } else {
                    format!("{c:w$}")
                }
            })
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}
