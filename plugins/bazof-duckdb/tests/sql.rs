//! bazof_scan / bazof_log through SQL: the headline query on the legacy financials
//! table, argument forms, types, streaming, bazof_log, and errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bazof::{ColumnDef, ColumnType, KeyType, ScanOptions, Table, TableSchema};
use bazof_testkit::{batch_rows, test_schema, to_batch, Event, Value};
use chrono::{TimeZone, Utc};
use common::rows;
use duckdb::Connection;

fn compat(name: &str) -> String {
    bazof_testkit::fixture(name).to_string_lossy().into_owned()
}

fn con() -> Connection {
    let con = Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    con
}

fn error(con: &Connection, sql: &str) -> String {
    match con
        .prepare(sql)
        .and_then(|mut s| s.query_arrow([]).map(|r| r.count()))
    {
        Ok(n) => panic!("{sql} should fail, returned {n} batches"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn financials_headline_query() {
    let path = compat("financials");
    let as_of = Utc.with_ymd_and_hms(2019, 1, 17, 0, 0, 0).unwrap();
    // The core's answer, computed without DuckDB.
    let mut want: Vec<(String, i64, i64)> = bazof_testkit::block_on(async {
        let t = Table::open(&path).await.unwrap();
        let o = ScanOptions::default().with_as_of(as_of).with_columns([
            "key",
            "industry",
            "revenue",
            "net_income",
        ]);
        batch_rows(&t.scan(o).await.unwrap().collect_batches().await.unwrap())
    })
    .into_iter()
    .filter(|r| r[1] == Value::Str("Software".into()))
    .map(|r| match (&r[0], &r[2], &r[3]) {
        (Value::Str(k), Value::Int(rev), Value::Int(ni)) => (k.clone(), *rev, *ni),
        other => panic!("unexpected row {other:?}"),
    })
    .collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(5);
    assert_eq!(
        want.len(),
        5,
        "the fixture has at least five software companies"
    );

    let con = con();
    let sql = format!(
        "SELECT key AS symbol, revenue, net_income FROM bazof_scan('{path}', as_of => TIMESTAMP '2019-01-17') \
         WHERE industry IN ('Software') ORDER BY revenue DESC, symbol LIMIT 5"
    );
    let got: Vec<(String, i64, i64)> = rows(&con, &sql)
        .into_iter()
        .map(|r| match (&r[0], &r[1], &r[2]) {
            (Value::Str(k), Value::Int(rev), Value::Int(ni)) => (k.clone(), *rev, *ni),
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    assert_eq!(got, want);

    // The same through every as_of spelling.
    for arg in [
        "TIMESTAMP '2019-01-17'",
        "as_of => TIMESTAMPTZ '2019-01-17 00:00:00+00'",
        "as_of => DATE '2019-01-17'",
        "as_of => '2019-01-17'",
        "'2019-01-17T00:00:00Z'",
    ] {
        let sql = format!(
            "SELECT key, revenue, net_income FROM bazof_scan('{path}', {arg}) \
             WHERE industry = 'Software' ORDER BY revenue DESC, key LIMIT 5"
        );
        let got: Vec<String> = rows(&con, &sql)
            .into_iter()
            .map(|r| r[0].to_string())
            .collect();
        assert_eq!(
            got,
            want.iter().map(|w| w.0.clone()).collect::<Vec<_>>(),
            "{arg}"
        );
    }
    // bazof_scan_at is the positional form's target.
    let n = rows(
        &con,
        &format!("SELECT count(*) FROM bazof_scan_at('{path}', DATE '2019-01-17')"),
    );
    let m = rows(
        &con,
        &format!("SELECT count(*) FROM bazof_scan('{path}', as_of => DATE '2019-01-17')"),
    );
    assert_eq!(n, m);
}

#[test]
fn legacy_table0_as_of_forms() {
    let path = compat("table0");
    let con = con();
    let q = |arg: &str| -> Vec<String> {
        rows(
            &con,
            &format!("SELECT key || '=' || value FROM bazof_scan('{path}'{arg})"),
        )
        .into_iter()
        .map(|r| r[0].to_string())
        .collect()
    };
    assert_eq!(q(""), ["1=abc2", "2=xyz2", "3=www2"]);
    assert_eq!(q(", TIMESTAMP '2024-01-01'"), ["1=abc", "2=xyz"]);
    assert_eq!(q(", as_of => NULL"), q(""));
    assert_eq!(q(", as_of => 'infinity'"), q(""));
    assert!(q(", as_of => '-infinity'").is_empty());
    assert!(q(", as_of => DATE '-infinity'").is_empty());
    assert_eq!(q(", keys => ['1', '3']"), ["1=abc2", "3=www2"]);
    assert_eq!(q(", keys => '2'"), ["2=xyz2"]);
}

fn all_types_table(name: &str) -> (String, Vec<Event>) {
    let schema = test_schema(KeyType::Int);
    let events = vec![
        Event {
            key: bazof::KeyValue::Int(1),
            event_time: 1_000_000,
            values: vec![
                Value::Str("x".into()),
                Value::Int(7),
                Value::Float(1.5),
                Value::Bool(true),
                Value::Time(86_400_000_000),
                Value::Date(19_000),
            ],
            deleted: false,
        },
        Event {
            key: bazof::KeyValue::Int(2),
            event_time: 2_000_000,
            values: vec![
                Value::Null,
                Value::Int(-1),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
            deleted: false,
        },
    ];
    let path = format!("memory://duckdb-sql/{name}");
    bazof_testkit::block_on(async {
        let t = Table::create(&path, schema.clone()).await.unwrap();
        t.commit(&[to_batch(&schema, &events)]).await.unwrap();
    });
    (path, events)
}

/// DuckDB's infinite times are the open ends of event time: `infinity` is current,
/// `-infinity` before any event, for scans, histories and diffs alike.
#[test]
fn infinities_are_the_open_ends_of_event_time() {
    let (path, _) = all_types_table("infinities");
    let con = con();
    let n = |sql: String| -> i64 { con.query_row(&sql, [], |r| r.get(0)).unwrap() };
    let scan = |arg: &str| n(format!("SELECT count(*) FROM bazof_scan('{path}'{arg})"));
    let current = scan("");
    assert!(current > 0);
    assert_eq!(scan(", as_of => 'infinity'"), current);
    assert_eq!(scan(", as_of => TIMESTAMP 'infinity'"), current);
    assert_eq!(scan(", as_of => '-infinity'"), 0);
    assert_eq!(scan(", as_of => TIMESTAMPTZ '-infinity'"), 0);
    let history = |arg: &str| n(format!("SELECT count(*) FROM bazof_history('{path}'{arg})"));
    let all = history("");
    assert!(all > 0);
    assert_eq!(history(", from_time => '-infinity'"), all);
    assert_eq!(history(", to_time => 'infinity'"), all);
    assert_eq!(history(", to_time => '-infinity'"), 0);
    // From nothing to now: every current key appears.
    let diff = n(format!(
        "SELECT count(*) FROM bazof_diff('{path}', from_as_of => '-infinity')"
    ));
    assert_eq!(diff, current);
}

#[test]
fn types_map_faithfully_and_nulls_stay_null() {
    let (path, _) = all_types_table("types");
    let con = con();
    let types: Vec<String> = rows(
        &con,
        &format!("SELECT column_type FROM (DESCRIBE SELECT * FROM bazof_scan('{path}'))"),
    )
    .into_iter()
    .map(|r| r[0].to_string())
    .collect();
    assert_eq!(
        types,
        [
            "BIGINT",
            "TIMESTAMP WITH TIME ZONE",
            "VARCHAR",
            "BIGINT",
            "DOUBLE",
            "BOOLEAN",
            "TIMESTAMP WITH TIME ZONE",
            "DATE"
        ]
    );
    let got = rows(
        &con,
        &format!("SELECT * FROM bazof_scan('{path}') ORDER BY key"),
    );
    assert_eq!(
        got,
        vec![
            vec![
                Value::Int(1),
                Value::Time(1_000_000),
                Value::Str("x".into()),
                Value::Int(7),
                Value::Float(1.5),
                Value::Bool(true),
                Value::Time(86_400_000_000),
                Value::Date(19_000),
            ],
            vec![
                Value::Int(2),
                Value::Time(2_000_000),
                Value::Null,
                Value::Int(-1),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
        ]
    );
    // Int keys: keys => [...] takes integers.
    assert_eq!(
        rows(
            &con,
            &format!("SELECT key FROM bazof_scan('{path}', keys => [2, 99])")
        ),
        vec![vec![Value::Int(2)]]
    );
    assert_eq!(
        rows(
            &con,
            &format!("SELECT d FROM bazof_scan('{path}') WHERE key = 1")
        ),
        vec![vec![Value::Date(19_000)]]
    );
}

/// More rows than DuckDB's vector size and than one core batch: streamed in
/// chunks, the answer is complete, LIMIT stops early, count(*) projects nothing.
#[test]
fn streams_large_tables_in_chunks() {
    let schema = TableSchema::new(KeyType::String, vec![ColumnDef::new("v", ColumnType::Int)]);
    let path = "memory://duckdb-sql/large".to_string();
    let n = 20_000i64;
    bazof_testkit::block_on(async {
        let t = Table::create(&path, schema).await.unwrap();
        for part in 0..2 {
            let keys: Vec<String> = (0..n).map(|i| format!("k{i:06}")).collect();
            let b = RecordBatch::try_from_iter([
                ("key", Arc::new(StringArray::from(keys)) as _),
                (
                    "event_time",
                    Arc::new(
                        TimestampMicrosecondArray::from(vec![part * 10; n as usize])
                            .with_timezone("UTC"),
                    ) as _,
                ),
                (
                    "v",
                    Arc::new(Int64Array::from_iter_values((0..n).map(|i| i + part * n))) as _,
                ),
            ])
            .unwrap();
            t.commit(&[b]).await.unwrap();
        }
    });
    let con = con();
    let r = rows(
        &con,
        &format!("SELECT count(*), sum(v), min(key), max(key) FROM bazof_scan('{path}')"),
    );
    let want_sum: i64 = (0..n).map(|i| i + n).sum();
    assert_eq!(
        r,
        vec![vec![
            Value::Int(n),
            Value::Int(want_sum),
            Value::Str("k000000".into()),
            Value::Str(format!("k{:06}", n - 1))
        ]]
    );
    let r = rows(
        &con,
        &format!("SELECT count(*) FROM bazof_scan('{path}', '1970-01-01T00:00:00.000005Z')"),
    );
    assert_eq!(r, vec![vec![Value::Int(n)]]);
    let r = rows(
        &con,
        &format!("SELECT sum(v) FROM bazof_scan('{path}', snapshot => 1)"),
    );
    assert_eq!(r, vec![vec![Value::Int((0..n).sum())]]);
    let r = rows(
        &con,
        &format!("SELECT key, v FROM bazof_scan('{path}') LIMIT 3"),
    );
    assert_eq!(r.len(), 3);
    let r = rows(
        &con,
        &format!("SELECT count(*) FROM bazof_scan('{path}') WHERE v % 2 = 0"),
    );
    assert_eq!(r, vec![vec![Value::Int(n / 2)]]);
}

#[test]
fn bazof_log_lists_commits() {
    let (path, _) = all_types_table("log");
    let schema = test_schema(KeyType::Int);
    bazof_testkit::block_on(async {
        let t = Table::open(&path).await.unwrap();
        t.commit(&[to_batch(&schema, &[])]).await.ok();
        let e = Event {
            key: bazof::KeyValue::Int(3),
            event_time: 5_000_000,
            values: vec![
                Value::Null,
                Value::Int(0),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
            deleted: false,
        };
        t.commit(&[to_batch(&schema, &[e])]).await.unwrap();
    });
    let con = con();
    let got = rows(
        &con,
        &format!(
            "SELECT commit, operation, rows_added, files_added, min_event_time, max_event_time, \
             commit_time IS NOT NULL FROM bazof_log('{path}') ORDER BY commit"
        ),
    );
    let last = got.last().unwrap().clone();
    assert_eq!(
        got[0],
        vec![
            Value::Int(1),
            Value::Str("append".into()),
            Value::Int(2),
            Value::Int(1),
            Value::Time(1_000_000),
            Value::Time(2_000_000),
            Value::Bool(true)
        ]
    );
    assert_eq!(last[2], Value::Int(1));
    assert_eq!(
        (last[4].clone(), last[5].clone()),
        (Value::Time(5_000_000), Value::Time(5_000_000))
    );
    // A snapshot chosen from the log.
    let k = rows(
        &con,
        &format!("SELECT count(*) FROM bazof_scan('{path}', snapshot => 1)"),
    );
    assert_eq!(k, vec![vec![Value::Int(2)]]);

    // Legacy: one row, NULL where bazof 0.2 recorded nothing.
    let legacy = rows(
        &con,
        &format!("SELECT * FROM bazof_log('{}')", compat("financials")),
    );
    assert_eq!(
        legacy,
        vec![vec![
            Value::Int(1),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]]
    );
}

/// A damaged data file (12 bytes overwritten, at every fifth offset) is a SQL error
/// naming the file, or an answer where only values changed; never a panic, which
/// parquet-rs's decoders raise on some damage and the core turns into the error.
#[test]
fn a_damaged_data_file_is_a_sql_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t").to_string_lossy().into_owned();
    let victim = bazof_testkit::damage::one_file_table(&path);
    let con = con();
    let sql = format!("SELECT count(*), sum(v) FROM bazof_scan('{path}')");
    bazof_testkit::damage::at_every_offset(&victim, 5, || {
        con.prepare(&sql)
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

#[test]
fn errors_are_sql_errors_with_the_core_message() {
    let con = con();
    let empty = tempfile::tempdir().unwrap();
    let p = empty.path().display();
    let e = error(&con, &format!("SELECT * FROM bazof_scan('{p}')"));
    assert!(e.contains("is not a bazof table"), "{e}");
    let e = error(&con, &format!("SELECT * FROM bazof_log('{p}')"));
    assert!(e.contains("is not a bazof table"), "{e}");

    let corrupt = tempfile::tempdir().unwrap();
    std::fs::write(corrupt.path().join("s1.json"), b"{ not json").unwrap();
    let e = error(
        &con,
        &format!("SELECT * FROM bazof_scan('{}')", corrupt.path().display()),
    );
    assert!(
        e.contains("corrupt metadata") && e.contains("s1.json"),
        "{e}"
    );

    let t0 = compat("table0");
    let e = error(
        &con,
        &format!("SELECT * FROM bazof_scan('{t0}', as_of => 'yesterday')"),
    );
    assert!(e.contains("as_of 'yesterday' is not a timestamp"), "{e}");
    let e = error(
        &con,
        &format!("SELECT * FROM bazof_scan('{t0}', '2024-13-45')"),
    );
    assert!(e.contains("is not a timestamp"), "{e}");
    let e = error(
        &con,
        &format!("SELECT * FROM bazof_scan('{t0}', as_of => 42)"),
    );
    assert!(
        e.contains("as_of must be a TIMESTAMP, TIMESTAMPTZ, DATE or ISO-8601 VARCHAR, not INTEGER"),
        "{e}"
    );
    let e = error(
        &con,
        &format!("SELECT * FROM bazof_scan('{t0}', as_of => TRUE)"),
    );
    assert!(e.contains("not BOOLEAN"), "{e}");
    let e = error(
        &con,
        &format!("SELECT * FROM bazof_scan('{t0}', snapshot => 7)"),
    );
    assert!(e.contains("has no snapshot 7"), "{e}");
    let e = error(
        &con,
        &format!("SELECT * FROM bazof_scan('{t0}', snapshot => 'x')"),
    );
    assert!(e.contains("snapshot"), "{e}");
    let e = error(
        &con,
        &format!("SELECT * FROM bazof_scan('{t0}', keys => [1, 2])"),
    );
    assert!(e.contains("keys => [...] must hold VARCHAR"), "{e}");
    let e = error(&con, "SELECT * FROM bazof_scan('s3://')");
    assert!(e.contains("bazof") || e.contains("location"), "{e}");
    // The connection is still usable.
    assert_eq!(
        rows(&con, &format!("SELECT count(*) FROM bazof_scan('{t0}')")),
        vec![vec![Value::Int(3)]]
    );
}

/// Called from inside a tokio runtime (a `#[tokio::main]` program), the scan
/// runs its I/O on a helper thread instead of panicking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_tokio_runtime() {
    let con = con();
    let t0 = compat("table0");
    assert_eq!(
        rows(&con, &format!("SELECT count(*) FROM bazof_scan('{t0}')")),
        vec![vec![Value::Int(3)]]
    );
}

#[test]
fn projection_pushdown_reads_only_needed_columns() {
    let con = con();
    let path = compat("financials");
    let plan = rows(
        &con,
        &format!("EXPLAIN SELECT revenue FROM bazof_scan('{path}') WHERE industry = 'Software'"),
    );
    let text = plan
        .iter()
        .map(|r| r.iter().map(|v| v.to_string()).collect::<String>())
        .collect::<String>();
    assert!(
        text.contains("industry") && text.contains("revenue") && !text.contains("net_income"),
        "{text}"
    );
}

/// `bazof_write`: the first write creates the table; bad input is a clear error and
/// leaves the table byte-for-byte unchanged; evolution only when asked.
#[test]
fn bazof_write_commits_a_query_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t").to_str().unwrap().to_string();
    let con = duckdb::Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    con.execute_batch(
        "CREATE TABLE ev AS SELECT * FROM (VALUES
            ('a', TIMESTAMPTZ '2024-01-01 00:00:00+00', 1.5::DOUBLE, false),
            ('b', TIMESTAMPTZ '2024-01-02 00:00:00+00', 2.5::DOUBLE, false),
            ('a', TIMESTAMPTZ '2024-01-03 00:00:00+00', NULL, true)) t(id, ts, price, del)",
    )
    .unwrap();
    let write = |query: &str, extra: &str| {
        con.query_row(
            &format!(
                "SELECT commit, rows, files FROM bazof_write('{loc}', '{query}', key => 'id', event_time => 'ts'{extra})"
            ),
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
    };
    assert_eq!(
        write("SELECT * FROM ev", ", deleted => 'del'").unwrap(),
        (1, 3)
    );
    let got: Vec<(String, f64)> = con
        .prepare(&format!("SELECT id, price FROM bazof_scan('{loc}')"))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, vec![("b".to_string(), 2.5)]);
    let before = bazof_testkit::tree_bytes(dir.path());
    for (query, extra, want) in [
        (
            "SELECT id AS name, ts, price FROM ev",
            "",
            "the key column 'id' is not in the input (it has name, ts, price)",
        ),
        (
            "SELECT id, ts, price::VARCHAR AS price FROM ev",
            "",
            "column 'price': expected Float64, found Utf8",
        ),
        (
            "SELECT id, ts, price, 1 AS extra FROM ev",
            "",
            "the input has columns the table lacks: 'extra'",
        ),
        (
            "SELECT id, ts::DATE::VARCHAR AS ts, price FROM ev",
            "",
            "the event-time column 'ts' has type Utf8; it must be a timestamp or a date",
        ),
        (
            "SELECT CASE WHEN id = ''b'' THEN NULL ELSE id END AS id, ts, price FROM ev",
            "",
            "column 'id' is not nullable but row 2 is null",
        ),
        (
            "SELECT id, CASE WHEN id = ''b'' THEN NULL ELSE ts END AS ts, price FROM ev",
            "",
            "column 'ts' is not nullable but row 2 is null",
        ),
        (
            "SELECT id, ts, price, 1.5 AS d FROM ev",
            ", evolve => true",
            "new column 'd' has type Decimal128(2, 1), which bazof cannot store",
        ),
        ("SELECT nope FROM ev", "", "nope"),
    ] {
        let err = write(query, extra).unwrap_err().to_string();
        assert!(err.contains(want), "{err}\nwanted: {want}");
        assert_eq!(bazof_testkit::tree_bytes(dir.path()), before, "{want}");
    }
    // Asked to evolve: the new column is added, older rows read it as NULL.
    assert_eq!(
        write(
            "SELECT ''c'' AS id, ts, price, ''x'' AS note FROM ev LIMIT 1",
            ", evolve => true"
        )
        .unwrap(),
        (2, 1)
    );
    let notes: Vec<(String, Option<String>)> = con
        .prepare(&format!("SELECT id, note FROM bazof_scan('{loc}')"))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        notes,
        vec![("b".into(), None), ("c".into(), Some("x".into()))]
    );
}
