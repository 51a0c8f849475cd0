# VoltCheckOpenBLAS.cmake: checks that the OpenBLAS volt links is the OpenMP
# build, as loaded at run time by an installed program (DESIGN.md §7: the
# pthread build fights OpenMP for the cores).
#
# The probe is linked against volt::openblas *without* a build RPATH, so the
# dynamic loader resolves libopenblas.so.0 exactly as it will for installed
# volt programs: on Debian through /usr/lib/<arch>/libopenblas.so.0, the
# update-alternatives link (binaries in the build tree get an RPATH to the
# openblas-openmp directory instead and so always load the OpenMP build).
#
# VOLT_REQUIRE_OPENMP_BLAS (default ON) makes a pthread/sequential OpenBLAS a
# configure error; OFF downgrades it to a warning. Skipped when
# cross-compiling.

if(CMAKE_CROSSCOMPILING)
    return()
endif()

unset(VOLT_OPENBLAS_PROBE_RUN CACHE)
unset(VOLT_OPENBLAS_PROBE_COMPILE CACHE)
try_run(VOLT_OPENBLAS_PROBE_RUN VOLT_OPENBLAS_PROBE_COMPILE
        "${CMAKE_BINARY_DIR}/CMakeFiles/volt_openblas_probe"
        "${CMAKE_CURRENT_LIST_DIR}/openblas_parallel.c"
        CMAKE_FLAGS -DCMAKE_SKIP_RPATH=ON -DCMAKE_SKIP_BUILD_RPATH=ON
        LINK_LIBRARIES volt::openblas
        COMPILE_OUTPUT_VARIABLE _volt_probe_compile_out
        RUN_OUTPUT_VARIABLE _volt_probe_out)

set(_volt_probe_fix
    "On Debian: install libopenblas-openmp-dev and select it with\n"
    "  update-alternatives --set libopenblas.so.0-${CMAKE_LIBRARY_ARCHITECTURE} "
    "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp/libopenblas.so.0\n"
    "(scripts/install-deps.sh does both), or configure with "
    "-DVOLT_REQUIRE_OPENMP_BLAS=OFF to accept it.")

if(NOT VOLT_OPENBLAS_PROBE_COMPILE)
    message(FATAL_ERROR "volt: could not link a program against OpenBLAS "
            "(${VOLT_OPENBLAS_LIBRARY_PATHS}):\n${_volt_probe_compile_out}")
elseif(NOT VOLT_OPENBLAS_PROBE_RUN EQUAL 0)
    message(FATAL_ERROR "volt: an OpenBLAS program failed to run "
            "(exit ${VOLT_OPENBLAS_PROBE_RUN}):\n${_volt_probe_out}")
endif()

string(STRIP "${_volt_probe_out}" _volt_probe_out)
list(GET _volt_probe_out 0 VOLT_OPENBLAS_PARALLEL)
list(GET _volt_probe_out 1 VOLT_OPENBLAS_CONFIG)
if(VOLT_OPENBLAS_PARALLEL STREQUAL "2")
    message(STATUS "OpenBLAS: ${VOLT_OPENBLAS_LIBRARY_PATHS} (OpenMP build at run time: "
            "${VOLT_OPENBLAS_CONFIG})")
else()
    if(VOLT_OPENBLAS_PARALLEL STREQUAL "1")
        set(_volt_kind "the pthread build")
    else()
        set(_volt_kind "a sequential build")
    endif()
    if(VOLT_REQUIRE_OPENMP_BLAS)
        set(_volt_level FATAL_ERROR)
    else()
        set(_volt_level WARNING)
    endif()
    message(${_volt_level} "volt: the OpenBLAS loaded at run time is ${_volt_kind} "
            "(${VOLT_OPENBLAS_CONFIG}), not the OpenMP one.\n" ${_volt_probe_fix})
endif()

unset(_volt_probe_out)
unset(_volt_probe_compile_out)
unset(_volt_probe_fix)
