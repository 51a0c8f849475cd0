"""summary.py: the table of bench/gpu — reads the JSON lines of gpu_train.c
and torch_gpu.py (stdin or files), prints per model the median step time,
throughput, peak GPU memory and MFU of each implementation and volt's ratios
to Lightning eager and Lightning + torch.compile, as Markdown.

MFU = model FLOPs per second / the GPU's peak: for gpt, nanoGPT's estimate,
6 N + 12 L H Q T FLOPs per token (N the parameters less the position
embedding, L layers, H heads, Q head size, T 1024) over the H100 SXM's dense
bf16 peak, 989.4 TFLOP/s; for cnn, 3 x the forward's multiply-adds x 2 per
sample (25.4 MFLOP) over its f32 peak (no tensor cores: precision 32-true
without TF32), 66.9 TFLOP/s.
"""
import json
import statistics
import sys

PEAK = {"gpt": 989.4e12, "cnn": 66.9e12}
CNN_FLOPS = 3 * 2 * (28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 128 + 128 * 10)


def flops_per_sample(r):
    if r["model"] == "cnn":
        return CNN_FLOPS
    layers = r.get("layers", 12)
    n = r["params"] - 1024 * 768  # less the position embedding
    return (6 * n + 12 * layers * 12 * 64 * 1024) * 1024


def main():
    rows = []
    for f in (open(p) for p in sys.argv[1:]) if len(sys.argv) > 1 else [sys.stdin]:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    out = ["| model | implementation | ms/step | samples/s | tokens/s | peak GPU MiB | MFU |",
           "|---|---|---|---|---|---|---|"]
    ratios = []
    keys = sorted({(r["model"], r.get("vocab", 0)) for r in rows})
    for model, vocab in keys:
        med = {}
        for impl in ("volt", "lightning", "lightning-compile"):
            rs = [r for r in rows
                  if r["model"] == model and r["impl"] == impl and r.get("vocab", 0) == vocab]
            if not rs:
                continue
            ms = statistics.median(r["ms_per_step"] for r in rs)
            r = rs[0]
            mfu = flops_per_sample(r) * r["batch"] / (ms / 1e3) / PEAK[model]
            med[impl] = ms
            name = f"{model} (vocab {vocab})" if model == "gpt" else model
            out.append(f"| {name} | {impl} | {ms:.2f} | {r['batch'] * 1e3 / ms:,.0f} | "
                       f"{(r['batch'] * 1024e3 / ms if model == 'gpt' else 0):,.0f} | "
                       f"{max(x['peak_gpu_mb'] for x in rs):,.0f} | {100 * mfu:.1f}% |")
        for base in ("lightning", "lightning-compile"):
            if "volt" in med and base in med:
                ratios.append(f"- {model}{f' vocab {vocab}' if model == 'gpt' else ''}: "
                              f"volt / {base} step time = "
                              f"{med['volt'] / med[base]:.3f}")
    print("\n".join(out + [""] + ratios))


if __name__ == "__main__":
    main()
