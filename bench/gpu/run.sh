#!/usr/bin/env bash
# run.sh: bench/gpu on a machine with an NVIDIA GPU — volt's trainer
# (bench_gpu_gpu_train) and PyTorch Lightning (torch_gpu.py, eager and
# torch.compile) on the Fashion-MNIST CNN at batch 512 and a
# GPT-2-small-shaped model at batch 8 x 1024, alternating, REPS times each;
# prints the JSON lines and summary.py's table.
# Usage: bench/gpu/run.sh BUILD_DIR [REPS]   (PYTHON: a python with torch
# and lightning; default python3; MODELS="cnn gpt")
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-build}" && pwd)
reps=${2:-1}
py=${PYTHON:-python3}
log=$(mktemp)
# MODELS: cnn, gpt (vocabulary 50257, as the issue sets it) and gpt50304
# (nanoGPT's padded vocabulary, whose head product runs on aligned kernels)
for model in ${MODELS:-cnn gpt}; do
    args=(--model "${model%50304}"); vargs=(model="${model%50304}")
    [ "$model" = gpt50304 ] && args+=(--vocab 50304) && vargs+=(vocab=50304)
    for _ in $(seq "$reps"); do
        "$build/bench/bench_gpu_gpu_train" "${vargs[@]}" | tee -a "$log"
        "$py" "$here/torch_gpu.py" "${args[@]}" 2>/dev/null | tee -a "$log"
        "$py" "$here/torch_gpu.py" "${args[@]}" --compile 2>/dev/null | tee -a "$log"
    done
done
"$py" "$here/summary.py" "$log"
