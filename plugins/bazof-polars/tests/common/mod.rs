//! Shared helpers of the Polars door's tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use bazof_testkit::{Log, Value};
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
