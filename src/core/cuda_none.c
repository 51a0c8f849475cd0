/* cuda_none.c: the core layer's CUDA entry points in a build without the
 * CUDA backend (VOLT_CUDA=OFF; the real ones are in core/cuda/): there is no
 * CUDA device, and every request for one is refused with "this build of
 * volt has no CUDA backend". */
#include "core/core_impl.h"

bool volt_cuda_is_built(void) { return false; }

int volt_cuda_device_count(void) { return 0; }

bool volt_cuda_is_available(void) { return false; }

volt_status volt_cuda_check_device(const char *op, int index) {
    return volt_error_set(VOLT_ERR_DEVICE, "%s%scuda:%d: this build of volt has no CUDA backend",
                          op ? op : "", op ? ": " : "", index);
}

void *volt_cuda_alloc(int device, size_t nbytes, void **block) {
    (void)nbytes;
    *block = NULL;
    volt_cuda_check_device(NULL, device);
    return NULL;
}

void volt_cuda_free(void *block) { (void)block; }

void *volt_cuda_host_alloc(size_t nbytes, void **block) {
    (void)nbytes;
    *block = NULL;
    volt_error_set(VOLT_ERR_DEVICE, "pinned memory: this build of volt has no CUDA backend");
    return NULL;
}

void volt_cuda_host_free(void *block) { (void)block; }

volt_status volt_cuda_memcpy(void *dst, volt_device dst_dev, const void *src, volt_device src_dev,
                             size_t n, void *pinned) {
    (void)dst, (void)src, (void)n, (void)pinned;
    return volt_cuda_check_device(NULL, dst_dev.type == VOLT_CUDA ? dst_dev.index : src_dev.index);
}

volt_status volt_cuda_memcpy_2d(void *dst, size_t dpitch, const void *src, size_t spitch,
                                size_t width, size_t rows, int device) {
    (void)dst, (void)dpitch, (void)src, (void)spitch, (void)width, (void)rows;
    return volt_cuda_check_device(NULL, device);
}

volt_memory_stats volt_cuda_memory_stats(int device) {
    volt_cuda_check_device("cuda_memory_stats", device);
    return (volt_memory_stats){0};
}

void volt_cuda_reset_peak_memory_stats(int device) {
    volt_cuda_check_device("cuda_reset_peak_memory_stats", device);
}

void volt_cuda_empty_cache(void) {}

void volt_cuda_alloc_fail_after(int64_t n) { (void)n; }

volt_status volt_cuda_synchronize(int device) {
    return volt_cuda_check_device("cuda_synchronize", device);
}
