#!/usr/bin/env bash
# run.sh: OpenMP parallel regions per training step of bench/compare's volt
# program (bench/README.md, "regions/"): builds the LD_PRELOAD shim
# (shim/ompshim.c), runs bench_compare_compare twice per model (epochs=1,
# SHORT and LONG training batches) under it and prints sites.py's per-step
# table of the LONG - SHORT steps; then region_cost's figures.
# Usage: bench/regions/run.sh BUILD_DIR [THREADS]   (threads default 2)
# Environment: OMP_WAIT_POLICY (passed through; the tables depend on it),
#              REGIONS_MODELS (default "mlp cnn"), REGIONS_SHORT / REGIONS_LONG
#              (batches; default 20 and 120 for the MLP, a fifth for the CNN),
#              REGIONS_ARGS (more arguments for bench_compare_compare, e.g.
#              precision=bf16-mixed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-build}" && pwd)
threads=${2:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -shared -fPIC -fopenmp "$here/shim/ompshim.c" -o "$work/ompshim.so" -ldl
exe="$build/bench/bench_compare_compare"
echo "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-} threads=$threads"
for model in ${REGIONS_MODELS:-mlp cnn}; do
    short=${REGIONS_SHORT:-20}
    long=${REGIONS_LONG:-120}
    if [ "$model" = cnn ]; then short=$((short / 5 > 2 ? short / 5 : 2)); long=$((long / 5)); fi
    for n in "$short" "$long"; do
        (cd "$work" && OMPSHIM_OUT="$work/$model.$n" LD_PRELOAD="$work/ompshim.so" \
            "$exe" model="$model" epochs=1 limit="$n" threads="$threads" ${REGIONS_ARGS:-} >/dev/null)
    done
    echo "== $model: training steps $short..$long"
    python3 "$here/sites.py" "$exe" "$work/$model.$short" "$work/$model.$long" $((long - short))
done
"$build/bench/bench_regions_region_cost" "$threads"
