#!/usr/bin/env bash
# Installs every Debian 12 package driftwatch needs to build, test and run its demo.
# Idempotent: skips apt entirely when everything is already installed.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git ca-certificates
  libpqxx-dev libboost-dev libboost-system-dev prometheus-cpp-dev libspdlog-dev libtoml11-dev
  doctest-dev nlohmann-json3-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
  postgresql-15 postgresql-client-15
  python3 python3-alembic python3-sqlalchemy python3-psycopg2 python3-yaml python3-botocore
  prometheus prometheus-alertmanager curl
  clang-14 libclang-rt-14-dev
  pgbouncer locales
)
# The pg tests run a server with lc_messages = de_DE.UTF-8 (errors are classified by SQLSTATE,
# not by message language): the locale must exist.
ensure_test_locale() {
  locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$' && return 0
  local sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd localedef -i de_DE -f UTF-8 de_DE.UTF-8
}
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  ensure_test_locale
  echo "install-deps: all packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian's packages start services where an init system runs; the tests start their own.
ensure_test_locale
