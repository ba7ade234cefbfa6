#!/usr/bin/env python3
"""Issue 14 benchmark: bazof's core scan vs the limit (DuckDB reading the resolved
state from one Parquet file) vs DuckDB over the raw events, for the dense and the
slowly changing (scd) workloads, plus space and per-compaction cost.

usage: bench.py BIN OUT_DIR KEYS [workload ...] [--runs N] [--policy SPEC] [--regen]
BIN is the release build of bazof-compaction-bench (core only, no Polars/DuckDB).
Needs the duckdb Python package (pip install duckdb==2.0.0).
"""
import json
import os
import statistics
import subprocess
import sys
import time

import duckdb

CHECKSUM = ("SELECT count(*)::BIGINT, coalesce(sum(qty),0)::BIGINT, "
            "coalesce(sum(epoch_us(event_time) % 1000000007),0)::BIGINT, "
            "coalesce(sum(active::INTEGER),0)::BIGINT, "
            "coalesce(sum(epoch_us(updated_at) % 1000000007),0)::BIGINT, "
            "count(DISTINCT category)::BIGINT, coalesce(sum(price),0)::DOUBLE")


def ts(us):
    return f"make_timestamptz({us}::BIGINT)"


def keys_sql(keys):
    return "key IN (" + ", ".join(f"'{k}'" for k in keys) + ")"


def answer_sql(src, grouped):
    if grouped:
        return f"SELECT category, sum(qty)::BIGINT FROM ({src}) WHERE category IS NOT NULL GROUP BY ALL ORDER BY 1"
    return f"{CHECKSUM} FROM ({src})"


def limit_src(p):
    src = f"SELECT * FROM read_parquet('{p['state_file']}')"
    if p["keys"]:
        src += " WHERE " + keys_sql(p["keys"])
    return src


def raw_src(meta, p):
    where = []
    if p["as_of"] is not None:
        where.append(f"event_time <= {ts(p['as_of'])}")
    if p["keys"]:
        where.append(keys_sql(p["keys"]))
    w = ("WHERE " + " AND ".join(where)) if where else ""
    inner = (f"SELECT * FROM read_parquet('{meta['raw_file']}') {w} QUALIFY row_number() OVER "
             "(PARTITION BY key ORDER BY event_time DESC, \"commit\" DESC, \"row\" DESC) = 1")
    return f"SELECT * FROM ({inner}) WHERE NOT deleted"


def time_duckdb(sql, runs):
    out, ms = None, []
    for _ in range(runs):
        con = duckdb.connect()
        t = time.perf_counter()
        out = con.execute(sql).fetchall()
        ms.append((time.perf_counter() - t) * 1e3)
        con.close()
    return statistics.median(ms), out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = sys.argv[1:]
    runs = int(opts[opts.index("--runs") + 1]) if "--runs" in opts else 3
    policy = opts[opts.index("--policy") + 1] if "--policy" in opts else "volume"
    if "--runs" in opts:
        args.remove(str(runs))
    if "--policy" in opts:
        args.remove(policy)
    binary, out, keys = args[0], args[1], int(args[2])
    workloads = args[3:] or ["dense", "scd"]
    report = {}
    for wl in workloads:
        d = os.path.join(out, f"{wl}-k{keys}-{policy.replace(':', '_')}")
        if "--regen" in opts or not os.path.exists(os.path.join(d, "meta.json")):
            t = time.perf_counter()
            subprocess.run([binary, "gen", "--workload", wl, "--keys", str(keys), "--out", d,
                            "--policy", policy], check=True, stdout=subprocess.DEVNULL)
            print(f"# {wl}: generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        meta = json.load(open(os.path.join(d, "meta.json")))
        rows = []
        for p in meta["points"]:
            core = json.loads(subprocess.run(
                [binary, "scan", "--dir", d, "--point", p["name"], "--runs", str(runs)],
                check=True, capture_output=True, text=True).stdout)
            core_ms = statistics.median(core["ms"])
            lim_ms, lim = time_duckdb(answer_sql(limit_src(p), p["grouped"]), runs)
            raw_ms, raw = time_duckdb(answer_sql(raw_src(meta, p), p["grouped"]), runs)
            a = core["answer"]
            same = (a["rows"] == lim[0][0] == raw[0][0]) if not p["grouped"] else \
                (sorted(a["groups"].items()) == [tuple(r) for r in lim] == [tuple(r) for r in raw])
            rows.append(dict(point=p["name"], core_ms=core_ms, limit_ms=lim_ms, raw_ms=raw_ms,
                             core_over_limit=core_ms / lim_ms, raw_over_core=raw_ms / core_ms,
                             rows_planned=core["rows_planned"],
                             state_rows=None if p["grouped"] else lim[0][0], same_answer=same))
        report[wl] = dict(meta={k: v for k, v in meta.items() if k != "points"}, queries=rows)
        m = meta
        print(f"\n## {wl}: K = {keys}, {m['events']} events, policy {policy}")
        print(f"space: table {m['table_bytes']} B ({m['table_files']} files, {m['bases']} bases, "
              f"{m['base_rows']} base rows, {m['delta_rows']} delta rows) / raw {m['raw_bytes']} B "
              f"= {m['table_bytes'] / m['raw_bytes']:.2f}x")
        print("\n| query | core ms | limit ms | core / limit | DuckDB raw ms | raw / core | rows planned | state rows | same |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['point']} | {r['core_ms']:.1f} | {r['limit_ms']:.1f} | {r['core_over_limit']:.2f} | "
                  f"{r['raw_ms']:.1f} | {r['raw_over_core']:.1f} | {r['rows_planned']} | {r['state_rows']} | {r['same_answer']} |")
        print("\n| after commit | events so far | compaction s | rows written | MB written | bases | MB referenced |")
        print("|---|---|---|---|---|---|---|")
        for c in m["compactions"]:
            print(f"| {c['after_commit']} | {c['events_so_far']} | {c['seconds']:.2f} | {c['rows_written']} | "
                  f"{c['bytes_written'] / 1e6:.1f} | {c['bases_in_snapshot']} | {c['table_bytes_referenced'] / 1e6:.1f} |")
        sys.stdout.flush()
    with open(os.path.join(out, f"report-k{keys}-{policy.replace(':', '_')}.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
