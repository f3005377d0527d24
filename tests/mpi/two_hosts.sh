#!/usr/bin/env bash
# Runs a test program under mpirun with its ranks on two "hosts" of this
# one machine, as on a cluster: the mpi_two_hosts test.
# Usage: two_hosts.sh MPIRUN PROGRAM [ARGS...]   (as root: it makes namespaces)
#
# The recipe, which is also how to try a cluster on a laptop:
#  1. Two network namespaces joined by a veth pair, each with its own
#     address and its loopback up:
#       ip netns add A; ip netns add B
#       ip -n A link add v0 type veth peer name v1 netns B
#       ip -n A addr add 10.213.0.1/24 dev v0; ip -n A link set v0 up; ip -n A link set lo up
#       ip -n B addr add 10.213.0.2/24 dev v1; ip -n B link set v1 up; ip -n B link set lo up
#  2. A hostfile naming the hosts by address (no /etc/hosts entries needed):
#       10.213.0.1 slots=2
#       10.213.0.2 slots=2
#  3. A launch agent in place of ssh.  mpirun calls it as `agent HOST
#     COMMAND...`, COMMAND being a shell command line as ssh would get it;
#     it runs that in HOST's namespace under a host name and a temporary
#     folder of its own (Open MPI keeps its session files in TMPDIR):
#       ip netns exec B unshare --uts sh -c 'hostname host-b; TMPDIR=/tmp/b exec sh -c "$*"' sh COMMAND...
#  4. mpirun itself in the first namespace, likewise named, over TCP on
#     the veth subnet only (out-of-band and data), not binding to cores
#     (the "hosts" share this machine's cores):
#       ip netns exec A unshare --uts sh -c 'hostname host-a; TMPDIR=/tmp/a exec "$@"' sh \
#         mpirun --hostfile hosts -n 4 --bind-to none --mca plm_rsh_agent ./agent \
#           --mca btl tcp,self --mca btl_tcp_if_include 10.213.0.0/24 \
#           --mca oob_tcp_if_include 10.213.0.0/24 ./program
# Ranks 0 and 1 run on host A, 2 and 3 on host B; the program gets
# MPROC_TEST_HOSTS=host-a,host-b, the hosts whose ranks must serve tasks.
#
# The namespaces are named after this script's pid, so runs in parallel
# do not meet; they and the temporary folder go at the end, also on
# failure.  Without the right to make namespaces (CAP_SYS_ADMIN) or
# without `ip` (iproute2) the test fails, saying so: it never passes
# without having run.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: two_hosts.sh MPIRUN PROGRAM [ARGS...]" >&2; exit 2; }
mpirun=$1; shift

readonly subnet=10.213.0.0/24
readonly prefix=mproc-hosts
readonly ns_a=$prefix-$$-a ns_b=$prefix-$$-b
readonly host_a=mproc-host-a host_b=mproc-host-b
readonly ip_a=10.213.0.1 ip_b=10.213.0.2

fail() { echo "two_hosts.sh: $*" >&2; exit 1; }

for tool in ip unshare hostname; do
  command -v "$tool" >/dev/null 2>&1 || fail "needs '$tool' (ip is in iproute2: scripts/deps.sh test installs it)"
done

work=
# Ends what still runs in our namespaces (a hung rank, an orted), then
# removes them (which takes the veth pair) and the temporary folder.
cleanup() {
  local ns pid
  for ns in "$ns_a" "$ns_b"; do
    [ -e "/run/netns/$ns" ] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns delete "$ns" 2>/dev/null || true
  done
  [ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Namespaces left by a run that was killed outright (its pid is gone).
remove_stale_namespaces() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    case "$ns" in "$prefix"-*-[ab]) ;; *) continue ;; esac
    pid=${ns#"$prefix"-}; pid=${pid%-?}
    kill -0 "$pid" 2>/dev/null && continue
    ip netns delete "$ns" 2>/dev/null || true
  done
}

# make_host NS DEVICE ADDRESS: loopback up, DEVICE up with ADDRESS/24.
make_host() {
  ip -n "$1" link set lo up
  ip -n "$1" addr add "$3/24" dev "$2"
  ip -n "$1" link set "$2" up
}

remove_stale_namespaces
why=$(ip netns add "$ns_a" 2>&1) ||
  fail "cannot create a network namespace, and this test needs two (ip netns add needs root or CAP_SYS_ADMIN): $why"
ip netns add "$ns_b"
ip -n "$ns_a" link add v0 type veth peer name v1 netns "$ns_b" ||
  fail "cannot create a veth pair between the namespaces (is the veth module available?)"
make_host "$ns_a" v0 "$ip_a"
make_host "$ns_b" v1 "$ip_b"

work=$(mktemp -d "${TMPDIR:-/tmp}/mproc-two-hosts.XXXXXX")
mkdir "$work/a" "$work/b"
printf '%s slots=2\n%s slots=2\n' "$ip_a" "$ip_b" >"$work/hostfile"

# The launch agent, in place of ssh: `agent HOST COMMAND...`.
cat >"$work/agent" <<EOF
#!/bin/sh
# Runs COMMAND (a shell command line, as ssh gets it) on HOST.
case "\$1" in
  $ip_a|$host_a) ns=$ns_a name=$host_a tmp='$work/a' ;;
  $ip_b|$host_b) ns=$ns_b name=$host_b tmp='$work/b' ;;
  *) echo "agent: unknown host '\$1'" >&2; exit 255 ;;
esac
shift
exec ip netns exec "\$ns" unshare --uts sh -c 'hostname "\$1"; export TMPDIR="\$2"; shift 2; exec sh -c "\$*"' sh "\$name" "\$tmp" "\$@"
EOF
chmod +x "$work/agent"

# Root runs mpirun in CI containers; Open MPI refuses that unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# mpirun runs in the background so that a signal to this script is
# handled at once (the cleanup then ends the whole job); a hang ends at
# the timeout, in time for the cleanup, before ctest's own limit.
ip netns exec "$ns_a" unshare --uts sh -c 'hostname "$1"; export TMPDIR="$2"; shift 2; exec "$@"' sh "$host_a" "$work/a" \
  timeout -k 10 240 "$mpirun" --hostfile "$work/hostfile" -n 4 --bind-to none \
    --mca plm_rsh_agent "$work/agent" \
    --mca btl tcp,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet" \
    env MPROC_BACKEND=mpi MPROC_TEST_HOSTS="$host_a,$host_b" "$@" &
wait $!
