# VoltTests.cmake: the ctest suites.
#
#   tests/common/*.c          -> volt_testing, a static helper library
#                                (include dir tests/common), linked by every test
#   tests/<dir>/test_<x>.c    -> one executable build/tests/<dir>/test_<x>,
#                                registered as ctest <dir>/test_<x>, label <dir>
#   tests/install/            -> ctest install/find_package_and_pkg_config
#
# Every test runs in the build directory with
#   VOLT_SOURCE_DIR    the source tree (committed data: tests/parity/vectors)
#   VOLT_TEST_TMPDIR   a scratch directory of its own, so tests may run in
#                      parallel (ctest -j) without sharing files.
# Tests also see src/ as an include path, for the layers' *_impl.h headers.

set(VOLT_TEST_TIMEOUT 600 CACHE STRING "ctest TIMEOUT of each test, in seconds")

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(CMOCKA QUIET IMPORTED_TARGET cmocka)
endif()
if(TARGET PkgConfig::CMOCKA)
    set(VOLT_CMOCKA PkgConfig::CMOCKA)
else()
    find_path(VOLT_CMOCKA_INCLUDE_DIR cmocka.h)
    find_library(VOLT_CMOCKA_LIBRARY cmocka)
    if(NOT VOLT_CMOCKA_INCLUDE_DIR OR NOT VOLT_CMOCKA_LIBRARY)
        message(FATAL_ERROR "volt: cmocka not found (Debian: libcmocka-dev), "
                "or configure with -DVOLT_BUILD_TESTS=OFF")
    endif()
    add_library(volt_cmocka INTERFACE IMPORTED)
    set_target_properties(volt_cmocka PROPERTIES
        INTERFACE_LINK_LIBRARIES "${VOLT_CMOCKA_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${VOLT_CMOCKA_INCLUDE_DIR}")
    set(VOLT_CMOCKA volt_cmocka)
endif()

# Helpers shared by the suites (an INTERFACE library until there are any).
file(GLOB VOLT_TESTING_SOURCES CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/tests/common/*.c")
if(VOLT_TESTING_SOURCES)
    add_library(volt_testing STATIC ${VOLT_TESTING_SOURCES})
    set(_volt_scope PUBLIC)
    target_compile_definitions(volt_testing PRIVATE _GNU_SOURCE)
else()
    add_library(volt_testing INTERFACE)
    set(_volt_scope INTERFACE)
endif()
target_include_directories(volt_testing ${_volt_scope}
    "${PROJECT_SOURCE_DIR}/tests/common" "${PROJECT_SOURCE_DIR}/src")
# The shared libvolt (it exports the internal functions the suites call too):
# linked statically, each of ~140 test programs would carry its own copy of
# the CUDA kernels' machine code (~25 MB a program, 4 GB a build).
target_link_libraries(volt_testing ${_volt_scope} volt ${VOLT_CMOCKA}
                      ${VOLT_PRIVATE_DEPS})
if(VOLT_CUDA) # tests of volt's CUDA internals (tests/cuda) compile only then
    target_compile_definitions(volt_testing ${_volt_scope} VOLT_HAVE_CUDA)
endif()

# One executable and one ctest per tests/<dir>/test_*.c. Directories are found
# by the glob (core, ops, autograd, nn, optim, data, io, train, dist, ...).
# Distributed tests: tests/dist/test_mpi_*.c run as two ranks,
#   mpiexec -n 2 --oversubscribe --allow-run-as-root test_mpi_<x>
# (MPI from CMakeLists.txt's find_package(MPI); --allow-run-as-root is only
# a permission, harmless when not root); the other tests/dist programs run
# as one process and start mpiexec themselves (VOLT_MPIEXEC). Every dist test
# takes 2 processors and the `mpi` resource lock, and under VOLT_SANITIZE
# LeakSanitizer skips Open MPI's own leaks (tests/dist/lsan.supp; the slow
# unwinder, so that stacks through Open MPI's plugins reach its libraries).
if(NOT MPIEXEC_EXECUTABLE)
    message(FATAL_ERROR "volt: mpiexec not found for tests/dist (Debian: openmpi-bin), "
            "or configure with -DVOLT_BUILD_TESTS=OFF")
endif()
set(VOLT_MPIEXEC_ARGS ${MPIEXEC_NUMPROC_FLAG} 2 --oversubscribe --allow-run-as-root
    ${MPIEXEC_PREFLAGS})
file(GLOB VOLT_TEST_SOURCES CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/tests/*/test_*.c")
list(SORT VOLT_TEST_SOURCES)
foreach(_src IN LISTS VOLT_TEST_SOURCES)
    get_filename_component(_name "${_src}" NAME_WE)   # test_tensor
    get_filename_component(_dir "${_src}" DIRECTORY)
    get_filename_component(_dir "${_dir}" NAME)         # core
    if(_dir STREQUAL "common" OR _dir STREQUAL "install")
        continue()
    endif()
    string(REGEX REPLACE "^test_" "" _short "${_name}")
    set(_target test_${_dir}_${_short})
    add_executable(${_target} "${_src}")
    set_target_properties(${_target} PROPERTIES OUTPUT_NAME ${_name}
        RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests/${_dir}")
    target_compile_definitions(${_target} PRIVATE _GNU_SOURCE)
    target_link_libraries(${_target} PRIVATE volt_testing)

    set(_tmp "${PROJECT_BINARY_DIR}/tests/tmp/${_dir}/${_name}")
    file(MAKE_DIRECTORY "${_tmp}")
    set(_command ${_target})
    if(_dir STREQUAL "dist" AND _name MATCHES "^test_mpi_")
        set(_command ${MPIEXEC_EXECUTABLE} ${VOLT_MPIEXEC_ARGS} $<TARGET_FILE:${_target}>
                     ${MPIEXEC_POSTFLAGS})
    endif()
    add_test(NAME ${_dir}/${_name} COMMAND ${_command}
             WORKING_DIRECTORY "${PROJECT_BINARY_DIR}")
    set_tests_properties(${_dir}/${_name} PROPERTIES
        TIMEOUT ${VOLT_TEST_TIMEOUT}
        LABELS ${_dir}
        ENVIRONMENT
        "VOLT_SOURCE_DIR=${PROJECT_SOURCE_DIR};VOLT_TEST_TMPDIR=${_tmp};XDG_CACHE_HOME=${PROJECT_BINARY_DIR}/test-cache")
    if(_dir STREQUAL "dist")
        set_tests_properties(${_dir}/${_name} PROPERTIES PROCESSORS 2 RESOURCE_LOCK mpi)
        set_property(TEST ${_dir}/${_name} APPEND PROPERTY ENVIRONMENT
                     "VOLT_MPIEXEC=${MPIEXEC_EXECUTABLE}")
        if(VOLT_SANITIZE)
            set_property(TEST ${_dir}/${_name} APPEND PROPERTY ENVIRONMENT
                "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/dist/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0")
        endif()
    endif()
endforeach()

# Tests that exit 77 when what they need is missing are skipped (they print
# why): tests/tools run the built `volt` program, whose path they get in
# VOLT_CLI; io/test_interop needs a Python with torch and safetensors,
# io/test_tensorboard_python one with tensorboard; train/test_resume_kill
# runs examples/resumable_fashion_mnist on the Fashion-MNIST files;
# dist/test_mpi_nccl needs a GPU per rank (every rank exits 77 otherwise).
foreach(_test tools/test_volt_cli tools/test_volt_cli_fit io/test_interop
              io/test_tensorboard_python train/test_resume_kill dist/test_mpi_nccl)
    if(TEST ${_test})
        set_tests_properties(${_test} PROPERTIES SKIP_RETURN_CODE 77)
    endif()
endforeach()
# Every test outside tests/cuda (and dist/test_mpi_nccl) sees no GPU
# (CUDA_VISIBLE_DEVICES empty; the two-host tests below too): accelerator
# "auto", the default, picks a GPU where there is one, and these tests
# check the CPU's results.
foreach(_src IN LISTS VOLT_TEST_SOURCES)
    if(_src MATCHES "/tests/([^/]*)/(test_[^/]*)\\.c$")
        set(_test ${CMAKE_MATCH_1}/${CMAKE_MATCH_2})
        if(NOT CMAKE_MATCH_1 STREQUAL "cuda" AND NOT _test STREQUAL "dist/test_mpi_nccl"
           AND TEST ${_test})
            set_property(TEST ${_test} APPEND PROPERTY ENVIRONMENT "CUDA_VISIBLE_DEVICES=")
        endif()
    endif()
endforeach()
# tests/cuda: the GPU tests exit 77 with "SKIPPED: no CUDA device (<reason>)"
# where there is no usable GPU (always in a build without VOLT_CUDA); the
# others there (the refusals, the accelerator checks) run everywhere.
foreach(_src IN LISTS VOLT_TEST_SOURCES)
    if(_src MATCHES "/tests/cuda/(test_[^/]*)\\.c$")
        set_tests_properties(cuda/${CMAKE_MATCH_1} PROPERTIES SKIP_RETURN_CODE 77)
    endif()
endforeach()
foreach(_test tools/test_volt_cli tools/test_volt_cli_fit)
    if(TARGET volt_cli AND TEST ${_test})
        set_property(TEST ${_test} APPEND PROPERTY
                     ENVIRONMENT "VOLT_CLI=$<TARGET_FILE:volt_cli>")
    endif()
endforeach()
# tools/test_volt_cli_fit runs `volt fit --trainer.devices=2`, which starts
# MPI ranks: Open MPI's own allocations are suppressed as for tests/dist.
if(VOLT_SANITIZE AND TEST tools/test_volt_cli_fit)
    set_property(TEST tools/test_volt_cli_fit APPEND PROPERTY ENVIRONMENT
        "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/dist/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0")
    set_property(TEST tools/test_volt_cli_fit APPEND PROPERTY RESOURCE_LOCK mpi)
endif()

# Two hosts (issue 8): tests/dist/two_hosts.sh runs test_mpi_collectives as
# one rank in each of two network namespaces joined by a veth pair, MPI over
# TCP; it exits 77 (skipped, saying why) where namespaces cannot be created.
if(TARGET test_dist_mpi_collectives)
    add_test(NAME dist/two_hosts
             COMMAND bash "${PROJECT_SOURCE_DIR}/tests/dist/two_hosts.sh"
                     $<TARGET_FILE:test_dist_mpi_collectives>
             WORKING_DIRECTORY "${PROJECT_BINARY_DIR}")
    set_tests_properties(dist/two_hosts PROPERTIES
        TIMEOUT ${VOLT_TEST_TIMEOUT} LABELS dist SKIP_RETURN_CODE 77
        PROCESSORS 2 RESOURCE_LOCK mpi
        ENVIRONMENT
        "VOLT_SOURCE_DIR=${PROJECT_SOURCE_DIR};VOLT_MPIEXEC=${MPIEXEC_EXECUTABLE};CUDA_VISIBLE_DEVICES=")
    if(VOLT_SANITIZE)
        set_property(TEST dist/two_hosts APPEND PROPERTY ENVIRONMENT
            "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/dist/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0")
    endif()
endif()

# ... and trains the MLP example (examples/fabric_loop) across the two hosts
# to the same weights as on one host.
if(VOLT_BUILD_EXAMPLES AND TARGET test_dist_mpi_collectives)  # the example is defined later
    add_test(NAME dist/two_hosts_train
             COMMAND bash "${PROJECT_SOURCE_DIR}/tests/dist/two_hosts_train.sh"
                     $<TARGET_FILE:example_fabric_loop>
             WORKING_DIRECTORY "${PROJECT_BINARY_DIR}")
    set_tests_properties(dist/two_hosts_train PROPERTIES
        TIMEOUT ${VOLT_TEST_TIMEOUT} LABELS dist SKIP_RETURN_CODE 77
        PROCESSORS 2 RESOURCE_LOCK mpi
        ENVIRONMENT
        "VOLT_MPIEXEC=${MPIEXEC_EXECUTABLE};OMP_NUM_THREADS=1;XDG_CACHE_HOME=${PROJECT_BINARY_DIR}/test-cache;CUDA_VISIBLE_DEVICES=")
    if(VOLT_SANITIZE)
        set_property(TEST dist/two_hosts_train APPEND PROPERTY ENVIRONMENT
            "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/dist/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0")
    endif()
endif()

# docs/cli.md is generated from the option tables; it must be current.
if(TARGET volt_cli)
    add_test(NAME tools/cli_reference
             COMMAND bash "${PROJECT_SOURCE_DIR}/scripts/cli-reference.sh"
                     "$<TARGET_FILE:volt_cli>" --check)
    set_tests_properties(tools/cli_reference PROPERTIES LABELS tools)
endif()

# The installed package works for a consumer: find_package(volt) and
# pkg-config, shared and static (tests/install/run.sh). It installs this build
# into a temporary prefix, so it needs nothing but the built libraries.
add_test(NAME install/find_package_and_pkg_config
         COMMAND bash "${PROJECT_SOURCE_DIR}/tests/install/run.sh"
                 "${PROJECT_BINARY_DIR}" "${PROJECT_VERSION}"
         WORKING_DIRECTORY "${PROJECT_BINARY_DIR}")
set_tests_properties(install/find_package_and_pkg_config PROPERTIES
    TIMEOUT ${VOLT_TEST_TIMEOUT}
    LABELS install
    ENVIRONMENT "CC=${CMAKE_C_COMPILER};CMAKE_COMMAND=${CMAKE_COMMAND}")
