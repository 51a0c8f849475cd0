/* test_resume_kill.c: the crash test of exact resume. It runs
 * examples/resumable_fashion_mnist (deterministic, checkpoints every 50
 * steps, starts from ckpt_path = "last") as a subprocess three ways:
 * uninterrupted; killed with SIGKILL at a random moment after one of its
 * first checkpoints (a random one of steps 50..250, then 0-40 ms), then
 * run again; stopped with SIGTERM (it must save and exit
 * with VOLT_EXIT_PREEMPTED), then run again. The final checkpoints'
 * tensors must be byte for byte those of the uninterrupted run. Skipped
 * (exit 77) without the example or the Fashion-MNIST files. */
#include <signal.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "train_fixture.h"

extern char **environ;

#define EXAMPLE "examples/resumable_fashion_mnist"
#define DATA_DIR "/usr/share/datasets/fashion-mnist"

static pid_t start(const char *root) {
    char *argv[] = {(char *)EXAMPLE, (char *)"--root",          (char *)root,  (char *)"--epochs",
                    (char *)"2",     (char *)"--limit-batches", (char *)"150", NULL};
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0); /* its chatter */
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid, EXAMPLE, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    return pid;
}

/* Exit status, or 128 + signal. */
static int wait_for(pid_t pid) {
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Whether the run's checkpoint directory holds "...-step=<step>.ckpt". */
static bool has_step_file(const char *root, int step) {
    char dir[1200], tail[32];
    snprintf(dir, sizeof dir, "%s/volt_logs/version_0/checkpoints", root);
    snprintf(tail, sizeof tail, "-step=%d.ckpt", step);
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        size_t n = strlen(e->d_name), k = strlen(tail);
        found = n > k && strcmp(e->d_name + n - k, tail) == 0;
    }
    if (d) closedir(d);
    return found;
}

/* Waits (up to 120 s) until the run has written its checkpoint of `step`. */
static void wait_checkpoint(pid_t pid, const char *root, int step) {
    for (int i = 0; i < 60000 && !has_step_file(root, step); i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) fail_msg("the run ended before step %d", step);
        sleep_ms(2);
    }
    assert_true(has_step_file(root, step));
}

/* Every tensor of a's file is in b's with the same bytes, and vice versa. */
static void assert_same_tensors(const char *a_path, const char *b_path) {
    volt_safetensors *a = volt_safetensors_open(a_path), *b = volt_safetensors_open(b_path);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(volt_safetensors_count(a), volt_safetensors_count(b));
    assert_string_equal(volt_safetensors_metadata(a, "global_step"),
                        volt_safetensors_metadata(b, "global_step"));
    volt_scope_begin();
    for (int i = 0; i < volt_safetensors_count(a); i++) {
        const char *name = volt_safetensors_name(a, i);
        volt_tensor *ta = volt_safetensors_get(a, name), *tb = volt_safetensors_get(b, name);
        assert_non_null(ta);
        if (!tb) fail_msg("tensor %s is missing from %s", name, b_path);
        size_t n = (size_t)volt_tensor_numel(ta) * volt_dtype_size(ta->dtype);
        assert_int_equal(volt_tensor_numel(ta), volt_tensor_numel(tb));
        if (memcmp(volt_tensor_data(ta), volt_tensor_data(tb), n) != 0)
            fail_msg("tensor %s differs between %s and %s", name, a_path, b_path);
    }
    volt_scope_end();
    volt_safetensors_close(a);
    volt_safetensors_close(b);
}

static void test_killed_and_resumed_equals_uninterrupted(void **state) {
    (void)state;
    char straight[1024], killed[1024], termed[1024], fa[1200], fb[1200];
    snprintf(straight, sizeof straight, "%s", fresh_dir("straight"));
    snprintf(killed, sizeof killed, "%s", fresh_dir("killed"));
    snprintf(termed, sizeof termed, "%s", fresh_dir("termed"));

    assert_int_equal(wait_for(start(straight)), 0);

    /* SIGKILL at a random moment after one of the first checkpoints
     * (steps 50..250 of 300, mid-epoch or at an epoch's end) */
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    int after = 50 * (1 + (int)(rand_r(&seed) % 5));
    long delay = (long)(rand_r(&seed) % 40);
    fprintf(stderr, "SIGKILL %ld ms after the checkpoint of step %d\n", delay, after);
    pid_t pid = start(killed);
    wait_checkpoint(pid, killed, after);
    sleep_ms(delay);
    kill(pid, SIGKILL);
    int code = wait_for(pid);
    assert_int_equal(code, 128 + SIGKILL);
    assert_int_equal(wait_for(start(killed)), 0);

    /* SIGTERM: a checkpoint at the next step and exit status 75 */
    pid = start(termed);
    wait_checkpoint(pid, termed, 50);
    kill(pid, SIGTERM);
    assert_int_equal(wait_for(pid), VOLT_EXIT_PREEMPTED);
    assert_int_equal(wait_for(start(termed)), 0);

    snprintf(fa, sizeof fa, "%s/final.ckpt", straight);
    snprintf(fb, sizeof fb, "%s/final.ckpt", killed);
    assert_same_tensors(fa, fb);
    snprintf(fb, sizeof fb, "%s/final.ckpt", termed);
    assert_same_tensors(fa, fb);
}

int main(void) {
    if (access(EXAMPLE, X_OK) != 0 || access(DATA_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("SKIPPED: needs %s (built with the examples) and the Fashion-MNIST files in %s\n",
               EXAMPLE, DATA_DIR);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        VT_TEST(test_killed_and_resumed_equals_uninterrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
