//! A point-in-time join in Polars: orders joined with `scan_bazof_history` on the
//! customer and the interval `valid_from <= at < valid_to`, checked against one
//! `scan_bazof` as of each order's time; then the same with Polars' `join_asof` (by
//! customer, backward, equal times matching). The data: `src/pit_data.rs` (a late
//! upgrade and a deletion). Versions of a key never overlap, so at most one matches.
//!
//! Run: `cargo run -p bazof-examples --example polars_point_in_time`

use bazof::HistoryOptions;
use bazof_examples::pit_data::{self, micros, Error, ORDERS};
use bazof_polars::{scan_bazof, scan_bazof_history, ScanArgsBazof};
use polars::prelude::*;

fn utc() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

/// The (order id, tier) pairs of a joined frame, in row order.
fn tiers_by_order(df: &DataFrame) -> Result<Vec<(String, Option<String>)>, Error> {
    let ids = df.column("id")?.str()?;
    let tiers = df.column("tier")?.str()?;
    Ok((0..df.height())
        .map(|r| {
            let id = ids.get(r).unwrap_or_default().to_string();
            (id, tiers.get(r).map(String::from))
        })
        .collect())
}

pub fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let location = dir.path().join("customers").to_string_lossy().into_owned();
    pit_data::write_customers(&location)?;

    let times = ORDERS
        .iter()
        .map(|o| micros(o.2))
        .collect::<Result<Vec<i64>, _>>()?;
    let orders = df!(
        "id" => ORDERS.iter().map(|o| o.0).collect::<Vec<_>>(),
        "customer" => ORDERS.iter().map(|o| o.1).collect::<Vec<_>>(),
        "at" => times,
    )?
    .lazy()
    .with_column(col("at").cast(utc()));

    // The version in effect at the order's time: same customer, valid_from <= at <
    // valid_to (null valid_to: still current). A deletion leaves a gap: no tier.
    let history = scan_bazof_history(&location, HistoryOptions::default())?;
    let in_effect = orders
        .clone()
        .join(
            history,
            [col("customer")],
            [col("key")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(
            col("valid_from")
                .lt_eq(col("at"))
                .and(col("valid_to").is_null().or(col("at").lt(col("valid_to")))),
        )
        .select([col("id"), col("tier")]);
    let joined = orders
        .clone()
        .select([col("id")])
        .join(
            in_effect,
            [col("id")],
            [col("id")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["id"], SortMultipleOptions::default())
        .collect()?;
    println!("{joined}");

    let got = tiers_by_order(&joined)?;

    // The naive join: one as-of scan per order.
    let mut naive = Vec::new();
    let mut sorted = ORDERS.to_vec();
    sorted.sort();
    for (id, customer, at) in sorted {
        let df = scan_bazof(&location, ScanArgsBazof::default().with_as_of_str(at)?)?
            .filter(col("key").eq(lit(customer)))
            .collect()?;
        let tier = match df.height() {
            0 => None,
            _ => df.column("tier")?.str()?.get(0).map(String::from),
        };
        naive.push((id.to_string(), tier));
    }
    assert_eq!(
        got, naive,
        "the interval join equals one as-of scan per order"
    );
    pit_data::check_story(|id| got.iter().find(|r| r.0 == id).and_then(|r| r.1.clone()));

    // The same with Polars' join_asof: per customer, the latest version starting at or
    // before the order; a version that ended before it (a deletion's gap) gives no tier.
    let asof = orders
        .sort(["at"], SortMultipleOptions::default())
        .join(
            scan_bazof_history(&location, HistoryOptions::default())?
                .sort(["valid_from"], SortMultipleOptions::default()),
            [col("at")],
            [col("valid_from")],
            JoinArgs::new(JoinType::AsOf(Box::new(AsOfOptions {
                strategy: AsofStrategy::Backward,
                left_by: Some(vec!["customer".into()]),
                right_by: Some(vec!["key".into()]),
                allow_eq: true,
                ..Default::default()
            }))),
        )
        .select([
            col("id"),
            when(col("valid_to").is_null().or(col("at").lt(col("valid_to"))))
                .then(col("tier"))
                .otherwise(lit(NULL))
                .alias("tier"),
        ])
        .sort(["id"], SortMultipleOptions::default())
        .collect()?;
    let got_asof = tiers_by_order(&asof)?;
    assert_eq!(got_asof, naive, "join_asof equals one as-of scan per order");
    Ok(())
}
