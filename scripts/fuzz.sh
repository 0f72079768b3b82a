#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan+UBSan) and runs each for a bounded
# time on its seed corpus (the test fixtures, plus fuzz/corpus/<target>/: inputs that crashed
# driftwatch once, replayed on every run). Exits non-zero on the first crash, leak or sanitizer
# report; the crashing input is left in ${FUZZ_BUILD_DIR}/artifacts/.
#   scripts/fuzz.sh                     every target, FUZZ_SECONDS (default 20) each
#   scripts/fuzz.sh fuzz_config         one target
# FUZZ_SEED (default 1) fixes libFuzzer's seed, so that a test run explores the same inputs
# each time (a regression check, not a lottery); FUZZ_SEED=0 takes a random seed, for longer
# campaigns (e.g. FUZZ_SEED=0 FUZZ_SECONDS=600) whose findings go to fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-20}
seed=${FUZZ_SEED:-1}
cxx=${FUZZ_CXX:-clang++-14}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_revision_parser fuzz_config fuzz_snapshot fuzz_redact
                                     fuzz_http_route)

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S fuzz -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$cxx" \
  "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}" --target "${targets[@]}"

# Seeds: what each parser reads in the tests.
seed_dir="$build_dir/seeds"
rm -rf "$seed_dir"
mkdir -p "$seed_dir"
seed() {  # seed TARGET FILE...
  mkdir -p "$seed_dir/$1"
  local t=$1
  shift
  for f in "$@"; do cp "$f" "$seed_dir/$t/$(echo "$f" | tr '/' '_')"; done
}
cd "$root"
seed fuzz_revision_parser $(find tests/fixtures/revisions tests/fixtures/warehouse/versions \
  -name '*.py' | sort | head -200)
seed fuzz_config $(find tests/fixtures/configs config -name '*.toml' | sort)
seed fuzz_snapshot $(find tests/fixtures -name '*.json' | sort | head -50)
printf '%s\n' 'postgresql://app:p@ss@db/x' 'postgresql+psycopg2://u:100%sure@h:5432/db?sslmode=require' \
  'host=db user=app password='"'"'a b'"'"' dbname=x' 'POSTGRES://u:pw@h/d?password=x&a=b' \
  'postgresql:/u:pw@h/x' 'https://hooks.slack.com/services/T/B/x' >"$seed_dir/urls.txt"
mkdir -p "$seed_dir/fuzz_redact"
split -l 1 "$seed_dir/urls.txt" "$seed_dir/fuzz_redact/url_"
mkdir -p "$seed_dir/fuzz_http_route"
i=0
for request in 'GET\0/api/v1/targets\0' 'GET\0/api/v1/targets/prod\0' 'GET\0/targets/prod\0' \
  'POST\0/api/v1/targets/prod/check\0Bearer token\0' 'POST\0/api/v1/targets/prod/ack\0Bearer token\0{"owner":"a","reason":"b","expires_in":"2h"}' \
  'DELETE\0/api/v1/targets/prod/ack\0Bearer x\0' 'GET\0/metrics?x=%41\0' 'HEAD\0/\0'; do
  printf '%b' "$request" >"$seed_dir/fuzz_http_route/req_$i"
  i=$((i + 1))
done

mkdir -p "$build_dir/artifacts"
for t in "${targets[@]}"; do
  corpus=("$seed_dir/$t")
  [ -d "fuzz/corpus/$t" ] && corpus+=("fuzz/corpus/$t")
  echo "fuzz: $t for ${seconds}s"
  work="$build_dir/work/$t"
  mkdir -p "$work"
  # New inputs go to $work (first directory); the seeds and regressions are read only.
  "$build_dir/$t" -seed="$seed" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$t-" "$work" "${corpus[@]}" \
    2>"$build_dir/$t.log" || {
    tail -50 "$build_dir/$t.log"
    echo "fuzz: $t FAILED (input in $build_dir/artifacts/)" >&2
    exit 1
  }
  grep -E "stat::number_of_executed_units|cov:" "$build_dir/$t.log" | tail -2
done
echo "fuzz: all targets ran ${seconds}s without a finding"
