/* cuda_none.c: the dist layer's CUDA backend entry point in a build
 * without CUDA (the real one is dist/cuda/nccl_group.c). */
#include "dist/dist_impl.h"

volt_process_group *volt_process_group_new_nccl(const volt_process_group_options *options) {
    (void)options;
    volt_error_set(VOLT_ERR_UNSUPPORTED,
                   "process_group: the nccl backend is not built in this volt (no CUDA; CPU "
                   "tensors: mpi)");
    return NULL;
}
