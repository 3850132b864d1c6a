#!/usr/bin/env bash
# The client suites in tests/clients: the official Directus SDK (pinned in package-lock.json)
# and headless Chromium driving a page on another origin. Needs Node.js, npm and Debian's
# chromium (.ci/run installs it). Uses the debug binaries that `cargo test` built.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --bins
cd tests/clients
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi
node --test --test-reporter=spec
