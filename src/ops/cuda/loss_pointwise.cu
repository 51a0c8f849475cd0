/* loss_pointwise.cu: the elementwise losses (mse, l1, smooth_l1, bce,
 * bce_with_logits, kl_div) and their derivatives in x and y as one kernel
 * (nn_kernels.h): out[i] = g[i] * f(x[i], y[i], w[i]) with the CPU
 * kernels' formulas (ops/cpu/loss.c), computed in f32 (f64 for f64). */
#include <cuda_runtime.h>
#include <math.h>

#include "ops/cuda/elementwise.cuh"
#include "ops/cuda/nn_kernels.h"

template <typename A> __device__ __forceinline__ A sign_of(A d) {
    return d > 0 ? (A)1 : d < 0 ? (A)-1 : d;
}

/* log(1 + exp(-x)) and 1 / (1 + exp(x)) without overflow. */
template <typename A> __device__ __forceinline__ A softplus_neg(A x) {
    return log1p(exp(-fabs(x))) + fmax(-x, (A)0);
}
template <typename A> __device__ __forceinline__ A sigmoid_neg(A x) {
    A e = exp(-fabs(x));
    return x >= 0 ? e / ((A)1 + e) : (A)1 / ((A)1 + e);
}

template <typename A>
__device__ __forceinline__ A pw_eval(int kind, int what, A x, A y, A w, A beta) {
    A d = x - y;
    switch (kind) {
    case VOLT_CUDA_PW_MSE:
        return what == VOLT_CUDA_PW_VALUE ? d * d : what == VOLT_CUDA_PW_GRAD_X ? 2 * d : -2 * d;
    case VOLT_CUDA_PW_L1:
        return what == VOLT_CUDA_PW_VALUE    ? fabs(d)
               : what == VOLT_CUDA_PW_GRAD_X ? sign_of(d)
                                             : -sign_of(d);
    case VOLT_CUDA_PW_SMOOTH_L1: {
        A ad = fabs(d);
        if (what == VOLT_CUDA_PW_VALUE)
            return ad < beta ? (A)0.5 * d * d / beta : ad - (A)0.5 * beta;
        A gd = ad < beta ? d / beta : sign_of(d);
        return what == VOLT_CUDA_PW_GRAD_X ? gd : -gd;
    }
    case VOLT_CUDA_PW_BCE: {
        A lx = fmax(log(x), (A)-100), l1x = fmax(log1p(-x), (A)-100);
        if (what == VOLT_CUDA_PW_VALUE) return -(y * lx + (1 - y) * l1x);
        if (what == VOLT_CUDA_PW_GRAD_X) return (x - y) / fmax((1 - x) * x, (A)1e-12);
        return l1x - lx;
    }
    case VOLT_CUDA_PW_BCE_LOGITS: {
        A sp = softplus_neg(x), lw = 1 + (w - 1) * y;
        if (what == VOLT_CUDA_PW_VALUE) return (1 - y) * x + lw * sp;
        if (what == VOLT_CUDA_PW_GRAD_X) return (1 - y) - lw * sigmoid_neg(x);
        return -x + (w - 1) * sp;
    }
    case VOLT_CUDA_PW_KL:
        if (what == VOLT_CUDA_PW_VALUE) return (y == 0 ? (A)0 : y * log(y)) - y * x;
        return what == VOLT_CUDA_PW_GRAD_X ? -y : log(y) + 1 - x;
    case VOLT_CUDA_PW_KL_LOG: {
        A e = exp(y);
        if (what == VOLT_CUDA_PW_VALUE) return e * (y - x);
        return what == VOLT_CUDA_PW_GRAD_X ? -e : e * (y - x + 1);
    }
    }
    return (A)NAN;
}

template <typename T>
__global__ void pointwise_loss_kernel(int kind, int what, double beta, T *out, int64_t n,
                                      volt_cuda_flat x, volt_cuda_flat y, volt_cuda_flat w,
                                      volt_cuda_flat g) {
    typedef volt_cuda_type<T> L;
    typedef volt_cuda_acc<T> A;
    const T *X = (const T *)x.data, *Y = (const T *)y.data, *W = (const T *)w.data,
            *G = (const T *)g.data;
    for (int64_t i = volt_cuda_thread_index(); i < n; i += volt_cuda_thread_stride()) {
        A wi = W ? (A)L::load(W[i * w.stride]) : (A)1, gi = G ? (A)L::load(G[i * g.stride]) : (A)1;
        A v = pw_eval<A>(kind, what, (A)L::load(X[i * x.stride]), (A)L::load(Y[i * y.stride]), wi,
                         (A)beta);
        out[i] = L::store(gi * v);
    }
}

extern "C" int volt_cuda_launch_pointwise_loss(int kind, int what, int dtype, double beta,
                                               void *out, int64_t n, volt_cuda_flat x,
                                               volt_cuda_flat y, volt_cuda_flat w, volt_cuda_flat g,
                                               void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n == 0) return (int)cudaSuccess;
    unsigned b = volt_cuda_blocks(n);
    switch (dtype) {
    case VOLT_CUDA_F32:
        pointwise_loss_kernel<float>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>(kind, what, beta, (float *)out, n, x, y, w, g);
        break;
    case VOLT_CUDA_F64:
        pointwise_loss_kernel<double>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>(kind, what, beta, (double *)out, n, x, y, w, g);
        break;
    case VOLT_CUDA_BF16:
        pointwise_loss_kernel<__nv_bfloat16>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>(kind, what, beta, (__nv_bfloat16 *)out, n, x, y, w, g);
        break;
    case VOLT_CUDA_F16:
        pointwise_loss_kernel<__half>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>(kind, what, beta, (__half *)out, n, x, y, w, g);
        break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}
