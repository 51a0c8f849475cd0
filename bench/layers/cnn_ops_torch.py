"""cnn_ops_torch.py: per-op profile of one training step of issue 9's CNN, PyTorch's side
(see bench/layers/cnn_ops.c for the model and the measurement).

Same model, batch (128 random images, random labels), SGD momentum 0.9 and
thread count; torch.autograd.profiler gives the self CPU time of each op
(forward ops by their aten name, backward ops by their autograd node name)
over the timed steps; prints one JSON line per op (milliseconds per step,
the mean over the steps) and one for the whole step (median wall time of
the same steps run without the profiler).

Usage: python3 cnn_ops_torch.py THREADS [STEPS]
"""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn

WARMUP = 5


def model():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    threads = int(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
    x = torch.rand(128, 1, 28, 28)
    y = torch.randint(0, 10, (128,))

    def step():
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(WARMUP):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    with torch.autograd.profiler.profile() as prof:
        for _ in range(steps):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    for e in rows:
        ms = e.self_cpu_time_total / 1e3 / steps
        if ms >= 0.005:
            print(json.dumps({"bench": "cnn_ops", "impl": "torch", "op": e.key, "ms": round(ms, 4)}))
    print(json.dumps({"bench": "cnn_ops", "impl": "torch", "op": "step",
                      "ms": round(statistics.median(times) * 1e3, 4), "threads": threads,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
