#!/usr/bin/env python3
"""record_optim.py: records PyTorch reference runs of volt's optimizers and LR
schedulers (DESIGN.md §8) into tests/parity/vectors/optim.safetensors, which
tests/optim/test_optim_parity.c replays.

Each case runs an optimizer (a couple of option variants of each: SGD with
momentum + nesterov + weight decay, SGD maximize, Adam, Adam amsgrad, AdamW,
RMSprop centered + momentum, Adagrad lr_decay, Lion, ...) paired with a
scheduler (every one of torch 1.13's that volt has: StepLR, MultiStepLR,
ExponentialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, LinearLR,
ConstantLR, OneCycleLR, PolynomialLR, LambdaLR, SequentialLR,
ChainedScheduler, ReduceLROnPlateau) for 20 steps over two float32
parameters, a [3, 4] matrix "w" and a [4] vector "b", in one param group or
two. Each step sets fixed gradients (recorded; "b" gets none at the steps
listed in "skip_b", which the optimizer must skip), runs optimizer.step(),
then scheduler.step() (ReduceLROnPlateau: step(metric) with a recorded
metric sequence), and records the parameters, every group's lr and every
group's momentum (SGD/RMSprop "momentum", Adam/AdamW/Lion beta1).

Lion is not in torch 1.13: it is recorded from its published update rule
(Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", the
reference implementation's order: decoupled weight decay, the sign of the
interpolated momentum, then the momentum update), written below with torch
tensor ops.

File layout (the writer of record.py):
  tensors   <case>/w0, <case>/b0      initial values            f32 [3,4], [4]
            <case>/gw, <case>/gb      gradients of each step    f32 [20,3,4], [20,4]
            <case>/w, <case>/b        values after each step    f32 [20,3,4], [20,4]
            <case>/lr                 lrs after each step       f64 [20, groups]
            <case>/lr0                lrs once the scheduler is made  f64 [groups]
            <case>/momentum           momentum/beta1 after each step  f64 [20, groups]
                                      (optimizers that have one)
            <case>/metric             ReduceLROnPlateau's metrics     f64 [20]
  metadata  "format": "volt-parity-1", "family": "optim", "torch_version",
            <case>: JSON {"optimizer": name, "options": {torch's keyword
            arguments}, "groups": [[param names, {overrides}], ...],
            "scheduler": {"type": torch's class name, its arguments; nested
            "schedulers" for SequentialLR / ChainedScheduler},
            "steps": 20, "skip_b": [steps]}
  LambdaLR's lambdas are named ("warmup_decay") and written on both sides.

Deterministic (a generator per case seeded by the CRC-32 of its name, one
thread), so re-running gives a byte-identical file.

Run with Debian's torch:  /usr/bin/python3 tests/parity/record_optim.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record import Family, Gen  # noqa: E402  (sets one thread, deterministic)

STEPS = 20


class Lion(torch.optim.Optimizer):
    """Lion's published update rule (not in torch 1.13)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if len(state) == 0:
                    state["exp_avg"] = torch.zeros_like(p)
                exp_avg = state["exp_avg"]
                p.mul_(1 - lr * wd)
                update = exp_avg.mul(beta1).add(grad, alpha=1 - beta1).sign_()
                p.add_(update, alpha=-lr)
                exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)


OPTIMIZERS = {
    "SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
    "RMSprop": torch.optim.RMSprop, "Adagrad": torch.optim.Adagrad, "Lion": Lion,
}

LAMBDAS = {
    # warm up linearly over 5 epochs, then decay by 0.9 per epoch
    "warmup_decay": lambda e: (e + 1) / 5 if e < 5 else 0.9 ** (e - 5),
}

S = torch.optim.lr_scheduler


def make_scheduler(opt, spec):
    kind = spec["type"]
    args = {k: v for k, v in spec.items() if k != "type"}
    if kind in ("SequentialLR", "ChainedScheduler"):
        children = [make_scheduler(opt, c) for c in args.pop("schedulers")]
        if kind == "ChainedScheduler":
            return S.ChainedScheduler(children)
        return S.SequentialLR(opt, children, **args)
    if kind == "LambdaLR":
        return S.LambdaLR(opt, LAMBDAS[args["lambda"]])
    return getattr(S, kind)(opt, **args)


def momentum_of(opt, group):
    if "betas" in group:
        return group["betas"][0]
    return group.get("momentum")


def run_case(fam, name, optimizer, options, scheduler, groups=None, skip_b=(), metrics=None):
    g = Gen(name)
    w0, b0 = g.randn(3, 4), g.randn(4)
    gw, gb = g.randn(STEPS, 3, 4), g.randn(STEPS, 4)
    w = w0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    tensors = {"w": w, "b": b}
    groups = groups or [[["w", "b"], {}]]
    param_groups = [dict(params=[tensors[n] for n in names], **over) for names, over in groups]
    kwargs = dict(options)
    if optimizer != "Lion":
        kwargs["foreach"] = False
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    opt = OPTIMIZERS[optimizer](param_groups, **kwargs)
    sched = make_scheduler(opt, scheduler)
    lr0 = torch.tensor([grp["lr"] for grp in opt.param_groups], dtype=torch.float64)
    has_momentum = momentum_of(opt, opt.param_groups[0]) is not None
    ws, bs, lrs, moms = [], [], [], []
    for step in range(STEPS):
        w.grad = gw[step].clone()
        b.grad = None if step in skip_b else gb[step].clone()
        opt.step()
        if metrics is not None:
            sched.step(metrics[step])
        else:
            sched.step()
        ws.append(w.detach().clone())
        bs.append(b.detach().clone())
        lrs.append([grp["lr"] for grp in opt.param_groups])
        if has_momentum:
            moms.append([float(momentum_of(opt, grp)) for grp in opt.param_groups])
    fam.cases.add(name)
    for role, t in (("w0", w0), ("b0", b0), ("gw", gw), ("gb", gb), ("w", torch.stack(ws)),
                    ("b", torch.stack(bs)), ("lr", torch.tensor(lrs, dtype=torch.float64)),
                    ("lr0", lr0)):
        fam.add(f"{name}/{role}", t)
    if has_momentum:
        fam.add(f"{name}/momentum", torch.tensor(moms, dtype=torch.float64))
    if metrics is not None:
        fam.add(f"{name}/metric", torch.tensor(metrics, dtype=torch.float64))
    spec = {"optimizer": optimizer, "options": options, "groups": groups,
            "scheduler": scheduler, "steps": STEPS, "skip_b": list(skip_b)}
    fam.meta[name] = json.dumps(spec, separators=(",", ":"))


def optim():
    fam = Family("optim")
    C = run_case

    # SGD
    C(fam, "sgd_nesterov_wd.step", "SGD",
      {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
      {"type": "StepLR", "step_size": 5, "gamma": 0.5})
    C(fam, "sgd_maximize_dampening.cosine", "SGD",
      {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "maximize": True},
      {"type": "CosineAnnealingLR", "T_max": 8, "eta_min": 0.001})
    C(fam, "sgd_groups.plateau", "SGD", {"lr": 0.1, "momentum": 0.9},
      {"type": "ReduceLROnPlateau", "mode": "min", "factor": 0.5, "patience": 2,
       "threshold": 0.01, "threshold_mode": "rel", "cooldown": 1, "min_lr": 0.01, "eps": 1e-8},
      groups=[[["w"], {}], [["b"], {"lr": 0.02, "momentum": 0.0}]],
      metrics=[1.0, 0.9, 0.85, 0.849, 0.85, 0.86, 0.84, 0.7, 0.71, 0.72,
               0.73, 0.69, 0.69, 0.695, 0.7, 0.5, 0.51, 0.52, 0.53, 0.54])
    C(fam, "sgd_momentum.onecycle_linear_3phase", "SGD", {"lr": 0.1, "momentum": 0.9},
      {"type": "OneCycleLR", "max_lr": 0.5, "total_steps": 20, "pct_start": 0.25,
       "anneal_strategy": "linear", "three_phase": True, "div_factor": 10.0,
       "final_div_factor": 100.0, "base_momentum": 0.8, "max_momentum": 0.9})
    C(fam, "sgd_plain.sequential_cosine", "SGD", {"lr": 0.1},
      {"type": "SequentialLR", "milestones": [3],
       "schedulers": [{"type": "ConstantLR", "factor": 0.3, "total_iters": 2},
                      {"type": "CosineAnnealingLR", "T_max": 10}]})

    # Adam, AdamW
    C(fam, "adam.onecycle", "Adam", {"lr": 1e-3},
      {"type": "OneCycleLR", "max_lr": 0.05, "total_steps": 20})
    C(fam, "adam_amsgrad_wd.linear", "Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
      {"type": "LinearLR", "start_factor": 0.25, "end_factor": 1.0, "total_iters": 8})
    C(fam, "adam_maximize.warm_restarts", "Adam", {"lr": 0.01, "maximize": True},
      {"type": "CosineAnnealingWarmRestarts", "T_0": 5, "T_mult": 1})
    C(fam, "adamw.multistep", "AdamW", {"lr": 0.02, "weight_decay": 0.05, "betas": [0.8, 0.99]},
      {"type": "MultiStepLR", "milestones": [3, 7, 7, 12], "gamma": 0.5})
    C(fam, "adamw_groups_skip.lambda", "AdamW", {"lr": 0.01},
      {"type": "LambdaLR", "lambda": "warmup_decay"},
      groups=[[["w"], {}], [["b"], {"lr": 0.03, "weight_decay": 0.0}]], skip_b=(3, 4, 11))

    # RMSprop
    C(fam, "rmsprop_centered_momentum.exponential", "RMSprop",
      {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
      {"type": "ExponentialLR", "gamma": 0.9})
    C(fam, "rmsprop.sequential", "RMSprop", {"lr": 0.01},
      {"type": "SequentialLR", "milestones": [5],
       "schedulers": [{"type": "LinearLR", "start_factor": 0.1, "end_factor": 1.0,
                       "total_iters": 4},
                      {"type": "ExponentialLR", "gamma": 0.85}]})
    C(fam, "rmsprop_momentum_maximize.onecycle", "RMSprop",
      {"lr": 0.01, "momentum": 0.9, "maximize": True},
      {"type": "OneCycleLR", "max_lr": 0.02, "total_steps": 25, "pct_start": 0.4})

    # Adagrad
    C(fam, "adagrad_lr_decay.warm_restarts", "Adagrad", {"lr": 0.1, "lr_decay": 0.05},
      {"type": "CosineAnnealingWarmRestarts", "T_0": 3, "T_mult": 2, "eta_min": 0.001})
    C(fam, "adagrad_init_wd.constant", "Adagrad",
      {"lr": 0.05, "initial_accumulator_value": 0.1, "weight_decay": 0.02, "eps": 1e-6},
      {"type": "ConstantLR", "factor": 0.5, "total_iters": 4})
    C(fam, "adagrad_maximize.step", "Adagrad", {"lr": 0.05, "maximize": True},
      {"type": "StepLR", "step_size": 3, "gamma": 0.7}, skip_b=(0, 1))

    # Lion
    C(fam, "lion_wd.polynomial", "Lion", {"lr": 1e-3, "betas": [0.9, 0.99], "weight_decay": 0.1},
      {"type": "PolynomialLR", "total_iters": 15, "power": 2.0})
    C(fam, "lion_maximize.chained", "Lion", {"lr": 2e-3, "maximize": True},
      {"type": "ChainedScheduler",
       "schedulers": [{"type": "ConstantLR", "factor": 0.5, "total_iters": 3},
                      {"type": "ExponentialLR", "gamma": 0.95}]})
    return fam


def main():
    size = optim().write()
    print(f"torch {torch.__version__}: {size} bytes")
    if size > 300_000:
        sys.exit("record_optim.py: the vectors exceed 300 KB; make the cases smaller")


if __name__ == "__main__":
    main()
