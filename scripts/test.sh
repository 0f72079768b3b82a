#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, runs every test
# (unit, pg, e2e) with ctest. The tests start their own PostgreSQL cluster, Prometheus and
# Alertmanager on 127.0.0.1. Then, on a full run, a short fuzz run of every libFuzzer target
# (scripts/fuzz.sh) and the unit tests under ASan+UBSan (scripts/sanitize.sh). Exits non-zero if
# any test fails.
#   scripts/test.sh            all tests, fuzzing, sanitizers
#   scripts/test.sh -L unit    only one label (any ctest arguments pass through; no fuzz/sanitizer)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 900 "$@")
if [ $# -eq 0 ]; then
  [ -n "${DRIFTWATCH_SKIP_FUZZ:-}" ] || scripts/fuzz.sh
  [ -n "${DRIFTWATCH_SKIP_SANITIZE:-}" ] || scripts/sanitize.sh
fi
