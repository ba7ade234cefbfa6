//! A point-in-time join in DuckDB: every order gets the customer's tier *at the
//! order's own time*, from `bazof_history` and DuckDB's `ASOF JOIN`, and the answer
//! equals a naive join that asks `bazof_scan` as of each order's time, row by row.
//! The data: `src/pit_data.rs` (a late upgrade and a deletion).
//!
//! Run: `cargo run -p bazof-examples --example duckdb_point_in_time`

use bazof_examples::pit_data::{self, Error, ORDERS};

pub fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let location = dir.path().join("customers").to_string_lossy().into_owned();
    pit_data::write_customers(&location)?;

    let con = duckdb::Connection::open_in_memory()?;
    bazof_duckdb::register(&con)?;
    con.execute_batch("CREATE TABLE orders (id VARCHAR, customer VARCHAR, placed_at TIMESTAMPTZ)")?;
    for (id, customer, at) in ORDERS {
        con.execute(
            "INSERT INTO orders VALUES (?, ?, CAST(? AS TIMESTAMPTZ))",
            [id, customer, at],
        )?;
    }

    // The point-in-time join: the version in effect at the order's time, if any
    // (a version ends at valid_to: a deletion leaves a gap).
    let mut stmt = con.prepare(&format!(
        "SELECT o.id, CASE WHEN h.valid_to IS NULL OR o.placed_at < h.valid_to THEN h.tier END AS tier
         FROM orders o ASOF LEFT JOIN bazof_history('{location}') h
           ON o.customer = h.key AND o.placed_at >= h.valid_from
         ORDER BY o.id"
    ))?;
    let joined: Vec<(String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;

    // The naive join: one as-of scan per order.
    let mut naive = Vec::new();
    let mut sorted = ORDERS.to_vec();
    sorted.sort();
    for (id, customer, at) in sorted {
        let tier: Option<String> = con
            .query_row(
                &format!(
                    "SELECT max(tier) FROM bazof_scan('{location}', as_of => '{at}', keys => ['{customer}'])"
                ),
                [],
                |r| r.get(0),
            )?;
        naive.push((id.to_string(), tier));
    }
    for (id, tier) in &joined {
        println!("{id}: {}", tier.as_deref().unwrap_or("-"));
    }
    assert_eq!(
        joined, naive,
        "the ASOF JOIN equals one as-of scan per order"
    );
    pit_data::check_story(|id| joined.iter().find(|r| r.0 == id).and_then(|r| r.1.clone()));
    Ok(())
}
