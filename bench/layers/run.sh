#!/usr/bin/env bash
# run.sh: runs the layers benchmark — volt (bench_layers_layers) and PyTorch
# (layers_torch.py) on the same thread count — and prints the JSON lines and
# the ratios volt/torch of forward + backward time per layer (goal <= 1.0),
# on the median and on the fastest run (the latter is steadier on a busy
# machine); then the per-op profile of one training step of issue 9's CNN
# on both sides (bench_layers_cnn_ops, cnn_ops_torch.py: milliseconds per
# op per step) and volt's direct conv1 kernels beside its oneDNN path
# (bench_layers_conv_c1). Usage: bench/layers/run.sh BUILD_DIR [THREADS] [PYTHON]
# PYTHON defaults to bench/.venv/bin/python if present, else /usr/bin/python3
# (Debian's python3-torch).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
threads=${2:-2}
python=${3:-}
if [ -z "$python" ]; then
    if [ -x "$here/../.venv/bin/python" ]; then python=$here/../.venv/bin/python; else python=/usr/bin/python3; fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
OMP_NUM_THREADS=$threads "$build/bench/bench_layers_layers" "$threads" | tee -a "$out"
OMP_NUM_THREADS=$threads "$python" "$here/layers_torch.py" "$threads" | tee -a "$out"
"$python" - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
get = lambda **k: next(r for r in rows if all(r.get(a) == b for a, b in k.items()))
for name in ("conv1", "conv2", "fc1", "fc2", "bn", "relu1", "relu2", "pool1", "pool2"):
    v, t = get(bench="layers." + name, impl="volt"), get(bench="layers." + name, impl="torch")
    print(json.dumps({"ratio": f"{name} volt/torch forward+backward time", "median": round(v["ms"] / t["ms"], 3),
                      "fastest": round(v["ms_min"] / t["ms_min"], 3), "goal": "<= 1.0"}))
PY
OMP_NUM_THREADS=$threads "$build/bench/bench_layers_cnn_ops" "$threads"
OMP_NUM_THREADS=$threads "$python" "$here/cnn_ops_torch.py" "$threads"
OMP_NUM_THREADS=$threads "$build/bench/bench_layers_conv_c1" "$threads"
