#!/usr/bin/env bash
# The client suites in tests/clients: the official Directus SDK (pinned in package-lock.json)
# and headless Chromium driving a page on another origin. Needs Node.js, npm and Debian's
# chromium (.ci/run installs it). Uses the debug binaries that `cargo test` built. The SDK and
# App suites run twice: on SQLite, then with the server on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --bins
cd tests/clients
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi
node --test --test-reporter=spec

# The SDK and App suites again with the server on PostgreSQL (SPEC 12: a client cannot tell
# the engines apart; the App's screenshots end in -postgres.png): a cluster started here with
# initdb in a temporary directory (as the postgres user when run as root: PostgreSQL refuses
# root), Unix socket only, trust authentication; stopped and removed when this script exits.
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pgdir=$(mktemp -d)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$pgdir"
  as_pg=(runuser -u postgres --)
fi
chmod 755 "$pgdir"
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -U directus -A trust -E UTF8 --locale=C -N >/dev/null
trap '"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" stop -m immediate >/dev/null 2>&1; rm -rf "$pgdir"' EXIT
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -w -l "$pgdir/log" \
  -o "-k $pgdir -c listen_addresses= -c fsync=off" start >/dev/null
DIRECTUS_TEST_PG="$pgdir" node --test --test-reporter=spec sdk.test.js admin.test.js
