#!/usr/bin/env bash
# Configures and builds driftwatch into ${BUILD_DIR:-build}. Used by the tests, the demo and the
# Dockerfile, so all three build the same way.
#   scripts/build.sh               everything (binary, tests, benchmarks)
#   scripts/build.sh driftwatch    only the named targets
# CI=true turns warnings into errors.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DDRIFTWATCH_WERROR="${DRIFTWATCH_WERROR:-$werror}" ${CMAKE_ARGS:-} >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j"${JOBS:-2}" "${targets[@]}"
