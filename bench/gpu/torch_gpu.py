"""torch_gpu.py: PyTorch Lightning's side of bench/gpu — the models of
bench/gpu/gpu_train.c trained by Lightning's Trainer on cuda:0, eager or
through torch.compile, timed the same way:

  cnn: the Fashion-MNIST CNN of issue 9 (conv 1->32 3x3 pad 1, ReLU, max-pool
       2; conv 32->64, ReLU, max-pool 2; Linear 3136->128, ReLU; Linear
       128->10) at batch 512, SGD lr 0.02 momentum 0.9, precision 32-true
       (torch's default: no TF32, as volt);
  gpt: nanoGPT's GPT-2 small (12 layers, 768 wide, 12 heads, block 1024,
       vocabulary 50257, bias, no dropout, head tied to the token embedding,
       F.scaled_dot_product_attention with is_causal) at batch 8, AdamW lr
       6e-4, betas (0.9, 0.95), weight decay 0.1 on the 2-D weights (fused
       AdamW, as nanoGPT on CUDA), precision bf16-mixed.

Random inputs of the right shapes in host memory (TensorDataset, DataLoader
with pin_memory, no workers), checkpointing, logger, progress bar and model
summary off. Steps warmup .. warmup+steps-1 are timed with the device
synchronised at both ends (warmup covers torch.compile's compilation).

  python torch_gpu.py --model cnn|gpt [--compile] [--steps 50] [--warmup 10]
                      [--layers 12] [--vocab 50257] [--profile]

Prints one JSON line with gpu_train.c's keys (ms_per_step, samples_per_s,
tokens_per_s, peak_gpu_mb = torch.cuda.max_memory_allocated,
reserved_gpu_mb, params, loss). --profile (the counterpart of gpu_train's
kernels=1) records the timed steps with torch.profiler and prints a second
line: the GPU kernels by self time per step. Not a test.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import lightning as L

BLOCK = 1024


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class Block(nn.Module):
    def __init__(self, e, h):
        super().__init__()
        self.h = h
        self.ln_1, self.ln_2 = nn.LayerNorm(e), nn.LayerNorm(e)
        self.c_attn, self.attn_proj = nn.Linear(e, 3 * e), nn.Linear(e, e)
        self.c_fc, self.mlp_proj = nn.Linear(e, 4 * e), nn.Linear(4 * e, e)

    def forward(self, x):
        b, t, e = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(e, dim=2)
        q, k, v = (z.view(b, t, self.h, e // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(b, t, e))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, layers, vocab):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, 768), nn.Embedding(BLOCK, 768)
        self.blocks = nn.ModuleList(Block(768, 12) for _ in range(layers))
        self.ln_f = nn.LayerNorm(768)
        self.lm_head = nn.Linear(768, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class Module(L.LightningModule):
    def __init__(self, model, gpt):
        super().__init__()
        self.model, self.gpt = model, gpt

    def training_step(self, batch, i):
        x, y = batch
        logits = self.model(x)
        return F.cross_entropy(logits.flatten(0, -2) if self.gpt else logits, y.flatten())

    def configure_optimizers(self):
        if not self.gpt:
            return torch.optim.SGD(self.parameters(), lr=0.02, momentum=0.9)
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=6e-4, betas=(0.9, 0.95), fused=True)


class StepTimer(L.Callback):
    def __init__(self, first, last, profile):
        self.first, self.last, self.t0, self.t1, self.loss = first, last, 0.0, 0.0, math.nan
        self.prof = torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CUDA]) if profile else None

    def on_train_batch_start(self, trainer, module, batch, i):
        if i == self.first:
            torch.cuda.synchronize()
            self.t0 = time.perf_counter()
            if self.prof:
                self.prof.__enter__()

    def on_train_batch_end(self, trainer, module, outputs, batch, i):
        if i == self.last:
            torch.cuda.synchronize()
            self.t1 = time.perf_counter()
            if self.prof:
                self.prof.__exit__(None, None, None)
            self.loss = float(outputs["loss"])


def kernel_profile(prof, steps):
    """The GPU kernels of prof by self time, in ms and calls per step."""
    rows = []
    for e in prof.key_averages():
        us = getattr(e, "self_device_time_total", None)
        us = e.self_cuda_time_total if us is None else us
        if us > 0:
            rows.append({"name": e.key[:90], "ms": round(us / 1e3 / steps, 3),
                         "calls": round(e.count / steps, 1)})
    rows.sort(key=lambda r: -r["ms"])
    return {"gpu_ms": round(sum(r["ms"] for r in rows), 3), "kernels": rows[:40]}


def random_data(gpt, n, vocab):
    g = torch.Generator().manual_seed(42)
    if gpt:
        tokens = torch.randint(0, vocab, (n, BLOCK + 1), generator=g)
        return torch.utils.data.TensorDataset(tokens[:, :-1].contiguous(),
                                              tokens[:, 1:].contiguous())
    return torch.utils.data.TensorDataset(torch.rand(n, 1, 28, 28, generator=g),
                                          torch.randint(0, 10, (n,), generator=g))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["cnn", "gpt"], default="cnn")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    gpt = a.model == "gpt"
    batch = 8 if gpt else 512
    torch.manual_seed(42)
    model = GPT(a.layers, a.vocab) if gpt else CNN()
    params = sum(p.numel() for p in model.parameters())
    if a.compile:
        model = torch.compile(model)
    module = Module(model, gpt)
    loader = torch.utils.data.DataLoader(random_data(gpt, (a.warmup + a.steps) * batch, a.vocab),
                                         batch_size=batch, pin_memory=True)
    timer = StepTimer(a.warmup, a.warmup + a.steps - 1, a.profile)
    trainer = L.Trainer(accelerator="gpu", devices=1, precision="bf16-mixed" if gpt else "32-true",
                        max_epochs=1, limit_train_batches=a.warmup + a.steps,
                        enable_checkpointing=False, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, loader)
    ms = (timer.t1 - timer.t0) * 1e3 / a.steps
    print(json.dumps({
        "impl": "lightning-compile" if a.compile else "lightning", "model": a.model,
        "precision": trainer.precision, "vocab": a.vocab, "layers": a.layers, "batch": batch, "steps": a.steps, "warmup": a.warmup,
        "params": params, "ms_per_step": round(ms, 4),
        "samples_per_s": round(batch * 1e3 / ms, 1),
        "tokens_per_s": round(batch * BLOCK * 1e3 / ms, 1) if gpt else 0.0,
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
        "reserved_gpu_mb": round(torch.cuda.max_memory_reserved() / 2**20, 1),
        "loss": round(timer.loss, 4), "torch": torch.__version__, "lightning": L.__version__,
        "gpu": torch.cuda.get_device_name(0)}))
    if timer.prof:
        print(json.dumps(kernel_profile(timer.prof, a.steps)))


if __name__ == "__main__":
    main()
