"""`bazof import` against DuckDB's `COPY (FROM read_csv(…)) TO 'x.parquet'` on the same CSV,
alternating in one loop (issue 15: import speed).

    cargo build --release -p bazof-cli
    python3 benches/import.py EVENTS.csv --rounds 7 target/release/bazof [OTHER_BAZOF …]

Needs `pip install duckdb==2.0.0`. The CSV needs columns `key`, `event_time` and `deleted`
(`benches/extension.py` writes one). Each bazof binary imports into a fresh table, timed
as a process (start-up and type inference included) with its user CPU and peak RSS from
`/usr/bin/time`; DuckDB's statement is timed inside Python (start-up excluded), with 2
threads as bazof has 2 cores here. Prints per-round ratios and medians.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

import duckdb


def bazof_import(binary, csv, table):
    shutil.rmtree(table, ignore_errors=True)
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %M", binary, "import", table, csv,
         "--key", "key", "--event-time", "event_time", "--deleted", "deleted"],
        capture_output=True, text=True, check=True)
    wall, user, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user), int(rss) / 1024


def duckdb_copy(csv, out):
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET enable_progress_bar = false")
    cpu0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    t0 = time.perf_counter()
    con.execute(f"COPY (FROM read_csv('{csv}')) TO '{out}' (FORMAT parquet)")
    wall = time.perf_counter() - t0
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0
    con.close()
    os.remove(out)
    return wall, cpu


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv")
    p.add_argument("bazof", nargs="+", help="bazof CLI binaries to compare")
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="bazof-import-")
    rows = {b: [] for b in a.bazof}
    ddb = []
    for r in range(a.rounds):
        line = []
        for b in a.bazof:
            rows[b].append(bazof_import(b, a.csv, os.path.join(work, "t")))
        ddb.append(duckdb_copy(a.csv, os.path.join(work, "x.parquet")))
        for b in a.bazof:
            line.append(f"{b}: {rows[b][-1][0]:.2f} s ({ddb[-1][0] / rows[b][-1][0]:.2f}x)")
        print(f"round {r + 1}: duckdb {ddb[-1][0]:.2f} s; " + "; ".join(line), flush=True)
    med = statistics.median
    print(f"duckdb COPY: median {med(w for w, _ in ddb):.2f} s, CPU {med(c for _, c in ddb):.2f} s")
    for b in a.bazof:
        w = [x[0] for x in rows[b]]
        ratios = [d[0] / x for d, x in zip(ddb, w)]
        print(f"{b}: median {med(w):.2f} s, CPU {med(x[1] for x in rows[b]):.2f} s, "
              f"peak RSS {med(x[2] for x in rows[b]):.0f} MB, speed vs DuckDB: median "
              f"{med(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
