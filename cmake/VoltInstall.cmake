# VoltInstall.cmake: what `cmake --install` puts under the prefix:
#   bin/volt                   the command line program (tools/volt), when built
#   include/volt/*.h
#   <libdir>/libvolt.so.0.1.0, libvolt.so.0, libvolt.so, libvolt.a
#   <libdir>/pkgconfig/volt.pc
#   <libdir>/cmake/volt/{voltConfig,voltConfigVersion,voltTargets*,
#                        voltFindOpenBLAS}.cmake   (targets volt::volt, volt::volt_static)
# <libdir> is GNUInstallDirs' CMAKE_INSTALL_LIBDIR: "lib" for the default
# prefix /usr/local, "lib/<multiarch>" when configured with prefix /usr.

set(VOLT_CMAKE_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/volt")
set(VOLT_PKGCONFIG_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

install(TARGETS volt volt_static EXPORT voltTargets
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
if(TARGET volt_cli)
    install(TARGETS volt_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
endif()
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/volt"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.h")

# CMake package.
install(EXPORT voltTargets NAMESPACE volt:: DESTINATION "${VOLT_CMAKE_INSTALL_DIR}")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/voltConfig.cmake.in"
    "${PROJECT_BINARY_DIR}/voltConfig.cmake"
    INSTALL_DESTINATION "${VOLT_CMAKE_INSTALL_DIR}")
# 0.x: a new minor version may break the API.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/voltConfigVersion.cmake"
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/voltConfig.cmake"
              "${PROJECT_BINARY_DIR}/voltConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/voltFindOpenBLAS.cmake"
        DESTINATION "${VOLT_CMAKE_INSTALL_DIR}")

# pkg-config file. Paths are relative to the .pc file (${pcfiledir}), so the
# installed tree can be moved and `cmake --install --prefix` works.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(VOLT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    set(VOLT_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
    file(RELATIVE_PATH _volt_up "/root/${VOLT_PKGCONFIG_INSTALL_DIR}" "/root")
    string(REGEX REPLACE "/$" "" _volt_up "${_volt_up}")
    set(VOLT_PC_PREFIX "\${pcfiledir}/${_volt_up}")
    set(VOLT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(VOLT_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
    set(VOLT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# Private dependencies, for `pkg-config --static` (keep in step with
# VOLT_PRIVATE_DEPS in CMakeLists.txt).
set(_volt_requires "")
set(VOLT_PC_LIBS_PRIVATE "${OpenMP_C_FLAGS}")
if(VOLT_OPENBLAS_VIA_PKGCONFIG)
    list(APPEND _volt_requires openblas)
else()
    foreach(_lib IN LISTS VOLT_OPENBLAS_LIBRARY_PATHS)
        string(APPEND VOLT_PC_LIBS_PRIVATE " ${_lib}")
    endforeach()
endif()
if(VOLT_LIBM)
    string(APPEND VOLT_PC_LIBS_PRIVATE " -lm")
endif()
list(APPEND _volt_requires libcjson zlib)
# oneDNN ships no .pc file: its library goes in Libs.private directly.
string(APPEND VOLT_PC_LIBS_PRIVATE " -ldnnl")
list(APPEND _volt_requires yaml-0.1 libprotobuf-c)
list(APPEND _volt_requires ompi-c)       # Open MPI (libopenmpi-dev)
if(VOLT_CUDA)                            # the CUDA toolkit ships no .pc files
    string(APPEND VOLT_PC_LIBS_PRIVATE " -L${CUDAToolkit_LIBRARY_DIR} -lcudart")
    if(CMAKE_DL_LIBS) # dlopen, for cuBLASLt (src/ops/cuda/cublaslt_lib.c)
        string(APPEND VOLT_PC_LIBS_PRIVATE " -l${CMAKE_DL_LIBS}")
    endif()
endif()
if(_volt_requires)
    list(JOIN _volt_requires ", " _volt_requires)
    set(VOLT_PC_REQUIRES_PRIVATE_LINE "Requires.private: ${_volt_requires}")
else()
    set(VOLT_PC_REQUIRES_PRIVATE_LINE "")
endif()
set(VOLT_PC_LIBS_EXTRA "")
if(VOLT_SANITIZE)
    set(VOLT_PC_LIBS_EXTRA " -fsanitize=address,undefined")
endif()
configure_file("${PROJECT_SOURCE_DIR}/cmake/volt.pc.in" "${PROJECT_BINARY_DIR}/volt.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/volt.pc" DESTINATION "${VOLT_PKGCONFIG_INSTALL_DIR}")
