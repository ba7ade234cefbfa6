//! The core reader equals DESIGN §1's oracle on random logs.

use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use bazof::{KeyPredicate, KeyValue, ScanOptions, Table};
use bazof_testkit::{arb_log, batch_rows, oracle, project, to_batch, Log, TIME_UNIT};
use proptest::prelude::*;

static TABLES: AtomicUsize = AtomicUsize::new(0);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn write(log: &Log) -> Table {
    let name = format!(
        "memory://oracle/t{}",
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    let table = Table::create(&name, log.schema.clone()).await.unwrap();
    for events in &log.commits {
        table
            .commit(&[to_batch(&log.schema, events)])
            .await
            .unwrap();
    }
    table
}

/// A random scan: as_of, snapshot, projection and key predicate.
#[derive(Debug, Clone)]
struct Query {
    as_of: Option<i64>,
    snapshot: Option<u64>,
    columns: Option<Vec<usize>>,
    key: Option<(u8, u32, u32)>,
}

fn arb_query(commits: usize) -> impl Strategy<Value = Query> {
    (
        proptest::option::of(-1i64..13),
        proptest::option::of(1..=commits as u64),
        proptest::option::of(proptest::collection::vec(0usize..8, 0..4)),
        proptest::option::of((0u8..4, 0u32..8, 0u32..8)),
    )
        .prop_map(|(as_of, snapshot, columns, key)| Query {
            as_of: as_of.map(|t| t * TIME_UNIT),
            snapshot,
            columns,
            key,
        })
}

fn key_of(log: &Log, k: u32) -> KeyValue {
    match log.schema.key_type {
        bazof::KeyType::Int => KeyValue::Int(k as i64 * 7 - 10),
        bazof::KeyType::String => KeyValue::String(format!("k{k:02}")),
    }
}

fn predicate(log: &Log, (kind, a, b): (u8, u32, u32)) -> KeyPredicate {
    let (a, b) = (key_of(log, a), key_of(log, b));
    match kind {
        0 => KeyPredicate::Eq(a),
        1 => KeyPredicate::In(vec![a, b]),
        2 => KeyPredicate::Range {
            lower: Bound::Included(a),
            upper: Bound::Excluded(b),
        },
        _ => KeyPredicate::And(vec![
            KeyPredicate::Range {
                lower: Bound::Excluded(a.clone()),
                upper: Bound::Unbounded,
            },
            KeyPredicate::Or(vec![
                KeyPredicate::Eq(b),
                KeyPredicate::Range {
                    lower: Bound::Unbounded,
                    upper: Bound::Included(a),
                },
            ]),
        ]),
    }
}

async fn check(table: &Table, log: &Log, q: &Query) {
    let all: Vec<String> = log.schema.column_names().map(String::from).collect();
    let columns: Vec<String> = match &q.columns {
        Some(idx) => {
            let mut c: Vec<String> = idx.iter().map(|&i| all[i % all.len()].clone()).collect();
            c.dedup();
            c
        }
        None => all.clone(),
    };
    let mut opts = ScanOptions::default()
        .with_columns(columns.clone())
        .with_batch_size(3);
    if let Some(t) = q.as_of {
        opts = opts.with_as_of(chrono::DateTime::from_timestamp_micros(t).unwrap());
    }
    if let Some(s) = q.snapshot {
        opts = opts.with_snapshot(s);
    }
    let pred = q.key.map(|k| predicate(log, k));
    if let Some(p) = &pred {
        opts = opts.with_key_predicate(p.clone());
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
    let want: Vec<_> = oracle(log, q.as_of, q.snapshot)
        .iter()
        .filter(|(k, _)| pred.as_ref().is_none_or(|p| p.matches(k)))
        .map(|(_, e)| project(&log.schema, e, &columns))
        .collect();
    assert_eq!(got, want, "query {q:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
    #[test]
    fn scan_equals_oracle((log, queries) in arb_log(6, 12).prop_flat_map(|log| {
        let n = log.commits.len();
        (Just(log), proptest::collection::vec(arb_query(n), 1..5))
    })) {
        runtime().block_on(async {
            let table = write(&log).await;
            for q in &queries {
                check(&table, &log, q).await;
            }
        });
    }
}
