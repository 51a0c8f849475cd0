/* rng.c: the data layer's random streams — stream ids mixed from integers
 * (purpose, epoch, index), a buffered Philox reader, uniform draws and the
 * Fisher-Yates shuffle every sampler and split uses. */
#include "data/data_impl.h"

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t volt_data_stream(uint64_t purpose, uint64_t a, uint64_t b) {
    return splitmix64(splitmix64(splitmix64(purpose) ^ a) ^ b);
}

void volt_data_rng_init(volt_data_rng *r, uint64_t seed, uint64_t stream) {
    r->gen = volt_generator_make(seed, stream);
    r->used = 4;
}

uint32_t volt_data_rng_u32(volt_data_rng *r) {
    if (r->used == 4) {
        volt_generator_next4(&r->gen, r->buf);
        r->used = 0;
    }
    return r->buf[r->used++];
}

double volt_data_rng_uniform(volt_data_rng *r) {
    uint32_t hi = volt_data_rng_u32(r);
    uint32_t lo = volt_data_rng_u32(r);
    return volt_uniform_from_u64(hi, lo);
}

uint64_t volt_data_rng_below(volt_data_rng *r, uint64_t k) {
    uint64_t hi = volt_data_rng_u32(r);
    uint64_t x = (hi << 32) | volt_data_rng_u32(r);
    /* Multiply-high: the bias is below k / 2^64. */
    return (uint64_t)(((unsigned __int128)x * k) >> 64);
}

void volt_data_shuffle(int64_t *a, int64_t n, uint64_t seed, uint64_t stream) {
    volt_data_rng r;
    volt_data_rng_init(&r, seed, stream);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)volt_data_rng_below(&r, (uint64_t)i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
