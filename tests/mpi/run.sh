#!/usr/bin/env bash
# Runs a test program under mpirun for the mpi_* tests.
# Usage: run.sh [--spmd] [--env VAR=VALUE]... MPIRUN RANKS NET PROGRAM [ARGS...]
#   --spmd: the program calls MPI_Init itself (mp_pool_open_mpi), so it
#   runs without MPROC_BACKEND=mpi, which would join MPI before main.
#   NET: sm (shared memory between the ranks) or tcp (the network path:
#   --mca btl tcp,self), so both transports are exercised on one machine.
# With ARGS "--kill" the program must be ended by mpirun (a rank dies in a
# task), never hang: success is mpirun failing, naming the dead rank.
set -euo pipefail
backend_env=(env MPROC_BACKEND=mpi)   # VAR=VALUE words follow
[ "$1" != --spmd ] || { backend_env=(env); shift; }
while [ "$1" = --env ]; do backend_env+=("$2"); shift 2; done
mpirun=$1 ranks=$2 net=$3; shift 3
# Root runs mpirun in CI containers; Open MPI refuses that unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Under AddressSanitizer, leak checking is off for the MPI runs: Open MPI
# keeps allocations it never frees in components built without frame
# pointers, whose stacks LeakSanitizer cannot attribute (so they cannot be
# suppressed by name).  Memory errors and UBSan still stop the test; the
# backend's own allocations are freed on the paths the other suites check.
[ -z "${ASAN_OPTIONS:-}" ] || export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
# Under ThreadSanitizer, Open MPI's internals (not instrumented) are
# suppressed by library name: see tsan.supp.
[ -z "${TSAN_OPTIONS:-}" ] || export TSAN_OPTIONS="$TSAN_OPTIONS:suppressions=$(cd "$(dirname "$0")" && pwd)/tsan.supp"

case "$net" in
  sm)  btl=(--mca btl vader,self) ;;
  tcp) btl=(--mca btl tcp,self --mca btl_tcp_if_include lo) ;;
  *) echo "run.sh: NET is sm or tcp, not '$net'" >&2; exit 2 ;;
esac
cmd=("$mpirun" -n "$ranks" --oversubscribe --bind-to none "${btl[@]}" "${backend_env[@]}" "$@")
if [ "${2:-}" != --kill ] && [ "${1:-}" != --kill ]; then
  exec "${cmd[@]}"
fi
out=$("${cmd[@]}" 2>&1) && { echo "$out"; echo "run.sh: mpirun succeeded although a rank died" >&2; exit 1; }
echo "$out" | tail -5
grep -q "rank [0-9]" <<<"$out" || { echo "run.sh: mpirun did not name the dead rank" >&2; exit 1; }
! grep -q "the map returned" <<<"$out" || { echo "run.sh: the program went on after a rank died" >&2; exit 1; }
echo "run.sh: the job ended when a rank died, naming it"
