#!/usr/bin/env bash
# The two-minute tour: builds the `bazof` CLI, imports test-data/prices.csv, then a
# late file, and shows a late event changing one past answer but not another.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p bazof-cli
bin="${CARGO_TARGET_DIR:-target}/debug/bazof"
table=$(mktemp -d)/prices
say() { printf '\n$ %s\n' "$*"; "$@"; }

say "$bin" import "$table" test-data/prices.csv --key symbol
say "$bin" scan "$table" --format table
say "$bin" scan "$table" --as-of 2024-02-15 --format table
# A late file: MSFT's Feb 1 price (an event from the past) and SAP's delisting.
say "$bin" import "$table" test-data/prices-late.csv --key symbol --deleted delisted
say "$bin" scan "$table" --as-of 2024-02-15 --format table   # changed: MSFT 370.87 -> 397.58
say "$bin" scan "$table" --as-of 2024-01-15 --format table   # unchanged
say "$bin" scan "$table" --format table                      # now: SAP is gone
say "$bin" scan "$table" --as-of 2024-02-15 --snapshot 1 --format table   # what we knew before the late file
say "$bin" diff "$table" --from-snapshot 1 --to-snapshot 2 --from-as-of 2024-02-15 --to-as-of 2024-02-15 --format table   # what the late file changed about Feb 15
say "$bin" history "$table" --key MSFT --format table   # MSFT's versions with their valid-time intervals
say "$bin" compact "$table"
say "$bin" scan "$table" --as-of 2024-02-15 --format table   # same answer, read from a base file
say "$bin" log "$table"
