"""torch_gpt.py: PyTorch's side of bench/gpt — the character-level GPT of
bench/gpt/gpt_cpu.c, written as nanoGPT writes it in torch 1.13 ops (the
layout tests/parity/record_gpt.py checks volt's model against: token and
position embeddings, pre-norm blocks of causal self-attention — c_attn,
q k^T / sqrt(d), a registered tril mask, softmax, @ v, c_proj, since torch
1.13 has no scaled_dot_product_attention — and an MLP of c_fc, tanh GELU and
c_proj, a final LayerNorm, the head tied to the token embedding), 4 layers,
n_embd 128, 4 heads, block 64, bias, no dropout, nanoGPT's initialisation,
and trained by a plain loop: zero_grad(set_to_none=True), forward,
F.cross_entropy over [B * T, V], backward, AdamW step (lr 1e-3, betas
(0.9, 0.95), weight decay 0.1 on the 2-D weights, none on the rest; torch's
default single-tensor implementation).

Same data as gpt_cpu.c: the regular files of the data directory in name
order (hidden and *.dat files and symbolic links skipped), the byte
vocabulary, the first 90% for training, window j of step s starting at the
(s * batch + j)-th number of splitmix64(seed) modulo (n_train - block).

  python torch_gpt.py [--steps 200] [--warmup 20] [--threads 2] [--seed 42]
                      [--profile 0] [--data /usr/share/games/fortunes]

Prints one JSON line with the keys of gpt_cpu.c's (tokens_per_s,
ms_per_step, cpu_s, peak_rss_mb, final_loss, threads, blas, ...); with
--profile N, N more steps under torch.profiler and a second line with the
ops' self CPU time per step. Not a test.
"""
import argparse
import json
import math
import os
import resource
import stat
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH, BLOCK, LOSS_TAIL = 32, 64, 10
MASK64 = (1 << 64) - 1


# ------------------------------------------------------------------ data

def read_dir(path):
    """The bytes of the directory's regular files in name order."""
    out = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if name.startswith(".") or name.endswith(".dat"):
            continue
        if not stat.S_ISREG(os.lstat(full).st_mode):
            continue
        with open(full, "rb") as f:
            out.append(f.read())
    return b"".join(out)


def load_corpus(path):
    text = read_dir(path)
    chars = sorted(set(text))
    lookup = torch.full((256,), -1, dtype=torch.int64)
    lookup[torch.tensor(chars)] = torch.arange(len(chars))
    tokens = lookup[torch.frombuffer(bytearray(text), dtype=torch.uint8).long()]
    return tokens, len(text) - len(text) // 10, len(chars)


class Windows:
    """The windows gpt_cpu.c draws: splitmix64 starts."""

    def __init__(self, tokens, n_train, seed):
        self.tokens, self.n_train, self.state = tokens, n_train, seed
        self.offsets = torch.arange(BLOCK)

    def next_start(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return (z ^ (z >> 31)) % (self.n_train - BLOCK)

    def batch(self):
        ix = torch.tensor([self.next_start() for _ in range(BATCH)])[:, None] + self.offsets
        return self.tokens[ix], self.tokens[ix + 1]


# ----------------------------------------------------------------- model

class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head, self.n_embd = c["n_head"], c["n_embd"]
        self.c_attn = nn.Linear(self.n_embd, 3 * self.n_embd, bias=c["bias"])
        self.c_proj = nn.Linear(self.n_embd, self.n_embd, bias=c["bias"])
        t = c["block_size"]
        self.register_buffer("bias", torch.tril(torch.ones(t, t)).view(1, 1, t, t))

    def forward(self, x):
        b, t, e = x.shape
        h = self.n_head
        q, k, v = self.c_attn(x).split(e, dim=2)
        q, k, v = (z.view(b, t, h, e // h).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(e // h))
        att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
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
        self.ln_1 = nn.LayerNorm(c["n_embd"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = nn.LayerNorm(c["n_embd"])
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
            ln_f=nn.LayerNorm(c["n_embd"]),
        ))
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c["n_layer"]))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx):
        pos = torch.arange(0, idx.shape[1], dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def make_adamw(model):
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95))


# ------------------------------------------------------------------ loop

def train_step(model, opt, data, vocab):
    x, y = data.batch()
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits.view(-1, vocab), y.view(-1))
    loss.backward()
    opt.step()
    return loss.item()


def run_steps(model, opt, data, vocab, n):
    losses = [train_step(model, opt, data, vocab) for _ in range(n)]
    return sum(losses[-LOSS_TAIL:]) / LOSS_TAIL if losses else 0.0


def mapped_blas():
    """Mapped files whose name holds blas, lapack or mkl."""
    found = []
    with open("/proc/self/maps") as f:
        for line in f:
            path = line[line.find("/"):].strip() if "/" in line else ""
            base = os.path.basename(path)
            if any(k in base for k in ("blas", "lapack", "mkl")) and path not in found:
                found.append(path)
    return found


def profile(model, opt, data, vocab, n):
    from torch.profiler import ProfilerActivity
    with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
        run_steps(model, opt, data, vocab, n)
    ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    return {"impl": "torch", "profile_steps": n,
            "ops": [{"op": e.key, "self_ms": e.self_cpu_time_total / 1e3 / n,
                     "calls": e.count / n} for e in ops[:25]]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--profile", type=int, default=0)
    ap.add_argument("--data", default="/usr/share/games/fortunes")
    args = ap.parse_args()
    if args.steps < LOSS_TAIL:
        sys.exit(f"torch_gpt: --steps must be >= {LOSS_TAIL}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokens, n_train, vocab = load_corpus(args.data)
    model = GPT(dict(vocab_size=vocab, block_size=BLOCK, n_layer=4, n_head=4, n_embd=128,
                     bias=True))
    opt = make_adamw(model)
    data = Windows(tokens, n_train, args.seed)
    run_steps(model, opt, data, vocab, args.warmup)
    w0, c0 = time.perf_counter(), time.process_time()
    loss = run_steps(model, opt, data, vocab, args.steps)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    out = {"impl": "torch", "steps": args.steps, "warmup": args.warmup, "batch": BATCH,
           "block": BLOCK, "vocab": vocab, "params": sum(p.numel() for p in model.parameters()),
           "threads": torch.get_num_threads(), "seed": args.seed,
           "tokens_per_s": args.steps * BATCH * BLOCK / wall,
           "ms_per_step": 1e3 * wall / args.steps, "cpu_s": cpu,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
           "final_loss": loss, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
           "torch": torch.__version__, "blas": mapped_blas()}
    print(json.dumps(out), flush=True)
    if args.profile > 0:
        print(json.dumps(profile(model, opt, data, vocab, args.profile)), flush=True)


if __name__ == "__main__":
    main()
