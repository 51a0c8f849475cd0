/* fabric_collectives.c: all_reduce, broadcast, all_gather and barrier over
 * the fabric's process group, their one-number forms, a boolean decision
 * and a string broadcast. */
#include <stdlib.h>
#include <string.h>

#include "train/fabric_impl.h"

static volt_status named(volt_status st, const char *op) {
    return st ? volt_error_prefix(st, "fabric: %s", op) : VOLT_OK;
}

volt_status volt_fabric_all_reduce(volt_fabric *f, volt_tensor *t, volt_reduce_op op) {
    volt_status st = volt_fabric_need_launch(f, "all_reduce");
    return st ? st : named(volt_dist_all_reduce(f->pg, t, op), "all_reduce");
}

volt_status volt_fabric_broadcast(volt_fabric *f, volt_tensor *t, int src) {
    volt_status st = volt_fabric_need_launch(f, "broadcast");
    return st ? st : named(volt_dist_broadcast(f->pg, t, src), "broadcast");
}

volt_status volt_fabric_all_gather(volt_fabric *f, volt_tensor *out, const volt_tensor *in) {
    volt_status st = volt_fabric_need_launch(f, "all_gather");
    return st ? st : named(volt_dist_all_gather(f->pg, out, in), "all_gather");
}

volt_status volt_fabric_barrier(volt_fabric *f) {
    volt_status st = volt_fabric_need_launch(f, "barrier");
    return st ? st : named(volt_dist_barrier(f->pg), "barrier");
}

/* *value through a one-element f64 tensor; bcast: broadcast from src, else
 * all_reduce with op. */
static volt_status scalar(volt_fabric *f, double *value, bool bcast, int src, volt_reduce_op op,
                          const char *name) {
    volt_status st = volt_fabric_need_launch(f, name);
    if (st) return st;
    /* A NULL value still takes part (as a NULL tensor), so that every rank
     * fails instead of waiting for this one. */
    if (!value) volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: %s: NULL value", name);
    volt_tensor *t = value ? volt_from_array(value, VOLT_F64, 0, NULL) : NULL;
    st = bcast ? volt_dist_broadcast(f->pg, t, src) : volt_dist_all_reduce(f->pg, t, op);
    if (!st) *value = *(const double *)volt_tensor_data(t);
    if (t) volt_tensor_free(t);
    return value ? named(st, name) : VOLT_ERR_INVALID_ARGUMENT;
}

volt_status volt_fabric_all_reduce_double(volt_fabric *f, double *value, volt_reduce_op op) {
    return scalar(f, value, false, 0, op, "all_reduce_double");
}

volt_status volt_fabric_broadcast_double(volt_fabric *f, double *value, int src) {
    return scalar(f, value, true, src, VOLT_REDUCE_SUM, "broadcast_double");
}

volt_status volt_fabric_reduce_bool(volt_fabric *f, bool *value, bool all) {
    volt_status st = volt_fabric_need_launch(f, "reduce_bool");
    if (st) return st;
    /* A NULL value still takes part, so that every rank fails. */
    if (!value) volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: reduce_bool: NULL value");
    int32_t v = value && *value ? 1 : 0;
    volt_tensor *t = value ? volt_from_array(&v, VOLT_I32, 0, NULL) : NULL;
    st = volt_dist_all_reduce(f->pg, t, all ? VOLT_REDUCE_MIN : VOLT_REDUCE_MAX);
    if (!st) *value = *(const int32_t *)volt_tensor_data(t) != 0;
    if (t) volt_tensor_free(t);
    return value ? named(st, "reduce_bool") : VOLT_ERR_INVALID_ARGUMENT;
}

/* Rank src's length (strlen + 1, 0 for NULL) on every rank. */
static volt_status broadcast_length(volt_fabric *f, int64_t *len, int src) {
    volt_tensor *n = volt_from_array(len, VOLT_I64, 0, NULL);
    volt_status st = n ? volt_dist_broadcast(f->pg, n, src) : volt_error_status();
    if (!st) *len = *(const int64_t *)volt_tensor_data(n);
    if (n) volt_tensor_free(n);
    return st;
}

/* *s replaced by a malloc'd copy of the len bytes at data (0-terminated). */
static volt_status replace(char **s, const void *data, int64_t len) {
    char *copy = malloc((size_t)len);
    if (!copy) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(copy, data, (size_t)len);
    copy[len - 1] = '\0';
    free(*s);
    *s = copy;
    return VOLT_OK;
}

volt_status volt_fabric_broadcast_string(volt_fabric *f, char **s, int src) {
    volt_status st = volt_fabric_need_launch(f, "broadcast_string");
    if (st) return st;
    if (!s) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: broadcast_string: NULL s");
    if (src < 0 || src >= f->world)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: broadcast_string: src = %d (world size %d)", src, f->world);
    if (f->world < 2) return VOLT_OK;
    int me = f->rank;
    int64_t len = me == src && *s ? (int64_t)strlen(*s) + 1 : 0;
    if ((st = broadcast_length(f, &len, src))) return named(st, "broadcast_string");
    if (len == 0) {
        if (me != src) free(*s), *s = NULL;
        return VOLT_OK;
    }
    volt_tensor *b = volt_empty(1, &len, VOLT_U8);
    if (!b) return volt_error_status();
    if (me == src) memcpy(volt_tensor_data(b), *s, (size_t)len);
    st = volt_dist_broadcast(f->pg, b, src);
    if (!st && me != src) st = replace(s, volt_tensor_data(b), len);
    volt_tensor_free(b);
    return named(st, "broadcast_string");
}
