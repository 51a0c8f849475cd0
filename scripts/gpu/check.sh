#!/usr/bin/env bash
# check.sh: tries a pack here as the GPU machine would see it (root, Linux
# mount namespaces): copies the working tree (git ls-files) and the archive
# to a scratch folder, then runs scripts/gpu/run.sh there inside `unshare -m`
# with hidden what the device does not have: the source and build directories
# (a tmpfs over the first component of the build path, e.g. /work), Open MPI, PMIx, hwloc's plugins,
# /usr/share/datasets, and every system file the pack's lib/ was made from
# (/dev/null bound over it). What still loads from this machine is then only
# glibc, libstdc++/libgcc_s and CUDA, as on the device.
#
#   scripts/gpu/check.sh [ARCHIVE [WHAT...]]   (default .gpu-pack/volt-gpu.tar.xz tests)
# Logs in $OUT (default a temporary folder); the scratch copy is removed.
set -euo pipefail
archive=$(readlink -f "${1:-.gpu-pack/volt-gpu.tar.xz}")
shift || true
[ $# -gt 0 ] || set -- tests
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
scratch=$(mktemp -d /tmp/voltgpu-check.XXXXXX)
export OUT=${OUT:-$scratch.out}
export VOLT_GPU_DIR=$scratch/unpacked
mkdir -p "$OUT" "$scratch/repo/.gpu-pack"
trap 'rm -rf "$scratch"' EXIT
(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$scratch/repo"
cp "$archive" "$scratch/repo/.gpu-pack/"
# the packed libraries' system files, and the source/build paths to hide
xz -dc "$archive" | tar -xOf - voltgpu/meta/libs.txt voltgpu/meta/paths.env >"$scratch/meta"
export HIDE_DIRS HIDE_FILES WHAT_ARCHIVE=.gpu-pack/${archive##*/} SCRATCH=$scratch
HIDE_DIRS=$(sed -n 's/^\(SRC\|BLD\)=\/\([^/]*\).*/\/\2/p' "$scratch/meta" | sort -u | tr '\n' ' ')
HIDE_FILES=$(awk '$1 ~ /^lib\// {print $3}' "$scratch/meta" | tr '\n' ' ')
unshare -m bash -s -- "$@" <<'EOF2'
set -u
mount --make-rprivate /
for d in $HIDE_DIRS /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/share/openmpi \
    /etc/openmpi /usr/lib/x86_64-linux-gnu/hwloc /usr/share/datasets /usr/lib/x86_64-linux-gnu/openblas-openmp \
    /usr/lib/x86_64-linux-gnu/openblas-pthread; do
    [ -d "$d" ] && mount -t tmpfs none "$d"
done
for f in $HIDE_FILES /usr/bin/orterun /usr/bin/orted; do [ -f "$f" ] && mount --bind /dev/null "$f"; done
echo "check: hidden: $HIDE_DIRS Open MPI, PMIx, hwloc plugins, datasets, $(echo $HIDE_FILES | wc -w) system libraries"
cd "$SCRATCH/repo" && bash scripts/gpu/run.sh "$WHAT_ARCHIVE" "$@"
EOF2
