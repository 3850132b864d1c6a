#!/usr/bin/env bash
# `make bench`: installs wrk if missing, builds the release server and the bare tiny_http
# ceiling (examples/hello.rs), then runs scripts/bench.py. Loopback only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
cargo build --release --locked --bins --examples
exec python3 scripts/bench.py
