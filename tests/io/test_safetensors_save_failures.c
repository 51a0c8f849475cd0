/* test_safetensors_save_failures.c: volt_safetensors_save when the disk
 * fails it (volt/io.h: the write is atomic) — a file size limit (a fork()ed
 * child under RLIMIT_FSIZE with SIGXFSZ ignored: write fails with EFBIG), a
 * full file system (a 64 KiB tmpfs: ENOSPC) and a read-only one (EROFS; the
 * tmpfs cases are skipped with a visible message where mount is not
 * permitted), a directory that does not exist, a "directory" that is a file,
 * a target that is a directory, a path ending in '/'. Each time: VOLT_ERR_IO
 * (or VOLT_ERR_INVALID_ARGUMENT) with a message naming the file and the
 * system's reason, no temporary file left behind, and the previous file
 * intact byte for byte. We run as root, so chmod cannot make a directory
 * unwritable; the read-only tmpfs stands in for it. */
#include "volt_test.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <volt/io.h>

/* ------------------------------------------------------------- helpers */

static const char *tmp_dir(void) {
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

/* dir/name in a ring of 8 buffers (dir may be one of them). */
static const char *path_in(const char *dir, const char *name) {
    static char buf[8][2048];
    static int next;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", dir);
    char *out = buf[next++ % 8];
    snprintf(out, sizeof buf[0], "%s/%s", copy, name);
    return out;
}

/* A fresh empty directory under the test's scratch directory (valid until
 * the next call). */
static const char *fresh_dir(const char *name) {
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", tmp_dir(), name);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    assert_int_equal(system(cmd), 0);
    return dir;
}

/* A U8 tensor [n] of bytes (seed + 3 i) mod 256, filled without any op. */
static volt_tensor *bytes_tensor(int64_t n, unsigned seed) {
    volt_tensor *t = volt_tensor_new(VOLT_U8, VOLT_DEVICE_CPU, 1, (int64_t[]){n});
    assert_non_null(t);
    unsigned char *p = volt_tensor_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + 3u * (unsigned)i);
    return t;
}

static volt_status save_one(const char *path, volt_tensor *t) {
    return volt_safetensors_save(path, 1, (const char *[]){"t"}, &t, "{\"k\": \"v\"}");
}

/* Reads a whole file (malloc'd); NULL when it cannot be opened. */
static unsigned char *read_all(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size + 1);
    assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *n = (size_t)size;
    return data;
}

/* Number of entries of dir (besides . and ..), and whether one is a
 * temporary file of the atomic writer (".tmp-"). */
static int dir_entries(const char *dir, bool *has_temp) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    *has_temp = false;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        n++;
        if (strstr(e->d_name, ".tmp-")) *has_temp = true;
    }
    closedir(d);
    return n;
}

/* The file at path holds exactly `want` (n bytes). */
static void assert_file_is(const char *path, const unsigned char *want, size_t n) {
    size_t got_n = 0;
    unsigned char *got = read_all(path, &got_n);
    assert_non_null(got);
    assert_int_equal(got_n, n);
    assert_memory_equal(got, want, n);
    free(got);
}

/* The recorded error is an I/O error naming `path` and containing `reason`. */
static void assert_io_error(const char *path, const char *reason) {
    if (!strstr(volt_error_message(), path)) {
        fprintf(stderr, "the message does not name %s: %s\n", path, volt_error_message());
        fail();
    }
    VT_ASSERT_ERROR(VOLT_ERR_IO, reason);
}

/* ----------------------------------------------- (a) a file size limit */

/* In a child: the file size limit `limit` bytes, SIGXFSZ ignored, then a
 * save of 64 KiB over `path`. Exit 0 when it failed as it should (EFBIG, a
 * message naming the file), else a code saying what went wrong. */
static int child_save_over_limit(const char *path, rlim_t limit) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 10;
    volt_tensor *big = bytes_tensor(64 * 1024, 9);
    volt_status st = save_one(path, big);
    const char *msg = volt_error_message();
    fprintf(stderr, "child (limit %lu bytes): %s\n", (unsigned long)limit, msg);
    if (st != VOLT_ERR_IO) return 11;
    if (!strstr(msg, path)) return 12;
    if (!strstr(msg, "cannot write")) return 13;
    if (!strstr(msg, strerror(EFBIG))) return 14; /* "File too large" */
    return 0;
}

static void test_file_size_limit(void **state) {
    (void)state;
    const char *dir = fresh_dir("fsize");
    const char *path = path_in(dir, "keep.safetensors");
    volt_tensor *a = bytes_tensor(100, 1);
    assert_int_equal(save_one(path, a), VOLT_OK);
    size_t n0;
    unsigned char *before = read_all(path, &n0);

    /* 0: not even the length prefix fits; 1000: the header does, the data
     * does not (the write stops part way, then fails). */
    const rlim_t limits[] = {0, 1000};
    for (size_t i = 0; i < 2; i++) {
        fflush(stderr);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) _exit(child_save_over_limit(path, limits[i]));
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
            fail_msg("limit %lu: the child's save did not fail as expected (code %d)",
                     (unsigned long)limits[i], WEXITSTATUS(status));
        bool temp;
        assert_int_equal(dir_entries(dir, &temp), 1);
        assert_false(temp);
        assert_file_is(path, before, n0);
    }
    free(before);
}

/* ------------------------------ (b) a full and a read-only file system */

/* Mounts a 64 KiB tmpfs on dir; false (after saying so) where not permitted. */
static bool mount_small_tmpfs(const char *dir) {
    if (mount("volt-test", dir, "tmpfs", 0, "size=64k,mode=0755") == 0) return true;
    printf("SKIPPED sub-case: cannot mount a tmpfs on %s (%s): the full and read-only file "
           "system cases need CAP_SYS_ADMIN\n",
           dir, strerror(errno));
    return false;
}

static void test_full_file_system(void **state) {
    (void)state;
    const char *dir = fresh_dir("tmpfs-full");
    if (!mount_small_tmpfs(dir)) return;
    const char *path = path_in(dir, "keep.safetensors");
    volt_tensor *a = bytes_tensor(1000, 2), *big = bytes_tensor(128 * 1024, 3);
    volt_status first = save_one(path, a);
    size_t n0 = 0;
    unsigned char *before = read_all(path, &n0);
    volt_status full = save_one(path, big);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", volt_error_message());
    volt_status status = volt_error_status();
    volt_error_clear();
    bool temp;
    int entries = dir_entries(dir, &temp);
    size_t n1 = 0;
    unsigned char *after = read_all(path, &n1);
    /* A second save that fits still works on the full disk's leftovers. */
    volt_tensor *b = bytes_tensor(500, 4);
    volt_status again = save_one(path, b);
    umount2(dir, MNT_DETACH); /* before any assertion, so none leaves it mounted */

    assert_int_equal(first, VOLT_OK);
    assert_int_equal(full, VOLT_ERR_IO);
    assert_int_equal(status, VOLT_ERR_IO);
    if (!strstr(msg, path) || !strstr(msg, strerror(ENOSPC)))
        fail_msg("the message should name %s and say '%s': %s", path, strerror(ENOSPC), msg);
    assert_int_equal(entries, 1);
    assert_false(temp);
    assert_non_null(after);
    assert_int_equal(n1, n0);
    assert_memory_equal(after, before, n0);
    assert_int_equal(again, VOLT_OK);
    free(before);
    free(after);
}

static void test_read_only_file_system(void **state) {
    (void)state;
    const char *dir = fresh_dir("tmpfs-ro");
    if (!mount_small_tmpfs(dir)) return;
    const char *path = path_in(dir, "keep.safetensors");
    volt_tensor *a = bytes_tensor(100, 5), *b = bytes_tensor(200, 6);
    volt_status first = save_one(path, a);
    size_t n0 = 0;
    unsigned char *before = read_all(path, &n0);
    int rc = mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL);
    int err = errno;
    volt_status st = rc == 0 ? save_one(path, b) : VOLT_OK;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", volt_error_message());
    volt_error_clear();
    size_t n1 = 0;
    unsigned char *after = read_all(path, &n1);
    bool temp;
    int entries = dir_entries(dir, &temp);
    umount2(dir, MNT_DETACH);

    assert_int_equal(first, VOLT_OK);
    if (rc != 0) fail_msg("cannot remount %s read-only: %s", dir, strerror(err));
    assert_int_equal(st, VOLT_ERR_IO);
    if (!strstr(msg, "cannot create a temporary file beside") || !strstr(msg, path) ||
        !strstr(msg, strerror(EROFS)))
        fail_msg("unexpected message: %s", msg);
    assert_int_equal(entries, 1);
    assert_false(temp);
    assert_int_equal(n1, n0);
    assert_memory_equal(after, before, n0);
    free(before);
    free(after);
}

/* --------------------------------------------- (c) paths that cannot be */

static void test_impossible_paths(void **state) {
    (void)state;
    const char *dir = fresh_dir("paths");
    volt_tensor *a = bytes_tensor(10, 7);

    /* A directory that does not exist. */
    const char *missing = path_in(dir, "no/such/dir/x.safetensors");
    assert_int_equal(save_one(missing, a), VOLT_ERR_IO);
    assert_io_error(missing, "cannot create a temporary file beside");

    /* A "directory" that is a regular file. */
    const char *file = path_in(dir, "a-file");
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fputs("not a directory\n", fp);
    fclose(fp);
    const char *under_file = path_in(dir, "a-file/x.safetensors");
    assert_int_equal(save_one(under_file, a), VOLT_ERR_IO);
    assert_io_error(under_file, strerror(ENOTDIR));

    /* The target is a directory: the rename fails, the directory and what
     * it holds stay. */
    const char *sub = path_in(dir, "sub.safetensors");
    assert_int_equal(mkdir(sub, 0755), 0);
    const char *inside = path_in(sub, "inner");
    fp = fopen(inside, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(save_one(sub, a), VOLT_ERR_IO);
    assert_io_error(sub, "cannot rename the temporary file over");
    struct stat sb;
    assert_int_equal(stat(sub, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    bool temp;
    assert_int_equal(dir_entries(sub, &temp), 1);

    /* A path ending in '/' names a directory: refused before anything is
     * created. */
    char slash[1100];
    snprintf(slash, sizeof slash, "%s/", sub);
    assert_int_equal(save_one(slash, a), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "ends with '/'");
    assert_int_equal(dir_entries(sub, &temp), 1);
    assert_false(temp);

    /* Nothing was left beside them either. */
    assert_int_equal(dir_entries(dir, &temp), 2); /* a-file, sub.safetensors */
    assert_false(temp);
}

int main(void) {
    /* No worker threads: the forked child of (a) must not inherit a pool. */
    volt_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        VT_TEST(test_file_size_limit),
        VT_TEST(test_full_file_system),
        VT_TEST(test_read_only_file_system),
        VT_TEST(test_impossible_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
