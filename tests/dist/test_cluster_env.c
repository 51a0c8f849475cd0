/* test_cluster_env.c: volt_cluster_env_detect from faked launcher variables
 * (one process, setenv): Open MPI's, SLURM's, plain RANK/WORLD_SIZE, none;
 * which wins when several are set; malformed and impossible values refused
 * naming the variable; the "auto" backend choice and the timeout's sources
 * (option, VOLT_DIST_TIMEOUT). */
#include "volt_test.h"

#include <stdlib.h>
#include <string.h>

#include <volt/dist.h>

extern char **environ;

/* Unsets every variable a launcher may have set (ctest may itself run in a
 * SLURM job or under mpiexec). */
static void clear_launcher_env(void) {
    static const char *prefixes[] = {"OMPI_", "PMIX_", "SLURM_"};
    static const char *names[] = {"RANK",      "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                                  "NODE_RANK", "GROUP_RANK", "NUM_NODES",  "VOLT_DIST_TIMEOUT"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unsetenv(names[i]);
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
                if (strncmp(*e, prefixes[p], strlen(prefixes[p])) != 0) continue;
                char name[256];
                size_t n = strcspn(*e, "=");
                if (n >= sizeof name) continue;
                memcpy(name, *e, n);
                name[n] = 0;
                unsetenv(name); /* environ changed: scan again */
                again = 1;
                break;
            }
            if (again) break;
        }
    }
}

static int env_setup(void **state) {
    clear_launcher_env();
    return vt_setup(state);
}

#define ENV_TEST(fn) cmocka_unit_test_setup_teardown(fn, env_setup, vt_teardown)

static void assert_env(volt_cluster_env e, volt_cluster_source source, int rank, int world,
                       int local_rank, int local_world, int node_rank, int num_nodes) {
    assert_int_equal(e.source, source);
    assert_int_equal(e.rank, rank);
    assert_int_equal(e.world_size, world);
    assert_int_equal(e.local_rank, local_rank);
    assert_int_equal(e.local_world_size, local_world);
    assert_int_equal(e.node_rank, node_rank);
    assert_int_equal(e.num_nodes, num_nodes);
}

static void test_no_launcher(void **state) {
    (void)state;
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_NONE, 0, 1, 0, 1, 0, 1);
    assert_string_equal(volt_cluster_source_name(VOLT_CLUSTER_NONE), "none");
}

static void test_openmpi(void **state) {
    (void)state;
    setenv("OMPI_COMM_WORLD_RANK", "3", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
    setenv("OMPI_COMM_WORLD_NODE_RANK", "1", 1); /* a rank within the node, not a node */
    setenv("OMPI_MCA_orte_num_nodes", "2", 1);
    /* Two nodes: Open MPI does not say which one this is. */
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_OPENMPI, 3, 4, 1, 2, -1, 2);
    setenv("OMPI_MCA_orte_num_nodes", "1", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "3", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "4", 1);
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_OPENMPI, 3, 4, 3, 4, 0, 1);
    assert_string_equal(volt_cluster_source_name(VOLT_CLUSTER_OPENMPI), "openmpi");
}

static void test_slurm(void **state) {
    (void)state;
    setenv("SLURM_PROCID", "5", 1);
    setenv("SLURM_NTASKS", "8", 1);
    setenv("SLURM_LOCALID", "1", 1);
    setenv("SLURM_NODEID", "2", 1);
    setenv("SLURM_NNODES", "4", 1);
    setenv("SLURM_TASKS_PER_NODE", "2(x4)", 1);
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_SLURM, 5, 8, 1, 2, 2, 4);
    /* An srun step's own counts win over the allocation's. */
    setenv("SLURM_STEP_NUM_TASKS", "6", 1);
    setenv("SLURM_STEP_NUM_NODES", "3", 1);
    setenv("SLURM_STEP_TASKS_PER_NODE", "2(x2),2", 1); /* not given as uniform: unknown */
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_SLURM, 5, 6, 1, -1, 2, 3);
    setenv("SLURM_STEP_TASKS_PER_NODE", "2", 1);
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_SLURM, 5, 6, 1, 2, 2, 3);
    assert_string_equal(volt_cluster_source_name(VOLT_CLUSTER_SLURM), "slurm");
}

static void test_plain_variables(void **state) {
    (void)state;
    setenv("RANK", "2", 1);
    setenv("WORLD_SIZE", "4", 1);
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_ENV, 2, 4, -1, -1, -1, -1);
    setenv("LOCAL_RANK", "0", 1);
    setenv("LOCAL_WORLD_SIZE", "2", 1);
    setenv("GROUP_RANK", "1", 1); /* torchrun's name for the node */
    setenv("NUM_NODES", "2", 1);
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_ENV, 2, 4, 0, 2, 1, 2);
    setenv("NODE_RANK", "0", 1); /* Lightning's name wins */
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_ENV, 2, 4, 0, 2, 0, 2);
    /* One process knows where it is. */
    clear_launcher_env();
    setenv("RANK", "0", 1);
    setenv("WORLD_SIZE", "1", 1);
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_ENV, 0, 1, 0, 1, 0, 1);
    assert_string_equal(volt_cluster_source_name(VOLT_CLUSTER_ENV), "env");
}

static void test_precedence(void **state) {
    (void)state;
    setenv("RANK", "1", 1);
    setenv("WORLD_SIZE", "2", 1);
    setenv("SLURM_PROCID", "3", 1);
    setenv("SLURM_NTASKS", "4", 1);
    assert_int_equal(volt_cluster_env_detect().source, VOLT_CLUSTER_SLURM);
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
    volt_cluster_env e = volt_cluster_env_detect();
    assert_int_equal(e.source, VOLT_CLUSTER_OPENMPI);
    assert_int_equal(e.world_size, 3);
    /* SLURM_PROCID alone (a batch script, not an srun step) is not a launch. */
    clear_launcher_env();
    setenv("SLURM_PROCID", "0", 1);
    assert_int_equal(volt_cluster_env_detect().source, VOLT_CLUSTER_NONE);
}

static void test_malformed_values_refused(void **state) {
    (void)state;
    setenv("RANK", "abc", 1);
    setenv("WORLD_SIZE", "2", 1);
    assert_env(volt_cluster_env_detect(), VOLT_CLUSTER_NONE, 0, 1, 0, 1, 0, 1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "cluster environment: RANK='abc' is not an integer >= 0");
    setenv("RANK", "4", 1);
    setenv("WORLD_SIZE", "4", 1);
    assert_int_equal(volt_cluster_env_detect().source, VOLT_CLUSTER_NONE);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "cluster environment (env): rank 4 is out of range (must be below 4)");
    clear_launcher_env();
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "0", 1);
    volt_cluster_env_detect();
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "OMPI_COMM_WORLD_SIZE='0' is not an integer >= 1");
    clear_launcher_env();
    setenv("SLURM_PROCID", "1", 1);
    setenv("SLURM_NTASKS", "2", 1);
    setenv("SLURM_LOCALID", "-1", 1);
    volt_cluster_env_detect();
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SLURM_LOCALID='-1'");
    clear_launcher_env();
    setenv("SLURM_PROCID", "1", 1);
    setenv("SLURM_NTASKS", "2", 1);
    setenv("SLURM_NODEID", "3", 1);
    setenv("SLURM_NNODES", "2", 1);
    volt_cluster_env_detect();
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "node rank 3 is out of range (must be below 2)");
}

/* ------------------------------------------------- backend and timeouts */

static void test_auto_backend_without_launcher_is_single(void **state) {
    (void)state;
    volt_process_group *pg = volt_process_group_new(NULL, NULL);
    assert_non_null(pg);
    assert_string_equal(volt_process_group_backend(pg), "single");
    assert_int_equal(volt_process_group_world_size(pg), 1);
    assert_true(volt_process_group_timeout(pg) == 1800);
    volt_process_group_free(pg);
    setenv("RANK", "0", 1); /* a launcher with one rank: no MPI either */
    setenv("WORLD_SIZE", "1", 1);
    pg = volt_process_group_new("auto", NULL);
    assert_string_equal(volt_process_group_backend(pg), "single");
    volt_process_group_free(pg);
    setenv("RANK", "x", 1);
    assert_null(volt_process_group_new("auto", NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "RANK='x'");
}

static void test_backend_names(void **state) {
    (void)state;
    assert_null(volt_process_group_new("gloo", NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "process_group: unknown backend 'gloo' (auto, single, mpi, nccl)");
    assert_null(volt_process_group_new("nccl", NULL));
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED, "process_group: the nccl backend ");
}

static void test_timeout_sources(void **state) {
    (void)state;
    setenv("VOLT_DIST_TIMEOUT", "2.5", 1);
    volt_process_group *pg = volt_process_group_new("single", NULL);
    assert_true(volt_process_group_timeout(pg) == 2.5);
    volt_process_group_free(pg);
    pg = volt_process_group_new("single", &(volt_process_group_options){.timeout_s = 7});
    assert_true(volt_process_group_timeout(pg) == 7); /* the option wins */
    volt_process_group_free(pg);
    setenv("VOLT_DIST_TIMEOUT", "soon", 1);
    assert_null(volt_process_group_new("single", NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "VOLT_DIST_TIMEOUT='soon' is not a positive number of seconds");
    assert_null(volt_process_group_new("single", &(volt_process_group_options){.timeout_s = -1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "timeout_s must be a positive number of seconds "
                                               "(got -1)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_no_launcher),
        ENV_TEST(test_openmpi),
        ENV_TEST(test_slurm),
        ENV_TEST(test_plain_variables),
        ENV_TEST(test_precedence),
        ENV_TEST(test_malformed_values_refused),
        ENV_TEST(test_auto_backend_without_launcher_is_single),
        ENV_TEST(test_backend_names),
        ENV_TEST(test_timeout_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
