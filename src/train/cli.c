/* cli.c: volt_cli_main (volt/train.h) — the command line of `volt fit`,
 * validate, test, predict and tune: reads the arguments in order (-c FILE,
 * --key=value, --key value, --trainer.callbacks+=NAME, --print-config,
 * --help [SECTION]) over the environment's VOLT_<SECTION>__<KEY> defaults,
 * resolves the configuration (nothing is built while anything is wrong:
 * exit 2) and runs the subcommand (cli_run.c). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "train/cli_impl.h"

typedef struct {
    const char *name;
    cli_command cmd;
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"fit", CLI_FIT, "train the model (then test it with test_after_fit: true)"},
    {"validate", CLI_VALIDATE, "run the validation set once (ckpt_path: the weights)"},
    {"test", CLI_TEST, "run the test set once (ckpt_path: the weights)"},
    {"predict", CLI_PREDICT, "predict the predict set (predictions_path: where to save)"},
    {"tune", CLI_TUNE,
     "find a learning rate (tuner.name: lr_find) or a batch size "
     "(scale_batch_size)"},
};
enum { N_SUBCOMMANDS = sizeof subcommands / sizeof subcommands[0] };

static void usage(FILE *out, const char *prog) {
    fprintf(out,
            "usage: %s SUBCOMMAND [-c CONFIG.yaml]... [--SECTION.KEY=VALUE]... [--print-config]\n"
            "       %s SUBCOMMAND --help [SECTION | CLASS]\n\nsubcommands:\n",
            prog, prog);
    for (int i = 0; i < N_SUBCOMMANDS; i++)
        fprintf(out, "  %-9s %s\n", subcommands[i].name, subcommands[i].summary);
}

/* ------------------------------------------------------------ help */

static void print_table(FILE *out, const volt_option *table, const char *section) {
    char *text = volt_options_help(table, section);
    if (text) fputs(text, out);
    free(text);
    volt_error_clear();
}

static void print_class(FILE *out, const char *section, const volt_cli_class *cls) {
    fprintf(out, "\n%s: %s — %s\n", section, cls->name, cls->help ? cls->help : "");
    /* a callback's keys are spelled --trainer.callbacks.<name>.<key> */
    char keys[160];
    if (strcmp(section, "trainer.callbacks") == 0) {
        snprintf(keys, sizeof keys, "%s.%s", section, cls->name);
        section = keys;
    }
    print_table(out, cls->options, section);
}

static void print_list(FILE *out, const char *section, const cli_class_list *list) {
    fprintf(out, "  %-18s", section);
    for (int i = 0; i < list->n; i++)
        fprintf(out, "%s%s", i ? ", " : "", cli_class_at(list, i)->name);
    fputc('\n', out);
}

static void overview(FILE *out, const char *prog, const volt_cli_registry *reg) {
    usage(out, prog);
    fprintf(out,
            "\nA configuration is YAML (see --print-config) with these sections; later sources\n"
            "win: environment VOLT_<SECTION>__<KEY>=VALUE, then -c files and --SECTION.KEY=VALUE\n"
            "overrides in the order given.\n\ntop-level keys:\n");
    print_table(out, cli_globals_table, NULL);
    fprintf(out, "\nsections (--help SECTION lists the keys; --help CLASS one class):\n"
                 "  trainer           the Trainer's arguments\n");
    print_list(out, "trainer.callbacks", &cli_callback_list);
    static const cli_section classes[] = {CLI_MODEL, CLI_DATA, CLI_OPTIMIZER, CLI_LR_SCHEDULER,
                                          CLI_TUNER};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        cli_class_list list = cli_list(reg, classes[i]);
        print_list(out, cli_section_names[classes[i]], &list);
    }
    fprintf(out, "\nA class section names its class and sets its keys:\n"
                 "  model: {name: cnn, channels: 32}    --model=cnn --model.channels=32\n"
                 "  trainer: {callbacks: [{early_stopping: {monitor: val_loss}}]}\n"
                 "      --trainer.callbacks+=early_stopping --trainer.callbacks.early_stopping."
                 "monitor=val_loss\n");
}

/* Every class of a list (name NULL) or the one named. */
static bool help_classes(FILE *out, const char *section, const cli_class_list *list,
                         const char *name) {
    bool found = false;
    for (int i = 0; i < list->n; i++) {
        const volt_cli_class *cls = cli_class_at(list, i);
        if (name && strcasecmp(name, cls->name) != 0) continue;
        print_class(out, section, cls);
        found = true;
    }
    return found;
}

/* --help TOPIC: a section, SECTION.CLASS, or a class name. */
static int help(FILE *out, FILE *err, const char *prog, const volt_cli_registry *reg,
                const char *topic) {
    if (!topic) {
        overview(out, prog, reg);
        return 0;
    }
    if (strcmp(topic, "trainer") == 0) {
        fprintf(out, "trainer: the Trainer's arguments\n");
        print_table(out, volt_trainer_config_table, "trainer");
        fprintf(out, "  --trainer.callbacks  a list of callbacks (--help callbacks)\n");
        return 0;
    }
    char section[64];
    const char *dot = strchr(topic, '.');
    size_t n = dot ? (size_t)(dot - topic) : strlen(topic);
    snprintf(section, sizeof section, "%.*s", (int)(n < 63 ? n : 63), topic);
    const char *name = dot ? dot + 1 : NULL;
    bool found = false;
    if (strcmp(section, "callbacks") == 0 || strcmp(section, "trainer.callbacks") == 0)
        found = help_classes(out, "trainer.callbacks", &cli_callback_list, name);
    for (int s = CLI_MODEL; s < CLI_N_SECTIONS && !found; s++) {
        cli_class_list list = cli_list(reg, (cli_section)s);
        if (strcmp(section, cli_section_names[s]) == 0)
            found = help_classes(out, cli_section_names[s], &list, name);
        else if (!dot)
            found = help_classes(out, cli_section_names[s], &list, topic);
    }
    if (!found && !dot) found = help_classes(out, "trainer.callbacks", &cli_callback_list, topic);
    if (found) return 0;
    fprintf(err,
            "%s: no help for '%s' (sections: trainer, model, data, optimizer, lr_scheduler, "
            "tuner, callbacks; or a class name)\n",
            prog, topic);
    return 2;
}

/* ------------------------------------------------------------ arguments */

void cli_print_error(FILE *err, const char *prog) {
    (void)prog;
    fprintf(err, "%s\n", volt_error_status() ? volt_error_message() : "volt: failed");
    volt_error_clear();
}

static const subcommand *find_subcommand(const char *name, FILE *err, const char *prog) {
    volt_suggest s;
    volt_suggest_init(&s, name);
    for (int i = 0; i < N_SUBCOMMANDS; i++) {
        if (strcmp(name, subcommands[i].name) == 0) return &subcommands[i];
        volt_suggest_add(&s, subcommands[i].name);
    }
    if (volt_suggest_result(&s))
        fprintf(err, "%s: unknown subcommand '%s' (did you mean %s?)\n\n", prog, name,
                volt_suggest_result(&s));
    else
        fprintf(err, "%s: unknown subcommand '%s'\n\n", prog, name);
    return NULL;
}

/* One override argument at argv[*i] ("--key=value", "--key+=value",
 * "--key value"). */
static volt_status override_arg(cli_config *c, int argc, char **argv, int *i) {
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    char key[256];
    const char *value;
    bool append = false;
    if (eq) {
        size_t n = (size_t)(eq - arg);
        if (n > 0 && arg[n - 1] == '+') {
            append = true;
            n--;
        }
        if (n == 0 || n >= sizeof key)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "command line: bad option '%s'",
                                  argv[*i]);
        memcpy(key, arg, n);
        key[n] = '\0';
        value = eq + 1;
    } else {
        if (strlen(arg) >= sizeof key || !*arg)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "command line: bad option '%s'",
                                  argv[*i]);
        if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0 ||
            strcmp(argv[*i + 1], "-c") == 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "command line: --%s needs a value (--%s=VALUE or --%s VALUE)",
                                  arg, arg, arg);
        snprintf(key, sizeof key, "%s", arg);
        value = argv[++*i];
    }
    return cli_config_override(c, key, value, append, "command line");
}

typedef struct {
    bool print_config, help;
    const char *help_topic;
} cli_flags;

/* Reads argv[2..] into c (files and overrides in order). */
static volt_status read_args(cli_config *c, int argc, char **argv, cli_flags *f) {
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            f->help = true;
            if (i + 1 < argc && argv[i + 1][0] != '-') f->help_topic = argv[i + 1];
            return VOLT_OK;
        }
        if (strcmp(a, "--print-config") == 0 || strcmp(a, "--print_config") == 0) {
            f->print_config = true;
            continue;
        }
        const char *file = NULL;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                      "command line: %s needs a file name", a);
            file = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            file = a + 9;
        }
        volt_status st;
        if (file)
            st = cli_config_load_file(c, file);
        else if (strncmp(a, "--", 2) == 0)
            st = override_arg(c, argc, argv, &i);
        else
            st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                "command line: unexpected argument '%s' (options are "
                                "--SECTION.KEY=VALUE; files come with -c)",
                                a);
        if (st) return st;
    }
    return VOLT_OK;
}

int cli_main(int argc, char **argv, const volt_cli_registry *reg, FILE *out, FILE *err,
             char *const *env) {
    const char *prog = reg && reg->prog ? reg->prog : argc > 0 ? argv[0] : "volt";
    if (!reg) {
        fprintf(err, "%s: no registry\n", prog);
        return 2;
    }
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? err : out, prog);
        fprintf(argc < 2 ? err : out, "\n'%s SUBCOMMAND --help' lists the configuration.\n", prog);
        return argc < 2 ? 2 : 0;
    }
    const subcommand *sub = find_subcommand(argv[1], err, prog);
    if (!sub) {
        usage(err, prog);
        return 2;
    }
    cli_config c;
    cli_config_init(&c, reg);
    cli_flags f = {0};
    volt_status st = cli_config_environment(&c, env);
    if (!st) st = read_args(&c, argc, argv, &f);
    if (f.help) {
        cli_config_free(&c);
        volt_error_clear();
        return help(out, err, prog, reg, f.help_topic);
    }
    cli_resolved r;
    if (!st)
        st = cli_resolve(&c, &r, sub->cmd == CLI_TUNE);
    else
        r = (cli_resolved){0};
    cli_config_free(&c);
    char *yaml = st ? NULL : cli_resolved_yaml(&r);
    int code = 0;
    if (!yaml) {
        cli_print_error(err, prog);
        code = 2;
    } else if (f.print_config) {
        fputs(yaml, out);
    } else {
        code = cli_run(sub->cmd, &r, yaml, out, err);
    }
    free(yaml);
    cli_resolved_free(&r);
    return code;
}

int volt_cli_main(int argc, char **argv, const volt_cli_registry *registry) {
    return cli_main(argc, argv, registry, stdout, stderr, environ);
}
