//! The conformance suite (`bazof_testkit::conformance`) through SQL on the C API v2
//! functions (`install` before the database opens; the loadable extension registers
//! the same ones): `bazof_scan` with key predicates in `WHERE` (pushed), `bazof_history`,
//! `bazof_diff`, and tables written by `COPY … TO (FORMAT bazof)`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bazof_testkit::conformance::{run_written, Suite};
use common::door::{reads_equal_oracle, write_with_copy, DuckDb};
use duckdb::Connection;

fn con() -> Connection {
    bazof_duckdb::install().unwrap();
    let con = Connection::open_in_memory().unwrap();
    bazof_duckdb::register(&con).unwrap();
    con
}

#[test]
fn duckdb_v2_equals_oracle() {
    reads_equal_oracle(con(), "v2");
}

/// Evolving logs (columns added mid-history, Int widened to Float) written commit by
/// commit with `COPY … TO (FORMAT bazof, …, EVOLVE)`, read back through every v2
/// function at every as_of and snapshot, equal the oracle.
#[test]
fn copy_to_bazof_and_evolving_schemas_equal_oracle() {
    let con = con();
    con.register_table_function::<duckdb::vtab::arrow::ArrowVTab>("arrow")
        .unwrap();
    let writer = con.try_clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let mut door = DuckDb::new(con, "copied", Some(root));
    let checked = run_written(
        &mut door,
        &mut |location, log| write_with_copy(&writer, location, log),
        Suite {
            logs: 40,
            evolve: true,
            ..Suite::default()
        },
    );
    assert_eq!(checked, 240);
}

/// Every file of the table at `dir`, with its bytes.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Bad input to `COPY … TO (FORMAT bazof)` is a SQL error naming what is wrong, and the
/// table stays byte-for-byte unchanged, also when the statement fails after batches
/// were already written.
#[test]
fn copy_refuses_bad_input_and_leaves_the_table_unchanged() {
    let con = con();
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("prices");
    let loc = table.to_str().unwrap();
    con.execute_batch(
        "CREATE TABLE ev AS SELECT 'k' || (i % 1000) AS id, \
         to_timestamp(1704067200 + i) AS ts, (i * 0.5)::DOUBLE AS price, \
         i % 7 = 0 AS gone FROM range(300000) t(i)",
    )
    .unwrap();
    let n = con
        .execute(
            &format!("COPY (SELECT id, ts, price FROM ev) TO '{loc}' (FORMAT bazof, KEY 'id', EVENT_TIME 'ts')"),
            [],
        )
        .unwrap();
    assert_eq!(n, 300_000);
    let count: i64 = con
        .query_row(
            &format!("SELECT count(*) FROM bazof_scan('{loc}')"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(count, 1000);
    let before = files(&table);
    let cases = [
        (
            "SELECT id, ts, price FROM ev",
            "KEY 'symbol', EVENT_TIME 'ts'",
            "symbol",
        ),
        (
            "SELECT id, ts, price FROM ev",
            "KEY 'id', EVENT_TIME 'ts', SPEED 3",
            "unknown option SPEED",
        ),
        (
            "SELECT id, ts, price, 'x' AS note FROM ev",
            "KEY 'id', EVENT_TIME 'ts'",
            "the input has columns the table lacks: 'note'",
        ),
        (
            "SELECT id, ts, price, price AS gone FROM ev",
            "KEY 'id', EVENT_TIME 'ts', DELETED 'gone'",
            "the deletion column 'gone' has type Float64; it must be Boolean",
        ),
        (
            "SELECT CASE WHEN price > 100000 THEN NULL ELSE id END AS id, ts, price FROM ev",
            "KEY 'id', EVENT_TIME 'ts'",
            "column 'id' is not nullable but row",
        ),
        (
            // Fails while rows are being written: after the first batches were flushed.
            "SELECT id, ts, CASE WHEN price < 140000 THEN price ELSE error('boom') END AS price FROM ev",
            "KEY 'id', EVENT_TIME 'ts'",
            "boom",
        ),
        (
            // DuckDB itself refuses a partitioned write into a non-empty directory.
            "SELECT id, ts, price FROM ev",
            "KEY 'id', EVENT_TIME 'ts', PARTITION_BY (id)",
            "is not empty",
        ),
        (
            "SELECT id, ts, price FROM ev",
            "KEY 'id', EVENT_TIME 'ts', PARTITION_BY (id), OVERWRITE_OR_IGNORE",
            "writes one table",
        ),
    ];
    for (query, options, want) in cases {
        let sql = format!("COPY ({query}) TO '{loc}' (FORMAT bazof, {options})");
        let e = con.execute(&sql, []).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains(want), "{sql}: {e}");
        assert!(files(&table) == before, "{sql} changed the table");
    }
}

/// Without insertion order DuckDB writes through the copy function's parallel sink
/// (not the batch path): still one commit, equal to DuckDB's own last row per key.
#[test]
fn copy_on_many_threads_without_insertion_order_is_one_commit() {
    let con = con();
    con.execute_batch(
        "SET preserve_insertion_order = false; SET threads = 4; \
         CREATE TABLE ev AS SELECT 'k' || (i % 50000) AS id, \
         to_timestamp(1704067200 + i) AS ts, i AS n FROM range(600000) t(i)",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t");
    let loc = loc.to_str().unwrap();
    let copied = con
        .execute(
            &format!("COPY ev TO '{loc}' (FORMAT bazof, KEY 'id', EVENT_TIME 'ts')"),
            [],
        )
        .unwrap();
    assert_eq!(copied, 600_000);
    let got = common::rows(
        &con,
        &format!("SELECT count(*), sum(n) FROM bazof_scan('{loc}')"),
    );
    let want = common::rows(
        &con,
        "SELECT count(*), sum(n) FROM (SELECT arg_max(n, ts) AS n FROM ev GROUP BY id)",
    );
    assert_eq!(got, want);
    let log = common::rows(
        &con,
        &format!("SELECT max(commit), sum(rows_added) FROM bazof_log('{loc}')"),
    );
    assert_eq!(log, common::rows(&con, "SELECT 1::BIGINT, 600000::HUGEINT"));
}

/// One bazof table into another through DuckDB, reading and writing in one statement
/// on all threads: `COPY (SELECT … FROM bazof_scan(a) WHERE …) TO b (FORMAT bazof)`.
/// Table b as of now is table a's answer to the query.
#[test]
fn copy_from_one_table_into_another() {
    let con = con();
    con.execute_batch("SET threads = 4").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    // Several events per key, some late, in two commits: a has history to resolve.
    for (first, last) in [(0, 200_000), (150_000, 400_000)] {
        con.execute(
            &format!(
                "COPY (SELECT 'k' || lpad((i % 50000)::VARCHAR, 6, '0') AS id, \
                 to_timestamp(1704067200 + (i * 7919) % 1000000) AS ts, i AS n, \
                 (i % 3)::VARCHAR AS tag FROM range({first}, {last}) t(i)) \
                 TO '{a}' (FORMAT bazof, KEY 'id', EVENT_TIME 'ts')"
            ),
            [],
        )
        .unwrap();
    }
    let query = format!("SELECT * FROM bazof_scan('{a}') WHERE tag <> '1' AND id >= 'k010000'");
    con.execute(
        &format!("COPY ({query}) TO '{b}' (FORMAT bazof, KEY 'id', EVENT_TIME 'ts')"),
        [],
    )
    .unwrap();
    let count = |sql: &str| -> i64 { con.query_row(sql, [], |r| r.get(0)).unwrap() };
    let want = count(&format!("SELECT count(*) FROM ({query})"));
    assert!(want > 10_000, "the query keeps many rows ({want})");
    assert_eq!(
        count(&format!("SELECT count(*) FROM bazof_scan('{b}')")),
        want
    );
    let differ =
        format!("SELECT count(*) FROM (({query}) EXCEPT ALL (SELECT * FROM bazof_scan('{b}')))");
    assert_eq!(count(&differ), 0);
}
