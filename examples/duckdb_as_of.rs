//! Event-time travel from DuckDB SQL: a late event changes one past answer and not another.
//!
//! Commit 1 records a widget's price of 10 on Jan 1 and 12 on Mar 1. Commit 2 arrives
//! later with an event dated Feb 1 (a price of 11 that was reported late). Both are
//! written with `COPY … TO (FORMAT bazof)`. In SQL,
//! `bazof_scan(path, as_of)` answers "what was the price on Feb 15?" (changed by
//! commit 2) and `snapshot => 1` answers it "as known after commit 1";
//! `bazof_log(path)` lists the commits to choose from.
//!
//! Run: `cargo run -p bazof-examples --example duckdb_as_of`

type Error = Box<dyn std::error::Error + Send + Sync>;

pub fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let location = dir.path().join("prices").to_string_lossy().into_owned();

    // Before the database opens: C API v2, so `WHERE key = …` prunes by key and
    // `COPY … TO (FORMAT bazof)` writes.
    bazof_duckdb::install()?;
    let con = duckdb::Connection::open_in_memory()?;
    bazof_duckdb::register(&con)?;

    // Each COPY is one commit; the first creates the table.
    let copy = |rows: &str| -> Result<usize, Error> {
        Ok(con.execute(
            &format!(
                "COPY (SELECT * FROM (VALUES {rows}) t(item, ts, price)) TO '{location}' \
                 (FORMAT bazof, KEY 'item', EVENT_TIME 'ts')"
            ),
            [],
        )?)
    };
    copy("('widget', TIMESTAMPTZ '2024-01-01 00:00:00+00', 10), ('widget', TIMESTAMPTZ '2024-03-01 00:00:00+00', 12)")?;
    copy("('widget', TIMESTAMPTZ '2024-02-01 00:00:00+00', 11)")?;

    let price = |sql: &str| -> Result<i64, Error> { Ok(con.query_row(sql, [], |r| r.get(0))?) };
    let feb15_now = price(&format!(
        "SELECT price FROM bazof_scan('{location}', TIMESTAMP '2024-02-15') WHERE item = 'widget'"
    ))?;
    let feb15_then = price(&format!(
        "SELECT price FROM bazof_scan('{location}', as_of => DATE '2024-02-15', snapshot => 1) WHERE item = 'widget'"
    ))?;
    let jan15 = price(&format!(
        "SELECT price FROM bazof_scan('{location}', as_of => '2024-01-15T00:00:00Z', keys => ['widget'])"
    ))?;
    let current = price(&format!("SELECT price FROM bazof_scan('{location}')"))?;
    println!("widget on Feb 15: {feb15_now} (as known after commit 1: {feb15_then}); on Jan 15: {jan15}; now: {current}");
    assert_eq!((feb15_now, feb15_then, jan15, current), (11, 10, 10, 12));

    let mut stmt = con.prepare(&format!(
        "SELECT commit, operation, rows_added FROM bazof_log('{location}') ORDER BY commit"
    ))?;
    let log: Vec<(i64, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (commit, op, rows) in &log {
        println!("commit {commit}: {op}, {rows} rows");
    }
    assert_eq!(log.len(), 2);
    Ok(())
}
