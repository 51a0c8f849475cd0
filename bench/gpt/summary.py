"""summary.py: bench/gpt's report — reads the JSON lines of bench/gpt/run.sh's
runs (gpt_cpu.c and torch_gpt.py), checks fairness (every process ran with
the thread count asked for and had an optimised BLAS mapped: OpenBLAS or
MKL, not netlib's reference libblas.so.3 — bench/compare/harness.py's
check), and prints the ratios as JSON lines and a Markdown section: the
machine, the medians per implementation with volt / PyTorch, each run's
tokens/s, and the profiles of the first repetition (volt: phases and ops'
self time from its op-tracing hook; PyTorch: torch.profiler's self CPU time).

  python summary.py RESULTS_FILE --build BUILD --threads 2 [--load-before "a b c"]
                    [--command "bench/gpt/run.sh build 2"]
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compare"))
try:
    from harness import blas_kind, cpu_info  # the same checks as bench/compare
except ImportError:  # harness.py moved: the same rule, briefly
    def blas_kind(paths):
        if any("openblas" in p or "mkl" in p for p in paths):
            return "optimised"
        return "reference" if any(re.search(r"/blas/lib|libblas\.so", p) for p in paths) \
            else "none"

    def cpu_info():
        return platform.processor() or "?", []

LABEL = {"volt": "volt", "torch": "PyTorch"}
# (key, label, format, True when larger is better)
FIGURES = [("tokens_per_s", "tokens/s (timed steps)", "{:,.0f}"),
           ("ms_per_step", "ms/step", "{:.1f}"),
           ("cpu_s", "CPU time of the timed steps (s, all threads)", "{:.1f}"),
           ("peak_rss_mb", "peak RSS (MiB)", "{:.1f}"),
           ("final_loss", "final train loss (mean of the last 10 steps)", "{:.3f}")]


def load(path):
    runs, profiles = [], {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if "profile_steps" in r:
                profiles[r["impl"]] = r
            else:
                runs.append(r)
    return runs, profiles


def check_fair(runs, threads):
    for r in runs:
        if r["threads"] != threads:
            sys.exit(f"summary: UNFAIR: a {r['impl']} run had {r['threads']} threads, not "
                     f"{threads}")
        kind = blas_kind(r["blas"])
        if kind != "optimised":
            sys.exit(f"summary: UNFAIR: {r['impl']} has {kind} BLAS mapped "
                     f"({', '.join(r['blas']) or 'none'}); install OpenBLAS "
                     "(scripts/install-deps.sh) and run again")


def medians(runs):
    out = {}
    for impl in LABEL:
        rows = [r for r in runs if r["impl"] == impl]
        if rows:
            out[impl] = {k: statistics.median(r[k] for r in rows) for k, _, _ in FIGURES}
    return out


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(runs, args):
    model, flags = cpu_info()
    torch_row = next((r for r in runs if r["impl"] == "torch"), {})
    blas = next((p for p in torch_row.get("blas", []) if "libopenblas" in p), "?")
    commit = sh(["git", "-C", os.path.join(HERE, "..", ".."), "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", os.path.join(HERE, "..", ".."), "status", "--porcelain",
                "--untracked-files=no"])
    policy = os.environ.get("OMP_WAIT_POLICY", "") or "(unset: libgomp's default)"
    return [f"- CPU: {model}, {os.cpu_count()} logical CPUs; flags: {' '.join(flags)}",
            f"- Load average before / after: {args.load_before} / "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            f"- Linux {platform.release()}; volt {runs[0].get('volt', '?') if runs else '?'} "
            f"at commit {commit or '?'}{' (with uncommitted changes)' if dirty else ''}, "
            f"build {args.build}; PyTorch {torch_row.get('torch', '?')} (bench/.venv)",
            f"- BLAS: {blas} in every process (checked from /proc/self/maps)",
            f"- Threads: {args.threads} everywhere (OMP/OPENBLAS/MKL/VOLT_NUM_THREADS, "
            f"torch.set_num_threads, volt_set_num_threads); OMP_WAIT_POLICY={policy}"]


def table(med, runs):
    out = ["| figure | volt | PyTorch | volt / PyTorch |", "|---|---:|---:|---:|"]
    for key, label, fmt in FIGURES:
        v, t = med.get("volt", {}).get(key), med.get("torch", {}).get(key)
        cells = [fmt.format(x) if x is not None else "—" for x in (v, t)]
        ratio = f"{v / t:.3f}" if v is not None and t else "—"
        if key == "final_loss" and v is not None and t is not None:
            ratio = f"{v - t:+.3f} (difference)"
        out.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio} |")
    out += ["", "tokens/s of each run: " + "; ".join(
        f"{LABEL[impl]} " + ", ".join(f"{r['tokens_per_s']:,.0f}" for r in runs
                                       if r["impl"] == impl) for impl in LABEL)]
    return out


def profile_lines(profiles, top=10):
    out = []
    p = profiles.get("volt")
    if p:
        step = sum(p["phases_ms"].values())
        phases = ", ".join(f"{k} {v:.1f}" for k, v in p["phases_ms"].items())
        out += [f"volt, one step ({step:.1f} ms; {p['profile_steps']} steps profiled with the "
                f"op-tracing hook): {phases} ms.", "",
                "| volt op (self time) | pass | ms/step | % of step | calls/step |",
                "|---|---|---:|---:|---:|"]
        out += [f"| {o['op']} | {o['pass']} | {o['self_ms']:.2f} | "
                f"{100 * o['self_ms'] / step:.1f} | {o['calls']:g} |" for o in p["ops"][:top]]
        traced = sum(o["self_ms"] for o in p["ops"])
        out += [f"| (untraced: engine, optimizer, data) | | {step - traced:.2f} | "
                f"{100 * (step - traced) / step:.1f} | |", ""]
    p = profiles.get("torch")
    if p:
        out += [f"PyTorch ({p['profile_steps']} steps under torch.profiler, self CPU time):", "",
                "| PyTorch op (self CPU) | ms/step | calls/step |", "|---|---:|---:|"]
        out += [f"| {o['op']} | {o['self_ms']:.2f} | {o['calls']:g} |" for o in p["ops"][:top]]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results")
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--load-before", default="?")
    ap.add_argument("--command", default="bench/gpt/run.sh")
    args = ap.parse_args()
    runs, profiles = load(args.results)
    if not runs:
        sys.exit("summary: no results")
    check_fair(runs, args.threads)
    med = medians(runs)
    if "volt" in med and "torch" in med:
        for key, _, _ in FIGURES:
            print(json.dumps({"suite": "gpt", "figure": key, "volt": med["volt"][key],
                              "torch": med["torch"][key],
                              "volt_over_torch": med["volt"][key] / med["torch"][key]}))
    r0 = runs[0]
    n = min(sum(1 for r in runs if r["impl"] == impl) for impl in LABEL)
    out = ["", "## GPT on the CPU (bench/gpt)", "", f"Command: `{args.command}`", ""]
    out += machine(runs, args)
    out += ["", f"Character-level GPT (4 layers, n_embd 128, 4 heads, block {r0['block']}, "
            f"batch {r0['batch']}, vocab {r0['vocab']}, {r0['params']:,} parameters, dropout 0, "
            "bias, tanh GELU, tied head; AdamW lr 1e-3, betas (0.9, 0.95), weight decay 0.1 on "
            "2-D weights) on the fortune files, both sides trained by a plain loop with the "
            f"same batches; {r0['steps']} timed steps after {r0['warmup']} warm-up steps; "
            f"medians of {n} alternating runs per side.", ""]
    out += table(med, runs) + [""] + profile_lines(profiles)
    print("\n".join(out))


if __name__ == "__main__":
    main()
