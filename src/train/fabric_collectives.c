/* fabric_collectives.c: all_reduce, broadcast, all_gather and barrier over
 * the fabric's process group, and their one-number forms. */
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
