//! `bazof compact` and `bazof vacuum`: table maintenance.

use std::io::Write;

use bazof::blocking::block_on;
use bazof::{CompactionPolicy, SegmentWidth, Table, VacuumOptions};
use chrono::{TimeDelta, Utc};

use crate::cli::{CompactArgs, VacuumArgs, MAX_RETAIN_HOURS};
use crate::error::Result;
use crate::timefmt::parse_timestamp;
use crate::{fail, usage};

/// Runs one compaction commit and prints what it wrote.
pub fn compact(a: CompactArgs) -> Result<()> {
    let segment = SegmentWidth::parse(&a.segment).ok_or_else(|| {
        fail!(
            "--segment '{}': expected volume, day, month, year or rows:N",
            a.segment
        )
    })?;
    let close_at = match &a.close_at {
        Some(s) => {
            Some(parse_timestamp(s).ok_or_else(|| fail!("--close-at '{s}' is not a timestamp"))?)
        }
        None => None,
    };
    let policy = CompactionPolicy {
        segment,
        max_deltas: a.max_deltas,
        target_file_rows: a.target_file_rows.max(1),
        close_at,
        ..Default::default()
    };
    let table = block_on(Table::open(&a.table))?;
    let result = if a.dry_run {
        block_on(table.compact_dry_run(&policy))?
    } else {
        block_on(table.compact(&policy))?
    };
    let mut out = std::io::stdout().lock();
    let Some(info) = result else {
        writeln!(out, "nothing to compact in {}", a.table)?;
        return Ok(());
    };
    let (verb, write, drop) = if a.dry_run {
        ("would compact", "would write", "would drop")
    } else {
        ("compacted", "wrote", "dropped")
    };
    writeln!(
        out,
        "commit {}: {verb} {} (bases written: {}, deltas rewritten: {}, files written: {}, bytes written: {})",
        info.commit,
        a.table,
        info.bases_written,
        info.deltas_rewritten,
        info.files_added.len(),
        info.bytes_written
    )?;
    if a.dry_run {
        for f in &info.files_added {
            writeln!(out, "{write} {f}")?;
        }
        for f in &info.files_dropped {
            writeln!(out, "{drop} {f} (from the latest snapshot; vacuum deletes it once no retained snapshot needs it)")?;
        }
        writeln!(out, "dry run: nothing was published")?;
    }
    Ok(())
}

/// The retention period of `--retain-hours`, checked: it must be representable and must not
/// reach before the earliest time a timestamp can hold.
pub fn retention(hours: i64) -> Result<TimeDelta> {
    let too_large = || {
        usage!(
            "--retain-hours {hours} is too large: at most {MAX_RETAIN_HOURS} hours \
             (about 114,000 years) can be kept"
        )
    };
    if hours < 0 {
        return Err(usage!("--retain-hours must not be negative, got {hours}"));
    }
    if hours > MAX_RETAIN_HOURS {
        return Err(too_large());
    }
    let retain = TimeDelta::try_hours(hours).ok_or_else(too_large)?;
    Utc::now()
        .checked_sub_signed(retain)
        .ok_or_else(too_large)?;
    Ok(retain)
}

/// Deletes (or lists, with --dry-run) files no retained snapshot needs.
pub fn vacuum(a: VacuumArgs) -> Result<()> {
    let retain = retention(a.retain_hours)?;
    let table = block_on(Table::open(&a.table))?;
    let opts = VacuumOptions {
        retain,
        dry_run: a.dry_run,
    };
    let report = block_on(table.vacuum(&opts))?;
    let mut out = std::io::stdout().lock();
    let verb = if a.dry_run { "would delete" } else { "deleted" };
    for f in &report.deleted {
        writeln!(out, "{verb} {f}")?;
    }
    writeln!(
        out,
        "{verb} {} file(s); retained snapshots: {:?}",
        report.deleted.len(),
        report.retained_snapshots
    )?;
    Ok(())
}
