//! Pushdowns are real (measured with the core's metrics) and never change an answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use bazof::{ColumnDef, ColumnType, KeyPredicate, KeyType, KeyValue, Table, TableSchema};
use bazof_polars::{scan_bazof, ScanArgsBazof, ScanReport, ScanReportSink};
use polars::prelude::*;

fn ts(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

fn times(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

/// ACME was Software, then became Retail; INIT is Software throughout.
fn industries() -> String {
    let location = common::fresh("industries");
    let schema = TableSchema::new(
        KeyType::String,
        vec![
            ColumnDef::new("industry", ColumnType::String),
            ColumnDef::new("revenue", ColumnType::Int),
        ],
    );
    bazof_testkit::block_on(async {
        let table = Table::create(&location, schema).await.unwrap();
        table
            .commit(&[batch(vec![
                (
                    "key",
                    Arc::new(StringArray::from(vec!["ACME", "ACME", "INIT"])) as _,
                ),
                (
                    "event_time",
                    times(vec![
                        ts("2019-01-01T00:00:00Z"),
                        ts("2019-02-01T00:00:00Z"),
                        ts("2019-01-05T00:00:00Z"),
                    ]),
                ),
                (
                    "industry",
                    Arc::new(StringArray::from(vec!["Software", "Retail", "Software"])) as _,
                ),
                (
                    "revenue",
                    Arc::new(Int64Array::from(vec![100, 200, 50])) as _,
                ),
                (
                    "_bazof_deleted",
                    Arc::new(BooleanArray::from(vec![false, false, false])) as _,
                ),
            ])])
            .await
            .unwrap();
    });
    location
}

fn keys(df: &DataFrame) -> Vec<String> {
    df.column("key")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(String::from)
        .collect()
}

fn sink() -> ScanReportSink {
    Arc::new(Mutex::new(Vec::new()))
}

fn last_report(sink: &ScanReportSink) -> ScanReport {
    sink.lock().unwrap().last().cloned().expect("the scan ran")
}

#[test]
fn a_value_filter_never_resurrects_an_older_row() {
    let location = industries();
    let software = || col("industry").eq(lit("Software"));
    let report = sink();
    // Now: ACME's newest row is Retail, so only INIT is Software.
    let now = scan_bazof(
        &location,
        ScanArgsBazof::default().with_report(report.clone()),
    )
    .unwrap()
    .filter(software())
    .collect()
    .unwrap();
    assert_eq!(keys(&now), ["INIT"]);
    let r = last_report(&report);
    assert!(
        r.polars_predicate.is_some(),
        "the predicate was pushed into the scan"
    );
    assert_eq!(
        r.options.key_predicate, None,
        "a value predicate must not prune before resolution"
    );
    assert_eq!(r.rows_resolved, 2);
    // With a key conjunct the key part prunes, the value part still runs after resolution.
    let acme = scan_bazof(
        &location,
        ScanArgsBazof::default().with_report(report.clone()),
    )
    .unwrap()
    .filter(col("key").eq(lit("ACME")).and(software()))
    .collect()
    .unwrap();
    assert_eq!(acme.height(), 0);
    assert_eq!(
        last_report(&report).options.key_predicate,
        Some(KeyPredicate::Eq(KeyValue::String("ACME".into())))
    );
    // On 2019-01-17 ACME was still Software.
    let past = scan_bazof(
        &location,
        ScanArgsBazof::default()
            .with_as_of_str("2019-01-17")
            .unwrap(),
    )
    .unwrap()
    .filter(software())
    .collect()
    .unwrap();
    assert_eq!(keys(&past), ["ACME", "INIT"]);

    // Top-k: Polars adds a dynamic "could still be in the top k" predicate to the scan.
    let top = scan_bazof(
        &location,
        ScanArgsBazof::default().with_report(report.clone()),
    )
    .unwrap()
    .filter(software())
    .sort(
        ["revenue"],
        SortMultipleOptions::default().with_order_descending(true),
    )
    .limit(1)
    .collect()
    .unwrap();
    assert_eq!(keys(&top), ["INIT"]);
}

#[test]
fn schema_comes_from_the_snapshot() {
    let location = industries();
    let schema = scan_bazof(&location, ScanArgsBazof::default())
        .unwrap()
        .collect_schema()
        .unwrap();
    let got: Vec<(String, DataType)> = schema
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("key".into(), DataType::String),
            (
                "event_time".into(),
                DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            ),
            ("industry".into(), DataType::String),
            ("revenue".into(), DataType::Int64),
        ]
    );
    assert!(scan_bazof("memory://polars-nowhere/none", ScanArgsBazof::default()).is_err());
    assert!(scan_bazof(&location, ScanArgsBazof::default().with_snapshot(7)).is_err());
}

/// A damaged data file (12 bytes overwritten, at every fifth offset) makes `collect`
/// fail with an error naming the file, or answer where only values changed; never
/// panic (parquet-rs's decoders panic on some damage; the core turns that into the
/// file's error).
#[test]
fn a_damaged_data_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_string_lossy().into_owned();
    let victim = bazof_testkit::damage::one_file_table(&location);
    bazof_testkit::damage::at_every_offset(&victim, 5, || {
        scan_bazof(&location, ScanArgsBazof::default())
            .and_then(|lf| lf.collect())
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

/// 200 000 Int keys in one commit (4 row groups of 64Ki rows), plus 2 small commits
/// with other key ranges; a wide text column and a narrow int column.
fn wide_table() -> String {
    let location = common::fresh("wide");
    let schema = TableSchema::new(
        KeyType::Int,
        vec![
            ColumnDef::new("narrow", ColumnType::Int),
            ColumnDef::new("wide", ColumnType::String),
        ],
    );
    let events = |keys: std::ops::Range<i64>| {
        let n = (keys.end - keys.start) as usize;
        batch(vec![
            (
                "key",
                Arc::new(Int64Array::from_iter_values(keys.clone())) as _,
            ),
            ("event_time", times(vec![ts("2020-01-01T00:00:00Z"); n])),
            (
                "narrow",
                Arc::new(Int64Array::from_iter_values(keys.clone().map(|k| k % 7))) as _,
            ),
            (
                "wide",
                Arc::new(StringArray::from_iter_values(
                    keys.map(|k| format!("{k:>12}-a-fairly-long-payload-{}", k * 31)),
                )) as _,
            ),
        ])
    };
    bazof_testkit::block_on(async {
        let table = Table::create(&location, schema).await.unwrap();
        table.commit(&[events(0..200_000)]).await.unwrap();
        table.commit(&[events(1_000_000..1_001_000)]).await.unwrap();
        table.commit(&[events(2_000_000..2_001_000)]).await.unwrap();
    });
    location
}

#[test]
fn projection_and_key_predicates_cut_the_work() {
    let location = wide_table();
    let report = sink();
    let args = ScanArgsBazof::default().with_report(report.clone());

    // Projection: narrow vs wide.
    let narrow = scan_bazof(&location, args.clone())
        .unwrap()
        .select([col("narrow").sum()])
        .collect()
        .unwrap();
    let n = last_report(&report);
    let all = scan_bazof(&location, args.clone())
        .unwrap()
        .collect()
        .unwrap();
    let w = last_report(&report);
    assert_eq!(n.decoded_columns, ["key", "event_time", "narrow"]);
    assert_eq!(w.decoded_columns, ["key", "event_time", "narrow", "wide"]);
    // key and event time are always decoded (resolution needs them); `wide` is the rest.
    assert!(
        n.bytes_decoded * 3 < w.bytes_decoded * 2,
        "narrow {} vs wide {}",
        n.bytes_decoded,
        w.bytes_decoded
    );
    assert_eq!(all.height(), 202_000);
    assert_eq!(narrow.height(), 1);
    eprintln!(
        "projection: narrow decoded {} bytes ({:?}), wide {} bytes ({:?})",
        n.bytes_decoded, n.decoded_columns, w.bytes_decoded, w.decoded_columns
    );

    // Key predicate: one key of the big file; the other files are skipped by key range.
    let one = scan_bazof(&location, args.clone())
        .unwrap()
        .filter(
            col("key")
                .eq(lit(150_000i64))
                .and(col("narrow").gt_eq(lit(0i64))),
        )
        .select([col("key"), col("wide")])
        .collect()
        .unwrap();
    assert_eq!(one.height(), 1);
    let k = last_report(&report);
    assert_eq!(
        k.options.key_predicate,
        Some(KeyPredicate::Eq(KeyValue::Int(150_000)))
    );
    assert_eq!(k.files_read, 1);
    assert_eq!(k.files_skipped, 2);
    assert_eq!(k.row_groups_read, 1);
    assert_eq!(k.row_groups_skipped, 3);
    // ... and inside that row group only the page(s) holding the key (page index).
    assert!(
        k.rows_decoded <= 2 * bazof::PAGE_ROWS as u64,
        "{} rows decoded",
        k.rows_decoded
    );
    eprintln!(
        "key ==: files read {} skipped {}, row groups read {} skipped {}, rows decoded {} of 202000, bytes {}",
        k.files_read, k.files_skipped, k.row_groups_read, k.row_groups_skipped, k.rows_decoded, k.bytes_decoded
    );

    // A between on the key across two files.
    let between = scan_bazof(&location, args.clone())
        .unwrap()
        .filter(
            col("key")
                .gt_eq(lit(199_990i64))
                .and(col("key").lt_eq(lit(1_000_004i64))),
        )
        .collect()
        .unwrap();
    assert_eq!(between.height(), 15);
    let b = last_report(&report);
    assert_eq!((b.files_read, b.files_skipped), (2, 1));
    assert_eq!(b.row_groups_skipped, 3);

    // is_in
    let list = Series::new("".into(), [5i64, 2_000_000]);
    let r#in = scan_bazof(&location, args.clone())
        .unwrap()
        .filter(col("key").is_in(lit(list).implode(false), false))
        .collect()
        .unwrap();
    assert_eq!(
        r#in.column("key")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect::<Vec<_>>(),
        [5, 2_000_000]
    );
    assert_eq!(last_report(&report).files_skipped, 1);
}

#[test]
fn head_becomes_the_core_limit_only_without_a_filter() {
    let location = wide_table();
    let report = sink();
    let args = ScanArgsBazof::default().with_report(report.clone());
    let head = scan_bazof(&location, args.clone())
        .unwrap()
        .limit(3)
        .collect()
        .unwrap();
    assert_eq!(
        head.column("key")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let r = last_report(&report);
    assert_eq!(r.options.limit, Some(3));
    assert_eq!(r.rows_resolved, 3, "reading stopped early");

    // Filter then head: Polars keeps the slice above the filter; the answer is right.
    let filtered = scan_bazof(&location, args.clone())
        .unwrap()
        .filter(col("narrow").eq(lit(6i64)))
        .limit(2)
        .collect()
        .unwrap();
    assert_eq!(
        filtered
            .column("key")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect::<Vec<_>>(),
        [6, 13]
    );
    assert_eq!(last_report(&report).options.limit, None);

    // Head then filter: the first 3 rows, then the filter (Polars' slice-then-predicate order).
    let first_then_filter = scan_bazof(&location, args.clone())
        .unwrap()
        .limit(3)
        .filter(col("narrow").eq(lit(6i64)))
        .collect()
        .unwrap();
    assert_eq!(first_then_filter.height(), 0);

    // Head then a key filter: the key predicate must not prune (it would change which
    // rows are the first 3); found by the oracle test.
    let first_then_key = scan_bazof(
        &location,
        ScanArgsBazof::default().with_report(report.clone()),
    )
    .unwrap()
    .limit(3)
    .filter(col("key").gt_eq(lit(100i64)))
    .collect()
    .unwrap();
    assert_eq!(first_then_key.height(), 0);
    let r = last_report(&report);
    assert_eq!((r.options.limit, r.options.key_predicate), (Some(3), None));
}

#[test]
fn counting_rows_reads_no_value_column() {
    let location = wide_table();
    let report = sink();
    let count = scan_bazof(
        &location,
        ScanArgsBazof::default().with_report(report.clone()),
    )
    .unwrap()
    .select([len()])
    .collect()
    .unwrap();
    assert_eq!(
        count
            .column("len")
            .unwrap()
            .get(0)
            .unwrap()
            .extract::<u64>(),
        Some(202_000)
    );
    assert_eq!(last_report(&report).decoded_columns, ["key", "event_time"]);
}

#[test]
fn int_keys_nulls_and_utc_survive() {
    let location = common::fresh("types");
    let schema = TableSchema::new(
        KeyType::Int,
        vec![
            ColumnDef::new("when", ColumnType::DateTime),
            ColumnDef::new("ok", ColumnType::Boolean),
        ],
    );
    bazof_testkit::block_on(async {
        let table = Table::create(&location, schema).await.unwrap();
        table
            .commit(&[batch(vec![
                ("key", Arc::new(Int64Array::from(vec![-3, 4])) as _),
                ("event_time", times(vec![1, 2])),
                (
                    "when",
                    Arc::new(
                        TimestampMicrosecondArray::from(vec![None, Some(5)]).with_timezone("UTC"),
                    ) as _,
                ),
                (
                    "ok",
                    Arc::new(BooleanArray::from(vec![Some(true), None])) as _,
                ),
            ])])
            .await
            .unwrap();
    });
    let df = scan_bazof(&location, ScanArgsBazof::default())
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(
        common::rows(&df),
        vec![
            vec![
                bazof_testkit::Value::Int(-3),
                bazof_testkit::Value::Time(1),
                bazof_testkit::Value::Null,
                bazof_testkit::Value::Bool(true)
            ],
            vec![
                bazof_testkit::Value::Int(4),
                bazof_testkit::Value::Time(2),
                bazof_testkit::Value::Time(5),
                bazof_testkit::Value::Null
            ],
        ]
    );
    assert_eq!(
        df.column("when").unwrap().dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    );
}

#[test]
fn collect_works_inside_an_async_runtime() {
    let location = industries();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // An async `main` calling Polars' synchronous API: the scan must not try to block
    // this runtime's worker thread.
    let height = rt.block_on(async {
        scan_bazof(&location, ScanArgsBazof::default())
            .unwrap()
            .collect()
            .unwrap()
            .height()
    });
    assert_eq!(height, 2);
}

#[test]
fn bitemporal_as_of_and_snapshot() {
    let location = industries();
    // A second commit: a late event dated 2019-01-10 moves INIT to Retail.
    bazof_testkit::block_on(async {
        let table = Table::open(&location).await.unwrap();
        table
            .commit(&[batch(vec![
                ("key", Arc::new(StringArray::from(vec!["INIT"])) as _),
                ("event_time", times(vec![ts("2019-01-10T00:00:00Z")])),
                ("industry", Arc::new(StringArray::from(vec!["Retail"])) as _),
                ("revenue", Arc::new(Int64Array::from(vec![60])) as _),
                (
                    "_bazof_deleted",
                    Arc::new(BooleanArray::from(vec![false])) as _,
                ),
            ])])
            .await
            .unwrap();
    });
    let software = |args: ScanArgsBazof| {
        keys(
            &scan_bazof(&location, args)
                .unwrap()
                .filter(col("industry").eq(lit("Software")))
                .collect()
                .unwrap(),
        )
    };
    let jan17 = ScanArgsBazof::default()
        .with_as_of_str("2019-01-17T00:00:00Z")
        .unwrap();
    assert_eq!(software(jan17.clone()), ["ACME"], "as known now");
    assert_eq!(
        software(jan17.with_snapshot(1)),
        ["ACME", "INIT"],
        "as known at commit 1"
    );
    assert_eq!(
        software(
            ScanArgsBazof::default()
                .with_as_of_str("2019-01-07")
                .unwrap()
        ),
        ["ACME", "INIT"]
    );
}

#[test]
fn many_filtered_scans_in_one_query_finish() {
    // More filtered bazof sources (scans and histories) in one `concat` than Polars has
    // threads: each source blocks a Polars thread while it reads. A filter that needed
    // another Polars thread would wait forever (as per-batch filtering once did).
    let location = industries();
    let sources = 2 * std::thread::available_parallelism().map_or(2, |n| n.get()) + 2;
    let frames: Vec<LazyFrame> = (0..sources)
        .map(|i| {
            let industry = if i % 2 == 0 { "Software" } else { "Retail" };
            let lf = if i % 4 < 2 {
                scan_bazof(&location, ScanArgsBazof::default()).unwrap()
            } else {
                bazof_polars::scan_bazof_history(&location, bazof::HistoryOptions::default())
                    .unwrap()
                    .select([col("key"), col("industry")])
            };
            lf.filter(col("industry").eq(lit(industry)))
                .select([col("key")])
        })
        .collect();
    // Each source alone, one after another.
    let want: Vec<String> = frames
        .iter()
        .flat_map(|lf| keys(&lf.clone().collect().unwrap()))
        .collect();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let df = concat(frames, UnionArgs::default())
            .unwrap()
            .collect()
            .unwrap();
        let _ = done.send(keys(&df));
    });
    let got = finished
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the query finished within two minutes");
    assert_eq!(got, want);
    assert!(want.len() >= sources, "every source returned rows");
}

#[test]
fn head_of_history_and_diff_returns_the_first_rows() {
    // Polars pushes `head(n)` into a source as `n_rows`: a source that ignored it would
    // return every row.
    let location = industries();
    let history =
        || bazof_polars::scan_bazof_history(&location, bazof::HistoryOptions::default()).unwrap();
    let all = history().collect().unwrap();
    assert!(all.height() > 1, "history has several versions");
    let first = history().limit(1).collect().unwrap();
    assert_eq!(first, all.head(Some(1)));
    let second = history().slice(1, 1).collect().unwrap();
    assert_eq!(second, all.slice(1, 1));
    // The slice and a filter in both orders, against the same in memory.
    let software = || col("industry").eq(lit("Software"));
    let slice_then_filter = history().limit(2).filter(software()).collect().unwrap();
    let want = all
        .head(Some(2))
        .lazy()
        .filter(software())
        .collect()
        .unwrap();
    assert_eq!(slice_then_filter, want);
    let filter_then_slice = history().filter(software()).limit(1).collect().unwrap();
    let want = all
        .clone()
        .lazy()
        .filter(software())
        .limit(1)
        .collect()
        .unwrap();
    assert_eq!(filter_then_slice, want);
    let key_then_slice = history()
        .filter(col("key").eq(lit("INIT")))
        .limit(1)
        .collect()
        .unwrap();
    let want = all
        .clone()
        .lazy()
        .filter(col("key").eq(lit("INIT")))
        .limit(1)
        .collect()
        .unwrap();
    assert_eq!(key_then_slice, want);
    assert_eq!(key_then_slice.height(), 1);
    let diff = || {
        let from = bazof::Point {
            as_of: Some(
                chrono::DateTime::from_timestamp_micros(ts("2019-01-03T00:00:00Z")).unwrap(),
            ),
            snapshot: None,
        };
        bazof_polars::scan_bazof_diff(
            &location,
            bazof::DiffOptions::new(from, bazof::Point::default()),
        )
        .unwrap()
    };
    let all = diff().collect().unwrap();
    assert!(all.height() > 1, "the diff has several keys");
    let first = diff().limit(1).collect().unwrap();
    assert_eq!(first, all.head(Some(1)));
}

/// Each source answers every query as the same query over its rows in memory: what
/// Polars pushes into a source (projection, filter, slice) never changes an answer.
#[test]
fn queries_over_a_source_equal_queries_over_its_rows() {
    let location = industries();
    type Source = Box<dyn Fn() -> LazyFrame>;
    let loc = location.clone();
    let scan: Source = Box::new(move || scan_bazof(&loc, ScanArgsBazof::default()).unwrap());
    let loc = location.clone();
    let history: Source = Box::new(move || {
        bazof_polars::scan_bazof_history(&loc, bazof::HistoryOptions::default()).unwrap()
    });
    let loc = location.clone();
    let diff: Source = Box::new(move || {
        let from = bazof::Point {
            as_of: Some(
                chrono::DateTime::from_timestamp_micros(ts("2019-01-03T00:00:00Z")).unwrap(),
            ),
            snapshot: None,
        };
        bazof_polars::scan_bazof_diff(&loc, bazof::DiffOptions::new(from, bazof::Point::default()))
            .unwrap()
    });
    type Query = fn(LazyFrame) -> LazyFrame;
    let queries: [(&str, Query); 9] = [
        ("count", |lf| lf.select([len()])),
        ("key only", |lf| lf.select([col("key")])),
        ("key filter", |lf| lf.filter(col("key").eq(lit("ACME")))),
        ("key range", |lf| lf.filter(col("key").gt(lit("B")))),
        ("head 1", |lf| lf.limit(1)),
        ("tail 1", |lf| lf.tail(1)),
        ("key or null", |lf| {
            lf.filter(col("key").eq(lit("INIT")).or(col("key").is_null()))
        }),
        ("sorted desc", |lf| {
            lf.sort(
                ["key"],
                SortMultipleOptions::default().with_order_descending(true),
            )
        }),
        ("unique keys", |lf| {
            lf.select([col("key")])
                .unique_stable(None, UniqueKeepStrategy::First)
        }),
    ];
    for (name, source) in [("scan", &scan), ("history", &history), ("diff", &diff)] {
        let rows = source().collect().unwrap();
        for (q, query) in &queries {
            let pushed = query(source()).collect().unwrap();
            let in_memory = query(rows.clone().lazy()).collect().unwrap();
            assert_eq!(pushed, in_memory, "{name}: {q}");
        }
    }
}
