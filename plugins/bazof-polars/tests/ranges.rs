//! `scan_bazof` on a table large enough to split into key ranges (SPEC §6.5): every
//! range is turned into frames at the same time, and the result holds them in key
//! order, equal to the oracle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof::{ScanOptions, Table};
use bazof_polars::{scan_bazof, ScanArgsBazof};
use bazof_testkit::conformance::write_log_blocking;
use bazof_testkit::{oracle, project, Value};
use polars::prelude::*;

#[test]
fn key_ranges_read_at_once_come_back_in_key_order() {
    // More than two row groups of rows: the scan splits into one range per core.
    let log = common::two_commit_log(150_000, 5);
    let location = common::fresh("ranges");
    write_log_blocking(&location, &log);

    let parts = bazof::blocking::block_on(async {
        let table = Table::open(&location).await?;
        let stream = table.scan(ScanOptions::default()).await?;
        Ok::<_, bazof::Error>(stream.into_parts().len())
    })
    .unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cores == 1 || parts > 1,
        "{cores} cores but {parts} key range(s)"
    );

    let columns: Vec<String> = vec!["key".into(), "s".into(), "i".into()];
    for as_of in [None, Some(4)] {
        let mut args = ScanArgsBazof::default();
        if let Some(t) = as_of {
            args = args.with_as_of(chrono::DateTime::from_timestamp_micros(t * 1_000_000).unwrap());
        }
        let df = scan_bazof(&location, args)
            .unwrap()
            .select(columns.iter().map(|c| col(c.as_str())).collect::<Vec<_>>())
            .collect()
            .unwrap();
        let want: Vec<Vec<Value>> = oracle(&log, as_of.map(|t| t * 1_000_000), None)
            .values()
            .map(|e| project(&log.schema, e, &columns))
            .collect();
        assert!(want.len() > 100_000, "{} rows", want.len());
        assert!(
            common::rows(&df) == want,
            "as_of {as_of:?}: rows differ from the oracle or are out of key order"
        );
    }
}
