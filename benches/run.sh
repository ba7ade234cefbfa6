#!/usr/bin/env bash
# Builds the benchmark as it is meant to be measured (release profile; DuckDB's and
# Polars' own Parquet readers for the baselines; the bazof CLI for the import cells)
# and runs it with the given arguments, e.g.
#   bash benches/run.sh --keys 10000,100000,1000000 --runs 3 --out-dir bench-out
# The first build compiles DuckDB (with its parquet extension) and Polars at -O3:
# about 35 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p bazof-benches -p bazof-cli \
  --features bazof-benches/duckdb-parquet,bazof-benches/polars-parquet
exec "${CARGO_TARGET_DIR:-target}/release/bazof-bench" "$@"
