#!/usr/bin/env bash
# The driftwatch benchmark, one command (see bench/README.md):
#   bench/run.sh [--sizes 10,100,1000,5000] [--runs 5] [--quick] [--no-fleet] [--no-profile]
# Installs what it needs, builds driftwatch, starts its own PostgreSQL 15, generates the schemas,
# measures driftwatch and its peers, profiles the 5,000-table snapshot, runs the fleet benchmark
# and renders bench/results/ (results.json, results.md, time_vs_size.png).
# --quick: sizes 10,100, 3 runs, fleet of 100 targets only. Not part of the test suite.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
sizes=10,100,1000,5000
runs=5
fleet=1
profile=1
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --quick) quick=1; sizes=10,100; runs=3; shift ;;
    --no-fleet) fleet=0; shift ;;
    --no-profile) profile=0; shift ;;
    *) echo "usage: bench/run.sh [--sizes 10,100,...] [--runs N] [--quick] [--no-fleet] [--no-profile]" >&2
       exit 2 ;;
  esac
done
work=$here/work
results=$here/results
mkdir -p "$work" "$results/raw"
say() { echo "== bench: $*" >&2; }

# --- dependencies ------------------------------------------------------------------------------
"$root/scripts/install-deps.sh"
extra=()
for p in python3-matplotlib wrk valgrind nodejs npm; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || extra+=("$p")
done
# nodejs/npm may come from outside Debian (already on PATH): then do not install them.
command -v node >/dev/null && extra=("${extra[@]/nodejs}") && extra=("${extra[@]/npm}")
extra=($(printf '%s\n' "${extra[@]}" | grep -v '^$' || true))
if [ ${#extra[@]} -gt 0 ]; then
  say "installing ${extra[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${extra[@]}"
fi
migra_js=$work/node_modules/@pgkit/migra/dist/command.js
if [ ! -f "$migra_js" ]; then
  say "npm install @pgkit/migra"
  (cd "$work" && npm install --no-audit --no-fund --silent @pgkit/migra@0.6.1 >/dev/null)
fi

# --- build -------------------------------------------------------------------------------------
build=${BENCH_BUILD_DIR:-$root/build-bench}
say "building into $build"
# Only the two binaries the benchmark runs (scripts/build.sh takes target names).
BUILD_DIR=$build "$root/scripts/build.sh" driftwatch driftwatch_diff_bench >/dev/null
dw=$build/daemon/app/driftwatch

# --- PostgreSQL --------------------------------------------------------------------------------
pg=$work/pg
"$root/tests/harness/pg_cluster.sh" start "$pg" >&2
trap '"$root/tests/harness/pg_cluster.sh" stop "$pg" >&2' EXIT
url=$(cat "$pg/url")
base=${url%/postgres}
server_log=$(cat "$pg/datadir")/server.log
# Log lines name the application and database (measure.py counts driftwatch's statements);
# the fleet needs one connection per concurrent check plus headroom.
psql -qX "$url" -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] %a@%d '" \
  -c "ALTER SYSTEM SET max_connections = 400" >/dev/null
# max_connections needs a restart of the same data directory.
bindir=$(ls -d /usr/lib/postgresql/15/bin)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$bindir/pg_ctl" -D "$(cat "$pg/datadir")/pgdata" -l "$server_log" -w -m fast restart >/dev/null

# --- schemas and measurements ------------------------------------------------------------------
start_all=$(date +%s)
IFS=, read -r -a size_list <<<"$sizes"
for n in "${size_list[@]}"; do
  gen=$work/gen/$n
  /usr/bin/python3 "$here/gen_schema.py" "$n" "$gen" >&2
  say "loading $n tables (3 databases)"
  for db in a b; do
    psql -qX "$url" -c "DROP DATABASE IF EXISTS bench${n}_$db" -c "CREATE DATABASE bench${n}_$db"
    psql -qX -v ON_ERROR_STOP=1 "$base/bench${n}_$db" -f "$gen/schema.sql" >/dev/null
  done
  psql -qX "$url" -c "DROP DATABASE IF EXISTS bench${n}_c" \
    -c "CREATE DATABASE bench${n}_c TEMPLATE bench${n}_b"
  psql -qX -v ON_ERROR_STOP=1 "$base/bench${n}_c" -f "$gen/drift.sql" >/dev/null
  for db in a b c; do psql -qX "$base/bench${n}_$db" -c "VACUUM ANALYZE" >/dev/null; done
  alembic=()
  [ "$n" -le 100 ] && alembic=(--alembic)
  say "measuring $n tables, $runs runs"
  /usr/bin/python3 "$here/measure.py" --size "$n" --gen "$gen" --url-base "$base" \
    --server-log "$server_log" --driftwatch "$dw" --migra "$migra_js" --runs "$runs" \
    "${alembic[@]}" --out "$results/raw/size_$n.json"
done

# --- pure diff (issue 2) -----------------------------------------------------------------------
say "pure diff benchmark"
"$build/bench/driftwatch_diff_bench" 1000 15 >"$results/raw/diff_bench_1000.txt" || true
cat "$results/raw/diff_bench_1000.txt" >&2

# --- profile of the slowest stage at the largest size ----------------------------------------
largest=${size_list[-1]}
if [ "$profile" = 1 ] && [ "$largest" -ge 1000 ]; then
  say "profiling driftwatch snapshot at $largest tables"
  "$here/profile.sh" "$dw" "$base/bench${largest}_b" "$base/bench${largest}_c" "$results/raw" >&2 || say "profile failed"
fi

# --- fleet ---------------------------------------------------------------------------------------
if [ "$fleet" = 1 ]; then
  if "$dw" serve --help >/dev/null 2>&1; then
    targets=100,1000
    [ "$quick" = 1 ] && targets=100
    say "fleet benchmark ($targets targets)"
    # BENCH_FLEET_BIN: another driftwatch build for the daemon part, if needed.
    /usr/bin/python3 "$here/fleet.py" --driftwatch "${BENCH_FLEET_BIN:-$dw}" --url-base "$base" \
      --targets "$targets" \
      --out "$results/raw/fleet.json" || say "fleet benchmark failed"
  else
    say "driftwatch serve is not available: fleet benchmark skipped"
  fi
fi

# --- report ------------------------------------------------------------------------------------
/usr/bin/python3 "$here/report.py" --results "$results" --root "$root" \
  --elapsed $(( $(date +%s) - start_all ))
say "done: $results/results.md, $results/time_vs_size.png"
