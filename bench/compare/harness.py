"""harness.py: volt vs PyTorch vs PyTorch Lightning, side by side (issue 9).

Runs the two Fashion-MNIST models (MLP, CNN; see compare.c and
torch_compare.py) as five implementations --

  volt off        volt_trainer, checkpointing/logger/progress bar/summary off
  volt defaults   volt_trainer_defaults()
  PyTorch         a plain training loop
  Lightning off   pl.Trainer(enable_checkpointing=False, logger=False,
                  enable_progress_bar=False, enable_model_summary=False)
  Lightning defaults  pl.Trainer()

-- and, in the first --bf16-reps repetitions (default 1), volt (off) and
Lightning (off) again with precision="bf16-mixed" (bf16 autocast around the
steps, fp32 weights) and with precision="bf16-true" (module, activations and
optimizer state in bf16) --

each in its own process in a fresh scratch directory, the implementations
alternating within every repetition (their order rotated from one
repetition to the next), with the same thread count (torch.set_num_threads,
volt num_threads, OMP/OpenBLAS/MKL_NUM_THREADS), data, batch size, optimizer
and epochs. Repetition r uses seed 42 + r for every implementation.

Per run it measures (definitions used in the tables):
  epoch      mean of the training epochs after the first (the first one, which
             includes one-time set-up such as oneDNN primitive creation, is
             reported on its own); an epoch is on_train_epoch_start to
             on_train_epoch_end (the plain loop: its epoch loop), so it holds
             the training steps, the data loading and the per-step hooks,
             logging and progress bar, but not end-of-epoch checkpointing
  epoch CPU  the process's CPU time (all threads) over the same epochs: on a
             machine shared with other work it moves much less than wall time
  epoch 1    the first training epoch
  fit        the whole fit call (checkpoint saves included; volt's also holds
             its datamodule's setup, which reads the data files, while the
             PyTorch programs read them before fit)
  first step wall-clock time from just before the harness starts the process
             to the start of its first training step (interpreter start,
             imports, data loading and trainer set-up included)
  peak RSS   ru_maxrss of the process (os.wait4)
  test acc   accuracy on the 10,000 test images after the last epoch
and reports the median over the repetitions of each figure, the ratios
volt/PyTorch and volt/Lightning, and the goals of issue 9.

Fairness checks (a failure stops the comparison): every process reports the
thread count asked for, and every process must have an optimised BLAS
(OpenBLAS or MKL) mapped, not the netlib reference libblas.so.3, and OpenBLAS
must run kernels for the CPU's vector width: an OpenBLAS older than the CPU
falls back to generic SSE3 kernels (bench/common/openblas_core.py), so the
harness exports OPENBLAS_CORETYPE for every process when it would.

Usage (in bench/.venv, see bench/compare/run.sh):
  python harness.py --build BUILD_DIR [--reps 3] [--threads 2] [--quick]
                    [--models mlp,cnn] [--bf16-reps 1] [--write bench/RESULTS.md]
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import openblas_core  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BEGIN = "<!-- bench/compare: begin (written by bench/compare/harness.py) -->"
END = "<!-- bench/compare: end -->"

IMPLS = [("volt", "off"), ("volt", "defaults"), ("torch", "plain"), ("lightning", "off"),
         ("lightning", "defaults")]
# mode "bf16": precision="bf16-mixed", "bf16t": precision="bf16-true"; otherwise as "off"
BF16_IMPLS = [("volt", "bf16"), ("lightning", "bf16"), ("volt", "bf16t"), ("lightning", "bf16t")]
PRECISION = {"bf16": "bf16-mixed", "bf16t": "bf16-true"}
LABEL = {("volt", "off"): "volt (off)", ("volt", "defaults"): "volt (defaults)",
         ("torch", "plain"): "PyTorch", ("lightning", "off"): "Lightning (off)",
         ("lightning", "defaults"): "Lightning (defaults)",
         ("volt", "bf16"): "volt bf16-mixed", ("lightning", "bf16"): "Lightning bf16-mixed",
         ("volt", "bf16t"): "volt bf16-true", ("lightning", "bf16t"): "Lightning bf16-true"}
MODEL_TEXT = {
    "mlp": "MLP 784-512-256-10, ReLU, batch 128, SGD momentum 0.9, lr 0.05, 3 epochs",
    "cnn": "CNN conv 1→32 3×3 pad 1, ReLU, max-pool 2; conv 32→64 3×3 pad 1, ReLU, "
           "max-pool 2; linear 3136→128, ReLU; linear 128→10; batch 128, SGD momentum 0.9, "
           "lr 0.02, 2 epochs"}
EPOCH_GOAL = {"mlp": 0.3, "cnn": 0.4}
# (key, label, unit format)
FIGURES = [("epoch_s", "train epoch (s, mean of epochs 2..N)", "{:.3f}"),
           ("epoch_cpu_s", "train epoch CPU time (s, all threads, epochs 2..N)", "{:.3f}"),
           ("epoch1_s", "first epoch (s)", "{:.3f}"),
           ("fit_s", "fit (s)", "{:.2f}"),
           ("first_step_s", "process start → first step (s)", "{:.3f}"),
           ("peak_rss_mb", "peak RSS (MiB)", "{:.1f}"),
           ("test_acc", "test accuracy (%)", "{:.2f}")]


# ---------------------------------------------------------------- running

def command(args, impl, mode, model, seed):
    prec = PRECISION.get(mode)
    if impl == "volt":
        cmd = [os.path.join(args.build, "bench", "bench_compare_compare"), f"model={model}",
               f"mode={'off' if prec else mode}", f"threads={args.threads}", f"seed={seed}",
               f"data={args.data}"] + ([f"precision={prec}"] if prec else [])
        return cmd + ([f"limit={args.limit}"] if args.limit else [])
    cmd = [sys.executable, os.path.join(HERE, "torch_compare.py"), "--impl", impl, "--model",
           model, "--threads", str(args.threads), "--seed", str(seed), "--data", args.data]
    if impl == "lightning":
        cmd += ["--mode", "off" if prec else mode] + (["--precision", prec] if prec else [])
    return cmd + (["--limit", str(args.limit)] if args.limit else [])


def child_env(threads):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VOLT_NUM_THREADS"):
        env[k] = str(threads)
    return env


def tail(path, n=3000):
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - n))
        return f.read().decode("utf-8", "replace")


def run_once(args, impl, mode, model, seed):
    """One process; returns its JSON result plus the harness's figures."""
    cmd = command(args, impl, mode, model, seed)
    scratch = tempfile.mkdtemp(prefix=f"volt_compare_{impl}_{model}_")
    out_path, err_path = os.path.join(scratch, "stdout"), os.path.join(scratch, "stderr")
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t_launch = time.time()
            p = subprocess.Popen(cmd, cwd=scratch, env=child_env(args.threads), stdout=out,
                                 stderr=err)
            killer = threading.Timer(args.timeout, p.kill)
            killer.start()
            _, status, usage = os.wait4(p.pid, 0)
            killer.cancel()
            wall = time.time() - t_launch
            p.returncode = os.waitstatus_to_exitcode(status)
        lines = [l for l in open(out_path, encoding="utf-8", errors="replace")
                 if l.startswith("{")]
        if p.returncode != 0 or not lines:
            sys.exit(f"harness: {' '.join(cmd)} failed (exit {p.returncode}); its stderr "
                     f"ends with:\n{tail(err_path)}")
        r = json.loads(lines[-1])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    epochs = r["epoch_s"]
    r.update(impl=impl, mode=mode, seed=seed, wall_s=wall,  # mode "bf16": set by the harness
             first_step_s=r["first_step_unix"] - t_launch,
             peak_rss_mb=usage.ru_maxrss / 1024.0,
             epoch1_s=epochs[0],
             epoch_s_list=epochs,
             epoch_s=steady(epochs),
             epoch_cpu_s_list=r["epoch_cpu_s"],
             epoch_cpu_s=steady(r["epoch_cpu_s"]),
             test_acc=100.0 * r["test_acc"])
    check_fair(args, r, cmd)
    return r


def steady(epochs):
    """The mean of the epochs after the first (the only one if just one)."""
    return statistics.mean(epochs[1:]) if len(epochs) > 1 else epochs[0]


def blas_kind(paths):
    """'optimised', 'reference' (netlib's libblas.so.3) or 'none'."""
    if any("openblas" in p or "mkl" in p for p in paths):
        return "optimised"
    if any(re.search(r"/blas/lib|libblas\.so", p) for p in paths):
        return "reference"
    return "none"


def check_fair(args, r, cmd):
    if r["threads"] != args.threads:
        sys.exit(f"harness: UNFAIR: {' '.join(cmd)} ran with {r['threads']} threads, "
                 f"not {args.threads}")
    kind = blas_kind(r["blas"])
    if kind != "optimised":
        sys.exit(f"harness: UNFAIR: {r['impl']} has {kind} BLAS mapped "
                 f"({', '.join(r['blas']) or 'no BLAS library'}): Debian's torch falls back to "
                 "the netlib reference BLAS, ~20x slower on Linear layers. Install OpenBLAS "
                 "(scripts/install-deps.sh: libopenblas0-openmp, selected with "
                 "update-alternatives) and run again.")
    why = openblas_core.unfair(r.get("blas_core"), openblas_core.cpu_flags())
    if why:
        sys.exit(f"harness: UNFAIR: {r['impl']}: {why}.")


def run_all(args, models):
    rows = []
    for rep in range(args.reps):
        for model in models:
            impls = IMPLS + (BF16_IMPLS if rep < args.bf16_reps else [])
            k = rep % len(impls)
            for impl, mode in impls[k:] + impls[:k]:
                r = run_once(args, impl, mode, model, 42 + rep)
                r["rep"] = rep
                rows.append(r)
                print(json.dumps({"bench": "compare", "model": model, "impl": impl,
                                  "mode": mode, "rep": rep,
                                  "epoch_s": [round(e, 4) for e in r["epoch_s_list"]],
                                  "epoch_cpu_s": [round(e, 4) for e in r["epoch_cpu_s_list"]],
                                  "fit_s": round(r["fit_s"], 3),
                                  "first_step_s": round(r["first_step_s"], 3),
                                  "peak_rss_mb": round(r["peak_rss_mb"], 1),
                                  "test_acc": round(r["test_acc"], 2)}), flush=True)
    return rows


# --------------------------------------------------------------- summary

def medians(rows, model):
    out = {}
    for key in IMPLS + BF16_IMPLS:
        sel = [r for r in rows if r["model"] == model and (r["impl"], r["mode"]) == key]
        if sel:
            out[key] = {f: statistics.median(r[f] for r in sel) for f, _, _ in FIGURES}
    return out


def ratio_cell(fig, v, ref):
    if fig == "test_acc":
        return f"{v - ref:+.2f} pt"
    return f"{v / ref:.3f}" if ref > 0 else "—"


def goal_of(fig, model):
    """(text, test(volt, lightning, torch)) or None."""
    if fig == "epoch_s":
        g = EPOCH_GOAL[model]
        return f"≤ {g} × Lightning", lambda v, l, t: v / l <= g
    if fig == "first_step_s":
        return "≤ 0.02 × Lightning", lambda v, l, t: v / l <= 0.02
    if fig == "peak_rss_mb":
        return "≤ 0.2 × Lightning", lambda v, l, t: v / l <= 0.2
    if fig == "test_acc":
        return "within 0.5 pt of PyTorch", lambda v, l, t: abs(v - t) <= 0.5
    return None


def model_table(med, model, quick):
    vo, vd = med[("volt", "off")], med[("volt", "defaults")]
    t, lo, ld = med[("torch", "plain")], med[("lightning", "off")], med[("lightning", "defaults")]
    head = ("| figure | " + " | ".join(LABEL[k] for k in IMPLS) +
            " | volt/PyTorch | volt/Lightning (off) | volt/Lightning (defaults) | goal | met |")
    lines = [head, "|" + "---|" * (len(IMPLS) + 6)]
    for fig, label, fmt in FIGURES:
        cells = [fmt.format(med[k][fig]) for k in IMPLS]
        ratios = [ratio_cell(fig, vo[fig], t[fig]), ratio_cell(fig, vo[fig], lo[fig]),
                  ratio_cell(fig, vd[fig], ld[fig])]
        g = goal_of(fig, model)
        if g is None:
            goal, met = "", ""
        elif quick and fig in ("epoch_s", "test_acc"):
            goal, met = g[0], "n/a (quick)"
        else:
            ok_off = g[1](vo[fig], lo[fig], t[fig])
            ok_def = g[1](vd[fig], ld[fig], t[fig])
            goal = g[0]
            met = f"off: {'yes' if ok_off else 'no'}, defaults: {'yes' if ok_def else 'no'}"
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) +
                     f" | {goal} | {met} |")
    return lines


def bf16_table(med, model, quick, mode="bf16"):
    """volt and Lightning with precision="bf16-mixed" (mode "bf16") or
    "bf16-true" (mode "bf16t") against each other and against their own fp32
    (off) runs."""
    vb, lb = med[("volt", mode)], med[("lightning", mode)]
    vo, lo = med[("volt", "off")], med[("lightning", "off")]
    p = PRECISION[mode]
    lines = [f"| figure | volt {p} | Lightning {p} | volt fp32 (off) | "
             "Lightning fp32 (off) | volt/Lightning (bf16) | volt bf16/fp32 | "
             "Lightning bf16/fp32 | goal | met |", "|" + "---|" * 10]
    for fig, label, fmt in FIGURES:
        cells = [fmt.format(x[fig]) for x in (vb, lb, vo, lo)]
        ratios = [ratio_cell(fig, vb[fig], lb[fig]), ratio_cell(fig, vb[fig], vo[fig]),
                  ratio_cell(fig, lb[fig], lo[fig])]
        goal, met = "", ""
        if fig == "epoch_s":
            goal = f"≤ {EPOCH_GOAL[model]} × Lightning"
            met = "n/a (quick)" if quick else ("yes" if vb[fig] / lb[fig] <= EPOCH_GOAL[model]
                                               else "no")
        elif fig == "test_acc":
            goal = "within 0.5 pt of volt fp32"
            met = "n/a (quick)" if quick else ("yes" if abs(vb[fig] - vo[fig]) <= 0.5 else "no")
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) +
                     f" | {goal} | {met} |")
    return lines


def ratio_json(med, model):
    vo, vd = med[("volt", "off")], med[("volt", "defaults")]
    t, lo, ld = med[("torch", "plain")], med[("lightning", "off")], med[("lightning", "defaults")]
    for fig, _, _ in FIGURES:
        g = goal_of(fig, model)
        for name, v, ref in (("volt off/torch", vo, t), ("volt off/lightning off", vo, lo),
                             ("volt defaults/lightning defaults", vd, ld)):
            if fig == "test_acc":
                val = round(v[fig] - ref[fig], 2)
                label = f"{model} {fig} {name} (points)"
            else:
                val = round(v[fig] / ref[fig], 4) if ref[fig] > 0 else None
                label = f"{model} {fig} {name}"
            out = {"ratio": label, "value": val}
            if g and "lightning" in name:
                out["goal"] = g[0]
            print(json.dumps(out, ensure_ascii=False))


def epoch_lines(rows, model):
    out = []
    for key in IMPLS + BF16_IMPLS:
        runs = [r["epoch_s_list"] for r in rows
                if r["model"] == model and (r["impl"], r["mode"]) == key]
        text = "; ".join("[" + ", ".join(f"{e:.2f}" for e in ep) + "]" for ep in runs)
        if runs:
            out.append(f"- {LABEL[key]}: {text}")
    return out


# ---------------------------------------------------------- the machine

def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                              shell=isinstance(cmd, str)).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_info():
    model, flags = "?", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    want = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
            "avx512dq", "avx512cd", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
            "amx_bf16", "amx_int8"]
    return model, [f for f in want if f in flags]


def build_source(build):
    """(source directory, build type) from the build directory's CMakeCache.txt."""
    found = {}
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                found[key.split(":")[0]] = value
    except OSError:
        pass
    return found.get("CMAKE_HOME_DIRECTORY", ""), found.get("CMAKE_BUILD_TYPE", "")


def machine(rows, args, load_before):
    model, flags = cpu_info()
    mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
    torch_row = next((r for r in rows if r["impl"] != "volt"), {})
    light_row = next((r for r in rows if r["impl"] == "lightning"), {})
    volt_row = next((r for r in rows if r["impl"] == "volt"), {})
    blas = next((p for p in torch_row.get("blas", []) if "libopenblas" in p), "")
    blas_ver = re.search(r"r(\d+\.\d+\.\d+)", blas)
    origin = ("Debian's python3-torch (through bench/.venv's --system-site-packages)"
              if torch_row.get("torch_path", "").startswith("/usr/lib/python3/")
              else f"from {torch_row.get('torch_path', '?')}")
    src, build_type = build_source(args.build)
    commit = sh(["git", "-C", src, "rev-parse", "--short", "HEAD"]) if src else ""
    dirty = " (with uncommitted changes)" if commit and sh(
        ["git", "-C", src, "status", "--porcelain", "--untracked-files=no"]) else ""
    dnnl = sh("dpkg-query -W -f='${Version}' 'libdnnl[0-9]*' 2>/dev/null | head -c 40")
    debian = sh("cat /etc/debian_version")
    return [
        f"- CPU: {model}, {os.cpu_count()} logical CPUs, {mem} RAM; flags: {' '.join(flags)}",
        f"- Load average before / after: {load_before} / "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        " (the machine was shared with other work: absolute times are noisy, ratios less so)",
        f"- OS: Debian {debian}, Linux {platform.release()}; gcc {sh(['cc', '-dumpfullversion'])}",
        f"- volt {volt_row.get('volt', '?')}, {build_type or '?'} build of "
        f"{'commit ' + commit + dirty if commit else src or '?'}; "
        f"oneDNN {dnnl or '?'}",
        f"- BLAS: OpenBLAS {blas_ver.group(1) if blas_ver else '?'} "
        f"({'OpenMP build' if 'openmp' in blas else blas}) in every process "
        f"(checked from /proc/self/maps), kernels {torch_row.get('blas_core') or '?'} "
        f"({args.blas_core_note})",
        f"- PyTorch {torch_row.get('torch', '?')}, {origin}; PyTorch Lightning "
        f"{light_row.get('lightning', '?')} (PyPI, --no-deps); numpy "
        f"{torch_row.get('numpy', '?')}; Python {torch_row.get('python', '?')}",
        f"- Threads: {args.threads} everywhere; OMP_WAIT_POLICY="
        f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}",
    ]


def section(rows, args, models, load_before, cmdline):
    quick = bool(args.limit)
    out = [BEGIN, "",
           f"## volt vs PyTorch vs PyTorch Lightning on Fashion-MNIST (bench/compare, "
           f"{time.strftime('%Y-%m-%d')})", "",
           f"Command: `{cmdline}`"
           + (f" — QUICK MODE: {args.limit} training batches per epoch, "
              f"{args.reps} repetition(s); not a measurement." if quick else "") + "",
           ""]
    out += machine(rows, args, load_before)
    out += ["",
            f"Medians over {args.reps} runs per implementation (alternating; run r uses seed "
            "42 + r). \"off\": checkpointing, logger, progress bar and model summary off; "
            "\"defaults\": the trainer's defaults (volt: CSV + TensorBoard logs, "
            "checkpoint, progress bar, summary; Lightning: CSV logs — TensorBoard is not "
            "installed —, checkpoint, progress bar, summary). volt/PyTorch compares volt (off) "
            "with the plain loop; accuracy rows give differences in points. Goals are issue "
            "9's (volt ÷ Lightning; accuracy vs PyTorch). Data: all 60,000 training images, "
            "no validation, pixels / 255, batches gathered whole on the training thread "
            "(volt: the Fashion-MNIST datamodule with 0 workers; PyTorch and Lightning: a "
            "DataLoader with batch_size=None over a BatchSampler, 0 workers). Definitions in "
            "bench/compare/harness.py and bench/README.md.", ""]
    for model in models:
        med = medians(rows, model)
        out += [f"### {MODEL_TEXT[model]}", ""] + model_table(med, model, quick) + [""]
        if ("volt", "bf16") in med and ("lightning", "bf16") in med:
            n = sum(1 for r in rows if r["model"] == model and r["mode"] == "bf16") // 2
            out += [f"precision=\"bf16-mixed\" (volt: bf16 autocast of matmul/linear/conv on "
                    f"oneDNN's bf16 kernels, fp32 master weights; Lightning: torch.autocast "
                    f"bf16 on the CPU), off mode, median of {n} run(s):", ""]
            out += bf16_table(med, model, quick) + [""]
        if ("volt", "bf16t") in med and ("lightning", "bf16t") in med:
            n = sum(1 for r in rows if r["model"] == model and r["mode"] == "bf16t") // 2
            out += [f"precision=\"bf16-true\" (parameters, activations, gradients and "
                    f"optimizer state in bf16; volt: each op computes in f32 and rounds to "
                    f"bf16, products on oneDNN's bf16 kernels, the optimizer's updates "
                    f"compensated (a bf16 remainder per weight, the trainer's default); "
                    f"Lightning: the module and batch cast to bf16, plain rounding), off "
                    f"mode, median of {n} run(s):", ""]
            out += bf16_table(med, model, quick, "bf16t") + [""]
        out += ["Training epochs of each run (s):", ""] + epoch_lines(rows, model) + [""]
    out.append(END)
    return "\n".join(out) + "\n"


def write_results(path, text):
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmark results\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, path)


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true",
                    help="1 repetition, 30 training batches per epoch (smoke test)")
    ap.add_argument("--limit", type=int, default=0, help="training batches per epoch; 0: all")
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--bf16-reps", type=int, default=1,
                    help="repetitions that also run volt and Lightning with "
                         "precision=bf16-mixed and bf16-true (0: none)")
    ap.add_argument("--data", default=os.environ.get("VOLT_FASHION_MNIST_DIR",
                                                     "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--write", metavar="RESULTS_MD", help="replace this file's compare section")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per process")
    ap.add_argument("--command", help="the command to record (default: this one)")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.limit = 1, args.limit or 30
    args.build = os.path.abspath(args.build)
    models = [m for m in args.models.split(",") if m]
    if not models or any(m not in MODEL_TEXT for m in models) or args.reps < 1:
        sys.exit("harness: --models takes mlp and/or cnn; --reps must be >= 1")
    exe = os.path.join(args.build, "bench", "bench_compare_compare")
    if not os.access(exe, os.X_OK):
        sys.exit(f"harness: {exe} is missing: build volt first (make build)")
    if not os.path.isdir(args.data):
        sys.exit(f"harness: no Fashion-MNIST directory {args.data} (dataset-fashion-mnist, "
                 "scripts/install-deps.sh; or set VOLT_FASHION_MNIST_DIR)")
    core, args.blas_core_note = openblas_core.override()
    if core:
        os.environ["OPENBLAS_CORETYPE"] = core
    print(f"harness: {args.blas_core_note}", flush=True)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cmdline = args.command or " ".join(["python", os.path.relpath(__file__, ROOT)] + sys.argv[1:])
    rows = run_all(args, models)
    for model in models:
        ratio_json(medians(rows, model), model)
    text = section(rows, args, models, load_before, cmdline)
    print("\n" + text)
    if args.write:
        write_results(args.write, text)
        print(f"harness: wrote {args.write}")


if __name__ == "__main__":
    main()
