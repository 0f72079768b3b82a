#!/usr/bin/env bash
# README command 1: sets everything up and runs driftwatch on an embedded default.
# A throwaway local PostgreSQL 15 gets the example Alembic project (tests/fixtures/warehouse)
# in three databases: a clean one at head, one that drifted (a column added by hand, NOT NULL and
# without a default — the classic NotNullViolation), and one left a migration behind. Then
# `driftwatch serve` watches them on 127.0.0.1 until Ctrl-C, which also removes the cluster.
#   DEMO_PORT=9731 scripts/demo.sh        (default port 9731; 0 picks a free one)
#   DEMO_ONESHOT=1 scripts/demo.sh        (run `driftwatch check` once instead of serving)
#   DRIFTWATCH_BIN=path scripts/demo.sh   (use that binary instead of building one)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
if [ -n "${DRIFTWATCH_BIN:-}" ]; then
  bin=$DRIFTWATCH_BIN  # an already built binary (the e2e test of this script)
else
  scripts/build.sh driftwatch
  bin="$root/${BUILD_DIR:-build}/daemon/app/driftwatch"
fi
demo=$(mktemp -d /tmp/driftwatch-demo.XXXXXX)
cleanup() {
  # No errexit here: a failing step (say, `wait` for a daemon that already exited non-zero)
  # must not skip removing the cluster.
  set +e
  if [ -n "${serve_pid:-}" ]; then
    # Ctrl-C in a terminal reaches the daemon too (same process group) and it drains on its own;
    # a second signal would make it exit at once, so only other exits send one.
    [ "$stop_signal" = INT ] || kill "$serve_pid" 2>/dev/null
    for _ in $(seq 1 300); do
      kill -0 "$serve_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$serve_pid" 2>/dev/null  # still running after 30 s: stop now
    wait "$serve_pid" 2>/dev/null
  fi
  tests/harness/pg_cluster.sh stop "$demo/pg" >/dev/null 2>&1
  rm -rf "$demo"
}
stop_signal=
trap cleanup EXIT
trap 'stop_signal=INT; exit 0' INT
trap 'exit 0' TERM

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

# The expected schema of every revision, replayed with the project's own Alembic into scratch
# databases on the demo cluster: staging (one behind) is compared with its own revision.
"$bin" snapshot --all-revisions --versions "$root/tests/fixtures/warehouse/versions" \
  --scratch-url "$admin_url" --out-dir "$demo/snapshots" --upgrade-command \
  "/usr/bin/python3 -m alembic -c '$root/tests/fixtures/warehouse/alembic.ini' upgrade {revision}" \
  >/dev/null
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
# tee ignores Ctrl-C, so the daemon's own shutdown lines (it stops on SIGINT) still reach the
# terminal instead of a closed pipe.
"$bin" serve --config "$demo/driftwatch.toml" 2> >(trap '' INT; tee "$demo/serve.log" >&2) &
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
