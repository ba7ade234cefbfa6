//! The conformance suite (`bazof_testkit::conformance`) through `scan_bazof`: key
//! predicates become Polars filters (pushed into the scan), columns a `select`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof::{DiffOptions, HistoryOptions, KeyPredicate, Point};
use bazof_polars::{scan_bazof_diff, scan_bazof_history};
use bazof_testkit::conformance::{run, DiffQuery, Door, HistoryQuery, Query, Suite};
use bazof_testkit::{Log, Value};

struct Polars;

impl Door for Polars {
    fn name(&self) -> &str {
        "Polars"
    }
    fn location(&mut self) -> String {
        common::fresh("conformance")
    }
    fn scan(&mut self, location: &str, _log: &Log, q: &Query) -> Vec<Vec<Value>> {
        common::scan(location, q)
    }
    fn history(&mut self, location: &str, log: &Log, q: &HistoryQuery) -> Option<Vec<Vec<Value>>> {
        let opts = HistoryOptions {
            snapshot: q.snapshot,
            from: q.from.map(time),
            to: q.to.map(time),
            ..HistoryOptions::default()
        };
        let mut lf = scan_bazof_history(location, opts).unwrap();
        // Keys filtered by Polars (pushed down: the source prunes by them).
        if let Some(keys) = &q.keys {
            lf = lf.filter(common::expr(&KeyPredicate::In(keys.clone())));
        }
        // Two reads with complementary filters on another column, put together: a
        // source that pruned by the key but skipped the rest of a filter would
        // return rows twice.
        let schema = log.schema_at(q.snapshot);
        let current = polars::prelude::col("valid_to").is_null();
        let lf = polars::prelude::concat(
            [lf.clone().filter(current.clone()), lf.filter(current.not())],
            polars::prelude::UnionArgs::default(),
        )
        .unwrap()
        .sort(
            [schema.key.as_str(), "valid_from"],
            polars::prelude::SortMultipleOptions::default(),
        );
        // The columns in reverse order (pushed down: the source reads only those),
        // reversed back.
        let mut columns = vec![schema.key.clone(), "valid_from".into(), "valid_to".into()];
        columns.extend(schema.columns.iter().map(|c| c.name.clone()));
        columns.reverse();
        let lf = lf.select(
            columns
                .iter()
                .map(|c| polars::prelude::col(c.as_str()))
                .collect::<Vec<_>>(),
        );
        let mut rows = common::rows(&lf.collect().unwrap());
        for row in &mut rows {
            row.reverse();
        }
        Some(rows)
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
