//! Readers running while commits and compactions happen always see one consistent
//! snapshot: each scan equals the oracle at exactly the snapshot it planned on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bazof::{CompactionPolicy, ScanOptions, SegmentWidth, Table};
use bazof_testkit::{arb_log, batch_rows, oracle_rows, to_batch, Log, TIME_UNIT};
use futures::StreamExt;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

async fn reader(
    location: String,
    log: Arc<Log>,
    prefix_of: Arc<Mutex<HashMap<u64, usize>>>,
    done: Arc<AtomicBool>,
) -> usize {
    let table = Table::open(&location).await.unwrap();
    let cols: Vec<String> = log.schema.column_names().map(String::from).collect();
    let mut checked = 0;
    let mut i = 0i64;
    while !done.load(Ordering::SeqCst) || checked == 0 {
        i += 1;
        let as_of = (i % 3 != 0).then_some((i % 13) * TIME_UNIT);
        let mut opts = ScanOptions::default().with_batch_size(3);
        if let Some(t) = as_of {
            opts = opts.with_as_of(chrono::DateTime::from_timestamp_micros(t).unwrap());
        }
        let mut stream = table.scan(opts).await.unwrap();
        let snapshot = stream.plan().snapshot;
        let mut batches = Vec::new();
        while let Some(b) = stream.next().await {
            batches.push(b.unwrap());
        }
        // The writer records a commit's prefix right after it lands; wait for it.
        let prefix = loop {
            if let Some(p) = prefix_of.lock().unwrap().get(&snapshot).copied() {
                break p;
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(
            batch_rows(&batches),
            oracle_rows(&log, as_of, Some(prefix as u64), &cols),
            "snapshot {snapshot}"
        );
        checked += 1;
    }
    checked
}

#[test]
fn scans_during_commits_and_compactions_see_one_snapshot() {
    let mut runner = TestRunner::deterministic();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut total = 0;
    for n in 0..4 {
        let log = Arc::new(arb_log(8, 12).new_tree(&mut runner).unwrap().current());
        let location = format!("memory://readers/t{n}");
        let prefix_of = Arc::new(Mutex::new(HashMap::new()));
        let done = Arc::new(AtomicBool::new(false));
        rt.block_on(async {
            let table = Table::create(&location, log.schema.clone()).await.unwrap();
            let c = table
                .commit(&[to_batch(&log.schema, &log.commits[0])])
                .await
                .unwrap();
            prefix_of.lock().unwrap().insert(c.commit, 1);
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    tokio::spawn(reader(
                        location.clone(),
                        log.clone(),
                        prefix_of.clone(),
                        done.clone(),
                    ))
                })
                .collect();
            for (i, events) in log.commits.iter().enumerate().skip(1) {
                let c = table
                    .commit(&[to_batch(&log.schema, events)])
                    .await
                    .unwrap();
                prefix_of.lock().unwrap().insert(c.commit, i + 1);
                let policy = CompactionPolicy {
                    segment: SegmentWidth::Year,
                    max_deltas: i % 3,
                    close_at: chrono::DateTime::from_timestamp_micros(
                        (i as i64 * 5 % 13) * TIME_UNIT,
                    ),
                    ..Default::default()
                };
                if let Some(info) = table.compact(&policy).await.unwrap() {
                    prefix_of.lock().unwrap().insert(info.commit, i + 1);
                }
                tokio::task::yield_now().await;
            }
            done.store(true, Ordering::SeqCst);
            for r in readers {
                total += r.await.unwrap();
            }
        });
    }
    eprintln!("consistent scans during writes: {total}");
    assert!(total >= 8);
}
