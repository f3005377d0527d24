#!/usr/bin/env bash
# examples/pi prints the same count of hits -- so the same estimate -- for
# 1, 2 and 3 workers, every chunk size, serially and on both backends: a
# task's random stream depends only on the seed and the task's index.
# Usage: tests/pi_reproducible.sh PATH/TO/pi
set -euo pipefail
pi=$1
samples=400000
want=
for workers in 1 2 3; do
  for chunk in 0 1 7 1000; do
    out=$(MPROC_WORKERS=$workers "$pi" "$samples" "$chunk")
    # The rows serial, thread, process: column 3 is the count of hits.
    hits=$(awk '$1 == "serial" || $1 == "thread" || $1 == "process" { print $1 "=" $3 }' <<<"$out")
    [ "$(wc -l <<<"$hits")" -eq 3 ] || { echo "pi printed no result rows:"; echo "$out"; exit 1; }
    for row in $hits; do
      got=${row#*=}
      want=${want:-$got}
      if [ "$got" != "$want" ]; then
        echo "workers $workers, chunk $chunk, ${row%%=*}: $got hits, expected $want"
        echo "$out"
        exit 1
      fi
    done
  done
done
echo "pi: $want hits in every run (1-3 workers, chunks auto/1/7/1000, serial, thread, process)"
