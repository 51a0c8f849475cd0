/* test_mpi_zero1.c: strategy "zero1" on two ranks (ctest runs it under
 * mpiexec -n 2). The sharding itself on hand-made parameters: the greedy
 * partition, reduce-scattered mean gradients (none where no rank had one),
 * clipping by the global norm, all-gathered parameters, the optimizer state
 * gathered into its unsharded form and cut back to a shard, and mismatched
 * parameters failing on both ranks. Then the trainer: zero1 ends with the
 * weights of ddp (SGD with momentum and gradient accumulation, Adam,
 * clipping by norm), keeps only its shard of the optimizer state, and
 * writes checkpoints whose optimizer entries are ddp's, which resume under
 * zero1 and ddp alike. */
#include "zero1_fixture.h"

#include <cjson/cJSON.h>
#include <volt/dist.h>

#include "train/train_impl.h"

static volt_process_group *pg;
static int rank;

static int group_setup(void **state) {
    (void)state;
    pg = volt_process_group_new("mpi", NULL);
    if (!pg) {
        fprintf(stderr, "cannot create the MPI group: %s\n", volt_error_message());
        return -1;
    }
    rank = volt_process_group_rank(pg);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    volt_process_group_free(pg);
    return 0;
}

/* ------------------------------------------------- sharding, by hand */

#define NP 5

/* Five f32 parameters of 5, 5, 3, 10 and 1 elements; by size: 3 -> rank 0,
 * 0 -> 1, 1 -> 1 (5 < 10), 2 -> 0 (a tie at 10: the lower rank), 4 -> 1. */
static const int64_t sizes[NP] = {5, 5, 3, 10, 1};
static const int owners[NP] = {1, 1, 0, 0, 1};

typedef struct {
    volt_tensor *p[NP];
    volt_optimizer *opt;
    volt_trainer *t; /* only pg set: what volt_zero1_new reads */
    volt_zero1 *z;
} hand;

static void hand_make(hand *h, bool adam) {
    for (int i = 0; i < NP; i++) {
        volt_tensor *p = volt_persist(volt_zeros(1, (int64_t[]){sizes[i]}, VOLT_F32));
        volt_requires_grad(p, true);
        h->p[i] = p;
    }
    volt_params ps = {NP, h->p, NULL};
    h->opt = adam ? volt_adam_new(ps, NULL) : volt_sgd_new(ps, &(volt_sgd_options){.lr = 1});
    h->t = calloc(1, sizeof *h->t);
    h->t->pg = pg;
    h->z = volt_zero1_new(h->t, h->opt);
    assert_non_null(h->z);
}

static void hand_free(hand *h) {
    volt_zero1_free(h->z);
    volt_optimizer_free(h->opt);
    for (int i = 0; i < NP; i++) volt_tensor_free(h->p[i]);
    free(h->t);
}

/* Rank r's gradients: (r + 1) (10 i + k) for parameters 0, 1, 3; 8 for
 * parameter 4 on rank 0 only; none for parameter 2. */
static void hand_grads(hand *h) {
    for (int i = 0; i < NP; i++) {
        volt_tensor_clear_grad(h->p[i]);
        if (i == 2 || (i == 4 && rank != 0)) continue;
        volt_tensor *g = volt_persist(volt_zeros(1, (int64_t[]){sizes[i]}, VOLT_F32));
        float *d = volt_tensor_data(g);
        for (int64_t k = 0; k < sizes[i]; k++)
            d[k] = i == 4 ? 8.0f : (float)((rank + 1) * (10 * i + k));
        h->p[i]->grad = g;
    }
}

/* The mean over the ranks of hand_grads' element k of parameter i. */
static double mean_grad(int i, int64_t k) { return i == 4 ? 4.0 : 1.5 * (double)(10 * i + k); }

static void test_partition_and_reduce(void **state) {
    (void)state;
    hand h;
    hand_make(&h, false);
    for (int i = 0; i < NP; i++) assert_int_equal(volt_zero1_owner(h.z, i), owners[i]);
    assert_int_equal(volt_zero1_owner(h.z, NP), -1);
    hand_grads(&h);
    assert_int_equal(volt_zero1_reduce_gradients(h.z), VOLT_OK);
    for (int i = 0; i < NP; i++) {
        const volt_tensor *g = h.p[i]->grad;
        if (owners[i] != rank || i == 2) { /* not ours, or no rank had one */
            assert_null(g);
            continue;
        }
        assert_non_null(g);
        for (int64_t k = 0; k < sizes[i]; k++)
            assert_true(volt_tensor_get_flat(g, k) == mean_grad(i, k));
    }
    hand_free(&h);
}

static void test_clip_grad_norm_over_shards(void **state) {
    (void)state;
    hand h;
    hand_make(&h, false);
    hand_grads(&h);
    assert_int_equal(volt_zero1_reduce_gradients(h.z), VOLT_OK);
    double sq = 0;
    for (int i = 0; i < NP; i++)
        for (int64_t k = 0; i != 2 && k < sizes[i]; k++) sq += mean_grad(i, k) * mean_grad(i, k);
    double want = sqrt(sq), norm = 0;
    /* Above the norm: nothing changes. */
    assert_int_equal(volt_zero1_clip_grad_norm(h.z, 2 * want, &norm), VOLT_OK);
    assert_true(fabs(norm - want) <= 1e-12 * want);
    /* Half of it: every owned gradient scaled by max / (norm + 1e-6). */
    assert_int_equal(volt_zero1_clip_grad_norm(h.z, want / 2, &norm), VOLT_OK);
    assert_true(fabs(norm - want) <= 1e-12 * want);
    double coef = (want / 2) / (want + 1e-6);
    for (int i = 0; i < NP; i++) {
        if (owners[i] != rank || i == 2) continue;
        for (int64_t k = 0; k < sizes[i]; k++) {
            double got = volt_tensor_get_flat(h.p[i]->grad, k), exp = mean_grad(i, k) * coef;
            assert_true(fabs(got - exp) <= 1e-6 * exp);
        }
    }
    assert_int_equal(volt_zero1_clip_grad_norm(h.z, -1, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clip_grad_norm: invalid max_norm -1");
    volt_error_clear();
    hand_free(&h);
}

static void test_gather_parameters(void **state) {
    (void)state;
    hand h;
    hand_make(&h, false);
    uint64_t before[NP];
    for (int i = 0; i < NP; i++) {
        before[i] = volt_storage_version(h.p[i]->storage);
        float *d = volt_tensor_data(h.p[i]);
        for (int64_t k = 0; k < sizes[i]; k++) /* only the owner's values count */
            d[k] = owners[i] == rank ? (float)(100 * (rank + 1) + 10 * i + k) : -1.0f;
    }
    assert_int_equal(volt_zero1_gather_parameters(h.z), VOLT_OK);
    for (int i = 0; i < NP; i++) {
        for (int64_t k = 0; k < sizes[i]; k++)
            assert_true(volt_tensor_get_flat(h.p[i], k) == 100 * (owners[i] + 1) + 10 * i + k);
        /* written parameters have a new version */
        if (owners[i] != rank) assert_true(volt_storage_version(h.p[i]->storage) > before[i]);
    }
    hand_free(&h);
}

/* bf16 parameters (precision "bf16-true") on the CPU: MPI sums no bf16, so
 * the buffers are f32. Two parameters, [3] owned by rank 0 and [2] by rank
 * 1. The owned gradient is the f32 mean rounded to nearest even (the ranks'
 * values are chosen so that truncating it would give another bf16 value),
 * the norm for clipping reads the bf16 gradients, and the gathered
 * parameters arrive bit for bit. */
static void test_bf16_parameters(void **state) {
    (void)state;
    const int64_t n[2] = {3, 2};
    /* grads[r][j]: rank r's gradient, parameters' elements in order. */
    const float grads[2][5] = {{1.0234375f, 1.0f, -2.0f, 0.25f, 3.0f},
                               {0.005859375f, 0.00390625f, 0.0078125f, 0.0f, -1.0f}};
    volt_tensor *p[2];
    for (int i = 0; i < 2; i++) {
        p[i] = volt_persist(volt_zeros(1, &n[i], VOLT_BF16));
        volt_requires_grad(p[i], true);
    }
    volt_optimizer *opt = volt_sgd_new((volt_params){2, p, NULL}, &(volt_sgd_options){.lr = 1});
    volt_zero1 *z = volt_zero1_new_over(pg, opt);
    assert_non_null(z);
    assert_int_equal(volt_zero1_owner(z, 0), 0);
    assert_int_equal(volt_zero1_owner(z, 1), 1);
    for (int i = 0, j = 0; i < 2; j += (int)n[i], i++) {
        p[i]->grad = volt_persist(volt_zeros(1, &n[i], VOLT_BF16));
        uint16_t *d = volt_tensor_data(p[i]->grad);
        for (int64_t k = 0; k < n[i]; k++) d[k] = volt_f32_to_bf16(grads[rank][j + k]);
    }
    assert_int_equal(volt_zero1_reduce_gradients(z), VOLT_OK);
    double sq = 0;
    for (int i = 0, j = 0; i < 2; j += (int)n[i], i++) {
        if (i != rank) {
            assert_null(p[i]->grad);
            continue;
        }
        assert_int_equal(p[i]->grad->dtype, VOLT_BF16);
        for (int64_t k = 0; k < n[i]; k++) {
            float mean = (grads[0][j + k] + grads[1][j + k]) / 2;
            uint16_t want = volt_f32_to_bf16(mean),
                     got = ((uint16_t *)volt_tensor_data(p[i]->grad))[k];
            assert_int_equal(got, want);
            sq += (double)volt_bf16_to_f32(want) * volt_bf16_to_f32(want);
        }
    }
    /* The first mean, 0.5146484375, lies 3/4 of a step above 0.51171875. */
    if (rank == 0) {
        uint32_t bits;
        float mean = (grads[0][0] + grads[1][0]) / 2;
        memcpy(&bits, &mean, sizeof bits);
        assert_int_not_equal(volt_f32_to_bf16(mean), (uint16_t)(bits >> 16));
    }
    /* The norm over both shards. */
    double other = 0, norm = 0;
    for (int i = 0, j = 0; i < 2; j += (int)n[i], i++)
        for (int64_t k = 0; i != rank && k < n[i]; k++) {
            double m = volt_bf16_to_f32(volt_f32_to_bf16((grads[0][j + k] + grads[1][j + k]) / 2));
            other += m * m;
        }
    assert_int_equal(volt_zero1_clip_grad_norm(z, 1e9, &norm), VOLT_OK);
    assert_true(fabs(norm - sqrt(sq + other)) <= 1e-12 * norm);
    /* Each rank's owned values reach the other, exactly. */
    for (int i = 0; i < 2; i++) {
        uint16_t *d = volt_tensor_data(p[i]);
        for (int64_t k = 0; k < n[i]; k++)
            d[k] = i == rank
                       ? volt_f32_to_bf16(1.0f + 0.0078125f * (float)(3 * i + k) + (float)rank)
                       : 0;
    }
    assert_int_equal(volt_zero1_gather_parameters(z), VOLT_OK);
    for (int i = 0; i < 2; i++)
        for (int64_t k = 0; k < n[i]; k++)
            assert_int_equal(((uint16_t *)volt_tensor_data(p[i]))[k],
                             volt_f32_to_bf16(1.0f + 0.0078125f * (float)(3 * i + k) + (float)i));
    volt_zero1_free(z);
    volt_optimizer_free(opt);
    for (int i = 0; i < 2; i++) volt_tensor_free(p[i]);
}

/* The gathered state is the unsharded optimizer's: rank 0 holds every
 * tensor, the JSON names every parameter that stepped; cut back to a shard,
 * it loads into the sharded optimizer. */
static void test_state_gather_and_shard(void **state) {
    (void)state;
    hand h;
    hand_make(&h, true);
    hand_grads(&h);
    assert_int_equal(volt_zero1_reduce_gradients(h.z), VOLT_OK);
    assert_int_equal(volt_optimizer_step(h.opt), VOLT_OK);
    /* Each rank stepped only its own parameters. */
    char *json = NULL;
    volt_state_dict *mine = volt_optimizer_state_dict(h.opt, &json);
    assert_int_equal(mine->count, rank == 0 ? 2 : 6); /* rank 0: param 3; rank 1: 0, 1, 4 */
    volt_state_dict_free(mine);
    free(json);

    volt_scope_begin();
    volt_state_dict *sd = volt_zero1_state_dict(h.z, &json);
    assert_non_null(sd);
    const char *all[] = {"state.0.exp_avg",    "state.0.exp_avg_sq", "state.1.exp_avg",
                         "state.1.exp_avg_sq", "state.3.exp_avg",    "state.3.exp_avg_sq",
                         "state.4.exp_avg",    "state.4.exp_avg_sq"};
    if (rank == 0) {
        assert_int_equal(sd->count, 8);
        for (int k = 0; k < 8; k++) {
            assert_string_equal(sd->names[k], all[k]);
            int i = sd->names[k][6] - '0';
            bool sq = strstr(sd->names[k], "_sq") != NULL;
            for (int64_t e = 0; e < sizes[i]; e++) { /* Adam's first step: 0.1 g, 0.001 g^2 */
                double g = mean_grad(i, e), want = sq ? 0.001 * g * g : 0.1 * g;
                assert_true(fabs(volt_tensor_get_flat(sd->tensors[k], e) - want) <= 1e-6 * want);
            }
        }
    } else {
        assert_int_equal(sd->count, 6); /* its own only */
    }
    assert_non_null(strstr(json, "\"state\":{\"0\":{\"step\":1},\"1\":{\"step\":1},\"3\":{\"step\":"
                                 "1},\"4\":{\"step\":1}}"));
    /* An unsharded Adam stepped with the mean gradients writes the same. */
    volt_tensor *q[NP];
    for (int i = 0; i < NP; i++) {
        q[i] = volt_persist(volt_zeros(1, (int64_t[]){sizes[i]}, VOLT_F32));
        if (i == 2) continue;
        volt_tensor *g = volt_persist(volt_zeros(1, (int64_t[]){sizes[i]}, VOLT_F32));
        for (int64_t e = 0; e < sizes[i]; e++)
            ((float *)volt_tensor_data(g))[e] = (float)mean_grad(i, e);
        q[i]->grad = g;
    }
    volt_optimizer *full = volt_adam_new((volt_params){NP, q, NULL}, NULL);
    assert_int_equal(volt_optimizer_step(full), VOLT_OK);
    char *full_json = NULL;
    volt_state_dict *ref = volt_optimizer_state_dict(full, &full_json);
    assert_string_equal(json, full_json);
    /* Cut to this rank's shard, it loads into the sharded optimizer. */
    cJSON *obj = cJSON_Parse(full_json);
    assert_int_equal(volt_zero1_keep_owned(h.z, ref, obj), VOLT_OK);
    assert_int_equal(ref->count, rank == 0 ? 2 : 6);
    for (int64_t k = 0; k < ref->count; k++) {
        int i = ref->names[k][6] - '0';
        assert_int_equal(owners[i], rank);
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "state");
    assert_int_equal(cJSON_GetArraySize(st), rank == 0 ? 1 : 3);
    char *cut = cJSON_PrintUnformatted(obj);
    assert_int_equal(volt_optimizer_load_state_dict(h.opt, ref, cut), VOLT_OK);
    cJSON_free(cut);
    cJSON_Delete(obj);
    volt_state_dict_free(ref);
    free(full_json);
    volt_optimizer_free(full);
    for (int i = 0; i < NP; i++) volt_tensor_free(q[i]);
    volt_state_dict_free(sd);
    free(json);
    volt_scope_end();
    hand_free(&h);
}

static void test_mismatched_parameters_fail_on_both(void **state) {
    (void)state;
    /* Rank 1's third parameter has another shape (same element count). */
    volt_tensor *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = volt_persist(i == 2 && rank == 1 ? volt_zeros(2, (int64_t[]){2, 3}, VOLT_F32)
                                                : volt_zeros(1, (int64_t[]){6}, VOLT_F32));
    volt_optimizer *opt = volt_sgd_new((volt_params){3, p, NULL}, &(volt_sgd_options){.lr = 1});
    volt_trainer *t = calloc(1, sizeof *t);
    t->pg = pg;
    assert_null(volt_zero1_new(t, opt));
    assert_non_null(strstr(volt_error_message(), rank == 0 ? "zero1: the optimizer's parameter "
                                                             "2 (f32[6] on rank 0) differs"
                                                           : "zero1: the optimizer's parameter "
                                                             "2 (f32[2,3] on rank 1) differs"));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "differs across ranks in shape or dtype; every rank must "
                                    "build the same model and optimizer");
    volt_error_clear();
    volt_optimizer_free(opt);
    /* Rank 0 mixes dtypes: its own error; rank 1 learns that rank 0 failed. */
    volt_tensor_free(p[2]);
    p[2] = volt_persist(volt_zeros(1, (int64_t[]){6}, rank == 0 ? VOLT_F64 : VOLT_F32));
    opt = volt_sgd_new((volt_params){3, p, NULL}, &(volt_sgd_options){.lr = 1});
    assert_null(volt_zero1_new(t, opt));
    if (rank == 0)
        VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "zero1: the optimizer's parameter 2 is f64[6] but "
                                        "parameter 0 is f32[6]; zero1 needs one dtype");
    else
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "zero1: rank 0 could not set up");
    volt_error_clear();
    assert_false(volt_process_group_is_broken(pg));
    volt_optimizer_free(opt);
    for (int i = 0; i < 3; i++) volt_tensor_free(p[i]);
    free(t);
}

/* --------------------------------------------------------- the trainer */

/* Bytes of an optimizer's state tensors, and their count. */
static int64_t state_bytes(volt_trainer *t, int64_t *count) {
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(volt_trainer_optimizer(t, 0), &json);
    int64_t bytes = 0;
    for (int64_t k = 0; k < sd->count; k++)
        bytes +=
            volt_tensor_numel(sd->tensors[k]) * (int64_t)volt_dtype_size(sd->tensors[k]->dtype);
    *count = sd->count;
    volt_state_dict_free(sd);
    free(json);
    return bytes;
}

static void equals_ddp(fit_args a) {
    mlp dm, zm;
    a.strategy = "ddp";
    volt_trainer *td = fit_mlp(&dm, a);
    a.strategy = "zero1";
    volt_trainer *tz = fit_mlp(&zm, a);
    assert_true(moved(&zm) > 0.01); /* it trained */
    bool bf16 = a.precision && strcmp(a.precision, "bf16-true") == 0;
    assert_same_weights(&zm, &dm, bf16 ? 0.0 : 1e-6); /* bf16: bit for bit */
    /* zero1 holds only its shard of the state: rank 0 parameters 0, 1, 5
     * (41 elements), rank 1 parameters 2, 3, 4 (40); ddp all six (81).
     * bf16-true adds each parameter's compensation (compensated updates). */
    int slots = (a.optimizer == OPT_ADAM ? 2 : 1) + bf16;
    int64_t size = bf16 ? 2 : 4;
    int64_t nd, nz, bd = state_bytes(td, &nd), bz = state_bytes(tz, &nz);
    assert_int_equal(nd, 6 * slots);
    assert_int_equal(nz, 3 * slots);
    assert_int_equal(bd, 81 * size * slots);
    assert_int_equal(bz, (rank == 0 ? 41 : 40) * size * slots);
    fprintf(stderr, "rank %d: %s optimizer state: ddp %lld bytes, zero1 %lld bytes\n", rank,
            a.optimizer == OPT_ADAM ? "Adam" : "SGD", (long long)bd, (long long)bz);
    volt_trainer_free(td);
    volt_trainer_free(tz);
    volt_module_free(&dm.base);
    volt_module_free(&zm.base);
}

static void test_zero1_equals_ddp_sgd_momentum_accumulating(void **state) {
    (void)state;
    equals_ddp((fit_args){.optimizer = OPT_SGD, .epochs = 3, .accumulate = 2});
}

static void test_zero1_equals_ddp_adam(void **state) {
    (void)state;
    equals_ddp((fit_args){.optimizer = OPT_ADAM, .epochs = 3});
}

static void test_zero1_clip_norm_equals_ddp(void **state) {
    (void)state;
    /* 0.05 is below the gradients' norm at every step here: each one clips.
     * zero1 needs the norm over every rank's shard (volt_zero1_clip_grad_norm,
     * what volt_clip_gradients uses under zero1), not this rank's alone. */
    equals_ddp((fit_args){.optimizer = OPT_SGD, .epochs = 2, .clip = 0.05});
}

/* bf16 parameters (precision "bf16-true"): zero1 and ddp round each mean
 * gradient to bf16 the same way, so the two give the same weights, bit for
 * bit. */
static void test_zero1_bf16_true_equals_ddp(void **state) {
    (void)state;
    equals_ddp(
        (fit_args){.optimizer = OPT_SGD, .epochs = 3, .accumulate = 2, .precision = "bf16-true"});
    equals_ddp((fit_args){.optimizer = OPT_ADAM, .epochs = 3, .precision = "bf16-true"});
}

/* Rank 0's copy of a file's optimizer.* tensors are another's, and the
 * "optimizers" metadata is the same text. */
static void assert_same_optimizer_entries(const char *got_path, const char *want_path) {
    volt_checkpoint *got = volt_checkpoint_open(got_path), *want = volt_checkpoint_open(want_path);
    assert_non_null(got);
    assert_non_null(want);
    assert_string_equal(volt_checkpoint_meta(got, "optimizers"),
                        volt_checkpoint_meta(want, "optimizers"));
    volt_safetensors *fg = volt_checkpoint_file(got), *fw = volt_checkpoint_file(want);
    int n_got = 0, n_want = 0;
    for (int k = 0; k < volt_safetensors_count(fw); k++) {
        const char *name = volt_safetensors_name(fw, k);
        if (strncmp(name, "optimizer.", 10) != 0) continue;
        n_want++;
        volt_scope_begin();
        volt_tensor *tw = volt_checkpoint_tensor(want, name),
                    *tg = volt_checkpoint_tensor(got, name);
        if (!tg) fail_msg("%s lacks %s", got_path, name);
        assert_tensor_close(tg, tw, 1e-6, name);
        volt_scope_end();
    }
    for (int k = 0; k < volt_safetensors_count(fg); k++)
        n_got += strncmp(volt_safetensors_name(fg, k), "optimizer.", 10) == 0;
    assert_int_equal(n_got, n_want);
    assert_int_equal(n_want, 12); /* Adam: two slots of six parameters */
    volt_checkpoint_close(got);
    volt_checkpoint_close(want);
}

static void test_checkpoint_is_unsharded_and_resumes(void **state) {
    (void)state;
    const char *dir = getenv("VOLT_TEST_TMPDIR") ? getenv("VOLT_TEST_TMPDIR") : "/tmp";
    char zpath[1100], dpath[1100];
    snprintf(zpath, sizeof zpath, "%s/zero1_after2.ckpt", dir);
    snprintf(dpath, sizeof dpath, "%s/ddp_after2.ckpt", dir);
    mlp m, want;
    fit_args a = {.strategy = "zero1", .optimizer = OPT_ADAM, .epochs = 2, .save = zpath};
    volt_trainer_free(fit_mlp(&m, a));
    volt_module_free(&m.base);
    a.strategy = "ddp", a.save = dpath;
    volt_trainer_free(fit_mlp(&m, a));
    volt_module_free(&m.base);
    if (rank == 0) assert_same_optimizer_entries(zpath, dpath);
    assert_int_equal(volt_dist_barrier(pg), VOLT_OK);

    /* The uninterrupted run, and resumes of both files under both
     * strategies: the same weights. */
    volt_trainer_free(
        fit_mlp(&want, (fit_args){.strategy = "zero1", .optimizer = OPT_ADAM, .epochs = 3}));
    const char *strategies[] = {"zero1", "ddp"}, *files[] = {zpath, dpath};
    for (int s = 0; s < 2; s++)
        for (int f = 0; f < 2; f++) {
            volt_trainer *t = fit_mlp(&m, (fit_args){.strategy = strategies[s],
                                                     .optimizer = OPT_ADAM,
                                                     .epochs = 3,
                                                     .resume = files[f]});
            assert_int_equal(volt_trainer_global_step(t), 12);
            assert_same_weights(&m, &want, 1e-6);
            if (s == 0) { /* the restored state is this rank's shard */
                int64_t n;
                state_bytes(t, &n);
                assert_int_equal(n, 6);
            }
            volt_trainer_free(t);
            volt_module_free(&m.base);
        }
    volt_module_free(&want.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_partition_and_reduce),
        VT_TEST(test_clip_grad_norm_over_shards),
        VT_TEST(test_gather_parameters),
        VT_TEST(test_state_gather_and_shard),
        VT_TEST(test_bf16_parameters),
        VT_TEST(test_mismatched_parameters_fail_on_both),
        VT_TEST(test_zero1_equals_ddp_sgd_momentum_accumulating),
        VT_TEST(test_zero1_equals_ddp_adam),
        VT_TEST(test_zero1_clip_norm_equals_ddp),
        VT_TEST(test_zero1_bf16_true_equals_ddp),
        VT_TEST(test_checkpoint_is_unsharded_and_resumes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
