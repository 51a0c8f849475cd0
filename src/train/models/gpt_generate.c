/* gpt_generate.c: sampling from the built-in GPT (volt_gpt_generate) — one
 * token at a time from the last position's logits over the last block_size
 * tokens, with temperature and top-k, drawn with a Philox generator
 * (nanoGPT's generate, without a key-value cache). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/models/models_impl.h"

static volt_status check_args(volt_module *gpt, const int64_t *context, int64_t n_context,
                              int64_t n_new, double temperature, int64_t top_k, int64_t *out) {
    const char *who = "gpt_generate";
    int64_t vocab = volt_gpt_vocab_size(gpt);
    if (vocab < 0) return volt_error_status();
    if (!context || n_context < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: the context needs at least one token (got %lld%s)", who,
                              (long long)n_context, context ? "" : ", NULL");
    if (n_new < 0 || (n_new > 0 && !out))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s", who,
                              n_new < 0 ? "n_new must be >= 0" : "out is NULL");
    if (!(temperature > 0) || !isfinite(temperature))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: temperature must be a finite number > 0 (got %g)", who,
                              temperature);
    if (top_k < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: top_k must be >= 0 (got %lld)", who,
                              (long long)top_k);
    for (int64_t i = 0; i < n_context; i++)
        if (context[i] < 0 || context[i] >= vocab)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "%s: context[%lld] = %lld is out of range for vocab_size %lld",
                                  who, (long long)i, (long long)context[i], (long long)vocab);
    return VOLT_OK;
}

static int descending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* logits[0..v) / temperature, all but the top_k largest set to -inf (ties
 * with the k-th stay), then exp(l - max) in place; returns their sum. */
static double weights(double *l, int64_t v, double temperature, int64_t top_k, double *scratch) {
    for (int64_t i = 0; i < v; i++) l[i] /= temperature;
    if (top_k > 0 && top_k < v) {
        memcpy(scratch, l, (size_t)v * sizeof *l);
        qsort(scratch, (size_t)v, sizeof *scratch, descending);
        double kth = scratch[top_k - 1];
        for (int64_t i = 0; i < v; i++)
            if (l[i] < kth) l[i] = -INFINITY;
    }
    double max = -INFINITY, sum = 0;
    for (int64_t i = 0; i < v; i++) max = l[i] > max ? l[i] : max;
    for (int64_t i = 0; i < v; i++) sum += (l[i] = exp(l[i] - max));
    return sum;
}

/* Uniform in [0, 1) with 53 bits of one Philox block. */
static double uniform(volt_generator *gen) {
    uint32_t r[4];
    volt_generator_next4(gen, r);
    return (double)(((uint64_t)r[0] << 21) ^ (r[1] >> 11)) * 0x1.0p-53;
}

/* The token whose cumulative weight first exceeds u * sum. */
static int64_t draw(const double *w, int64_t v, double sum, double u) {
    double target = u * sum, acc = 0;
    int64_t last = 0;
    for (int64_t i = 0; i < v; i++) {
        if (w[i] <= 0) continue;
        last = i;
        if ((acc += w[i]) > target) return i;
    }
    return last; /* rounding: the last token with weight */
}

/* The logits [vocab] of the token after seq[0..n), cropped to block_size. */
static volt_status next_logits(volt_module *gpt, const int64_t *seq, int64_t n, double *logits) {
    int64_t start = n > volt_gpt_block_size(gpt) ? n - volt_gpt_block_size(gpt) : 0;
    volt_status st = VOLT_OK;
    volt_scope_begin();
    VOLT_NO_GRAD {
        volt_tensor *idx = volt_from_array(seq + start, VOLT_I64, VOLT_SHAPE(1, n - start));
        /* to the model's device (the logits come back through copy_to_array) */
        volt_device device = volt_module_parameters(gpt).tensors[0]->device;
        if (idx && device.type != VOLT_CPU) idx = volt_to_device(idx, device);
        volt_tensor *l = idx ? volt_gpt_last_logits(gpt, idx) : NULL;
        st = l ? volt_tensor_copy_to_array(l, VOLT_F64, logits) : volt_error_status();
    }
    volt_scope_end();
    return st;
}

volt_status volt_gpt_generate(volt_module *gpt, const int64_t *context, int64_t n_context,
                              int64_t n_new, double temperature, int64_t top_k, volt_generator *gen,
                              int64_t *out) {
    volt_status st = check_args(gpt, context, n_context, n_new, temperature, top_k, out);
    if (st != VOLT_OK) return st;
    int64_t v = volt_gpt_vocab_size(gpt);
    int64_t *seq = malloc((size_t)(n_context + n_new) * sizeof *seq);
    double *logits = malloc((size_t)v * sizeof *logits),
           *scratch = malloc((size_t)v * sizeof *scratch);
    if (!seq || !logits || !scratch)
        st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "gpt_generate: out of memory");
    if (!gen) gen = volt_default_generator();
    bool training = volt_module_is_training(gpt);
    volt_module_train(gpt, false);
    if (seq) memcpy(seq, context, (size_t)n_context * sizeof *seq);
    for (int64_t i = 0; st == VOLT_OK && i < n_new; i++) {
        st = next_logits(gpt, seq, n_context + i, logits);
        if (st != VOLT_OK) break;
        double sum = weights(logits, v, temperature, top_k, scratch);
        if (!(sum > 0) || !isfinite(sum)) {
            st = volt_error_set(VOLT_ERR_STATE,
                                "gpt_generate: the logits of token %lld are not finite",
                                (long long)i);
            break;
        }
        seq[n_context + i] = out[i] = draw(logits, v, sum, uniform(gen));
    }
    volt_module_train(gpt, training);
    free(seq);
    free(logits);
    free(scratch);
    return st;
}
