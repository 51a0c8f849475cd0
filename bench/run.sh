#!/usr/bin/env bash
# run.sh: `make bench` — runs every benchmark suite against the given build
# directory. Benchmarks are never tests: they print JSON lines and ratios.
# Usage: bench/run.sh BUILD_DIR [THREADS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
threads=${2:-$(nproc)}
echo "== bench/ops (threads: $threads)"
"$here/ops/run.sh" "$build" "$threads"
echo "== bench/data (threads: $threads)"; "$here/data/run.sh" "$build" "$threads"
echo "== bench/layers (threads: $threads)"; "$here/layers/run.sh" "$build" "$threads"
echo "== bench/trainer (threads: $threads)"; "$here/trainer/run.sh" "$build" "$threads"
