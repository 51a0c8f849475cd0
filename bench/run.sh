#!/usr/bin/env bash
# run.sh: `make bench` — runs every benchmark suite against the given build
# directory. Benchmarks are never tests: they print JSON lines and ratios.
# Makes bench/.venv first (Debian's torch + PyTorch Lightning, see
# bench/compare/setup_venv.sh), so every suite's PyTorch side runs there.
# Usage: bench/run.sh BUILD_DIR [THREADS]
# Environment: BENCH_SUITES="ops data layers trainer ddp gpt compare" (the
# default: all, in this order); BENCH_QUICK=1 for a smoke test (fewer epochs and
# repetitions; bench/compare leaves bench/RESULTS.md alone).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
threads=${2:-$(nproc)}
suites=${BENCH_SUITES:-ops data layers trainer ddp gpt compare}
quick=${BENCH_QUICK:-0}
"$here/compare/setup_venv.sh"
# An OpenBLAS older than the CPU runs generic SSE3 kernels: name the ones the
# CPU can run, for every suite (bench/common/openblas_core.py says why).
core=$(/usr/bin/python3 "$here/common/openblas_core.py")
[ -z "$core" ] || export OPENBLAS_CORETYPE=$core
for suite in $suites; do
    echo "== bench/$suite (threads: $threads)"
    case $suite in
        ops | layers) "$here/$suite/run.sh" "$build" "$threads" ;;
        data) "$here/data/run.sh" "$build" "$threads" "" "$([ "$quick" = 1 ] && echo 1 || echo 3)" ;;
        trainer)
            if [ "$quick" = 1 ]; then "$here/trainer/run.sh" "$build" "$threads" 1 1
            else "$here/trainer/run.sh" "$build" "$threads"; fi ;;
        ddp) # 1 and 2 MPI ranks of one thread each (its own thread setting)
            if [ "$quick" = 1 ]; then "$here/ddp/run.sh" "$build" 20 1
            else "$here/ddp/run.sh" "$build"; fi ;;
        gpt)
            if [ "$quick" = 1 ]; then BENCH_REPS=1 GPT_STEPS=20 "$here/gpt/run.sh" "$build" "$threads"
            else "$here/gpt/run.sh" "$build" "$threads"; fi ;;
        compare) "$here/compare/run.sh" "$build" "$threads" ;;
        *) echo "bench/run.sh: no suite '$suite'" >&2; exit 2 ;;
    esac
done
