//! `scan_bazof_batches`: the scan as an iterator of DataFrames, in key order, equal to
//! the oracle, one batch of the core at a time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof::{KeyPredicate, KeyValue};
use bazof_polars::{scan_bazof_batches, ScanArgsBazof};
use bazof_testkit::conformance::write_log_blocking;
use bazof_testkit::{oracle, project, Value};

#[test]
fn batches_equal_the_oracle_in_key_order() {
    let log = common::two_commit_log(5_000, 3);
    let location = common::fresh("batches");
    write_log_blocking(&location, &log);
    let columns: Vec<String> = vec!["key".into(), "s".into(), "i".into()];
    for (as_of, keys) in [
        (None, None),
        (Some(4), None),
        (
            None,
            Some(vec![KeyValue::Int(3), KeyValue::Int(9), KeyValue::Int(10)]),
        ),
    ] {
        let mut args = ScanArgsBazof::default().with_batch_size(700);
        if let Some(t) = as_of {
            args = args.with_as_of(chrono::DateTime::from_timestamp_micros(t * 1_000_000).unwrap());
        }
        let frames: Vec<_> = scan_bazof_batches(
            &location,
            args,
            Some(columns.clone()),
            keys.clone().map(KeyPredicate::In),
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
        assert!(frames.iter().all(|f| f.height() <= 700));
        let got: Vec<Vec<Value>> = frames.iter().flat_map(common::rows).collect();
        let want: Vec<Vec<Value>> = oracle(&log, as_of.map(|t| t * 1_000_000), None)
            .iter()
            .filter(|(k, _)| keys.as_ref().is_none_or(|ks| ks.contains(k)))
            .map(|(_, e)| project(&log.schema, e, &columns))
            .collect();
        assert_eq!(got, want, "as_of {as_of:?} keys {keys:?}");
        if as_of.is_none() && keys.is_none() {
            assert!(frames.len() > 1, "several batches");
        }
    }
}
