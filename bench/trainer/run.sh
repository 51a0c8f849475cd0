#!/usr/bin/env bash
# run.sh: the trainer-overhead benchmark — the same MLP trained by a
# hand-written loop, by the trainer with barebones=true and with its
# defaults — printing its JSON lines (ms per step, overheads in percent).
# Usage: bench/trainer/run.sh BUILD_DIR [THREADS] [EPOCHS] [REPS]
set -euo pipefail
build=${1:-build}
threads=${2:-$(nproc)}
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
OMP_NUM_THREADS=$threads VOLT_NUM_THREADS=$threads \
    "$build/bench/bench_trainer_trainer" "$data" "${3:-3}" "${4:-3}" 2>/dev/null
