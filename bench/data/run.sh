#!/usr/bin/env bash
# run.sh: runs the data-loader benchmark — volt (bench_data_loader) and
# PyTorch's DataLoader (loader_torch.py) over the same Fashion-MNIST training
# set, batch 128, 0/1/2 workers, without and with augmentation — and prints
# the JSON lines and the ratios (volt batches/s over torch batches/s).
# Usage: bench/data/run.sh BUILD_DIR [THREADS] [PYTHON] [EPOCHS]
# PYTHON defaults to bench/.venv/bin/python if present, else /usr/bin/python3.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
threads=${2:-$(nproc)}
python=${3:-}
epochs=${4:-3}
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -z "$python" ]; then
    if [ -x "$here/../.venv/bin/python" ]; then python=$here/../.venv/bin/python; else python=/usr/bin/python3; fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
OMP_NUM_THREADS=$threads "$build/bench/bench_data_loader" "$data" "$epochs" | tee -a "$out"
OMP_NUM_THREADS=$threads "$python" "$here/loader_torch.py" "$data" "$epochs" | tee -a "$out"
"$python" - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
get = lambda **k: next(r for r in rows if all(r.get(a) == b for a, b in k.items()))
for augment in (False, True):
    for workers in (0, 1, 2):
        v = get(impl="volt", augment=augment, workers=workers)["batches_per_s"]
        t = get(impl="torch", augment=augment, workers=workers)["batches_per_s"]
        print(json.dumps({"ratio": f"loader volt/torch batches per s, augment={str(augment).lower()}, "
                          f"workers={workers}", "value": round(v / t, 2)}))
for workers in (0, 1, 2):
    v = get(impl="volt", augment=False, workers=workers)["batches_per_s"]
    t = get(impl="torch_batched", augment=False, workers=workers)["batches_per_s"]
    print(json.dumps({"ratio": f"loader volt/torch_batched batches per s, augment=false, "
                      f"workers={workers}", "value": round(v / t, 2)}))
PY
