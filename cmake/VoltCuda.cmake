# VoltCuda.cmake: the CUDA backend switch. Included by CMakeLists.txt before
# the compiler settings; sets
#   VOLT_CUDA             the option: ON by default when nvcc is found (on
#                         PATH, in $CUDACXX, or /usr/local/cuda/bin/nvcc)
#   VOLT_CUDA_ARCHS       the architectures built (CMAKE_CUDA_ARCHITECTURES)
# and, when ON, enables the CUDA language and finds CUDAToolkit
# (CUDA::cudart; cuBLASLt is opened at run time). CMakeLists.txt then adds
# the sources under src/*/cuda/ (kernels *.cu, host code *.c), the compile
# definition VOLT_HAVE_CUDA and the runtime; without CUDA it builds
# src/*/cuda_none.c instead.

include(CheckLanguage)

set(_volt_cuda_default OFF)
if(VOLT_FUZZ)
    # The fuzz build instruments every object with clang's libFuzzer and
    # sanitizer passes, which nvcc (whose host compiler is g++) cannot
    # apply; the parsers it fuzzes have no CUDA code.
    if(VOLT_CUDA)
        message(STATUS "volt: VOLT_FUZZ turns VOLT_CUDA off (nvcc cannot build fuzz objects)")
    endif()
    set(VOLT_CUDA OFF CACHE BOOL "Build the CUDA backend (nvcc, CUDA runtime, cuBLASLt)" FORCE)
elseif(NOT DEFINED VOLT_CUDA OR VOLT_CUDA)
    # CI images may not have nvcc on PATH: try the toolkit's usual place.
    if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
        find_program(VOLT_NVCC nvcc PATHS /usr/local/cuda/bin)
        if(VOLT_NVCC)
            set(CMAKE_CUDA_COMPILER "${VOLT_NVCC}" CACHE FILEPATH "CUDA compiler")
        endif()
    endif()
    check_language(CUDA)
    if(CMAKE_CUDA_COMPILER)
        set(_volt_cuda_default ON)
    endif()
endif()
option(VOLT_CUDA "Build the CUDA backend (nvcc, CUDA runtime, cuBLASLt)" ${_volt_cuda_default})

set(VOLT_CUDA_ARCHS "")
if(VOLT_CUDA)
    if(NOT CMAKE_CUDA_COMPILER)
        message(FATAL_ERROR "volt: VOLT_CUDA=ON but no CUDA compiler was found (install the CUDA "
                "toolkit, put nvcc on PATH or set CUDACXX), or configure with -DVOLT_CUDA=OFF")
    endif()
    # sm_80 (A100) and sm_90 (H100) machine code, plus compute_90 PTX that
    # the driver compiles for newer GPUs. -DCMAKE_CUDA_ARCHITECTURES=...
    # overrides it (e.g. "native" on a GPU machine, for a faster build).
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
        set(CMAKE_CUDA_ARCHITECTURES "80-real;90")
    endif()
    # The shared CUDA runtime (CUDA::cudart, linked explicitly below), not
    # CMake's default static one pulled into whatever links CUDA objects.
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    enable_language(CUDA)
    # Programs that link libvolt.a are linked by the C compiler like the
    # library itself (the kernels need no device link step), not by nvcc.
    set(CMAKE_CUDA_LINKER_PREFERENCE_PROPAGATES OFF)
    find_package(CUDAToolkit REQUIRED)
    set(VOLT_CUDA_ARCHS "${CMAKE_CUDA_ARCHITECTURES}")
    # For the installed package (voltConfig.cmake): the toolkit found here.
    get_filename_component(VOLT_CUDA_TOOLKIT_ROOT "${CUDAToolkit_BIN_DIR}" DIRECTORY)
endif()
