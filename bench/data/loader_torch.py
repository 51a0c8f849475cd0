"""loader_torch.py: the data benchmark, PyTorch's side (bench/data/run.sh runs
it beside bench_data_loader). The same work as bench/data/loader.c: a shuffled
torch.utils.data.DataLoader over the 60,000 Fashion-MNIST training images
(read with gzip + numpy, kept as uint8), batch 128, 0, 1 and 2 workers,
without and with augmentation written with torch ops per item, as
torchvision's transforms do it (ToTensor = u8 / 255, RandomCrop(28,
padding=4), RandomHorizontalFlip(0.5), Normalize(0.2860, 0.3530),
RandomErasing(0.5)). Each figure is the best of `epochs` whole epochs, timed
from iter() (workers start) to the end. Also, without augmentation,
"torch_batched": a dataset indexed by whole batches (one gather per batch),
the fastest PyTorch way. Prints one JSON line per figure.
Usage: loader_torch.py [data_dir] [epochs]
"""
import gzip
import json
import math
import sys
import time

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler


def read_idx(path, ndim):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy())


def random_erasing(x, scale=(0.02, 0.33), ratio=(0.3, 3.3)):
    _, h, w = x.shape
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        erase_area = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect = math.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1]).item())
        eh = int(round(math.sqrt(erase_area * aspect)))
        ew = int(round(math.sqrt(erase_area / aspect)))
        if not (eh < h and ew < w):
            continue
        i = torch.randint(0, h - eh + 1, (1,)).item()
        j = torch.randint(0, w - ew + 1, (1,)).item()
        x[:, i:i + eh, j:j + ew] = 0
        return x
    return x


class FashionMNIST(Dataset):
    def __init__(self, images, labels, augment):
        self.images, self.labels, self.augment = images, labels, augment

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i].unsqueeze(0).float().div(255)
        if self.augment:
            x = torch.nn.functional.pad(x, (4, 4, 4, 4))
            top = torch.randint(0, 9, (1,)).item()
            left = torch.randint(0, 9, (1,)).item()
            x = x[:, top:top + 28, left:left + 28]
            if torch.rand(1).item() < 0.5:
                x = x.flip(-1)
            x = (x - 0.2860) / 0.3530
            if torch.rand(1).item() < 0.5:
                x = random_erasing(x.clone())
        return x, int(self.labels[i])


class FashionMNISTBatches(Dataset):
    """Indexed by a whole batch of indices (a BatchSampler): one gather and one
    conversion per batch, PyTorch's fastest way without augmentation."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, indices):
        idx = torch.as_tensor(indices)
        return self.images[idx].unsqueeze(1).float().div(255), self.labels[idx].long()


def time_epochs(loader, epochs):
    best, batches = float("inf"), 0
    for _ in range(epochs):
        t0 = time.perf_counter()
        batches = 0
        for x, y in loader:
            batches += 1
        best = min(best, time.perf_counter() - t0)
    assert x.shape[1:] == (1, 28, 28) and y.dtype == torch.int64
    return batches, best


def report(impl, augment, workers, batches, best):
    print(json.dumps({"bench": "data.loader", "impl": impl, "augment": augment,
                      "workers": workers, "batch_size": 128, "batches": batches,
                      "batches_per_s": round(batches / best, 1), "torch": torch.__version__}),
          flush=True)


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    images = read_idx(f"{data_dir}/train-images-idx3-ubyte.gz", 3)
    labels = read_idx(f"{data_dir}/train-labels-idx1-ubyte.gz", 1)
    for augment in (False, True):
        for workers in (0, 1, 2):
            extra = {"prefetch_factor": 2} if workers else {}
            loader = DataLoader(FashionMNIST(images, labels, augment), batch_size=128,
                                shuffle=True, num_workers=workers,
                                generator=torch.Generator().manual_seed(1), **extra)
            report("torch", augment, workers, *time_epochs(loader, epochs))
    for workers in (0, 1, 2):
        extra = {"prefetch_factor": 2} if workers else {}
        sampler = BatchSampler(RandomSampler(labels, generator=torch.Generator().manual_seed(1)),
                               batch_size=128, drop_last=False)
        loader = DataLoader(FashionMNISTBatches(images, labels), batch_size=None,
                            sampler=sampler, num_workers=workers, **extra)
        report("torch_batched", False, workers, *time_epochs(loader, epochs))


if __name__ == "__main__":
    main()
