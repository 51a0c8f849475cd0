#!/usr/bin/env python3
"""record_gpt.py: records PyTorch reference vectors for volt's built-in GPT
(src/train/models/gpt.c) into tests/parity/vectors/gpt.safetensors, which
tests/train/test_gpt.c replays.

The model is nanoGPT's GPT written here with torch 1.13 ops: token and
position embeddings, pre-norm blocks (LayerNorm with an optional bias,
causal self-attention from c_attn / c_proj with the mask of torch.tril, an
MLP of c_fc, GELU with the tanh approximation and c_proj), a final
LayerNorm and a head tied to the token embedding (lm_head.weight is
transformer.wte.weight; it is not recorded twice). No dropout. Every
parameter is overwritten with seeded random values (N(0, 0.3); LayerNorm
weights around 1), so that the gradients are far from zero; the loss is
the mean cross entropy of the logits [B * T, V] against the next tokens.

  tensors   <case>/p.<name>     every parameter (volt's = nanoGPT's names)
            <case>/x, <case>/y  tokens [B, T] and targets [B, T] (i64)
            <case>/logits       [B, T, V]
            <case>/loss         0-d
            <case>/grad.<name>  the gradient of the loss for each parameter
  metadata  "format": "volt-parity-1", "family": "gpt", "torch_version",
            <case>: JSON {"config": {vocab_size, block_size, n_layer, n_head,
            n_embd, bias}, "params": [names]}

Deterministic (a generator per case seeded by the CRC-32 of its name, one
thread; record.py's writer), so re-running gives a byte-identical file.

Run with Debian's torch:  /usr/bin/python3 tests/parity/record_gpt.py
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record  # noqa: E402  (sets one thread, deterministic)
from record import Family, Gen  # noqa: E402


class LayerNorm(nn.Module):
    def __init__(self, n, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head, self.n_embd = c["n_head"], c["n_embd"]
        self.c_attn = nn.Linear(self.n_embd, 3 * self.n_embd, bias=c["bias"])
        self.c_proj = nn.Linear(self.n_embd, self.n_embd, bias=c["bias"])

    def forward(self, x):
        b, t, e = x.shape
        h = self.n_head
        q, k, v = self.c_attn(x).split(e, dim=2)
        q, k, v = (z.view(b, t, h, e // h).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(e // h))
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, e)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = LayerNorm(c["n_embd"], c["bias"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = LayerNorm(c["n_embd"], c["bias"])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab_size"], c["n_embd"]),
            wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
            ln_f=LayerNorm(c["n_embd"], c["bias"]),
        ))
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying

    def forward(self, idx):
        t = idx.shape[1]
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def case(fam, name, config, batch, seq):
    g = Gen(name)
    torch.manual_seed(0)
    model = GPT(config)
    names = [n for n, _ in model.named_parameters()]  # the tied weight once
    assert "lm_head.weight" not in names
    with torch.no_grad():
        for n, p in model.named_parameters():
            is_ln = ".ln_" in n or n.startswith("transformer.ln_f")
            if is_ln and n.endswith(".weight"):
                p.copy_(g.uniform(*p.shape, lo=0.7, hi=1.3))
            else:
                p.copy_(g.randn(*p.shape, scale=0.3))
    x = g.randint(0, config["vocab_size"], batch, seq)
    y = g.randint(0, config["vocab_size"], batch, seq)
    logits = model(x)
    loss = F.cross_entropy(logits.view(-1, config["vocab_size"]), y.view(-1))
    loss.backward()
    for n, p in model.named_parameters():
        fam.add(f"{name}/p.{n}", p)
    fam.add(f"{name}/x", x)
    fam.add(f"{name}/y", y)
    fam.add(f"{name}/logits", logits)
    fam.add(f"{name}/loss", loss)
    for n, p in model.named_parameters():
        fam.add(f"{name}/grad.{n}", p.grad)
    fam.cases.add(name)
    fam.meta[name] = json.dumps({"config": config, "params": names}, separators=(",", ":"))


def main():
    fam = Family("gpt")
    case(fam, "gpt_bias", dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16,
                               bias=True), batch=2, seq=8)
    case(fam, "gpt_no_bias", dict(vocab_size=11, block_size=8, n_layer=1, n_head=3, n_embd=12,
                                  bias=False), batch=3, seq=6)
    fam.write()


if __name__ == "__main__":
    main()
