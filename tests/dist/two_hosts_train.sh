#!/usr/bin/env bash
# two_hosts_train.sh: issue 8, point 7 — trains the MLP example
# (examples/fabric_loop) as 2 ranks on two simulated hosts (two_hosts.sh:
# two network namespaces joined by a veth pair, MPI over TCP) and as 2 ranks
# on this host, and checks that both runs end with the same weights (the
# saved checkpoints are identical byte for byte). Exits 77 (skipped, saying
# why) where namespaces cannot be created.
#
#   tests/dist/two_hosts_train.sh <fabric_loop> [its arguments]
set -euo pipefail
prog=$1
shift
args=(--epochs 1 --limit-batches 40 "$@")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${VOLT_TEST_TMPDIR:-/tmp}/two_hosts_train.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

status=0
bash "$here/two_hosts.sh" "$prog" "${args[@]}" --out "$tmp/two_hosts.ckpt" || status=$?
if [ "$status" = 77 ]; then exit 77; fi
if [ "$status" != 0 ]; then
    echo "two_hosts_train: the two-host run failed (status $status)" >&2
    exit 1
fi

root=()
if [ "$(id -u)" = 0 ]; then root=(--allow-run-as-root); fi
"${VOLT_MPIEXEC:-mpiexec}" -n 2 --oversubscribe --bind-to none "${root[@]}" \
    "$prog" "${args[@]}" --out "$tmp/one_host.ckpt"

if ! cmp "$tmp/two_hosts.ckpt" "$tmp/one_host.ckpt"; then
    echo "two_hosts_train: FAILED: the weights trained across two hosts differ from one host's" >&2
    exit 1
fi
echo "two_hosts_train: two hosts and one host trained the same weights ($(stat -c %s "$tmp/one_host.ckpt") bytes)"
