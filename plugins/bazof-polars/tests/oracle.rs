//! `scan_bazof` + random lazy queries equal (a) DESIGN §1's oracle and (b) Polars
//! computing the same answer itself from the raw events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof::{KeyType, KeyValue};
use bazof_polars::{scan_bazof, ScanArgsBazof};
use bazof_testkit::{arb_log, oracle, project, Event, Log, Value, TIME_UNIT};
use polars::prelude::*;
use proptest::prelude::*;

/// A filter with two meanings: a Polars `Expr` and a three-valued Rust evaluation.
#[derive(Debug, Clone)]
enum Filter {
    /// key <op> k(a) (and k(b) for is_in/between); ops: ==, <, <=, >, >=, is_in, between, !=
    Key(u8, u32, u32),
    /// s == "Software"
    S,
    /// i > c
    I(i64),
    /// f <= c
    F(i64),
    /// b == true
    B,
    /// d is null
    DNull,
    /// t > c seconds
    T(i64),
    /// event_time <= c seconds
    EventTime(i64),
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        3 => (0u8..8, 0u32..9, 0u32..9).prop_map(|(o, a, b)| Filter::Key(o, a, b)),
        1 => Just(Filter::S),
        1 => (-5i64..5).prop_map(Filter::I),
        1 => (-25i64..25).prop_map(Filter::F),
        1 => Just(Filter::B),
        1 => Just(Filter::DNull),
        1 => (0i64..1).prop_map(|_| Filter::T(500_000)),
        1 => (0i64..12).prop_map(Filter::EventTime),
    ];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
        ]
    })
}

use bazof_testkit::conformance::key_of;

fn key_lit(k: &KeyValue) -> Expr {
    match k {
        KeyValue::Int(i) => lit(*i),
        KeyValue::String(s) => lit(s.as_str()),
    }
}

fn utc() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

fn time_lit(us: i64) -> Expr {
    lit(us).cast(utc())
}

impl Filter {
    fn expr(&self, kt: KeyType) -> Expr {
        match self {
            Filter::Key(op, a, b) => {
                let (a, b) = (key_of(kt, *a), key_of(kt, *b));
                let k = col("key");
                match op {
                    0 => k.eq(key_lit(&a)),
                    1 => k.lt(key_lit(&a)),
                    2 => k.lt_eq(key_lit(&a)),
                    3 => k.gt(key_lit(&a)),
                    4 => k.gt_eq(key_lit(&a)),
                    5 => {
                        let values = match kt {
                            KeyType::Int => Series::new(
                                "".into(),
                                [a, b]
                                    .iter()
                                    .map(|k| if let KeyValue::Int(i) = k { *i } else { 0 })
                                    .collect::<Vec<_>>(),
                            ),
                            KeyType::String => {
                                Series::new("".into(), [a.to_string(), b.to_string()])
                            }
                        };
                        k.is_in(lit(values).implode(false), false)
                    }
                    6 => k.clone().gt_eq(key_lit(&a)).and(k.lt_eq(key_lit(&b))),
                    _ => k.neq(key_lit(&a)),
                }
            }
            Filter::S => col("s").eq(lit("Software")),
            Filter::I(c) => col("i").gt(lit(*c)),
            Filter::F(c) => col("f").lt_eq(lit(*c as f64 / 4.0)),
            Filter::B => col("b").eq(lit(true)),
            Filter::DNull => col("d").is_null(),
            Filter::T(c) => col("t").gt(time_lit(*c)),
            Filter::EventTime(c) => col("event_time").lt_eq(time_lit(c * TIME_UNIT)),
            Filter::Or(a, b) => a.expr(kt).or(b.expr(kt)),
            Filter::And(a, b) => a.expr(kt).and(b.expr(kt)),
        }
    }

    /// SQL/Polars three-valued result on one event.
    fn eval(&self, kt: KeyType, e: &Event) -> Option<bool> {
        let cmp = |v: &Value, f: &dyn Fn(&Value) -> bool| match v {
            Value::Null => None,
            v => Some(f(v)),
        };
        match self {
            Filter::Key(op, a, b) => {
                let (a, b) = (key_of(kt, *a), key_of(kt, *b));
                let k = &e.key;
                Some(match op {
                    0 => *k == a,
                    1 => *k < a,
                    2 => *k <= a,
                    3 => *k > a,
                    4 => *k >= a,
                    5 => *k == a || *k == b,
                    6 => *k >= a && *k <= b,
                    _ => *k != a,
                })
            }
            Filter::S => cmp(&e.values[0], &|v| *v == Value::Str("Software".into())),
            Filter::I(c) => cmp(&e.values[1], &|v| matches!(v, Value::Int(i) if i > c)),
            Filter::F(c) => cmp(
                &e.values[2],
                &|v| matches!(v, Value::Float(f) if *f <= *c as f64 / 4.0),
            ),
            Filter::B => cmp(&e.values[3], &|v| *v == Value::Bool(true)),
            Filter::DNull => Some(e.values[5] == Value::Null),
            Filter::T(c) => cmp(&e.values[4], &|v| matches!(v, Value::Time(t) if t > c)),
            Filter::EventTime(c) => Some(e.event_time <= c * TIME_UNIT),
            Filter::Or(a, b) => match (a.eval(kt, e), b.eval(kt, e)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Filter::And(a, b) => match (a.eval(kt, e), b.eval(kt, e)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
        }
    }
}

/// A random lazy query on top of the scan.
#[derive(Debug, Clone)]
struct Query {
    as_of: Option<i64>,
    snapshot: Option<u64>,
    filter: Option<Filter>,
    /// Column indexes into key, event_time, s, i, f, b, t, d (None = all).
    columns: Option<Vec<usize>>,
    head: Option<usize>,
    /// Apply head before the filter (Polars then pushes the slice into the scan).
    head_first: bool,
    batch_size: usize,
}

fn arb_query(commits: usize) -> impl Strategy<Value = Query> {
    (
        proptest::option::of(-1i64..13),
        proptest::option::of(1..=commits as u64),
        proptest::option::weighted(0.8, arb_filter()),
        proptest::option::of(proptest::collection::vec(0usize..8, 1..4)),
        proptest::option::weighted(0.4, 0usize..6),
        any::<bool>(),
        prop_oneof![Just(2usize), Just(3), Just(1000)],
    )
        .prop_map(
            |(as_of, snapshot, filter, columns, head, head_first, batch_size)| Query {
                as_of: as_of.map(|t| t * TIME_UNIT),
                snapshot,
                filter,
                columns,
                head,
                head_first,
                batch_size,
            },
        )
}

fn column_names(log: &Log, q: &Query) -> Vec<String> {
    let all: Vec<String> = log.schema.column_names().map(String::from).collect();
    match &q.columns {
        Some(idx) => {
            let mut out: Vec<String> = Vec::new();
            for &i in idx {
                if !out.contains(&all[i % all.len()]) {
                    out.push(all[i % all.len()].clone());
                }
            }
            out
        }
        None => all,
    }
}

/// Applies the query's filter/head/projection to a frame holding the table's columns in key order.
fn apply(lf: LazyFrame, log: &Log, q: &Query) -> LazyFrame {
    let kt = log.schema.key_type;
    let mut lf = lf;
    if q.head_first {
        if let Some(n) = q.head {
            lf = lf.limit(n as IdxSize);
        }
    }
    if let Some(f) = &q.filter {
        lf = lf.filter(f.expr(kt));
    }
    if !q.head_first {
        if let Some(n) = q.head {
            lf = lf.limit(n as IdxSize);
        }
    }
    lf.select(
        column_names(log, q)
            .iter()
            .map(|c| col(c.as_str()))
            .collect::<Vec<_>>(),
    )
}

/// (a) the oracle, filtered, limited and projected in Rust.
fn expected_oracle(log: &Log, q: &Query) -> Vec<Vec<Value>> {
    let kt = log.schema.key_type;
    let mut visible: Vec<Event> = oracle(log, q.as_of, q.snapshot).into_values().collect();
    if q.head_first {
        if let Some(n) = q.head {
            visible.truncate(n);
        }
    }
    if let Some(f) = &q.filter {
        visible.retain(|e| f.eval(kt, e) == Some(true));
    }
    if !q.head_first {
        if let Some(n) = q.head {
            visible.truncate(n);
        }
    }
    let columns = column_names(log, q);
    visible
        .iter()
        .map(|e| project(&log.schema, e, &columns))
        .collect()
}

/// All events of a log as a Polars frame, with `commit` and `row` columns.
fn raw_events(log: &Log) -> DataFrame {
    let events: Vec<(u64, u64, &Event)> = log
        .commits
        .iter()
        .enumerate()
        .flat_map(|(c, es)| {
            es.iter()
                .enumerate()
                .map(move |(r, e)| (c as u64 + 1, r as u64, e))
        })
        .collect();
    let key = match log.schema.key_type {
        KeyType::Int => Series::new(
            "key".into(),
            events
                .iter()
                .map(|(_, _, e)| if let KeyValue::Int(i) = e.key { i } else { 0 })
                .collect::<Vec<_>>(),
        ),
        KeyType::String => Series::new(
            "key".into(),
            events
                .iter()
                .map(|(_, _, e)| e.key.to_string())
                .collect::<Vec<_>>(),
        ),
    };
    let et = Series::new(
        "event_time".into(),
        events
            .iter()
            .map(|(_, _, e)| e.event_time)
            .collect::<Vec<_>>(),
    )
    .cast(&utc())
    .unwrap();
    let val = |i: usize| events.iter().map(move |(_, _, e)| &e.values[i]);
    let s = Series::new(
        "s".into(),
        val(0)
            .map(|v| {
                if let Value::Str(s) = v {
                    Some(s.clone())
                } else {
                    None
                }
            })
            .collect::<Vec<_>>(),
    );
    let i = Series::new(
        "i".into(),
        val(1)
            .map(|v| {
                if let Value::Int(i) = v {
                    Some(*i)
                } else {
                    None
                }
            })
            .collect::<Vec<_>>(),
    );
    let f = Series::new(
        "f".into(),
        val(2)
            .map(|v| {
                if let Value::Float(f) = v {
                    Some(*f)
                } else {
                    None
                }
            })
            .collect::<Vec<_>>(),
    );
    let b = Series::new(
        "b".into(),
        val(3)
            .map(|v| {
                if let Value::Bool(b) = v {
                    Some(*b)
                } else {
                    None
                }
            })
            .collect::<Vec<_>>(),
    );
    let t = Series::new(
        "t".into(),
        val(4)
            .map(|v| {
                if let Value::Time(t) = v {
                    Some(*t)
                } else {
                    None
                }
            })
            .collect::<Vec<_>>(),
    )
    .cast(&utc())
    .unwrap();
    let d = Series::new(
        "d".into(),
        val(5)
            .map(|v| {
                if let Value::Date(d) = v {
                    Some(*d)
                } else {
                    None
                }
            })
            .collect::<Vec<_>>(),
    )
    .cast(&DataType::Date)
    .unwrap();
    let deleted = Series::new(
        "deleted".into(),
        events.iter().map(|(_, _, e)| e.deleted).collect::<Vec<_>>(),
    );
    let commit = Series::new(
        "commit".into(),
        events.iter().map(|(c, _, _)| *c).collect::<Vec<_>>(),
    );
    let row = Series::new(
        "row".into(),
        events.iter().map(|(_, r, _)| *r).collect::<Vec<_>>(),
    );
    let cols: Vec<Column> = [key, et, s, i, f, b, t, d, deleted, commit, row]
        .into_iter()
        .map(Column::from)
        .collect();
    DataFrame::new(events.len(), cols).unwrap()
}

/// (b) Polars resolving the raw events itself: DESIGN §1 written as a lazy query.
fn expected_polars(log: &Log, q: &Query) -> Vec<Vec<Value>> {
    let mut lf = raw_events(log).lazy();
    let snapshot = q.snapshot.unwrap_or(log.commits.len() as u64);
    lf = lf.filter(col("commit").lt_eq(lit(snapshot)));
    if let Some(t) = q.as_of {
        lf = lf.filter(col("event_time").lt_eq(time_lit(t)));
    }
    let resolved = lf
        .sort(
            ["key", "event_time", "commit", "row"],
            SortMultipleOptions::default(),
        )
        .group_by([col("key")])
        .agg(["event_time", "s", "i", "f", "b", "t", "d", "deleted"].map(|c| col(c).last()))
        .filter(col("deleted").not())
        .sort(["key"], SortMultipleOptions::default())
        .select(["key", "event_time", "s", "i", "f", "b", "t", "d"].map(col));
    common::rows(&apply(resolved, log, q).collect().unwrap())
}

fn actual(location: &str, log: &Log, q: &Query) -> Vec<Vec<Value>> {
    let mut args = ScanArgsBazof::default().with_batch_size(q.batch_size);
    if let Some(t) = q.as_of {
        args = args.with_as_of(chrono::DateTime::from_timestamp_micros(t).unwrap());
    }
    if let Some(s) = q.snapshot {
        args = args.with_snapshot(s);
    }
    let lf = scan_bazof(location, args).unwrap();
    common::rows(&apply(lf, log, q).collect().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// 100 logs × 4 queries = 400 lazy queries.
    #[test]
    fn scan_bazof_equals_oracle_and_polars(
        (log, queries) in arb_log(4, 10).prop_flat_map(|log| {
            let n = log.commits.len();
            (Just(log), proptest::collection::vec(arb_query(n), 4))
        })
    ) {
        let location = common::write(&log);
        for q in &queries {
            let got = actual(&location, &log, q);
            let oracle = expected_oracle(&log, q);
            prop_assert_eq!(&got, &oracle, "vs oracle, query {:?}", q);
            let polars = expected_polars(&log, q);
            prop_assert_eq!(&got, &polars, "vs Polars on raw events, query {:?}", q);
        }
    }
}
