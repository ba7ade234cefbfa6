//! `bazof compact` and `bazof vacuum`: table maintenance.

use bazof::blocking::block_on;
use bazof::{CompactionPolicy, SegmentWidth, Table, VacuumOptions};

use crate::cli::{CompactArgs, VacuumArgs};
use crate::error::Result;
use crate::fail;
use crate::timefmt::parse_timestamp;

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
    let Some(info) = result else {
        println!("nothing to compact in {}", a.table);
        return Ok(());
    };
    let (verb, write, drop) = if a.dry_run {
        ("would compact", "would write", "would drop")
    } else {
        ("compacted", "wrote", "dropped")
    };
    println!(
        "commit {}: {verb} {} (bases written: {}, deltas rewritten: {}, files written: {}, bytes written: {})",
        info.commit,
        a.table,
        info.bases_written,
        info.deltas_rewritten,
        info.files_added.len(),
        info.bytes_written
    );
    if a.dry_run {
        for f in &info.files_added {
            println!("{write} {f}");
        }
        for f in &info.files_dropped {
            println!("{drop} {f} (from the latest snapshot; vacuum deletes it once no retained snapshot needs it)");
        }
        println!("dry run: nothing was published");
    }
    Ok(())
}

/// Deletes (or lists, with --dry-run) files no retained snapshot needs.
pub fn vacuum(a: VacuumArgs) -> Result<()> {
    if a.retain_hours < 0 {
        return Err(fail!("--retain-hours must not be negative"));
    }
    let table = block_on(Table::open(&a.table))?;
    let retain = chrono::Duration::try_hours(a.retain_hours).ok_or_else(|| {
        fail!(
            "--retain-hours {}: too large (at most {} hours)",
            a.retain_hours,
            chrono::Duration::MAX.num_hours()
        )
    })?;
    let opts = VacuumOptions {
        retain,
        dry_run: a.dry_run,
    };
    let report = block_on(table.vacuum(&opts))?;
    for f in &report.deleted {
        println!(
            "{}{f}",
            if a.dry_run {
                "would delete "
            } else {
                "deleted "
            }
        );
    }
    println!(
        "{} {} file(s); retained snapshots: {:?}",
        if a.dry_run { "would delete" } else { "deleted" },
        report.deleted.len(),
        report.retained_snapshots
    );
    Ok(())
}
