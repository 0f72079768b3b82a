#!/usr/bin/env bash
# Profiles the client side of driftwatch at the largest size with callgrind (`perf stat -e
# instructions` is "not supported" in this VM: no hardware counters, so no useful perf profile):
# `driftwatch snapshot` of one database and `driftwatch diff` of two. Writes the annotated
# inclusive and self cost lists; the raw callgrind files are deleted (they are large).
#   profile.sh DRIFTWATCH_BIN DATABASE_URL_EXPECTED DATABASE_URL_ACTUAL OUTDIR
set -euo pipefail
dw=$1; expected=$2; actual=$3; out=$4
mkdir -p "$out"
if perf stat -e instructions true 2>&1 | grep -q "not supported"; then
  echo "profile: perf has no instruction counter here, using callgrind" >&2
fi
# The password goes through PGPASSWORD so that it is not in the command line that callgrind
# records in its output.
password=$(sed -n 's|^postgresql://[^:]*:\([^@]*\)@.*|\1|p' <<<"$expected")
strip() { sed 's|^\(postgresql://[^:]*\):[^@]*@|\1@|' <<<"$1"; }
export PGPASSWORD=$password
profile() {
  local name=$1; shift
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$name.out" "$dw" "$@" \
    >/dev/null 2>"$out/callgrind.$name.log" || true
  { callgrind_annotate --inclusive=yes "$out/callgrind.$name.out" 2>/dev/null || true; } \
    | sed -n '1,70p' | cut -c1-220 >"$out/callgrind_${name}_inclusive.txt"
  { callgrind_annotate "$out/callgrind.$name.out" 2>/dev/null || true; } \
    | sed -n '1,50p' | cut -c1-220 >"$out/callgrind_${name}_self.txt"
  rm -f "$out/callgrind.$name.out" "$out/callgrind.$name.log"
}
# --out must be a regular file: snapshot writes FILE.tmp and renames it over FILE, which would
# replace a device such as /dev/null.
profile snapshot snapshot --url "$(strip "$expected")" --out "$out/profile_snapshot.json"
rm -f "$out/profile_snapshot.json"
profile diff diff --expected "$(strip "$expected")" --actual "$(strip "$actual")" --format json
if grep -lq "$password" "$out"/callgrind_* 2>/dev/null; then
  echo "profile: password found in profile output, deleting it" >&2
  rm -f "$out"/callgrind_*
  exit 1
fi
echo "profile: $out/callgrind_*_{inclusive,self}.txt" >&2
