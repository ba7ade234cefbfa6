#!/usr/bin/env bash
# The compaction-policy sweep behind CompactionPolicy::default() (benches/RESULTS.md):
# one data set per policy (compacted every 5 of the 40 commits and at the end), the
# core scan's five queries on each, one summary table.
#   bash benches/sweep.sh [KEYS] [OUT_DIR]     (KEYS default 100000; builds via run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
keys="${1:-100000}"
out="${2:-bench-out/sweep}"
for seg in day month year; do
  for d in 1 4 16; do
    bash benches/run.sh --keys "$keys" --runs 3 --engines core --queries q1,q2,q3,q4,q5 --compact-every 5 \
      --segment "$seg" --max-deltas "$d" --out-dir "$out/$seg-$d" --data-dir "$out/data" >/dev/null
  done
done
python3 - "$out" "$keys" <<'PY'
import csv, json, pathlib, sys
out, keys = pathlib.Path(sys.argv[1]), int(sys.argv[2])
print("| segment | max_deltas | table MB | files | compaction s | q1 ms | q2 ms | q3 ms | q4 ms | q5 ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for run in sorted(out.glob("*-*/results.csv")):
    seg, d = run.parent.name.split("-")
    ms = {r["query"]: float(r["median_ms"]) for r in csv.DictReader(open(run)) if r["engine"] == "core"}
    meta = next(m for m in (json.load(open(p)) for p in (out / "data").glob("*/meta.json"))
                if (m["config"]["segment"], m["config"]["max_deltas"], m["config"]["keys"]) == (seg, int(d), keys))
    print(f"| {seg} | {d} | {meta['bazof_bytes']/1e6:.1f} | {meta['bazof_files']} | {meta['compact_seconds']:.1f} | "
          + " | ".join(f"{ms.get(q, float('nan')):.0f}" for q in ["q1", "q2", "q3", "q4", "q5"]) + " |")
PY
