#!/usr/bin/env bash
# What `make test` needs beyond the Rust toolchain, installed when missing, so that a newcomer's
# `make test` on a fresh machine runs every test: Debian's sqlite3 (the deploy script and the
# edits by hand), chromium (the browser test), nginx (the reverse-proxy front), prometheus
# (promtool parses /server/metrics), systemd (systemd-analyze verifies the shipped units), curl
# and python3-venv (the OpenAPI step), postgresql (the tests start their own server for the
# PostgreSQL engine; its programs live under /usr/lib/postgresql), openssl (certificates for
# the TLS test), and Node.js with npm (the client suites; their npm
# packages are installed by scripts/test-clients.sh, the Python ones by scripts/python-tools.sh).
#
# As root, or with sudo that needs no password, it runs apt-get; otherwise it names the missing
# packages in one line and fails, so that no test later fails for a missing tool.
set -euo pipefail
need=()
want() { command -v "$1" >/dev/null || need+=("$2"); }
want sqlite3 sqlite3
want chromium chromium
want nginx nginx
want promtool prometheus
want systemd-analyze systemd
want curl curl
want node nodejs
want npm npm
want openssl openssl
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "make test needs these Debian packages: ${need[*]} (install them: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing the Debian packages the tests use: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { "${sudo[@]}" apt-get update -qq &&
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "installing ${need[*]} failed (above)" >&2
  exit 1
fi
rm -f "$log"
