#!/usr/bin/env bash
# The OpenAPI document against tools written elsewhere: openapi-spec-validator checks the
# document a real server serves, then schemathesis attacks that server from it (every
# operation, a bounded number of examples) and fails on any 5xx, or any status, content type,
# header or body the document does not allow. The server runs on port 0 from a temporary root,
# with a token and a seeded collection (scripts/oas/schemathesis.toml points the fuzzer at it).
#
# Settings, from the environment:
#   OAS_EXAMPLES  examples per operation (default 25)
#   OAS_SEED      the seed (default 1, so that `make test` is repeatable; `random` for a new one)
#   OAS_TIMEOUT   seconds before schemathesis is stopped, a failure (default 240)
#   OAS_KEEP      when set, the temporary root (server log, document) is kept and named
# Further arguments go to `schemathesis run`; a long run by hand, for example:
#   OAS_SEED=random OAS_EXAMPLES=1000 OAS_TIMEOUT=1000 scripts/test-oas.sh --max-time 900
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/python-tools.sh)
cargo build --locked --quiet --bin directus-server
export OAS_TOKEN=oas-test-token
root=$(mktemp -d)
server_pid=
finish() {
  local status=$?
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  if [ "$status" -ne 0 ] && [ -f "$root/server.stderr" ]; then
    echo "--- the server's last log lines:" >&2
    tail -n 20 "$root/server.stderr" >&2
  fi
  if [ -n "${OAS_KEEP:-}" ]; then
    echo "kept: $root" >&2
  else
    rm -rf "$root"
  fi
}
trap finish EXIT

exec 3< <(exec target/debug/directus-server --root "$root" --port 0 --token "$OAS_TOKEN" --metrics \
  2>"$root/server.stderr")
server_pid=$!
read -r -t 10 line <&3 || { echo "the server did not start" >&2; exit 1; }
base=${line#listening on }
[ "$base" != "$line" ] || { echo "unexpected first line: $line" >&2; exit 1; }

call() { # METHOD PATH [BODY]: fails unless the answer is 2xx
  curl -fsS -o /dev/null -X "$1" -H "Authorization: Bearer $OAS_TOKEN" \
    ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "$base$2"
}
dataset='[
  {"title":"Alpha","views":10,"published":true,"tags":["news"],"rating":4.5},
  {"title":"beta","views":1000,"published":false,"tags":"Tech"},
  {"title":"Gamma 100%","views":500,"published":true,"tags":""},
  {"title":"delta_x","views":null,"meta":{"nested":[1,2]}},
  {"title":"10","views":"10"},
  {"views":0},
  {"title":"Épsilon","views":-3.25,"published":null},
  {"title":"","views":99999999999},
  {"title":"zeta","rating":1e300},
  {"title":"eta","views":7,"tags":[]},
  {"title":"theta","views":8},
  {"title":"iota","views":9}
]'
# `articles` is read and changed; `news` is where deletes aim (scripts/oas/schemathesis.toml),
# and the example of `DELETE /collections/{name}`.
for c in articles news; do
  call POST /collections "{\"collection\":\"$c\"}"
  call POST "/items/$c" "$dataset"
done

curl -fsS -H "Authorization: Bearer $OAS_TOKEN" "$base/server/specs/oas" -o "$root/oas.json"
"$venv/bin/openapi-spec-validator" "$root/oas.json"

# Besides the answers' own conformance: a method the document does not list is refused (405)
# with an `Allow` that lists exactly the documented methods; a request the document calls
# invalid is refused; an operation that needs the token refuses a request without it.
# (positive_data_acceptance is left out: it expects a create of a name or id that exists to
# succeed.)
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_schema_conformance,response_headers_conformance
checks+=,unsupported_method,allow_header_conformance,negative_data_rejection,ignored_auth
seed=${OAS_SEED:-1}
[ "$seed" != random ] || seed=$RANDOM$RANDOM
timeout --foreground "${OAS_TIMEOUT:-240}" \
  "$venv/bin/schemathesis" --no-color --config-file scripts/oas/schemathesis.toml run \
  "$root/oas.json" --url "$base" \
  --checks "${checks}" \
  --max-examples "${OAS_EXAMPLES:-25}" --seed "$seed" \
  --request-timeout 10 --suppress-health-check all "$@"
