#!/usr/bin/env bash
# `make fuzz`: runs each cargo-fuzz target in fuzz/ for a bounded time, FUZZ_SECONDS each
# (default 60). Not part of CI. Crashes land in fuzz/artifacts/<target>/.
#   query   — query strings through the parser and into SQLite (parsed ⇒ runs without error)
#   request — method, path, query and JSON body through the dispatcher (never a 500)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo fuzz passes nightly-only flags (-Z sanitizer); the machine has one stable toolchain.
export RUSTC_BOOTSTRAP=1
for target in query request; do
  cargo fuzz run "$target" -- -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=4096
done
