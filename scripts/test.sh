#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, runs every test
# (unit, pg, e2e) with ctest. The tests start their own PostgreSQL cluster, Prometheus and
# Alertmanager on 127.0.0.1. Exits non-zero if any test fails.
#   scripts/test.sh            all tests
#   scripts/test.sh -L unit    only one label (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 "$@"
