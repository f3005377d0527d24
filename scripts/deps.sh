#!/usr/bin/env bash
# Installs the Debian packages mproc needs to build, test and benchmark.
# Usage: scripts/deps.sh [build|test|bench]   (default: test)
# Runs apt-get only for what is missing; needs root for that (CI and the
# development machines run as root).
set -euo pipefail

need=(cmake make gcc pkg-config)
case "${1:-test}" in
  build) ;;
  test)  need+=(libcmocka-dev clang libclang-rt-14-dev parallel valgrind python3 openmpi-bin libopenmpi-dev) ;;
  bench) need+=(parallel python3 libgomp1 openmpi-bin libopenmpi-dev python3-mpi4py) ;;
  *) echo "deps.sh: unknown set '$1' (expected build, test or bench)" >&2; exit 2 ;;
esac
[ "${1:-test}" != test ] || need+=(librandom123-dev)   # tests/test_rng.c's Philox oracle
[ "${1:-test}" != test ] || need+=(iproute2)   # ip: mpi_two_hosts's network namespaces (not in minimal images)

missing=()
for pkg in "${need[@]}"; do
  case "$pkg" in
    python3)  command -v python3 >/dev/null 2>&1 && continue ;;
    parallel) command -v parallel >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
