"""attention_torch.py: PyTorch's side of bench/gpu/attention_bench.c, on
cuda:0 — F.scaled_dot_product_attention (causal) at B=8, H=12, T=1024, D=64
in bf16 and f32 and B=8, H=6, D=128 in bf16, forward alone (no grad) and
forward + backward; and the GPT-2-small linear layers at 8 x 1024 tokens in
bf16: x @ W^T + b (torch.addmm), dY @ W, dY^T @ x (torch.mm). Timed with
CUDA events, median of 5 groups of `--reps` calls; one JSON line per case,
with the same keys as the C program's (impl "torch").

    python3 attention_torch.py [--what attn|gemm|all] [--reps 20]
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F


def time_ms(fn, reps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    groups = []
    for _ in range(5):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        groups.append(start.elapsed_time(end) / reps)
    return statistics.median(groups)


def bench_attention(b, h, t, d, dtype, reps):
    mk = lambda: torch.randn(b, h, t, d, device="cuda", dtype=dtype)
    q, k, v, g = mk().requires_grad_(), mk().requires_grad_(), mk().requires_grad_(), mk()

    def fwd():
        with torch.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def fwdbwd():
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(g)
        q.grad = k.grad = v.grad = None

    flop = 2.0 * b * h * t * t * d
    f, fb = time_ms(fwd, reps), time_ms(fwdbwd, reps)
    print(json.dumps({
        "impl": "torch", "case": "attn", "dtype": "bf16" if dtype == torch.bfloat16 else "f32",
        "shape": [b, h, t, d], "causal": True,
        "fwd_ms": round(f, 4), "fwd_tflops": round(flop / f * 1e-9, 1),
        "fwdbwd_ms": round(fb, 4), "fwdbwd_tflops": round(3.5 * flop / fb * 1e-9, 1),
        "bwd_ms": round(fb - f, 4), "bwd_tflops": round(2.5 * flop / (fb - f) * 1e-9, 1),
    }), flush=True)


def bench_gemm(name, m, n_in, n_out, bias, reps):
    bf = torch.bfloat16
    x = torch.randn(m, n_in, device="cuda", dtype=bf)
    w = torch.randn(n_out, n_in, device="cuda", dtype=bf)
    b = torch.randn(n_out, device="cuda", dtype=bf) if bias else None
    dy = torch.randn(m, n_out, device="cuda", dtype=bf)
    ops = {
        "fwd x@W^T+b": (lambda: torch.addmm(b, x, w.t())) if bias else (lambda: x @ w.t()),
        "dX dY@W": lambda: dy @ w,
        "dW dY^T@x": lambda: dy.t() @ x,
    }
    flop = 2.0 * m * n_in * n_out
    with torch.no_grad():
        for op, fn in ops.items():
            ms = time_ms(fn, reps)
            print(json.dumps({"impl": "torch", "case": "gemm", "layer": name, "op": op, "m": m,
                              "in": n_in, "out": n_out, "ms": round(ms, 4),
                              "tflops": round(flop / ms * 1e-9, 1)}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--what", default="all", choices=["attn", "gemm", "all"])
    p.add_argument("--reps", type=int, default=20)
    a = p.parse_args()
    torch.manual_seed(1234)
    if a.what in ("attn", "all"):
        bench_attention(8, 12, 1024, 64, torch.bfloat16, a.reps)
        bench_attention(8, 6, 1024, 128, torch.bfloat16, a.reps)
        bench_attention(8, 12, 1024, 64, torch.float32, max(1, a.reps // 4))
    if a.what in ("gemm", "all"):
        m = 8 * 1024
        bench_gemm("attn.qkv", m, 768, 2304, True, a.reps)
        bench_gemm("attn.proj", m, 768, 768, True, a.reps)
        bench_gemm("mlp.fc", m, 768, 3072, True, a.reps)
        bench_gemm("mlp.proj", m, 3072, 768, True, a.reps)
        bench_gemm("lm_head", m, 768, 50257, False, max(1, a.reps // 4))


if __name__ == "__main__":
    main()
