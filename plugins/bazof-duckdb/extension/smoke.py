#!/usr/bin/env python3
"""Smoke test of the loadable extension with the DuckDB Python package.

    pip install duckdb==2.0.0
    python3 plugins/bazof-duckdb/extension/smoke.py [path/to/bazof.duckdb_extension]

LOADs the extension (unsigned) and queries the bazof 0.2 fixtures in test-data/
(read in place): the positional and named as_of forms, keys => [...], bazof_log,
the headline financials query, a clear error for a bad as_of, bazof_write
(create, evolve, refuse), bazof_history and bazof_diff.
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

# bazof_write: a query's rows as one commit; the first write creates the table, a
# second one with evolve => true adds a column that older rows read as NULL.
import tempfile
out = os.path.join(tempfile.mkdtemp(prefix="bazof-smoke-"), "prices")
con.execute("CREATE TABLE ev AS SELECT * FROM (VALUES ('a', TIMESTAMPTZ '2024-01-01 00:00:00+00', 1.5::DOUBLE), "
            "('b', TIMESTAMPTZ '2024-01-02 00:00:00+00', 2.5::DOUBLE)) t(id, ts, price)")
assert rows(f"SELECT commit, rows FROM bazof_write('{out}', 'SELECT * FROM ev', key => 'id', event_time => 'ts')") \
    == [(1, 2)], "bazof_write"
assert rows(f"SELECT commit FROM bazof_write('{out}', 'SELECT id, ts, price, ''x'' AS note FROM ev LIMIT 1', "
            "key => 'id', event_time => 'ts', evolve => true)") == [(2,)], "bazof_write evolve"
assert rows(f"SELECT id, note FROM bazof_scan('{out}')") == [("a", "x"), ("b", None)], "evolved scan"
# history and diff: a's second write (same event time, later commit) wins the tie.
assert rows(f"SELECT id, valid_to, note FROM bazof_history('{out}') ORDER BY id") == [
    ("a", None, "x"), ("b", None, None)], "bazof_history"
assert rows(f"SELECT id, change FROM bazof_diff('{out}', from_snapshot => 1, to_snapshot => 2)") == [
    ("a", "update")], "bazof_diff"
try:
    rows(f"SELECT * FROM bazof_write('{out}', 'SELECT id, ts, 3 AS other FROM ev', key => 'id', event_time => 'ts')")
    raise AssertionError("new columns without evolve must fail")
except duckdb.Error as e:
    assert "the input has columns the table lacks: 'other'" in str(e), e

print("bazof extension smoke test passed (duckdb", duckdb.__version__ + "):")
for r in headline:
    print("  ", r)
