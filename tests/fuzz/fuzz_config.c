/* fuzz_config.c: libFuzzer target for the command line's configuration
 * parser (src/train/cli_config.c, cli_resolve.c, options*.c). An input is a
 * YAML config, then optionally a NUL byte and NUL-separated arguments:
 * "key=value" / "key+=value" overrides (as --key=value on the command line)
 * and "VOLT_SECTION__KEY=value" environment entries. The target merges them
 * into a configuration of the built-in registry, resolves it (types,
 * ranges, classes, trial builds of callbacks and optimizers), and checks the
 * round trip: the resolved YAML, read back and resolved again, must print
 * the same text. It also reads the document straight into a trainer
 * configuration (volt_options_set_yaml). Any crash, sanitizer report, leak
 * or round-trip difference is a finding. Built and run by scripts/fuzz.sh;
 * seeds in tests/fuzz/corpus/config/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/train/cli_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_ARGS = 16 };

/* The resolved YAML of a configuration, NULL when it does not resolve. */
static char *resolve_to_yaml(const cli_config *c) {
    cli_resolved r;
    char *yaml = cli_resolve(c, &r, false) == VOLT_OK ? cli_resolved_yaml(&r) : NULL;
    cli_resolved_free(&r);
    volt_error_clear();
    return yaml;
}

/* Splits "key=value" / "key+=value" in place; false when there is no '='. */
static bool split_arg(char *arg, const char **key, const char **value, bool *append) {
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return false;
    *eq = '\0';
    *append = eq[-1] == '+';
    if (*append) eq[-1] = '\0';
    *key = arg;
    *value = eq + 1;
    return **key != '\0';
}

static void check_round_trip(const char *yaml) {
    cli_config again;
    cli_config_init(&again, volt_cli_builtin_registry());
    if (cli_config_load_text(&again, yaml, strlen(yaml), "resolved") != VOLT_OK) {
        fprintf(stderr, "fuzz_config: the resolved YAML does not load back: %s\n%s\n",
                volt_error_message(), yaml);
        abort();
    }
    char *second = resolve_to_yaml(&again);
    cli_config_free(&again);
    if (!second || strcmp(yaml, second) != 0) {
        fprintf(stderr, "fuzz_config: round trip differs\n--- first\n%s--- second\n%s\n", yaml,
                second ? second : "(does not resolve)");
        abort();
    }
    free(second);
}

/* The document read straight into a trainer configuration. */
static void load_trainer(const char *text, size_t n) {
    volt_yaml_doc d;
    if (volt_yaml_load_text(&d, text, n, "input") == VOLT_OK) {
        yaml_node_t *root = volt_yaml_root(&d);
        volt_trainer_config cfg;
        if (root && volt_options_defaults(volt_trainer_config_table, &cfg) == VOLT_OK) {
            volt_options_set_yaml(volt_trainer_config_table, &cfg, "trainer", &d, root);
            volt_options_release(volt_trainer_config_table, &cfg);
        }
    }
    volt_yaml_doc_free(&d);
    volt_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t yaml_len = strlen(text);

    /* The arguments after the YAML: overrides and environment entries. */
    char *args[MAX_ARGS], *env[MAX_ARGS + 1];
    int n_args = 0, n_env = 0;
    for (size_t at = yaml_len + 1; at < size && n_args + n_env < MAX_ARGS;) {
        char *arg = text + at;
        at += strlen(arg) + 1;
        if (strncmp(arg, "VOLT_", 5) == 0)
            env[n_env++] = arg;
        else
            args[n_args++] = arg;
    }
    env[n_env] = NULL;

    load_trainer(text, yaml_len);
    cli_config c;
    cli_config_init(&c, volt_cli_builtin_registry());
    volt_status st = cli_config_environment(&c, env);
    if (!st) st = cli_config_load_text(&c, text, yaml_len, "input");
    for (int i = 0; !st && i < n_args; i++) {
        const char *key, *value;
        bool append;
        if (split_arg(args[i], &key, &value, &append))
            st = cli_config_override(&c, key, value, append, "command line");
    }
    char *yaml = st ? NULL : resolve_to_yaml(&c);
    cli_config_free(&c);
    volt_error_clear();
    if (yaml) check_round_trip(yaml);
    free(yaml);
    free(text);
    return 0;
}
