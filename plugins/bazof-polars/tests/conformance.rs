//! The conformance suite (`bazof_testkit::conformance`) through `scan_bazof`: key
//! predicates become Polars filters (pushed into the scan), columns a `select`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ops::Bound;

use bazof::{DiffOptions, HistoryOptions, KeyPredicate, KeyValue, Point};
use bazof_polars::{scan_bazof, scan_bazof_diff, scan_bazof_history, ScanArgsBazof};
use bazof_testkit::conformance::{run, DiffQuery, Door, HistoryQuery, Query, Suite};
use bazof_testkit::{Log, Value};
use polars::prelude::*;

fn key_lit(k: &KeyValue) -> Expr {
    match k {
        KeyValue::Int(i) => lit(*i),
        KeyValue::String(s) => lit(s.as_str()),
    }
}

/// A key predicate as the Polars expression a user would write.
fn expr(p: &KeyPredicate) -> Expr {
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

struct Polars;

impl Door for Polars {
    fn name(&self) -> &str {
        "Polars"
    }
    fn location(&mut self) -> String {
        common::fresh("conformance")
    }
    fn scan(&mut self, location: &str, _log: &Log, q: &Query) -> Vec<Vec<Value>> {
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
        common::rows(&df)
    }
    fn history(&mut self, location: &str, _log: &Log, q: &HistoryQuery) -> Option<Vec<Vec<Value>>> {
        let opts = HistoryOptions {
            snapshot: q.snapshot,
            from: q.from.map(time),
            to: q.to.map(time),
            ..HistoryOptions::default()
        };
        let mut lf = scan_bazof_history(location, opts).unwrap();
        // Keys filtered by Polars, above the source.
        if let Some(keys) = &q.keys {
            lf = lf.filter(expr(&KeyPredicate::In(keys.clone())));
        }
        Some(common::rows(&lf.collect().unwrap()))
    }
    fn diff(&mut self, location: &str, _log: &Log, q: &DiffQuery) -> Option<Vec<Vec<Value>>> {
        let point = |(t, s): (Option<i64>, Option<u64>)| Point {
            as_of: t.map(time),
            snapshot: s,
        };
        let mut opts = DiffOptions::new(point(q.from), point(q.to));
        // Keys pruned inside the core.
        opts.key_predicate = q.keys.clone().map(KeyPredicate::In);
        let df = scan_bazof_diff(location, opts).unwrap().collect().unwrap();
        Some(common::rows(&df))
    }
}

fn time(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap()
}

#[test]
fn polars_equals_oracle() {
    let checked = run(&mut Polars, Suite::default());
    assert_eq!(checked, 1200);
}

/// SPEC §2.1: the suite on logs whose schema evolves (columns added mid-history, an
/// Int widened to Float), scans, history and diff through Polars.
#[test]
fn polars_equals_oracle_on_evolving_logs() {
    let checked = run(
        &mut Polars,
        Suite {
            logs: 100,
            evolve: true,
            ..Suite::default()
        },
    );
    assert_eq!(checked, 600);
}
