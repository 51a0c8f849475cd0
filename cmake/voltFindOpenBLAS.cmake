# voltFindOpenBLAS.cmake: defines the imported target volt::openblas (the
# OpenBLAS library with its CBLAS interface and headers).
#
# Used by volt's own build and, installed next to voltConfig.cmake, by
# find_package(volt) (the static library's link interface names it).
#
# Search order:
#   1. pkg-config module `openblas`. On Debian this .pc file belongs to the
#      OpenBLAS variant selected by update-alternatives; with
#      libopenblas-openmp-dev it points at
#      /usr/lib/<arch>/openblas-openmp/{libopenblas.so,cblas.h}, so the header
#      and library always come from the same variant.
#   2. find_path(cblas.h) + find_library(openblas), preferring an
#      openblas-openmp/ subdirectory.
#
# Sets VOLT_OPENBLAS_FOUND, VOLT_OPENBLAS_VIA_PKGCONFIG and
# VOLT_OPENBLAS_LIBRARY_PATHS (the libraries the target links).

if(TARGET volt::openblas)
    set(VOLT_OPENBLAS_FOUND TRUE)
    return()
endif()

set(VOLT_OPENBLAS_FOUND FALSE)
set(VOLT_OPENBLAS_VIA_PKGCONFIG FALSE)
set(_volt_openblas_libs "")
set(_volt_openblas_incs "")

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(VOLT_PC_OPENBLAS QUIET openblas)
endif()

if(VOLT_PC_OPENBLAS_FOUND AND VOLT_PC_OPENBLAS_LINK_LIBRARIES)
    set(_volt_openblas_libs ${VOLT_PC_OPENBLAS_LINK_LIBRARIES})
    set(_volt_openblas_incs ${VOLT_PC_OPENBLAS_INCLUDE_DIRS})
    set(VOLT_OPENBLAS_VIA_PKGCONFIG TRUE)
else()
    find_path(VOLT_OPENBLAS_INCLUDE_DIR cblas.h
              PATH_SUFFIXES openblas-openmp openblas)
    find_library(VOLT_OPENBLAS_LIBRARY NAMES openblas
                 PATH_SUFFIXES openblas-openmp)
    if(VOLT_OPENBLAS_INCLUDE_DIR AND VOLT_OPENBLAS_LIBRARY)
        set(_volt_openblas_libs ${VOLT_OPENBLAS_LIBRARY})
        set(_volt_openblas_incs ${VOLT_OPENBLAS_INCLUDE_DIR})
    endif()
endif()

if(_volt_openblas_libs)
    add_library(volt::openblas INTERFACE IMPORTED)
    set_target_properties(volt::openblas PROPERTIES
        INTERFACE_LINK_LIBRARIES "${_volt_openblas_libs}"
        INTERFACE_INCLUDE_DIRECTORIES "${_volt_openblas_incs}")
    set(VOLT_OPENBLAS_FOUND TRUE)
    set(VOLT_OPENBLAS_LIBRARY_PATHS ${_volt_openblas_libs})
endif()

unset(_volt_openblas_libs)
unset(_volt_openblas_incs)
