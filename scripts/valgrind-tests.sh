#!/usr/bin/env bash
# Runs the cmocka test programs of a build directory under valgrind memcheck:
# no invalid access, no use of uninitialised memory, no leaks.
#   scripts/valgrind-tests.sh BUILD_DIR
# Only the compiled test programs of the build run (scripts such as the
# GNU-parallel differential suite are not C code of ours); tests labelled
# nosan or novalgrind are skipped.  Forked children (pool
# workers) report nothing (--child-silent-after-fork): they end with _exit()
# holding copies of the parent's heap by design, and the library hides the
# shared arena from their exit-time leak scan (mp__child_exit), which would
# otherwise read the whole reservation in every child.  valgrind handles the
# 32 GiB arena reservation badly, so the arena is made smaller for this run.
#
# Programs run VALGRIND_JOBS at a time (default: one per CPU): each has its
# own log, BUILD_DIR/valgrind-NAME.log, and the verdicts are printed in the
# programs' order once all have ended.
set -euo pipefail
build=${1:-build}
jobs=${VALGRIND_JOBS:-$(nproc 2>/dev/null || echo 2)}
tests=$(cd "$build" && ctest --show-only=json-v1 | python3 -c '
import json, os, sys
build = os.getcwd()
for t in json.load(sys.stdin)["tests"]:
    labels = next((p["value"] for p in t.get("properties", []) if p["name"] == "LABELS"), [])
    program = t["command"][0]
    if program.startswith(build + "/") and not {"nosan", "novalgrind"} & set(labels):
        print(program)
')
export MPROC_SHM_SIZE=512M

# One program under memcheck; its exit status and seconds are left in
# LOG.status.
memcheck() {
  local program=$1 log=$2
  local status=0 start=$SECONDS
  valgrind -q --child-silent-after-fork=yes --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$program" >/dev/null 2>"$log" || status=$?
  echo "$status $((SECONDS - start))" >"$log.status"
}

logs=()
running=0
for t in $tests; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  log="$build/valgrind-$(basename "$t").log"
  rm -f "$log.status"
  memcheck "$t" "$log" &
  logs+=("$log")
  running=$((running + 1))
done
wait

failed=0
for log in "${logs[@]}"; do
  name=${log#"$build/valgrind-"}
  name=${name%.log}
  read -r status secs <"$log.status" || status=lost
  if [ "$status" != 0 ]; then
    echo "valgrind: $name FAILED (status $status, see $log)"
    tail -40 "$log"
    failed=$((failed + 1))
  else
    echo "valgrind: $name clean (${secs} s)"
  fi
  rm -f "$log.status"
done
echo "valgrind: $((${#logs[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
