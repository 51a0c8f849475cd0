#!/usr/bin/env bash
# run.sh: bench/gpt — volt's built-in character-level GPT (gpt_cpu.c) vs the
# same model in PyTorch (torch_gpt.py), each trained by a plain loop on the
# fortune files with the same batches and thread count, in alternating
# processes (volt first in the first repetition, PyTorch first in the
# second, and so on; repetition r = 0, 1, ... uses seed 42 + r on both sides). The first repetition also profiles 10
# more steps on each side. Prints each run's JSON line, then summary.py's
# ratios (JSON) and a Markdown section with the medians and the profiles.
# Usage: bench/gpt/run.sh BUILD_DIR [THREADS]   (threads default 2)
# Environment: BENCH_REPS=N (3), GPT_STEPS=N timed steps (200),
#              GPT_WARMUP=N untimed steps before them (20),
#              GPT_DATA=DIR (/usr/share/games/fortunes),
#              OMP_WAIT_POLICY (passed to every process and recorded)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-build}" && pwd)
threads=${2:-2}
reps=${BENCH_REPS:-3}
steps=${GPT_STEPS:-200}
warmup=${GPT_WARMUP:-20}
data=${GPT_DATA:-/usr/share/games/fortunes}
"$here/../compare/setup_venv.sh"
py="$here/../.venv/bin/python"
[ -x "$py" ] || py=/usr/bin/python3
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads \
    VOLT_NUM_THREADS=$threads
results=$(mktemp /tmp/volt_bench_gpt_XXXXXX)
trap 'rm -f "$results"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

run_volt() { # seed profile
    "$build/bench/bench_gpt_gpt_cpu" "steps=$steps" "warmup=$warmup" "threads=$threads" \
        "seed=$1" "profile=$2" "data=$data"
}
run_torch() { # seed profile
    "$py" "$here/torch_gpt.py" --steps "$steps" --warmup "$warmup" --threads "$threads" \
        --seed "$1" --profile "$2" --data "$data"
}

for ((r = 0; r < reps; r++)); do
    profile=$([ "$r" = 0 ] && echo 10 || echo 0)
    if ((r % 2 == 0)); then order="volt torch"; else order="torch volt"; fi
    for impl in $order; do
        "run_$impl" $((42 + r)) "$profile" | tee -a "$results"
    done
done

command="bench/gpt/run.sh ${1:-build} $threads"
[ "${OMP_WAIT_POLICY:-}" ] && command="OMP_WAIT_POLICY=$OMP_WAIT_POLICY $command"
"$py" "$here/summary.py" "$results" --build "$build" --threads "$threads" \
    --load-before "$load_before" --command "$command"
