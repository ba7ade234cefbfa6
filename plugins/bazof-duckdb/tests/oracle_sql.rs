//! `bazof_scan` through SQL equals DESIGN §1's oracle and DuckDB's own answer
//! computed from the raw events, on random logs, times, snapshots, projections,
//! key filters (`keys =>` and `WHERE key …`) and value filters (after resolution).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use arrow::compute::concat_batches;
use bazof::{KeyType, KeyValue};
use bazof_testkit::{arb_log, oracle, project, to_batch, Log, Value, TIME_UNIT};
use common::rows;
use duckdb::vtab::arrow::{ArrowBatchRegistration, ArrowVTab};
use duckdb::Connection;
use proptest::prelude::*;

static TABLES: AtomicUsize = AtomicUsize::new(0);

fn write(log: &Log) -> String {
    let name = format!(
        "memory://duckdb-oracle/t{}",
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    bazof_testkit::conformance::write_log_blocking(&name, log);
    name
}

/// The raw events, with their commit and row, as a DuckDB table `ev`.
fn load_events(con: &Connection, log: &Log) {
    let mut batches = Vec::new();
    for (c, events) in log.commits.iter().enumerate() {
        let b = to_batch(&log.schema, events);
        let mut cols: Vec<(String, ArrayRef)> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .zip(b.columns().iter().cloned())
            .collect();
        cols.push((
            "commit_no".into(),
            Arc::new(Int64Array::from(vec![c as i64 + 1; events.len()])),
        ));
        cols.push((
            "row_no".into(),
            Arc::new(Int64Array::from_iter_values(0..events.len() as i64)),
        ));
        // Every column nullable: commits differ in which columns happen to hold nulls.
        let cols = cols.into_iter().map(|(n, a)| (n, a, true));
        batches.push(RecordBatch::try_from_iter_with_nullable(cols).unwrap());
    }
    let all = concat_batches(&batches[0].schema(), &batches).unwrap();
    let reg = ArrowBatchRegistration::new(all);
    con.execute("CREATE TABLE ev AS SELECT * FROM arrow(?)", [&reg])
        .unwrap();
}

#[derive(Debug, Clone)]
struct Query {
    /// Event time in seconds.
    as_of: Option<i64>,
    /// How `as_of` is spelled: positional TIMESTAMPTZ, named TIMESTAMP, named VARCHAR, positional VARCHAR.
    as_of_form: u8,
    snapshot: Option<u64>,
    /// Column indexes (into key, event_time, values); empty = count(*).
    columns: Option<Vec<usize>>,
    /// (kind, a, b): a key restriction, see [`key_filter`].
    key: Option<(u8, u32, u32)>,
    /// A value filter, applied after resolution.
    value: Option<u8>,
}

fn arb_query(commits: usize) -> impl Strategy<Value = Query> {
    (
        proptest::option::of(-1i64..13),
        0u8..4,
        proptest::option::of(1..=commits as u64),
        proptest::option::of(proptest::collection::vec(0usize..8, 0..4)),
        proptest::option::of((0u8..KEY_FILTERS, 0u32..8, 0u32..8)),
        proptest::option::of(0u8..5),
    )
        .prop_map(|(as_of, as_of_form, snapshot, columns, key, value)| Query {
            as_of,
            as_of_form,
            snapshot,
            columns,
            key,
            value,
        })
}

fn key_of(log: &Log, k: u32) -> KeyValue {
    bazof_testkit::conformance::key_of(log.schema.key_type, k)
}

fn key_sql(k: &KeyValue) -> String {
    match k {
        KeyValue::Int(i) => i.to_string(),
        KeyValue::String(s) => format!("'{s}'"),
    }
}

fn time_sql(secs: i64) -> String {
    bazof_testkit::format_time(secs * TIME_UNIT)
        .replace('T', " ")
        .replace('Z', "")
}

/// A key filter's test on a resolved row: its key and values in schema order.
type KeyTest = Box<dyn Fn(&KeyValue, &[Value]) -> bool>;

/// Kinds of key restriction [`key_filter`] knows.
const KEY_FILTERS: u8 = 16;

/// A key filter in `WHERE` (kind ≥ 1; kind 0 is `keys => [a, b]`) and the same test in
/// Rust on a resolved row (key, values in schema order). Kinds 1–8 are plain
/// comparisons of the key (pushed down to prune); 9–15 must not prune: they mix in
/// other columns, wrap the key in functions or casts, or compare with NULL.
fn key_filter(log: &Log, kind: u8, a: &KeyValue, b: &KeyValue) -> (String, KeyTest) {
    let (sa, sb) = (key_sql(a), key_sql(b));
    let (a, b) = (a.clone(), b.clone());
    let text = |k: &KeyValue| match k {
        KeyValue::Int(i) => i.to_string(),
        KeyValue::String(s) => s.clone(),
    };
    let int_key = log.schema.key_type == KeyType::Int;
    match kind {
        1 => (format!("key = {sa}"), Box::new(move |k, _| *k == a)),
        2 => (
            format!("key IN ({sa}, {sb})"),
            Box::new(move |k, _| *k == a || *k == b),
        ),
        3 => (format!("key < {sa}"), Box::new(move |k, _| *k < a)),
        4 => (
            format!("key >= {sa} AND key <= {sb}"),
            Box::new(move |k, _| *k >= a && *k <= b),
        ),
        5 => (
            format!("key > {sa} AND key < {sb}"),
            Box::new(move |k, _| *k > a && *k < b),
        ),
        6 => (format!("{sa} <= key"), Box::new(move |k, _| a <= *k)),
        7 => (
            format!("(key = {sa} OR key > {sb})"),
            Box::new(move |k, _| *k == a || *k > b),
        ),
        8 => (
            format!("key BETWEEN {sa} AND {sb}"),
            Box::new(move |k, _| *k >= a && *k <= b),
        ),
        9 => (
            format!("(key = {sa} OR i > 0)"),
            Box::new(move |k, v| *k == a || matches!(v[1], Value::Int(i) if i > 0)),
        ),
        10 => (
            format!("key IN ({sa}, NULL)"),
            Box::new(move |k, _| *k == a),
        ),
        11 => ("key = NULL".into(), Box::new(|_, _| false)),
        12 => (
            format!(
                "lower(CAST(key AS VARCHAR)) = '{}'",
                text(&a).to_lowercase()
            ),
            Box::new(move |k, _| text(k).to_lowercase() == text(&a).to_lowercase()),
        ),
        13 => (format!("key <> {sa}"), Box::new(move |k, _| *k != a)),
        14 if int_key => (
            "key = i".into(),
            Box::new(|k, v| matches!((k, &v[1]), (KeyValue::Int(x), Value::Int(y)) if x == y)),
        ),
        14 => (
            "key = s".into(),
            Box::new(|k, v| matches!((k, &v[0]), (KeyValue::String(x), Value::Str(y)) if x == y)),
        ),
        _ => (
            format!("CAST(key AS VARCHAR) >= '{}'", text(&a)),
            Box::new(move |k, _| text(k) >= text(&a)),
        ),
    }
}

/// (SQL condition, Rust check on the resolved row's values in schema column order).
fn value_filter(kind: u8) -> (&'static str, fn(&[Value]) -> bool) {
    match kind {
        0 => ("s = 'Software'", |v| v[0] == Value::Str("Software".into())),
        1 => ("i > 0", |v| matches!(v[1], Value::Int(i) if i > 0)),
        2 => ("b", |v| v[3] == Value::Bool(true)),
        3 => ("f < 0", |v| matches!(v[2], Value::Float(f) if f < 0.0)),
        _ => ("t IS NULL", |v| v[4] == Value::Null),
    }
}

fn check(con: &Connection, path: &str, log: &Log, q: &Query) {
    let all: Vec<String> = log.schema.column_names().map(String::from).collect();
    let count_star = matches!(&q.columns, Some(c) if c.is_empty());
    let columns: Vec<String> = match &q.columns {
        Some(idx) if !idx.is_empty() => {
            let mut c: Vec<String> = idx.iter().map(|&i| all[i % all.len()].clone()).collect();
            c.dedup();
            c
        }
        _ => all.clone(),
    };

    // --- bazof_scan through SQL
    let mut args = vec![format!("'{path}'")];
    if let Some(t) = q.as_of {
        let ts = time_sql(t);
        args.push(match q.as_of_form {
            0 => format!("TIMESTAMPTZ '{ts}+00'"),
            1 => format!("as_of => TIMESTAMP '{ts}'"),
            2 => format!("as_of => '{}'", bazof_testkit::format_time(t * TIME_UNIT)),
            _ => format!("'{ts}'"),
        });
    }
    if let Some(s) = q.snapshot {
        args.push(format!("snapshot => {s}"));
    }
    let mut conds = Vec::new();
    let mut keys: Option<Vec<KeyValue>> = None;
    let mut kf: Option<KeyTest> = None;
    if let Some((kind, a, b)) = q.key {
        let (a, b) = (key_of(log, a), key_of(log, b));
        if kind == 0 {
            args.push(format!("keys => [{}, {}]", key_sql(&a), key_sql(&b)));
            keys = Some(vec![a, b]);
        } else {
            let (sql, f) = key_filter(log, kind, &a, &b);
            conds.push(sql);
            kf = Some(f);
        }
    }
    let vf = q.value.map(value_filter);
    if let Some((sql, _)) = vf {
        conds.push(sql.to_string());
    }
    let where_ = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let select = if count_star {
        "count(*)".to_string()
    } else {
        columns.join(", ")
    };
    let order = if count_star { "" } else { " ORDER BY key" };
    let sql = format!(
        "SELECT {select} FROM bazof_scan({}){where_}{order}",
        args.join(", ")
    );
    let got = rows(con, &sql);

    // --- the oracle
    let as_of_us = q.as_of.map(|t| t * TIME_UNIT);
    let want: Vec<Vec<Value>> = oracle(log, as_of_us, q.snapshot)
        .iter()
        .filter(|(k, _)| keys.as_ref().is_none_or(|ks| ks.contains(k)))
        .filter(|(k, e)| kf.as_ref().is_none_or(|f| f(k, &e.values)))
        .filter(|(_, e)| vf.is_none_or(|(_, f)| f(&e.values)))
        .map(|(_, e)| project(&log.schema, e, &columns))
        .collect();
    let want = if count_star {
        vec![vec![Value::Int(want.len() as i64)]]
    } else {
        want
    };
    assert_eq!(got, want, "oracle vs {sql}\nquery {q:?}");

    // --- DuckDB's own answer from the raw events
    let mut raw_conds = vec![format!(
        "commit_no <= {}",
        q.snapshot.unwrap_or(log.commits.len() as u64)
    )];
    if let Some(t) = q.as_of {
        raw_conds.push(format!("event_time <= TIMESTAMPTZ '{}+00'", time_sql(t)));
    }
    let mut outer = vec!["NOT _bazof_deleted".to_string()];
    outer.extend(conds.iter().cloned());
    if let Some(ks) = keys.as_ref() {
        outer.push(format!(
            "key IN ({})",
            ks.iter().map(key_sql).collect::<Vec<_>>().join(", ")
        ));
    }
    let reference = format!(
        "WITH w AS (SELECT * FROM ev WHERE {} QUALIFY row_number() OVER \
         (PARTITION BY key ORDER BY event_time DESC, commit_no DESC, row_no DESC) = 1) \
         SELECT {select} FROM w WHERE {}{order}",
        raw_conds.join(" AND "),
        outer.join(" AND ")
    );
    assert_eq!(
        got,
        rows(con, &reference),
        "DuckDB reference {reference}\nvs {sql}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, ..ProptestConfig::default() })]
    #[test]
    fn sql_scan_equals_oracle_and_duckdb((log, queries) in arb_log(5, 12).prop_flat_map(|log| {
        let n = log.commits.len();
        (Just(log), proptest::collection::vec(arb_query(n), 3..6))
    })) {
        let path = write(&log);
        // The C API v2 `bazof_scan`, which reads key predicates from WHERE.
        bazof_duckdb::install().unwrap();
        let con = Connection::open_in_memory().unwrap();
        con.register_table_function::<ArrowVTab>("arrow").unwrap();
        bazof_duckdb::register(&con).unwrap();
        load_events(&con, &log);
        for q in &queries {
            check(&con, &path, &log, q);
        }
    }
}
