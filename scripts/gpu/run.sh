#!/usr/bin/env bash
# run.sh: runs volt's packed tests (scripts/gpu/pack.sh) on a borrowed GPU
# machine that has the NVIDIA driver and the CUDA libraries (toolkit and/or
# pip wheels) but none of volt's Debian dependencies. See scripts/gpu/README.md.
#
#   bash scripts/gpu/run.sh ARCHIVE [WHAT...]
#     WHAT: tests (default: every packed test; the GPU ones first), gpu
#           (cuda/* and the NCCL test), bench (bench/gpu's programs, short),
#           none (unpack and check only), or test names / bash regexes
#           matched against them (e.g. cuda/ or 'dist/test_mpi_.*')
#
# Unpacks into $VOLT_GPU_DIR (/tmp/voltgpu; kept, and reused for the same
# archive), finds the CUDA libraries, sets LD_LIBRARY_PATH (the pack's
# libraries first, then the CUDA directories), recreates the absolute paths
# baked into the tests (the source and build directory of the packing machine:
# symlinks to this repository copy and to the unpacked build), checks with
# ldd that every program resolves every library, then runs each test as
# ctest does (its arguments, environment, working directory, skip code), with
# a timeout. Writes to $OUT (a temporary folder if unset):
#   setup.log       GPU, glibc, the CUDA libraries chosen, ldd problems
#   tests.log       "rc=<code> <test> <seconds>s <PASSED|FAILED|SKIPPED ...>",
#                   then a summary line
#   tests-full.log  every test's output (capped), bench.log (WHAT bench)
# $VOLT_GPU_DIR/env.sh then sets the same environment for other commands.
# Knobs: VOLT_GPU_TIMEOUT (per test, default 300 s, or ctest's if lower),
# VOLT_GPU_BUDGET (no test starts after this many seconds, default 540).
# Never stops early (no set -e): every problem is reported and it goes on.
set -u
usage="usage: run.sh ARCHIVE [tests|gpu|bench|none|NAME|REGEX]..."
ARCHIVE=${1:-}
[ -n "$ARCHIVE" ] || { echo "$usage" >&2; exit 2; }
shift
[ $# -gt 0 ] || set -- tests
case $ARCHIVE in /*) ;; *) ARCHIVE=$PWD/$ARCHIVE ;; esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
P=${VOLT_GPU_DIR:-/tmp/voltgpu}
O=$P/ompi
OUT=${OUT:-}
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/voltgpu-out.XXXXXX")
mkdir -p "$OUT"
LOG=$OUT/tests.log FULL=$OUT/tests-full.log SETUP=$OUT/setup.log
TIMEOUT=${VOLT_GPU_TIMEOUT:-300}
START=$(date +%s)
DEADLINE=$((START + ${VOLT_GPU_BUDGET:-540}))
: >"$LOG"
: >"$FULL"
: >"$SETUP"
say() { printf '%s\n' "$*" | tee -a "$SETUP"; }
vlt() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]; }

# ---- unpack (skipped when this archive is already unpacked there)
stamp=$(cksum <"$ARCHIVE" 2>/dev/null)
if [ -z "$stamp" ]; then
    say "run: cannot read $ARCHIVE"
elif [ "$(cat "$P/.stamp" 2>/dev/null)" != "$stamp" ]; then
    t=$(date +%s)
    rm -rf "$P" "$P.new"
    mkdir -p "$P.new"
    if command -v xz >/dev/null && xz -dc "$ARCHIVE" | tar -xf - -C "$P.new" && [ -f "$P.new/voltgpu/meta/paths.env" ]; then
        :
    else # no xz: Python's tarfile reads it too
        rm -rf "$P.new" && mkdir -p "$P.new"
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$ARCHIVE" "$P.new"
    fi
    [ -f "$P.new/voltgpu/meta/paths.env" ] && mv "$P.new/voltgpu" "$P" && echo "$stamp" >"$P/.stamp"
    rm -rf "$P.new"
    [ -f "$P/.stamp" ] && say "unpacked $ARCHIVE into $P in $(($(date +%s) - t)) s" || say "run: CANNOT UNPACK $ARCHIVE"
fi
SRC='' BLD='' MPIEXEC='' DLOPEN='' GLIBC_NEEDED=0 PACKED='?'
# shellcheck disable=SC1091
if ! [ -f "$P/meta/paths.env" ] || ! . "$P/meta/paths.env"; then
    echo "summary: nothing run: $ARCHIVE did not unpack into $P" | tee -a "$LOG" "$SETUP"
    exit 1
fi
say "pack: $PACKED; built in $BLD from $SRC; this repository: $REPO"

# ---- the machine
say "== GPU"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi -L 2>&1 | tee -a "$SETUP"
    nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/driver, memory: /' | tee -a "$SETUP"
else
    say "no nvidia-smi"
fi
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
say "glibc $glibc (the pack needs $GLIBC_NEEDED); $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
compat=""
if vlt "${glibc:-0}" 2.36 || [ "${VOLT_GPU_COMPAT:-0}" = 1 ]; then # arc4random for Debian's libevent
    export LD_PRELOAD=$P/lib-compat/libvoltgpu_arc4random.so${LD_PRELOAD:+:$LD_PRELOAD}
    compat=$P/lib-compat:
    say "glibc < 2.36: $P/lib-compat first, preloading $LD_PRELOAD"
fi
vlt "${glibc:-0}" "$GLIBC_NEEDED" && say "WARNING: this glibc is older than the pack needs: expect 'version GLIBC_... not found'"

# ---- the CUDA libraries: toolkit directories, then pip wheels' (nvidia/*/lib)
cuda_dirs=()
add_dir() {
    local d x
    d=$(readlink -f "$1" 2>/dev/null) || return
    case $d in */stubs | */compat) return ;; esac # never the driver stub or the compat driver
    [ -d "$d" ] && [ ! -e "$d/libcuda.so.1" ] && ls "$d"/lib*.so* >/dev/null 2>&1 || return
    for x in ${cuda_dirs[@]+"${cuda_dirs[@]}"}; do [ "$x" = "$d" ] && return; done
    cuda_dirs+=("$d")
}
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/*/lib /usr/local/cuda/extras/CUPTI/lib64 \
    /usr/local/cuda-*/lib64 /usr/local/cuda-*/lib /usr/local/cuda-*/targets/*/lib /usr/local/cuda-*/extras/CUPTI/lib64; do
    add_dir "$d"
done
nv=()
for py in /opt/torch/.venv/bin/python3 python3; do
    command -v "$py" >/dev/null || continue
    while read -r d; do nv+=("$d"); done < <("$py" -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null)
done
for n in ${nv[@]+"${nv[@]}"} /opt/*/.venv/lib/python3*/site-packages/nvidia /usr/local/lib/python3*/dist-packages/nvidia; do
    for d in "$n"/*/lib "$n"/*/lib64 "$n"/*/*/lib; do add_dir "$d"; done
done
LD_LIBRARY_PATH=$compat$P/lib:$P/build/lib$(printf ':%s' ${cuda_dirs[@]+"${cuda_dirs[@]}"})${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
# libstdc++/libgcc_s: the device's own, unless it lacks them or they are too old
cxx_re="lib(stdc\\+\\+|gcc_s)[^ ]* => not found|(GLIBCXX|CXXABI|GCC)_[0-9.]+' not found"
if ldd "$P/lib/libdnnl.so.2" "$P/build/lib/libvolt.so.0" 2>&1 | grep -qE "$cxx_re"; then
    LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$P/lib-fallback
    say "the pack's libstdc++/libgcc_s used (this machine's are missing or too old)"
fi
say "== CUDA library directories (after the pack's): ${cuda_dirs[*]:-none found}"
find_lib() { # the file the loader would pick: LD_LIBRARY_PATH, then ld.so.cache
    local d
    for d in ${LD_LIBRARY_PATH//:/ }; do [ -e "$d/$1" ] && { readlink -f "$d/$1"; return; }; done
    d=$(ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n {print $NF; exit}')
    [ -n "$d" ] && { readlink -f "$d"; return; }
    for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /usr/lib64 /lib64; do
        [ -e "$d/$1" ] && { readlink -f "$d/$1"; return; }
    done
}
cudart=$(ldd "$P/build/lib/libvolt.so.0" 2>/dev/null | awk '/libcudart/{print $1}')
maj=${cudart##*.}
cuda_files=()
for so in libcuda.so.1 $cudart $DLOPEN libcublas.so.${maj:-13} libcupti.so.${maj:-13}; do
    f=$(find_lib "$so")
    say "  $so -> ${f:-NOT FOUND}"
    [ -n "$f" ] && cuda_files+=("$f")
done

# ---- Open MPI from the pack (relocated), the data directories, the baked paths
export OPAL_PREFIX=$O OPAL_EXEC_PREFIX=$O OPAL_BINDIR=$O/bin OPAL_SBINDIR=$O/bin OPAL_LIBEXECDIR=$O/bin \
    OPAL_LIBDIR=$P/lib OPAL_PKGLIBDIR=$O/lib/openmpi OPAL_DATAROOTDIR=$O/share OPAL_DATADIR=$O/share \
    OPAL_PKGDATADIR=$O/share/openmpi OPAL_SYSCONFDIR=$O/etc \
    PMIX_PREFIX=$O/pmix PMIX_EXEC_PREFIX=$O/pmix PMIX_LIBDIR=$O/pmix/lib PMIX_PKGLIBDIR=$O/pmix/lib/pmix \
    PMIX_DATAROOTDIR=$O/pmix/share PMIX_DATADIR=$O/pmix/share PMIX_PKGDATADIR=$O/pmix/share/pmix \
    PMIX_SYSCONFDIR=$O/pmix/etc PMIX_MCA_mca_base_component_path=$O/pmix/lib/pmix HWLOC_PLUGINS_PATH=$O/hwloc
export PATH=$O/bin:$PATH
while read -r d; do
    [ -e "$d" ] || { mkdir -p "$(dirname "$d")" && ln -s "$P/data$d" "$d"; } || say "cannot link $d"
done < <(cat "$P/meta/data.list" 2>/dev/null)
# SRC: a directory of symlinks to this repository's entries (or the repository
# itself, if it is there); BLD: a symlink to the unpacked build.
if [ -n "$SRC" ] && [ -n "$BLD" ]; then
    if [ "$(cd "$SRC" 2>/dev/null && pwd -P)" != "$(cd "$REPO" && pwd -P)" ] &&
        { [ ! -e "$SRC" ] || [ -f "$SRC/.voltgpu-shadow" ]; }; then
        rm -rf "$SRC"
        if mkdir -p "$SRC" && touch "$SRC/.voltgpu-shadow"; then
            for e in "$REPO"/* "$REPO"/.[!.]*; do
                [ -e "$e" ] && [ "${e##*/}" != .git ] && ln -s "$e" "$SRC/${e##*/}"
            done
        fi
    fi
    if [ -L "$BLD" ] || [ ! -e "$BLD" ]; then
        rm -f "$BLD"
        mkdir -p "$(dirname "$BLD")" && ln -s "$P/build" "$BLD"
    fi
fi
REWRITE=0 # where the links could not be made: rewrite the paths instead
if [ "$(cd "$BLD" 2>/dev/null && pwd -P)" != "$(cd "$P/build" && pwd -P)" ] || [ ! -e "$SRC/scripts/gpu/run.sh" ]; then
    REWRITE=1
    say "WARNING: cannot make $BLD and $SRC point here: rewriting the tests' paths"
fi
fix() { # one argument or NAME=value of a test, for this machine
    local s=$1
    if [ -n "$MPIEXEC" ]; then
        [ "$s" = "$MPIEXEC" ] && s=$O/bin/mpiexec
        [ "$s" = "VOLT_MPIEXEC=$MPIEXEC" ] && s=VOLT_MPIEXEC=$O/bin/mpiexec
    fi
    [ $REWRITE = 1 ] && [ -n "$BLD" ] && { s=${s//"$BLD"/"$P/build"}; s=${s//"$SRC"/"$REPO"}; }
    printf '%s' "$s"
}
export -p | grep -E ' (LD_LIBRARY_PATH|LD_PRELOAD|PATH|OPAL_[A-Z_]+|PMIX_[A-Za-z_]+|HWLOC_PLUGINS_PATH)=' >"$P/env.sh"

# ---- every program and library resolves every library
say "== ldd"
nfiles=0
problems=$(
    for f in $(find "$P/build" "$P/lib" "$P/lib-compat" "$P/ompi" -type f) ${cuda_files[@]+"${cuda_files[@]}"}; do
        [ "$(od -An -tx1 -N4 "$f" 2>/dev/null | tr -d ' \n')" = 7f454c46 ] || continue
        ldd "$f" 2>&1 | grep -E 'not found' | sed "s|^|  ${f#"$P"/}: |"
    done
)
nfiles=$(find "$P/build" "$P/lib" "$P/lib-compat" "$P/ompi" -type f | wc -l)
if [ -n "$problems" ]; then
    say "LDD PROBLEMS (library not found):"
    say "$problems"
else
    say "ldd: all $nfiles packed files (and the CUDA libraries above) resolve every library"
fi
outside=$(ldd "$P/build/lib/libvolt.so.0" "$P/ompi/bin/orterun" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1 " " $3}' |
    grep -vE " ($P/|/usr/local/cuda)" | grep -vE '^(libc|libm|libdl|librt|libpthread|ld-linux)[.-]' | sort -u | tr '\n' ';')
say "libvolt/mpiexec libraries from this machine (not the pack): ${outside:-none}"

# ---- the tests
N=0
while IFS=$'\x1e' read -r -u 3 n to sk wd env cmd; do
    T_NAME[N]=$n T_TO[N]=$to T_SKIP[N]=$sk T_WD[N]=$wd T_ENV[N]=$env T_CMD[N]=$cmd
    N=$((N + 1))
done 3<"$P/meta/tests.tsv"
gpu_re='^cuda/|nccl|cuda'
wanted() {
    local w
    for w in "$@"; do
        case $w in
        tests | all) return 0 ;;
        gpu) [[ $name =~ $gpu_re ]] && return 0 ;;
        none | bench) ;;
        *) [ "$name" = "$w" ] && return 0; [[ $name =~ $w ]] && return 0 ;;
        esac
    done
    return 1
}
npass=0 nfail=0 nskip=0 nlate=0 failed=""
record() { # rc name seconds status [note]
    local line="rc=$1 $2 $3s $4${5:+ ($5)}"
    echo "$line" | tee -a "$LOG"
}
run_one() { # index
    local i=$1 E=() C=() x t rc st note nc secs t0 out=$P/.test-output
    IFS=$'\x1f' read -r -a x <<<"${T_ENV[i]}"
    for v in ${x[@]+"${x[@]}"}; do E+=("$(fix "$v")"); done
    IFS=$'\x1f' read -r -a x <<<"${T_CMD[i]}"
    for v in ${x[@]+"${x[@]}"}; do C+=("$(fix "$v")"); done
    for v in ${E[@]+"${E[@]}"}; do
        case $v in VOLT_TEST_TMPDIR=* | XDG_CACHE_HOME=*) mkdir -p "${v#*=}" ;; esac
    done
    [ -x "${C[0]}" ] || C[0]=$(command -v "${C[0]##*/}" || echo "${C[0]}")
    wd=$(fix "${T_WD[i]}")
    t=$TIMEOUT
    [ "${T_TO[i]}" -lt "$t" ] 2>/dev/null && t=${T_TO[i]}
    t0=$(date +%s.%N)
    (cd "$wd" && exec env ${E[@]+"${E[@]}"} timeout -k 10 "$t" "${C[@]}") </dev/null >"$out" 2>&1
    rc=$?
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    note=""
    if [ -n "${T_SKIP[i]}" ] && [ "$rc" = "${T_SKIP[i]}" ]; then
        st=SKIPPED nskip=$((nskip + 1))
        note=$(grep -m1 -i 'skipped' "$out" | cut -c1-150)
    elif [ "$rc" = 0 ]; then
        st=PASSED npass=$((npass + 1))
        nc=$(grep -cE '^\[  SKIPPED \] [a-z_]' "$out")
        [ "$nc" -gt 0 ] && note="$nc cases skipped"
    else
        st=FAILED nfail=$((nfail + 1)) failed="$failed ${T_NAME[i]}"
        { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && note="timeout ${t}s"
    fi
    record "$rc" "${T_NAME[i]}" "$secs" "$st" "$note"
    {
        echo "===== ${T_NAME[i]}: rc=$rc $st ${secs}s"
        echo "cd $wd && env ${E[*]} timeout $t ${C[*]}"
        if [ "$(stat -c %s "$FULL")" -gt "${VOLT_GPU_FULL_CAP:-15000000}" ]; then
            echo "[output not kept: tests-full.log is full]"
        elif [ "$(stat -c %s "$out")" -gt 200000 ]; then
            head -c 100000 "$out"
            echo "[... $(stat -c %s "$out") bytes, middle cut ...]"
            tail -c 100000 "$out"
        else
            cat "$out"
        fi
    } >>"$FULL"
}
selected=0
for pass in gpu rest; do
    for ((i = 0; i < N; i++)); do
        name=${T_NAME[i]}
        wanted "$@" || continue
        if [ $pass = gpu ]; then [[ $name =~ $gpu_re ]] || continue; else [[ $name =~ $gpu_re ]] && continue; fi
        selected=$((selected + 1))
        if [ "$(date +%s)" -ge "$DEADLINE" ]; then
            record - "$name" 0 "NOT RUN" "VOLT_GPU_BUDGET reached"
            nlate=$((nlate + 1))
            continue
        fi
        run_one "$i"
    done
done

# ---- bench/gpu's programs (WHAT bench): one short run each, output in bench.log
for w in "$@"; do [ "$w" = bench ] || continue
    for b in "gpu_train model=cnn" "gpu_train model=gpt" "attention_bench what=all"; do
        exe=$P/build/bench/bench_gpu_${b%% *}
        [ -x "$exe" ] || { record - "bench/${b// /:}" 0 "NOT PACKED"; continue; }
        [ "$(date +%s)" -lt "$DEADLINE" ] || { record - "bench/${b// /:}" 0 "NOT RUN" "VOLT_GPU_BUDGET reached"; continue; }
        t0=$(date +%s)
        # shellcheck disable=SC2086
        (cd "$P/build" && echo "== $b" && exec timeout -k 10 "$TIMEOUT" "$exe" ${b#* }) </dev/null >>"$OUT/bench.log" 2>&1
        rc=$?
        record "$rc" "bench/${b// /:}" "$(($(date +%s) - t0))" "$([ $rc = 0 ] && echo DONE || echo FAILED)"
    done
done

echo "summary: $npass passed, $nfail failed, $nskip skipped, $nlate not run (of $selected selected), $(($(date +%s) - START)) s${failed:+; failed:$failed}" | tee -a "$LOG"
echo "run: logs in $OUT; environment for other commands: . $P/env.sh"
