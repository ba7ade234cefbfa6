#!/usr/bin/env python3
"""Issue 16 benchmark: a point-in-time join of N facts (orders) with a bazof table
of customers, in DuckDB through the loadable extension, against what a user would
otherwise write over the raw events in Parquet, in the same run.

usage: pit_join.py EXTENSION DIR [--facts N] [--runs N] [--threads N]
DIR is a directory made by `bazof-compaction-bench gen` (see bench.py): its table
and raw.parquet hold the same events. Orders get a random customer and a random
time within the events' span (seed 7); each is joined with the customer's row as
it was at the order's own time.

* bazof: `ASOF JOIN bazof_history(table)` on the key and `valid_from <= placed_at`;
  the match counts when `placed_at < valid_to` (a tombstone ends an interval).
* raw: the same ASOF JOIN over the raw events, after resolving ties (equal event
  times: the later commit, then the later row wins) and dropping deletions after
  the join, which is what history does for you.
Both answers are reduced to one checksum and must be equal.
"""
import json
import os
import sys

import duckdb

from duckdb_door import timed

CHECK = ("SELECT count(*)::BIGINT, count(c_qty)::BIGINT, coalesce(sum(c_qty),0)::BIGINT, "
         "count(DISTINCT c_category)::BIGINT FROM ({})")


def bazof_sql(table):
    return f"""
    SELECT o.id, CASE WHEN live THEN qty END AS c_qty,
           CASE WHEN live THEN category END AS c_category
    FROM (SELECT o.*, h.*, (h.valid_to IS NULL OR o.placed_at < h.valid_to) AS live
          FROM orders o ASOF LEFT JOIN bazof_history('{table}') h
            ON o.customer = h.key AND o.placed_at >= h.valid_from) o"""


def raw_sql(raw):
    # Ties resolved, deletions kept until after the join (they end an interval).
    return f"""
    WITH ev AS (
      SELECT * FROM read_parquet('{raw}')
      QUALIFY row_number() OVER (PARTITION BY key, event_time ORDER BY "commit" DESC, "row" DESC) = 1)
    SELECT o.id, CASE WHEN e.deleted THEN NULL ELSE e.qty END AS c_qty,
           CASE WHEN e.deleted THEN NULL ELSE e.category END AS c_category
    FROM orders o ASOF LEFT JOIN ev e
      ON o.customer = e.key AND o.placed_at >= e.event_time"""


def main():
    opts = sys.argv[1:]

    def opt(name, default):
        return int(opts[opts.index(name) + 1]) if name in opts else default

    facts, runs, threads = opt("--facts", 1_000_000), opt("--runs", 3), opt("--threads", os.cpu_count())
    ext, d = [a for i, a in enumerate(opts) if not a.startswith("--")
              and (i == 0 or not opts[i - 1].startswith("--"))][:2]
    meta = json.load(open(os.path.join(d, "meta.json")))
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{ext}'")
    con.execute(f"SET threads = {threads}")
    lo, hi = con.execute(f"SELECT epoch_us(min(event_time)), epoch_us(max(event_time)) "
                         f"FROM read_parquet('{meta['raw_file']}')").fetchone()
    con.execute("SELECT setseed(0.7)")
    con.execute(f"""CREATE TABLE orders AS
        SELECT i AS id, 'k' || lpad((floor(random() * {meta['keys']}))::BIGINT::VARCHAR, 8, '0') AS customer,
               make_timestamptz(({lo} + floor(random() * ({hi} - {lo})))::BIGINT) AS placed_at
        FROM range({facts}) t(i)""")
    print(f"## point-in-time join: {facts} orders x {meta['workload']} table "
          f"(K = {meta['keys']}, {meta['events']} events), {threads} threads, median of {runs}")
    b_ms, b = timed(con, CHECK.format(bazof_sql(meta["table"])), runs)
    r_ms, r = timed(con, CHECK.format(raw_sql(meta["raw_file"])), runs)
    print("| method | ms | answer (orders, matched, sum qty, categories) |\n|---|---:|---|")
    print(f"| bazof_history + ASOF JOIN | {b_ms:.0f} | {b[0]} |")
    print(f"| raw events (ties resolved) + ASOF JOIN | {r_ms:.0f} | {r[0]} |")
    print(f"raw / bazof = {r_ms / b_ms:.2f}; same answer: {b == r}")


if __name__ == "__main__":
    main()
