//! `write_bazof`: random logs written through Polars (one `DataFrame` or `LazyFrame`
//! per commit, schemas evolving mid-history) are read back through the core and the
//! Polars door and equal DESIGN §1's oracle; bad input is refused with a clear error and
//! leaves the table byte-for-byte unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof_polars::{batch_to_frame, scan_bazof, write_bazof, ScanArgsBazof, WriteArgs};
use bazof_testkit::conformance::{run_written, Door, Query, Suite};
use bazof_testkit::{batch_rows, to_batch, tree_bytes, Log, Value};
use polars::prelude::*;

/// The marker column under a user's name, to exercise `WriteArgs::deleted`.
const GONE: &str = "gone";

/// Writes every commit of a log through `write_bazof`: even commits as a `DataFrame`
/// (in chunks of 3 rows), odd ones as a `LazyFrame`.
fn write_log(location: &str, log: &Log) {
    for i in 0..log.commits.len() {
        let schema = log.schema_at(Some(i as u64 + 1));
        let batch = to_batch(schema, &log.commits[i]);
        let mut df = batch_to_frame(&batch).unwrap();
        df.rename(bazof::DELETED_COLUMN, GONE.into()).unwrap();
        let args = WriteArgs {
            key: schema.key.clone(),
            event_time: schema.event_time.clone(),
            deleted: Some(GONE.into()),
            evolve: true,
        };
        let info = if i % 2 == 0 {
            let chunks: Vec<DataFrame> = (0..df.height())
                .step_by(3)
                .map(|o| df.slice(o as i64, 3))
                .collect();
            // Several chunks, as a frame built by `vstack` has.
            let df = chunks
                .into_iter()
                .reduce(|mut a, b| {
                    a.vstack_mut(&b).unwrap();
                    a
                })
                .unwrap_or(df);
            write_bazof(df, location, args).unwrap()
        } else {
            write_bazof(df.lazy().filter(lit(true)), location, args).unwrap()
        };
        assert_eq!(info.commit, i as u64 + 1);
    }
}

/// Scans through the core and through `scan_bazof`; both must agree.
struct CoreAndPolars;

impl Door for CoreAndPolars {
    fn name(&self) -> &str {
        "core+Polars over write_bazof"
    }
    fn location(&mut self) -> String {
        common::fresh("write")
    }
    fn scan(&mut self, location: &str, _log: &Log, q: &Query) -> Vec<Vec<Value>> {
        let core = bazof::blocking::block_on(async {
            let t = bazof::Table::open(location).await?;
            t.scan(q.options()).await?.collect_batches().await
        })
        .unwrap();
        let core = batch_rows(&core);
        assert_eq!(
            common::scan(location, q),
            core,
            "Polars and core disagree on {q:?}"
        );
        core
    }
}

#[test]
fn write_bazof_equals_oracle_with_evolving_schemas() {
    let checked = run_written(
        &mut CoreAndPolars,
        &mut write_log,
        Suite {
            logs: 60,
            evolve: true,
            ..Suite::default()
        },
    );
    assert_eq!(checked, 240);
}

fn frame() -> DataFrame {
    df!(
        "id" => ["a", "b"],
        "ts" => [1i64, 2],
        "v" => [1.5f64, 2.5],
    )
    .unwrap()
    .lazy()
    .with_column(col("ts").cast(DataType::Datetime(
        TimeUnit::Microseconds,
        Some(TimeZone::UTC),
    )))
    .collect()
    .unwrap()
}

fn args() -> WriteArgs {
    WriteArgs {
        key: "id".into(),
        event_time: "ts".into(),
        ..Default::default()
    }
}

#[test]
fn the_first_write_creates_the_table_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t").to_str().unwrap().to_string();
    let info = write_bazof(frame(), &loc, args()).unwrap();
    assert_eq!((info.commit, info.rows), (1, 2));
    let before = tree_bytes(dir.path());
    let bad = |df: DataFrame, a: WriteArgs, want: &str| {
        let err = write_bazof(df, &loc, a).unwrap_err().to_string();
        assert!(err.contains(want), "{err}\nwanted: {want}");
        assert_eq!(tree_bytes(dir.path()), before, "{want}");
    };
    let mut f = frame();
    f.rename("id", "name".into()).unwrap();
    bad(
        f,
        args(),
        "the key column 'id' is not in the input (it has name, ts, v)",
    );
    let f = frame()
        .lazy()
        .with_column(col("v").cast(DataType::String))
        .collect()
        .unwrap();
    bad(f, args(), "column 'v': expected Float64, found Utf8View");
    let f = frame()
        .lazy()
        .with_column(lit(3i64).alias("extra"))
        .collect()
        .unwrap();
    bad(
        f,
        args(),
        "the input has columns the table lacks: 'extra'; allow schema evolution",
    );
    let f = frame()
        .lazy()
        .with_column(col("ts").cast(DataType::Int64))
        .collect()
        .unwrap();
    bad(
        f,
        args(),
        "the event-time column 'ts' has type Int64; it must be a timestamp or a date",
    );
    let f = frame()
        .lazy()
        .with_column(
            when(col("id").eq(lit("b")))
                .then(lit(NULL))
                .otherwise(col("id"))
                .alias("id"),
        )
        .collect()
        .unwrap();
    bad(f, args(), "column 'id' is not nullable but row 2 is null");
    let f = frame()
        .lazy()
        .with_column(
            when(col("id").eq(lit("a")))
                .then(lit(NULL).cast(DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                )))
                .otherwise(col("ts"))
                .alias("ts"),
        )
        .collect()
        .unwrap();
    bad(f, args(), "column 'ts' is not nullable but row 1 is null");
    let f = frame()
        .lazy()
        .with_column(lit("yes").alias("del"))
        .collect()
        .unwrap();
    bad(
        f,
        WriteArgs {
            deleted: Some("del".into()),
            ..args()
        },
        "the deletion column 'del' has type Utf8View; it must be Boolean",
    );
    // With evolution, the new column is added and the old rows read it as null.
    let f = frame()
        .lazy()
        .with_column(lit("x").alias("extra"))
        .filter(col("id").eq(lit("a")))
        .collect()
        .unwrap();
    write_bazof(
        f,
        &loc,
        WriteArgs {
            evolve: true,
            ..args()
        },
    )
    .unwrap();
    let df = scan_bazof(&loc, ScanArgsBazof::default())
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(
        common::rows(&df.select(["id", "extra"]).unwrap()),
        vec![
            vec![Value::Str("a".into()), Value::Str("x".into())],
            vec![Value::Str("b".into()), Value::Null],
        ]
    );
}
