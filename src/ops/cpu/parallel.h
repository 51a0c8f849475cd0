/* parallel.h: when a CPU loop is worth splitting across OpenMP threads — a
 * cost model shared by the elementwise loop, reductions, pooling, the small
 * convolution kernels, the optimizers' updates and the oneDNN calls.
 *
 * Each parallel region costs a fixed time on top of its work: waking the
 * other threads and waiting for the last one. With libgomp's default wait
 * policy the threads spin between regions and a region costs about a
 * microsecond; with OMP_WAIT_POLICY=passive (or GOMP_SPINCOUNT=0) they sleep,
 * and a region pays a futex wake-up of the team at its start and, usually, of
 * the master at its end: 40-80 us on a 2-vCPU cloud VM (bench/regions
 * measures it). A loop goes parallel only when the threads save more than
 * that. Which way it runs never changes results: every kernel using
 * this splits its work so that each element is computed the same way on any
 * number of threads. */
#ifndef VOLT_CPU_PARALLEL_H
#define VOLT_CPU_PARALLEL_H

#include <stdbool.h>
#include <stdint.h>

/* Rough single-thread speeds the estimates use, per ns: bytes read plus
 * written by a streaming loop (memory-bound: about 30 from DRAM here, more
 * from cache), bytes read by a floating reduction (it accumulates in
 * double: about 18), flops of an f32 matrix product or convolution, and
 * flops of a bf16 product on oneDNN's AMX kernels (500-780 measured on
 * the benchmark MLP's products, one core). */
#define VOLT_CPU_BYTES_PER_NS 30.0
#define VOLT_CPU_REDUCE_BYTES_PER_NS 16.0
#define VOLT_CPU_FLOPS_PER_NS 100.0
#define VOLT_CPU_BF16_FLOPS_PER_NS 500.0

/* Nanoseconds one parallel region is taken to cost under the process's
 * OpenMP wait policy (read once from OMP_WAIT_POLICY and GOMP_SPINCOUNT):
 * VOLT_CPU_REGION_NS_SPIN while threads spin, VOLT_CPU_REGION_NS_PASSIVE when
 * they sleep. */
#define VOLT_CPU_REGION_NS_SPIN 5000.0
#define VOLT_CPU_REGION_NS_PASSIVE 50000.0
double volt_cpu_region_ns(void);

/* Whether libgomp's threads sleep as soon as they wait, given the values of
 * OMP_WAIT_POLICY and GOMP_SPINCOUNT (NULL: unset): GOMP_SPINCOUNT decides
 * when set (0: they sleep), else OMP_WAIT_POLICY=passive (either case,
 * spaces around allowed), as libgomp reads them. */
bool volt_cpu_threads_sleep(const char *wait_policy, const char *spincount);

/* For tests: the region cost from now on, in ns (0: every loop that can
 * split goes parallel); a negative value goes back to the wait policy's. */
void volt_cpu_set_region_ns(double ns);

/* Threads worth using for work that takes serial_ns on one thread: t threads
 * save serial_ns (1 - 1/t), so t grows by one per region cost of work
 * (floor(serial_ns / region), 1 below two region costs), at most
 * volt_get_num_threads(). */
int volt_cpu_threads_for_ns(double serial_ns);

/* The same for a streaming loop over `bytes` (read + written) and for
 * `flops` of arithmetic-bound work. */
int volt_cpu_threads_for_bytes(double bytes);
int volt_cpu_threads_for_flops(double flops);

/* The share of a region's work its calling thread (thread 0) takes so that
 * a team of t threads ends together. The calling thread starts at once;
 * the others when they wake, taken as a region's cost later (40-80 us when
 * they sleep). With an even split thread 0 would finish first, wait for
 * the last one, and then wait to be woken itself; instead it takes
 * (W + (t - 1) L) / (t W) of the work W = serial_ns, L the region cost
 * (at most 1; 1 / t when W is 0 or t is 1). */
double volt_cpu_lead_share(double serial_ns, int t);

/* Thread i's part [*lo, *hi) of n items split among t threads in whole
 * runs of `unit` items: thread 0 about `lead` of them (rounded to units,
 * leaving each other thread at least one unit where there are enough),
 * the others the rest evenly. Deterministic in (n, unit, lead, t, i). */
void volt_cpu_share(int64_t n, int64_t unit, double lead, int t, int i, int64_t *lo, int64_t *hi);

/* A task for the calling thread to do while the other threads of a parallel
 * region work: volt_cpu_beside_set records fn(ctx) for this thread (NULL
 * fn: none) and volt_cpu_beside_take hands it out once, to a region that
 * runs it on its thread 0 and shares its own work out so that the other
 * threads take more of it meanwhile (the optimizers' update: the trainer
 * builds the next batch there). A task nobody took is simply not run:
 * what it does must be optional. */
typedef struct {
    void (*fn)(void *ctx);
    void *ctx;
} volt_cpu_beside;
void volt_cpu_beside_set(void (*fn)(void *ctx), void *ctx);
volt_cpu_beside volt_cpu_beside_take(void);

#endif
