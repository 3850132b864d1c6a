#!/usr/bin/env bash
# A deploy with a database migration, the way an operator would script it:
#   1. maintenance on (waits until no API write can commit, and empties the WAL),
#   2. back up and migrate the database with sqlite3,
#   3. maintenance off.
# If anything fails after step 1, the API stays closed on purpose (the data may be half
# migrated) and the script says so.
#
#   scripts/deploy-example.sh                 # root: this checkout (bin/directus, data/, logs/)
#   DIRECTUS_ROOT=/srv/app scripts/deploy-example.sh
#
# The example migration stamps every item of every collection with "schema": 2.
set -euo pipefail

ROOT=${DIRECTUS_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
CLI=${DIRECTUS_CLI:-$ROOT/bin/directus}
DB=${DIRECTUS_DB:-$ROOT/data/directus.db}
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed (apt-get install sqlite3)" >&2; exit 1; }

"$CLI" --root "$ROOT" maintenance:on --message "Upgrading the database, back in a few minutes" --retry 300

# From here on a failure leaves maintenance on, deliberately.
trap 'echo "DEPLOY FAILED: maintenance is still ON. Fix the database, then run: $CLI --root $ROOT maintenance:off" >&2' ERR

backup="$DB.backup-$(date +%Y%m%d-%H%M%S)"
cp "$DB" "$backup"            # safe: maintenance:on emptied the WAL into the main file
echo "Backup: $backup"

sqlite3 "$DB" <<'SQL'
BEGIN;
UPDATE directus_items SET data = json_set(data, '$.schema', 2);
COMMIT;
SQL
echo "Migrated $(sqlite3 "$DB" 'SELECT count(*) FROM directus_items') items."

trap - ERR
"$CLI" --root "$ROOT" maintenance:off
echo "Deploy complete."
