//! The headline query of bazof 0.2's README, from Polars, on the legacy financials
//! table in test-data/ (read in place): as of 2019-01-17, Software companies, top 5 by revenue.
//!
//! Run: `cargo run -p bazof-examples --example polars_financials`

use std::path::PathBuf;

use bazof_polars::{scan_bazof, ScanArgsBazof};
use polars::prelude::*;

type Error = Box<dyn std::error::Error + Send + Sync>;

pub fn main() -> Result<(), Error> {
    // test-data/financials: a table written by bazof 0.2 (2000-2021 company figures).
    let table = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-data/financials");
    let location = table.canonicalize()?.to_string_lossy().into_owned();

    // SELECT key AS symbol, revenue, net_income FROM financials AT ('2019-01-17')
    //  WHERE industry IN ('Software') ORDER BY revenue DESC LIMIT 5
    let top = scan_bazof(
        &location,
        ScanArgsBazof::default().with_as_of_str("2019-01-17")?,
    )?
    .filter(col("industry").eq(lit("Software")))
    .sort(
        ["revenue"],
        SortMultipleOptions::default().with_order_descending(true),
    )
    .select([
        col("key").alias("symbol"),
        col("revenue"),
        col("net_income"),
    ])
    .limit(5)
    .collect()?;
    println!("{top}");
    assert_eq!(top.height(), 5);
    let revenue: Vec<i64> = top.column("revenue")?.i64()?.into_no_null_iter().collect();
    assert!(
        revenue.windows(2).all(|w| w[0] >= w[1]),
        "sorted by revenue"
    );
    Ok(())
}
