/* single.c: the "single" backend — a process group of one rank, no MPI.
 * Every collective is the identity (all_gather and reduce_scatter copy
 * their input), so a program written for N ranks runs unchanged on one. */
#include <stdlib.h>
#include <string.h>

#include "dist/dist_impl.h"

static volt_status single_check_dtype(volt_process_group *pg, volt_collective kind,
                                      volt_dtype dtype, volt_device device, const char *what) {
    (void)pg, (void)kind, (void)dtype, (void)device, (void)what;
    return VOLT_OK;
}

static volt_status single_agree_min(volt_process_group *pg, int64_t *values, int n,
                                    const char *what) {
    (void)pg, (void)values, (void)n, (void)what;
    return VOLT_OK;
}

static volt_status single_start(volt_work *w) {
    if ((w->kind == VOLT_COLL_ALL_GATHER || w->kind == VOLT_COLL_REDUCE_SCATTER) && w->in) {
        size_t n = (size_t)volt_tensor_numel(w->out) * volt_dtype_size(w->out->dtype);
        if (n) memcpy(volt_tensor_data(w->out), volt_tensor_data(w->in), n);
    }
    return VOLT_OK;
}

static volt_status single_test(volt_work *w, bool *done) {
    (void)w;
    *done = true;
    return VOLT_OK;
}

static void single_free(volt_process_group *pg) { free(pg); }

static const volt_process_group_ops single_ops = {
    .name = "single",
    .work_size = sizeof(volt_work),
    .check_dtype = single_check_dtype,
    .agree_min = single_agree_min,
    .start = single_start,
    .test = single_test,
    .free = single_free,
};

volt_process_group *volt_process_group_new_single(const volt_process_group_options *options) {
    double timeout_s;
    if (volt_dist_resolve_timeout(options, &timeout_s) != VOLT_OK) return NULL;
    volt_process_group *pg = calloc(1, sizeof *pg);
    if (!pg) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "process_group: out of memory");
        return NULL;
    }
    *pg = (volt_process_group){.ops = &single_ops,
                               .rank = 0,
                               .world_size = 1,
                               .local_rank = 0,
                               .local_world_size = 1,
                               .node_rank = 0,
                               .num_nodes = 1,
                               .device = VOLT_DEVICE_CPU,
                               .timeout_s = timeout_s,
                               .skip_agreement_check = options && options->skip_agreement_check};
    return pg;
}
