"""ops_torch.py: the ops benchmark, PyTorch's side (see bench/ops/ops.c).

Same figures, same shapes, same thread count: a chain of 1,000 elementwise
ops on 64-element f32 tensors with autograd (ns per op, median), and f32
matmul GFLOP/s at 512^3 and 2048^3 (best of runs). Prints JSON lines, plus
the BLAS library torch has mapped, so that an unfair comparison (torch on the
reference BLAS) is visible.

Usage: python3 ops_torch.py THREADS
"""
import json
import statistics
import sys
import time

import torch

CHAIN_OPS = 1000
CHAIN_RUNS = 51


def chain_ns_per_op():
    x = torch.rand(64, requires_grad=True)
    c = torch.full((64,), 1.0001)
    times = []
    for _ in range(CHAIN_RUNS):
        t0 = time.perf_counter()
        h = x
        for i in range(CHAIN_OPS - 1):
            h = h * c if i & 1 else h + c
        h.sum().backward()
        x.grad = None
        times.append((time.perf_counter() - t0) * 1e9 / CHAIN_OPS)
    return statistics.median(times)


def best_gflops(n, runs):
    a, b = torch.rand(n, n), torch.rand(n, n)
    best = float("inf")
    with torch.no_grad():
        for _ in range(runs):
            t0 = time.perf_counter()
            torch.matmul(a, b)
            best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def mapped_blas():
    with open("/proc/self/maps") as maps:
        names = {line.split()[-1] for line in maps if "blas" in line or "mkl" in line}
    return sorted(n for n in names if n.startswith("/"))


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    out = {"bench": "ops.chain", "impl": "torch", "threads": threads,
           "ns_per_op": round(chain_ns_per_op(), 1), "torch": torch.__version__}
    print(json.dumps(out))
    for n in (512, 2048):
        g = max(best_gflops(n, 30 if n == 512 else 5) for _ in range(2))
        print(json.dumps({"bench": "ops.matmul", "impl": "torch", "n": n, "threads": threads,
                          "gflops": round(g, 1), "blas": mapped_blas()}))


if __name__ == "__main__":
    main()
