/* philox.c: the Philox-4x32-10 counter-based generator (Salmon et al., SC'11)
 * and the process's default generator. A block is keyed by the 64-bit seed;
 * its 128-bit counter is (block counter, stream). */
#include "core/core_impl.h"

void volt_philox4x32(const uint32_t key[2], const uint32_t counter[4], uint32_t out[4]) {
    uint32_t k0 = key[0], k1 = key[1];
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)VOLT_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)VOLT_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += VOLT_PHILOX_W0;
        k1 += VOLT_PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

volt_generator volt_generator_make(uint64_t seed, uint64_t stream) {
    return (volt_generator){.seed = seed, .stream = stream, .counter = 0};
}

static void block_at(const volt_generator *g, uint64_t counter, uint32_t out[4]) {
    uint32_t key[2] = {(uint32_t)g->seed, (uint32_t)(g->seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), (uint32_t)g->stream,
                       (uint32_t)(g->stream >> 32)};
    volt_philox4x32(key, ctr, out);
}

void volt_generator_next4(volt_generator *g, uint32_t out[4]) {
    block_at(g, volt_generator_reserve(g, 1), out);
}

uint64_t volt_generator_reserve(volt_generator *g, uint64_t n_blocks) {
    return __atomic_fetch_add(&g->counter, n_blocks, __ATOMIC_RELAXED);
}

float volt_uniform_from_u32(uint32_t x) { return volt_uniform_u32_inline(x); }

double volt_uniform_from_u64(uint32_t hi, uint32_t lo) { return volt_uniform_u64_inline(hi, lo); }

static volt_generator default_generator;
static uint64_t global_seed;

volt_generator *volt_default_generator(void) { return &default_generator; }

void volt_seed_everything(uint64_t seed) {
    __atomic_store_n(&global_seed, seed, __ATOMIC_RELAXED);
    default_generator = volt_generator_make(seed, 0);
}

uint64_t volt_global_seed(void) { return __atomic_load_n(&global_seed, __ATOMIC_RELAXED); }
