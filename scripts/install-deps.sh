#!/usr/bin/env bash
# install-deps.sh: installs the Debian packages volt builds and tests with
# (DESIGN.md §7) and selects the OpenMP build of OpenBLAS. Idempotent: prints
# nothing when everything is already in place. Needs root or sudo only when
# something is missing. Python is for tooling only: Debian's torch and venv
# are installed here (the parity recorder, the interop test); PyPI packages
# go into the ignored .venv that .ci/run (or the developer) makes.
set -euo pipefail

packages=(
    cmake pkg-config build-essential # build, ctest
    libopenblas-openmp-dev           # BLAS, the OpenMP build
    libdnnl-dev                      # oneDNN
    ocl-icd-opencl-dev               # OpenCL headers + libOpenCL.so: Debian's oneDNN CMake config requires them
    libopenmpi-dev openmpi-bin       # MPI
    iproute2                         # ip netns: tests/dist/two_hosts.sh
    libcjson-dev                     # JSON
    libyaml-dev                      # YAML
    libprotobuf-c-dev protobuf-c-compiler # TensorBoard event files
    zlib1g-dev                       # gzip'd data sets
    libcmocka-dev                    # unit tests
    dataset-fashion-mnist            # real data for examples and tests
    fortunes                         # text corpus for examples/gpt_text.c (/usr/share/games/fortunes)
    clang-format                     # make format / format-check
    clang libclang-rt-14-dev libomp-14-dev # make fuzz: clang, libFuzzer + sanitizer runtimes, OpenMP
    python3-venv python3-torch       # tooling: tests/parity, tests/io/test_interop (+ .venv)
)
# Not needed: the sanitizer build uses gcc, whose ASan/UBSan/LSan runtimes
# (libasan8, libubsan1, liblsan0) come with gcc itself.

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-deps: not root and no sudo; install as root: ${packages[*]}" >&2
        exit 1
    fi
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null || true)
    [[ $status == *"ok installed"* ]] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    if ! { "${sudo[@]}" apt-get update -qq &&
           "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
               apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "install-deps: apt-get failed" >&2
        exit 1
    fi
fi

# OpenBLAS: Debian selects among its builds (pthread, openmp, serial) and the
# reference BLAS/LAPACK with update-alternatives. Another package can pull in
# libopenblas0-pthread or libblas3 and win the selection; point the run-time
# names at the OpenMP build. Checked first, so that an already correct
# selection stays in auto mode.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for name in libopenblas.so.0 libblas.so.3 liblapack.so.3; do
    alt=$name-$arch
    choices=$(update-alternatives --list "$alt" 2>/dev/null || true)
    want=$(sed -n '\|/openblas-openmp/|{p;q}' <<<"$choices")
    [ -n "$want" ] || continue
    current=$(update-alternatives --query "$alt" | sed -n 's/^Value: //p')
    if [ "$current" != "$want" ]; then
        echo "install-deps: update-alternatives --set $alt $want"
        "${sudo[@]}" update-alternatives --quiet --set "$alt" "$want"
    fi
done

so=/usr/lib/$arch/libopenblas.so.0
case $(readlink -f "$so") in
    */openblas-openmp/*) ;;
    *) echo "install-deps: $so is $(readlink -f "$so"), not the OpenMP build" >&2; exit 1 ;;
esac
