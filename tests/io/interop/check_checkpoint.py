#!/usr/bin/env python3
"""check_checkpoint.py: volt <-> PyTorch interoperability of checkpoint files
(DESIGN.md §4: a checkpoint written by volt opens with Python's safetensors
and torch). Driven by tests/io/test_interop.c, which writes the files and the
expected values; three modes:

  check_checkpoint.py probe
      exit 0 when torch and safetensors are installed, 3 otherwise (prints
      why): the test skips then.
  check_checkpoint.py read CKPT EXPECTED_JSON [CKPT EXPECTED_JSON ...]
      opens each volt checkpoint with safetensors.torch.load_file and
      safetensors.safe_open and checks, against what volt wrote into
      EXPECTED_JSON: every tensor by name (dtype, shape, equal values), the
      metadata, "format", the CRC-32 "checksum" (recomputed here with zlib),
      that the JSON-valued metadata parses, and that the state_dict.* tensors
      load (strict) into the same network built in torch (BatchNorm1d(3) "bn",
      Linear(3, 1) "fc") whose eval-mode output equals volt's.
  check_checkpoint.py write OUT_SAFETENSORS OUT_JSON
      writes the state dict of a torch nn.Sequential(Linear(3, 4),
      BatchNorm1d(4), Linear(4, 2)) (names "0.weight", ..., running
      statistics after one training batch) with safetensors.torch.save_file,
      and into OUT_JSON its values, an input and the eval-mode output, for
      volt to load (volt_module_load, strict) and compare.
Exit 0 when everything matches, 1 with the first difference otherwise.
"""
import json
import struct
import sys
import zlib

DTYPES = {}  # safetensors name -> torch dtype, filled once torch is imported


def fail(msg):
    print(f"check_checkpoint: FAIL: {msg}")
    sys.exit(1)


def probe():
    # find_spec, not import: importing torch takes a second, the test runs
    # this for each candidate Python.
    from importlib.util import find_spec

    missing = [m for m in ("torch", "safetensors") if find_spec(m) is None]
    if missing:
        print(f"check_checkpoint: {sys.executable} lacks {' and '.join(missing)}")
        return 3
    return 0


def setup_dtypes(torch):
    DTYPES.update({"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16,
                   "F16": torch.float16, "I64": torch.int64, "I32": torch.int32,
                   "U8": torch.uint8, "BOOL": torch.bool})


def same_values(torch, t, values, shape):
    want = torch.tensor(values, dtype=torch.float64).reshape(shape)
    return torch.equal(t.to(torch.float64), want)


def data_crc32(path):
    with open(path, "rb") as fp:
        raw = fp.read()
    (n,) = struct.unpack("<Q", raw[:8])
    return zlib.crc32(raw[8 + n:]) & 0xFFFFFFFF


def check_tensors(torch, tensors, expected):
    if set(tensors) != set(expected):
        fail(f"tensor names differ: torch sees {sorted(tensors)}, volt wrote {sorted(expected)}")
    for name, want in expected.items():
        t = tensors[name]
        if t.dtype != DTYPES[want["dtype"]]:
            fail(f"{name}: dtype {t.dtype}, volt wrote {want['dtype']}")
        if list(t.shape) != want["shape"]:
            fail(f"{name}: shape {list(t.shape)}, volt wrote {want['shape']}")
        if not same_values(torch, t, want["values"], want["shape"]):
            fail(f"{name}: values differ: {t.flatten().tolist()} vs {want['values']}")


def check_metadata(path, meta, expected):
    if meta != expected:
        fail(f"metadata differs: safetensors reads {meta}, volt wrote {expected}")
    if meta.get("format") != "volt-checkpoint-1":
        fail(f"format is {meta.get('format')!r}, not 'volt-checkpoint-1'")
    crc = f"crc32:{data_crc32(path):08x}"
    if meta.get("checksum") != crc:
        fail(f"checksum {meta.get('checksum')!r}, the data section's is {crc!r}")
    for key in ("loops", "optimizers", "lr_schedulers", "callbacks", "rng", "hparams",
                "precision"):
        if key in meta:
            try:
                json.loads(meta[key])
            except ValueError as e:
                fail(f"metadata {key!r} is not JSON: {e}")


def check_forward(torch, tensors, forward):
    nn = torch.nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(3)
            self.fc = nn.Linear(3, 1)

        def forward(self, x):
            return self.fc(self.bn(x))

    m = Tiny()
    prefix = "state_dict."
    sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    m.load_state_dict(sd, strict=True)  # raises on a missing/unexpected/mis-shaped key
    m.eval()
    x = torch.tensor(forward["x"], dtype=torch.float32).reshape(forward["x_shape"])
    want = torch.tensor(forward["y"], dtype=torch.float32).reshape(forward["y_shape"])
    with torch.no_grad():
        y = m(x)
    if not torch.allclose(y, want, rtol=1e-5, atol=1e-6):
        fail(f"eval output differs: torch {y.flatten().tolist()}, volt {forward['y']}")


def read(path, expected_path):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    setup_dtypes(torch)
    with open(expected_path) as fp:
        expected = json.load(fp)
    tensors = load_file(path)
    check_tensors(torch, tensors, expected["tensors"])
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        if set(f.keys()) != set(tensors):
            fail("safe_open and load_file list different tensors")
    check_metadata(path, meta, expected["metadata"])
    check_forward(torch, tensors, expected["forward"])
    print(f"check_checkpoint: OK: {path}: {len(tensors)} tensors, {len(meta)} metadata keys, "
          f"{meta['checksum']}, eval output equal (torch {torch.__version__})")


def flat(torch, t):
    return t.detach().to(torch.float64).flatten().tolist()


def write(out_path, json_path):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 3))  # running statistics away from 0 and 1
    model.eval()
    x = torch.randn(5, 3)
    with torch.no_grad():
        y = model(x)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(sd, out_path, metadata={"source": f"torch {torch.__version__}"})
    expected = {
        "state_dict": {k: {"shape": list(v.shape), "values": flat(torch, v)}
                       for k, v in sd.items()},
        "x": flat(torch, x), "x_shape": list(x.shape), "y": flat(torch, y), "y_shape": list(y.shape),
    }
    with open(json_path, "w") as fp:
        json.dump(expected, fp)
    print(f"check_checkpoint: wrote {out_path}: {', '.join(sd)}")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "probe":
        return probe()
    if len(argv) >= 4 and len(argv) % 2 == 0 and argv[1] == "read":
        for i in range(2, len(argv), 2):
            read(argv[i], argv[i + 1])
        return 0
    if len(argv) == 4 and argv[1] == "write":
        return write(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
