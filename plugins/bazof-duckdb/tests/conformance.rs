//! The conformance suite (`bazof_testkit::conformance`) through SQL: `keys => [...]`
//! for key lists, a `WHERE` clause on the key for the other predicates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::RecordBatch;
use bazof::{KeyPredicate, KeyValue};
use bazof_testkit::conformance::{run, DiffQuery, Door, HistoryQuery, Query, Suite};
use bazof_testkit::{batch_rows, format_time, Log, Value};
use duckdb::Connection;

fn key_sql(k: &KeyValue) -> String {
    match k {
        KeyValue::Int(i) => i.to_string(),
        KeyValue::String(s) => format!("'{s}'"),
    }
}

/// A key predicate as SQL on the `key` column.
fn sql(p: &KeyPredicate) -> String {
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

fn rows(con: &Connection, query: &str) -> Vec<Vec<Value>> {
    let mut stmt = con
        .prepare(query)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let batches: Vec<RecordBatch> = stmt
        .query_arrow([])
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .collect();
    batch_rows(&batches)
}

fn keys_arg(keys: &[KeyValue]) -> String {
    format!(
        "keys => [{}]",
        keys.iter().map(key_sql).collect::<Vec<_>>().join(", ")
    )
}

struct DuckDb {
    con: Connection,
    tables: AtomicUsize,
}

impl Door for DuckDb {
    fn name(&self) -> &str {
        "DuckDB"
    }
    fn location(&mut self) -> String {
        let n = self.tables.fetch_add(1, Ordering::Relaxed);
        format!("memory://duckdb-conformance/t{n}")
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
    fn history(&mut self, location: &str, _log: &Log, q: &HistoryQuery) -> Option<Vec<Vec<Value>>> {
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
        if let Some(keys) = &q.keys {
            args.push(keys_arg(keys));
        }
        // Rows come in key order, then valid_from: no ORDER BY needed on one thread;
        // asking for it checks that DuckDB sees the same order.
        let query = format!(
            "SELECT * FROM bazof_history({}) ORDER BY 1, valid_from",
            args.join(", ")
        );
        Some(rows(&self.con, &query))
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

#[test]
fn duckdb_equals_oracle() {
    let con = Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    let mut door = DuckDb {
        con,
        tables: AtomicUsize::new(0),
    };
    let checked = run(
        &mut door,
        Suite {
            logs: 100,
            ..Suite::default()
        },
    );
    assert_eq!(checked, 600);
}
