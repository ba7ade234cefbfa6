//! Crashes at every single put/delete of a commit, a compaction and a vacuum:
//! afterwards the table reads as the old or the new state (never a mix, never an
//! error) and the next writer proceeds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use bazof::{CompactionPolicy, Location, ScanOptions, SegmentWidth, Table, VacuumOptions};
use bazof_testkit::faulty::FaultyStore;
use bazof_testkit::{arb_log, batch_rows, oracle_rows, to_batch, Log, Value, TIME_UNIT};
use object_store::memory::InMemory;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Commit,
    Compact,
    Vacuum,
}

fn logs() -> Vec<Log> {
    let mut runner = TestRunner::deterministic();
    (0..4)
        .map(|_| arb_log(4, 12).new_tree(&mut runner).unwrap().current())
        .collect()
}

fn policy() -> CompactionPolicy {
    CompactionPolicy {
        segment: SegmentWidth::Year,
        max_deltas: 0,
        target_file_rows: 4,
        close_at: chrono::DateTime::from_timestamp_micros(6 * TIME_UNIT),
        ..Default::default()
    }
}

/// Answers at a few event times, for the latest snapshot.
async fn state(table: &Table) -> Vec<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    for t in [None, Some(3), Some(7), Some(11)] {
        let mut o = ScanOptions::default();
        if let Some(t) = t {
            o = o.with_as_of(chrono::DateTime::from_timestamp_micros(t * TIME_UNIT).unwrap());
        }
        out.push(batch_rows(
            &table
                .scan(o)
                .await
                .unwrap()
                .collect_batches()
                .await
                .unwrap(),
        ));
    }
    out
}

fn expected(log: &Log, commits: usize) -> Vec<Vec<Vec<Value>>> {
    let cols: Vec<String> = log.schema.column_names().map(String::from).collect();
    let prefix = Log {
        schema: log.schema.clone(),
        commits: log.commits[..commits].to_vec(),
        schemas: Vec::new(),
    };
    [None, Some(3), Some(7), Some(11)]
        .iter()
        .map(|t: &Option<i64>| oracle_rows(&prefix, t.map(|t| t * TIME_UNIT), None, &cols))
        .collect()
}

/// Runs `op` with a crash after `n` mutations; returns whether the op ran to completion
/// without reaching the crash point.
async fn crash_once(log: &Log, op: Op, n: usize) -> bool {
    let faulty = Arc::new(FaultyStore::new(Arc::new(InMemory::new())));
    let loc = Location {
        display: format!("crash-{op:?}-{n}"),
        store: faulty.clone(),
        root: "t".into(),
    };
    let table = Table::create_at(loc.clone(), log.schema.clone())
        .await
        .unwrap();
    let last = log.commits.len() - 1;
    for events in &log.commits[..last] {
        table
            .commit(&[to_batch(&log.schema, events)])
            .await
            .unwrap();
    }
    if op != Op::Commit {
        table
            .commit(&[to_batch(&log.schema, &log.commits[last])])
            .await
            .unwrap();
    }
    if op == Op::Vacuum {
        table.compact(&policy()).await.unwrap();
    }
    let committed_before = if op == Op::Commit { last } else { last + 1 };
    let before = state(&table).await;
    assert_eq!(before, expected(log, committed_before));

    faulty.crash_after(n);
    let result = match op {
        Op::Commit => table
            .commit(&[to_batch(&log.schema, &log.commits[last])])
            .await
            .map(|_| ()),
        Op::Compact => table.compact(&policy()).await.map(|_| ()),
        Op::Vacuum => table
            .vacuum(&VacuumOptions {
                retain: chrono::Duration::zero(),
                dry_run: false,
            })
            .await
            .map(|_| ()),
    };
    let completed = !faulty.crashed();
    faulty.heal();

    // A fresh reader sees the old or the new state, never an error or a mix.
    let reader = Table::open_at(loc.clone()).await.unwrap();
    let after = state(&reader).await;
    let committed_after = if op == Op::Commit && result.is_ok() {
        last + 1
    } else {
        committed_before
    };
    assert_eq!(
        after,
        expected(log, committed_after),
        "op {op:?} crashed after {n} mutations: {result:?}"
    );

    // The next writer proceeds.
    let next = &log.commits[0];
    reader.commit(&[to_batch(&log.schema, next)]).await.unwrap();
    let mut grown = Log {
        schema: log.schema.clone(),
        commits: log.commits[..committed_after].to_vec(),
        schemas: Vec::new(),
    };
    grown.commits.push(next.clone());
    assert_eq!(state(&reader).await, expected(&grown, grown.commits.len()));
    completed
}

#[test]
fn every_crash_point_leaves_old_or_new_state() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut points = 0;
    for log in logs() {
        for op in [Op::Commit, Op::Compact, Op::Vacuum] {
            let mut n = 0;
            while !rt.block_on(crash_once(&log, op, n)) {
                n += 1;
                points += 1;
                assert!(n < 500, "{op:?} never completes");
            }
        }
    }
    eprintln!("crash points survived: {points}");
    assert!(points >= 20, "only {points} crash points exercised");
}
