#!/usr/bin/env python3
"""record.py: records PyTorch reference vectors for volt's ops (DESIGN.md §8).

For every op of include/volt/ops.h that PyTorch has (creation and random ops
aside), and for the option combinations that matter, it records in float32:
the inputs, the outputs, a fixed random upstream gradient for each
differentiable output, and the gradient of every differentiable input. One
safetensors file per family goes to tests/parity/vectors/; tests/ops/
test_parity.c replays each case through volt and compares.

File layout (safetensors, written here with struct + json, no extra package):
  tensors   <case>/<role>        an input ("a", "b", "target", "weight", ...)
            <case>/out<j>        output j
            <case>/gout<j>       upstream gradient of output j (differentiable ones)
            <case>/grad_<role>   gradient of input <role>
  metadata  "format": "volt-parity-1", "family", "torch_version", "generator"
            <case>: JSON {"op": volt op name, "inputs": [roles in call order],
                          "args": {...}, "n_out": k, "gout": [j...],
                          "grad": [roles...], "strided": [roles...]}
  "strided" roles are handed to volt as non-contiguous views of the same
  values (the test lays them out transposed); torch sees them contiguous.
  Floats that JSON cannot hold are strings: "inf", "-inf".

Deterministic: each case draws from a generator seeded by the CRC-32 of its
name, PyTorch runs on one thread, and the files are written in a fixed order,
so re-running gives byte-identical files.

Run with Debian's torch:  /usr/bin/python3 tests/parity/record.py
"""
import json
import math
import os
import struct
import sys
import warnings
import zlib

import torch
import torch.nn.functional as F

FORMAT = "volt-parity-1"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "vectors")

DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.bfloat16: "BF16",
    torch.float16: "F16", torch.int64: "I64", torch.int32: "I32",
    torch.uint8: "U8", torch.bool: "BOOL",
}

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
warnings.filterwarnings("ignore")


def encode(v):
    """JSON-safe argument values (inf as a string)."""
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    if isinstance(v, dict):
        return {k: encode(x) for k, x in v.items()}
    return v


class Gen:
    """Random values for one case, seeded by the case name."""

    def __init__(self, name):
        self.g = torch.Generator().manual_seed(zlib.crc32(name.encode()))

    @staticmethod
    def _shape(shape):  # f(2, 3), f((2, 3)) and f(()) alike
        return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple) else shape

    def randn(self, *shape, scale=1.0, shift=0.0):
        return torch.randn(self._shape(shape), generator=self.g) * scale + shift

    def uniform(self, *shape, lo=0.0, hi=1.0):
        return torch.rand(self._shape(shape), generator=self.g) * (hi - lo) + lo

    def away(self, *shape, lo=0.2, hi=1.5):
        """Random sign times uniform(lo, hi): away from zero."""
        shape = self._shape(shape)
        sign = torch.randint(0, 2, shape, generator=self.g).float() * 2 - 1
        return sign * self.uniform(*shape, lo=lo, hi=hi)

    def distinct(self, *shape, step=0.137):
        """Distinct values in random order, none zero and no two of the same
        magnitude (no ties for max, min, argmax or the inf-norm)."""
        shape = self._shape(shape)
        n = math.prod(shape)
        perm = torch.randperm(n, generator=self.g).float()
        return ((perm - n / 2 + 0.3) * step).reshape(shape)

    def randint(self, lo, hi, *shape):
        return torch.randint(lo, hi, self._shape(shape), generator=self.g)

    def randbool(self, *shape, p=0.5):
        return torch.rand(self._shape(shape), generator=self.g) < p


class Family:
    def __init__(self, name):
        self.name = name
        self.tensors = []  # (name, tensor) in write order
        self.meta = {}
        self.cases = set()

    def case(self, name, op, inputs, fn, args=None, grad=None, strided=(), g=None):
        """Records one case. inputs: ordered {role: tensor}; fn(*inputs, in order) gives
        a tensor or a tuple of tensors; grad: roles to differentiate (default:
        every floating input); g: the case's Gen (for the upstream gradient)."""
        assert name not in self.cases, name
        assert "/" not in name
        self.cases.add(name)
        g = g or Gen(name)
        if grad is None:
            grad = [r for r, t in inputs.items() if t.is_floating_point()]
        leaves = {}
        for role, t in inputs.items():
            x = t.detach().clone()
            if role in grad:
                x.requires_grad_(True)
            leaves[role] = x
        outs = fn(*leaves.values())
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        gouts = {}
        for j, o in enumerate(outs):
            if o.requires_grad:
                gouts[j] = torch.randn(o.shape, generator=g.g, dtype=o.dtype)
        if gouts:
            torch.autograd.backward([outs[j] for j in gouts], [gouts[j] for j in gouts])
        else:  # nothing differentiable came out (comparisons, argmax, ...)
            grad = []
        for role in inputs:
            self.add(f"{name}/{role}", inputs[role])
        for j, o in enumerate(outs):
            self.add(f"{name}/out{j}", o.detach())
        for j, t in gouts.items():
            self.add(f"{name}/gout{j}", t)
        for role in grad:
            gr = leaves[role].grad
            self.add(f"{name}/grad_{role}",
                     gr if gr is not None else torch.zeros_like(leaves[role]))
        spec = {"op": op, "inputs": list(inputs), "args": encode(args or {}),
                "n_out": len(outs), "gout": sorted(gouts), "grad": list(grad),
                "strided": list(strided)}
        for r in strided:
            assert inputs[r].dim() >= 1, (name, r)
        self.meta[name] = json.dumps(spec, separators=(",", ":"))

    def add(self, name, t):
        self.tensors.append((name, t.detach().contiguous().cpu()))

    def write(self):
        header = {"__metadata__": {
            "format": FORMAT, "family": self.name, "torch_version": torch.__version__,
            "generator": "tests/parity/record.py"}}
        header["__metadata__"].update(self.meta)
        blobs, offset = [], 0
        for name, t in self.tensors:
            data = t.numpy().tobytes()
            header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                            "data_offsets": [offset, offset + len(data)]}
            blobs.append(data)
            offset += len(data)
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        path = os.path.join(OUT_DIR, self.name + ".safetensors")
        tmp = path + ".tmp"
        with open(tmp, "wb") as fp:
            fp.write(struct.pack("<Q", len(text)))
            fp.write(text)
            for b in blobs:
                fp.write(b)
        os.replace(tmp, path)
        size = os.path.getsize(path)
        print(f"{path}: {len(self.cases)} cases, {len(self.tensors)} tensors, {size} bytes")
        return size


# --------------------------------------------------------------- elementwise

def elementwise():
    fam = Family("elementwise")
    C = fam.case
    binary = {
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
        "maximum": torch.maximum, "minimum": torch.minimum,
    }
    shapes = {
        "same": ((3, 4), (3, 4)),
        "row": ((3, 4), (4,)),
        "bcast3": ((2, 1, 4), (3, 1)),
        "scalar_b": ((2, 3), ()),
        "scalar_a": ((), (5,)),
    }
    for op, fn in binary.items():
        for sname, (sa, sb) in shapes.items():
            name = f"{op}.{sname}"
            g = Gen(name)
            a = g.away(*sa) if op != "div" else g.randn(*sa)
            b = g.away(*sb, lo=0.5, hi=2.0) if op == "div" else g.randn(*sb)
            C(name, op, {"a": a, "b": b}, lambda a, b, fn=fn: fn(a, b), g=g)
        name = f"{op}.strided"
        g = Gen(name)
        a, b = g.randn(4, 3), g.away(4, 3, lo=0.5, hi=2.0)
        C(name, op, {"a": a, "b": b}, lambda a, b, fn=fn: fn(a, b), strided=["a", "b"], g=g)
    for sname, (sa, sb) in [("same", ((3, 4), (3, 4))), ("bcast", ((2, 3), (3,))),
                            ("scalar_exp", ((4,), ()))]:
        name = f"pow.{sname}"
        g = Gen(name)
        a, b = g.uniform(*sa, lo=0.5, hi=2.0), g.uniform(*sb, lo=-1.5, hi=1.5)
        C(name, "pow", {"a": a, "b": b}, lambda a, b: torch.pow(a, b), g=g)
    for alpha in (2.5, -0.5):
        name = f"add_scaled.alpha{alpha}"
        g = Gen(name)
        C(name, "add_scaled", {"a": g.randn(3, 4), "b": g.randn(4)},
          lambda a, b, alpha=alpha: torch.add(a, b, alpha=alpha), args={"alpha": alpha}, g=g)

    scalar_ops = [("add_scalar", "b", 2.5, lambda a, v: a + v),
                  ("add_scalar", "b", -0.75, lambda a, v: a + v),
                  ("mul_scalar", "b", -1.5, lambda a, v: a * v),
                  ("div_scalar", "b", 4.0, lambda a, v: a / v),
                  ("div_scalar", "b", -0.3, lambda a, v: a / v)]
    for op, key, v, fn in scalar_ops:
        name = f"{op}.{v}"
        g = Gen(name)
        C(name, op, {"a": g.randn(3, 5)}, lambda a, v=v, fn=fn: fn(a, v), args={key: v}, g=g)
    for e in (2.0, 3.0, 0.5, -1.5, 1.0):
        name = f"pow_scalar.{e}"
        g = Gen(name)
        a = g.uniform(2, 5, lo=0.5, hi=2.0) if e != int(e) else g.away(2, 5, lo=0.3, hi=2.0)
        C(name, "pow_scalar", {"a": a}, lambda a, e=e: torch.pow(a, e), args={"exponent": e}, g=g)
    name = "pow_scalar.0d"
    g = Gen(name)
    C(name, "pow_scalar", {"a": g.uniform(lo=0.5, hi=2.0)}, lambda a: torch.pow(a, 2.5),
      args={"exponent": 2.5}, g=g)

    unary = {
        "neg": (torch.neg, lambda g, *s: g.randn(*s)),
        "exp": (torch.exp, lambda g, *s: g.randn(*s, scale=1.5)),
        "log": (torch.log, lambda g, *s: g.uniform(*s, lo=0.2, hi=5.0)),
        "log1p": (torch.log1p, lambda g, *s: g.uniform(*s, lo=-0.6, hi=3.0)),
        "sqrt": (torch.sqrt, lambda g, *s: g.uniform(*s, lo=0.2, hi=5.0)),
        "rsqrt": (torch.rsqrt, lambda g, *s: g.uniform(*s, lo=0.3, hi=5.0)),
        "abs": (torch.abs, lambda g, *s: g.away(*s)),
        "sign": (torch.sign, lambda g, *s: g.away(*s)),
    }
    for op, (fn, make) in unary.items():
        for sname, shape in [("2d", (3, 4)), ("0d", ()), ("3d", (2, 3, 2))]:
            name = f"{op}.{sname}"
            g = Gen(name)
            C(name, op, {"a": make(g, *shape)}, lambda a, fn=fn: fn(a), g=g)
        name = f"{op}.strided"
        g = Gen(name)
        C(name, op, {"a": make(g, 4, 3)}, lambda a, fn=fn: fn(a), strided=["a"], g=g)
    name = "sign.with_zero"
    C(name, "sign", {"a": torch.tensor([-2.0, 0.0, 3.0, 0.0])}, torch.sign)

    for lo, hi in [(-0.5, 0.7), (-math.inf, 0.3), (-0.2, math.inf), (0.1, 0.1)]:
        name = f"clamp.{lo}_{hi}"
        g = Gen(name)
        a = g.randn(4, 5)
        for bound in (lo, hi):  # keep values away from the bounds
            if math.isfinite(bound):
                a = torch.where((a - bound).abs() < 0.05, a + 0.1, a)
        C(name, "clamp", {"a": a}, lambda a, lo=lo, hi=hi: torch.clamp(
            a, None if math.isinf(lo) else lo, None if math.isinf(hi) else hi),
          args={"min": lo, "max": hi}, g=g)
    name = "clamp.min_above_max"  # torch: every element becomes max
    g = Gen(name)
    C(name, "clamp", {"a": g.randn(3, 4)}, lambda a: torch.clamp(a, 0.5, -0.5),
      args={"min": 0.5, "max": -0.5}, g=g)
    name = "clamp.strided"
    g = Gen(name)
    C(name, "clamp", {"a": g.randn(4, 3)}, lambda a: torch.clamp(a, -0.4, 0.6),
      args={"min": -0.4, "max": 0.6}, strided=["a"], g=g)

    for sname, (sc, sa, sb) in [("same", ((3, 4), (3, 4), (3, 4))),
                                ("bcast", ((3, 1), (4,), (3, 4))),
                                ("scalar_b", ((2, 3), (2, 3), ()))]:
        name = f"where.{sname}"
        g = Gen(name)
        C(name, "where", {"cond": g.randbool(*sc), "a": g.randn(*sa), "b": g.randn(*sb)},
          lambda cond, a, b: torch.where(cond, a, b), g=g)

    cmp_ops = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le,
               "gt": torch.gt, "ge": torch.ge}
    for op, fn in cmp_ops.items():
        name = f"{op}.ties"
        g = Gen(name)
        a = g.randint(-2, 3, 3, 4).float() * 0.5
        b = g.randint(-2, 3, 3, 4).float() * 0.5
        C(name, op, {"a": a, "b": b}, lambda a, b, fn=fn: fn(a, b), g=g)
        name = f"{op}.bcast"
        g = Gen(name)
        a, b = g.randint(-2, 3, 2, 1, 3).float(), g.randint(-2, 3, 4, 1).float()
        C(name, op, {"a": a, "b": b}, lambda a, b, fn=fn: fn(a, b), g=g)
        name = f"{op}.int"
        g = Gen(name)
        a, b = g.randint(-3, 4, 6), g.randint(-3, 4, 6)
        C(name, op, {"a": a, "b": b}, lambda a, b, fn=fn: fn(a, b), g=g)
    for op, fn in [("logical_and", torch.logical_and), ("logical_or", torch.logical_or)]:
        name = f"{op}.float"
        g = Gen(name)
        a = g.randn(3, 4) * g.randbool(3, 4)
        b = g.randn(4) * g.randbool(4)
        C(name, op, {"a": a, "b": b}, lambda a, b, fn=fn: fn(a, b), g=g)
        name = f"{op}.bool"
        g = Gen(name)
        C(name, op, {"a": g.randbool(2, 3), "b": g.randbool(2, 3)},
          lambda a, b, fn=fn: fn(a, b), g=g)
    name = "logical_not.float"
    g = Gen(name)
    C(name, "logical_not", {"a": g.randn(3, 4) * g.randbool(3, 4)}, torch.logical_not, g=g)
    name = "logical_not.bool"
    g = Gen(name)
    C(name, "logical_not", {"a": g.randbool(5)}, torch.logical_not, g=g)

    # PyTorch's promotion rules.
    g = Gen("promote")
    C("add.i64_f32", "add", {"a": g.randint(-5, 5, 3), "b": g.randn(3)}, torch.add, g=g)
    C("add.f32_f64_0d", "add", {"a": g.randn(3), "b": g.randn(()).double()},
      torch.add, g=g)
    C("mul.i32_i64", "mul", {"a": g.randint(-5, 5, 4).int(), "b": g.randint(-5, 5, 4)},
      torch.mul, g=g)
    C("div.i64_i64", "div", {"a": g.randint(-9, 9, 4), "b": torch.tensor([2, -3, 4, 7])},
      torch.div, g=g)
    C("sub.i64_i64", "sub", {"a": g.randint(-9, 9, 4), "b": g.randint(-9, 9, 4)},
      torch.sub, g=g)

    name = "clone.strided"
    g = Gen(name)
    C(name, "clone", {"a": g.randn(3, 4)}, torch.clone, strided=["a"], g=g)
    name = "clone.0d"
    g = Gen(name)
    C(name, "clone", {"a": g.randn(())}, torch.clone, g=g)
    name = "to_dtype.f32_f64"
    g = Gen(name)
    C(name, "to_dtype", {"a": g.randn(3, 4)}, lambda a: a.to(torch.float64),
      args={"dtype": "F64"}, g=g)
    name = "to_dtype.f64_f32"
    g = Gen(name)
    C(name, "to_dtype", {"a": g.randn(3, 4).double()}, lambda a: a.to(torch.float32),
      args={"dtype": "F32"}, g=g)
    name = "to_dtype.f32_i64"
    g = Gen(name)
    C(name, "to_dtype", {"a": g.randn(6, scale=3.0)}, lambda a: a.to(torch.int64),
      args={"dtype": "I64"}, g=g)
    name = "to_dtype.f32_bool"
    C(name, "to_dtype", {"a": torch.tensor([0.0, -1.5, 0.25, 0.0])},
      lambda a: a.to(torch.bool), args={"dtype": "BOOL"})

    # In place (forward only: they refuse tensors that require grad).
    def inplace(method, *extra):
        def fn(self, *others):
            x = self.clone()
            getattr(x, method)(*others, *extra)
            return x
        return fn
    g = Gen("inplace")
    C("fill_", "fill_", {"self": g.randn(2, 3)}, inplace("fill_", 1.25),
      args={"value": 1.25}, grad=[], g=g)
    C("zero_", "zero_", {"self": g.randn(4)}, inplace("zero_"), grad=[], g=g)
    C("copy_.bcast", "copy_", {"self": g.randn(2, 3), "src": g.randn(3)}, inplace("copy_"),
      grad=[], g=g)
    C("copy_.i64_src", "copy_", {"self": g.randn(2, 3), "src": g.randint(-4, 4, 2, 3)},
      inplace("copy_"), grad=[], g=g)
    for op in ("add_", "sub_", "mul_"):
        C(f"{op}.bcast", op, {"self": g.randn(3, 4), "other": g.randn(4)}, inplace(op),
          grad=[], g=g)
    C("div_.bcast", "div_", {"self": g.randn(3, 4), "other": g.away(3, 1, lo=0.5)},
      inplace("div_"), grad=[], g=g)
    C("add_.strided", "add_", {"self": g.randn(3, 4), "other": g.randn(3, 4)}, inplace("add_"),
      grad=[], strided=["self"], g=g)
    C("mul_scalar_", "mul_scalar_", {"self": g.randn(5)}, inplace("mul_", 2.5),
      args={"value": 2.5}, grad=[], g=g)
    C("add_scalar_", "add_scalar_", {"self": g.randn(5)}, inplace("add_", -1.5),
      args={"value": -1.5}, grad=[], g=g)
    C("masked_fill_", "masked_fill_", {"self": g.randn(3, 4), "mask": g.randbool(4)},
      inplace("masked_fill_", -2.0), args={"value": -2.0}, grad=[], g=g)
    return fam


# ---------------------------------------------------------------- activation

def activation():
    fam = Family("activation")
    C = fam.case
    acts = [
        ("relu", {}, F.relu, None),
        ("leaky_relu", {"negative_slope": 0.1}, lambda a: F.leaky_relu(a, 0.1), None),
        ("leaky_relu", {"negative_slope": 0.01}, lambda a: F.leaky_relu(a, 0.01), None),
        ("elu", {"alpha": 1.0}, lambda a: F.elu(a, 1.0), None),
        ("elu", {"alpha": 0.5}, lambda a: F.elu(a, 0.5), None),
        ("gelu", {"approximate": "none"}, lambda a: F.gelu(a), None),
        ("gelu", {"approximate": "tanh"}, lambda a: F.gelu(a, approximate="tanh"), None),
        ("silu", {}, F.silu, None),
        ("sigmoid", {}, torch.sigmoid, None),
        ("tanh", {}, torch.tanh, None),
        ("softplus", {"beta": 1.0, "threshold": 20.0}, lambda a: F.softplus(a, 1.0, 20.0), None),
        ("softplus", {"beta": 2.0, "threshold": 1.0}, lambda a: F.softplus(a, 2.0, 1.0),
         (2.0, 1.0)),
        ("softplus", {"beta": 0.5, "threshold": 0.8}, lambda a: F.softplus(a, 0.5, 0.8),
         (0.5, 0.8)),
        ("hardtanh", {"min_val": -1.0, "max_val": 1.0}, lambda a: F.hardtanh(a, -1.0, 1.0),
         None),
        ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, lambda a: F.hardtanh(a, -0.5, 2.0),
         None),
    ]
    for op, args, fn, sp in acts:
        tag = "_".join(f"{v}" for v in args.values()) or "default"
        for sname, shape, strided in [("2d", (4, 6), ()), ("0d", (), ()),
                                      ("strided", (5, 3), ("a",))]:
            name = f"{op}.{tag}.{sname}"
            g = Gen(name)
            a = g.away(*shape, lo=0.05, hi=3.0)
            if op == "hardtanh":  # away from the kinks
                for k in (args["min_val"], args["max_val"]):
                    a = torch.where((a - k).abs() < 0.05, a + 0.1, a)
            if sp:  # away from beta * x == threshold
                beta, thr = sp
                a = torch.where((a * beta - thr).abs() < 0.1, a + 0.3, a)
            C(name, op, {"a": a}, fn, args=args, strided=strided, g=g)
    return fam


# ----------------------------------------------------------------- reduction

def reduce():
    fam = Family("reduce")
    C = fam.case
    dims_cases = [("all", None, False), ("all_keep", None, True), ("d0", [0], False),
                  ("d1_keep", [1], True), ("d02", [0, 2], False), ("dneg", [-1], False),
                  ("d12_keep", [1, 2], True)]

    def tdims(dims, nd):
        return tuple(range(nd)) if dims is None else tuple(dims)

    for op in ("sum", "mean", "logsumexp", "prod"):
        for sname, dims, keep in dims_cases:
            name = f"{op}.{sname}"
            g = Gen(name)
            a = g.away(2, 3, 4, lo=0.5, hi=1.3) if op == "prod" else g.randn(2, 3, 4)
            if op == "sum":
                fn = lambda a, d=dims, k=keep: (a.sum(tdims(d, 3), keepdim=k))
            elif op == "mean":
                fn = lambda a, d=dims, k=keep: (a.mean(tdims(d, 3), keepdim=k))
            elif op == "logsumexp":
                fn = lambda a, d=dims, k=keep: torch.logsumexp(a, tdims(d, 3), keepdim=k)
            else:
                def fn(a, d=dims, k=keep):
                    for dim in sorted(tdims(d, 3), reverse=True):
                        a = a.prod(dim, keepdim=True)
                    return a if k else a.reshape([s for i, s in enumerate(a.shape)
                                                  if i not in {x % 3 for x in tdims(d, 3)}])
            C(name, op, {"a": a}, fn, args={"dims": dims, "keepdim": keep}, g=g)
        name = f"{op}.strided"
        g = Gen(name)
        a = g.away(4, 5, lo=0.5, hi=1.3) if op == "prod" else g.randn(4, 5)
        fn = {"sum": lambda a: a.sum(1), "mean": lambda a: a.mean(1),
              "logsumexp": lambda a: torch.logsumexp(a, 1), "prod": lambda a: a.prod(1)}[op]
        C(name, op, {"a": a}, fn, args={"dims": [1], "keepdim": False}, strided=["a"], g=g)
        name = f"{op}.0d"
        g = Gen(name)
        a = g.uniform(lo=0.5, hi=2.0)
        fn = {"sum": lambda a: a.sum(), "mean": lambda a: a.mean(),
              "logsumexp": lambda a: torch.logsumexp(a, ()), "prod": lambda a: a.prod()}[op]
        if op == "logsumexp":
            fn = lambda a: a.clone()  # logsumexp of one element is the element
        C(name, op, {"a": a}, fn, args={"dims": None, "keepdim": False}, g=g)
    name = "logsumexp.some_neg_inf"  # masked entries: -inf in, zero gradient
    g = Gen(name)
    a = g.randn(3, 4).masked_fill(torch.tensor([[True, False, False, True],
                                                [False, False, False, False],
                                                [False, True, True, True]]), -math.inf)
    C(name, "logsumexp", {"a": a}, lambda a: torch.logsumexp(a, 1),
      args={"dims": [1], "keepdim": False}, g=g)
    name = "prod.with_zero"
    a = torch.tensor([[0.5, 0.0, 2.0], [1.5, -1.0, 0.75]])
    C(name, "prod", {"a": a}, lambda a: a.prod(1), args={"dims": [1], "keepdim": False})
    name = "prod.two_zeros"
    a = torch.tensor([[0.0, 3.0, 0.0], [1.5, -1.0, 0.75]])
    C(name, "prod", {"a": a}, lambda a: a.prod(1), args={"dims": [1], "keepdim": False})
    name = "sum.i64"
    g = Gen(name)
    C(name, "sum", {"a": g.randint(-50, 50, 3, 4)}, lambda a: a.sum(1),
      args={"dims": [1], "keepdim": False}, g=g)
    name = "sum.bool"
    g = Gen(name)
    C(name, "sum", {"a": g.randbool(3, 4)}, lambda a: a.sum(), args={"dims": None,
                                                                        "keepdim": False}, g=g)

    for op in ("var", "std"):
        for corr in (0, 1):
            for sname, dims, keep in [("all", None, False), ("d1", [1], False),
                                      ("d02_keep", [0, 2], True)]:
                name = f"{op}.c{corr}.{sname}"
                g = Gen(name)
                fn = (lambda a, d=dims, k=keep, c=corr, op=op:
                      getattr(torch, op)(a, dim=tdims(d, 3), correction=c, keepdim=k))
                C(name, op, {"a": g.randn(2, 3, 4)}, fn,
                  args={"dims": dims, "correction": corr, "keepdim": keep}, g=g)
        name = f"{op}.c1.strided"
        g = Gen(name)
        C(name, op, {"a": g.randn(4, 5)},
          lambda a, op=op: getattr(torch, op)(a, dim=(0,), correction=1),
          args={"dims": [0], "correction": 1, "keepdim": False}, strided=["a"], g=g)

    for p in (1.0, 2.0, math.inf):
        for sname, dims, keep in [("all", None, False), ("d1", [1], False),
                                  ("d02_keep", [0, 2], True)]:
            name = f"norm.p{p}.{sname}"
            g = Gen(name)
            a = g.distinct(2, 3, 4, step=0.09)  # no ties for inf, no zeros for p = 1
            C(name, "norm", {"a": a},
              lambda a, p=p, d=dims, k=keep: torch.linalg.vector_norm(
                  a, ord=p, dim=tdims(d, 3), keepdim=k),
              args={"p": p, "dims": dims, "keepdim": keep}, g=g)

    for op in ("max", "min"):
        for sname, shape, dim, keep, strided in [("d1", (3, 5), 1, False, ()),
                                                 ("d0_keep", (4, 3), 0, True, ()),
                                                 ("dneg_3d", (2, 3, 4), -1, False, ()),
                                                 ("strided", (4, 5), 1, False, ("a",)),
                                                 ("1d", (6,), 0, False, ())]:
            name = f"{op}.{sname}"
            g = Gen(name)
            fn = lambda a, op=op, d=dim, k=keep: tuple(getattr(torch, op)(a, d, keepdim=k))
            C(name, op, {"a": g.distinct(*shape)}, fn, args={"dim": dim, "keepdim": keep},
              strided=strided, g=g)
            aname = f"arg{op}.{sname}"
            g = Gen(aname)
            fn = lambda a, op=op, d=dim, k=keep: getattr(torch, "arg" + op)(a, d, keepdim=k)
            C(aname, "arg" + op, {"a": g.distinct(*shape)}, fn, args={"dim": dim, "keepdim": keep},
              strided=strided, g=g)
        for sname, shape in [("2d", (3, 4)), ("0d", ())]:
            name = f"{op}_all.{sname}"
            g = Gen(name)
            C(name, op + "_all", {"a": g.distinct(*shape) if shape else g.randn(())},
              lambda a, op=op: getattr(torch, op)(a), g=g)
        name = f"{op}.i64"
        g = Gen(name)
        C(name, op, {"a": torch.randperm(12, generator=g.g).reshape(3, 4) - 6},
          lambda a, op=op: tuple(getattr(torch, op)(a, 1)), args={"dim": 1, "keepdim": False},
          g=g)

    for op, fn in [("sum_all", torch.sum), ("mean_all", torch.mean)]:
        for sname, shape, strided in [("3d", (2, 3, 4), ()), ("strided", (4, 3), ("a",)),
                                      ("0d", (), ())]:
            name = f"{op}.{sname}"
            g = Gen(name)
            C(name, op, {"a": g.randn(*shape)}, fn, strided=strided, g=g)
    return fam


# -------------------------------------------------------------------- matmul

def matmul():
    fam = Family("matmul")
    C = fam.case
    cases = [("dot", (5,), (5,), ()), ("mv", (3, 4), (4,), ()), ("vm", (4,), (4, 3), ()),
             ("mm", (3, 4), (4, 5), ()), ("mm_strided", (3, 4), (4, 5), ("a", "b")),
             ("bmm_like", (2, 3, 4), (2, 4, 5), ()), ("batch_2d", (2, 3, 4), (4, 5), ()),
             ("2d_batch", (3, 4), (2, 4, 5), ()),
             ("bcast", (2, 1, 3, 4), (3, 4, 2), ()), ("batch_vec", (2, 3, 4), (4,), ()),
             ("vec_batch", (4,), (2, 4, 3), ()), ("batch_strided", (2, 3, 4), (2, 4, 5), ("a", "b"))]
    for sname, sa, sb, strided in cases:
        name = f"matmul.{sname}"
        g = Gen(name)
        C(name, "matmul", {"a": g.randn(*sa), "b": g.randn(*sb)}, torch.matmul,
          strided=strided, g=g)
    for sname, strided in [("plain", ()), ("strided", ("a", "b"))]:
        name = f"bmm.{sname}"
        g = Gen(name)
        C(name, "bmm", {"a": g.randn(3, 2, 4), "b": g.randn(3, 4, 5)}, torch.bmm,
          strided=strided, g=g)
    for sname, sbias, beta, alpha, strided in [("bias_row", (5,), 1.0, 1.0, ()),
                                               ("bias_full", (3, 5), 0.5, 2.0, ()),
                                               ("bias_col", (3, 1), -1.0, 0.25, ()),
                                               ("strided", (5,), 1.0, 1.0, ("a", "b")),
                                               ("bias_0d", (), 2.0, 1.0, ())]:
        name = f"addmm.{sname}"
        g = Gen(name)
        C(name, "addmm", {"bias": g.randn(*sbias), "a": g.randn(3, 4), "b": g.randn(4, 5)},
          lambda bias, a, b, beta=beta, alpha=alpha: torch.addmm(bias, a, b, beta=beta,
                                                                 alpha=alpha),
          args={"beta": beta, "alpha": alpha}, strided=strided, g=g)
    for sname, strided in [("plain", ()), ("strided", ("a",))]:
        name = f"outer.{sname}"
        g = Gen(name)
        C(name, "outer", {"a": g.randn(3), "b": g.randn(4)}, torch.outer, strided=strided, g=g)
    return fam


# --------------------------------------------------------------------- shape

def shape():
    fam = Family("shape")
    C = fam.case
    g = Gen("shape")

    def R(*s):
        return g.randn(*s)

    C("reshape.basic", "reshape", {"a": R(2, 3, 4)}, lambda a: a.reshape(6, 4),
      args={"shape": [6, 4]}, g=g)
    C("reshape.infer", "reshape", {"a": R(2, 3, 4)}, lambda a: a.reshape(-1, 3),
      args={"shape": [-1, 3]}, g=g)
    C("reshape.strided_copy", "reshape", {"a": R(3, 4)}, lambda a: a.reshape(12),
      args={"shape": [12]}, strided=["a"], g=g)
    C("reshape.to_0d", "reshape", {"a": R(1, 1)}, lambda a: a.reshape(()),
      args={"shape": []}, g=g)
    C("view.basic", "view", {"a": R(2, 3, 4)}, lambda a: a.view(4, 6), args={"shape": [4, 6]},
      g=g)
    C("view.infer", "view", {"a": R(2, 3, 4)}, lambda a: a.view(2, -1), args={"shape": [2, -1]},
      g=g)
    C("flatten.all", "flatten", {"a": R(2, 3, 4)}, lambda a: a.flatten(),
      args={"start_dim": 0, "end_dim": -1}, g=g)
    C("flatten.mid", "flatten", {"a": R(2, 3, 4, 2)}, lambda a: a.flatten(1, 2),
      args={"start_dim": 1, "end_dim": 2}, g=g)
    C("flatten.strided", "flatten", {"a": R(3, 4)}, lambda a: a.flatten(),
      args={"start_dim": 0, "end_dim": -1}, strided=["a"], g=g)
    C("transpose.02", "transpose", {"a": R(2, 3, 4)}, lambda a: a.transpose(0, 2),
      args={"dim0": 0, "dim1": 2}, g=g)
    C("transpose.neg", "transpose", {"a": R(3, 4)}, lambda a: a.transpose(-1, -2),
      args={"dim0": -1, "dim1": -2}, g=g)
    C("permute.3d", "permute", {"a": R(2, 3, 4)}, lambda a: a.permute(2, 0, 1),
      args={"dims": [2, 0, 1]}, g=g)
    C("permute.strided", "permute", {"a": R(2, 3, 4)}, lambda a: a.permute(1, 2, 0),
      args={"dims": [1, 2, 0]}, strided=["a"], g=g)
    C("contiguous.strided", "contiguous", {"a": R(3, 4)}, lambda a: a.contiguous(),
      strided=["a"], g=g)
    C("contiguous.already", "contiguous", {"a": R(3, 4)}, lambda a: a.contiguous(), g=g)
    C("squeeze.one", "squeeze", {"a": R(3, 1, 4)}, lambda a: a.squeeze(1), args={"dim": 1}, g=g)
    C("squeeze.not_one", "squeeze", {"a": R(3, 2)}, lambda a: a.squeeze(0), args={"dim": 0},
      g=g)
    C("squeeze.neg", "squeeze", {"a": R(3, 1)}, lambda a: a.squeeze(-1), args={"dim": -1}, g=g)
    C("squeeze_all.basic", "squeeze_all", {"a": R(1, 3, 1, 2)}, lambda a: a.squeeze(), g=g)
    C("squeeze_all.to_0d", "squeeze_all", {"a": R(1, 1)}, lambda a: a.squeeze(), g=g)
    C("unsqueeze.0", "unsqueeze", {"a": R(3, 4)}, lambda a: a.unsqueeze(0), args={"dim": 0}, g=g)
    C("unsqueeze.end", "unsqueeze", {"a": R(3, 4)}, lambda a: a.unsqueeze(-1),
      args={"dim": -1}, g=g)
    C("unsqueeze.0d", "unsqueeze", {"a": R(())}, lambda a: a.unsqueeze(0), args={"dim": 0}, g=g)
    C("expand.basic", "expand", {"a": R(3, 1)}, lambda a: a.expand(3, 4),
      args={"shape": [3, 4]}, g=g)
    C("expand.new_dims", "expand", {"a": R(3, 1)}, lambda a: a.expand(2, -1, 4),
      args={"shape": [2, -1, 4]}, g=g)
    C("expand.0d", "expand", {"a": R(())}, lambda a: a.expand(2, 3), args={"shape": [2, 3]}, g=g)
    C("repeat.2d", "repeat", {"a": R(2, 3)}, lambda a: a.repeat(2, 3),
      args={"repeats": [2, 3]}, g=g)
    C("repeat.more_dims", "repeat", {"a": R(2, 3)}, lambda a: a.repeat(2, 1, 2),
      args={"repeats": [2, 1, 2]}, g=g)
    C("repeat.strided", "repeat", {"a": R(3, 2)}, lambda a: a.repeat(1, 2),
      args={"repeats": [1, 2]}, strided=["a"], g=g)
    C("cat.d0", "cat", {"t0": R(2, 3), "t1": R(1, 3), "t2": R(3, 3)},
      lambda t0, t1, t2: torch.cat([t0, t1, t2], 0), args={"dim": 0}, g=g)
    C("cat.d1", "cat", {"t0": R(2, 3), "t1": R(2, 1)}, lambda t0, t1: torch.cat([t0, t1], 1),
      args={"dim": 1}, g=g)
    C("cat.neg_strided", "cat", {"t0": R(3, 2), "t1": R(3, 4)},
      lambda t0, t1: torch.cat([t0, t1], -1), args={"dim": -1}, strided=["t0"], g=g)
    C("cat.one", "cat", {"t0": R(2, 3)}, lambda t0: torch.cat([t0], 0), args={"dim": 0}, g=g)
    C("stack.d0", "stack", {"t0": R(2, 3), "t1": R(2, 3), "t2": R(2, 3)},
      lambda t0, t1, t2: torch.stack([t0, t1, t2], 0), args={"dim": 0}, g=g)
    C("stack.last", "stack", {"t0": R(2, 3), "t1": R(2, 3)},
      lambda t0, t1: torch.stack([t0, t1], -1), args={"dim": -1}, g=g)
    C("stack.0d", "stack", {"t0": R(()), "t1": R(())}, lambda t0, t1: torch.stack([t0, t1]),
      args={"dim": 0}, g=g)
    C("split.even", "split", {"a": R(6, 2)}, lambda a: a.split(2, 0),
      args={"split_size": 2, "dim": 0}, g=g)
    C("split.uneven", "split", {"a": R(2, 7)}, lambda a: a.split(3, 1),
      args={"split_size": 3, "dim": 1}, g=g)
    C("split.big", "split", {"a": R(2, 3)}, lambda a: a.split(5, -1),
      args={"split_size": 5, "dim": -1}, g=g)
    C("chunk.even", "chunk", {"a": R(6, 2)}, lambda a: a.chunk(3, 0),
      args={"chunks": 3, "dim": 0}, g=g)
    C("chunk.uneven", "chunk", {"a": R(2, 7)}, lambda a: a.chunk(3, 1),
      args={"chunks": 3, "dim": 1}, g=g)
    C("chunk.fewer", "chunk", {"a": R(2, 5)}, lambda a: a.chunk(4, 1),
      args={"chunks": 4, "dim": 1}, g=g)
    C("narrow.basic", "narrow", {"a": R(4, 5)}, lambda a: a.narrow(1, 1, 3),
      args={"dim": 1, "start": 1, "length": 3}, g=g)
    C("narrow.neg_dim", "narrow", {"a": R(4, 5)}, lambda a: a.narrow(-2, 2, 2),
      args={"dim": -2, "start": 2, "length": 2}, g=g)
    C("narrow.strided", "narrow", {"a": R(4, 5)}, lambda a: a.narrow(0, 1, 2),
      args={"dim": 0, "start": 1, "length": 2}, strided=["a"], g=g)
    for sname, dim, start, end, step in [("basic", 1, 1, 4, 1), ("step2", 1, 0, 7, 2),
                                         ("neg", 0, -3, -1, 1), ("clamped", 1, -100, 100, 3),
                                         ("empty", 0, 3, 2, 1), ("dim0_step", 0, 1, 5, 2)]:
        a = R(5, 7)
        nd = a.dim()
        idx = [slice(None)] * nd
        idx[dim] = slice(start, end, step)
        C(f"slice.{sname}", "slice", {"a": a}, lambda a, idx=tuple(idx): a[idx],
          args={"dim": dim, "start": start, "end": end, "step": step}, g=g)
    C("slice.strided", "slice", {"a": R(5, 4)}, lambda a: a[:, 1:4:2],
      args={"dim": 1, "start": 1, "end": 4, "step": 2}, strided=["a"], g=g)
    return fam


# --------------------------------------------------------------------- index

def index():
    fam = Family("index")
    C = fam.case
    g = Gen("index")

    def R(*s):
        return g.randn(*s)

    C("index_select.d0", "index_select", {"a": R(4, 3), "index": torch.tensor([2, 0, 2, 3])},
      lambda a, index: a.index_select(0, index), args={"dim": 0}, g=g)
    C("index_select.d1", "index_select", {"a": R(2, 5, 3), "index": torch.tensor([4, 1])},
      lambda a, index: a.index_select(1, index), args={"dim": 1}, g=g)
    C("index_select.i32", "index_select", {"a": R(4, 3),
                                           "index": torch.tensor([1, 1, 0], dtype=torch.int32)},
      lambda a, index: a.index_select(-1, index.long()), args={"dim": -1}, g=g)
    C("index_select.strided", "index_select", {"a": R(4, 3), "index": torch.tensor([3, 0])},
      lambda a, index: a.index_select(0, index), args={"dim": 0}, strided=["a"], g=g)
    C("gather.d0", "gather", {"a": R(3, 4), "index": g.randint(0, 3, 2, 4)},
      lambda a, index: a.gather(0, index), args={"dim": 0}, g=g)
    C("gather.d1", "gather", {"a": R(3, 4), "index": g.randint(0, 4, 3, 6)},
      lambda a, index: a.gather(1, index), args={"dim": 1}, g=g)
    C("gather.3d_neg", "gather", {"a": R(2, 3, 4), "index": g.randint(0, 4, 2, 3, 2)},
      lambda a, index: a.gather(-1, index), args={"dim": -1}, g=g)
    C("gather.smaller_index", "gather", {"a": R(3, 4), "index": g.randint(0, 4, 2, 2)},
      lambda a, index: a.gather(1, index), args={"dim": 1}, g=g)
    C("gather.strided", "gather", {"a": R(4, 3), "index": g.randint(0, 4, 4, 3)},
      lambda a, index: a.gather(0, index), args={"dim": 0}, strided=["a"], g=g)
    C("scatter_add.d0", "scatter_add",
      {"a": R(3, 4), "index": g.randint(0, 3, 5, 4), "src": R(5, 4)},
      lambda a, index, src: a.scatter_add(0, index, src), args={"dim": 0}, g=g)
    C("scatter_add.d1", "scatter_add",
      {"a": R(3, 4), "index": g.randint(0, 4, 3, 6), "src": R(3, 6)},
      lambda a, index, src: a.scatter_add(1, index, src), args={"dim": 1}, g=g)
    C("scatter_add.smaller", "scatter_add",
      {"a": R(3, 4), "index": g.randint(0, 4, 2, 2), "src": R(2, 2)},
      lambda a, index, src: a.scatter_add(-1, index, src), args={"dim": -1}, g=g)
    C("masked_fill.same", "masked_fill", {"a": R(3, 4), "mask": g.randbool(3, 4)},
      lambda a, mask: a.masked_fill(mask, -1.5), args={"value": -1.5}, g=g)
    C("masked_fill.bcast", "masked_fill", {"a": R(2, 3, 4), "mask": g.randbool(3, 1)},
      lambda a, mask: a.masked_fill(mask, 0.0), args={"value": 0.0}, g=g)
    C("masked_fill.neg_inf", "masked_fill", {"a": R(3, 3), "mask": torch.ones(3, 3).triu(1).bool()},
      lambda a, mask: a.masked_fill(mask, -math.inf), args={"value": -math.inf}, g=g)
    C("masked_fill.strided", "masked_fill", {"a": R(4, 3), "mask": g.randbool(4, 3)},
      lambda a, mask: a.masked_fill(mask, 2.0), args={"value": 2.0}, strided=["a"], g=g)
    C("one_hot.n", "one_hot", {"index": torch.tensor([0, 3, 1, 3])},
      lambda index: F.one_hot(index, 5), args={"num_classes": 5}, g=g)
    C("one_hot.infer", "one_hot", {"index": torch.tensor([[0, 2], [1, 1]])},
      lambda index: F.one_hot(index, -1), args={"num_classes": -1}, g=g)
    C("one_hot.0d", "one_hot", {"index": torch.tensor(2)},
      lambda index: F.one_hot(index, 4), args={"num_classes": 4}, g=g)
    for op in ("tril", "triu"):
        for sname, shape, diag, strided in [("sq", (4, 4), 0, ()), ("wide_pos", (3, 5), 1, ()),
                                            ("tall_neg", (5, 3), -1, ()),
                                            ("batch", (2, 3, 4), 0, ()),
                                            ("far", (3, 4), 10, ()), ("strided", (4, 3), 0, ("a",))]:
            C(f"{op}.{sname}", op, {"a": R(*shape)},
              lambda a, op=op, d=diag: getattr(torch, op)(a, d), args={"diagonal": diag},
              strided=strided, g=g)
    return fam


# ------------------------------------------------------------ softmax, losses

def loss():
    fam = Family("loss")
    C = fam.case
    g = Gen("loss")

    def R(*s, scale=1.0):
        return g.randn(*s) * scale

    for op, fn in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
        for sname, shape, dim, strided in [("last", (3, 5), -1, ()), ("d0", (4, 3), 0, ()),
                                           ("mid3d", (2, 3, 4), 1, ()), ("1d", (6,), 0, ()),
                                           ("strided", (4, 5), 1, ("a",)),
                                           ("big", (2, 4), 1, ())]:
            scale = 30.0 if sname == "big" else 2.0
            C(f"{op}.{sname}", op, {"a": R(*shape, scale=scale)},
              lambda a, fn=fn, d=dim: fn(a, d), args={"dim": dim}, strided=strided, g=g)

    mask = torch.ones(4, 4).triu(1).bool()  # causal attention mask
    for op, fn in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
        C(f"{op}.causal_mask", op, {"a": R(4, 4).masked_fill(mask, -math.inf)},
          lambda a, fn=fn: fn(a, -1), args={"dim": -1}, g=g)

    # cross_entropy with defaults (volt_cross_entropy).
    C("cross_entropy.default", "cross_entropy",
      {"logits": R(4, 5, scale=2.0), "target": torch.tensor([1, 0, 4, 2])},
      lambda logits, target: F.cross_entropy(logits, target), g=g)
    # cross_entropy_ex: option combinations.
    N, K = 6, 4
    tgt = torch.tensor([0, 3, 1, 2, 3, 1])
    tgt_ign = torch.tensor([0, -100, 1, 2, -100, 1])
    tgt_ign2 = torch.tensor([0, 2, 1, 2, 3, 2])
    wts = torch.tensor([0.5, 2.0, 1.0, 1.5])
    probs = torch.softmax(R(N, K), 1)
    ce_cases = [
        ("mean", tgt, "mean", -100, 0.0, None),
        ("sum", tgt, "sum", -100, 0.0, None),
        ("none", tgt, "none", -100, 0.0, None),
        ("ignore_default", tgt_ign, "mean", -100, 0.0, None),
        ("ignore_custom", tgt_ign2, "mean", 2, 0.0, None),
        ("ignore_none", tgt_ign, "none", -100, 0.0, None),
        ("smoothing", tgt, "mean", -100, 0.1, None),
        ("smoothing_sum", tgt, "sum", -100, 0.25, None),
        ("weight", tgt, "mean", -100, 0.0, wts),
        ("weight_sum", tgt, "sum", -100, 0.0, wts),
        ("weight_none", tgt, "none", -100, 0.0, wts),
        ("weight_ignore_smooth", tgt_ign, "mean", -100, 0.2, wts),
        ("weight_smooth_none", tgt_ign, "none", -100, 0.2, wts),
        ("probs", probs, "mean", -100, 0.0, None),
        ("probs_sum", probs, "sum", -100, 0.0, None),
        ("probs_none", probs, "none", -100, 0.0, None),
        ("probs_smooth", probs, "mean", -100, 0.15, None),
        ("probs_weight", probs, "mean", -100, 0.0, wts),
    ]
    for sname, target, red, ign, ls, w in ce_cases:
        inputs = {"logits": R(N, K, scale=2.0), "target": target}
        if w is not None:
            inputs["weight"] = w
        C(f"cross_entropy_ex.{sname}", "cross_entropy_ex", inputs,
          lambda logits, target, weight=None, red=red, ign=ign, ls=ls: F.cross_entropy(
              logits, target, weight=weight, ignore_index=ign, reduction=red,
              label_smoothing=ls),
          args={"reduction": red, "ignore_index": ign, "label_smoothing": ls},
          grad=["logits"], g=g)
    C("cross_entropy_ex.spatial", "cross_entropy_ex",
      {"logits": R(2, 3, 4, scale=2.0), "target": torch.tensor([[0, 2, 1, -100], [2, 2, 0, 1]])},
      lambda logits, target: F.cross_entropy(logits, target),
      args={"reduction": "mean", "ignore_index": -100, "label_smoothing": 0.0},
      grad=["logits"], g=g)
    C("cross_entropy_ex.spatial_smooth_w", "cross_entropy_ex",
      {"logits": R(2, 3, 2, 2, scale=2.0), "target": g.randint(0, 3, 2, 2, 2),
       "weight": torch.tensor([1.0, 0.3, 2.0])},
      lambda logits, target, weight: F.cross_entropy(logits, target, weight=weight,
                                                     label_smoothing=0.1),
      args={"reduction": "mean", "ignore_index": -100, "label_smoothing": 0.1},
      grad=["logits"], g=g)
    C("cross_entropy_ex.unbatched", "cross_entropy_ex",
      {"logits": R(5, scale=2.0), "target": torch.tensor(3)},
      lambda logits, target: F.cross_entropy(logits, target),
      args={"reduction": "mean", "ignore_index": -100, "label_smoothing": 0.0},
      grad=["logits"], g=g)
    C("cross_entropy_ex.strided", "cross_entropy_ex",
      {"logits": R(6, 4, scale=2.0), "target": tgt},
      lambda logits, target: F.cross_entropy(logits, target, label_smoothing=0.05),
      args={"reduction": "mean", "ignore_index": -100, "label_smoothing": 0.05},
      grad=["logits"], strided=["logits"], g=g)

    nll_cases = [("mean", "mean", -100, None, tgt), ("sum", "sum", -100, None, tgt),
                 ("none", "none", -100, None, tgt), ("ignore", "mean", -100, None, tgt_ign),
                 ("weight", "mean", -100, wts, tgt), ("weight_ignore", "mean", 2, wts, tgt_ign2),
                 ("weight_none", "none", -100, wts, tgt_ign)]
    for sname, red, ign, w, target in nll_cases:
        inputs = {"input": torch.log_softmax(R(N, K, scale=2.0), 1), "target": target}
        if w is not None:
            inputs["weight"] = w
        C(f"nll_loss.{sname}", "nll_loss", inputs,
          lambda input, target, weight=None, red=red, ign=ign: F.nll_loss(
              input, target, weight=weight, ignore_index=ign, reduction=red),
          args={"reduction": red, "ignore_index": ign}, grad=["input"], g=g)
    C("nll_loss.spatial", "nll_loss",
      {"input": torch.log_softmax(R(2, 3, 4), 1), "target": g.randint(0, 3, 2, 4)},
      lambda input, target: F.nll_loss(input, target),
      args={"reduction": "mean", "ignore_index": -100}, grad=["input"], g=g)

    for red in ("mean", "sum", "none"):
        C(f"mse_loss.{red}", "mse_loss", {"input": R(3, 4), "target": R(3, 4)},
          lambda input, target, red=red: F.mse_loss(input, target, reduction=red),
          args={"reduction": red}, g=g)
        a, b = R(3, 4), R(3, 4)
        b = torch.where((a - b).abs() < 0.05, b + 0.2, b)
        C(f"l1_loss.{red}", "l1_loss", {"input": a, "target": b},
          lambda input, target, red=red: F.l1_loss(input, target, reduction=red),
          args={"reduction": red}, g=g)
        for beta in (1.0, 0.5):
            a, b = R(4, 5, scale=1.5), R(4, 5)
            d = a - b
            b = torch.where(((d.abs() - beta).abs() < 0.05) | (d.abs() < 0.02), b + 0.15, b)
            C(f"smooth_l1_loss.{red}.b{beta}", "smooth_l1_loss", {"input": a, "target": b},
              lambda input, target, red=red, beta=beta: F.smooth_l1_loss(
                  input, target, reduction=red, beta=beta),
              args={"reduction": red, "beta": beta}, g=g)
    C("mse_loss.strided", "mse_loss", {"input": R(4, 3), "target": R(4, 3)},
      lambda input, target: F.mse_loss(input, target), args={"reduction": "mean"},
      strided=["input"], g=g)

    for red in ("mean", "sum", "none"):
        C(f"binary_cross_entropy.{red}", "binary_cross_entropy",
          {"input": g.uniform(3, 4, lo=0.05, hi=0.95), "target": g.uniform(3, 4)},
          lambda input, target, red=red: F.binary_cross_entropy(input, target, reduction=red),
          args={"reduction": red}, grad=["input"], g=g)
        C(f"binary_cross_entropy.weight_{red}", "binary_cross_entropy",
          {"input": g.uniform(3, 4, lo=0.05, hi=0.95),
           "target": g.randbool(3, 4).float(), "weight": g.uniform(4, lo=0.5, hi=2.0)},
          lambda input, target, weight, red=red: F.binary_cross_entropy(
              input, target, weight=weight, reduction=red),
          args={"reduction": red}, grad=["input"], g=g)
        C(f"bce_with_logits.{red}", "binary_cross_entropy_with_logits",
          {"input": R(3, 4, scale=3.0), "target": g.uniform(3, 4)},
          lambda input, target, red=red: F.binary_cross_entropy_with_logits(
              input, target, reduction=red),
          args={"reduction": red}, grad=["input"], g=g)
        C(f"bce_with_logits.weights_{red}", "binary_cross_entropy_with_logits",
          {"input": R(3, 4, scale=3.0), "target": g.randbool(3, 4).float(),
           "weight": g.uniform(3, 1, lo=0.5, hi=2.0), "pos_weight": g.uniform(4, lo=0.5, hi=3.0)},
          lambda input, target, weight, pos_weight, red=red: F.binary_cross_entropy_with_logits(
              input, target, weight=weight, pos_weight=pos_weight, reduction=red),
          args={"reduction": red}, grad=["input"], g=g)
    C("bce_with_logits.pos_weight_only", "binary_cross_entropy_with_logits",
      {"input": R(2, 3, scale=20.0), "target": g.uniform(2, 3), "pos_weight": g.uniform(3, lo=0.5,
                                                                                        hi=3.0)},
      lambda input, target, pos_weight: F.binary_cross_entropy_with_logits(
          input, target, pos_weight=pos_weight),
      args={"reduction": "mean"}, grad=["input"], g=g)

    for red in ("mean", "sum", "none", "batchmean"):
        for log_target in (False, True):
            inp = torch.log_softmax(R(3, 5), 1)
            tp = torch.softmax(R(3, 5), 1)
            target = tp.log() if log_target else tp
            C(f"kl_div.{red}.{'log' if log_target else 'prob'}", "kl_div",
              {"input": inp, "target": target},
              lambda input, target, red=red, lt=log_target: F.kl_div(
                  input, target, reduction=red, log_target=lt),
              args={"reduction": red, "log_target": log_target}, grad=["input"], g=g)

    # dropout without randomness: evaluation mode, and p = 0 when training.
    C("dropout.eval", "dropout", {"a": R(3, 4)}, lambda a: F.dropout(a, 0.5, training=False),
      args={"p": 0.5, "training": False}, g=g)
    C("dropout.p0", "dropout", {"a": R(3, 4)}, lambda a: F.dropout(a, 0.0, training=True),
      args={"p": 0.0, "training": True}, g=g)
    return fam


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for make in (elementwise, activation, reduce, matmul, shape, index, loss):
        total += make().write()
    print(f"torch {torch.__version__}: {total} bytes in all")
    if total > 1_000_000:
        sys.exit("record.py: the vectors exceed 1 MB; make the cases smaller")


if __name__ == "__main__":
    main()
