#!/usr/bin/env python3
"""make_corpus.py: writes the seed corpus of tests/fuzz/fuzz_safetensors.c
into tests/fuzz/corpus/safetensors/ — a few small valid safetensors files:
every dtype, 0-d and empty tensors, several tensors, metadata (plain strings
and JSON strings, as a volt checkpoint holds), and no tensors at all.
Standard library only; deterministic, so a re-run changes no committed byte.

Usage: python3 tests/fuzz/make_corpus.py [OUT_DIR]
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

SIZES = {"F32": 4, "F64": 8, "BF16": 2, "F16": 2, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}


def safetensors(tensors, metadata=None):
    """bytes of a file: tensors is [(name, dtype, shape)], data = a counter."""
    header, offset, body = {}, 0, bytearray()
    for name, dtype, shape in tensors:
        n = SIZES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        body += bytes((offset + i) * 7 % 251 if dtype != "BOOL" else (i % 2) for i in range(n))
        offset += n
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(body)


def main(out):
    os.makedirs(out, exist_ok=True)
    files = {
        "empty.safetensors": safetensors([]),
        "meta_only.safetensors": safetensors([], {"epoch": "3", "note": "x"}),
        "every_dtype.safetensors": safetensors(
            [(f"t_{d.lower()}", d, [2, 3]) for d in SIZES]),
        "scalar_and_empty.safetensors": safetensors(
            [("scalar", "F32", []), ("none", "I64", [0, 4]), ("row", "U8", [5])]),
        "high_rank.safetensors": safetensors([("x", "F16", [1, 2, 1, 2, 1, 2, 1, 2])]),
        "checkpoint.safetensors": safetensors(
            [("state_dict.fc.weight", "F32", [2, 3]), ("state_dict.fc.bias", "F32", [2]),
             ("optimizer.0.fc.weight.momentum_buffer", "F32", [2, 3])],
            {"format": "volt-checkpoint-1", "epoch": "1", "global_step": "8",
             "weights_only": "false", "volt_version": "0.1.0",
             "loops": json.dumps({"fit": {"epoch": 1, "batch": 0}}),
             "checksum": "crc32:00000000"}),
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as fp:
            fp.write(data)
    print(f"make_corpus: {len(files)} files in {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "safetensors"))
