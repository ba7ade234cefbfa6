//! Compaction and vacuum never change a scan: random logs with random
//! compactions (segment closes, base rebuilds after late events, delta merges)
//! and vacuums between commits, compared with DESIGN §1's oracle for every
//! snapshot that is still retained.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};

use bazof_testkit::history::{arb_maintenance, check_history};
use bazof_testkit::{arb_evolving_log, arb_log, TIME_UNIT};
use proptest::prelude::*;

static TABLES: AtomicUsize = AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn compaction_and_vacuum_keep_every_answer(
        log in arb_log(7, 10),
        maintenance in proptest::collection::vec(arb_maintenance(), 1..8),
        queries in proptest::collection::vec((proptest::option::of((-1i64..14).prop_map(|t| t * TIME_UNIT)), 0usize..100), 1..6),
    ) {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
            .block_on(check_history(
                &format!("memory://compaction/t{}", TABLES.fetch_add(1, Ordering::Relaxed)),
                &log,
                &maintenance,
                &queries,
            ));
    }

    /// SPEC §2.1 and §8: columns added mid-history and an Int widened to Float stay
    /// exact through compaction, vacuum and time travel to every retained snapshot.
    #[test]
    fn compaction_keeps_evolved_schemas_exact(
        log in arb_evolving_log(7, 10),
        maintenance in proptest::collection::vec(arb_maintenance(), 1..8),
        queries in proptest::collection::vec((proptest::option::of((-1i64..14).prop_map(|t| t * TIME_UNIT)), 0usize..100), 1..6),
    ) {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
            .block_on(check_history(
                &format!("memory://compaction-evolved/t{}", TABLES.fetch_add(1, Ordering::Relaxed)),
                &log,
                &maintenance,
                &queries,
            ));
    }
}

// ---- The default policy (SPEC §8.1): bases placed by data volume. ----

use bazof::{AnySnapshot, CompactionPolicy, FileKind, KeyValue, ScanOptions, SegmentWidth, Table};
use bazof_testkit::{batch_rows, oracle_rows, test_schema, to_batch, Event, Log, Value};

/// A seeded linear congruential generator: the histories below must be reproducible.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn event(key: u64, t: i64, v: i64) -> Event {
    Event {
        key: KeyValue::Int(key as i64),
        event_time: t,
        values: vec![
            Value::Str(format!("v{}", v % 7)),
            Value::Int(v),
            Value::Float(v as f64 / 2.0),
            Value::Bool(v % 2 == 0),
            Value::Time(t),
            Value::Date((v % 1000) as i32),
        ],
        deleted: false,
    }
}

/// `keys` keys loaded in commit 1, then `rounds` commits of `changes` updates at later
/// event times, each with `late` events up to two rounds back.
fn steady_log(keys: u64, rounds: usize, changes: u64, late: u64, seed: u64) -> Log {
    const ROUND: i64 = 1_000_000_000;
    let mut rng = Lcg(seed);
    let mut commits = vec![(0..keys).map(|k| event(k, k as i64, 0)).collect::<Vec<_>>()];
    for r in 1..=rounds as i64 {
        let mut evs: Vec<Event> = (0..changes)
            .map(|i| event(rng.below(keys), r * ROUND + i as i64, r))
            .collect();
        for _ in 0..late {
            let back = ((r - 2).max(0) * ROUND) + rng.below(ROUND as u64) as i64;
            evs.push(event(rng.below(keys), back, -r));
        }
        commits.push(evs);
    }
    Log::new(test_schema(bazof::KeyType::Int), commits)
}

fn all_columns(log: &Log) -> Vec<String> {
    log.schema.column_names().map(String::from).collect()
}

async fn check_snapshot(table: &Table, log: &Log, snapshot: u64, prefix: usize, as_of: &[i64]) {
    for t in as_of.iter().map(|&t| Some(t)).chain([None]) {
        let mut opts = ScanOptions::default().with_snapshot(snapshot);
        if let Some(t) = t {
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
        let want = oracle_rows(log, t, Some(prefix as u64), &all_columns(log));
        assert_eq!(
            got, want,
            "snapshot {snapshot} (log prefix {prefix}), as_of {t:?}"
        );
    }
}

/// Rows a scan as of `t` plans to read.
async fn rows_read(table: &Table, as_of: Option<i64>) -> u64 {
    let mut opts = ScanOptions::default();
    if let Some(t) = as_of {
        opts = opts.with_as_of(chrono::DateTime::from_timestamp_micros(t).unwrap());
    }
    table
        .plan(&opts)
        .await
        .unwrap()
        .files
        .iter()
        .map(|f| f.rows)
        .sum()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// With a steady update rate, what a compaction writes stays flat as history grows: it
/// follows the changes since the last compaction (and the bases late events make stale),
/// not the number of events the table holds.
#[test]
fn compaction_cost_follows_what_changed() {
    rt().block_on(async {
        let (keys, rounds, changes) = (400u64, 80usize, 40u64);
        let log = steady_log(keys, rounds, changes, 3, 7);
        let table = Table::create("memory://compaction/steady", log.schema.clone())
            .await
            .unwrap();
        let mut written = Vec::new();
        let mut prefix_of = Vec::new();
        for (i, evs) in log.commits.iter().enumerate() {
            let c = table.commit(&[to_batch(&log.schema, evs)]).await.unwrap();
            prefix_of.push((c.commit, i + 1));
            if let Some(info) = table.compact(&CompactionPolicy::default()).await.unwrap() {
                prefix_of.push((info.commit, i + 1));
                written.push(info.rows_written);
            }
        }
        let events: u64 = log.commits.iter().map(|c| c.len() as u64).sum();
        assert!(
            events > 8 * keys,
            "history outgrows the state: {events} events"
        );
        // Every compaction after the first (which folds the initial load) writes at most
        // a few bases' worth plus the changes, however long the history already is.
        let bound = 3 * keys + 10 * changes;
        for (i, w) in written.iter().enumerate().skip(1) {
            assert!(
                *w <= bound,
                "compaction {i} wrote {w} rows (> {bound}): {written:?}"
            );
        }
        let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len().max(1) as f64;
        let n = written.len();
        assert!(n > 40, "{written:?}");
        let (early, late) = (mean(&written[5..n / 2]), mean(&written[n / 2..]));
        assert!(
            late <= 1.5 * early + changes as f64,
            "cost grows with history: early mean {early}, late mean {late}: {written:?}"
        );
        // And every answer is still right, for old snapshots as well.
        let as_of: Vec<i64> = (0..=rounds as i64)
            .step_by(9)
            .map(|r| r * 1_000_000_000 + 17)
            .collect();
        for &(snapshot, prefix) in prefix_of.iter().rev().step_by(23) {
            check_snapshot(&table, &log, snapshot, prefix, &as_of).await;
        }
    });
}

/// The layout bounds what scans read: current scans about the state (plus the level above
/// the newest base), as-of scans at most about `1 + history_ratio` times the state, and the
/// files hold at most twice the events — on a slowly changing and on a dense history.
#[test]
fn volume_layout_bounds_reads_and_space() {
    rt().block_on(async {
        // (keys, rounds, changes per round): slowly changing (1 % a round), dense (the
        // whole key space several times over).
        for (name, keys, rounds, changes) in [("slow", 1000u64, 48usize, 10u64), ("dense", 200, 30, 60)] {
            let log = steady_log(keys, rounds, changes, 0, 11);
            let table = Table::create(&format!("memory://compaction/bounds-{name}"), log.schema.clone())
                .await
                .unwrap();
            for (i, evs) in log.commits.iter().enumerate() {
                table.commit(&[to_batch(&log.schema, evs)]).await.unwrap();
                if i % 6 == 5 {
                    table.compact(&CompactionPolicy::default()).await.unwrap();
                }
            }
            // A final compaction with every ratio at its default, then vacuum.
            table.compact(&CompactionPolicy::default()).await.unwrap();
            table
                .vacuum(&bazof::VacuumOptions { retain: chrono::Duration::zero(), dry_run: false })
                .await
                .unwrap();
            let snap = table.snapshot(None).await.unwrap();
            let AnySnapshot::V1(s) = snap.as_ref() else { panic!("format 1") };
            let files = s.files();
            let stored: u64 = files.iter().map(|f| f.rows).sum();
            let events: u64 = log.commits.iter().map(|c| c.len() as u64).sum();
            let policy = CompactionPolicy::default();
            let current = rows_read(&table, None).await;
            let state = oracle_rows(&log, None, None, &all_columns(&log)).len() as u64;
            // Space: every event once, past bases about one per `history_ratio` states of
            // events, and the base of the current state.
            let bound = events as f64 * (1.0 + 1.0 / policy.history_ratio) + state as f64;
            assert!(
                stored as f64 <= 1.05 * bound,
                "{name}: {stored} rows stored for {events} events (bound {bound})"
            );
            if name == "slow" {
                assert!(
                    stored <= 2 * events,
                    "{name}: a slowly changing table needs no past bases: {stored} rows for {events} events"
                );
            }
            assert!(
                current as f64 <= (1.0 + policy.current_ratio) * state as f64,
                "{name}: a current scan reads {current} rows for a state of {state}"
            );
            for r in 0..=rounds as i64 {
                let t = r * 1_000_000_000 + 500;
                let state = oracle_rows(&log, Some(t), None, &all_columns(&log)).len() as u64;
                let read = rows_read(&table, Some(t)).await;
                assert!(
                    read as f64 <= 1.1 * (1.0 + policy.history_ratio) * state as f64,
                    "{name}: as of round {r} a scan reads {read} rows for a state of {state}"
                );
            }
            let bases = files.iter().filter(|f| f.kind == FileKind::Base).count();
            assert!(bases >= 1, "{name}: a base of the current state");
            check_snapshot(&table, &log, s.commit, log.commits.len(), &[0, 1_000_000_000 * 3 + 5, 1_000_000_000 * rounds as i64 / 2]).await;
        }
    });
}

/// A table laid out by calendar months (format 1 as written before the volume policy)
/// compacts into the volume layout: surplus monthly bases leave the latest snapshot,
/// and every snapshot, old and new, keeps its answers.
#[test]
fn monthly_table_compacts_into_the_volume_layout() {
    rt().block_on(async {
        const DAY: i64 = 86_400_000_000;
        let mut rng = Lcg(3);
        let keys = 50u64;
        let mut commits = vec![(0..keys).map(|k| event(k, k as i64, 0)).collect::<Vec<_>>()];
        for m in 1..=24i64 {
            commits.push(
                (0..5)
                    .map(|i| event(rng.below(keys), m * 31 * DAY + i * DAY, m))
                    .collect(),
            );
        }
        let log = Log::new(test_schema(bazof::KeyType::Int), commits);
        let table = Table::create("memory://compaction/monthly", log.schema.clone())
            .await
            .unwrap();
        let monthly = CompactionPolicy {
            segment: SegmentWidth::Month,
            ..Default::default()
        };
        let mut prefix_of = Vec::new();
        for (i, evs) in log.commits.iter().enumerate() {
            let c = table.commit(&[to_batch(&log.schema, evs)]).await.unwrap();
            prefix_of.push((c.commit, i + 1));
            if i % 4 == 3 {
                if let Some(info) = table.compact(&monthly).await.unwrap() {
                    prefix_of.push((info.commit, i + 1));
                }
            }
        }
        let bases = |s: &AnySnapshot| match s {
            AnySnapshot::V1(s) => s
                .files()
                .iter()
                .filter(|f| f.kind == FileKind::Base)
                .count(),
            AnySnapshot::Legacy(_) => 0,
        };
        let before = bases(table.snapshot(None).await.unwrap().as_ref());
        assert!(
            before > 12,
            "the monthly layout has a base per month: {before}"
        );
        let dry = table
            .compact_dry_run(&CompactionPolicy::default())
            .await
            .unwrap()
            .unwrap();
        assert!(dry.dry_run);
        let latest = table.latest_commit().await.unwrap();
        let info = table
            .compact(&CompactionPolicy::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.commit, latest + 1, "the dry run published nothing");
        assert_eq!(
            (dry.files_added.len(), dry.files_dropped.clone()),
            (info.files_added.len(), info.files_dropped.clone()),
            "the dry run said what the compaction does"
        );
        prefix_of.push((info.commit, log.commits.len()));
        let after = bases(table.snapshot(None).await.unwrap().as_ref());
        assert!(after < before / 3, "{before} monthly bases became {after}");
        assert!(info.files_dropped.len() >= before - after);
        let as_of: Vec<i64> = (0..=25).map(|m| m * 31 * DAY + 3 * DAY + 1).collect();
        for &(snapshot, prefix) in &prefix_of {
            check_snapshot(&table, &log, snapshot, prefix, &as_of).await;
        }
    });
}
