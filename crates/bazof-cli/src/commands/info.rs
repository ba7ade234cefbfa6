//! `bazof info`, `bazof log` and `bazof check`: reading metadata.

use std::collections::{BTreeMap, BTreeSet};

use bazof::blocking::block_on;
use bazof::{AnySnapshot, DataFile, FileKind, Segment, Table, TableSchema};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;

use crate::cli::{InfoArgs, TableArg};
use crate::error::Result;
use crate::fail;
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

fn print_schema(schema: &TableSchema) {
    println!("schema:");
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
        println!("  {n:w$}  {:9} {role}", type_name(schema, n));
    }
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

fn print_segment(s: &Segment, depth: usize) {
    let pad = "  ".repeat(depth);
    println!("{pad}segment {}", range(s));
    for f in s.base.iter().chain(&s.deltas) {
        println!("{pad}  {}", file_line(f));
    }
    for child in &s.segments {
        print_segment(child, depth + 1);
    }
}

/// The bases, the level of events above the newest one, and the space amplification.
fn print_layout(files: &[&DataFile]) {
    let sum = |kind: FileKind| -> (usize, u64, u64) {
        files
            .iter()
            .filter(|f| f.kind == kind)
            .fold((0, 0, 0), |(n, r, b), f| (n + 1, r + f.rows, b + f.bytes))
    };
    let (nd, drows, dbytes) = sum(FileKind::Delta);
    let (nb, brows, bbytes) = sum(FileKind::Base);
    println!("layout:");
    println!("  events: {nd} delta files, {drows} rows, {dbytes} bytes");
    println!("  bases:  {nb} files, {brows} rows, {bbytes} bytes");
    if dbytes > 0 {
        println!(
            "  space amplification: {:.2}x the delta files (all data files / event files)",
            (dbytes + bbytes) as f64 / dbytes as f64
        );
    }
    let mut newest: Option<&DataFile> = None;
    for f in files.iter().filter(|f| f.kind == FileKind::Base) {
        println!(
            "  base  state before {}  rows {}  folds commits <= {}",
            format_opt(f.base_start),
            f.rows,
            f.folds_through.unwrap_or(0)
        );
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
        Some(b) => println!(
            "  level above the newest base: {} delta files, {rows} rows ({:.2} of the base's rows): a current scan reads {:.2}x the base",
            level.len(),
            rows as f64 / b.rows.max(1) as f64,
            (b.rows + rows) as f64 / b.rows.max(1) as f64
        ),
        None => println!(
            "  no base: a current scan reads every event ({} delta files, {rows} rows)",
            level.len()
        ),
    }
}

/// Runs `bazof info`.
pub fn info(args: InfoArgs) -> Result<()> {
    let table = block_on(Table::open(&args.table))?;
    let latest = block_on(table.latest_commit())?;
    let snap = block_on(table.snapshot(args.snapshot))?;
    println!("table:          {}", table.location());
    match snap.format_version() {
        0 => println!("format version: 0 (bazof 0.2, read-only)"),
        v => println!("format version: {v}"),
    }
    println!("latest commit:  {latest}");
    match (snap.commit_time(), snap.summary()) {
        (Some(t), Some(summary)) => println!(
            "snapshot:       {} (committed {}, {})",
            snap.commit(),
            format_time(&t),
            summary.operation
        ),
        _ => println!("snapshot:       {}", snap.commit()),
    }
    print_schema(snap.schema());
    if snap.is_legacy() {
        return legacy_files(&table, &snap.data_paths());
    }
    let files = snap.files();
    println!(
        "segment tree: {} files, {} rows, {} bytes",
        files.len(),
        files.iter().map(|f| f.rows).sum::<u64>(),
        files.iter().map(|f| f.bytes).sum::<u64>()
    );
    for seg in snap.segments() {
        print_segment(seg, 1);
    }
    print_layout(&files);
    Ok(())
}

fn legacy_files(table: &Table, files: &[String]) -> Result<()> {
    let sizes = object_sizes(table)?;
    println!("data files: {}", files.len());
    for f in files {
        let size = sizes.get(f).copied();
        let meta = footer(table, f, size)?;
        let rows = meta.metadata().file_metadata().num_rows();
        println!(
            "  {f}  rows {rows}  bytes {}",
            size.map_or("?".into(), |s| s.to_string())
        );
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
        println!("{}", line.join("  ").trim_end());
    }
    Ok(())
}

/// What the metadata says about a data file: rows, bytes, columns, first snapshot naming it.
type Expected = (Option<u64>, Option<u64>, Vec<String>, u64);

/// Runs `bazof check`: every snapshot, every referenced data file's footer.
pub fn check(args: TableArg) -> Result<()> {
    let mut problems: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let table = block_on(Table::open(&args.table))?;
    let latest = block_on(table.latest_commit())?;
    let sizes = object_sizes(&table)?;
    // path -> (expected rows, expected bytes, expected columns, first snapshot naming it)
    let mut files: BTreeMap<String, Expected> = BTreeMap::new();
    let mut snapshots_ok = 0;
    for c in 1..=latest {
        let snap = match block_on(table.snapshot(Some(c))) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("snapshot s{c}.json: {e}"));
                continue;
            }
        };
        snapshots_ok += 1;
        match snap.as_ref() {
            AnySnapshot::V1(s) => {
                let cols: Vec<String> = s
                    .schema
                    .file_schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                for f in s.files() {
                    files.entry(f.path.clone()).or_insert((
                        Some(f.rows),
                        Some(f.bytes),
                        cols.clone(),
                        c,
                    ));
                }
                for p in &s.summary.files_added {
                    if !s.files().iter().any(|f| &f.path == p) {
                        problems.push(format!(
                            "snapshot s{c}.json: summary names '{p}' but no segment holds it"
                        ));
                    }
                }
            }
            AnySnapshot::Legacy(l) => {
                let cols: Vec<String> = l.table_schema.column_names().map(String::from).collect();
                for f in l.all_files() {
                    files.entry(f).or_insert((None, None, cols.clone(), c));
                }
            }
        }
    }
    for (path, (rows, bytes, cols, c)) in &files {
        let Some(&size) = sizes.get(path) else {
            problems.push(format!(
                "data file '{path}' (named by s{c}.json) is missing"
            ));
            continue;
        };
        if let Some(b) = bytes {
            if *b != size {
                problems.push(format!(
                    "data file '{path}': snapshot says {b} bytes, the file has {size}"
                ));
                continue;
            }
        }
        let meta = match footer(&table, path, Some(size)) {
            Ok(m) => m,
            Err(e) => {
                problems.push(e.0);
                continue;
            }
        };
        let n = meta.metadata().file_metadata().num_rows() as u64;
        if let Some(r) = rows {
            if *r != n {
                problems.push(format!(
                    "data file '{path}': snapshot says {r} rows, the footer says {n}"
                ));
            }
        }
        let have: BTreeSet<&str> = meta
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let missing: Vec<&str> = cols
            .iter()
            .map(String::as_str)
            .filter(|c| !have.contains(c))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "data file '{path}': columns missing: {}",
                missing.join(", ")
            ));
        }
    }
    let orphans: Vec<&String> = sizes
        .keys()
        .filter(|p| p.ends_with(".parquet") && !files.contains_key(*p))
        .collect();
    if !orphans.is_empty() {
        notes.push(format!(
            "{} unreferenced data file(s) (harmless; a vacuum removes them): {}",
            orphans.len(),
            orphans
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for n in &notes {
        println!("note: {n}");
    }
    if problems.is_empty() {
        println!(
            "ok: {} snapshots, {} data files checked in {}",
            snapshots_ok,
            files.len(),
            table.location()
        );
        Ok(())
    } else {
        println!(
            "{} problem{} in {}:",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            table.location()
        );
        for p in &problems {
            println!("  - {p}");
        }
        Err(fail!(
            "check found {} problem{} in {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            table.location()
        ))
    }
}
