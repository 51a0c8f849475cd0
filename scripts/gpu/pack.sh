#!/usr/bin/env bash
# pack.sh: packs a volt build into ONE archive for a borrowed GPU machine
# that has the NVIDIA driver and CUDA libraries but none of volt's Debian
# dependencies (scripts/gpu/README.md; scripts/gpu/run.sh unpacks and runs it).
#
#   scripts/gpu/pack.sh BUILD_DIR [OUT_DIR]   -> OUT_DIR/volt-gpu.tar.xz
#                                                (OUT_DIR default .gpu-pack/)
# What goes in (under voltgpu/ in the archive):
#   build/     the test programs of BUILD_DIR/tests, libvolt.so, tools/volt,
#              examples, bench/bench_gpu_* (PACK_BENCH: another glob), stripped,
#              at their places in the build tree
#   lib/       the closure of the shared libraries they load (ldd) but glibc's,
#              the driver's and CUDA's (the device provides those)
#   lib-fallback/  libstdc++ and libgcc_s: used only where the device lacks
#              them or has older ones (the device's CUDA libraries may need newer)
#   lib-compat/  for a glibc older than 2.36 (Ubuntu 22.04): copies of the
#              libraries that need arc4random from 2.36, and a stand-in for it
#   ompi/      Open MPI's runtime (mpiexec = orterun, orted, the plugins but
#              those needing UCX/libfabric/PSM/verbs, help files, PMIx's
#              plugins): the MPI tests run as under ctest, relocated by OPAL_*
#              and PMIX_* variables (run.sh sets them)
#   data/      PACK_DATA's directories (default the Fashion-MNIST files that
#              some CPU tests read from /usr/share/datasets), at data/<path>
#   meta/      paths.env (source and build directory as baked into the tests,
#              mpiexec), tests.tsv (each test as ctest runs it: name, timeout,
#              skip code, working directory, environment, command, from
#              `ctest --show-only=json-v1`), ctest.json, libs.txt (origins)
# Why: the tests and ctest's commands hold absolute paths of this machine
# (BUILD_DIR, the source tree); run.sh recreates them on the device as
# symlinks to the unpacked build and to the repository copy there.
# xz -9e with its 64 MiB window: libvolt.so, the CLI and the GPU benchmarks
# carry the same 32 MB of CUDA machine code, stored once if adjacent.
set -euo pipefail

usage() { echo "usage: $0 BUILD_DIR [OUT_DIR]" >&2; exit 2; }
[ $# -ge 1 ] || usage
BLD_IN=$1
OUT_DIR=${2:-.gpu-pack}
[ -f "$BLD_IN/CMakeCache.txt" ] || { echo "pack: $BLD_IN has no CMakeCache.txt" >&2; exit 1; }
cache() { sed -n "s|^$1:[A-Z]*=||p" "$BLD_IN/CMakeCache.txt" | head -1; }
SRC=$(cache CMAKE_HOME_DIRECTORY)      # as baked into the tests' commands
BLD=$(cache CMAKE_CACHEFILE_DIR)
PACK_BENCH=${PACK_BENCH-bench_gpu_*}
PACK_DATA=${PACK_DATA-/usr/share/datasets/fashion-mnist}
t0=$(date +%s)

stage=$(mktemp -d "${TMPDIR:-/tmp}/voltpack.XXXXXX")
trap 'rm -rf "$stage"' EXIT
R=$stage/voltgpu
mkdir -p "$R"/{build,lib,lib-fallback,meta,ompi/bin,ompi/etc,ompi/lib/openmpi,ompi/share,ompi/pmix/lib/pmix,ompi/pmix/share,ompi/hwloc,data}

# ---- the tests as ctest runs them
ctest --test-dir "$BLD" --show-only=json-v1 >"$R/meta/ctest.json"
python3 - "$R/meta" "$BLD" <<'EOF'
import json, os, sys
meta, bld = sys.argv[1], sys.argv[2]
US, RS = "\x1f", "\x1e"
tests = json.load(open(f"{meta}/ctest.json"))["tests"]
with open(f"{meta}/tests.tsv", "w") as out, open(f"{meta}/excluded.txt", "w") as ex, \
        open(f"{meta}/build-files.txt", "w") as files:
    for t in tests:
        p = {x["name"]: x["value"] for x in t.get("properties", [])}
        name, cmd, env = t["name"], t.get("command", []), p.get("ENVIRONMENT", [])
        if name.startswith("install/"):
            ex.write(f"{name}: installs the build and compiles against it (compiler, dev packages)\n")
            continue
        for s in cmd + [e.split("=", 1)[1] for e in env if "=" in e]:
            if s.startswith(bld + "/") and os.path.isfile(s):
                files.write(s[len(bld) + 1:] + "\n")
        out.write(RS.join([name, str(int(p.get("TIMEOUT", 1500))), str(p.get("SKIP_RETURN_CODE", "")),
                           p.get("WORKING_DIRECTORY", bld), US.join(env), US.join(cmd)]) + "\n")
EOF
MPIEXEC=$(sed -n 's/^VOLT_MPIEXEC=\(.*\)/\1/p' <(tr '\036\037' '\n\n' <"$R/meta/tests.tsv") | head -1)
{
    echo "SRC=$SRC"
    echo "BLD=$BLD"
    echo "MPIEXEC=$MPIEXEC"
    echo "PACKED=\"$(date -u +%FT%TZ) $(git -C "$SRC" describe --always --dirty 2>/dev/null || echo ?)\""
    # what libvolt opens at run time (dlopen), for run.sh to look for
    echo "DLOPEN=\"$(strings "$BLD/lib/libvolt.so.0" | grep -oE '^lib(cublasLt|cudnn|nccl)\.so\.[0-9]+$' |
        sort -u | tr '\n' ' ')\""
} >"$R/meta/paths.env"

# ---- the build's programs and libvolt, at their places, stripped
(
    cd "$BLD"
    find tests -path tests/tmp -prune -o -type f -perm -u+x -name 'test_*' -print
    ls -d lib/libvolt.so* tools/volt/volt examples/* 2>/dev/null
    for b in bench/$PACK_BENCH; do [ -f "$b" ] && echo "$b"; done
    cat "$R/meta/build-files.txt"
) | sort -u >"$stage/files"
while read -r f; do
    mkdir -p "$R/build/$(dirname "$f")"
    cp -P "$BLD/$f" "$R/build/$f"
    [ -L "$R/build/$f" ] || strip --strip-unneeded "$R/build/$f" 2>/dev/null || true
done <"$stage/files"

# ---- Open MPI's runtime (when the tests use mpiexec)
is_elf() { [ "$(od -An -tx1 -N4 "$1" 2>/dev/null | tr -d ' \n')" = 7f454c46 ]; }
if [ -n "$MPIEXEC" ] && [ -x "$MPIEXEC" ]; then
    ompi() { ompi_info --parsable --path all | sed -n "s|^path:$1:||p" | head -1; }
    orterun=$(readlink -f "$MPIEXEC")
    cp "$orterun" "$R/ompi/bin/orterun"
    ln -s orterun "$R/ompi/bin/mpiexec"; ln -s orterun "$R/ompi/bin/mpirun"
    [ -x "$(ompi bindir)/orted" ] && cp "$(ompi bindir)/orted" "$R/ompi/bin/"
    for p in "$(ompi pkglibdir)"/*.so; do
        # left out: the transports Debian's openmpi-mca-params.conf turns off
        readelf -d "$p" | grep -qE 'NEEDED.*lib(ucp|ucs|uct|fabric|psm|ibverbs|rdmacm|nl-|mca_common_(ucx|ofi|verbs))' ||
            cp "$p" "$R/ompi/lib/openmpi/"
    done
    cp -r "$(ompi pkgdatadir)"/. "$R/ompi/share/openmpi/"
    cp "$(ompi sysconfdir)"/openmpi-mca-params.conf "$R/ompi/etc/" 2>/dev/null || true
    pmixlib=$(ldd "$(ompi pkglibdir)"/mca_pmix_ext*.so 2>/dev/null | awk '/libpmix\.so/{print $3; exit}')
    if [ -n "$pmixlib" ]; then
        pmixdir=$(dirname "$(readlink -f "$pmixlib")")
        cp "$pmixdir"/pmix/*.so "$R/ompi/pmix/lib/pmix/" 2>/dev/null || true
        cp -r "$pmixdir/../share/pmix" "$R/ompi/pmix/share/" 2>/dev/null || true
    fi
fi
for f in "$R"/ompi/bin/orte* "$R"/ompi/lib/openmpi/*.so "$R"/ompi/pmix/lib/pmix/*.so; do
    [ -f "$f" ] && [ ! -L "$f" ] && strip --strip-unneeded "$f" 2>/dev/null || true
done

# ---- the shared libraries they load, but glibc's, the driver's and CUDA's
skip_re='^(linux-vdso|ld-linux|lib(c|m|mvec|dl|rt|pthread|resolv|util|anl|nsl|BrokenLocale|thread_db)\.so|libcuda\.|libnvidia-|libcudart|libcublas|libcudnn|libnccl|libnvrtc|libnvJitLink|libcurand|libcufft|libcusparse|libcusolver|libcupti|libnvToolsExt|libnvperf|libnvblas)'
find "$R/build" "$R/ompi" -type f | while read -r f; do if is_elf "$f"; then ldd "$f" 2>/dev/null || true; fi; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u >"$stage/needed"
: >"$R/meta/libs.txt"
while read -r soname path; do
    case $path in "$BLD"/*) continue ;; /usr/local/cuda*) continue ;; esac
    [[ $soname =~ $skip_re ]] && continue
    dest=lib
    [[ $soname =~ ^lib(stdc\+\+|gcc_s)\.so ]] && dest=lib-fallback
    [ -e "$R/$dest/$soname" ] && continue
    cp -L "$path" "$R/$dest/$soname"
    echo "$dest/$soname <- $(readlink -f "$path")" >>"$R/meta/libs.txt"
done <"$stage/needed"
missing=$(find "$R/build" "$R/ompi" "$R/lib" -type f | while read -r f; do is_elf "$f" &&
    LD_LIBRARY_PATH=$R/lib:$R/build/lib ldd "$f" 2>/dev/null | grep 'not found' | sed "s|^|${f#"$R"/}: |"; done |
    grep -vE 'lib(cuda|cudart|cublas|cudnn|nccl|cupti)' || true)
[ -z "$missing" ] || { echo "pack: unresolved here (not packed):"; echo "$missing"; } >&2

# ---- glibc older than 2.36 on the device (Ubuntu 22.04 has 2.35): only
# arc4random* of Debian's libevent need 2.36. lib-compat/ gets a copy of each
# such library whose GLIBC_2.36+ needs read GLIBC_2.2.5 (which every glibc
# has, and whose arc4random* it does not define), and a getrandom()-based
# arc4random: run.sh puts both first (LD_LIBRARY_PATH, LD_PRELOAD) only there.
mkdir -p "$R/lib-compat"
printf '%s\n' '#include <stdint.h>' '#include <sys/random.h>' \
    'void arc4random_buf(void *p, size_t n) { unsigned char *b = p;' \
    '  while (n) { ssize_t k = getrandom(b, n, 0); if (k > 0) { b += k; n -= (size_t)k; } } }' \
    'uint32_t arc4random(void) { uint32_t x; arc4random_buf(&x, sizeof x); return x; }' \
    'uint32_t arc4random_uniform(uint32_t n) { uint32_t m = n < 2 ? 0 : -n % n, x;' \
    '  if (n < 2) return 0; do x = arc4random(); while (x < m); return x % n; }' >"$stage/arc4random.c"
cc -shared -fPIC -O2 -o "$R/lib-compat/libvoltgpu_arc4random.so" "$stage/arc4random.c"
python3 - "$R/lib-compat" "$R"/lib/*.so* <<'EOF'
import struct, sys
def elf_hash(s):
    h = 0
    for c in s.encode():
        h = ((h << 4) + c) & 0xFFFFFFFF
        h = (h ^ ((h & 0xF0000000) >> 24)) & ~(h & 0xF0000000) & 0xFFFFFFFF
    return h
for path in sys.argv[2:]:  # ELF64 little-endian: the Vernaux entries of .gnu.version_r
    b = bytearray(open(path, "rb").read())
    shoff, shentsize, shnum = struct.unpack_from("<Q", b, 0x28)[0], *struct.unpack_from("<HH", b, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", b, shoff + i * shentsize) for i in range(shnum)]
    for s in (s for s in secs if s[1] == 0x6FFFFFFE):  # SHT_GNU_verneed
        strtab, off, aux_new, base = secs[s[6]][4], s[4], [], None
        for _ in range(s[7]):  # sh_info: number of Verneed entries
            cnt, aux, nxt = struct.unpack_from("<HH", b, off + 2)[0], *struct.unpack_from("<II", b, off + 8)
            a = off + aux
            for _ in range(cnt):
                name, anext = struct.unpack_from("<II", b, a + 8)
                v = bytes(b[strtab + name:b.index(0, strtab + name)]).decode()
                base = name if v == "GLIBC_2.2.5" else base
                if v.startswith("GLIBC_2.") and int(v[8:].split(".")[0]) >= 36:
                    aux_new.append(a)
                a += anext
            off += nxt
        if aux_new and base is not None:
            for a in aux_new:
                struct.pack_into("<I", b, a, elf_hash("GLIBC_2.2.5"))
                struct.pack_into("<I", b, a + 8, base)
            open(sys.argv[1] + "/" + path.rsplit("/", 1)[1], "wb").write(b)
            print(f"pack: lib-compat/{path.rsplit('/', 1)[1]}: its GLIBC_2.36+ needs read GLIBC_2.2.5")
EOF
new_syms=$(for f in "$R"/lib-compat/lib*.so.*; do objdump -T "$R/lib/${f##*/}" |
    awk '/UND/ && /GLIBC_2\.(3[6-9]|[4-9][0-9])/ {print $NF}'; done | sort -u | grep -vxE 'arc4random(_buf|_uniform)?' || true)
[ -z "$new_syms" ] || echo "pack: WARNING: lib-compat needs glibc 2.36+ for more than arc4random: $new_syms" >&2
# the newest glibc symbol version needed (run.sh compares), lib-compat's copies
# in place of their originals, libstdc++ apart (the device's is used)
echo "GLIBC_NEEDED=$(find "$R" -path "$R/lib-fallback" -prune -o -type f -print | while read -r f; do
    [ -e "$R/lib-compat/${f##*/}" ] && [ "${f%/*}" = "$R/lib" ] && continue
    is_elf "$f" && readelf -V --wide "$f" 2>/dev/null | grep 'Name: GLIBC_'; done |
    grep -oE 'GLIBC_[0-9]+\.[0-9]+' | sort -uV | tail -1 | sed 's/GLIBC_//')" >>"$R/meta/paths.env"

# ---- data files the tests read from fixed places
for d in $PACK_DATA; do
    [ -d "$d" ] || { echo "pack: no $d (data left out)" >&2; continue; }
    mkdir -p "$R/data$d"; cp -r "$d"/. "$R/data$d/"; echo "$d" >>"$R/meta/data.list"
done

# ---- one archive; the files with the CUDA machine code first and together
mkdir -p "$OUT_DIR"
archive=$(cd "$OUT_DIR" && pwd)/volt-gpu.tar.xz
(
    cd "$stage"
    big=$(find voltgpu/build/lib voltgpu/build/tools voltgpu/build/bench -type f -size +8M 2>/dev/null | sort)
    { echo "$big"; find voltgpu | sort | grep -vxF "$big"; } | grep . >"$stage/order"
    tar -cf - --no-recursion -T "$stage/order" | nice -n 19 xz -9e -T1 >"$archive.tmp"
)
mv "$archive.tmp" "$archive"
echo "pack: $archive: $(du -b "$archive" | cut -f1) bytes ($(du -sb "$R" | cut -f1) unpacked)," \
    "$(wc -l <"$R/meta/tests.tsv") tests, $(ls "$R/lib" | wc -l) + $(ls "$R/lib-fallback" | wc -l) libraries," \
    "$(($(date +%s) - t0)) s"
# what the device tool copies: the working tree (tracked + untracked not ignored) and the carried pack
tree=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && git ls-files -co --exclude-standard -z |
    du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1 || true)
echo "pack: working tree $tree bytes + $OUT_DIR $(du -sb "$OUT_DIR" | cut -f1) bytes" \
    "= $(((tree + $(du -sb "$OUT_DIR" | cut -f1)) / 1048576)) MiB of the device tool's 64"
