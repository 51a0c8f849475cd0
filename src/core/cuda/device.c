/* device.c (CUDA): which CUDA devices exist — counted once per process —,
 * the check behind volt_device_check for cuda:i, device selection,
 * synchronisation, and the VOLT_CUDA_CHECK reports. */
#include <pthread.h>
#include <string.h>

#include "core/cuda/cuda_impl.h"

static pthread_once_t count_once = PTHREAD_ONCE_INIT;
static int n_devices;
static cudaError_t count_error = cudaSuccess;

static void count_devices(void) {
    int n = 0;
    count_error = cudaGetDeviceCount(&n);
    if (count_error != cudaSuccess) {
        n = 0;
        (void)cudaGetLastError();
    }
    n_devices = n;
}

bool volt_cuda_is_built(void) { return true; }

int volt_cuda_device_count(void) {
    pthread_once(&count_once, count_devices);
    return n_devices;
}

bool volt_cuda_is_available(void) { return volt_cuda_device_count() > 0; }

volt_status volt_cuda_check_device(const char *op, int index) {
    int n = volt_cuda_device_count();
    const char *sep = op ? ": " : "";
    op = op ? op : "";
    if (index < 0)
        return volt_error_set(VOLT_ERR_DEVICE, "%s%scuda:%d: a CUDA device index is >= 0", op, sep,
                              index);
    if (n == 0)
        return volt_error_set(
            VOLT_ERR_DEVICE, "%s%scuda:%d: no CUDA device is available (cudaGetDeviceCount: %s)",
            op, sep, index,
            count_error == cudaSuccess ? "0 devices" : cudaGetErrorString(count_error));
    if (index < n) return VOLT_OK;
    if (n == 1)
        return volt_error_set(VOLT_ERR_DEVICE,
                              "%s%scuda:%d: this machine has 1 CUDA device (cuda:0)", op, sep,
                              index);
    return volt_error_set(VOLT_ERR_DEVICE,
                          "%s%scuda:%d: this machine has %d CUDA devices (cuda:0 to cuda:%d)", op,
                          sep, index, n, n - 1);
}

volt_status volt_cuda_set_device(int index) {
    return VOLT_CUDA_CHECK(cudaSetDevice(index), "selecting the device");
}

volt_status volt_cuda_synchronize(int device) {
    if (volt_cuda_check_device("cuda_synchronize", device)) return volt_error_status();
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(cudaDeviceSynchronize(),
                           "an earlier kernel or copy on this device failed");
}

const char *volt_cuda_short_path(const char *file) {
    const char *s = strstr(file, "/src/");
    return s ? s + 1 : file;
}

volt_status volt_cuda_check_result(int err, const char *call, const char *hint, const char *file,
                                   int line) {
    if (err == cudaSuccess) return VOLT_OK;
    cudaError_t e = (cudaError_t)err;
    (void)cudaGetLastError(); /* a non-sticky error must not fail the next call */
    return volt_error_set(e == cudaErrorMemoryAllocation ? VOLT_ERR_OUT_OF_MEMORY : VOLT_ERR_DEVICE,
                          "cuda: %s failed: %s (%s) at %s:%d%s%s", call, cudaGetErrorString(e),
                          cudaGetErrorName(e), volt_cuda_short_path(file), line, hint ? "; " : "",
                          hint ? hint : "");
}
