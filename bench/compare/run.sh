#!/usr/bin/env bash
# run.sh: the side-by-side comparison of issue 9 — volt's trainer, a plain
# PyTorch loop and PyTorch Lightning's Trainer on the Fashion-MNIST MLP and
# CNN (bench/compare/harness.py; see bench/README.md). Makes bench/.venv
# first (setup_venv.sh). Prints JSON lines per run, the ratios, and the
# Markdown section it writes into bench/RESULTS.md.
# Usage: bench/compare/run.sh BUILD_DIR [THREADS]   (threads default 2)
# Environment: BENCH_QUICK=1  smoke test: 1 repetition, 30 batches per epoch,
#                             RESULTS.md left alone
#              BENCH_REPS=N   repetitions (default 3)
#              BENCH_RESULTS=FILE  where the section goes (default bench/RESULTS.md)
#              VOLT_FASHION_MNIST_DIR  the data (default /usr/share/datasets/fashion-mnist)
#              OMP_WAIT_POLICY  passed to every process (recorded in the results)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-build}" && pwd)
threads=${2:-2}
"$here/setup_venv.sh"
args=(--build "$build" --threads "$threads" --reps "${BENCH_REPS:-3}")
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    args+=(--quick)
else
    args+=(--write "${BENCH_RESULTS:-$here/../RESULTS.md}")
fi
command="bench/compare/run.sh ${1:-build} $threads"
[ "${BENCH_REPS:-}" ] && command="BENCH_REPS=$BENCH_REPS $command"
[ "${BENCH_QUICK:-0}" = 1 ] && command="BENCH_QUICK=1 $command"
[ "${OMP_WAIT_POLICY:-}" ] && command="OMP_WAIT_POLICY=$OMP_WAIT_POLICY $command"
exec "$here/../.venv/bin/python" "$here/harness.py" "${args[@]}" --command "$command"
