#!/usr/bin/env python3
"""Issue 17 benchmark: DuckDB's `bazof_scan` (the loadable extension) on 1 and on all
DuckDB threads, against the limit (DuckDB reading the resolved state from one Parquet
file) and against what a user would otherwise do (DuckDB over the raw events in
Parquet: the latest event per key with row_number), in the same run.

usage: duckdb_door.py EXTENSION DIR [--runs N] [--threads 1,2]
DIR is a directory made by `bazof-compaction-bench gen` (see bench.py): it holds the
table, the raw events and the resolved state per query point (meta.json).
Every cell's answer (a checksum over all columns) is compared with the limit's.
"""
import json
import math
import os
import statistics
import sys
import time

import duckdb

from bench import answer_sql, keys_sql, limit_src, raw_src, ts


def bazof_src(meta, p, where_keys):
    args = [f"'{meta['table']}'"]
    if p["as_of"] is not None:
        args.append(f"as_of => {ts(p['as_of'])}")
    src = f"SELECT * FROM bazof_scan({', '.join(args)})"
    if p["keys"]:
        if where_keys:
            src += " WHERE " + keys_sql(p["keys"])
        else:
            src = src[:-1] + ", keys => [" + ", ".join(f"'{k}'" for k in p["keys"]) + "])"
    return src


def close(a, b):
    """Equal answers; float sums may differ in the last digits (summation order)."""
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


def timed(con, sql, runs):
    out, ms = None, []
    for _ in range(runs):
        t = time.perf_counter()
        out = con.execute(sql).fetchall()
        ms.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ms), out


def main():
    opts = sys.argv[1:]
    runs = int(opts[opts.index("--runs") + 1]) if "--runs" in opts else 3
    threads = [int(t) for t in (opts[opts.index("--threads") + 1] if "--threads" in opts
                                else f"1,{os.cpu_count()}").split(",")]
    ext, d = [a for a in opts if not a.startswith("--") and a not in (str(runs),)][:2]
    meta = json.load(open(os.path.join(d, "meta.json")))
    print(f"## {meta['workload']}: K = {meta['keys']}, {meta['events']} events, "
          f"{meta['table_files']} files; median of {runs}, ms")
    header = "| query | threads | limit | DuckDB raw | bazof_scan | bazof / limit | raw / bazof | same |"
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    for n in threads:
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        con.execute(f"LOAD '{ext}'")
        con.execute(f"SET threads = {n}")
        for p in meta["points"]:
            variants = [("", False)] + ([(" (WHERE)", True)] if p["keys"] else [])
            lim_ms, lim = timed(con, answer_sql(limit_src(p), p["grouped"]), runs)
            raw_ms, raw = timed(con, answer_sql(raw_src(meta, p), p["grouped"]), runs)
            for suffix, where in variants:
                b_ms, b = timed(con, answer_sql(bazof_src(meta, p, where), p["grouped"]), runs)
                same = close(b, lim) and close(b, raw)
                print(f"| {p['name']}{suffix} | {n} | {lim_ms:.1f} | {raw_ms:.1f} | {b_ms:.1f} | "
                      f"{b_ms / lim_ms:.2f} | {raw_ms / b_ms:.1f} | {same} |")
                sys.stdout.flush()
        con.close()


if __name__ == "__main__":
    main()
