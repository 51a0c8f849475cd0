/* cluster_env.c: volt_cluster_env_detect — rank, world size, local rank and
 * node of this process as its launcher (Open MPI, SLURM, torchrun-style
 * variables) describes them in the environment. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist_impl.h"

const char *volt_cluster_source_name(volt_cluster_source source) {
    switch (source) {
    case VOLT_CLUSTER_NONE: return "none";
    case VOLT_CLUSTER_OPENMPI: return "openmpi";
    case VOLT_CLUSTER_SLURM: return "slurm";
    case VOLT_CLUSTER_ENV: return "env";
    }
    return "?";
}

static volt_cluster_env single_process(void) {
    return (volt_cluster_env){VOLT_CLUSTER_NONE, 0, 1, 0, 1, 0, 1};
}

/* Reads variable `name` as an int >= `min` into *out. Unset (or empty):
 * *out = fallback, true. Set but malformed: records the error, false. */
static bool read_int(const char *name, int min, int fallback, int *out) {
    const char *s = getenv(name);
    *out = fallback;
    if (!s || !*s) return true;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > INT_MAX) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "cluster environment: %s='%s' is not an integer >= %d", name, s, min);
        return false;
    }
    *out = (int)v;
    return true;
}

/* The first of two variables that is set. */
static const char *either(const char *a, const char *b) {
    const char *s = getenv(a);
    return s && *s ? a : b;
}

/* SLURM's tasks-per-node list, "4" or "4(x2)" (every node the same): that
 * count; -1 for lists like "2(x3),1" or when unset. */
static int slurm_uniform_tasks(void) {
    const char *s = getenv(either("SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"));
    if (!s) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 1 || v > INT_MAX) return -1;
    if (*end == 0) return (int)v;
    if (strncmp(end, "(x", 2) != 0) return -1;
    char *close;
    if (strtol(end + 2, &close, 10) < 1 || close == end + 2 || strcmp(close, ")") != 0) return -1;
    return (int)v;
}

static bool detect_openmpi(volt_cluster_env *e) {
    e->source = VOLT_CLUSTER_OPENMPI;
    if (!read_int("OMPI_COMM_WORLD_RANK", 0, 0, &e->rank) ||
        !read_int("OMPI_COMM_WORLD_SIZE", 1, 1, &e->world_size) ||
        !read_int("OMPI_COMM_WORLD_LOCAL_RANK", 0, -1, &e->local_rank) ||
        !read_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1, -1, &e->local_world_size) ||
        !read_int("OMPI_MCA_orte_num_nodes", 1, -1, &e->num_nodes))
        return false;
    /* Open MPI names no node index (its NODE_RANK is a rank within the
     * node); on a single node it can only be 0. */
    e->node_rank = e->num_nodes == 1 ? 0 : -1;
    return true;
}

static bool detect_slurm(volt_cluster_env *e) {
    e->source = VOLT_CLUSTER_SLURM;
    if (!read_int("SLURM_PROCID", 0, 0, &e->rank) ||
        !read_int(either("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"), 1, 1, &e->world_size) ||
        !read_int("SLURM_LOCALID", 0, -1, &e->local_rank) ||
        !read_int("SLURM_NODEID", 0, -1, &e->node_rank) ||
        !read_int(either("SLURM_STEP_NUM_NODES", "SLURM_NNODES"), 1, -1, &e->num_nodes))
        return false;
    e->local_world_size = slurm_uniform_tasks();
    return true;
}

static bool detect_plain(volt_cluster_env *e) {
    e->source = VOLT_CLUSTER_ENV;
    return read_int("RANK", 0, 0, &e->rank) && read_int("WORLD_SIZE", 1, 1, &e->world_size) &&
           read_int("LOCAL_RANK", 0, -1, &e->local_rank) &&
           read_int("LOCAL_WORLD_SIZE", 1, -1, &e->local_world_size) &&
           read_int(either("NODE_RANK", "GROUP_RANK"), 0, -1, &e->node_rank) &&
           read_int("NUM_NODES", 1, -1, &e->num_nodes);
}

/* Records the error of a value out of its range; false. */
static bool out_of_range(const volt_cluster_env *e, const char *what, int value, int bound) {
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                   "cluster environment (%s): %s %d is out of range (must be below %d)",
                   volt_cluster_source_name(e->source), what, value, bound);
    return false;
}

/* Values that cannot be: a rank outside the world, a node outside the
 * nodes, more local processes than processes. */
static bool consistent(const volt_cluster_env *e) {
    if (e->rank >= e->world_size) return out_of_range(e, "rank", e->rank, e->world_size);
    if (e->local_world_size > e->world_size)
        return out_of_range(e, "local world size", e->local_world_size, e->world_size + 1);
    if (e->local_world_size > 0 && e->local_rank >= e->local_world_size)
        return out_of_range(e, "local rank", e->local_rank, e->local_world_size);
    if (e->num_nodes > 0 && e->node_rank >= e->num_nodes)
        return out_of_range(e, "node rank", e->node_rank, e->num_nodes);
    return true;
}

static bool is_set(const char *name) {
    const char *s = getenv(name);
    return s && *s;
}

volt_cluster_env volt_cluster_env_detect(void) {
    volt_cluster_env e = single_process();
    bool ok = true;
    if (is_set("OMPI_COMM_WORLD_RANK") && is_set("OMPI_COMM_WORLD_SIZE"))
        ok = detect_openmpi(&e);
    else if (is_set("SLURM_PROCID") && (is_set("SLURM_STEP_NUM_TASKS") || is_set("SLURM_NTASKS")))
        ok = detect_slurm(&e);
    else if (is_set("RANK") && is_set("WORLD_SIZE"))
        ok = detect_plain(&e);
    else
        return e;
    if (ok && e.world_size == 1) {
        /* One process knows where it stands. */
        e.local_rank = 0, e.local_world_size = 1, e.node_rank = 0, e.num_nodes = 1;
    }
    if (ok && e.num_nodes == 1) e.node_rank = 0, e.local_world_size = e.world_size;
    if (ok && e.num_nodes == 1 && e.local_rank < 0) e.local_rank = e.rank;
    if (!ok || !consistent(&e)) return single_process();
    return e;
}
