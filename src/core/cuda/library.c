/* library.c: opening a CUDA library at its first use (cuBLASLt, cuDNN,
 * NCCL: linking them would map hundreds of megabytes into every volt
 * program, GPU or not) and resolving the functions volt calls. */
#include <dlfcn.h>
#include <stdio.h>

#include "core/cuda/cuda_impl.h"

void *volt_cuda_open_library(const char *soname, const volt_cuda_symbol *symbols, size_t n,
                             char *failure, size_t size) {
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(failure, size, "%s", dlerror());
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", VOLT_CUDA_LIBRARY_DIR, soname);
        if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        *symbols[i].slot = dlsym(lib, symbols[i].name);
        if (!*symbols[i].slot) {
            snprintf(failure, size, "%s has no %s", soname, symbols[i].name);
            dlclose(lib);
            return NULL;
        }
    }
    return lib;
}
