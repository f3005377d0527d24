#!/usr/bin/env bash
# Runs the cmocka test programs of a build directory under valgrind memcheck:
# no invalid access, no use of uninitialised memory, no leaks.
#   scripts/valgrind-tests.sh BUILD_DIR
# Only the compiled test programs of the build run (scripts such as the
# GNU-parallel differential suite are not C code of ours); tests labelled
# nosan or novalgrind are skipped.  Forked children (pool
# workers) are not leak-checked: they end with _exit() holding copies of the
# parent's heap by design.  valgrind handles the 32 GiB arena reservation
# badly, so the arena is made smaller for this run.
set -euo pipefail
build=${1:-build}
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
failed=0 ran=0
for t in $tests; do
  ran=$((ran + 1))
  if ! valgrind -q --child-silent-after-fork=yes --leak-check=full \
       --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$t" >/dev/null 2>"$build/valgrind-$(basename "$t").log"; then
    echo "valgrind: $(basename "$t") FAILED (see $build/valgrind-$(basename "$t").log)"
    cat "$build/valgrind-$(basename "$t").log" | tail -40
    failed=$((failed + 1))
  else
    echo "valgrind: $(basename "$t") clean"
  fi
done
echo "valgrind: $((ran - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
