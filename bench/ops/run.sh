#!/usr/bin/env bash
# run.sh: runs the ops benchmark — volt (bench_ops_ops) and PyTorch
# (ops_torch.py) on the same thread count — and prints the JSON lines and the
# ratios. Usage: bench/ops/run.sh BUILD_DIR [THREADS] [PYTHON]
# PYTHON defaults to bench/.venv/bin/python if present, else /usr/bin/python3
# (Debian's python3-torch).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
threads=${2:-$(nproc)}
python=${3:-}
if [ -z "$python" ]; then
    if [ -x "$here/../.venv/bin/python" ]; then python=$here/../.venv/bin/python; else python=/usr/bin/python3; fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
OMP_NUM_THREADS=$threads "$build/bench/bench_ops_ops" "$threads" | tee -a "$out"
OMP_NUM_THREADS=$threads "$python" "$here/ops_torch.py" "$threads" | tee -a "$out"
"$python" - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
get = lambda **k: next(r for r in rows if all(r.get(a) == b for a, b in k.items()))
chain_v, chain_t = get(bench="ops.chain", impl="volt"), get(bench="ops.chain", impl="torch")
print(json.dumps({"ratio": "chain volt/torch ns per op", "value": round(chain_v["ns_per_op"] / chain_t["ns_per_op"], 3), "goal": "<= 0.1"}))
for n in (512, 2048):
    v = get(bench="ops.matmul", impl="volt", n=n)["gflops"]
    o = get(bench="ops.matmul", impl="openblas", n=n)["gflops"]
    t = get(bench="ops.matmul", impl="torch", n=n)["gflops"]
    print(json.dumps({"ratio": f"matmul {n} volt/openblas", "value": round(v / o, 3), "goal": ">= 0.95"}))
    print(json.dumps({"ratio": f"matmul {n} volt/torch", "value": round(v / t, 3)}))
PY
