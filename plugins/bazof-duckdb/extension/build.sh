#!/usr/bin/env bash
# Builds bazof.duckdb_extension: the release cdylib of this workspace followed by
# DuckDB's 534-byte extension metadata footer. The extension speaks DuckDB's C API v2,
# whose ABI (C_STRUCT_UNSTABLE) ties it to one DuckDB version: the one libduckdb-sys
# 1.20000.1 was generated from, DuckDB 2.0.0.
#
#   plugins/bazof-duckdb/extension/build.sh   # → extension/target/release/bazof.duckdb_extension
#   OUT=/tmp/bazof.duckdb_extension BAZOF_EXT_TARGET_DIR=/tmp/ext-target plugins/bazof-duckdb/extension/build.sh
#
# The target directory is BAZOF_EXT_TARGET_DIR (default extension/target); a
# CARGO_TARGET_DIR set for the root workspace is ignored on purpose.
# BAZOF_EXT_PROFILE=dev builds an unoptimised extension in about half the time
# (CI smoke-tests it); the default is release.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export CARGO_TARGET_DIR=${BAZOF_EXT_TARGET_DIR:-$here/target}
profile=${BAZOF_EXT_PROFILE:-release}
case "$profile" in dev) dir=debug ;; *) dir=$profile ;; esac
cargo build --profile "$profile" --locked --manifest-path "$here/Cargo.toml" >&2

case "$(uname -s)" in
  Linux) os=linux; lib=libbazof.so ;;
  Darwin) os=osx; lib=libbazof.dylib ;;
  *) echo "build.sh: unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "build.sh: unsupported CPU $(uname -m)" >&2; exit 1 ;;
esac
platform=${DUCKDB_PLATFORM:-${os}_${arch}}
version=v$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -1)
out=${OUT:-$CARGO_TARGET_DIR/$dir/bazof.duckdb_extension}
duckdb=v2.0.0

# Footer (DuckDB's append_extension_metadata.py): 0x00, then
# 0x93 0x04 0x10 "duckdb_signature" 0x80 0x04, then eight 32-byte NUL-padded
# fields: "", "", "", ABI type, extension version, DuckDB version (for C_STRUCT
# the minimum C API version), platform, magic "4"; then 256 NUL bytes where a
# signature would go.
field() { printf '%s' "$1"; head -c $((32 - ${#1})) /dev/zero; }
tmp=$out.tmp
cp "$CARGO_TARGET_DIR/$dir/$lib" "$tmp"
{
  printf '\x00\x93\x04\x10duckdb_signature\x80\x04'
  field ""; field ""; field ""
  field "C_STRUCT_UNSTABLE"; field "$version"; field "$duckdb"; field "$platform"; field "4"
  head -c 256 /dev/zero
} >> "$tmp"
mv "$tmp" "$out"
echo "$out"
