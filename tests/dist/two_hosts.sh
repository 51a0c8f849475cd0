#!/usr/bin/env bash
# two_hosts.sh: runs an MPI program as 2 ranks on two simulated hosts — two
# network namespaces joined by a veth pair (10.77.0.1 and 10.77.0.2), each
# with its own hostname — so that the ranks talk over TCP as across
# machines (issue 8, point 7).
#
#   tests/dist/two_hosts.sh <program> [args...]
#
# mpiexec runs in namespace A with --host 10.77.0.1,10.77.0.2; the rank of
# host A is started by mpiexec itself, the one of host B by Open MPI's
# daemon, which an rsh agent written here starts in namespace B with
# `ip netns exec` instead of ssh. MPI is restricted to TCP over the veth
# interfaces (btl tcp,self; pml ob1; oob and btl_tcp_if_include). Both
# ranks see this environment (mpiexec's, handed to the daemon), this
# working directory and this file system, and VOLT_TWO_HOSTS=1 (so that a
# test knows each rank is alone on its node). The program's output goes to
# stdout/stderr; the exit status is mpiexec's.
#
# Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN), `ip` (iproute2), `unshare`
# (util-linux) and Open MPI. Where namespaces cannot be created it prints why
# and exits 77 (ctest: skipped). The namespaces are always removed (trap).
#
# Environment:
#   VOLT_MPIEXEC             mpiexec to use (default: mpiexec on PATH)
#   VOLT_TWO_HOSTS_TIMEOUT   seconds before the job is killed (default 300)
#   VOLT_TWO_HOSTS_MPI_ARGS  extra mpiexec arguments (split on spaces)
#   VOLT_TWO_HOSTS_VERBOSE=1 print the setup and the mpiexec command
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 <program> [args...]" >&2
    exit 2
fi

skip() {
    echo "two_hosts: SKIPPED: $*" >&2
    exit 77
}
say() {
    if [ "${VOLT_TWO_HOSTS_VERBOSE:-0}" = 1 ]; then echo "two_hosts: $*" >&2; fi
}

command -v ip >/dev/null 2>&1 || skip "no 'ip' command (Debian: apt-get install iproute2)"
command -v unshare >/dev/null 2>&1 || skip "no 'unshare' command (Debian: util-linux)"
mpiexec=${VOLT_MPIEXEC:-mpiexec}
mpiexec=$(command -v "$mpiexec") || { echo "two_hosts: no mpiexec (Debian: openmpi-bin)" >&2; exit 1; }
program=$(command -v "$1") || { echo "two_hosts: no program $1" >&2; exit 2; }
case $program in /*) ;; *) program=$PWD/$program ;; esac
shift

id=$$
ns_a=volt2h-a-$id
ns_b=volt2h-b-$id
if_a=v2ha$id # interface names: at most 15 characters
if_b=v2hb$id
ip_a=10.77.0.1
ip_b=10.77.0.2
subnet=10.77.0.0/24
workdir=$(mktemp -d "${TMPDIR:-/tmp}/volt-two-hosts.XXXXXX")

# shellcheck disable=SC2317 # called by the trap
cleanup() {
    local ns pid
    for ns in "$ns_a" "$ns_b"; do
        if ip netns list 2>/dev/null | grep -qw "$ns"; then
            # Processes left in the namespace (a killed job's ranks).
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    ip link del "$if_a" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------- namespaces
if ! err=$(ip netns add "$ns_a" 2>&1); then
    skip "cannot create a network namespace (needs root or CAP_SYS_ADMIN): $err"
fi
ip netns add "$ns_b"
if ! err=$(ip netns exec "$ns_a" unshare --uts true 2>&1); then
    skip "cannot enter a network namespace: $err"
fi
if ! err=$(ip link add "$if_a" type veth peer name "$if_b" 2>&1); then
    skip "cannot create a veth pair: $err"
fi
ip link set "$if_a" netns "$ns_a"
ip link set "$if_b" netns "$ns_b"
ip -n "$ns_a" addr add "$ip_a/24" dev "$if_a"
ip -n "$ns_b" addr add "$ip_b/24" dev "$if_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$if_a" up
ip -n "$ns_b" link set "$if_b" up
say "namespaces $ns_a ($ip_a, host volt-host-a) and $ns_b ($ip_b, host volt-host-b)"

# The rsh agent: `agent <host> <command...>` runs the command (a shell
# command line, as ssh would) in the namespace owning <host>'s address,
# under that host's name.
agent=$workdir/netns-rsh
cat >"$agent" <<EOF
#!/bin/sh
host=\$1
shift
case \$host in
    $ip_a) ns=$ns_a name=volt-host-a ;;
    $ip_b) ns=$ns_b name=volt-host-b ;;
    *) echo "netns-rsh: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$name && \$*"
EOF
chmod +x "$agent"

# ---------------------------------------------------------------- the job
hosts=$ip_a,$ip_b
# shellcheck disable=SC2054 # commas inside arguments, on purpose
args=(-n 2 --host "$hosts" --bind-to none
      --mca plm_rsh_agent "$agent"
      --mca pml ob1 --mca btl tcp,self
      --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet")
if [ "$(id -u)" -eq 0 ]; then args+=(--allow-run-as-root); fi
# shellcheck disable=SC2206 # split on spaces on purpose
args+=(${VOLT_TWO_HOSTS_MPI_ARGS:-})
say "$mpiexec ${args[*]} $program $*"

export VOLT_TWO_HOSTS=1
start=$(date +%s.%N)
status=0
timeout --kill-after=5 "${VOLT_TWO_HOSTS_TIMEOUT:-300}" \
    ip netns exec "$ns_a" unshare --uts sh -c 'hostname volt-host-a && exec "$@"' sh \
    "$mpiexec" "${args[@]}" "$program" "$@" || status=$?
end=$(date +%s.%N)
bytes=$(ip netns exec "$ns_a" cat "/sys/class/net/$if_a/statistics/tx_bytes" 2>/dev/null || echo "?")
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "two_hosts: the job did not end within ${VOLT_TWO_HOSTS_TIMEOUT:-300} s; killed" >&2
fi
echo "two_hosts: $program on 2 hosts exited with $status after" \
     "$(awk "BEGIN {printf \"%.1f\", $end - $start}") s; host A sent $bytes bytes over the veth" >&2
exit "$status"
