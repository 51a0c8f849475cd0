"""layers_torch.py: the layers benchmark, PyTorch's side (see bench/layers/layers.c).

Same layers, shapes, thread count and measurement as the C side: forward +
backward (with a fixed upstream gradient, y.backward(gy)) of
  - conv1: Conv2d(1, 32, 3, padding=1) on [128, 1, 28, 28] (input needs no grad)
  - conv2: Conv2d(32, 64, 3, padding=1) on [128, 32, 14, 14] (input needs grad)
  - fc1:   Linear(784, 512) on [128, 784] (input needs no grad)
  - fc2:   Linear(512, 256) on [128, 512] (input needs grad)
  - bn:    BatchNorm2d(32), training mode, on [128, 32, 28, 28] (input needs grad)
  - relu1, relu2: ReLU on [128, 32, 28, 28] and [128, 64, 14, 14]
  - pool1, pool2: MaxPool2d(2) on the same two shapes (inputs need grad)
milliseconds per forward + backward, the median (ms) and the fastest (ms_min)
of the timed runs after warm-up, and the median of the forward alone (fwd_ms).
Prints one JSON line per layer.

Usage: python3 layers_torch.py THREADS
"""
import json
import statistics
import sys
import time

import torch

WARMUP = 5
RUNS = 30


def case(name, layer, x_shape, x_grad):
    x = torch.randn(*x_shape, requires_grad=x_grad)
    with torch.no_grad():
        gy = torch.randn_like(layer(x))
    times, fwd_times = [], []
    for i in range(WARMUP + RUNS):
        t0 = time.perf_counter()
        y = layer(x)
        t_fwd = time.perf_counter() - t0
        y.backward(gy)
        t = time.perf_counter() - t0
        for p in layer.parameters():
            p.grad = None
        x.grad = None
        if i >= WARMUP:
            times.append(t)
            fwd_times.append(t_fwd)
    return {"bench": "layers." + name, "impl": "torch", "ms": round(statistics.median(times) * 1e3, 4),
            "ms_min": round(min(times) * 1e3, 4), "fwd_ms": round(statistics.median(fwd_times) * 1e3, 4)}


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cases = [
        ("conv1", torch.nn.Conv2d(1, 32, 3, padding=1), (128, 1, 28, 28), False),
        ("conv2", torch.nn.Conv2d(32, 64, 3, padding=1), (128, 32, 14, 14), True),
        ("fc1", torch.nn.Linear(784, 512), (128, 784), False),
        ("fc2", torch.nn.Linear(512, 256), (128, 512), True),
        ("bn", torch.nn.BatchNorm2d(32), (128, 32, 28, 28), True),
        ("relu1", torch.nn.ReLU(), (128, 32, 28, 28), True),
        ("relu2", torch.nn.ReLU(), (128, 64, 14, 14), True),
        ("pool1", torch.nn.MaxPool2d(2), (128, 32, 28, 28), True),
        ("pool2", torch.nn.MaxPool2d(2), (128, 64, 14, 14), True),
    ]
    for name, layer, shape, grad in cases:
        out = case(name, layer, shape, grad)
        out["threads"] = threads
        out["torch"] = torch.__version__
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
