#!/usr/bin/env python3
"""check_interop.py: do safetensors files written by volt open with Python's
`safetensors` package (the reference reader), with the same tensors and
metadata a plain reading of the format gives? Optional: not run by ctest.

Usage:
  python3 tests/parity/check_interop.py [FILE_OR_DIR ...]

With no argument it checks the valid files that tests/io/test_safetensors
leaves in build/tests/tmp/io/test_safetensors/ (run `ctest -R io/` first);
a directory means its *.safetensors files. It also checks that the parity
vectors (written by record.py) pass the reference reader.

Needs the `safetensors` package and torch (for bf16/f16/bool) or numpy; when
they are missing it says so and exits 0.
"""
import glob
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# The files the io test writes and leaves valid (the others are corrupt on purpose).
IO_TEST_FILES = ["dtypes", "meta", "bytes", "python", "good", "keep", "strided"]


def plain_read(path):
    """The format read by hand: ({name: (dtype, shape, bytes)}, metadata)."""
    with open(path, "rb") as fp:
        data = fp.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        tensors[name] = (info["dtype"], list(info["shape"]), body[b:e])
    return tensors, meta


def check(path, torch, st):
    expected, meta = plain_read(path)
    with st.safe_open(path, framework="pt" if torch else "np") as f:
        got_meta = f.metadata() or {}
        if got_meta != meta:
            return f"metadata differs: {got_meta} vs {meta}"
        names = set(f.keys())
        if names != set(expected):
            return f"tensor names differ: {sorted(names)} vs {sorted(expected)}"
        for name in sorted(names):
            t = f.get_tensor(name)
            dtype, shape, raw = expected[name]
            if list(t.shape) != shape:
                return f"{name}: shape {list(t.shape)} vs {shape}"
            if torch:
                t = t.contiguous().reshape(-1)
                got = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
            else:
                got = t.tobytes()
            if got != raw:
                return f"{name} ({dtype}): bytes differ"
    return None


def main(argv):
    try:
        import safetensors as st_pkg
        from safetensors import safe_open  # noqa: F401
    except ImportError:
        print("check_interop: the Python package `safetensors` is not installed; skipped")
        return 0
    try:
        import torch
    except ImportError:
        torch = None
    import safetensors as st

    paths = []
    args = argv or [os.path.join(ROOT, "build", "tests", "tmp", "io", "test_safetensors")]
    for a in args:
        if os.path.isdir(a):
            found = sorted(glob.glob(os.path.join(a, "*.safetensors")))
            if os.path.basename(os.path.normpath(a)) == "test_safetensors":
                found = [p for p in found  # the io test's: only its valid files
                         if os.path.basename(p).split(".")[0] in IO_TEST_FILES]
            paths += found
        else:
            paths.append(a)
    paths += sorted(glob.glob(os.path.join(HERE, "vectors", "*.safetensors")))
    if not paths:
        print("check_interop: no files to check (run `ctest -R io/` first)")
        return 0
    failed = 0
    for p in paths:
        try:
            err = check(p, torch, st)
        except Exception as e:  # the reference reader refused the file
            err = f"{type(e).__name__}: {e}"
        if err and not torch and "BF16" in str(err):
            print(f"skip {p}: bf16 needs torch")
            continue
        print(("FAIL " if err else "ok   ") + p + (f": {err}" if err else ""))
        failed += bool(err)
    print(f"check_interop: safetensors {st_pkg.__version__}, {len(paths)} files, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
