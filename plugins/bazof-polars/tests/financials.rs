//! The seed's headline query on the legacy financials table (bazof 0.2, read in
//! place), checked against the core scan's answer computed with arrow alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow::array::{Array, Int64Array, StringArray};
use bazof::{ScanOptions, Table};
use bazof_polars::{scan_bazof, ScanArgsBazof};
use polars::prelude::*;

fn financials() -> String {
    bazof_testkit::fixture("financials")
        .to_string_lossy()
        .into_owned()
}

/// As of 2019-01-17, Software companies, top 5 by revenue: (symbol, revenue, net_income).
fn with_arrow(location: &str) -> Vec<(String, i64, i64)> {
    let as_of = bazof_polars::parse_as_of("2019-01-17").unwrap();
    let batches = bazof_testkit::block_on(async {
        let table = Table::open(location).await.unwrap();
        let opts = ScanOptions::default().with_as_of(as_of).with_columns([
            "key",
            "industry",
            "revenue",
            "net_income",
        ]);
        table
            .scan(opts)
            .await
            .unwrap()
            .collect_batches()
            .await
            .unwrap()
    });
    let mut rows = Vec::new();
    for b in &batches {
        let col = |i: usize| b.column(i).clone();
        let (key, industry, revenue, net) = (col(0), col(1), col(2), col(3));
        let key = key.as_any().downcast_ref::<StringArray>().unwrap();
        let industry = industry.as_any().downcast_ref::<StringArray>().unwrap();
        let revenue = revenue.as_any().downcast_ref::<Int64Array>().unwrap();
        let net = net.as_any().downcast_ref::<Int64Array>().unwrap();
        for r in 0..b.num_rows() {
            if industry.is_valid(r) && industry.value(r) == "Software" {
                rows.push((key.value(r).to_string(), revenue.value(r), net.value(r)));
            }
        }
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rows.truncate(5);
    rows
}

#[test]
fn headline_query_matches_the_core_scan() {
    let location = financials();
    let expected = with_arrow(&location);
    assert_eq!(expected.len(), 5);
    let args = ScanArgsBazof::default()
        .with_as_of_str("2019-01-17")
        .unwrap();
    let df = scan_bazof(&location, args)
        .unwrap()
        .filter(col("industry").eq(lit("Software")))
        .sort_by_exprs(
            [col("revenue"), col("key")],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .select([
            col("key").alias("symbol"),
            col("revenue"),
            col("net_income"),
        ])
        .limit(5)
        .collect()
        .unwrap();
    eprintln!("{df}");
    let got: Vec<(String, i64, i64)> = (0..df.height())
        .map(|i| {
            (
                df.column("symbol")
                    .unwrap()
                    .str()
                    .unwrap()
                    .get(i)
                    .unwrap()
                    .to_string(),
                df.column("revenue").unwrap().i64().unwrap().get(i).unwrap(),
                df.column("net_income")
                    .unwrap()
                    .i64()
                    .unwrap()
                    .get(i)
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
}
