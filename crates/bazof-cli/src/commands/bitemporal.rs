//! `bazof history` and `bazof diff`: the bitemporal reads of SPEC §10.

use bazof::blocking::block_on;
use bazof::{DiffOptions, HistoryOptions, Point, Table};

use crate::cli::{DiffArgs, HistoryArgs};
use crate::commands::scan::{key_list, output_format, time_arg, write_stream};
use crate::error::Result;

/// Runs `bazof history`.
pub fn history(args: HistoryArgs) -> Result<()> {
    let format = output_format(args.out.format, args.out.output.as_deref())?;
    let table = block_on(Table::open(&args.table))?;
    let mut opts = HistoryOptions {
        snapshot: args.snapshot,
        ..HistoryOptions::default()
    };
    if let Some(t) = &args.from {
        opts.from = Some(time_arg("--from", t)?);
    }
    if let Some(t) = &args.to {
        opts.to = Some(time_arg("--to", t)?);
    }
    if let Some(cols) = &args.columns {
        opts.columns = Some(cols.iter().map(|c| c.trim().to_string()).collect());
    }
    let key_type = block_on(table.snapshot(args.snapshot))?.schema().key_type;
    opts.key_predicate = key_list(&args.key, key_type, &args.table)?;
    let stream = block_on(table.history(opts))?;
    let schema = stream.schema();
    write_stream(stream, schema, format, args.out.output.as_deref())
}

/// Runs `bazof diff`.
pub fn diff(args: DiffArgs) -> Result<()> {
    let format = output_format(args.out.format, args.out.output.as_deref())?;
    let table = block_on(Table::open(&args.table))?;
    let point = |as_of: &Option<String>, snapshot: Option<u64>, option: &str| -> Result<Point> {
        Ok(Point {
            as_of: as_of.as_deref().map(|t| time_arg(option, t)).transpose()?,
            snapshot,
        })
    };
    let from = point(&args.from_as_of, args.from_snapshot, "--from-as-of")?;
    let to = point(&args.to_as_of, args.to_snapshot, "--to-as-of")?;
    let mut opts = DiffOptions::new(from, to);
    if let Some(cols) = &args.columns {
        opts.columns = Some(cols.iter().map(|c| c.trim().to_string()).collect());
    }
    let key_type = block_on(table.snapshot(to.snapshot))?.schema().key_type;
    opts.key_predicate = key_list(&args.key, key_type, &args.table)?;
    let stream = block_on(table.diff(opts))?;
    let schema = stream.schema();
    write_stream(stream, schema, format, args.out.output.as_deref())
}
