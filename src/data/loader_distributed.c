/* loader_distributed.c: the data loader's shard for distributed training
 * (PyTorch's DistributedSampler, Lightning's DistributedSamplerWrapper):
 * each epoch's whole order is padded by repeating its first indices to a
 * multiple of the world size, and rank r takes every world_size-th index
 * from r — and the loader's seed, which the ranks must share. */
#include "data/data_impl.h"

void volt_loader_shard(const volt_data_loader *l, const int64_t *all, int64_t *out) {
    /* Position p of the padded order is all[p % n_full]. */
    for (int64_t k = 0; k < l->n_items; k++)
        out[k] = all[((int64_t)l->rank + k * l->world_size) % l->n_full];
}

volt_status volt_data_loader_set_distributed(volt_data_loader *l, int rank, int world_size) {
    if (!l)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader_set_distributed: NULL loader");
    if (world_size < 1 || rank < 0 || rank >= world_size)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader_set_distributed: rank %d of world size %d (need "
                              "world_size >= 1 and 0 <= rank < world_size)",
                              rank, world_size);
    volt_data_loader_stop(l);
    l->rank = rank;
    l->world_size = world_size;
    l->position = 0;
    volt_loader_count(l);
    return VOLT_OK;
}

int volt_data_loader_rank(const volt_data_loader *l) {
    if (!l) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader_rank: NULL loader");
        return -1;
    }
    return l->rank;
}

int volt_data_loader_world_size(const volt_data_loader *l) {
    if (!l) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader_world_size: NULL loader");
        return -1;
    }
    return l->world_size;
}

volt_status volt_data_loader_set_seed(volt_data_loader *l, uint64_t seed) {
    if (!l) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader_set_seed: NULL loader");
    volt_data_loader_stop(l);
    l->seed = seed;
    return VOLT_OK;
}
