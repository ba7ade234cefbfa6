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
            "--segment '{}': expected day, month, year or rows:N",
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
    match block_on(table.compact(&policy))? {
        Some(info) => println!(
            "commit {}: compacted {} (bases written: {}, deltas rewritten: {}, files written: {})",
            info.commit,
            a.table,
            info.bases_written,
            info.deltas_rewritten,
            info.files_added.len()
        ),
        None => println!("nothing to compact in {}", a.table),
    }
    Ok(())
}

/// Deletes (or lists, with --dry-run) files no retained snapshot needs.
pub fn vacuum(a: VacuumArgs) -> Result<()> {
    if a.retain_hours < 0 {
        return Err(fail!("--retain-hours must not be negative"));
    }
    let table = block_on(Table::open(&a.table))?;
    let opts = VacuumOptions {
        retain: chrono::Duration::hours(a.retain_hours),
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
