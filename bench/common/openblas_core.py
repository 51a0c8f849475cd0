"""openblas_core.py: the OpenBLAS kernels a benchmark's processes run.

OpenBLAS picks its kernels from the CPU model when it loads. A release older
than the CPU does not know the model and falls back to its generic Prescott
(SSE3) kernels: Debian 12's OpenBLAS 0.3.21 does so on Emerald Rapids (family
6, model 207), where a [128, 784] x [784, 512] product then runs at about 60
GFLOP/s on two threads instead of 200. PyTorch's CPU products go to OpenBLAS,
so a comparison would then measure an unoptimised PyTorch. OPENBLAS_CORETYPE
names the kernels to use instead; the flags of /proc/cpuinfo tell which the
CPU can run.

  python3 openblas_core.py     prints the OPENBLAS_CORETYPE a benchmark should
                               export ("" when the detected core is fine or
                               OPENBLAS_CORETYPE is already set), and why, on
                               stderr

Used by bench/run.sh, bench/compare/run.sh and bench/compare/harness.py.
"""
import ctypes
import functools
import os
import sys

# OpenBLAS's names for cores that have neither AVX2 nor AVX-512 kernels.
GENERIC = {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai",
           "coppermine", "northwood", "banias", "unknown"}


@functools.lru_cache(maxsize=None)
def cpu_flags():
    """The CPU's flags (/proc/cpuinfo, read once)."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def core_name(lib="libopenblas.so.0"):
    """The core OpenBLAS picked in this process (loads lib if it is not
    loaded yet), or None without OpenBLAS."""
    try:
        blas = ctypes.CDLL(lib)
        blas.openblas_get_corename.restype = ctypes.c_char_p
        return blas.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def best_core(flags):
    """The OpenBLAS core the CPU's flags run (None: no better than generic)."""
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def unfair(core, flags):
    """Why kernels `core` are not optimised on this CPU, or None."""
    if core is None or core.lower() not in GENERIC or best_core(flags) is None:
        return None
    return (f"OpenBLAS runs its generic {core} kernels on a CPU with "
            f"{'AVX-512' if best_core(flags) == 'SkylakeX' else 'AVX2'} (a release older than "
            f"the CPU, or OPENBLAS_CORETYPE naming them); export "
            f"OPENBLAS_CORETYPE={best_core(flags)}")


def override():
    """(OPENBLAS_CORETYPE to export or None, why)."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return None, f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} already set"
    core, flags = core_name(), set(cpu_flags())
    if unfair(core, flags) is None:
        return None, f"OpenBLAS core: {core}"
    best = best_core(flags)
    return best, (f"OpenBLAS would run its generic {core} kernels on this CPU (a model it "
                  f"does not know): OPENBLAS_CORETYPE={best} for every process")


if __name__ == "__main__":
    core, why = override()
    print(why, file=sys.stderr)
    print(core or "")
