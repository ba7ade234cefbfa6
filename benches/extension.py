#!/usr/bin/env python3
"""The loadable extension against DuckDB itself, side by side in one run (DuckDB's
Python package, 2.0.0, which has its own Parquet writer and reader).

    plugins/bazof-duckdb/extension/build.sh        # release extension
    python3 benches/extension.py EXT [--rows N] [--keys K] [--rounds R] [--dir D]

Writes: COPY (FROM read_csv(events.csv)) TO a bazof table (FORMAT bazof) against
COPY (FROM read_csv(events.csv)) TO events.parquet, alternating, each cell in a
child process of its own (wall time, CPU time and peak RSS of that process).
Reads, on the table just written: the current state aggregated (sum over
bazof_scan) against one key looked up with WHERE key = '…' (the predicate pushed
to the core), and DuckDB's own arg_max per key over the Parquet of the raw events,
each first in a fresh process (cold: the first query of a session), then in one
session (warm: 10 full scans, lookups of 500 different keys, as a user's session
would run them). Prints one line per cell (medians) and the ratios.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def connect(ext, threads=None):
    import duckdb

    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{ext}'")
    if threads:
        con.execute(f"SET threads = {threads}")
    return con


def cell(args):
    """One measurement in this (child) process: prints JSON."""
    con = connect(args.ext)
    csv, table, parquet = (os.path.join(args.dir, n) for n in ("events.csv", "table", "events.parquet"))
    t0, c0 = time.perf_counter(), time.process_time()
    if args.cell == "copy-bazof":
        shutil.rmtree(table, ignore_errors=True)
        con.execute(f"COPY (FROM read_csv('{csv}')) TO '{table}' (FORMAT bazof, DELETED 'deleted')")
        out = None
    elif args.cell == "copy-parquet":
        con.execute(f"COPY (FROM read_csv('{csv}')) TO '{parquet}' (FORMAT parquet)")
        out = None
    else:
        sql = {
            "scan-all": f"SELECT count(*), sum(qty) FROM bazof_scan('{table}')",
            "scan-where": f"SELECT count(*), sum(qty) FROM bazof_scan('{table}') WHERE key = '{args.key}'",
            # The last event per key (ties: the later row), unless it is a tombstone.
            "raw-all": "SELECT count(*), sum(qty) FROM (SELECT arg_max(qty, (event_time, file_row_number)) AS qty, "
                       "arg_max(deleted, (event_time, file_row_number)) AS gone "
                       f"FROM read_parquet('{parquet}', file_row_number = true) GROUP BY key) WHERE NOT gone",
        }[args.cell]
        out = con.execute(sql).fetchall()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "rss_mb": rss, "out": out}))


LOOKUPS = 500
"""Different keys looked up in the warm session (the median of 50 swung ±20 % with this
VM's noise)."""


def session(args):
    """Warm: one process, repeated queries; prints JSON of medians (ms)."""
    con = connect(args.ext)
    table = os.path.join(args.dir, "table")

    def ms(sql):
        t0 = time.perf_counter()
        con.execute(sql).fetchall()
        return (time.perf_counter() - t0) * 1000

    full = f"SELECT count(*), sum(qty) FROM bazof_scan('{table}')"
    ms(full)
    full_ms = statistics.median(ms(full) for _ in range(10))
    where_ms = statistics.median(
        ms(f"SELECT count(*), sum(qty) FROM bazof_scan('{table}') WHERE key = 'k{str(k).rjust(7, '0')}'")
        for k in range(7, args.keys, max(args.keys // LOOKUPS, 1)))
    print(json.dumps({"full_ms": full_ms, "where_ms": where_ms}))


def run_cell(args, name, key=""):
    cmd = [sys.executable, __file__, args.ext, "--dir", args.dir, "--cell", name, "--key", key]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{name} failed: {r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ext")
    p.add_argument("--rows", type=int, default=1_260_000)
    p.add_argument("--keys", type=int, default=250_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dir")
    p.add_argument("--cell")
    p.add_argument("--key", default="")
    args = p.parse_args()
    if args.cell == "session":
        return session(args)
    if args.cell:
        return cell(args)
    args.dir = args.dir or tempfile.mkdtemp(prefix="bazof-ext-bench-")
    csv = os.path.join(args.dir, "events.csv")
    if not os.path.exists(csv):
        # Events of K keys over a year, every 10th arriving late by up to a month,
        # 2 % tombstones; the columns of the main benchmark's CSV.
        con = connect(args.ext)
        con.execute(f"""COPY (SELECT 'k' || lpad((hash(i) % {args.keys})::VARCHAR, 7, '0') AS key,
            TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds((i * 31536000 // {args.rows})
              - CASE WHEN i % 10 = 0 THEN hash(i * 7) % 2592000 ELSE 0 END) AS event_time,
            'c' || (hash(i * 3) % 40) AS category, (hash(i * 5) % 1000)::BIGINT AS qty,
            (hash(i * 11) % 100000) / 100.0::DOUBLE AS price, hash(i * 13) % 2 = 0 AS active,
            TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(hash(i * 17) % 31536000) AS updated_at,
            hash(i * 19) % 50 = 0 AS deleted
            FROM range({args.rows}) t(i)) TO '{csv}'""")
    print(f"{args.rows} rows, {args.keys} keys, {os.path.getsize(csv) / 1e6:.0f} MB CSV, "
          f"{args.rounds} rounds; cells alternate, each in a child process", flush=True)
    res = {}
    for _ in range(args.rounds):
        for name in ("copy-parquet", "copy-bazof"):
            res.setdefault(name, []).append(run_cell(args, name))
    key = "k" + str(args.keys // 3).rjust(7, "0")
    for _ in range(args.rounds):
        for name in ("raw-all", "scan-all", "scan-where"):
            res.setdefault(name, []).append(run_cell(args, name, key))
    med = {n: {m: statistics.median(r[m] for r in rs) for m in ("wall_ms", "cpu_ms", "rss_mb")}
           for n, rs in res.items()}
    for n, m in med.items():
        print(f"{n:13} wall {m['wall_ms']:8.1f} ms  cpu {m['cpu_ms']:8.1f} ms  peak RSS {m['rss_mb']:6.0f} MB"
              f"  answer {res[n][-1]['out']}")
    assert res["scan-all"][-1]["out"] == res["raw-all"][-1]["out"], "bazof_scan and raw arg_max disagree"
    print(f"COPY TO bazof ÷ COPY TO parquet (wall): {med['copy-bazof']['wall_ms'] / med['copy-parquet']['wall_ms']:.2f}×")
    print(f"raw arg_max ÷ bazof_scan (wall): {med['raw-all']['wall_ms'] / med['scan-all']['wall_ms']:.1f}×")
    print(f"full bazof_scan ÷ WHERE key = (wall, each a fresh process): "
          f"{med['scan-all']['wall_ms'] / med['scan-where']['wall_ms']:.1f}×")
    cmd = [sys.executable, __file__, args.ext, "--dir", args.dir, "--keys", str(args.keys), "--cell", "session"]
    warm = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip())
    print(f"one session: full bazof_scan {warm['full_ms']:.1f} ms, WHERE key = {warm['where_ms']:.2f} ms "
          f"(median of {LOOKUPS} keys): {warm['full_ms'] / warm['where_ms']:.1f}×")


if __name__ == "__main__":
    main()
