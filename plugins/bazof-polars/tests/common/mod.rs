//! Shared helpers of the Polars door's tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use std::ops::Bound;

use bazof::{KeyPredicate, KeyType, KeyValue};
use bazof_polars::{scan_bazof, ScanArgsBazof};
use bazof_testkit::conformance::Query;
use bazof_testkit::{test_schema, Event, Log, Value};
use polars::prelude::*;

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A fresh `memory://` location name.
pub fn fresh(prefix: &str) -> String {
    format!(
        "memory://polars-{prefix}/t{}",
        TABLES.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes a log's commits to a fresh in-memory table; returns its location.
pub fn write(log: &Log) -> String {
    let location = fresh("oracle");
    bazof_testkit::conformance::write_log_blocking(&location, log);
    location
}

/// One Polars cell as a testkit value.
pub fn value(v: AnyValue) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::String(s) => Value::Str(s.to_string()),
        AnyValue::StringOwned(s) => Value::Str(s.to_string()),
        AnyValue::Int64(i) => Value::Int(i),
        AnyValue::Int32(i) => Value::Int(i as i64),
        AnyValue::UInt32(i) => Value::Int(i as i64),
        AnyValue::Float64(f) => Value::Float(f),
        AnyValue::Boolean(b) => Value::Bool(b),
        AnyValue::Date(d) => Value::Date(d),
        AnyValue::Datetime(t, TimeUnit::Microseconds, _) => Value::Time(t),
        AnyValue::DatetimeOwned(t, TimeUnit::Microseconds, _) => Value::Time(t),
        other => panic!("unexpected Polars value {other:?}"),
    }
}

/// All rows of a frame as testkit values.
pub fn rows(df: &DataFrame) -> Vec<Vec<Value>> {
    (0..df.height())
        .map(|r| {
            df.columns()
                .iter()
                .map(|c| value(c.get(r).unwrap()))
                .collect()
        })
        .collect()
}

fn key_lit(k: &KeyValue) -> Expr {
    match k {
        KeyValue::Int(i) => lit(*i),
        KeyValue::String(s) => lit(s.as_str()),
    }
}

/// A key predicate as the Polars expression a user would write.
pub fn expr(p: &KeyPredicate) -> Expr {
    let key = col("key");
    match p {
        KeyPredicate::Eq(k) => key.eq(key_lit(k)),
        KeyPredicate::In(ks) => ks
            .iter()
            .map(|k| key.clone().eq(key_lit(k)))
            .reduce(Expr::or)
            .unwrap_or(lit(false)),
        KeyPredicate::Range { lower, upper } => {
            let lo = match lower {
                Bound::Included(k) => key.clone().gt_eq(key_lit(k)),
                Bound::Excluded(k) => key.clone().gt(key_lit(k)),
                Bound::Unbounded => lit(true),
            };
            let hi = match upper {
                Bound::Included(k) => key.clone().lt_eq(key_lit(k)),
                Bound::Excluded(k) => key.lt(key_lit(k)),
                Bound::Unbounded => lit(true),
            };
            lo.and(hi)
        }
        KeyPredicate::And(ps) => ps.iter().map(expr).reduce(Expr::and).unwrap_or(lit(true)),
        KeyPredicate::Or(ps) => ps.iter().map(expr).reduce(Expr::or).unwrap_or(lit(false)),
    }
}

/// A conformance query through `scan_bazof`: the key predicate as a Polars filter
/// (pushed into the scan), the columns as a `select`.
pub fn scan(location: &str, q: &Query) -> Vec<Vec<Value>> {
    let mut args = ScanArgsBazof::default();
    if let Some(t) = q.as_of {
        args = args.with_as_of(chrono::DateTime::from_timestamp_micros(t).unwrap());
    }
    if let Some(s) = q.snapshot {
        args = args.with_snapshot(s);
    }
    let mut lf = scan_bazof(location, args).unwrap();
    if let Some(p) = &q.key {
        lf = lf.filter(expr(p));
    }
    let df = lf
        .select(
            q.columns
                .iter()
                .map(|c| col(c.as_str()))
                .collect::<Vec<_>>(),
        )
        .collect()
        .unwrap();
    rows(&df)
}

/// A log of Int keys `0..keys` in two commits: every key at time `k % 7` (seconds),
/// then every `every`-th key again at time 3, a third of those as tombstones.
pub fn two_commit_log(keys: i64, every: i64) -> Log {
    let event = |k: i64, t: i64, deleted: bool| Event {
        key: KeyValue::Int(k),
        event_time: t * 1_000_000,
        values: vec![
            Value::Str(format!("v{k}")),
            Value::Int(t),
            Value::Null,
            Value::Bool(k % 2 == 0),
            Value::Null,
            Value::Null,
        ],
        deleted,
    };
    let first: Vec<Event> = (0..keys).map(|k| event(k, k % 7, false)).collect();
    let second: Vec<Event> = (0..keys)
        .filter(|k| k % every == 0)
        .map(|k| event(k, 3, k % (every * 3) == 0))
        .collect();
    Log::new(test_schema(KeyType::Int), vec![first, second])
}
