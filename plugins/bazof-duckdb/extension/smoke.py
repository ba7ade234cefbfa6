#!/usr/bin/env python3
"""Smoke test of the loadable extension with the DuckDB Python package.

    pip install duckdb==2.0.0
    python3 plugins/bazof-duckdb/extension/smoke.py [path/to/bazof.duckdb_extension]

LOADs the extension (unsigned) and queries the bazof 0.2 fixtures in test-data/
(read in place): the positional and named as_of forms, keys => [...], bazof_log,
the headline financials query, a clear error for a bad as_of; then writes with
COPY ... TO (FORMAT bazof) (create, evolve, refuse with the table unchanged), reads
bazof_history and bazof_diff, checks that WHERE on the key prunes (DuckDB's log)
and that CREATE TABLE AS on all threads keeps key order.
"""
import os
import sys

import duckdb

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.normpath(os.path.join(here, "..", "..", ".."))
compat = os.path.join(repo, "test-data")
target = os.environ.get("BAZOF_EXT_TARGET_DIR", os.path.join(here, "target"))
ext = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "release", "bazof.duckdb_extension")

con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute(f"LOAD '{ext}'")
t0 = os.path.join(compat, "table0")
fin = os.path.join(compat, "financials")


def rows(sql):
    return con.execute(sql).fetchall()


assert rows(f"SELECT key, value FROM bazof_scan('{t0}') ORDER BY key") == [
    ("1", "abc2"), ("2", "xyz2"), ("3", "www2")], "current"
want_jan = [("1", "abc"), ("2", "xyz")]
assert rows(f"SELECT key, value FROM bazof_scan('{t0}', TIMESTAMP '2024-01-01')") == want_jan, "positional as_of"
assert rows(f"SELECT key, value FROM bazof_scan('{t0}', as_of => '2024-01-01')") == want_jan, "named as_of"
assert rows(f"SELECT key, value FROM bazof_scan_at('{t0}', DATE '2024-01-01')") == want_jan, "bazof_scan_at"
assert rows(f"SELECT key FROM bazof_scan('{t0}', keys => ['3'])") == [("3",)], "keys"
assert rows(f"SELECT commit FROM bazof_log('{t0}')") == [(1,)], "bazof_log"

# Another connection (cursor) of the same in-memory database sees the functions too.
cur = con.cursor()
assert cur.execute(f"SELECT count(*) FROM bazof_scan('{t0}', TIMESTAMP '2024-01-01')").fetchall() == [(2,)]

headline = rows(
    f"SELECT key AS symbol, revenue, net_income FROM bazof_scan('{fin}', as_of => TIMESTAMP '2019-01-17') "
    "WHERE industry IN ('Software') ORDER BY revenue DESC LIMIT 5")
assert len(headline) == 5 and all(isinstance(r[1], int) for r in headline), headline
revenues = [r[1] for r in headline]
assert revenues == sorted(revenues, reverse=True), headline

try:
    rows(f"SELECT * FROM bazof_scan('{t0}', as_of => 'yesterday')")
    raise AssertionError("a bad as_of must fail")
except duckdb.Error as e:
    assert "is not a timestamp" in str(e), e
try:
    rows("SELECT * FROM bazof_scan('/nonexistent/bazof/table')")
    raise AssertionError("a missing table must fail")
except duckdb.Error as e:
    assert "is not a bazof table" in str(e), e

# COPY ... TO (FORMAT bazof): a query's rows as one commit; the first write creates
# the table, a second one with EVOLVE adds a column that older rows read as NULL.
import tempfile
out = os.path.join(tempfile.mkdtemp(prefix="bazof-smoke-"), "prices")
con.execute("CREATE TABLE ev AS SELECT * FROM (VALUES ('a', TIMESTAMPTZ '2024-01-01 00:00:00+00', 1.5::DOUBLE), "
            "('b', TIMESTAMPTZ '2024-01-02 00:00:00+00', 2.5::DOUBLE)) t(id, ts, price)")
assert rows(f"COPY ev TO '{out}' (FORMAT bazof, KEY 'id', EVENT_TIME 'ts')") == [(2,)], "COPY TO"
assert rows(f"COPY (SELECT id, ts, price, 'x' AS note FROM ev LIMIT 1) TO '{out}' "
            "(FORMAT bazof, KEY 'id', EVENT_TIME 'ts', EVOLVE)") == [(1,)], "COPY TO evolve"
assert rows(f"SELECT id, note FROM bazof_scan('{out}') ORDER BY id") == [("a", "x"), ("b", None)], "evolved scan"
assert rows(f"SELECT max(commit) FROM bazof_log('{out}')") == [(2,)], "two commits"
# history and diff: a's second write (same event time, later commit) wins the tie.
assert rows(f"SELECT id, valid_to, note FROM bazof_history('{out}') ORDER BY id") == [
    ("a", None, "x"), ("b", None, None)], "bazof_history"
assert rows(f"SELECT id, change FROM bazof_diff('{out}', from_snapshot => 1, to_snapshot => 2)") == [
    ("a", "update")], "bazof_diff"


def listing(d):
    return sorted((os.path.join(r, f), open(os.path.join(r, f), "rb").read())
                  for r, _, fs in os.walk(d) for f in fs)


before = listing(out)
try:
    rows(f"COPY (SELECT id, ts, 3 AS other FROM ev) TO '{out}' (FORMAT bazof, KEY 'id', EVENT_TIME 'ts')")
    raise AssertionError("new columns without EVOLVE must fail")
except duckdb.Error as e:
    assert "the input has columns the table lacks: 'other'" in str(e), e
assert listing(out) == before, "a refused COPY left the table unchanged"

# WHERE on the key prunes (C API v2 filter pushdown), as DuckDB's log shows.
con.execute("CALL enable_logging()")
assert rows(f"SELECT key, value FROM bazof_scan('{t0}') WHERE key = '2'") == [("2", "xyz2")], "WHERE key"
logged = [m for (m,) in rows("SELECT message FROM duckdb_logs WHERE type = 'bazof'")]
assert any("key predicate: key = '2'" in m for m in logged), logged

# Key ranges on all threads, output back in key order (batch indexes).
big = os.path.join(os.path.dirname(out), "big")
con.execute("CREATE TABLE bigev AS SELECT 'k' || lpad((i * 7919 % 200000)::VARCHAR, 6, '0') AS id, "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i) AS ts, i AS n FROM range(400000) t(i)")
con.execute(f"COPY bigev TO '{big}' (FORMAT bazof, KEY 'id', EVENT_TIME 'ts')")
con.execute("SET threads = 4")
con.execute(f"CREATE TABLE copied AS SELECT * FROM bazof_scan('{big}')")
keys = [k for (k,) in rows("SELECT id FROM copied")]
assert len(keys) == 200000 and keys == sorted(keys), "CTAS keeps key order"

print("bazof extension smoke test passed (duckdb", duckdb.__version__ + "):")
for r in headline:
    print("  ", r)
