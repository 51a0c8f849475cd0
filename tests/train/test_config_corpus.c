/* test_config_corpus.c: replays the committed fuzz seeds through the
 * libFuzzer target tests/fuzz/fuzz_config.c (compiled in here with gcc, so
 * the target keeps building between `make fuzz` runs): every seed but the
 * syntax-error one must resolve (a seed the parser refuses only feeds the
 * fuzzer noise) and pass the target's round-trip check, and every
 * truncation of each seed must be refused or accepted cleanly. */
#include "volt_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_config.c"

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

/* The seed's YAML part (before a NUL) with its overrides resolves. */
static bool seed_resolves(const unsigned char *data, size_t n) {
    char *text = malloc(n + 1);
    memcpy(text, data, n);
    text[n] = '\0';
    size_t yaml_len = strlen(text);
    char *env[MAX_ARGS + 1], *args[MAX_ARGS];
    int n_env = 0, n_args = 0;
    for (size_t at = yaml_len + 1; at < n && n_env + n_args < MAX_ARGS;) {
        char *arg = text + at;
        at += strlen(arg) + 1;
        if (strncmp(arg, "VOLT_", 5) == 0)
            env[n_env++] = arg;
        else
            args[n_args++] = arg;
    }
    env[n_env] = NULL;
    cli_config c;
    cli_config_init(&c, volt_cli_builtin_registry());
    volt_status st = cli_config_environment(&c, env);
    if (!st) st = cli_config_load_text(&c, text, yaml_len, "seed");
    for (int i = 0; !st && i < n_args; i++) {
        const char *key, *value;
        bool append;
        if (split_arg(args[i], &key, &value, &append))
            st = cli_config_override(&c, key, value, append, "seed");
    }
    cli_resolved r = {0};
    if (!st) st = cli_resolve(&c, &r, false);
    if (st) fprintf(stderr, "seed does not resolve: %s\n", volt_error_message());
    cli_resolved_free(&r);
    cli_config_free(&c);
    volt_error_clear();
    free(text);
    return st == VOLT_OK;
}

static void test_seeds_replay(void **state) {
    (void)state;
    const char *src = getenv("VOLT_SOURCE_DIR");
    assert_non_null(src);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/config", src);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int seeds = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n;
        unsigned char *data = read_seed(path, &n);
        if (strstr(e->d_name, "error") == NULL && !seed_resolves(data, n))
            fail_msg("seed %s does not resolve", e->d_name);
        for (size_t cut = 0; cut <= n; cut++) LLVMFuzzerTestOneInput(data, cut);
        free(data);
        seeds++;
    }
    closedir(d);
    assert_true(seeds >= 5);
    VT_ASSERT_NO_ERROR();
}

int main(void) {
    const struct CMUnitTest tests[] = {VT_TEST(test_seeds_replay)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
