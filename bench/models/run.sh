#!/usr/bin/env bash
# run.sh: the built-in models' accuracy and time on Fashion-MNIST — the CNN
# with the settings of examples/configs/fashion_mnist_cnn.yaml (15 epochs,
# Adam with a one-cycle schedule peaking at lr 2e-3, batch 128), checkpoints
# and logs as the demo writes them (in a scratch directory), the best
# checkpoint tested. Prints a JSON line per epoch (wall and user CPU
# seconds, validation accuracy) and one with the test accuracy and the
# totals. Not part of `make bench` (it runs for minutes).
# Usage: bench/models/run.sh BUILD_DIR [THREADS] [key=value ...]
#        (keys: see bench/models/train_cnn.c; later ones win)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
threads=${2:-$(nproc)}
shift $(($# > 2 ? 2 : $#))
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
OMP_NUM_THREADS=$threads VOLT_NUM_THREADS=$threads \
    "$build/bench/bench_models_train_cnn" data="$data" threads="$threads" epochs=15 lr=2e-3 \
    sched=onecycle bs=128 workers=1 demo=1 "$@"
