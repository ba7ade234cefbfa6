//! The point-in-time join (issue 16): orders, each with a random customer (key) and
//! a random time within the events' span, joined with the customer's row as it was
//! at the order's own time, through DuckDB and Polars, from bazof's history and from
//! the raw events.
//!
//! * bazof: `ASOF JOIN bazof_history(t)` in DuckDB, `join_asof` on
//!   `scan_bazof_history` in Polars (by key, backward, equal times matching); the
//!   match counts while the order lies before `valid_to` (a tombstone ends a version).
//! * raw: what a user writes over the raw events: keep the winner of equal event
//!   times (the later commit, then the later row), join as of the order's time, and
//!   null the match when it is a deletion.
//!
//! The answer: orders, orders matched, the sum of the matched `qty`, the distinct
//! matched categories.

use std::time::Instant;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::HistoryOptions;
use duckdb::vtab::arrow::ArrowBatchRegistration;
use polars::prelude::*;

use crate::gen::{key_name, Meta, Rng};
use crate::queries::{Answer, BoxError, CellOutcome, Engine};

/// Orders joined: five per customer, at most a million (the 1M facts
/// against a 200k-key dimension).
pub fn order_count(meta: &Meta) -> usize {
    (meta.config.keys * 5).min(1_000_000)
}

/// The orders (id, customer, placed_at), the same for every cell.
fn orders(meta: &Meta) -> Result<RecordBatch, BoxError> {
    let n = order_count(meta);
    let mut rng = Rng::new(7);
    let span = (meta.t_end_us - meta.t0_us).max(1) as u64;
    let customers: Vec<String> = (0..n)
        .map(|_| key_name(rng.below(meta.config.keys as u64) as usize))
        .collect();
    let times: Vec<i64> = (0..n)
        .map(|_| meta.t0_us + rng.below(span) as i64)
        .collect();
    Ok(RecordBatch::try_from_iter([
        (
            "id",
            std::sync::Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
        ),
        (
            "customer",
            std::sync::Arc::new(StringArray::from(customers)) as ArrayRef,
        ),
        (
            "placed_at",
            std::sync::Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC"))
                as ArrayRef,
        ),
    ])?)
}

const DUCKDB_CHECK: &str = "SELECT count(*)::BIGINT, count(c_qty)::BIGINT, \
    coalesce(sum(c_qty), 0)::BIGINT, count(DISTINCT c_category)::BIGINT FROM";

/// Runs the join through engine `e`; `Ok(None)` for engines it does not apply to.
pub fn run_cell(e: Engine, meta: &Meta) -> Result<Option<CellOutcome>, BoxError> {
    let orders = orders(meta)?;
    let (answer, wall_ms) = match e {
        Engine::DuckdbBazof | Engine::DuckdbParquet => {
            bazof_duckdb::install()?;
            let con = duckdb::Connection::open_in_memory()?;
            bazof_duckdb::register(&con)?;
            // The orders as a DuckDB table, as a user would have them (an Arrow scan has
            // no statistics, and DuckDB then plans the ASOF JOIN as a nested loop).
            con.register_table_function::<duckdb::vtab::arrow::ArrowVTab>("bench_orders")?;
            con.execute(
                "CREATE TABLE orders AS SELECT * FROM bench_orders(?)",
                [&ArrowBatchRegistration::new(orders)],
            )?;
            let start = Instant::now();
            let (raw, regs) = match e {
                Engine::DuckdbParquet => {
                    crate::queries::duckdb_parquet_source(&con, &meta.raw_files, false)?
                }
                _ => (String::new(), Vec::new()),
            };
            let sql = if e == Engine::DuckdbBazof {
                format!(
                    "{DUCKDB_CHECK} (SELECT CASE WHEN live THEN qty END AS c_qty, \
                       CASE WHEN live THEN category END AS c_category \
                     FROM (SELECT h.qty, h.category, \
                             (h.valid_to IS NULL OR o.placed_at < h.valid_to) AS live \
                           FROM orders o ASOF LEFT JOIN bazof_history('{}') h \
                             ON o.customer = h.key AND o.placed_at >= h.valid_from))",
                    meta.table
                )
            } else {
                format!(
                    "{DUCKDB_CHECK} (WITH ev AS (SELECT * FROM {raw} \
                       QUALIFY row_number() OVER (PARTITION BY key, event_time \
                         ORDER BY \"commit\" DESC, \"row\" DESC) = 1) \
                     SELECT CASE WHEN e.deleted THEN NULL ELSE e.qty END AS c_qty, \
                       CASE WHEN e.deleted THEN NULL ELSE e.category END AS c_category \
                     FROM orders o ASOF LEFT JOIN ev e \
                       ON o.customer = e.key AND o.placed_at >= e.event_time)"
                )
            };
            let got = con.query_row(&sql, duckdb::params_from_iter(regs.iter()), |r| {
                (0..4)
                    .map(|i| r.get::<_, i64>(i))
                    .collect::<Result<Vec<_>, _>>()
            })?;
            (got, start.elapsed().as_secs_f64() * 1000.0)
        }
        Engine::PolarsBazof | Engine::PolarsParquet => {
            let orders = bazof_polars::batch_to_frame(&orders)?
                .lazy()
                .sort(["placed_at"], SortMultipleOptions::default());
            let start = Instant::now();
            let asof = |left: LazyFrame, right: LazyFrame, on: &str, by: &str| {
                left.join(
                    right,
                    [col("placed_at")],
                    [col(on)],
                    JoinArgs::new(JoinType::AsOf(Box::new(AsOfOptions {
                        strategy: AsofStrategy::Backward,
                        left_by: Some(vec!["customer".into()]),
                        right_by: Some(vec![by.into()]),
                        allow_eq: true,
                        ..Default::default()
                    }))),
                )
            };
            let matched = if e == Engine::PolarsBazof {
                let history =
                    bazof_polars::scan_bazof_history(&meta.table, HistoryOptions::default())?
                        .sort(["valid_from"], SortMultipleOptions::default());
                let live = col("valid_to")
                    .is_null()
                    .or(col("placed_at").lt(col("valid_to")));
                asof(orders, history, "valid_from", "key").select([
                    when(live.clone())
                        .then(col("qty"))
                        .otherwise(lit(NULL))
                        .alias("c_qty"),
                    when(live)
                        .then(col("category"))
                        .otherwise(lit(NULL))
                        .alias("c_category"),
                ])
            } else {
                let events = crate::queries::polars_parquet_source(&meta.raw_files, false)?
                    .sort(
                        ["key", "event_time", "commit", "row"],
                        SortMultipleOptions::default(),
                    )
                    .unique_stable_generic(
                        Some(vec![col("key"), col("event_time")]),
                        UniqueKeepStrategy::Last,
                    )
                    .sort(["event_time"], SortMultipleOptions::default());
                let dead = col("deleted").fill_null(lit(false));
                asof(orders, events, "event_time", "key").select([
                    when(dead.clone())
                        .then(lit(NULL))
                        .otherwise(col("qty"))
                        .alias("c_qty"),
                    when(dead)
                        .then(lit(NULL))
                        .otherwise(col("category"))
                        .alias("c_category"),
                ])
            };
            let df = matched
                .select([
                    len().cast(DataType::Int64).alias("n"),
                    col("c_qty").count().cast(DataType::Int64).alias("m"),
                    col("c_qty").sum().cast(DataType::Int64).alias("s"),
                    col("c_category")
                        .drop_nulls()
                        .n_unique()
                        .cast(DataType::Int64)
                        .alias("c"),
                ])
                .collect()?;
            let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
            let got = ["n", "m", "s", "c"]
                .iter()
                .map(|c| Ok(df.column(c)?.i64()?.get(0).unwrap_or(0)))
                .collect::<Result<Vec<i64>, BoxError>>()?;
            (got, wall_ms)
        }
        _ => return Ok(None),
    };
    Ok(Some(CellOutcome {
        answer: Answer {
            ints: answer,
            float: 0.0,
        },
        wall_ms,
        bytes: None,
        note: format!("{} orders", order_count(meta)),
        aggregate_ms: None,
    }))
}
