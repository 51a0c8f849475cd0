#!/usr/bin/env bash
# run.sh BUILD_DIR VERSION: checks that an installed volt can be used.
# Installs BUILD_DIR into a temporary prefix, then builds tests/install/main.c
#   1. with CMake, find_package(volt): against volt::volt and volt::volt_static;
#   2. with `cc $(pkg-config --cflags --libs volt)` (shared library);
#   3. with `pkg-config --static` and libvolt.a;
# runs each and checks that it prints VERSION. Writes only under a temporary
# directory, removed on exit. ctest runs it as install/find_package_and_pkg_config.
set -euo pipefail

build=$(cd "$1" && pwd)
version=$2
here=$(cd "$(dirname "$0")" && pwd)
cmake=${CMAKE_COMMAND:-cmake}
cc=${CC:-cc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/volt-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() { echo "install test: FAIL: $*" >&2; exit 1; }

check_run() { # check_run NAME PROGRAM [ENV...]: runs PROGRAM, expects VERSION
    local name=$1 prog=$2 out
    shift 2
    out=$(env "$@" "$prog") || fail "$name: exited with $?"
    [ "$out" = "$version" ] || fail "$name: printed '$out', expected '$version'"
    echo "install test: $name: ok ($out)"
}

needs_libvolt_so() { # needs_libvolt_so PROGRAM yes|no
    if readelf -d "$1" | grep -q 'NEEDED.*libvolt\.so'; then
        [ "$2" = yes ] || fail "$1 links libvolt.so, expected the static library"
    else
        [ "$2" = no ] || fail "$1 does not link libvolt.so"
    fi
}

echo "install test: cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
for h in "$here"/../../include/volt/*.h; do
    [ -f "$prefix/include/volt/${h##*/}" ] || fail "missing include/volt/${h##*/}"
done
libvolt_a=$(find "$prefix" -name 'libvolt.a' -print -quit)
[ -n "$libvolt_a" ] || fail "libvolt.a not installed"
libdir=$(dirname "$libvolt_a")
for f in libvolt.so libvolt.so.0 pkgconfig/volt.pc cmake/volt/voltConfig.cmake \
         cmake/volt/voltConfigVersion.cmake cmake/volt/voltTargets.cmake; do
    [ -e "$libdir/$f" ] || fail "missing ${libdir#"$prefix"/}/$f"
done

# 1. CMake package.
"$cmake" -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; fail "configuring the find_package(volt) consumer"; }
"$cmake" --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; fail "building the find_package(volt) consumer"; }
needs_libvolt_so "$tmp/cmake-build/consumer_shared" yes
needs_libvolt_so "$tmp/cmake-build/consumer_static" no
check_run "find_package, volt::volt" "$tmp/cmake-build/consumer_shared"
check_run "find_package, volt::volt_static" "$tmp/cmake-build/consumer_static"

# 2. pkg-config, shared library.
export PKG_CONFIG_PATH=$libdir/pkgconfig
cflags=$(pkg-config --cflags volt)
libs=$(pkg-config --libs volt)
# shellcheck disable=SC2086 # word splitting of the flags is intended
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "$here/main.c" -o "$tmp/pc_shared" \
    $cflags $libs || fail "cc main.c $cflags $libs"
needs_libvolt_so "$tmp/pc_shared" yes
check_run "pkg-config --libs volt" "$tmp/pc_shared" \
    "LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# 3. pkg-config --static, libvolt.a (-lvolt alone would pick libvolt.so).
static_libs=$(pkg-config --static --libs volt)
static_libs=${static_libs/-lvolt/-Wl,-Bstatic -lvolt -Wl,-Bdynamic}
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "$here/main.c" -o "$tmp/pc_static" \
    $cflags $static_libs || fail "cc main.c $cflags $static_libs"
needs_libvolt_so "$tmp/pc_static" no
check_run "pkg-config --static --libs volt" "$tmp/pc_static"

echo "install test: all ok (pkg-config dir ${libdir#"$prefix"/}/pkgconfig)"
