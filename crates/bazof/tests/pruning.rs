//! What a scan may skip (SPEC §6.1, §6.3) and what compaction does so that it can:
//! key predicates decode only the Parquet pages that may hold their keys, and
//! compaction splits deltas at segment ends so an as-of scan reads the base plus the
//! deltas of its own segment (and late events), not every delta that straddles it.
//! Every answer is compared with DESIGN §1's oracle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::Bound;

use bazof::{
    CompactionPolicy, FileKind, KeyPredicate, KeyType, KeyValue, MetricTotals, ScanOptions,
    SegmentWidth, SkipReason, Table, PAGE_ROWS,
};
use bazof_testkit::history::assert_deltas_fit;
use bazof_testkit::{batch_rows, oracle, project, test_schema, Event, Log, Value};
use chrono::{DateTime, TimeZone, Utc};

const DAY: i64 = 86_400_000_000;

fn key(kt: KeyType, i: i64) -> KeyValue {
    match kt {
        KeyType::Int => KeyValue::Int(i),
        KeyType::String => KeyValue::String(format!("k{i:06}")),
    }
}

fn event(kt: KeyType, k: i64, t: i64, deleted: bool) -> Event {
    Event {
        key: key(kt, k),
        event_time: t,
        values: vec![
            Value::Str(format!("v{k}-{t}")),
            Value::Int(k ^ t),
            Value::Float(k as f64 / 8.0),
            Value::Bool(k % 3 == 0),
            Value::Null,
            Value::Null,
        ],
        deleted,
    }
}

fn time(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t).unwrap()
}

/// The oracle's rows for keys matching `p`, all columns.
fn want(
    log: &Log,
    as_of: Option<i64>,
    snapshot: Option<u64>,
    p: Option<&KeyPredicate>,
) -> Vec<Vec<Value>> {
    let all: Vec<String> = log.schema.column_names().map(String::from).collect();
    oracle(log, as_of, snapshot)
        .iter()
        .filter(|(k, _)| p.is_none_or(|p| p.matches(k)))
        .map(|(_, e)| project(&log.schema, e, &all))
        .collect()
}

async fn scan(table: &Table, opts: ScanOptions) -> (Vec<Vec<Value>>, MetricTotals) {
    let stream = table.scan(opts).await.unwrap();
    let metrics = stream.metrics();
    let rows = batch_rows(&stream.collect_batches().await.unwrap());
    (rows, metrics.totals())
}

use bazof_testkit::conformance::write_log as table_of;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_predicates_decode_only_the_pages_that_may_hold_their_keys() {
    for kt in [KeyType::String, KeyType::Int] {
        let n = 150_000i64;
        // Commit 1: every key once; commit 2: updates of every 7th key, deletes of every 101st.
        let first: Vec<Event> = (0..n)
            .map(|k| event(kt, k, (k % 50) * DAY, false))
            .collect();
        let second: Vec<Event> = (0..n)
            .filter(|k| k % 7 == 0 || k % 101 == 0)
            .map(|k| event(kt, k, (k % 50 + 10) * DAY, k % 101 == 0))
            .collect();
        let log = Log {
            schema: test_schema(kt),
            commits: vec![first, second],
            schemas: Vec::new(),
        };
        let table = table_of(&format!("memory://pruning/pages-{kt:?}"), &log).await;
        let range = |lo: i64, hi: i64| KeyPredicate::Range {
            lower: Bound::Included(key(kt, lo)),
            upper: Bound::Included(key(kt, hi)),
        };
        // (predicate, number of separate key runs it touches)
        let cases = [
            (KeyPredicate::Eq(key(kt, 77_777)), 1),
            (KeyPredicate::Eq(key(kt, 707)), 1), // updated and deleted
            (
                KeyPredicate::In(vec![key(kt, 5), key(kt, 80_003), key(kt, 149_999)]),
                3,
            ),
            (range(100_000, 100_050), 1),
            (
                KeyPredicate::Or(vec![KeyPredicate::Eq(key(kt, 3)), range(120_000, 120_010)]),
                2,
            ),
        ];
        for (p, runs) in cases {
            for as_of in [None, Some(12 * DAY), Some(55 * DAY)] {
                let mut opts = ScanOptions::default().with_key_predicate(p.clone());
                if let Some(t) = as_of {
                    opts = opts.with_as_of(time(t));
                }
                let plan = table.plan(&opts).await.unwrap();
                assert!(
                    plan.files.iter().all(|f| f.selection.is_some()),
                    "{p:?}: every file gets a page selection"
                );
                // A few pages to decode are one merge, however large the row groups
                // they sit in (three keys touch three of the first commit's row groups).
                assert_eq!(
                    bazof::scan::tasks::default_for(&plan),
                    1,
                    "{p:?}: a lookup is not split into key ranges"
                );
                let (
                    got,
                    MetricTotals {
                        files_read: files,
                        rows_decoded,
                        ..
                    },
                ) = scan(&table, opts).await;
                assert_eq!(
                    got,
                    want(&log, as_of, None, Some(&p)),
                    "{kt:?} {p:?} as_of {as_of:?}"
                );
                // A key's rows can straddle one page boundary: at most two pages per run and file.
                let bound = 2 * PAGE_ROWS as u64 * runs * files;
                assert!(
                    rows_decoded <= bound,
                    "{kt:?} {p:?}: decoded {rows_decoded} rows, at most {bound} expected"
                );
            }
        }
        // Without a predicate nothing is skipped, and the answer is the oracle's too.
        let total = log.commits.iter().map(Vec::len).sum::<usize>() as u64;
        let one = ScanOptions::default().with_tasks(1);
        let (all, MetricTotals { rows_decoded, .. }) = scan(&table, one).await;
        assert_eq!(all, want(&log, None, None, None));
        assert_eq!(rows_decoded, total);
        // Key-range tasks (SPEC §6.5) give the same answer; ranges meet inside a page,
        // so at most one page per file and boundary is decoded twice.
        for tasks in [2u64, 3, 8] {
            let opts = ScanOptions::default().with_tasks(tasks as usize);
            let plan = table.plan(&opts).await.unwrap();
            let parts = plan.split(tasks as usize);
            assert!(parts.len() > 1, "{kt:?}: {tasks} tasks split the plan");
            let (got, MetricTotals { rows_decoded, .. }) = scan(&table, opts).await;
            assert_eq!(got, all, "{kt:?}: {tasks} tasks");
            let bound =
                total + (parts.len() as u64 - 1) * plan.files.len() as u64 * PAGE_ROWS as u64;
            assert!(
                rows_decoded <= bound,
                "{kt:?}: {tasks} tasks decoded {rows_decoded} rows, at most {bound} expected"
            );
            // Each range reads only row groups and pages its keys may be in.
            let per_part: Vec<usize> = parts.iter().map(|p| p.row_groups_read()).collect();
            assert!(
                per_part.iter().all(|&n| n < plan.row_groups_read()) || plan.row_groups_read() == 1,
                "{per_part:?}"
            );
        }
    }
}

fn day_of(y: i32, m: u32, d: u32) -> i64 {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
        .unwrap()
        .timestamp_micros()
}

fn month_start(m: u32) -> i64 {
    Utc.with_ymd_and_hms(2024, m, 1, 0, 0, 0)
        .unwrap()
        .timestamp_micros()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_splits_deltas_at_segment_ends_and_late_events_still_count() {
    let kt = KeyType::String;
    let keys = 40i64;
    let spread = |k: i64, from: i64, days: i64| from + (k * 7919 % days) * DAY;
    // Three commits whose events straddle month starts, the third with late January events.
    let mut log = Log {
        schema: test_schema(kt),
        commits: vec![
            (0..keys)
                .map(|k| event(kt, k, spread(k, day_of(2024, 1, 5), 45), false))
                .collect(),
            (0..keys)
                .map(|k| event(kt, k, spread(k, day_of(2024, 2, 10), 44), k % 9 == 0))
                .collect(),
            (0..keys)
                .map(|k| match k % 4 {
                    0 => event(kt, k, spread(k, day_of(2024, 1, 10), 10), false), // late
                    _ => event(kt, k, spread(k, day_of(2024, 3, 1), 40), false),
                })
                .collect(),
        ],
        schemas: Vec::new(),
    };
    let table = Table::create("memory://pruning/split", log.schema.clone())
        .await
        .unwrap();
    // table commit -> log prefix
    let mut prefix: Vec<(u64, u64)> = Vec::new();
    for (i, c) in log.commits.iter().enumerate() {
        let info = table
            .commit(&[bazof_testkit::to_batch(&log.schema, c)])
            .await
            .unwrap();
        prefix.push((info.commit, i as u64 + 1));
    }
    let policy = CompactionPolicy {
        segment: SegmentWidth::Month,
        ..CompactionPolicy::default()
    };
    let info = table.compact(&policy).await.unwrap().unwrap();
    prefix.push((info.commit, 3));
    assert_eq!(
        info.deltas_rewritten, 3,
        "all three deltas straddle a month start"
    );
    assert_deltas_fit(&table).await;

    // As of mid-March: the March base plus March's deltas; the rest is folded or later.
    let as_of = day_of(2024, 3, 15);
    let plan = table
        .plan(&ScanOptions::default().with_as_of(time(as_of)))
        .await
        .unwrap();
    let deltas: Vec<_> = plan
        .files
        .iter()
        .filter(|f| f.kind == FileKind::Delta)
        .collect();
    assert!(plan.base.is_some());
    assert_eq!(plan.files.len(), 1 + deltas.len());
    assert!(!deltas.is_empty());
    assert!(plan.skipped.iter().all(|s| matches!(
        s.reason,
        SkipReason::FoldedIntoBase | SkipReason::OtherBase | SkipReason::AfterAsOf
    )));
    let folded = plan
        .skipped
        .iter()
        .filter(|s| s.reason == SkipReason::FoldedIntoBase)
        .count();
    assert!(
        folded >= 2,
        "January and February pieces are folded into the March base ({folded})"
    );

    // A late commit after compaction: events in January and February, one a deletion.
    log.commits.push(vec![
        event(kt, 1, day_of(2024, 1, 20), false),
        event(kt, 2, day_of(2024, 2, 15), true),
        event(kt, 41, day_of(2024, 1, 2), false),
    ]);
    let late = table
        .commit(&[bazof_testkit::to_batch(&log.schema, &log.commits[3])])
        .await
        .unwrap();
    prefix.push((late.commit, 4));
    let plan = table
        .plan(&ScanOptions::default().with_as_of(time(as_of)))
        .await
        .unwrap();
    assert!(
        plan.files.iter().any(|f| f
            .path
            .starts_with(&format!("data/c{:08}-delta", late.commit))),
        "the late delta is read by the late-event rule"
    );
    let again = table.compact(&policy).await.unwrap().unwrap();
    prefix.push((again.commit, 4));
    assert!(
        again.bases_written >= 2,
        "the February and later bases are stale after the late commit"
    );
    assert_deltas_fit(&table).await;

    // Every answer, for every snapshot, equals the oracle's.
    let times = [
        None,
        Some(day_of(2024, 1, 3)),
        Some(day_of(2024, 1, 21)),
        Some(month_start(2) - 1),
        Some(month_start(2)),
        Some(day_of(2024, 2, 16)),
        Some(month_start(3)),
        Some(as_of),
        Some(day_of(2024, 4, 20)),
    ];
    for &(commit, log_prefix) in &prefix {
        for as_of in times {
            let mut opts = ScanOptions::default()
                .with_snapshot(commit)
                .with_batch_size(7);
            if let Some(t) = as_of {
                opts = opts.with_as_of(time(t));
            }
            let (got, _) = scan(&table, opts).await;
            assert_eq!(
                got,
                want(&log, as_of, Some(log_prefix), None),
                "snapshot {commit}, as_of {as_of:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_by_rows_cut_the_open_segment_into_runs_of_n_events() {
    let kt = KeyType::Int;
    // 100 events at distinct times, 20 keys, in two commits (the second partly late).
    let events: Vec<Event> = (0..100)
        .map(|i| event(kt, i % 20, (i * 37 % 100) * DAY, i % 31 == 0))
        .collect();
    let log = Log {
        schema: test_schema(kt),
        commits: vec![events[..60].to_vec(), events[60..].to_vec()],
        schemas: Vec::new(),
    };
    let table = table_of("memory://pruning/rows", &log).await;
    assert_eq!(SegmentWidth::parse("rows:25"), Some(SegmentWidth::Rows(25)));
    assert_eq!(SegmentWidth::parse("rows:0"), None);
    let policy = CompactionPolicy {
        segment: SegmentWidth::Rows(25),
        ..CompactionPolicy::default()
    };
    table.compact(&policy).await.unwrap().unwrap();
    assert_deltas_fit(&table).await;
    let snap = table.snapshot(None).await.unwrap();
    let bazof::AnySnapshot::V1(s) = snap.as_ref() else {
        panic!("format 1 expected")
    };
    let rows: Vec<u64> = s
        .segments
        .iter()
        .map(|g| g.deltas.iter().map(|d| d.rows).sum())
        .collect();
    assert_eq!(rows, [25, 25, 25, 25], "four segments of 25 events each");
    for as_of in [
        None,
        Some(10 * DAY),
        Some(25 * DAY),
        Some(60 * DAY),
        Some(99 * DAY),
    ] {
        let mut opts = ScanOptions::default();
        if let Some(t) = as_of {
            opts = opts.with_as_of(time(t));
        }
        let (got, _) = scan(&table, opts).await;
        assert_eq!(got, want(&log, as_of, None, None), "as_of {as_of:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_splits_into_key_ranges_of_about_equal_rows() {
    use futures::StreamExt;
    // Three commits of every key: each delta's one row group spans all keys, so only its
    // pages tell where the rows lie.
    let kt = KeyType::String;
    let keys = 20_000i64;
    let log = Log {
        schema: test_schema(kt),
        commits: (0..3)
            .map(|c| {
                (0..keys)
                    .map(|k| event(kt, k, (c * 10 + k % 7) * DAY, false))
                    .collect()
            })
            .collect(),
        schemas: Vec::new(),
    };
    let table = table_of("memory://pruning/history-split", &log).await;
    let total = 3 * keys as usize;
    for tasks in [2usize, 4] {
        let opts = bazof::HistoryOptions::default().with_tasks(tasks);
        let parts = table.history(opts).await.unwrap().into_parts();
        assert_eq!(parts.len(), tasks, "history splits into {tasks} key ranges");
        let mut rows = Vec::new();
        for mut part in parts {
            let mut n = 0;
            while let Some(batch) = part.next().await {
                n += batch.unwrap().num_rows();
            }
            rows.push(n);
        }
        assert_eq!(rows.iter().sum::<usize>(), total);
        assert!(
            rows.iter().all(|&n| n * 2 * tasks >= total),
            "{tasks} ranges of {rows:?} rows: each should hold about 1/{tasks}"
        );
    }
}

/// SPEC §4: where tombstones hold all of a column's nulls in a written batch, the writer
/// stores a value the column holds in their place, so the file has no nulls there; a live
/// null keeps its column's nulls. Scans and history still equal the oracle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstone_nulls_leave_no_nulls_in_the_file() {
    use bazof::DELETED_COLUMN;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    const N: i64 = 1000;
    let kt = KeyType::String;
    let dir = tempfile::tempdir().unwrap();
    let live = |k: i64, t: i64, f: Value| Event {
        key: key(kt, k),
        event_time: t,
        values: vec![
            Value::Str(format!("v{k}")),
            Value::Int(k),
            f,
            Value::Bool(k % 2 == 0),
            Value::Time(t),
            Value::Date(k as i32),
        ],
        deleted: false,
    };
    let tombstone = |k: i64, t: i64| Event {
        key: key(kt, k),
        event_time: t,
        values: vec![Value::Null; 6],
        deleted: true,
    };
    let first: Vec<Event> = (0..N).map(|k| live(k, DAY, Value::Float(0.5))).collect();
    // Commit 2: updates, and tombstones whose values are all null; commit 3 adds a live
    // null in `f`; commit 4 holds tombstones only (no value to store in their place).
    let second: Vec<Event> = (0..N)
        .step_by(3)
        .map(|k| live(k, 2 * DAY, Value::Float(1.5)))
        .chain((0..N).step_by(10).map(|k| tombstone(k, 2 * DAY + 1)))
        .collect();
    let third: Vec<Event> = (0..N)
        .step_by(7)
        .map(|k| live(k, 3 * DAY, Value::Null))
        .chain((1..N).step_by(10).map(|k| tombstone(k, 3 * DAY + 1)))
        .collect();
    let fourth: Vec<Event> = (2..N).step_by(10).map(|k| tombstone(k, 4 * DAY)).collect();
    let log = Log::new(test_schema(kt), vec![first, second, third, fourth]);
    let table = table_of(dir.path().to_str().unwrap(), &log).await;

    // Null counts per value column of the files a commit wrote (`kind`: delta or base).
    let nulls = |commit: u64, kind: &str| {
        let name = format!("c{commit:08}-{kind}");
        let files: Vec<_> = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&name))
            .collect();
        assert!(!files.is_empty(), "no {name} file");
        // Six value columns, then tombstones (whether any file holds one).
        let mut counts = vec![0u64; 7];
        for file in files {
            let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
            let md = reader.metadata();
            let deleted_col = (md.file_metadata().schema_descr().columns().iter())
                .position(|c| c.name() == DELETED_COLUMN)
                .unwrap();
            for rg in 0..md.num_row_groups() {
                let group = md.row_group(rg);
                for (c, count) in counts[..6].iter_mut().enumerate() {
                    *count += group
                        .column(c + 2)
                        .statistics()
                        .unwrap()
                        .null_count_opt()
                        .unwrap();
                }
                let deleted = group.column(deleted_col).statistics().unwrap();
                counts[6] |= u64::from(deleted.max_bytes_opt() == Some(&[1u8][..]));
            }
        }
        counts
    };
    assert_eq!(
        nulls(2, "delta"),
        [0, 0, 0, 0, 0, 0, 1],
        "tombstones' nulls alone: none stored"
    );
    assert_eq!(nulls(3, "delta")[0], 0, "`s` has no live nulls");
    assert_eq!(
        nulls(3, "delta")[2],
        (N as u64).div_ceil(7) + (N as u64 - 1).div_ceil(10),
        "`f` keeps its nulls"
    );
    let n4 = (N as u64 - 2).div_ceil(10);
    assert_eq!(
        nulls(4, "delta"),
        [n4, n4, n4, n4, n4, n4, 1],
        "no value to store instead"
    );
    assert_matches_oracle(&table, &log).await;

    // Compaction writes commit 4's tombstones beside live rows: their nulls go too.
    table.compact(&CompactionPolicy::default()).await.unwrap();
    let base = nulls(5, "base");
    assert_eq!(
        (base[0], base[1], base[3], base[6]),
        (0, 0, 0, 1),
        "{base:?}"
    );
    assert_matches_oracle(&table, &log).await;
}

/// Scans at several points and the whole history, against the oracle.
async fn assert_matches_oracle(table: &Table, log: &Log) {
    use bazof::HistoryOptions;
    use bazof_testkit::conformance::{expected_history, HistoryQuery};

    for (as_of, snapshot) in [
        (None, None),
        (Some(2 * DAY + 1), Some(2)),
        (Some(3 * DAY), None),
        (Some(DAY), None),
    ] {
        let mut opts = ScanOptions::default();
        if let Some(t) = as_of {
            opts = opts.with_as_of(time(t));
        }
        if let Some(v) = snapshot {
            opts = opts.with_snapshot(v);
        }
        assert_eq!(scan(table, opts).await.0, want(log, as_of, snapshot, None));
    }
    let got = batch_rows(
        &table
            .history(HistoryOptions::default())
            .await
            .unwrap()
            .collect_batches()
            .await
            .unwrap(),
    );
    let q = HistoryQuery {
        snapshot: None,
        from: None,
        to: None,
        keys: None,
    };
    assert_eq!(got, expected_history(log, &q));
}
