//! The core reader, history and diff equal DESIGN §1's oracle on random logs (the
//! conformance suite every door runs; see `bazof_testkit::conformance`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};

use bazof::scan::tasks::ScanTask;
use bazof::{DiffOptions, HistoryOptions, KeyPredicate, Point, Table};
use bazof_testkit::conformance::{run, DiffQuery, Door, HistoryQuery, Query, Suite};
use bazof_testkit::{batch_rows, Log, Value};

/// The core's own scan, in small batches so that the merge crosses batch boundaries.
struct Core {
    runtime: tokio::runtime::Runtime,
    tables: AtomicUsize,
    /// Table names of one test (the tests run in parallel in one process).
    prefix: &'static str,
}

impl Door for Core {
    fn name(&self) -> &str {
        "core"
    }
    fn location(&mut self) -> String {
        let n = self.tables.fetch_add(1, Ordering::Relaxed);
        format!("memory://oracle-{}/t{n}", self.prefix)
    }
    /// One merge, and 2 and 5 key-range tasks (SPEC §6.5), must agree; also each
    /// range planned again from its serialised task.
    fn scan(&mut self, location: &str, _log: &Log, q: &Query) -> Vec<Vec<Value>> {
        self.runtime.block_on(async {
            let table = Table::open(location).await.unwrap();
            let mut answers = Vec::new();
            for tasks in [1, 2, 5] {
                let opts = q.options().with_batch_size(3).with_tasks(tasks);
                let stream = table.scan(opts).await.unwrap();
                answers.push(batch_rows(&stream.collect_batches().await.unwrap()));
            }
            let plan = table.plan(&q.options().with_batch_size(3)).await.unwrap();
            let mut shipped = Vec::new();
            for part in plan.split(5) {
                let json = serde_json::to_string(&part.task(location)).unwrap();
                let task: ScanTask = serde_json::from_str(&json).unwrap();
                let plan = table.plan_task(&task).await.unwrap();
                let stream = table.execute(plan).await.unwrap();
                shipped.extend(batch_rows(&stream.collect_batches().await.unwrap()));
            }
            answers.push(shipped);
            for (i, a) in answers.iter().enumerate().skip(1) {
                assert_eq!(
                    a, &answers[0],
                    "answer {i} (2, 5 tasks, shipped tasks) vs one merge"
                );
            }
            answers.swap_remove(0)
        })
    }
    fn history(&mut self, location: &str, _log: &Log, q: &HistoryQuery) -> Option<Vec<Vec<Value>>> {
        let mut opts = HistoryOptions::default().with_batch_size(3);
        opts.snapshot = q.snapshot;
        opts.from = q.from.map(time);
        opts.to = q.to.map(time);
        opts.key_predicate = q.keys.clone().map(KeyPredicate::In);
        Some(self.runtime.block_on(async {
            let table = Table::open(location).await.unwrap();
            let stream = table.history(opts).await.unwrap();
            batch_rows(&stream.collect_batches().await.unwrap())
        }))
    }
    fn diff(&mut self, location: &str, _log: &Log, q: &DiffQuery) -> Option<Vec<Vec<Value>>> {
        let point = |(t, s): (Option<i64>, Option<u64>)| Point {
            as_of: t.map(time),
            snapshot: s,
        };
        let mut opts = DiffOptions::new(point(q.from), point(q.to)).with_batch_size(3);
        opts.key_predicate = q.keys.clone().map(KeyPredicate::In);
        Some(self.runtime.block_on(async {
            let table = Table::open(location).await.unwrap();
            let stream = table.diff(opts).await.unwrap();
            batch_rows(&stream.collect_batches().await.unwrap())
        }))
    }
}

fn time(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap()
}

#[test]
fn scan_equals_oracle() {
    let mut core = Core {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        tables: AtomicUsize::new(0),
        prefix: "plain",
    };
    let suite = Suite {
        logs: 1000,
        ..Suite::default()
    };
    let checked = run(&mut core, suite);
    assert_eq!(checked, 6000);
}

/// SPEC §2.1: the same suite on logs whose schema evolves (columns added mid-history,
/// an Int widened to Float), at every as_of and snapshot, history and diff included.
#[test]
fn evolving_scan_equals_oracle() {
    let mut core = Core {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        tables: AtomicUsize::new(0),
        prefix: "evolving",
    };
    let suite = Suite {
        logs: 400,
        evolve: true,
        ..Suite::default()
    };
    let checked = run(&mut core, suite);
    assert_eq!(checked, 2400);
}
