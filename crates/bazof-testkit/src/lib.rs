//! Test support shared by every door: the naive oracle of DESIGN §1, random event
//! logs (proptest strategies) and conversions between events and Arrow batches.
#![warn(missing_docs)]

pub mod alloc;
pub mod bitemporal;
pub mod conformance;
pub mod damage;
pub mod faulty;
pub mod history;

/// A fixture under the repository's `test-data/` (the bazof 0.2 tables `table0`–`table2`
/// and `financials`, copied byte for byte from tables bazof 0.2 wrote).
pub fn fixture(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-data")
        .join(name);
    match dir.canonicalize() {
        Ok(p) => p,
        Err(e) => panic!("fixture {} is missing: {e}", dir.display()),
    }
}

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::DataType;
use bazof::{ColumnDef, ColumnType, KeyType, KeyValue, TableSchema, DELETED_COLUMN};
use proptest::prelude::*;

/// One cell value.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum Value {
    /// SQL null.
    Null,
    /// String.
    Str(String),
    /// Int.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Time(i64),
    /// Days since the epoch.
    Date(i32),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Str(s) => write!(f, "{s}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Time(us) => write!(f, "{}", format_time(*us)),
            Value::Date(d) => match chrono::NaiveDate::from_ymd_opt(1970, 1, 1) {
                Some(epoch) => write!(f, "{}", epoch + chrono::TimeDelta::days(*d as i64)),
                None => Ok(()),
            },
        }
    }
}

/// RFC 3339 with `Z`, as the CLI prints timestamps.
pub fn format_time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Key.
    pub key: KeyValue,
    /// Event time, microseconds UTC.
    pub event_time: i64,
    /// Values in schema order.
    pub values: Vec<Value>,
    /// Tombstone?
    pub deleted: bool,
}

/// A table's whole history: the schema and the events of commits 1, 2, ...
#[derive(Debug, Clone)]
pub struct Log {
    /// The schema after the last commit; event values are in its column order.
    pub schema: TableSchema,
    /// `commits[i]` are the events of commit `i + 1`, in row order.
    pub commits: Vec<Vec<Event>>,
    /// SPEC §2.1: `schemas[i]` is the schema commit `i + 1` writes under (each a prefix
    /// of `schema`'s columns, `Int` where `schema` may say `Float`); empty: `schema`
    /// throughout. Values of columns a commit's schema lacks are null.
    pub schemas: Vec<TableSchema>,
}

impl Log {
    /// A log with one schema throughout.
    pub fn new(schema: TableSchema, commits: Vec<Vec<Event>>) -> Log {
        Log {
            schema,
            commits,
            schemas: Vec::new(),
        }
    }

    /// The schema of snapshot `snapshot` (`None`: the latest).
    pub fn schema_at(&self, snapshot: Option<u64>) -> &TableSchema {
        let v = snapshot.unwrap_or(self.commits.len() as u64) as usize;
        match v.checked_sub(1).and_then(|i| self.schemas.get(i)) {
            Some(s) => s,
            None => &self.schema,
        }
    }
}

/// DESIGN §1, literally: the visible row per key, in key order.
pub fn oracle(log: &Log, as_of: Option<i64>, snapshot: Option<u64>) -> BTreeMap<KeyValue, Event> {
    let v = snapshot.unwrap_or(log.commits.len() as u64) as usize;
    let mut best: BTreeMap<KeyValue, ((i64, usize, usize), &Event)> = BTreeMap::new();
    // 1. events of commits <= v
    for (c, events) in log.commits.iter().take(v).enumerate() {
        for (row, e) in events.iter().enumerate() {
            // 2. drop events after as_of
            if as_of.is_some_and(|t| e.event_time > t) {
                continue;
            }
            // 3. greatest event time; ties to the later commit, then the later row
            let rank = (e.event_time, c, row);
            match best.get(&e.key) {
                Some((r, _)) if *r >= rank => {}
                _ => {
                    best.insert(e.key.clone(), (rank, e));
                }
            }
        }
    }
    // 4. drop keys whose winner is a deletion
    best.into_iter()
        .filter(|(_, (_, e))| !e.deleted)
        .map(|(k, (_, e))| (k, e.clone()))
        .collect()
}

/// The oracle's answer as rows of the given columns (names from the schema).
pub fn oracle_rows(
    log: &Log,
    as_of: Option<i64>,
    snapshot: Option<u64>,
    columns: &[String],
) -> Vec<Vec<Value>> {
    oracle(log, as_of, snapshot)
        .values()
        .map(|e| project(log.schema_at(snapshot), e, columns))
        .collect()
}

/// The values of one event for the given columns, as `schema` (of the snapshot read,
/// SPEC §2.1) types them: an `Int` value of a column widened to `Float` reads as `Float`.
pub fn project(schema: &TableSchema, e: &Event, columns: &[String]) -> Vec<Value> {
    columns
        .iter()
        .map(|c| {
            if *c == schema.key {
                match &e.key {
                    KeyValue::Int(i) => Value::Int(*i),
                    KeyValue::String(s) => Value::Str(s.clone()),
                }
            } else if *c == schema.event_time {
                Value::Time(e.event_time)
            } else {
                let i = schema
                    .columns
                    .iter()
                    .position(|d| d.name == *c)
                    .unwrap_or(usize::MAX);
                match (e.values.get(i), schema.columns.get(i).map(|d| d.data_type)) {
                    (Some(Value::Int(x)), Some(ColumnType::Float)) => Value::Float(*x as f64),
                    (Some(v), _) => v.clone(),
                    (None, _) => Value::Null,
                }
            }
        })
        .collect()
}

/// Events as an Arrow batch in the table's input layout (with `_bazof_deleted`).
pub fn to_batch(schema: &TableSchema, events: &[Event]) -> RecordBatch {
    let mut cols: Vec<(String, ArrayRef)> = Vec::new();
    let key: ArrayRef = match schema.key_type {
        KeyType::String => Arc::new(StringArray::from_iter_values(events.iter().map(
            |e| match &e.key {
                KeyValue::String(s) => s.clone(),
                KeyValue::Int(i) => i.to_string(),
            },
        ))),
        KeyType::Int => Arc::new(Int64Array::from_iter_values(events.iter().map(
            |e| match &e.key {
                KeyValue::Int(i) => *i,
                KeyValue::String(_) => 0,
            },
        ))),
    };
    cols.push((schema.key.clone(), key));
    cols.push((
        schema.event_time.clone(),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| e.event_time))
                .with_timezone("UTC"),
        ),
    ));
    for (i, c) in schema.columns.iter().enumerate() {
        let vals = events
            .iter()
            .map(|e| e.values.get(i).cloned().unwrap_or(Value::Null));
        cols.push((c.name.clone(), values_to_array(c.data_type, vals)));
    }
    cols.push((
        DELETED_COLUMN.into(),
        Arc::new(BooleanArray::from_iter(
            events.iter().map(|e| Some(e.deleted)),
        )),
    ));
    RecordBatch::try_from_iter(cols).unwrap_or_else(|e| panic!("test batch: {e}"))
}

fn values_to_array(t: ColumnType, vals: impl Iterator<Item = Value>) -> ArrayRef {
    let vals: Vec<Value> = vals.collect();
    match t {
        ColumnType::String => Arc::new(StringArray::from_iter(vals.iter().map(|v| match v {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }))),
        ColumnType::Int => Arc::new(Int64Array::from_iter(vals.iter().map(|v| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }))),
        ColumnType::Float => Arc::new(Float64Array::from_iter(vals.iter().map(|v| match v {
            Value::Float(x) => Some(*x),
            _ => None,
        }))),
        ColumnType::Boolean => Arc::new(BooleanArray::from_iter(vals.iter().map(|v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }))),
        ColumnType::DateTime => Arc::new(
            TimestampMicrosecondArray::from_iter(vals.iter().map(|v| match v {
                Value::Time(t) => Some(*t),
                _ => None,
            }))
            .with_timezone("UTC"),
        ),
        ColumnType::Date => Arc::new(Date32Array::from_iter(vals.iter().map(|v| match v {
            Value::Date(d) => Some(*d),
            _ => None,
        }))),
    }
}

/// Reads the cell `row` of an Arrow column as a [`Value`].
pub fn cell(a: &dyn Array, row: usize) -> Value {
    if a.is_null(row) {
        return Value::Null;
    }
    let any = a.as_any();
    match a.data_type() {
        DataType::Utf8 => Value::Str(
            any.downcast_ref::<StringArray>()
                .map(|x| x.value(row).to_string())
                .unwrap_or_default(),
        ),
        DataType::LargeUtf8 => Value::Str(
            any.downcast_ref::<arrow::array::LargeStringArray>()
                .map(|x| x.value(row).to_string())
                .unwrap_or_default(),
        ),
        DataType::Utf8View => Value::Str(
            any.downcast_ref::<arrow::array::StringViewArray>()
                .map(|x| x.value(row).to_string())
                .unwrap_or_default(),
        ),
        DataType::Int64 => Value::Int(
            any.downcast_ref::<Int64Array>()
                .map(|x| x.value(row))
                .unwrap_or_default(),
        ),
        DataType::Float64 => Value::Float(
            any.downcast_ref::<Float64Array>()
                .map(|x| x.value(row))
                .unwrap_or_default(),
        ),
        DataType::Boolean => Value::Bool(
            any.downcast_ref::<BooleanArray>()
                .map(|x| x.value(row))
                .unwrap_or_default(),
        ),
        DataType::Timestamp(_, _) => {
            let c = arrow::compute::cast(a, &bazof::schema::timestamp_type())
                .unwrap_or_else(|e| panic!("{e}"));
            Value::Time(
                c.as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .map(|x| x.value(row))
                    .unwrap_or_default(),
            )
        }
        DataType::Date32 => Value::Date(
            any.downcast_ref::<Date32Array>()
                .map(|x| x.value(row))
                .unwrap_or_default(),
        ),
        // Integer sums from SQL engines (DuckDB's HUGEINT arrives as DECIMAL(38, 0)).
        DataType::Decimal128(_, 0) => Value::Int(
            any.downcast_ref::<arrow::array::Decimal128Array>()
                .and_then(|x| i64::try_from(x.value(row)).ok())
                .unwrap_or_else(|| panic!("sum out of i64 range")),
        ),
        other => panic!("unexpected type {other}"),
    }
}

/// All rows of some batches as values.
pub fn batch_rows(batches: &[RecordBatch]) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(b.columns().iter().map(|c| cell(c.as_ref(), r)).collect());
        }
    }
    out
}

/// The current rows of the table at `location`, opened anew (a scan with default options).
pub async fn current_rows(location: &str) -> bazof::Result<Vec<Vec<Value>>> {
    let table = bazof::Table::open(location).await?;
    let stream = table.scan(bazof::ScanOptions::default()).await?;
    Ok(batch_rows(&stream.collect_batches().await?))
}

/// The schema used by random logs: every value type, nullable and not.
pub fn test_schema(key_type: KeyType) -> TableSchema {
    TableSchema::new(
        key_type,
        vec![
            ColumnDef::new("s", ColumnType::String),
            ColumnDef::new("i", ColumnType::Int).with_nullable(false),
            ColumnDef::new("f", ColumnType::Float),
            ColumnDef::new("b", ColumnType::Boolean),
            ColumnDef::new("t", ColumnType::DateTime),
            ColumnDef::new("d", ColumnType::Date),
        ],
    )
}

fn arb_value(t: ColumnType, nullable: bool) -> BoxedStrategy<Value> {
    let v: BoxedStrategy<Value> = match t {
        ColumnType::String => prop_oneof![
            Just("Software".to_string()),
            Just("Retail".into()),
            "[a-z]{0,3}"
        ]
        .prop_map(Value::Str)
        .boxed(),
        ColumnType::Int => (-5i64..5).prop_map(Value::Int).boxed(),
        ColumnType::Float => (-100i32..100)
            .prop_map(|x| Value::Float(x as f64 / 4.0))
            .boxed(),
        ColumnType::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
        ColumnType::DateTime => (0i64..1_000_000).prop_map(Value::Time).boxed(),
        ColumnType::Date => (0i32..20_000).prop_map(Value::Date).boxed(),
    };
    if nullable {
        prop_oneof![1 => Just(Value::Null), 3 => v].boxed()
    } else {
        v
    }
}

/// Event times are small integers (seconds) so that equal times and late events are common.
pub const TIME_UNIT: i64 = 1_000_000;

/// A random event for a schema: few keys, few distinct times, some tombstones.
pub fn arb_event(schema: &TableSchema, keys: u32, times: i64) -> BoxedStrategy<Event> {
    let key_type = schema.key_type;
    let key = (0..keys).prop_map(move |k| conformance::key_of(key_type, k));
    let values: Vec<BoxedStrategy<Value>> = schema
        .columns
        .iter()
        .map(|c| arb_value(c.data_type, c.nullable))
        .collect();
    (key, 0..times, values, proptest::bool::weighted(0.15))
        .prop_map(|(key, t, values, deleted)| Event {
            key,
            event_time: t * TIME_UNIT,
            values,
            deleted,
        })
        .boxed()
}

/// A random log: 1..=`max_commits` commits of 0..=`max_events` events.
pub fn arb_log(max_commits: usize, max_events: usize) -> BoxedStrategy<Log> {
    prop_oneof![Just(KeyType::String), Just(KeyType::Int)]
        .prop_flat_map(move |kt| {
            let schema = test_schema(kt);
            let commit = proptest::collection::vec(arb_event(&schema, 8, 12), 0..=max_events);
            (
                Just(schema),
                proptest::collection::vec(commit, 1..=max_commits),
            )
        })
        .prop_map(|(schema, commits)| Log::new(schema, commits))
        .boxed()
}

/// The columns a random evolving log may have, in the order of [`arb_evolving_log`]'s
/// events before evolution: [`test_schema`], `w` (an `Int` that may widen to `Float`),
/// then `x` (String) and `y` (Float), which are added mid-history.
fn universe(key_type: KeyType) -> TableSchema {
    let mut s = test_schema(key_type);
    s.columns.push(ColumnDef::new("w", ColumnType::Int));
    s.columns.push(ColumnDef::new("x", ColumnType::String));
    s.columns.push(ColumnDef::new("y", ColumnType::Float));
    s
}

/// The schema of commit index `c` (0-based) of an evolving log: `w` is `Float` from
/// commit index `widen` on; `x` and `y` exist from `add_x` and `add_y` on, appended in
/// the order they were added (SPEC §2.1).
fn evolved_schema(
    key_type: KeyType,
    c: usize,
    widen: usize,
    add_x: usize,
    add_y: usize,
) -> TableSchema {
    let mut s = test_schema(key_type);
    let w = if c >= widen {
        ColumnType::Float
    } else {
        ColumnType::Int
    };
    s.columns.push(ColumnDef::new("w", w));
    let mut adds = [
        (add_x, "x", ColumnType::String),
        (add_y, "y", ColumnType::Float),
    ];
    adds.sort_by_key(|(at, name, _)| (*at, *name));
    for (at, name, t) in adds {
        if c >= at {
            s.columns.push(ColumnDef::new(name, t));
        }
    }
    s
}

/// A random log whose schema evolves (SPEC §2.1): columns `x` and `y` are added and
/// `w` widens from `Int` to `Float`, each at a random commit (possibly the first, or
/// never). Values of a column before it exists are null; `w` values are `Int` before
/// the widening and `Float` after.
pub fn arb_evolving_log(max_commits: usize, max_events: usize) -> BoxedStrategy<Log> {
    prop_oneof![Just(KeyType::String), Just(KeyType::Int)]
        .prop_flat_map(move |kt| {
            let all = universe(kt);
            let commit = proptest::collection::vec(arb_event(&all, 8, 12), 0..=max_events);
            (
                Just(kt),
                proptest::collection::vec(commit, 1..=max_commits),
                0..=max_commits,
                0..=max_commits,
                0..=max_commits,
            )
        })
        .prop_map(|(kt, commits, widen, add_x, add_y)| {
            let all = universe(kt);
            let schemas: Vec<TableSchema> = (0..commits.len())
                .map(|c| evolved_schema(kt, c, widen, add_x, add_y))
                .collect();
            let last = schemas.last().cloned().unwrap_or_else(|| all.clone());
            let commits = commits
                .into_iter()
                .zip(&schemas)
                .map(|(events, at)| {
                    events
                        .into_iter()
                        .map(|mut e| {
                            e.values = last
                                .columns
                                .iter()
                                .map(|col| {
                                    let u = all.columns.iter().position(|d| d.name == col.name);
                                    let v = u.and_then(|u| e.values.get(u).cloned());
                                    match (at.column(&col.name), v) {
                                        (None, _) | (_, None) => Value::Null,
                                        (Some(d), Some(Value::Int(x)))
                                            if d.data_type == ColumnType::Float =>
                                        {
                                            Value::Float(x as f64)
                                        }
                                        (Some(_), Some(v)) => v,
                                    }
                                })
                                .collect();
                            e
                        })
                        .collect()
                })
                .collect();
            Log {
                schema: last,
                commits,
                schemas,
            }
        })
        .boxed()
}

/// Every file under `dir` with its bytes: compare before and after a failed write to
/// show that the table is byte-for-byte unchanged.
pub fn tree_bytes(dir: &std::path::Path) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.insert(p, bytes);
            }
        }
    }
    out
}

/// Runs any future to completion from a test through the core's sync bridge
/// ([`bazof::blocking::block_on`]), for futures that do not return a bazof `Result`.
pub fn block_on<F>(f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    match bazof::blocking::block_on(async { Ok::<_, bazof::Error>(f.await) }) {
        Ok(out) => out,
        Err(e) => panic!("the bazof runtime failed: {e}"),
    }
}
