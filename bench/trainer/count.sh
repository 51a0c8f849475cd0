#!/usr/bin/env bash
# count.sh: the trainer's overhead in instructions rather than seconds —
# repeatable on a busy machine, where wall-clock noise (a few percent) hides
# a 0.5% goal. Runs bench_trainer_trainer under callgrind (one epoch, one
# thread) three times, each counting one loop (--toggle-collect), and prints
# instructions per step and the overheads in percent.
# Usage: bench/trainer/count.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
steps=100 # 12,800 images / batch 128, one epoch
declare -A ir
for fn in hand_loop barebones_loop defaults_loop; do
    out=$(OMP_NUM_THREADS=1 VOLT_NUM_THREADS=1 valgrind --tool=callgrind \
        --callgrind-out-file=/dev/null --toggle-collect="$fn" \
        "$build/bench/bench_trainer_trainer" "$data" 1 1 2>&1 >/dev/null)
    ir[$fn]=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out")
    printf '{"bench": "trainer.instructions", "impl": "%s", "instructions_per_step": %d}\n' \
        "$fn" $((ir[$fn] / steps))
done
for fn in barebones_loop defaults_loop; do
    awk -v a="${ir[$fn]}" -v h="${ir[hand_loop]}" -v n="$fn" \
        'BEGIN { printf "{\"ratio\": \"%s instruction overhead %%\", \"value\": %.3f}\n", n, 100 * (a / h - 1) }'
done
