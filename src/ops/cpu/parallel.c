/* parallel.c: the cost model of parallel.h — the region cost from the
 * OpenMP wait policy, and the thread count a given amount of work pays for. */
#include "ops/cpu/parallel.h"

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#include "volt/core.h"

bool volt_cpu_threads_sleep(const char *wait_policy, const char *spincount) {
    if (spincount && *spincount) {
        char *end;
        double n = strtod(spincount, &end);
        return end != spincount && n == 0;
    }
    if (!wait_policy) return false;
    while (isspace((unsigned char)*wait_policy)) wait_policy++;
    if (strncasecmp(wait_policy, "passive", 7) != 0) return false;
    for (wait_policy += 7; isspace((unsigned char)*wait_policy);) wait_policy++;
    return *wait_policy == '\0';
}

static int policy;                   /* 0: not read yet, 1: threads spin, 2: they sleep */
static int64_t region_override = -1; /* ns; -1: none */

double volt_cpu_region_ns(void) {
    int64_t o = __atomic_load_n(&region_override, __ATOMIC_RELAXED);
    if (o >= 0) return (double)o;
    int p = __atomic_load_n(&policy, __ATOMIC_RELAXED);
    if (p == 0) {
        p = volt_cpu_threads_sleep(getenv("OMP_WAIT_POLICY"), getenv("GOMP_SPINCOUNT")) ? 2 : 1;
        __atomic_store_n(&policy, p, __ATOMIC_RELAXED);
    }
    return p == 2 ? VOLT_CPU_REGION_NS_PASSIVE : VOLT_CPU_REGION_NS_SPIN;
}

void volt_cpu_set_region_ns(double ns) {
    __atomic_store_n(&region_override, ns < 0 ? -1 : (int64_t)ns, __ATOMIC_RELAXED);
}

int volt_cpu_threads_for_ns(double serial_ns) {
    int max = volt_get_num_threads();
    double t = serial_ns / volt_cpu_region_ns();
    if (!(t >= 2) || max < 2) return 1; /* NaN too */
    return t >= (double)max ? max : (int)t;
}

int volt_cpu_threads_for_bytes(double bytes) {
    return volt_cpu_threads_for_ns(bytes / VOLT_CPU_BYTES_PER_NS);
}

int volt_cpu_threads_for_flops(double flops) {
    return volt_cpu_threads_for_ns(flops / VOLT_CPU_FLOPS_PER_NS);
}

double volt_cpu_lead_share(double serial_ns, int t) {
    if (t <= 1) return 1.0;
    if (!(serial_ns > 0)) return 1.0 / t;
    double share = (serial_ns + (t - 1) * volt_cpu_region_ns()) / (t * serial_ns);
    return share < 1.0 ? share : 1.0;
}

void volt_cpu_share(int64_t n, int64_t unit, double lead, int t, int i, int64_t *lo, int64_t *hi) {
    int64_t units = (n + unit - 1) / unit;
    int64_t first = (int64_t)(lead * (double)units + 0.5);
    if (first > units - (t - 1)) first = units - (t - 1);
    if (first < 0) first = 0;
    int64_t a, b; /* thread i's units [a, b) */
    if (i == 0) {
        a = 0, b = first;
    } else {
        int64_t rest = units - first, others = t - 1, k = i - 1;
        int64_t per = rest / others, extra = rest % others;
        a = first + k * per + (k < extra ? k : extra);
        b = a + per + (k < extra ? 1 : 0);
    }
    *lo = a * unit < n ? a * unit : n;
    *hi = b * unit < n ? b * unit : n;
}

static _Thread_local volt_cpu_beside beside;

void volt_cpu_beside_set(void (*fn)(void *ctx), void *ctx) {
    beside = (volt_cpu_beside){fn, fn ? ctx : NULL};
}

volt_cpu_beside volt_cpu_beside_take(void) {
    volt_cpu_beside b = beside;
    beside = (volt_cpu_beside){0};
    return b;
}
