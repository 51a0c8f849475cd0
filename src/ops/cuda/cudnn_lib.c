/* cudnn_lib.c: opens cuDNN at its first use and resolves the functions
 * volt calls (see cudnn_lib.h for why it is not linked); the per-device
 * handles; VOLT_CUDNN_CHECK's report. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "ops/cuda/cudnn_lib.h"

#include "core/cuda/cuda_impl.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define CUDNN_SONAME "libcudnn.so." STR(CUDNN_MAJOR)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static volt_cudnn_api table;
static bool loaded;
static char failure[512];

static void load(void) {
    const volt_cuda_symbol symbols[] = {
#define SYMBOL(f) {"cudnn" #f, (void **)&table.f},
        VOLT_CUDNN_FUNCTIONS(SYMBOL)
#undef SYMBOL
    };
    void *lib = volt_cuda_open_library(CUDNN_SONAME, symbols, sizeof symbols / sizeof symbols[0],
                                       failure, sizeof failure);
    if (!lib) return;
    /* The headers' major version is the library's (its soname), but a
     * library older than the 9.0 API volt uses is refused by name. */
    size_t version = table.GetVersion();
    if (version < 90000) {
        snprintf(failure, sizeof failure, "%s is version %zu, volt needs 9.0 or newer",
                 CUDNN_SONAME, version);
        dlclose(lib);
        return;
    }
    loaded = true;
}

const volt_cudnn_api *volt_cudnn(void) {
    pthread_once(&once, load);
    if (loaded) return &table;
    volt_error_set(VOLT_ERR_DEVICE, "cuda: cannot load cuDNN (%s)", failure);
    return NULL;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static cudnnHandle_t *handles;
static int n_handles;

cudnnHandle_t volt_cudnn_handle(int device, const volt_cudnn_api **api) {
    const volt_cudnn_api *dnn = volt_cudnn();
    if (!dnn) return NULL;
    *api = dnn;
    pthread_mutex_lock(&lock);
    if (!handles) {
        int n = volt_cuda_device_count();
        handles = calloc((size_t)(n > 0 ? n : 1), sizeof *handles);
        n_handles = handles ? n : 0;
    }
    cudnnHandle_t h = NULL;
    if (device < 0 || device >= n_handles) {
        volt_error_set(VOLT_ERR_DEVICE, "cuda:%d: no cuDNN handle for this device", device);
    } else if (!handles[device]) {
        cudnnHandle_t made = NULL;
        if (!VOLT_CUDNN_CHECK(dnn->Create(&made), "creating the cuDNN handle") &&
            !VOLT_CUDNN_CHECK(dnn->SetStream(made, volt_cuda_stream(device)), NULL))
            handles[device] = made;
        else if (made)
            dnn->Destroy(made);
        h = handles[device];
    } else {
        h = handles[device];
    }
    pthread_mutex_unlock(&lock);
    return h;
}

volt_status volt_cudnn_check_result(int status, const char *call, const char *hint,
                                    const char *file, int line) {
    if (status == CUDNN_STATUS_SUCCESS) return VOLT_OK;
    cudnnStatus_t s = (cudnnStatus_t)status;
    bool oom = s == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
               s == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
    /* A failed call came from the table, so it is loaded. */
    return volt_error_set(oom ? VOLT_ERR_OUT_OF_MEMORY : VOLT_ERR_DEVICE,
                          "cudnn: %s failed: %s (%d) at %s:%d%s%s", call, table.GetErrorString(s),
                          status, volt_cuda_short_path(file), line, hint ? "; " : "",
                          hint ? hint : "");
}

bool volt_cudnn_dtype(volt_dtype dtype, cudnnDataType_t *out) {
    switch (dtype) {
    case VOLT_F32: *out = CUDNN_DATA_FLOAT; return true;
    case VOLT_F64: *out = CUDNN_DATA_DOUBLE; return true;
    case VOLT_BF16: *out = CUDNN_DATA_BFLOAT16; return true;
    case VOLT_F16: *out = CUDNN_DATA_HALF; return true;
    default: return false;
    }
}

bool volt_cudnn_ctx_of(const volt_tensor *t, volt_cudnn_ctx *ctx) {
    ctx->device = t->device.index;
    if (volt_cuda_set_device(ctx->device)) return false;
    ctx->handle = volt_cudnn_handle(ctx->device, &ctx->api);
    return ctx->handle != NULL;
}

bool volt_cudnn_fits_int(int n, const int64_t *sizes) {
    for (int i = 0; i < n; i++)
        if (sizes[i] < 0 || sizes[i] > INT32_MAX) return false;
    return true;
}

cudnnTensorDescriptor_t volt_cudnn_tensor_desc(const volt_cudnn_ctx *ctx, volt_dtype dtype,
                                               const int64_t shape[4]) {
    cudnnDataType_t type;
    if (!volt_cudnn_dtype(dtype, &type)) {
        volt_error_set(VOLT_ERR_INTERNAL, "cudnn: dtype %s has no cuDNN type",
                       volt_dtype_name(dtype));
        return NULL;
    }
    cudnnTensorDescriptor_t d = NULL;
    if (VOLT_CUDNN_CHECK(ctx->api->CreateTensorDescriptor(&d), NULL)) return NULL;
    if (VOLT_CUDNN_CHECK(ctx->api->SetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, type, (int)shape[0],
                                                         (int)shape[1], (int)shape[2],
                                                         (int)shape[3]),
                         NULL)) {
        ctx->api->DestroyTensorDescriptor(d);
        return NULL;
    }
    return d;
}
