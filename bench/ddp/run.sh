#!/usr/bin/env bash
# run.sh: the data-parallel benchmark (bench/ddp/ddp.c) on 1 and 2 ranks of
# this machine, one thread per rank, printing one JSON line per run.
# Usage: bench/ddp/run.sh BUILD_DIR [BATCHES] [REPS]
set -euo pipefail
build=${1:-build}
batches=${2:-200}
reps=${3:-3}
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
root=()
[ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
for rep in $(seq "$reps"); do
    for n in 1 2; do
        OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive mpiexec -n "$n" --oversubscribe --bind-to none \
            "${root[@]}" "$build/bench/bench_ddp_ddp" "$data" "$batches"
    done
done
