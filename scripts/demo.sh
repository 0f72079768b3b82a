#!/usr/bin/env bash
# README command 1: sets everything up and runs driftwatch on an embedded default.
# A throwaway local PostgreSQL 15 gets the example Alembic project (tests/fixtures/warehouse)
# in three databases: a clean one at head, one that drifted (a column added by hand, NOT NULL and
# without a default — the classic NotNullViolation), and one left a migration behind. Then
# `driftwatch serve` watches them on 127.0.0.1 until Ctrl-C, which also removes the cluster.
#   DEMO_PORT=9731 scripts/demo.sh        (default port 9731; 0 picks a free one)
#   DEMO_ONESHOT=1 scripts/demo.sh        (run `driftwatch check` once instead of serving)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
scripts/build.sh driftwatch
bin="$root/${BUILD_DIR:-build}/daemon/app/driftwatch"
demo=$(mktemp -d /tmp/driftwatch-demo.XXXXXX)
cleanup() {
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  tests/harness/pg_cluster.sh stop "$demo/pg" >/dev/null 2>&1 || true
  rm -rf "$demo"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

tests/harness/pg_cluster.sh start "$demo/pg"
admin_url=$(cat "$demo/pg/url")
base=${admin_url%/*}
alembic() {  # alembic DB ARGS...
  DRIFTWATCH_ALEMBIC_URL="$base/$1" /usr/bin/python3 -m alembic \
    -c "$root/tests/fixtures/warehouse/alembic.ini" "${@:2}" >/dev/null
}
for db in warehouse_reference warehouse_prod warehouse_staging; do
  psql -q "$admin_url" -c "CREATE DATABASE $db"
  alembic "$db" upgrade head
done
alembic warehouse_staging downgrade -1
# The drift: someone added a column by hand that the code does not know about.
psql -q "$base/warehouse_prod" -c \
  "ALTER TABLE public.orders ADD COLUMN reviewed_by text NOT NULL"

mkdir -p "$demo/snapshots"
"$bin" snapshot --url "$base/warehouse_reference" --out "$demo/snapshots/head.json"
port=${DEMO_PORT:-9731}
cat > "$demo/driftwatch.toml" <<TOML
[server]
listen = "127.0.0.1:$port"

[check]
interval = "30s"
timeout = "10s"

[migrations.warehouse]
versions = ["$root/tests/fixtures/warehouse/versions"]
snapshots = "$demo/snapshots"

[[targets]]
name = "prod"
url_file = "$demo/prod.url"

[[targets]]
name = "staging"
url_file = "$demo/staging.url"

[[targets]]
name = "reference"
url_file = "$demo/reference.url"
TOML
echo "$base/warehouse_prod" > "$demo/prod.url"
echo "$base/warehouse_staging" > "$demo/staging.url"
echo "$base/warehouse_reference" > "$demo/reference.url"
chmod 600 "$demo"/*.url

if [ -n "${DEMO_ONESHOT:-}" ]; then
  "$bin" check --config "$demo/driftwatch.toml" || true
  exit 0
fi
"$bin" serve --config "$demo/driftwatch.toml" 2> >(tee "$demo/serve.log" >&2) &
serve_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$demo/serve.log" 2>/dev/null && break
  sleep 0.1
done
addr=$(grep -o 'listening on [0-9.:]*' "$demo/serve.log" | head -1 | awk '{print $3}')
cat <<MSG

driftwatch is serving on http://$addr  (config: $demo/driftwatch.toml)
  status page    http://$addr/
  prod (drift)   http://$addr/api/v1/targets/prod
  all targets    http://$addr/api/v1/targets
  metrics        http://$addr/metrics
Press Ctrl-C to stop; the throwaway PostgreSQL cluster is removed on exit.
MSG
wait "$serve_pid"
