/* zero_padded.c: copies of a CUDA matrix (converted on the way where asked)
 * in zeros a few rows or columns larger, for the products whose dims
 * matmul.c pads to multiples of 8. */
#include "core/core_impl.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/ops_impl.h"

/* dst = src (2-D, same shape), both column-major when colmajor, walking
 * memory in order: a pitched memcpy where both are rows of one dtype, else
 * the copy kernel (on their transposes when column-major). */
static volt_status copy_in_memory_order(volt_tensor *dst, const volt_tensor *src, bool colmajor) {
    int r = colmajor ? 1 : 0, c = 1 - r; /* the dims of memory's rows and columns */
    int64_t rows = src->shape[r], cols = src->shape[c];
    if (dst->dtype == src->dtype && src->strides[c] == 1 && dst->strides[c] == 1 &&
        (rows == 1 || (src->strides[r] >= cols && dst->strides[r] >= cols))) {
        size_t e = volt_dtype_size(src->dtype), width = (size_t)cols * e;
        size_t dp = rows == 1 ? width : (size_t)dst->strides[r] * e;
        size_t sp = rows == 1 ? width : (size_t)src->strides[r] * e;
        return volt_cuda_memcpy_2d(volt_tensor_data(dst), dp, volt_tensor_data(src), sp, width,
                                   (size_t)rows, src->device.index);
    }
    if (!colmajor) return volt_cuda_copy("matmul", dst, src);
    int64_t shape[2] = {src->shape[1], src->shape[0]};
    volt_tensor *d = volt_tensor_alias(dst, 2, shape, (int64_t[]){dst->strides[1], dst->strides[0]},
                                       dst->offset);
    volt_tensor *s = volt_tensor_alias(src, 2, shape, (int64_t[]){src->strides[1], src->strides[0]},
                                       src->offset);
    volt_status st = d && s ? volt_cuda_copy("matmul", d, s) : volt_error_status();
    volt_tensor_free(d);
    volt_tensor_free(s);
    return st;
}

volt_tensor *volt_zero_padded(const volt_tensor *t, int64_t pr, int64_t pc, volt_dtype dtype) {
    int64_t r = t->shape[0], c = t->shape[1], R = r + pr, C = c + pc;
    bool colmajor = r > 1 && t->strides[0] == 1;
    volt_tensor *buf = colmajor ? volt_tensor_new(dtype, t->device, VOLT_SHAPE(C, R))
                                : volt_tensor_new(dtype, t->device, VOLT_SHAPE(R, C));
    if (!buf) return NULL;
    int64_t sr = colmajor ? 1 : C, sc = colmajor ? R : 1;
    volt_tensor *z = volt_tensor_alias(buf, VOLT_SHAPE(R, C), (int64_t[]){sr, sc}, 0);
    volt_tensor_free(buf);
    volt_tensor *block = z ? volt_tensor_alias(z, VOLT_SHAPE(r, c), z->strides, 0) : NULL;
    volt_tensor *right =
        z && pc ? volt_tensor_alias(z, VOLT_SHAPE(R, pc), z->strides, c * sc) : NULL;
    volt_tensor *below =
        z && pr ? volt_tensor_alias(z, VOLT_SHAPE(pr, c), z->strides, r * sr) : NULL;
    volt_status st = block && (!pc || right) && (!pr || below) ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK) st = copy_in_memory_order(block, t, colmajor);
    if (st == VOLT_OK && right) st = volt_cuda_fill("matmul", right, 0.0);
    if (st == VOLT_OK && below) st = volt_cuda_fill("matmul", below, 0.0);
    volt_tensor_free(block);
    volt_tensor_free(right);
    volt_tensor_free(below);
    if (st != VOLT_OK) {
        volt_tensor_free(z);
        z = NULL;
    }
    return z;
}
