#!/usr/bin/env bash
# A tour of the item API with curl. Run it against a local server (`make run` in another
# terminal) on an empty database:
#
#   scripts/tour.sh                       # uses http://127.0.0.1:8055
#   DIRECTUS_URL=http://127.0.0.1:9000 DIRECTUS_TOKEN=secret scripts/tour.sh
#
# Each step prints the request and the answer. It stops at the first unexpected status.
set -euo pipefail

URL=${DIRECTUS_URL:-http://127.0.0.1:8055}
AUTH=()
if [ -n "${DIRECTUS_TOKEN:-}" ]; then AUTH=(-H "Authorization: Bearer $DIRECTUS_TOKEN"); fi

# call EXPECTED_STATUS METHOD PATH [JSON_BODY]
call() {
  local expected=$1 method=$2 path=$3 body=${4:-}
  local args=(-sS -g -o /tmp/tour.$$ -w '%{http_code}' -X "$method" "${AUTH[@]}")
  # --json would also work; spelled out here to show the header the server needs.
  if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data "$body"); fi
  echo "\$ curl -X $method $URL$path ${body:+--json '$body'}"
  local status
  status=$(curl "${args[@]}" "$URL$path")
  cat /tmp/tour.$$; echo; rm -f /tmp/tour.$$
  if [ "$status" != "$expected" ]; then
    echo "expected HTTP $expected, got $status" >&2
    exit 1
  fi
  echo
}

call 200 GET  /server/ping
call 200 POST /collections '{"collection":"tour_articles"}'

# One item, then several in one transaction.
call 200 POST /items/tour_articles '{"title":"Hello world","views":10,"tags":"news"}'
call 200 POST /items/tour_articles '[{"title":"Popular","views":900},{"title":"Viral","views":5000},{"title":"Quiet","views":3}]'

# Queries: filter (bracket form and JSON form), sort, fields, limit, meta, search.
call 200 GET '/items/tour_articles?filter[views][_gt]=500&sort=-views&fields=id,title,views'
call 200 GET '/items/tour_articles?filter={"title":{"_icontains":"o"}}&fields=title&meta=*'
call 200 GET '/items/tour_articles?search=viral'
call 200 GET '/items/tour_articles?limit=2&page=2&fields=id'
call 200 GET /items/tour_articles/1

# Updates: one item, a list of keys, everything a query selects.
call 200 PATCH /items/tour_articles/1 '{"views":11}'
call 200 PATCH /items/tour_articles '{"keys":[2,3],"data":{"featured":true}}'
call 200 PATCH /items/tour_articles '{"query":{"filter":{"views":{"_lt":10}}},"data":{"quiet":true}}'

# Errors come in the Directus envelope.
call 403 GET /items/tour_articles/999
call 400 GET '/items/tour_articles?filter[views][_nope]=1'

# Deletes: one item, a list of keys, then the collection with what is left.
call 204 DELETE /items/tour_articles/4
call 204 DELETE /items/tour_articles '[2,3]'
call 200 GET '/items/tour_articles?fields=id,title'
call 204 DELETE /collections/tour_articles
echo "Tour complete."
