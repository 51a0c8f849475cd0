"""torch_compare.py: the PyTorch and PyTorch Lightning side of bench/compare.

Trains the same two models as compare.c (volt's side) on the same
Fashion-MNIST files, with the same batch size, optimizer, epochs, seed and
thread count, and prints one JSON line with the same fields:

  mlp: Linear 784->512, ReLU, Linear 512->256, ReLU, Linear 256->10;
       SGD lr 0.05 momentum 0.9, batch 128, 3 epochs
  cnn: Conv2d 1->32 3x3 pad 1, ReLU, MaxPool 2; Conv2d 32->64 3x3 pad 1,
       ReLU, MaxPool 2; Linear 3136->128, ReLU; Linear 128->10;
       SGD lr 0.02 momentum 0.9, batch 128, 2 epochs

Data: the four IDX files are read with gzip + numpy once, into uint8
tensors (no torchvision). Batches come from a torch DataLoader with
num_workers=0 over a dataset that gathers a whole batch at once
(batch_size=None with a BatchSampler over a RandomSampler, reshuffled each
epoch) and converts it to float32 / 255 -- the cheapest idiomatic input
pipeline, used by both the plain loop and Lightning. No validation set: all
60,000 training images are trained on; the test accuracy is over the
10,000 test images.

Usage: python torch_compare.py --impl torch|lightning --model mlp|cnn
           [--mode off|defaults] [--epochs N] [--limit N] [--threads 2]
           [--seed 42] [--data DIR] [--precision 32-true|bf16-mixed|bf16-true]
--precision applies to Lightning: Trainer(precision=...); bf16-mixed runs the
steps under torch.autocast("cpu", dtype=torch.bfloat16); bf16-true casts the
module and the input batches to bfloat16.
--mode applies to Lightning: off = Trainer(enable_checkpointing=False,
logger=False, enable_progress_bar=False, enable_model_summary=False);
defaults = Trainer() with those left at their defaults (files go to the
current directory).

Output fields: first_step_unix (time.time() at the start of the first
training step), epoch_s (each training epoch: the plain loop's epoch,
Lightning's on_train_epoch_start to on_train_epoch_end), epoch_cpu_s (the
process's CPU time, all threads, over the same spans), fit_s, test_acc,
vm_hwm_kb (peak RSS from /proc/self/status), blas (mapped BLAS libraries),
versions.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from openblas_core import core_name as openblas_core_name  # noqa: E402

BATCH = 128
SETTINGS = {"mlp": {"lr": 0.05, "epochs": 3}, "cnn": {"lr": 0.02, "epochs": 2}}


# ------------------------------------------------------------------- data

def read_idx(path):
    """An IDX file (gzip'd or not) as a numpy array, read into place."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        magic = f.read(4)
        ndim = magic[3]
        dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        out = np.empty(dims, dtype=np.uint8)
        if f.readinto(memoryview(out).cast("B")) != out.size:
            raise SystemExit(f"torch_compare: {path}: truncated")
    return out


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"torch_compare: no {stem}[.gz] in {data_dir}")


class BatchDataset(torch.utils.data.Dataset):
    """uint8 images and int64 labels; item = a whole batch of indices."""

    def __init__(self, data_dir, split, images):
        x = read_idx(find(data_dir, f"{split}-images-idx3-ubyte"))
        y = read_idx(find(data_dir, f"{split}-labels-idx1-ubyte"))
        shape = (-1, 1, 28, 28) if images else (-1, 784)
        self.x = torch.from_numpy(x).reshape(shape)
        self.y = torch.from_numpy(y).long()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        idx = torch.as_tensor(idx)
        return self.x[idx].float().div_(255), self.y[idx]


def loader(ds, shuffle, seed):
    base = (torch.utils.data.RandomSampler(ds, generator=torch.Generator().manual_seed(seed))
            if shuffle else torch.utils.data.SequentialSampler(ds))
    batches = torch.utils.data.BatchSampler(base, BATCH, drop_last=False)
    return torch.utils.data.DataLoader(ds, batch_size=None, sampler=batches, num_workers=0)


# ----------------------------------------------------------------- models

def make_net(model):
    if model == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


# ------------------------------------------------------------- the loops

def plain_loop(args, net, train_dl, test_dl):
    opt = torch.optim.SGD(net.parameters(), lr=SETTINGS[args.model]["lr"], momentum=0.9)
    first, epochs, cpu = None, [], []
    fit0 = time.perf_counter()
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        net.train()
        for i, (x, y) in enumerate(train_dl):
            if args.limit and i >= args.limit:
                break
            if first is None:
                first = time.time()
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        epochs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    fit_s = time.perf_counter() - fit0
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in test_dl:
            correct += int((net(x).argmax(1) == y).sum())
            total += len(y)
    return {"first_step_unix": first, "epoch_s": epochs, "epoch_cpu_s": cpu, "fit_s": fit_s,
            "test_acc": correct / total}


def shard_imports():
    try:
        import torch.distributed._shard.sharded_tensor  # noqa: F401
        return True
    except (ImportError, ValueError):
        return False


SHARD_IMPORTS = None


def lightning_loop(args, net, train_dl, test_dl):
    global SHARD_IMPORTS
    import pytorch_lightning as pl

    SHARD_IMPORTS = shard_imports()

    class Lit(pl.LightningModule):
        def _register_sharded_tensor_state_dict_hooks_if_available(self):
            # Debian's torch 1.13 cannot import torch.distributed._shard on
            # Python 3.11 (a dataclass with a mutable default); the hooks
            # only matter for ShardedTensors, which one CPU process never has.
            if SHARD_IMPORTS:
                super()._register_sharded_tensor_state_dict_hooks_if_available()

        def __init__(self):
            super().__init__()
            self.net = net
            self.first = None

        def training_step(self, batch, batch_idx):
            if self.first is None:
                self.first = time.time()
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.log("train_loss", loss, prog_bar=True)
            return loss

        def test_step(self, batch, batch_idx):
            x, y = batch
            self.log("test_acc", (self.net(x).argmax(1) == y).float().mean())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=SETTINGS[args.model]["lr"],
                                   momentum=0.9)

    class EpochTimer(pl.Callback):
        def __init__(self):
            self.start, self.cpu_start, self.epochs, self.cpu = 0.0, 0.0, [], []

        def on_train_epoch_start(self, trainer, module):
            self.start, self.cpu_start = time.perf_counter(), time.process_time()

        def on_train_epoch_end(self, trainer, module):
            self.epochs.append(time.perf_counter() - self.start)
            self.cpu.append(time.process_time() - self.cpu_start)

    timer = EpochTimer()
    # the CPU, as volt's side (on a GPU machine "auto" would pick the GPU)
    kw = {"accelerator": "cpu", "max_epochs": args.epochs, "callbacks": [timer],
          "precision": args.precision,
          "limit_train_batches": args.limit if args.limit else 1.0}
    if args.mode == "off":
        kw.update(enable_checkpointing=False, logger=False, enable_progress_bar=False,
                  enable_model_summary=False)
    trainer = pl.Trainer(**kw)
    lit = Lit()
    fit0 = time.perf_counter()
    trainer.fit(lit, train_dataloaders=train_dl)
    fit_s = time.perf_counter() - fit0
    res = trainer.test(lit, dataloaders=test_dl, verbose=args.mode == "defaults")
    return {"first_step_unix": lit.first, "epoch_s": timer.epochs, "epoch_cpu_s": timer.cpu,
            "fit_s": fit_s,
            "test_acc": res[0]["test_acc"], "lightning": pl.__version__,
            "sharded_tensor_hooks": SHARD_IMPORTS}


# ------------------------------------------------------------ the process

def vm_hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def mapped_blas():
    """Mapped files whose name holds blas, lapack or mkl (as mapped, and the
    file a symlink in the path leads to)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "/" in line}
    names = ("blas", "lapack", "mkl")
    found = {p for p in paths if any(n in os.path.basename(p) for n in names)}
    return sorted(found | {os.path.realpath(p) for p in found})


def openblas_core(blas):
    """The kernels the mapped OpenBLAS picked (openblas_get_corename), or
    None without OpenBLAS."""
    lib = next((p for p in blas if "libopenblas" in os.path.basename(p)), None)
    return openblas_core_name(lib) if lib else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impl", choices=("torch", "lightning"), required=True)
    ap.add_argument("--model", choices=("mlp", "cnn"), required=True)
    ap.add_argument("--mode", choices=("off", "defaults"), default="off")
    ap.add_argument("--epochs", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="training batches per epoch; 0: all")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--precision", choices=("32-true", "bf16-mixed", "bf16-true"),
                    default="32-true")
    args = ap.parse_args()
    if args.impl == "torch" and args.precision != "32-true":
        ap.error("--precision applies to --impl lightning")
    args.epochs = args.epochs or SETTINGS[args.model]["epochs"]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images = args.model == "cnn"
    train_dl = loader(BatchDataset(args.data, "train", images), True, args.seed)
    test_dl = loader(BatchDataset(args.data, "t10k", images), False, args.seed)
    net = make_net(args.model)
    run = plain_loop if args.impl == "torch" else lightning_loop
    out = {"impl": args.impl, "model": args.model,
           "mode": args.mode if args.impl == "lightning" else "plain", "epochs": args.epochs,
           "limit": args.limit, "threads": torch.get_num_threads(), "precision": args.precision,
           "params": sum(p.numel() for p in net.parameters())}
    out.update(run(args, net, train_dl, test_dl))
    out.update({"vm_hwm_kb": vm_hwm_kb(), "torch": torch.__version__,
                "torch_path": os.path.dirname(torch.__file__), "numpy": np.__version__,
                "python": sys.version.split()[0], "blas": mapped_blas()})
    out["blas_core"] = openblas_core(out["blas"])
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
