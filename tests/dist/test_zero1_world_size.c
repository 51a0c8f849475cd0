/* test_zero1_world_size.c: zero1 checkpoints across world sizes. The test
 * (one process) first trains at world 1 under zero1 (batch 8) and saves
 * after 2 of 3 epochs; then it starts itself under mpiexec -n 2 with
 * `--ranks DIR`, and the two ranks (batch 4 each: the same global batch)
 * save after 2 epochs and after 3 epochs of zero1, and resume the world-1
 * checkpoint to 3 epochs. Back in one process: the 2-rank checkpoint
 * resumes at world 1 (single device, and zero1 over a one-process group)
 * to the weights the 2 ranks reached uninterrupted, and the 2 ranks'
 * resume of the world-1 checkpoint reached the weights of the world-1
 * run (1e-5 relative: the batch means round differently). */
#include "zero1_fixture.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RANKS_LIMIT_S 120

static char dir[1024], self[4096];

static void path_in(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

/* ------------------------------------------------------------ the ranks */

static int run_ranks(const char *where) {
    snprintf(dir, sizeof dir, "%s", where);
    char half[1200], full[1200], from1[1200];
    path_in(half, sizeof half, "world2_after2.ckpt");
    path_in(full, sizeof full, "world2_after3.ckpt");
    path_in(from1, sizeof from1, "world1_after2_resumed_on_2.ckpt");
    char in1[1200];
    path_in(in1, sizeof in1, "world1_after2.ckpt");
    fit_args runs[] = {
        {.strategy = "zero1", .optimizer = OPT_ADAM, .epochs = 2, .save = half},
        {.strategy = "zero1", .optimizer = OPT_ADAM, .epochs = 3, .save = full},
        {.strategy = "zero1", .optimizer = OPT_ADAM, .epochs = 3, .resume = in1, .save = from1},
    };
    for (size_t k = 0; k < sizeof runs / sizeof *runs; k++) {
        mlp m;
        volt_trainer *t = fit_mlp(&m, runs[k]);
        if (volt_trainer_world_size(t) != 2) {
            fprintf(stderr, "ranks: world size %d\n", volt_trainer_world_size(t));
            return 1;
        }
        volt_trainer_free(t);
        volt_module_free(&m.base);
    }
    return 0;
}

/* ------------------------------------------------------------ the test */

/* mpiexec -n 2 <self> --ranks <dir>, waited for (bounded). */
static void spawn_ranks(void) {
    const char *mpiexec = getenv("VOLT_MPIEXEC");
    if (!mpiexec) mpiexec = "mpiexec";
    char *argv[] = {(char *)mpiexec, "-n", "2", "--oversubscribe", "--allow-run-as-root", self,
                    "--ranks",       dir,  NULL};
    pid_t pid;
    if (posix_spawnp(&pid, mpiexec, NULL, NULL, argv, environ) != 0)
        fail_msg("cannot start %s", mpiexec);
    int status = 0;
    time_t end = time(NULL) + RANKS_LIMIT_S;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (time(NULL) > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the ranks did not finish within %d s", RANKS_LIMIT_S);
        }
        usleep(20000);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("the ranks failed (%d)", status);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s", fresh_dir("zero1_world_size"));
    /* World 1 under zero1: 2 epochs, saved. */
    char in1[1200];
    path_in(in1, sizeof in1, "world1_after2.ckpt");
    mlp m;
    volt_trainer *t = fit_mlp(
        &m,
        (fit_args){
            .strategy = "zero1", .optimizer = OPT_ADAM, .epochs = 2, .batch_size = 8, .save = in1});
    volt_trainer_free(t);
    volt_module_free(&m.base);
    spawn_ranks();
    return 0;
}

/* A fresh mlp holding a checkpoint's weights. */
static void load_weights(mlp *m, const char *name) {
    char path[1200];
    path_in(path, sizeof path, name);
    mlp_init(m, OPT_ADAM, NULL);
    volt_status st = volt_module_load_checkpoint(&m->base, path, true, NULL);
    if (st) fail_msg("%s", volt_error_message());
}

static void resume_world1(const char *strategy) {
    char half[1200];
    path_in(half, sizeof half, "world2_after2.ckpt");
    mlp m, want;
    volt_trainer *t = fit_mlp(&m, (fit_args){.strategy = strategy,
                                             .optimizer = OPT_ADAM,
                                             .epochs = 3,
                                             .batch_size = 8,
                                             .resume = half});
    assert_int_equal(volt_trainer_world_size(t), 1);
    assert_int_equal(volt_trainer_global_step(t), 12);
    load_weights(&want, "world2_after3.ckpt");
    assert_true(moved(&want) > 0.01);
    assert_same_weights(&m, &want, 1e-5);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_module_free(&want.base);
}

static void test_two_rank_checkpoint_resumes_single_device(void **state) {
    (void)state;
    resume_world1(NULL);
}

static void test_two_rank_checkpoint_resumes_zero1_world1(void **state) {
    (void)state;
    resume_world1("zero1");
}

static void test_world1_checkpoint_resumed_on_two_ranks(void **state) {
    (void)state;
    mlp m, got;
    volt_trainer *t = fit_mlp(
        &m, (fit_args){.strategy = "zero1", .optimizer = OPT_ADAM, .epochs = 3, .batch_size = 8});
    load_weights(&got, "world1_after2_resumed_on_2.ckpt");
    assert_same_weights(&got, &m, 1e-5);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_module_free(&got.base);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--ranks") == 0) return run_ranks(argv[2]);
    if (!realpath(argv[0], self)) {
        fprintf(stderr, "cannot resolve %s\n", argv[0]);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        VT_TEST(test_two_rank_checkpoint_resumes_single_device),
        VT_TEST(test_two_rank_checkpoint_resumes_zero1_world1),
        VT_TEST(test_world1_checkpoint_resumed_on_two_ranks),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
