/* init.c: the initialisers of torch.nn.init — fans and gains, uniform,
 * normal, truncated normal (inverse-CDF sampling), constants, xavier and
 * kaiming (uniform and normal), and orthogonal (Householder QR of a normal
 * matrix, signs fixed by R's diagonal like PyTorch). Values are drawn in
 * double from a Philox generator, transformed, and copied into the tensor
 * (any layout, any floating dtype) under no-grad. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

#define SQRT2 1.41421356237309504880
#define SQRT_2PI 2.50662827463100050242

/* ------------------------------------------------------------- helpers */

static bool check_tensor(const char *init, const volt_tensor *t) {
    if (!t) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "init: %s: tensor is NULL", init);
        return false;
    }
    char bt[96];
    if (!volt_dtype_is_float(t->dtype)) {
        volt_error_set(VOLT_ERR_DTYPE, "init: %s: tensor %s is not floating-point", init,
                       volt_shape_str(t, bt, sizeof bt));
        return false;
    }
    if (t->device.type != VOLT_CPU) {
        volt_error_set(VOLT_ERR_DEVICE, "init: %s: tensor %s is not on the CPU", init,
                       volt_shape_str(t, bt, sizeof bt));
        return false;
    }
    return true;
}

static bool check_finite(const char *init, const char *what, double value) {
    if (isfinite(value)) return true;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "init: %s: %s %g (must be finite)", init, what,
                   value);
    return false;
}

static volt_status fans(const char *init, const volt_tensor *t, int64_t *fan_in, int64_t *fan_out) {
    if (!check_tensor(init, t)) return volt_error_status();
    if (t->ndim < 2) {
        char bt[96];
        return volt_error_set(VOLT_ERR_SHAPE,
                              "init: %s: fan in and fan out need a tensor of at least 2 "
                              "dimensions, got %s",
                              init, volt_shape_str(t, bt, sizeof bt));
    }
    int64_t receptive = volt_shape_numel(t->ndim - 2, t->shape + 2);
    if (fan_in) *fan_in = t->shape[1] * receptive;
    if (fan_out) *fan_out = t->shape[0] * receptive;
    return VOLT_OK;
}

/* Copies the f64 values `src` (t's shape) into t, converting. */
static volt_status store(volt_tensor *t, const volt_tensor *src) {
    volt_tensor *r = NULL;
    VOLT_NO_GRAD { r = volt_copy_(t, src); }
    return r ? VOLT_OK : volt_error_status();
}

/* f64 uniforms in [0, 1) of t's shape, from gen (NULL: default). */
static volt_tensor *draw(const volt_tensor *t, bool normal, volt_generator *gen) {
    return normal ? volt_randn(t->ndim, t->shape, VOLT_F64, gen)
                  : volt_rand(t->ndim, t->shape, VOLT_F64, gen);
}

/* t = scale * draw + shift. */
static volt_status fill_random(volt_tensor *t, bool normal, double scale, double shift,
                               volt_generator *gen) {
    /* A contiguous f32/f64 tensor: the same numbers, in one pass. */
    if (volt_random_affine_into(t, normal, scale, shift, gen)) return VOLT_OK;
    volt_status st = VOLT_OK;
    volt_scope_begin();
    volt_tensor *v = draw(t, normal, gen);
    if (v) {
        double *p = volt_tensor_data(v);
        int64_t n = volt_tensor_numel(v);
        for (int64_t i = 0; i < n; i++) p[i] = p[i] * scale + shift;
        st = store(t, v);
    } else {
        st = volt_error_status();
    }
    volt_scope_end();
    return st;
}

static volt_status uniform(volt_tensor *t, double low, double high, volt_generator *gen) {
    return fill_random(t, false, high - low, low, gen);
}

static volt_status normal(volt_tensor *t, double mean, double std, volt_generator *gen) {
    return fill_random(t, true, std, mean, gen);
}

/* ------------------------------------------------------- gains, fans */

volt_status volt_init_fans(const volt_tensor *t, int64_t *fan_in, int64_t *fan_out) {
    return fans("fans", t, fan_in, fan_out);
}

double volt_init_calculate_gain(const char *nonlinearity, double param) {
    static const char *const linear[] = {"linear",           "conv1d",           "conv2d",
                                         "conv3d",           "conv_transpose1d", "conv_transpose2d",
                                         "conv_transpose3d", "sigmoid"};
    if (!nonlinearity) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "init: calculate_gain: nonlinearity is NULL");
        return NAN;
    }
    for (size_t i = 0; i < sizeof linear / sizeof *linear; i++)
        if (strcmp(nonlinearity, linear[i]) == 0) return 1.0;
    if (strcmp(nonlinearity, "tanh") == 0) return 5.0 / 3.0;
    if (strcmp(nonlinearity, "relu") == 0) return SQRT2;
    if (strcmp(nonlinearity, "selu") == 0) return 0.75;
    if (strcmp(nonlinearity, "leaky_relu") == 0) {
        double slope = isnan(param) ? 0.01 : param;
        if (!isfinite(slope)) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "init: calculate_gain: negative slope %g is not a finite number", slope);
            return NAN;
        }
        return sqrt(2.0 / (1.0 + slope * slope));
    }
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "init: calculate_gain: unsupported nonlinearity '%s'",
                   nonlinearity);
    return NAN;
}

/* -------------------------------------------------- plain distributions */

volt_status volt_init_uniform_(volt_tensor *t, double low, double high, volt_generator *gen) {
    const char *init = "uniform_";
    if (!check_tensor(init, t) || !check_finite(init, "low", low) ||
        !check_finite(init, "high", high))
        return volt_error_status();
    if (low > high)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "init: uniform_: low %g is greater than high %g", low, high);
    return uniform(t, low, high, gen);
}

volt_status volt_init_normal_(volt_tensor *t, double mean, double std, volt_generator *gen) {
    const char *init = "normal_";
    if (!check_tensor(init, t) || !check_finite(init, "mean", mean) ||
        !check_finite(init, "std", std))
        return volt_error_status();
    if (std < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "init: normal_: std %g (must be >= 0)",
                              std);
    return normal(t, mean, std, gen);
}

volt_status volt_init_constant_(volt_tensor *t, double value) {
    if (!check_tensor("constant_", t)) return volt_error_status();
    volt_tensor *r = NULL;
    VOLT_NO_GRAD { r = volt_fill_(t, value); }
    return r ? VOLT_OK : volt_error_status();
}

volt_status volt_init_zeros_(volt_tensor *t) {
    if (!check_tensor("zeros_", t)) return volt_error_status();
    return volt_init_constant_(t, 0.0);
}

volt_status volt_init_ones_(volt_tensor *t) {
    if (!check_tensor("ones_", t)) return volt_error_status();
    return volt_init_constant_(t, 1.0);
}

/* ---------------------------------------------------- truncated normal */

/* The standard normal CDF and its inverse (Acklam's rational approximation,
 * relative error 1.2e-9, polished by one Halley step to about 1e-15). */
static double norm_cdf(double x) { return 0.5 * erfc(-x / SQRT2); }

static double norm_ppf(double p) {
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                -2.759285104469687e+02, 1.383577518672690e+02,
                                -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                -1.556989798598866e+02, 6.680131188771972e+01,
                                -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                -2.400758277161838e+00, -2.549732539343734e+00,
                                4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                3.754408661907416e+00};
    if (p <= 0.0) return -INFINITY;
    if (p >= 1.0) return INFINITY;
    double x;
    if (p < 0.02425 || p > 1.0 - 0.02425) {
        double q = sqrt(-2.0 * log(p < 0.5 ? p : 1.0 - p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
        if (p > 0.5) x = -x;
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    }
    double e = norm_cdf(x) - p;
    double u = e * SQRT_2PI * exp(0.5 * x * x);
    return x - u / (1.0 + 0.5 * x * u);
}

volt_status volt_init_trunc_normal_(volt_tensor *t, double mean, double std, double a, double b,
                                    volt_generator *gen) {
    const char *init = "trunc_normal_";
    if (!check_tensor(init, t) || !check_finite(init, "mean", mean) ||
        !check_finite(init, "std", std))
        return volt_error_status();
    if (std < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "init: trunc_normal_: std %g (must be >= 0)", std);
    if (isnan(a) || isnan(b) || !(a < b))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "init: trunc_normal_: bounds [%g, %g] (a must be below b)", a, b);
    if (std == 0) return volt_init_constant_(t, mean < a ? a : mean > b ? b : mean);
    /* Sample the standard normal truncated to [alpha, beta] by inverting its
     * CDF; an interval above 0 is mirrored below it, where the CDF keeps its
     * precision in the tail. */
    double alpha = (a - mean) / std, beta = (b - mean) / std;
    bool mirror = alpha > 0;
    double lo_z = mirror ? -beta : alpha, hi_z = mirror ? -alpha : beta;
    double lo = norm_cdf(lo_z), hi = norm_cdf(hi_z);
    volt_status st = VOLT_OK;
    volt_scope_begin();
    volt_tensor *v = draw(t, false, gen);
    if (v) {
        double *p = volt_tensor_data(v);
        int64_t n = volt_tensor_numel(v);
        for (int64_t i = 0; i < n; i++) {
            double u = p[i] + 0x1p-54; /* in (0, 1) */
            double z = norm_ppf(lo + (hi - lo) * u);
            z = z < lo_z ? lo_z : z > hi_z ? hi_z : z;
            double x = mean + std * (mirror ? -z : z);
            p[i] = x < a ? a : x > b ? b : x;
        }
        st = store(t, v);
    } else {
        st = volt_error_status();
    }
    volt_scope_end();
    return st;
}

/* ------------------------------------------------------ xavier, kaiming */

volt_status volt_init_xavier_uniform_(volt_tensor *t, double gain, volt_generator *gen) {
    int64_t fi = 0, fo = 0;
    if (fans("xavier_uniform_", t, &fi, &fo) != VOLT_OK ||
        !check_finite("xavier_uniform_", "gain", gain))
        return volt_error_status();
    if (fi + fo == 0) return VOLT_OK; /* no elements */
    double bound = gain * sqrt(6.0 / (double)(fi + fo));
    return uniform(t, -bound, bound, gen);
}

volt_status volt_init_xavier_normal_(volt_tensor *t, double gain, volt_generator *gen) {
    int64_t fi = 0, fo = 0;
    if (fans("xavier_normal_", t, &fi, &fo) != VOLT_OK ||
        !check_finite("xavier_normal_", "gain", gain))
        return volt_error_status();
    if (fi + fo == 0) return VOLT_OK;
    return normal(t, 0.0, gain * sqrt(2.0 / (double)(fi + fo)), gen);
}

/* gain / sqrt(fan) for kaiming, or a negative value with an error. */
static double kaiming_std(const char *init, const volt_tensor *t, double a, volt_fan_mode mode,
                          const char *nonlinearity) {
    int64_t fi = 0, fo = 0;
    if (fans(init, t, &fi, &fo) != VOLT_OK) return -1;
    if (mode != VOLT_FAN_IN && mode != VOLT_FAN_OUT) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "init: %s: mode %d is not VOLT_FAN_IN or VOLT_FAN_OUT", init, (int)mode);
        return -1;
    }
    double gain = volt_init_calculate_gain(nonlinearity ? nonlinearity : "leaky_relu", a);
    if (isnan(gain)) return -1;
    int64_t fan = mode == VOLT_FAN_IN ? fi : fo;
    return fan > 0 ? gain / sqrt((double)fan) : 0.0;
}

volt_status volt_init_kaiming_uniform_(volt_tensor *t, double a, volt_fan_mode mode,
                                       const char *nonlinearity, volt_generator *gen) {
    double std = kaiming_std("kaiming_uniform_", t, a, mode, nonlinearity);
    if (std < 0) return volt_error_status();
    double bound = sqrt(3.0) * std;
    return uniform(t, -bound, bound, gen);
}

volt_status volt_init_kaiming_normal_(volt_tensor *t, double a, volt_fan_mode mode,
                                      const char *nonlinearity, volt_generator *gen) {
    double std = kaiming_std("kaiming_normal_", t, a, mode, nonlinearity);
    if (std < 0) return volt_error_status();
    return normal(t, 0.0, std, gen);
}

/* ---------------------------------------------------------- orthogonal */

/* Reduced QR of the m x n row-major matrix a (m >= n) by Householder
 * reflections; writes Q (m x n, row-major) into q with its columns' signs
 * chosen so that R has a non-negative diagonal. a is overwritten. */
static void householder_q(double *a, double *q, int64_t m, int64_t n, double *v, double *tau,
                          double *diag) {
    for (int64_t k = 0; k < n; k++) {
        double norm = 0.0;
        for (int64_t i = k; i < m; i++) norm += a[i * n + k] * a[i * n + k];
        norm = sqrt(norm);
        double x0 = a[k * n + k], alpha = x0 >= 0 ? -norm : norm;
        double *vk = v + k * m;
        double vnorm = 0.0;
        for (int64_t i = k; i < m; i++) {
            vk[i] = a[i * n + k] - (i == k ? alpha : 0.0);
            vnorm += vk[i] * vk[i];
        }
        tau[k] = vnorm > 0 ? 2.0 / vnorm : 0.0;
        diag[k] = vnorm > 0 ? alpha : x0;
        for (int64_t j = k; j < n; j++) {
            double s = 0.0;
            for (int64_t i = k; i < m; i++) s += vk[i] * a[i * n + j];
            for (int64_t i = k; i < m; i++) a[i * n + j] -= tau[k] * s * vk[i];
        }
    }
    /* Q = H_0 ... H_{n-1} applied to the first n columns of the identity. */
    memset(q, 0, (size_t)(m * n) * sizeof *q);
    for (int64_t j = 0; j < n; j++) q[j * n + j] = 1.0;
    for (int64_t k = n - 1; k >= 0; k--) {
        const double *vk = v + k * m;
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t i = k; i < m; i++) s += vk[i] * q[i * n + j];
            for (int64_t i = k; i < m; i++) q[i * n + j] -= tau[k] * s * vk[i];
        }
    }
    for (int64_t j = 0; j < n; j++)
        if (diag[j] < 0)
            for (int64_t i = 0; i < m; i++) q[i * n + j] = -q[i * n + j];
}

volt_status volt_init_orthogonal_(volt_tensor *t, double gain, volt_generator *gen) {
    const char *init = "orthogonal_";
    if (!check_tensor(init, t) || !check_finite(init, "gain", gain)) return volt_error_status();
    if (t->ndim < 2) {
        char bt[96];
        return volt_error_set(VOLT_ERR_SHAPE,
                              "init: orthogonal_: only tensors with 2 or more dimensions are "
                              "supported, got %s",
                              volt_shape_str(t, bt, sizeof bt));
    }
    int64_t numel = volt_tensor_numel(t);
    if (numel == 0) return VOLT_OK;
    int64_t rows = t->shape[0], cols = numel / rows;
    bool flip = rows < cols; /* QR of the transpose, then transpose back */
    int64_t m = flip ? cols : rows, n = flip ? rows : cols;
    volt_status st = VOLT_OK;
    volt_scope_begin();
    volt_tensor *flat = volt_randn(VOLT_SHAPE(rows, cols), VOLT_F64, gen);
    volt_tensor *out = volt_tensor_new(VOLT_F64, VOLT_DEVICE_CPU, t->ndim, t->shape);
    double *a = malloc((size_t)(m * n) * sizeof *a), *q = malloc((size_t)(m * n) * sizeof *q);
    double *v = malloc((size_t)(m * n) * sizeof *v), *tau = malloc((size_t)n * sizeof *tau);
    double *diag = malloc((size_t)n * sizeof *diag);
    if (!flat || !out) {
        st = volt_error_status();
    } else if (!a || !q || !v || !tau || !diag) {
        st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY,
                            "init: orthogonal_: out of memory for %lld x %lld", (long long)rows,
                            (long long)cols);
    } else {
        const double *src = volt_tensor_data(flat);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) a[flip ? j * n + i : i * n + j] = src[i * cols + j];
        householder_q(a, q, m, n, v, tau, diag);
        double *dst = volt_tensor_data(out);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                dst[i * cols + j] = gain * (flip ? q[j * n + i] : q[i * n + j]);
        st = store(t, out);
    }
    free(a);
    free(q);
    free(v);
    free(tau);
    free(diag);
    volt_scope_end();
    return st;
}
