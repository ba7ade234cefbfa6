//! Random histories with compaction and vacuum, checked against the oracle
//! (shared by the in-memory and the S3 suites).
#![allow(clippy::unwrap_used)]

use bazof::{AnySnapshot, CompactionPolicy, ScanOptions, SegmentWidth, Table, VacuumOptions};
use proptest::prelude::*;

use crate::{batch_rows, oracle_rows, Log, TIME_UNIT};

/// After data commit `i`: maybe compact (with a random placement of bases, maybe
/// closing the open segment at a random time, merging deltas beyond a random count),
/// maybe vacuum.
#[derive(Debug, Clone)]
pub struct Maintenance {
    /// Compact with `close_at` (in TIME_UNITs) and `max_deltas`.
    pub compact: Option<(Option<i64>, usize)>,
    /// Where bases go.
    pub placement: Placement,
    /// Vacuum with zero retention.
    pub vacuum: bool,
}

/// The base placement a compaction uses.
#[derive(Debug, Clone, Copy)]
pub enum Placement {
    /// The default policy (`SegmentWidth::Volume`) with these history and current ratios.
    Volume(f64, f64),
    /// Calendar years.
    Year,
    /// Segments of this many events (`SegmentWidth::Rows`).
    Rows(u64),
}

impl Placement {
    /// The compaction policy for this placement.
    pub fn policy(self, close_at: Option<i64>, max_deltas: usize) -> CompactionPolicy {
        let mut policy = CompactionPolicy {
            max_deltas,
            target_file_rows: 5,
            close_at: close_at.and_then(|c| chrono::DateTime::from_timestamp_micros(c * TIME_UNIT)),
            ..Default::default()
        };
        match self {
            Placement::Volume(history, current) => {
                policy.segment = SegmentWidth::Volume;
                policy.history_ratio = history;
                policy.current_ratio = current;
            }
            Placement::Year => policy.segment = SegmentWidth::Year,
            Placement::Rows(n) => policy.segment = SegmentWidth::Rows(n),
        }
        policy
    }
}

/// Random placement: mostly the default volume policy, with ratios from tiny (a base at
/// almost every compaction) to large (almost none).
pub fn arb_placement() -> impl Strategy<Value = Placement> {
    prop_oneof![
        5 => (prop_oneof![Just(0.0), Just(0.5), Just(1.0), Just(4.0)],
              prop_oneof![Just(0.0), Just(0.25), Just(2.0)])
            .prop_map(|(h, c)| Placement::Volume(h, c)),
        2 => Just(Placement::Year),
        2 => (1u64..6).prop_map(Placement::Rows),
    ]
}

/// Random maintenance.
pub fn arb_maintenance() -> impl Strategy<Value = Maintenance> {
    (
        proptest::option::weighted(0.6, (proptest::option::weighted(0.3, 0i64..13), 0usize..3)),
        arb_placement(),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(compact, placement, vacuum)| Maintenance {
            compact,
            placement,
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
            let policy = m.placement.policy(close, max_deltas);
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
