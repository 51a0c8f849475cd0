#!/usr/bin/env python3
"""record_layers.py: records PyTorch reference vectors for volt's layers
(include/volt/nn.h; DESIGN.md §8) into tests/parity/vectors/layers.safetensors,
which tests/nn/test_layer_parity.c replays.

Each case builds a torch.nn layer with a few options set (Conv2d with stride,
padding, dilation, groups and "same"; ConvTranspose2d with output_padding;
MaxPool2d with ceil_mode and dilation; AvgPool2d with count_include_pad
False; AdaptiveAvgPool2d with sizes that do not divide; BatchNorm in train
mode, recording the updated running statistics, and in eval mode; Embedding
with padding_idx; MultiheadAttention batch_first with and without a causal
mask; ...), overwrites every parameter with seeded random values (norm
weights around 1), runs it in float32 on seeded inputs, back-propagates a
fixed random upstream gradient, and records:

  tensors   <case>/p.<name>     every state_dict entry before the forward
                                (parameters and buffers, PyTorch's names)
            <case>/<input>      the inputs ("x"; Bilinear "x1", "x2";
                                Embedding "x" holds i64 indices)
            <case>/out          the output
            <case>/gout         the upstream gradient of the output
            <case>/grad_<input> the gradient of each floating input
            <case>/grad.<name>  the gradient of each parameter
            <case>/after.<name> each buffer after the forward (BatchNorm's
                                running statistics and num_batches_tracked)
  metadata  "format": "volt-parity-1", "family": "layers", "torch_version",
            <case>: JSON {"layer": volt's type name, "config": {the layer's
            hyperparameters, see each function below}, "inputs": [...],
            "params": [...], "buffers": [...], "train": training mode}

RMSNorm is not in torch 1.13 (it arrived in 2.4): it is recorded from its
formula written with torch ops, y = x / sqrt(mean(x^2 over the normalized
dims) + eps) * weight, with eps None meaning torch.finfo(x.dtype).eps, as
torch.nn.RMSNorm defines it. MultiheadAttention's causal mask is torch 1.13's
attn_mask = triu(ones(T, T), 1).bool() with need_weights=False.

Deterministic (a generator per case seeded by the CRC-32 of its name, one
thread; record.py's writer), so re-running gives a byte-identical file.

Run with Debian's torch:  /usr/bin/python3 tests/parity/record_layers.py
"""
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record  # noqa: E402  (sets one thread, deterministic)
from record import Family, Gen  # noqa: E402

LIMIT = 400_000


class RMSNorm(nn.Module):
    """torch.nn.RMSNorm (torch >= 2.4) from its formula."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True):
        super().__init__()
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        else:
            self.register_parameter("weight", None)

    def forward(self, x):
        dims = tuple(range(-len(self.normalized_shape), 0))
        eps = self.eps if self.eps is not None else torch.finfo(x.dtype).eps
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        return y * self.weight if self.weight is not None else y


class CausalMHA(nn.Module):
    """MultiheadAttention(batch_first=True) as self-attention, optionally causal;
    the parameters are the inner module's, named as in its state dict."""

    def __init__(self, embed_dim, num_heads, bias=True, causal=False, dropout=0.0):
        super().__init__()
        self.mha = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True,
                                         dropout=dropout)
        self.causal = causal

    def forward(self, x):
        mask = None
        if self.causal:
            t = x.shape[-2]
            mask = torch.triu(torch.ones(t, t), 1).bool()
        return self.mha(x, x, x, attn_mask=mask, need_weights=False)[0]


def randomize(module, g, norm_weights=False):
    """Seeded values for every parameter (norm weights around 1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            v = g.randn(tuple(p.shape), scale=0.5)
            if norm_weights and name.endswith("weight"):
                v = 1.0 + 0.3 * v
            p.copy_(v)


def layer_case(fam, name, layer, config, module, inputs, train=True, g=None,
               norm_weights=False, buffers=None):
    """Records one case. module: a torch module whose state_dict names are
    volt's; inputs: ordered {role: tensor}; buffers: {name: value} set before
    the forward (running statistics)."""
    assert name not in fam.cases, name
    assert "/" not in name
    fam.cases.add(name)
    g = g or Gen(name)
    randomize(module, g, norm_weights)
    with torch.no_grad():
        for bname, v in (buffers or {}).items():
            module.get_buffer(bname).copy_(v)
    module.train(train)
    sd = {k: v.detach().clone() for k, v in module.state_dict().items()}
    params = [k for k, _ in module.named_parameters()]
    bufs = [k for k in sd if k not in params]
    leaves = {}
    for role, t in inputs.items():
        x = t.detach().clone()
        if x.is_floating_point():
            x.requires_grad_(True)
        leaves[role] = x
    out = module(*leaves.values())
    gout = torch.randn(out.shape, generator=g.g, dtype=out.dtype)
    out.backward(gout)
    for k, v in sd.items():
        fam.add(f"{name}/p.{k}", v)
    for role, t in inputs.items():
        fam.add(f"{name}/{role}", t)
    fam.add(f"{name}/out", out.detach())
    fam.add(f"{name}/gout", gout)
    for role, x in leaves.items():
        if x.requires_grad:
            fam.add(f"{name}/grad_{role}", x.grad)
    named = dict(module.named_parameters())
    for k in params:
        gr = named[k].grad
        fam.add(f"{name}/grad.{k}", gr if gr is not None else torch.zeros_like(named[k]))
    after = module.state_dict()
    for k in bufs:
        fam.add(f"{name}/after.{k}", after[k])
    spec = {"layer": layer, "config": record.encode(config), "inputs": list(inputs),
            "params": params, "buffers": bufs, "train": train}
    fam.meta[name] = json.dumps(spec, separators=(",", ":"))


# ------------------------------------------------------------ basic layers

def basic(fam):
    # Linear: config {in, out, bias}
    for cname, shape, inf, outf, bias in [("linear.bias", (4, 5), 5, 3, True),
                                          ("linear.no_bias", (4, 5), 5, 3, False),
                                          ("linear.3d", (2, 3, 6), 6, 4, True),
                                          ("linear.1d", (7,), 7, 2, True)]:
        g = Gen(cname)
        layer_case(fam, cname, "Linear", {"in": inf, "out": outf, "bias": bias},
                   nn.Linear(inf, outf, bias=bias), {"x": g.randn(*shape)}, g=g)

    # Bilinear: config {in1, in2, out, bias}
    for cname, lead, bias in [("bilinear.bias", (5,), True), ("bilinear.no_bias", (2, 3), False)]:
        g = Gen(cname)
        layer_case(fam, cname, "Bilinear", {"in1": 3, "in2": 4, "out": 2, "bias": bias},
                   nn.Bilinear(3, 4, 2, bias=bias),
                   {"x1": g.randn(*lead, 3), "x2": g.randn(*lead, 4)}, g=g)

    # Embedding: config {num, dim, padding_idx (null: none)}
    for cname, pidx, idx_shape in [("embedding.plain", None, (2, 5)),
                                   ("embedding.padding_idx", 2, (3, 4)),
                                   ("embedding.padding_idx_neg", -1, (6,))]:
        g = Gen(cname)
        m = nn.Embedding(10, 4, padding_idx=pidx)
        idx = g.randint(0, 10, *idx_shape)
        if pidx is not None:  # make sure the padding row is looked up
            idx.view(-1)[0] = pidx % 10
            idx.view(-1)[-1] = pidx % 10
        g2 = Gen(cname + ".w")
        layer_case(fam, cname, "Embedding", {"num": 10, "dim": 4, "padding_idx": pidx}, m,
                   {"x": idx}, g=g2)
    g = Gen("embedding.i32")
    idx = g.randint(0, 7, 2, 3).to(torch.int32)
    layer_case(fam, "embedding.i32", "Embedding", {"num": 7, "dim": 3, "padding_idx": None},
               nn.Embedding(7, 3), {"x": idx}, g=Gen("embedding.i32.w"))

    # Dropout (deterministic: eval mode, or p = 0 while training), Flatten, Identity
    g = Gen("dropout.eval")
    layer_case(fam, "dropout.eval", "Dropout", {"p": 0.5}, nn.Dropout(0.5),
               {"x": g.randn(3, 4)}, train=False, g=g)
    g = Gen("dropout.p0")
    layer_case(fam, "dropout.p0", "Dropout", {"p": 0.0}, nn.Dropout(0.0),
               {"x": g.randn(3, 4)}, train=True, g=g)
    for cname, s, e in [("flatten.default", 1, -1), ("flatten.1_2", 1, 2),
                        ("flatten.all", 0, -1)]:
        g = Gen(cname)
        layer_case(fam, cname, "Flatten", {"start_dim": s, "end_dim": e}, nn.Flatten(s, e),
                   {"x": g.randn(2, 3, 2, 2)}, g=g)
    g = Gen("identity")
    layer_case(fam, "identity", "Identity", {}, nn.Identity(), {"x": g.randn(2, 5)}, g=g)

    # Sequential(Flatten, Linear(12, 6), Dropout(0), Linear(6, 3)): keys "1.weight", ...
    g = Gen("sequential")
    seq = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Dropout(0.0), nn.Linear(6, 3))
    layer_case(fam, "sequential", "Sequential", {}, seq, {"x": g.randn(4, 3, 4)}, g=g)


# ------------------------------------------------------------ norm layers

def norms(fam):
    # LayerNorm: config {shape, eps, affine}
    for cname, shape, xs, eps, affine in [("layernorm.last", [5], (2, 3, 5), 1e-5, True),
                                          ("layernorm.2d", [3, 4], (2, 3, 4), 1e-3, True),
                                          ("layernorm.no_affine", [6], (4, 6), 1e-5, False)]:
        g = Gen(cname)
        layer_case(fam, cname, "LayerNorm", {"shape": shape, "eps": eps, "affine": affine},
                   nn.LayerNorm(shape, eps=eps, elementwise_affine=affine),
                   {"x": g.randn(*xs, scale=2.0, shift=0.5)}, g=g, norm_weights=True)

    # GroupNorm: config {groups, channels, eps, affine}
    for cname, groups, ch, xs, eps, affine in [
            ("groupnorm.2of4", 2, 4, (2, 4, 3, 3), 1e-5, True),
            ("groupnorm.1group_3d", 1, 6, (3, 6, 5), 1e-5, True),
            ("groupnorm.instance_no_affine", 3, 3, (2, 3, 2, 4), 1e-4, False),
            ("groupnorm.2d_input", 2, 6, (4, 6), 1e-5, True)]:
        g = Gen(cname)
        layer_case(fam, cname, "GroupNorm",
                   {"groups": groups, "channels": ch, "eps": eps, "affine": affine},
                   nn.GroupNorm(groups, ch, eps=eps, affine=affine),
                   {"x": g.randn(*xs, scale=1.5, shift=-0.3)}, g=g, norm_weights=True)

    # RMSNorm (formula; not in torch 1.13): config {shape, eps (null: finfo eps), affine}
    for cname, shape, xs, eps, affine in [("rmsnorm.last", [5], (2, 3, 5), None, True),
                                          ("rmsnorm.2d", [3, 4], (2, 3, 4), 1e-5, True),
                                          ("rmsnorm.no_affine", [6], (4, 6), 1e-6, False)]:
        g = Gen(cname)
        layer_case(fam, cname, "RMSNorm", {"shape": shape, "eps": eps, "affine": affine},
                   RMSNorm(shape, eps=eps, elementwise_affine=affine),
                   {"x": g.randn(*xs, scale=1.5, shift=0.2)}, g=g, norm_weights=True)


def attention(fam):
    # MultiheadSelfAttention: config {embed_dim, num_heads, bias, causal, dropout}
    # (dropout only in eval mode, where it does nothing)
    for cname, e, h, xs, bias, causal, p in [
            ("mha.plain", 8, 2, (2, 4, 8), True, False, 0.0),
            ("mha.causal", 8, 2, (2, 5, 8), True, True, 0.0),
            ("mha.no_bias_causal", 6, 3, (2, 3, 6), False, True, 0.0),
            ("mha.one_head", 4, 1, (1, 3, 4), True, False, 0.0),
            ("mha.unbatched_causal", 8, 4, (4, 8), True, True, 0.0),
            ("mha.dropout_eval", 8, 2, (2, 3, 8), True, True, 0.4)]:
        g = Gen(cname)
        m = CausalMHA(e, h, bias=bias, causal=causal, dropout=p)
        # the wrapper's state dict prefixes "mha."; record the inner module's names
        layer_case(fam, cname, "MultiheadSelfAttention",
                   {"embed_dim": e, "num_heads": h, "bias": bias, "causal": causal,
                    "dropout": p},
                   _Unwrapped(m), {"x": g.randn(*xs)}, train=p == 0.0, g=g)


class _Unwrapped(nn.Module):
    """Presents CausalMHA's inner parameters under MultiheadAttention's own
    state-dict names (in_proj_weight, out_proj.weight, ...)."""

    def __init__(self, wrapper):
        super().__init__()
        self.in_proj_weight = wrapper.mha.in_proj_weight
        self.in_proj_bias = wrapper.mha.in_proj_bias
        self.out_proj = wrapper.mha.out_proj
        object.__setattr__(self, "_wrapper", wrapper)

    def train(self, mode=True):
        super().train(mode)
        self._wrapper.train(mode)
        return self

    def forward(self, x):
        return self._wrapper(x)


# ------------------------------------------------------------ conv layers

def conv(fam):
    # Conv1d / Conv2d / ConvTranspose2d: config {in, out, k: [kh, kw] (1d: [k]),
    # stride, padding ("same" or a list), dilation, groups, bias, output_padding}
    def c2(cname, cin, cout, k, xs, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
           bias=True):
        g = Gen(cname)
        m = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=bias)
        cfg = {"in": cin, "out": cout, "k": list(k), "stride": list(stride),
               "padding": padding if padding == "same" else list(padding),
               "dilation": list(dilation), "groups": groups, "bias": bias}
        layer_case(fam, cname, "Conv2d", cfg, m, {"x": g.randn(*xs)}, g=g)

    c2("conv2d.k3p1", 2, 3, (3, 3), (2, 2, 6, 6), padding=(1, 1))
    c2("conv2d.stride_pad_dil", 3, 4, (3, 2), (2, 3, 9, 8), stride=(2, 1), padding=(1, 0),
       dilation=(1, 2))
    c2("conv2d.groups", 4, 6, (3, 3), (2, 4, 5, 5), stride=(1, 2), padding=(1, 1), groups=2,
       bias=False)
    c2("conv2d.depthwise", 3, 3, (3, 3), (1, 3, 6, 5), padding=(1, 1), groups=3)
    c2("conv2d.same", 2, 3, (3, 3), (2, 2, 5, 6), padding="same")
    c2("conv2d.same_even_dil", 2, 2, (2, 4), (1, 2, 6, 7), padding="same", dilation=(2, 1))
    c2("conv2d.1x1", 4, 2, (1, 1), (2, 4, 3, 3))
    c2("conv2d.unbatched", 2, 3, (3, 3), (2, 5, 5), stride=(2, 2), padding=(1, 1))

    def c1(cname, cin, cout, k, xs, stride=1, padding=0, dilation=1, groups=1, bias=True):
        g = Gen(cname)
        m = nn.Conv1d(cin, cout, k, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=bias)
        cfg = {"in": cin, "out": cout, "k": [k], "stride": [stride],
               "padding": padding if padding == "same" else [padding], "dilation": [dilation],
               "groups": groups, "bias": bias}
        layer_case(fam, cname, "Conv1d", cfg, m, {"x": g.randn(*xs)}, g=g)

    c1("conv1d.k3s2p1", 2, 4, 3, (2, 2, 9), stride=2, padding=1)
    c1("conv1d.dil_groups", 4, 2, 3, (2, 4, 10), dilation=2, groups=2, bias=False)
    c1("conv1d.same", 3, 2, 4, (2, 3, 7), padding="same")
    c1("conv1d.unbatched", 2, 3, 2, (2, 6))

    def ct(cname, cin, cout, k, xs, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
           dilation=(1, 1), groups=1, bias=True):
        g = Gen(cname)
        m = nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=padding,
                               output_padding=output_padding, dilation=dilation, groups=groups,
                               bias=bias)
        cfg = {"in": cin, "out": cout, "k": list(k), "stride": list(stride),
               "padding": list(padding), "output_padding": list(output_padding),
               "dilation": list(dilation), "groups": groups, "bias": bias}
        layer_case(fam, cname, "ConvTranspose2d", cfg, m, {"x": g.randn(*xs)}, g=g)

    ct("convt2d.plain", 2, 3, (3, 3), (2, 2, 4, 4))
    ct("convt2d.stride_outpad", 3, 2, (3, 3), (2, 3, 3, 4), stride=(2, 2), padding=(1, 1),
       output_padding=(1, 0))
    ct("convt2d.groups_dil", 4, 4, (2, 3), (1, 4, 3, 3), stride=(1, 2), dilation=(2, 1),
       groups=2, bias=False, output_padding=(0, 1))
    ct("convt2d.unbatched", 2, 2, (2, 2), (2, 3, 3), stride=(2, 2))


def pools(fam):
    # MaxPool2d / AvgPool2d: config {k, stride (null: k), padding, dilation,
    # ceil_mode, count_include_pad}; inputs of distinct values (no ties)
    def mp(cname, k, xs, stride=None, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
        g = Gen(cname)
        m = nn.MaxPool2d(k, stride=stride, padding=padding, dilation=dilation,
                         ceil_mode=ceil_mode)
        cfg = {"k": list(k), "stride": list(stride) if stride else None, "padding": list(padding),
               "dilation": list(dilation), "ceil_mode": ceil_mode}
        layer_case(fam, cname, "MaxPool2d", cfg, m, {"x": g.distinct(*xs, step=0.05)}, g=g)

    mp("maxpool.k2", (2, 2), (2, 3, 6, 6))
    mp("maxpool.k3s2p1_ceil", (3, 3), (2, 2, 7, 6), stride=(2, 2), padding=(1, 1),
       ceil_mode=True)
    mp("maxpool.dilation", (3, 2), (1, 2, 8, 7), stride=(1, 2), dilation=(2, 2))
    mp("maxpool.ceil_nopad", (2, 2), (1, 2, 5, 5), ceil_mode=True)
    mp("maxpool.ceil_pad_dil", (3, 3), (1, 2, 9, 8), stride=(2, 3), padding=(1, 1),
       dilation=(2, 1), ceil_mode=True)
    mp("maxpool.unbatched", (2, 3), (2, 6, 6), stride=(2, 1), padding=(1, 1))

    def ap(cname, k, xs, stride=None, padding=(0, 0), ceil_mode=False, count_include_pad=True):
        g = Gen(cname)
        m = nn.AvgPool2d(k, stride=stride, padding=padding, ceil_mode=ceil_mode,
                         count_include_pad=count_include_pad)
        cfg = {"k": list(k), "stride": list(stride) if stride else None, "padding": list(padding),
               "ceil_mode": ceil_mode, "count_include_pad": count_include_pad}
        layer_case(fam, cname, "AvgPool2d", cfg, m, {"x": g.randn(*xs)}, g=g)

    ap("avgpool.k2", (2, 2), (2, 3, 6, 6))
    ap("avgpool.k3s2p1_include", (3, 3), (2, 2, 7, 7), stride=(2, 2), padding=(1, 1))
    ap("avgpool.k3s2p1_exclude", (3, 3), (2, 2, 7, 7), stride=(2, 2), padding=(1, 1),
       count_include_pad=False)
    ap("avgpool.ceil_include", (3, 2), (1, 2, 8, 7), stride=(2, 2), padding=(1, 1),
       ceil_mode=True)
    ap("avgpool.ceil_exclude", (3, 3), (1, 2, 6, 8), stride=(2, 2), padding=(1, 1),
       ceil_mode=True, count_include_pad=False)
    ap("avgpool.unbatched", (2, 2), (2, 5, 4), stride=(1, 2))

    # AdaptiveAvgPool2d: config {out: [h, w]}
    for cname, out, xs in [("adaptive.nondiv", (3, 2), (2, 3, 7, 5)),
                           ("adaptive.global", (1, 1), (2, 4, 5, 6)),
                           ("adaptive.upsample", (4, 5), (1, 2, 3, 3)),
                           ("adaptive.unbatched", (2, 3), (2, 5, 7))]:
        g = Gen(cname)
        layer_case(fam, cname, "AdaptiveAvgPool2d", {"out": list(out)},
                   nn.AdaptiveAvgPool2d(out), {"x": g.randn(*xs)}, g=g)


def batch_norm(fam):
    # BatchNorm1d / BatchNorm2d: config {features, eps, momentum (null:
    # cumulative average), affine, track_running_stats}; the running
    # statistics start from seeded values, num_batches_tracked from 3
    def bn(cname, layer, c, xs, train, eps=1e-5, momentum=0.1, affine=True, track=True):
        g = Gen(cname)
        cls = nn.BatchNorm2d if layer == "BatchNorm2d" else nn.BatchNorm1d
        m = cls(c, eps=eps, momentum=momentum, affine=affine, track_running_stats=track)
        bufs = None
        if track:
            bufs = {"running_mean": g.randn(c, scale=0.5),
                    "running_var": g.uniform(c, lo=0.5, hi=2.0),
                    "num_batches_tracked": torch.tensor(3)}
        cfg = {"features": c, "eps": eps, "momentum": momentum, "affine": affine,
               "track_running_stats": track}
        layer_case(fam, cname, layer, cfg, m, {"x": g.randn(*xs, scale=1.5, shift=0.4)},
                   train=train, g=g, norm_weights=True, buffers=bufs)

    bn("bn2d.train", "BatchNorm2d", 3, (4, 3, 3, 3), True)
    bn("bn2d.train_momentum_none", "BatchNorm2d", 2, (3, 2, 2, 3), True, momentum=None)
    bn("bn2d.train_no_affine", "BatchNorm2d", 3, (2, 3, 2, 2), True, affine=False, eps=1e-3,
       momentum=0.3)
    bn("bn2d.eval", "BatchNorm2d", 3, (2, 3, 3, 2), False)
    bn("bn2d.no_track_eval", "BatchNorm2d", 2, (3, 2, 2, 2), False, track=False)
    bn("bn1d.train_2d", "BatchNorm1d", 4, (5, 4), True)
    bn("bn1d.train_3d", "BatchNorm1d", 3, (2, 3, 4), True, momentum=0.2)
    bn("bn1d.eval", "BatchNorm1d", 4, (3, 4), False)
    bn("bn1d.eval_3d", "BatchNorm1d", 3, (2, 3, 5), False, eps=1e-3)
    bn("bn2d.no_track_train", "BatchNorm2d", 2, (2, 2, 3, 3), True, track=False)


def main():
    os.makedirs(record.OUT_DIR, exist_ok=True)
    fam = Family("layers")
    for make in (basic, norms, attention, conv, pools, batch_norm):
        make(fam)
    fam.meta["generator"] = "tests/parity/record_layers.py"
    size = fam.write()
    if size > LIMIT:
        sys.exit(f"record_layers.py: {size} bytes exceed {LIMIT}; make the cases smaller")


if __name__ == "__main__":
    main()
