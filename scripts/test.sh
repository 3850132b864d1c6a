#!/usr/bin/env bash
# `make test`: first the tools the tests use, installed when missing (scripts/test-deps.sh),
# then the Rust suites (unit and integration, against the real binaries), then the
# OpenAPI document against openapi-spec-validator and schemathesis (scripts/test-oas.sh), then
# the client suites (the Directus SDK and a browser app, tests/clients) against the same
# binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
cargo test --locked --all-targets
scripts/test-oas.sh
scripts/test-clients.sh
