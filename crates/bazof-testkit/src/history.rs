//! Random histories with compaction and vacuum, checked against the oracle
//! (shared by the in-memory and the S3 suites).
#![allow(clippy::unwrap_used)]

use bazof::{AnySnapshot, CompactionPolicy, ScanOptions, SegmentWidth, Table, VacuumOptions};
use proptest::prelude::*;

use crate::{batch_rows, oracle_rows, Log, TIME_UNIT};

/// After data commit `i`: maybe compact (close the open segment at a random time,
/// merge deltas beyond a random count), maybe vacuum.
#[derive(Debug, Clone)]
pub struct Maintenance {
    /// Compact with `close_at` (in TIME_UNITs) and `max_deltas`.
    pub compact: Option<(i64, usize)>,
    /// Segments of this many events (`SegmentWidth::Rows`) instead of years.
    pub rows: Option<u64>,
    /// Vacuum with zero retention.
    pub vacuum: bool,
}

/// Random maintenance.
pub fn arb_maintenance() -> impl Strategy<Value = Maintenance> {
    (
        proptest::option::weighted(0.6, (0i64..13, 0usize..3)),
        proptest::option::weighted(0.3, 1u64..6),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(compact, rows, vacuum)| Maintenance {
            compact,
            rows,
            vacuum,
        })
}

/// SPEC §8 step 2: after a compaction every delta of the latest snapshot lies inside
/// its segment (deltas that ran past a segment end were split).
pub async fn assert_deltas_fit(table: &Table) {
    let snap = table.snapshot(None).await.unwrap();
    let AnySnapshot::V1(s) = snap.as_ref() else {
        panic!("a compacted table has a format-1 snapshot")
    };
    for g in &s.segments {
        for d in &g.deltas {
            let (lo, hi) = (d.min_event_time.unwrap(), d.max_event_time.unwrap());
            assert!(
                g.contains(lo) && g.contains(hi),
                "{} holds [{lo}, {hi}], outside its segment [{:?}, {:?})",
                d.path,
                g.start,
                g.end
            );
        }
    }
}

/// Writes `log` to a new table at `location` with the given maintenance after each
/// data commit, then checks each query `(as_of, pick)` against the oracle on a
/// retained snapshot chosen by `pick`. Panics on any difference.
pub async fn check_history(
    location: &str,
    log: &Log,
    maintenance: &[Maintenance],
    queries: &[(Option<i64>, usize)],
) {
    let table = Table::create(location, log.schema_at(Some(1)).clone())
        .await
        .unwrap();
    // table commit -> number of data commits it contains
    let mut prefix_of: Vec<(u64, usize)> = Vec::new();
    let mut oldest_valid = 1u64;
    for i in 0..log.commits.len() {
        let c = crate::conformance::commit_events(&table, log, i).await;
        prefix_of.push((c.commit, i + 1));
        let m = &maintenance[i % maintenance.len()];
        if let Some((close, max_deltas)) = m.compact {
            let policy = CompactionPolicy {
                segment: m.rows.map_or(SegmentWidth::Year, SegmentWidth::Rows),
                max_deltas,
                target_file_rows: 5,
                close_at: chrono::DateTime::from_timestamp_micros(close * TIME_UNIT),
                ..Default::default()
            };
            if let Some(info) = table.compact(&policy).await.unwrap() {
                prefix_of.push((info.commit, i + 1));
                assert_deltas_fit(&table).await;
            }
        }
        if m.vacuum {
            let latest = table.latest_commit().await.unwrap();
            table
                .vacuum(&VacuumOptions {
                    retain: chrono::Duration::zero(),
                    dry_run: false,
                })
                .await
                .unwrap();
            oldest_valid = latest;
        }
    }
    for &(as_of, pick) in queries {
        let valid: Vec<&(u64, usize)> = prefix_of
            .iter()
            .filter(|(c, _)| *c >= oldest_valid)
            .collect();
        let &(snapshot, prefix) = valid[pick % valid.len()];
        let mut opts = ScanOptions::default()
            .with_snapshot(snapshot)
            .with_batch_size(4);
        if let Some(t) = as_of {
            opts = opts.with_as_of(chrono::DateTime::from_timestamp_micros(t).unwrap());
        }
        let got = batch_rows(
            &table
                .scan(opts)
                .await
                .unwrap()
                .collect_batches()
                .await
                .unwrap(),
        );
        let all: Vec<String> = log
            .schema_at(Some(prefix as u64))
            .column_names()
            .map(String::from)
            .collect();
        let want = oracle_rows(log, as_of, Some(prefix as u64), &all);
        assert_eq!(
            got, want,
            "as_of {as_of:?}, table snapshot {snapshot} = log prefix {prefix}"
        );
    }
}
