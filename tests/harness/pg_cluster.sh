#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for tests and the demo.
#   pg_cluster.sh start DIR   initdb into a fresh /tmp dir (DIR/data links to it), start on a
#                             free 127.0.0.1 port, write the superuser URL to DIR/url, the port
#                             to DIR/port, the unix socket directory to DIR/socketdir
#   pg_cluster.sh stop DIR    stop it (fast shutdown) and delete DIR
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` OS user.
# Host connections use scram-sha-256 (tests need a wrong-password case); the superuser is
# `postgres` with the password in DIR/password (also inside DIR/url).
set -euo pipefail
cmd=${1:?usage: pg_cluster.sh start|stop DIR}
dir=${2:?usage: pg_cluster.sh start|stop DIR}
bindir=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || dirname "$(command -v initdb)")

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ -f "$dir/port" ] && as_pg "$bindir/pg_ctl" -D "$dir/data/pgdata" status >/dev/null 2>&1; then
      echo "pg_cluster: already running on port $(cat "$dir/port")"; exit 0
    fi
    [ -f "$dir/datadir" ] && rm -rf "$(cat "$dir/datadir")"
    # The data directory lives under /tmp: DIR may sit below a home directory that the
    # postgres user cannot traverse.
    data=$(mktemp -d /tmp/driftwatch-pg.XXXXXX)
    echo "$data" > "$dir/datadir"
    ln -sfn "$data" "$dir/data"
    [ "$(id -u)" = 0 ] && chown postgres: "$data"
    password=${DRIFTWATCH_TEST_PG_PASSWORD:-dw-test-$RANDOM$RANDOM}
    printf '%s\n' "$password" > "$data/password"
    [ "$(id -u)" = 0 ] && chown postgres: "$data/password"
    as_pg "$bindir/initdb" -D "$data/pgdata" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --pwfile="$data/password" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log"; exit 1; }
    rm -f "$data/password"
    port=$(free_port)
    cat >>"$data/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
CONF
    as_pg "$bindir/pg_ctl" -D "$data/pgdata" -l "$data/server.log" -w -t 60 start >/dev/null \
      || { cat "$data/server.log"; exit 1; }
    echo "$port" > "$dir/port"
    echo "$data" > "$dir/socketdir"
    printf '%s\n' "$password" > "$dir/password"; chmod 600 "$dir/password"
    echo "postgresql://postgres:${password}@127.0.0.1:${port}/postgres" > "$dir/url"
    chmod 644 "$dir/url" "$dir/port"
    echo "pg_cluster: started on 127.0.0.1:$port (data in $dir/data)"
    ;;
  stop)
    if [ -f "$dir/datadir" ]; then
      data=$(cat "$dir/datadir")
      as_pg "$bindir/pg_ctl" -D "$data/pgdata" -m fast -w stop >/dev/null 2>&1 || true
      rm -rf "$data"
    fi
    rm -rf "$dir"
    echo "pg_cluster: stopped"
    ;;
  *) echo "usage: pg_cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
