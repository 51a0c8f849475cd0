/* cudnn_lib.h: cuDNN, opened at its first use (dlopen) instead of linked,
 * for the same reason as cuBLASLt (cublaslt_lib.h): its libraries are
 * hundreds of MB, and a volt program that never runs a CUDA convolution,
 * pooling or batch norm should not map them. Also one cuDNN handle per
 * device, bound to volt's stream. Only compiled with VOLT_CUDA. Uses the
 * legacy (non-graph) API of cuDNN 9.0, present in every 9.x. */
#ifndef VOLT_CUDNN_LIB_H
#define VOLT_CUDNN_LIB_H

#include <cudnn.h>

#include "volt/core.h"

/* The cuDNN functions volt calls, with the library's own signatures; each
 * field is the function of its name with the "cudnn" prefix. */
#define VOLT_CUDNN_FUNCTIONS(X)                                                                    \
    X(GetVersion)                                                                                  \
    X(GetErrorString)                                                                              \
    X(Create)                                                                                      \
    X(Destroy)                                                                                     \
    X(SetStream)                                                                                   \
    X(CreateTensorDescriptor)                                                                      \
    X(DestroyTensorDescriptor)                                                                     \
    X(SetTensor4dDescriptor)                                                                       \
    X(CreateFilterDescriptor)                                                                      \
    X(DestroyFilterDescriptor)                                                                     \
    X(SetFilter4dDescriptor)                                                                       \
    X(CreateConvolutionDescriptor)                                                                 \
    X(DestroyConvolutionDescriptor)                                                                \
    X(SetConvolution2dDescriptor)                                                                  \
    X(SetConvolutionGroupCount)                                                                    \
    X(SetConvolutionMathType)                                                                      \
    X(GetConvolutionForwardAlgorithm_v7)                                                           \
    X(GetConvolutionBackwardDataAlgorithm_v7)                                                      \
    X(GetConvolutionBackwardFilterAlgorithm_v7)                                                    \
    X(ConvolutionForward)                                                                          \
    X(ConvolutionBackwardData)                                                                     \
    X(ConvolutionBackwardFilter)                                                                   \
    X(ConvolutionBackwardBias)                                                                     \
    X(AddTensor)                                                                                   \
    X(CreateActivationDescriptor)                                                                  \
    X(DestroyActivationDescriptor)                                                                 \
    X(SetActivationDescriptor)                                                                     \
    X(ActivationForward)                                                                           \
    X(ActivationBackward)                                                                          \
    X(CreatePoolingDescriptor)                                                                     \
    X(DestroyPoolingDescriptor)                                                                    \
    X(SetPooling2dDescriptor)                                                                      \
    X(PoolingForward)                                                                              \
    X(PoolingBackward)                                                                             \
    X(BatchNormalizationForwardTraining)                                                           \
    X(BatchNormalizationForwardInference)                                                          \
    X(BatchNormalizationBackward)

typedef struct {
#define VOLT_CUDNN_FIELD(f) __typeof__(&cudnn##f) f;
    VOLT_CUDNN_FUNCTIONS(VOLT_CUDNN_FIELD)
#undef VOLT_CUDNN_FIELD
} volt_cudnn_api;

/* The table, loaded once per process (thread-safe): libcudnn.so.<major of
 * the headers> looked up by its soname (LD_LIBRARY_PATH, run path, the
 * system's), then in the toolkit's library directory volt was built
 * against. NULL with VOLT_ERR_DEVICE ("cuda: cannot load cuDNN
 * (libcudnn.so.9: ...)") when it or one of its functions is missing. */
const volt_cudnn_api *volt_cudnn(void);

/* The cuDNN handle of cuda:device (made the current device by the caller),
 * created at first use with its stream set to volt_cuda_stream(device);
 * *api receives the table. NULL with an error (library missing, device
 * index out of range, cudnnCreate failing). */
cudnnHandle_t volt_cudnn_handle(int device, const volt_cudnn_api **api);

/* Evaluates `call` (a cudnnStatus_t from a function of the table); on
 * failure records VOLT_ERR_DEVICE (VOLT_ERR_OUT_OF_MEMORY for an allocation
 * failure) naming the call, cuDNN's reason, the file and line and `hint`
 * (may be NULL); returns the volt status. */
#define VOLT_CUDNN_CHECK(call, hint)                                                               \
    volt_cudnn_check_result((int)(call), #call, (hint), __FILE__, __LINE__)
volt_status volt_cudnn_check_result(int status, const char *call, const char *hint,
                                    const char *file, int line);

/* cuDNN's data type for a volt dtype (f32, f64, bf16, f16); false for the
 * others. */
bool volt_cudnn_dtype(volt_dtype dtype, cudnnDataType_t *out);

/* What one cuDNN call needs: the table, cuda:device made current, its
 * handle. */
typedef struct {
    const volt_cudnn_api *api;
    cudnnHandle_t handle;
    int device;
} volt_cudnn_ctx;

/* Fills ctx for the device of t (a CUDA tensor); false with an error. */
bool volt_cudnn_ctx_of(const volt_tensor *t, volt_cudnn_ctx *ctx);

/* A new packed NCHW descriptor of a tensor of `dtype` and shape [n, c, h,
 * w] (each checked to fit an int by the caller); NULL with an error. Destroy with
 * ctx->api->DestroyTensorDescriptor. */
cudnnTensorDescriptor_t volt_cudnn_tensor_desc(const volt_cudnn_ctx *ctx, volt_dtype dtype,
                                               const int64_t shape[4]);

/* Whether every size fits cuDNN's int arguments. */
bool volt_cudnn_fits_int(int n, const int64_t *sizes);

/* Scaling factors for cuDNN's alpha / beta: double for f64 data, else float. */
typedef union {
    float f;
    double d;
} volt_cudnn_scalar;
static inline volt_cudnn_scalar volt_cudnn_scalar_of(volt_dtype dtype, double v) {
    volt_cudnn_scalar s;
    if (dtype == VOLT_F64)
        s.d = v;
    else
        s.f = (float)v;
    return s;
}

#endif
