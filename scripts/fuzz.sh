#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets (tests/fuzz/fuzz_<x>.c) with clang —
# the library and the targets with coverage instrumentation, ASan and UBSan
# (CMake option VOLT_FUZZ) — and runs each for a fixed number of inputs from
# a fixed seed, starting from the committed seeds in tests/fuzz/corpus/<x>/
# (and the dictionary tests/fuzz/<x>.dict when there is one). A crash, sanitizer
# report or leak fails the script; libFuzzer leaves the input that caused it
# in BUILD_DIR/fuzz/ (crash-*, leak-*, ...): replay it with
#   BUILD_DIR/fuzz/fuzz_<x> BUILD_DIR/fuzz/crash-...
# New inputs the fuzzer finds go to BUILD_DIR/fuzz/corpus-<x>/, never into
# the source tree. `make fuzz` runs it (and `make test-sanitize` after the suite).
#
# Usage: scripts/fuzz.sh [BUILD_DIR]           (default build-fuzz)
#   FUZZ_RUNS=N      inputs per target (default 200000: a few seconds)
#   FUZZ_SECONDS=S   and at most S seconds per target (default 60)
#   FUZZ_CC=clang    the compiler (clang; scripts/install-deps.sh installs it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${1:-build-fuzz}
runs=${FUZZ_RUNS:-200000}
seconds=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
jobs=$(nproc 2>/dev/null || echo 2)

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz.sh: $cc not found (Debian: clang libclang-rt-14-dev libomp-14-dev;" \
         "scripts/install-deps.sh installs them)" >&2
    exit 1
fi

targets=()
for src in tests/fuzz/fuzz_*.c; do
    targets+=("$(basename "$src" .c)")
done

# Only the library and the fuzz targets: no tests, examples, benches or tools.
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVOLT_FUZZ=ON -DVOLT_BUILD_TESTS=OFF -DVOLT_BUILD_EXAMPLES=OFF -DVOLT_BUILD_BENCH=OFF \
    -DVOLT_BUILD_TOOLS=OFF >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "fuzz.sh: cmake configure failed" >&2
    exit 1
}
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL cmake --build "$build" -j"$jobs" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for name in "${targets[@]}"; do
    short=${name#fuzz_}
    corpus=$build/fuzz/corpus-$short
    mkdir -p "$corpus"
    args=(-runs="$runs" -max_total_time="$seconds" -seed=1 -max_len=4096 -timeout=10
          -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/fuzz/")
    [ -f "tests/fuzz/$short.dict" ] && args+=(-dict="tests/fuzz/$short.dict")
    seeds=()
    [ -d "tests/fuzz/corpus/$short" ] && seeds+=("tests/fuzz/corpus/$short")
    echo "fuzz.sh: $name: $runs runs (at most ${seconds}s)"
    log=$build/fuzz/$name.log
    if ! "$build/fuzz/$name" "${args[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz.sh: $name FAILED (log: $log; the input: $build/fuzz/crash-* / leak-* / ...)" >&2
        exit 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$log" || true
    echo "fuzz.sh: $name passed"
done
