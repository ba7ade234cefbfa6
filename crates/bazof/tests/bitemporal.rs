//! History and diff (SPEC §10) equal their naive definitions on random logs with late
//! events, equal event times, tombstones and compactions; history also satisfies its
//! defining property against the scan oracle at every instant that matters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};

use bazof::{CompactionPolicy, DiffOptions, HistoryOptions, KeyValue, Point, Table};
use bazof_testkit::bitemporal::{diff_oracle, history_oracle};
use bazof_testkit::conformance::{arb_key_predicate, write_log};
use bazof_testkit::{arb_log, batch_rows, oracle, project, Log, Value, TIME_UNIT};
use proptest::prelude::*;

static TABLES: AtomicUsize = AtomicUsize::new(0);

fn key_value(k: &KeyValue) -> Value {
    match k {
        KeyValue::Int(i) => Value::Int(*i),
        KeyValue::String(s) => Value::Str(s.clone()),
    }
}

fn time(t: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(t).unwrap()
}

fn values(log: &Log) -> Vec<String> {
    log.schema.columns.iter().map(|c| c.name.clone()).collect()
}

/// A random log written commit by commit, optionally compacted at the end (a compaction
/// is one more commit whose snapshot has the same data as the one before).
async fn table(log: &Log, compact: Option<(i64, usize)>) -> Table {
    let n = TABLES.fetch_add(1, Ordering::Relaxed);
    let table = write_log(&format!("memory://bitemporal/t{n}"), log).await;
    if let Some((close_at, max_deltas)) = compact {
        let policy = CompactionPolicy {
            close_at: Some(time(close_at * TIME_UNIT)),
            max_deltas,
            ..CompactionPolicy::default()
        };
        table.compact(&policy).await.unwrap();
    }
    table
}

/// History rows as the core returns them: key, valid_from, valid_to, values.
fn expected_history(
    log: &Log,
    v: Option<u64>,
    window: (Option<i64>, Option<i64>),
) -> Vec<Vec<Value>> {
    let cols = values(log);
    history_oracle(log, v)
        .into_iter()
        .filter(|(_, from, to, _)| {
            window.1.is_none_or(|hi| *from <= hi)
                && window.0.is_none_or(|lo| to.is_none_or(|t| t > lo))
        })
        .map(|(k, from, to, e)| {
            let mut row = vec![
                key_value(&k),
                Value::Time(from),
                to.map_or(Value::Null, Value::Time),
            ];
            row.extend(project(&log.schema, &e, &cols));
            row
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn history_equals_its_definition(
        (log, compact, v, window, key, tasks) in arb_log(5, 12).prop_flat_map(|log| {
            let n = log.commits.len() as u64;
            let kt = log.schema.key_type;
            (
                Just(log),
                proptest::option::of((0i64..13, 0usize..3)),
                proptest::option::of(1..=n),
                (proptest::option::of(-1i64..13), proptest::option::of(-1i64..13)),
                proptest::option::weighted(0.3, arb_key_predicate(kt)),
                proptest::option::of(1usize..4),
            )
        })
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let table = table(&log, compact).await;
            let window = (window.0.map(|t| t * TIME_UNIT), window.1.map(|t| t * TIME_UNIT));
            let mut opts = HistoryOptions::default().with_batch_size(3);
            if let Some(n) = tasks { opts = opts.with_tasks(n); }
            if let Some(v) = v { opts = opts.with_snapshot(v); }
            if let Some(t) = window.0 { opts = opts.with_from(time(t)); }
            if let Some(t) = window.1 { opts = opts.with_to(time(t)); }
            if let Some(p) = &key { opts = opts.with_key_predicate(p.clone()); }
            let got = batch_rows(&table.history(opts).await.unwrap().collect_batches().await.unwrap());
            let want: Vec<Vec<Value>> = expected_history(&log, v, window)
                .into_iter()
                .filter(|r| key.as_ref().is_none_or(|p| match &r[0] {
                    Value::Int(i) => p.matches(&KeyValue::Int(*i)),
                    Value::Str(s) => p.matches(&KeyValue::String(s.clone())),
                    _ => false,
                }))
                .collect();
            assert_eq!(got, want, "{log:#?}");

            // The defining property, at every instant that matters: each event time,
            // just before it, and before all of them.
            if window == (None, None) && key.is_none() {
                let cols = values(&log);
                let mut instants: Vec<i64> = log.commits.iter().flatten()
                    .flat_map(|e| [e.event_time - 1, e.event_time]).collect();
                instants.push(i64::MIN / 2);
                for t in instants {
                    let valid: Vec<Vec<Value>> = got.iter()
                        .filter(|r| matches!(r[1], Value::Time(f) if f <= t)
                            && match r[2] { Value::Time(e) => t < e, _ => true })
                        .map(|r| { let mut x = vec![r[0].clone()]; x.extend(r[3..].iter().cloned()); x })
                        .collect();
                    let mut all = vec![log.schema.key.clone()];
                    all.extend(cols.iter().cloned());
                    let scan: Vec<Vec<Value>> = oracle(&log, Some(t), v).values()
                        .map(|e| project(&log.schema, e, &all)).collect();
                    assert_eq!(valid, scan, "as of {t}");
                }
            }
        });
    }

    #[test]
    fn diff_equals_two_scans(
        (log, compact, a, b, key, narrow) in arb_log(5, 12).prop_flat_map(|log| {
            let n = log.commits.len() as u64;
            let kt = log.schema.key_type;
            let point = (proptest::option::of(-1i64..13), proptest::option::of(1..=n));
            (
                Just(log),
                proptest::option::of((0i64..13, 0usize..3)),
                point.clone(),
                point,
                proptest::option::weighted(0.3, arb_key_predicate(kt)),
                any::<bool>(),
            )
        })
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let table = table(&log, compact).await;
            let a = (a.0.map(|t| t * TIME_UNIT), a.1);
            let b = (b.0.map(|t| t * TIME_UNIT), b.1);
            let point = |(t, s): (Option<i64>, Option<u64>)| Point { as_of: t.map(time), snapshot: s };
            // Compared columns: all (event time included) or just two value columns.
            let compared: Vec<String> = if narrow {
                vec!["s".into(), "i".into()]
            } else {
                let mut c = vec![log.schema.event_time.clone()];
                c.extend(values(&log));
                c
            };
            let mut opts = DiffOptions::new(point(a), point(b)).with_batch_size(2);
            if narrow { opts = opts.with_columns(compared.clone()); }
            if let Some(p) = &key { opts = opts.with_key_predicate(p.clone()); }
            let got = batch_rows(&table.diff(opts).await.unwrap().collect_batches().await.unwrap());
            let proj = |e: &Option<bazof_testkit::Event>| match e {
                Some(e) => project(&log.schema, e, &compared),
                None => vec![Value::Null; compared.len()],
            };
            let want: Vec<Vec<Value>> = diff_oracle(&log, a, b, |x, y| {
                project(&log.schema, x, &compared) == project(&log.schema, y, &compared)
            })
            .into_iter()
            .filter(|(k, ..)| key.as_ref().is_none_or(|p| p.matches(k)))
            .map(|(k, change, x, y)| {
                let mut row = vec![key_value(&k), Value::Str(change.into())];
                row.extend(proj(&x));
                row.extend(proj(&y));
                row
            })
            .collect();
            assert_eq!(got, want, "{log:#?}");
        });
    }
}
