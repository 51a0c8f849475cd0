"""record_autocast.py: records vectors of PyTorch's CPU bf16 autocast
(torch.autocast("cpu", dtype=torch.bfloat16)) for tests/ops/test_autocast_parity.c:
a Linear-style addmm (x [16, 40], weight [24, 40], bias [24]) and a conv2d
(x [2, 3, 8, 8], weight [6, 3, 3, 3], bias [6], padding 1), each with a fixed
upstream gradient. Inputs and parameters are f32 leaves; outputs (bf16 under
torch's autocast) and the f32 gradients are stored as f32.

Usage: .venv/bin/python tests/parity/record_autocast.py
(writes tests/parity/vectors/autocast.safetensors)."""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def case(name, fn, shapes, out):
    g = torch.Generator().manual_seed(len(name) * 7919)
    leaves = {k: torch.randn(*s, generator=g).requires_grad_() for k, s in shapes.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fn(**leaves)
    gout = torch.randn(*y.shape, generator=g)
    y.backward(gout.to(y.dtype))
    for k, t in leaves.items():
        out[f"{name}/{k}"] = t.detach().clone()
        out[f"{name}/grad_{k}"] = t.grad.detach().float().clone()
    out[f"{name}/out"] = y.detach().float().clone()
    out[f"{name}/gout"] = gout


def main():
    out = {}
    case("linear", lambda x, weight, bias: F.linear(x, weight, bias),
         {"x": (16, 40), "weight": (24, 40), "bias": (24,)}, out)
    case("conv2d", lambda x, weight, bias: F.conv2d(x, weight, bias, padding=1),
         {"x": (2, 3, 8, 8), "weight": (6, 3, 3, 3), "bias": (6,)}, out)
    save_file(out, os.path.join(HERE, "vectors", "autocast.safetensors"),
              metadata={"format": "volt-autocast-parity-1", "torch_version": torch.__version__})


if __name__ == "__main__":
    main()
