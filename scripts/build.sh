#!/usr/bin/env bash
# Configures and builds driftwatch into ${BUILD_DIR:-build}. Used by the tests, the demo and the
# Dockerfile, so all three build the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} \
  -DDRIFTWATCH_WERROR=${DRIFTWATCH_WERROR:-$werror} "$@" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}"
