/* test_fuzz_corpus.c: replays the committed fuzz seeds through the libFuzzer
 * target tests/fuzz/fuzz_safetensors.c (compiled in here, with gcc, so the
 * target keeps building between `make fuzz` runs): each seed in
 * tests/fuzz/corpus/safetensors/ must open as a valid file (a seed the
 * reader refuses would only feed the fuzzer noise) and pass the target's own
 * checks (tensors, metadata, CRC-32 equal to zlib's), as must every
 * truncation of it (refused cleanly, never a crash). */
#include "volt_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_safetensors.c"

static unsigned char *read_seed(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size + 1);
    assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *n = (size_t)size;
    return data;
}

static void test_seeds_replay(void **state) {
    (void)state;
    const char *src = getenv("VOLT_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/safetensors", src && *src ? src : ".");
    DIR *d = opendir(dir);
    assert_non_null(d);
    int seeds = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n;
        unsigned char *data = read_seed(path, &n);
        /* The seed itself is a valid file. */
        volt_safetensors *f = volt_safetensors_open(write_input(data, n));
        if (!f) fail_msg("seed %s is refused: %s", e->d_name, volt_error_message());
        volt_safetensors_close(f);
        /* The target on it, and on every truncation of it. */
        for (size_t len = n + 1; len-- > 0;) LLVMFuzzerTestOneInput(data, len);
        free(data);
        seeds++;
    }
    closedir(d);
    assert_true(seeds >= 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_seeds_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
