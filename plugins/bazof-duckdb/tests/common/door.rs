//! The conformance suite's DuckDB door (`bazof_testkit::conformance`) through SQL:
//! `keys => [...]` for key lists, a `WHERE` clause on the key for the other
//! predicates; and the table writers through SQL.

use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use bazof::{KeyPredicate, KeyValue};
use bazof_testkit::conformance::{run, DiffQuery, Door, HistoryQuery, Query, Suite};
use bazof_testkit::{format_time, to_batch, Log, Value};
use duckdb::Connection;

use super::rows;

impl DuckDb {
    /// A door over `con`; `prefix` names one test's tables (tests run in parallel in
    /// one process), `root` is where they go (`None`: `memory://`).
    pub fn new(con: Connection, prefix: &'static str, root: Option<String>) -> Self {
        DuckDb {
            con,
            tables: AtomicUsize::new(0),
            root,
            prefix,
        }
    }
}

/// Runs the conformance suite's reads (100 random logs, every door operation) through
/// `con`'s table functions.
pub fn reads_equal_oracle(con: Connection, prefix: &'static str) {
    let mut door = DuckDb::new(con, prefix, None);
    let checked = run(
        &mut door,
        Suite {
            logs: 100,
            ..Suite::default()
        },
    );
    assert_eq!(checked, 600);
}

/// Registers the `arrow` table function and loads `batch` into the table `events`.
fn load_events(con: &Connection, batch: arrow::array::RecordBatch) {
    let reg = duckdb::vtab::ArrowBatchRegistration::from_array_data(arrow::array::Array::to_data(
        &arrow::array::StructArray::from(batch),
    ))
    .unwrap();
    con.execute(
        "CREATE OR REPLACE TABLE events AS SELECT * FROM arrow(?)",
        [&reg],
    )
    .unwrap();
}

pub fn key_sql(k: &KeyValue) -> String {
    match k {
        KeyValue::Int(i) => i.to_string(),
        KeyValue::String(s) => format!("'{s}'"),
    }
}

/// A key predicate as SQL on the `key` column.
pub fn sql(p: &KeyPredicate) -> String {
    match p {
        KeyPredicate::Eq(k) => format!("key = {}", key_sql(k)),
        KeyPredicate::In(ks) => format!(
            "key IN ({})",
            ks.iter().map(key_sql).collect::<Vec<_>>().join(", ")
        ),
        KeyPredicate::Range { lower, upper } => {
            let lo = match lower {
                Bound::Included(k) => format!("key >= {}", key_sql(k)),
                Bound::Excluded(k) => format!("key > {}", key_sql(k)),
                Bound::Unbounded => "true".into(),
            };
            let hi = match upper {
                Bound::Included(k) => format!("key <= {}", key_sql(k)),
                Bound::Excluded(k) => format!("key < {}", key_sql(k)),
                Bound::Unbounded => "true".into(),
            };
            format!("({lo} AND {hi})")
        }
        KeyPredicate::And(ps) => {
            format!("({})", ps.iter().map(sql).collect::<Vec<_>>().join(" AND "))
        }
        KeyPredicate::Or(ps) => {
            format!("({})", ps.iter().map(sql).collect::<Vec<_>>().join(" OR "))
        }
    }
}

pub fn keys_arg(keys: &[KeyValue]) -> String {
    format!(
        "keys => [{}]",
        keys.iter().map(key_sql).collect::<Vec<_>>().join(", ")
    )
}

/// The DuckDB door of the conformance suite, on one connection.
pub struct DuckDb {
    pub con: Connection,
    tables: AtomicUsize,
    /// Where tables go: `memory://` by default, or a directory (COPY writes files).
    root: Option<String>,
    /// Table names of one test (the tests run in parallel in one process).
    prefix: &'static str,
}

impl Door for DuckDb {
    fn name(&self) -> &str {
        "DuckDB"
    }
    fn location(&mut self) -> String {
        let n = self.tables.fetch_add(1, Ordering::Relaxed);
        match &self.root {
            Some(root) => format!("{root}/{}-t{n}", self.prefix),
            None => format!("memory://duckdb-conformance-{}/t{n}", self.prefix),
        }
    }
    fn scan(&mut self, location: &str, _log: &Log, q: &Query) -> Vec<Vec<Value>> {
        let mut args = vec![format!("'{location}'")];
        if let Some(t) = q.as_of {
            args.push(format!("as_of => '{}'", format_time(t)));
        }
        if let Some(s) = q.snapshot {
            args.push(format!("snapshot => {s}"));
        }
        let mut where_ = String::new();
        match (q.key_list(), &q.key) {
            (Some(keys), _) => args.push(keys_arg(&keys)),
            (None, Some(p)) => where_ = format!(" WHERE {}", sql(p)),
            (None, None) => {}
        }
        let query = format!(
            "SELECT {} FROM bazof_scan({}){where_} ORDER BY key",
            q.columns.join(", "),
            args.join(", ")
        );
        rows(&self.con, &query)
    }
    fn history(&mut self, location: &str, log: &Log, q: &HistoryQuery) -> Option<Vec<Vec<Value>>> {
        let mut args = vec![format!("'{location}'")];
        if let Some(s) = q.snapshot {
            args.push(format!("snapshot => {s}"));
        }
        if let Some(t) = q.from {
            args.push(format!("from_time => TIMESTAMPTZ '{}'", format_time(t)));
        }
        if let Some(t) = q.to {
            args.push(format!("to_time => '{}'", format_time(t)));
        }
        // Every other table: the key list in `WHERE` (pushed to the v2 function as
        // a key predicate) instead of `keys =>`.
        let in_where = self.tables.load(Ordering::Relaxed).is_multiple_of(2);
        let mut where_ = String::new();
        match &q.keys {
            Some(keys) if in_where => {
                where_ = format!(" WHERE {}", sql(&KeyPredicate::In(keys.clone())))
            }
            Some(keys) => args.push(keys_arg(keys)),
            None => {}
        }
        let from = format!("bazof_history({}){where_}", args.join(", "));
        // The columns in reverse order (the v2 function reads only the value columns
        // asked for, and puts them where DuckDB asks), reversed back.
        let schema = log.schema_at(q.snapshot);
        let mut columns: Vec<String> =
            vec![schema.key.clone(), "valid_from".into(), "valid_to".into()];
        columns.extend(schema.columns.iter().map(|c| c.name.clone()));
        columns.reverse();
        // Rows come in key order, then valid_from: no ORDER BY needed on one thread;
        // asking for it checks that DuckDB sees the same order.
        let query = format!(
            "SELECT {} FROM {from} ORDER BY {}, valid_from",
            columns.join(", "),
            schema.key
        );
        let mut got = rows(&self.con, &query);
        for row in &mut got {
            row.reverse();
        }
        // No column at all (count(*)) gives the same number of rows.
        let count: i64 = self
            .con
            .query_row(&format!("SELECT count(*) FROM {from}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(count as usize, got.len(), "{from}");
        Some(got)
    }
    fn diff(&mut self, location: &str, _log: &Log, q: &DiffQuery) -> Option<Vec<Vec<Value>>> {
        let mut args = vec![format!("'{location}'")];
        for (side, (t, s)) in [("from", q.from), ("to", q.to)] {
            if let Some(t) = t {
                args.push(format!("{side}_as_of => '{}'", format_time(t)));
            }
            if let Some(s) = s {
                args.push(format!("{side}_snapshot => {s}"));
            }
        }
        if let Some(keys) = &q.keys {
            args.push(keys_arg(keys));
        }
        let query = format!("SELECT * FROM bazof_diff({}) ORDER BY 1", args.join(", "));
        Some(rows(&self.con, &query))
    }
}

/// Writes every commit of a log through SQL: the commit's rows go into a DuckDB table
/// (through the `arrow` table function), then `bazof_write` commits a query over it.
pub fn write_with_sql(con: &Connection, location: &str, log: &Log) {
    for i in 0..log.commits.len() {
        let schema = log.schema_at(Some(i as u64 + 1));
        let batch = to_batch(schema, &log.commits[i]);
        load_events(con, batch);
        let (commit, rows): (i64, i64) = con
            .query_row(
                &format!(
                    "SELECT commit, rows FROM bazof_write('{location}', \
                     'SELECT * EXCLUDE (_bazof_deleted), _bazof_deleted AS gone FROM events', \
                     key => 'key', event_time => 'event_time', deleted => 'gone', evolve => true)"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(commit, i as i64 + 1);
        assert!(rows as usize <= log.commits[i].len());
    }
}

/// Writes every commit of a log through `COPY … TO (FORMAT bazof)` (C API v2): the
/// commit's rows go into a DuckDB table, then one `COPY` statement commits them.
pub fn write_with_copy(con: &Connection, location: &str, log: &Log) {
    for i in 0..log.commits.len() {
        let schema = log.schema_at(Some(i as u64 + 1));
        load_events(con, to_batch(schema, &log.commits[i]));
        let copied: usize = con
            .execute(
                &format!(
                    "COPY (SELECT * EXCLUDE (_bazof_deleted), _bazof_deleted AS gone FROM events) \
                     TO '{location}' (FORMAT bazof, KEY 'key', EVENT_TIME 'event_time', \
                     DELETED 'gone', EVOLVE)"
                ),
                [],
            )
            .unwrap();
        assert_eq!(copied, log.commits[i].len());
    }
}
