//! One conformance suite that every door runs (core, CLI, Polars, DuckDB), in the
//! manner of object_store's `integration.rs`: random logs are written through the core,
//! then each door scans them with random queries and must return exactly the rows of
//! DESIGN §1's oracle.
//!
//! A door implements [`Door`]: where to put a table, and how to scan it with a
//! [`Query`]. Doors that cannot express a query (the CLI has no key ranges) say so in
//! [`Door::supports`]; the suite then asks them the rest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::Bound;

use bazof::{KeyPredicate, KeyType, KeyValue, ScanOptions, Table};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::{arb_log, oracle, project, to_batch, Log, Value, TIME_UNIT};

/// A scan as every door can be asked it.
#[derive(Debug, Clone)]
pub struct Query {
    /// Event time in microseconds (`None` = current).
    pub as_of: Option<i64>,
    /// Commit (`None` = latest).
    pub snapshot: Option<u64>,
    /// Output columns, in this order (never empty).
    pub columns: Vec<String>,
    /// A key predicate, or none.
    pub key: Option<KeyPredicate>,
}

impl Query {
    /// The same query as core [`ScanOptions`].
    pub fn options(&self) -> ScanOptions {
        let mut opts = ScanOptions::default().with_columns(self.columns.clone());
        if let Some(t) = self.as_of {
            opts = opts.with_as_of(chrono::DateTime::from_timestamp_micros(t).unwrap());
        }
        if let Some(s) = self.snapshot {
            opts = opts.with_snapshot(s);
        }
        if let Some(p) = &self.key {
            opts = opts.with_key_predicate(p.clone());
        }
        opts
    }

    /// The keys of an `Eq` or `In` predicate (what a `keys => [...]` list can say).
    pub fn key_list(&self) -> Option<Vec<KeyValue>> {
        match &self.key {
            Some(KeyPredicate::Eq(k)) => Some(vec![k.clone()]),
            Some(KeyPredicate::In(ks)) => Some(ks.clone()),
            _ => None,
        }
    }
}

/// A front door under test.
pub trait Door {
    /// Short name for messages.
    fn name(&self) -> &str;
    /// A fresh table location this door can read (`memory://` in process, a path for the CLI).
    fn location(&mut self) -> String;
    /// Whether the door can express this query.
    fn supports(&self, _q: &Query) -> bool {
        true
    }
    /// Scans `location` and returns the rows in key order, cells as [`Value`]s.
    fn scan(&mut self, location: &str, log: &Log, q: &Query) -> Vec<Vec<Value>>;
    /// The history (SPEC §10.1) with every value column: key, valid_from, valid_to,
    /// values. `None`: the door has no history.
    fn history(
        &mut self,
        _location: &str,
        _log: &Log,
        _q: &HistoryQuery,
    ) -> Option<Vec<Vec<Value>>> {
        None
    }
    /// The diff (SPEC §10.2) over every column: key, change, `before_` columns (event
    /// time, values), `after_` columns. `None`: the door has no diff.
    fn diff(&mut self, _location: &str, _log: &Log, _q: &DiffQuery) -> Option<Vec<Vec<Value>>> {
        None
    }
}

/// A history request: snapshot, window and key list.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// Commit (`None` = latest).
    pub snapshot: Option<u64>,
    /// Versions valid after this event time (µs).
    pub from: Option<i64>,
    /// Versions starting at or before this event time (µs).
    pub to: Option<i64>,
    /// Only these keys.
    pub keys: Option<Vec<KeyValue>>,
}

/// A diff request: two (as_of µs, snapshot) points and a key list.
#[derive(Debug, Clone)]
pub struct DiffQuery {
    /// The first point.
    pub from: (Option<i64>, Option<u64>),
    /// The second point.
    pub to: (Option<i64>, Option<u64>),
    /// Only these keys.
    pub keys: Option<Vec<KeyValue>>,
}

fn key_cell(k: &KeyValue) -> Value {
    match k {
        KeyValue::Int(i) => Value::Int(*i),
        KeyValue::String(s) => Value::Str(s.clone()),
    }
}

/// The oracle's history rows (SPEC §10.1) for a request.
pub fn expected_history(log: &Log, q: &HistoryQuery) -> Vec<Vec<Value>> {
    let schema = log.schema_at(q.snapshot);
    let values: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    crate::bitemporal::history_oracle(log, q.snapshot)
        .into_iter()
        .filter(|(k, from, to, _)| {
            q.to.is_none_or(|hi| *from <= hi)
                && q.from.is_none_or(|lo| to.is_none_or(|t| t > lo))
                && q.keys.as_ref().is_none_or(|ks| ks.contains(k))
        })
        .map(|(k, from, to, e)| {
            let mut row = vec![
                key_cell(&k),
                Value::Time(from),
                to.map_or(Value::Null, Value::Time),
            ];
            row.extend(project(schema, &e, &values));
            row
        })
        .collect()
}

/// The oracle's diff rows (SPEC §10.2) over every column, for a request.
pub fn expected_diff(log: &Log, q: &DiffQuery) -> Vec<Vec<Value>> {
    // SPEC §10.2: the later snapshot's schema.
    let latest = log.commits.len() as u64;
    let later = q.from.1.unwrap_or(latest).max(q.to.1.unwrap_or(latest));
    let schema = log.schema_at(Some(later));
    let mut compared = vec![schema.event_time.clone()];
    compared.extend(schema.columns.iter().map(|c| c.name.clone()));
    let side = |e: &Option<crate::Event>| match e {
        Some(e) => project(schema, e, &compared),
        None => vec![Value::Null; compared.len()],
    };
    crate::bitemporal::diff_oracle(log, q.from, q.to, |x, y| {
        project(schema, x, &compared) == project(schema, y, &compared)
    })
    .into_iter()
    .filter(|(k, ..)| q.keys.as_ref().is_none_or(|ks| ks.contains(k)))
    .map(|(k, change, x, y)| {
        let mut row = vec![key_cell(&k), Value::Str(change.into())];
        row.extend(side(&x));
        row.extend(side(&y));
        row
    })
    .collect()
}

/// A random history request on a log.
pub fn arb_history_query(log: &Log) -> impl Strategy<Value = HistoryQuery> {
    let commits = log.commits.len() as u64;
    let kt = log.schema.key_type;
    (
        proptest::option::of(1..=commits),
        proptest::option::of(-1i64..13),
        proptest::option::of(-1i64..13),
        proptest::option::weighted(0.3, proptest::collection::vec(0u32..9, 1..3)),
    )
        .prop_map(move |(snapshot, from, to, keys)| HistoryQuery {
            snapshot,
            from: from.map(|t| t * TIME_UNIT),
            to: to.map(|t| t * TIME_UNIT),
            keys: keys.map(|ks| ks.into_iter().map(|k| key_of(kt, k)).collect()),
        })
}

/// A random diff request on a log.
pub fn arb_diff_query(log: &Log) -> impl Strategy<Value = DiffQuery> {
    let commits = log.commits.len() as u64;
    let kt = log.schema.key_type;
    let point = (
        proptest::option::of(-1i64..13),
        proptest::option::of(1..=commits),
    )
        .prop_map(|(t, s)| (t.map(|t| t * TIME_UNIT), s));
    (
        point.clone(),
        point,
        proptest::option::weighted(0.3, proptest::collection::vec(0u32..9, 1..3)),
    )
        .prop_map(move |(from, to, keys)| DiffQuery {
            from,
            to,
            keys: keys.map(|ks| ks.into_iter().map(|k| key_of(kt, k)).collect()),
        })
}

/// The key of the `k`-th of the random logs' keys (see [`crate::arb_event`]). Every
/// third string key is longer than the 15 bytes the core packs into an integer, and
/// those share their first 15 bytes, so that their order is decided by the rest.
pub fn key_of(key_type: KeyType, k: u32) -> KeyValue {
    match key_type {
        KeyType::Int => KeyValue::Int(k as i64 * 7 - 10),
        KeyType::String if k % 3 == 2 => KeyValue::String(format!("k-long-shared-prefix-{k:02}")),
        KeyType::String => KeyValue::String(format!("k{k:02}")),
    }
}

/// A random key predicate over the random logs' keys: `==`, `IN`, a range, AND/OR.
pub fn arb_key_predicate(key_type: KeyType) -> impl Strategy<Value = KeyPredicate> {
    (0u8..4, 0u32..9, 0u32..9).prop_map(move |(kind, a, b)| {
        let (a, b) = (key_of(key_type, a), key_of(key_type, b));
        match kind {
            0 => KeyPredicate::Eq(a),
            1 => KeyPredicate::In(vec![a, b]),
            2 => KeyPredicate::Range {
                lower: Bound::Included(a),
                upper: Bound::Excluded(b),
            },
            _ => KeyPredicate::And(vec![
                KeyPredicate::Range {
                    lower: Bound::Excluded(a.clone()),
                    upper: Bound::Unbounded,
                },
                KeyPredicate::Or(vec![
                    KeyPredicate::Eq(b),
                    KeyPredicate::Range {
                        lower: Bound::Unbounded,
                        upper: Bound::Included(a),
                    },
                ]),
            ]),
        }
    })
}

/// A random query on a log: as_of (before, between and after its event times),
/// snapshot, projection, key predicate.
pub fn arb_query(log: &Log) -> impl Strategy<Value = Query> {
    let all: Vec<String> = log.schema.column_names().map(String::from).collect();
    let log = log.clone();
    let commits = log.commits.len() as u64;
    (
        proptest::option::of(-1i64..13),
        proptest::option::of(1..=commits),
        proptest::option::of(proptest::collection::vec(0usize..8, 1..4)),
        proptest::option::of(arb_key_predicate(log.schema.key_type)),
    )
        .prop_map(move |(as_of, snapshot, columns, key)| {
            let mut columns: Vec<String> = match columns {
                Some(idx) => idx.iter().map(|&i| all[i % all.len()].clone()).collect(),
                None => all.clone(),
            };
            // A snapshot knows only the columns of its own schema (SPEC §2.1).
            let known = log.schema_at(snapshot);
            columns.retain(|c| known.column_names().any(|n| n == c.as_str()));
            if columns.is_empty() {
                columns.push(known.key.clone());
            }
            let mut seen = std::collections::HashSet::new();
            columns.retain(|c| seen.insert(c.clone()));
            Query {
                as_of: as_of.map(|t| t * TIME_UNIT),
                snapshot,
                columns,
                key,
            }
        })
}

/// Writes a log through the core, one table commit per log commit, each under its
/// own schema (SPEC §2.1).
pub async fn write_log(location: &str, log: &Log) -> Table {
    let table = Table::create(location, log.schema_at(Some(1)).clone())
        .await
        .unwrap();
    for i in 0..log.commits.len() {
        commit_events(&table, log, i).await;
    }
    table
}

/// Commits the events of log commit index `i` (0-based) under its schema, evolving the
/// table's schema first when the log's does.
pub async fn commit_events(table: &Table, log: &Log, i: usize) -> bazof::CommitInfo {
    let schema = log.schema_at(Some(i as u64 + 1));
    let mut writer = table.begin_commit().await.unwrap();
    if writer.schema() != schema {
        writer = writer.evolve(schema.clone()).unwrap();
    }
    writer
        .write(&to_batch(schema, &log.commits[i]))
        .await
        .unwrap();
    writer.finish().await.unwrap()
}

/// [`write_log`] from synchronous code.
pub fn write_log_blocking(location: &str, log: &Log) {
    bazof::blocking::block_on(async {
        write_log(location, log).await;
        Ok::<_, bazof::Error>(())
    })
    .unwrap();
}

/// The oracle's answer to a query.
pub fn expected(log: &Log, q: &Query) -> Vec<Vec<Value>> {
    oracle(log, q.as_of, q.snapshot)
        .iter()
        .filter(|(k, _)| q.key.as_ref().is_none_or(|p| p.matches(k)))
        .map(|(_, e)| project(log.schema_at(q.snapshot), e, &q.columns))
        .collect()
}

/// How much of the suite to run.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    /// Random logs.
    pub logs: u32,
    /// Queries per log.
    pub queries: usize,
    /// Most commits per log.
    pub commits: usize,
    /// Most events per commit.
    pub events: usize,
    /// Random logs whose schema evolves ([`crate::arb_evolving_log`]): columns added
    /// mid-history, an `Int` widened to `Float`. A door opting in must type its cells
    /// by the schema of the snapshot read ([`Log::schema_at`]).
    pub evolve: bool,
}

impl Default for Suite {
    fn default() -> Self {
        Suite {
            logs: 200,
            queries: 4,
            commits: 6,
            events: 12,
            evolve: false,
        }
    }
}

/// The suites' seed: `BAZOF_ORACLE_SEED` (a `u64`, for a soak with fresh logs) or,
/// unset, the fixed logs the suites always ran.
fn oracle_seed() -> Option<u64> {
    let v = std::env::var("BAZOF_ORACLE_SEED").ok()?;
    let seed = v
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("BAZOF_ORACLE_SEED={v:?} is not a u64"));
    Some(seed)
}

/// Runs the suite against a door: every answer must equal the oracle's. Returns the
/// number of queries checked. Deterministic (fixed logs, or those of the seed in
/// `BAZOF_ORACLE_SEED` for a soak), so failures reproduce:
/// a failure names the seed it ran with.
pub fn run(door: &mut dyn Door, suite: Suite) -> usize {
    run_written(door, &mut write_log_blocking, suite)
}

/// [`run`] with the tables written by `write(location, log)` (one table commit per log
/// commit, under the log's schemas) instead of the core's commit: the writers of the
/// doors (Polars `write_bazof`, DuckDB `COPY … (FORMAT bazof)`) are checked this way.
pub fn run_written(door: &mut dyn Door, write: &mut dyn FnMut(&str, &Log), suite: Suite) -> usize {
    let seed = oracle_seed();
    let mut seed_bytes = [42u8; 32];
    if let Some(seed) = seed {
        for chunk in seed_bytes.chunks_mut(8) {
            chunk.copy_from_slice(&seed.to_le_bytes());
        }
    }
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let logs = if suite.evolve {
        crate::arb_evolving_log(suite.commits, suite.events)
    } else {
        arb_log(suite.commits, suite.events)
    };
    let mut checked = 0;
    for n in 0..suite.logs {
        let log = logs.new_tree(&mut runner).unwrap().current();
        let location = door.location();
        write(&location, &log);
        let queries = proptest::collection::vec(arb_query(&log), suite.queries);
        for q in queries.new_tree(&mut runner).unwrap().current() {
            if !door.supports(&q) {
                continue;
            }
            let got = door.scan(&location, &log, &q);
            assert_eq!(
                got,
                expected(&log, &q),
                "{} door, seed {seed:?}, log {n}, query {q:?}\n{log:#?}",
                door.name()
            );
            checked += 1;
        }
        let h = arb_history_query(&log)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        if let Some(got) = door.history(&location, &log, &h) {
            let want = expected_history(&log, &h);
            assert_eq!(
                got,
                want,
                "{} door history, seed {seed:?}, log {n}, {h:?}\n{log:#?}",
                door.name()
            );
            checked += 1;
        }
        let d = arb_diff_query(&log)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        if let Some(got) = door.diff(&location, &log, &d) {
            let want = expected_diff(&log, &d);
            assert_eq!(
                got,
                want,
                "{} door diff, seed {seed:?}, log {n}, {d:?}\n{log:#?}",
                door.name()
            );
            checked += 1;
        }
    }
    checked
}
