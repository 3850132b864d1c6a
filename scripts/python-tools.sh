#!/usr/bin/env bash
# Installs the Python tools the tests use (openapi-spec-validator, schemathesis) into a
# virtualenv under target/ (ignored by git), pinned by scripts/oas/requirements.txt. Idempotent:
# does nothing when the virtualenv already holds exactly these pins. Prints the virtualenv's path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/venv
pins=scripts/oas/requirements.txt
if ! cmp -s "$pins" "$venv/.pins" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$pins" >&2
  cp "$pins" "$venv/.pins"
fi
echo "$venv"
