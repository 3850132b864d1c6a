#!/usr/bin/env bash
# `make fuzz`: runs each cargo-fuzz target in fuzz/ for a bounded time, FUZZ_SECONDS each
# (default 60), with inputs up to a megabyte so the query bounds (10,000-value _in lists, 32 sort
# keys, ...) are reached; seeds of that size are written first. Not part of CI. Crashes land in
# fuzz/artifacts/<target>/.
#   query   — query strings through the parser and into SQLite (parsed ⇒ runs without error)
#   request — method, path, query and JSON body through the dispatcher (never a 500)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo fuzz passes nightly-only flags (-Z sanitizer); the machine has one stable toolchain.
export RUSTC_BOOTSTRAP=1
mkdir -p fuzz/corpus/query fuzz/corpus/request
python3 - <<'PY'
ids = ",".join(str(i) for i in range(10_000))
sorts = ",".join(f"-f{i}" for i in range(40))
seeds = {
    "query/in-10000": f"filter[views][_in]={ids}&sort=-views",
    "query/nin-json": 'filter={"title":{"_nin":[' + ",".join(f'"t{i}"' for i in range(5000)) + "]}}",
    "query/sort-40": f"sort={sorts}",
    "request/delete-query": "\x03/items/a\n" + '{"query":{"filter":{"n":{"_in":[' + ids + "]}}}}",
}
for name, text in seeds.items():
    with open(f"fuzz/corpus/{name}", "w") as f:
        f.write(text)
PY
for target in query request; do
  cargo fuzz run "$target" -- -max_total_time="${FUZZ_SECONDS:-60}" -max_len=1048576 -rss_limit_mb=4096
done
