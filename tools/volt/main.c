/* main.c: the `volt` command line program (DESIGN.md §1, layer "tools") —
 * dispatches its first argument to a command (fit, validate, test, predict
 * and tune go to the library's volt_cli_main with the built-in models and
 * datamodules; ckpt to ckpt.c), and answers --help and --version. Exit
 * codes: 0 success, 1 the command failed, 2 a usage error (volt_cli.h),
 * 75 a preempted fit (VOLT_EXIT_PREEMPTED). */
#include <string.h>

#include <volt/core.h>
#include <volt/train.h>

#include "volt_cli.h"

/* fit/validate/test/predict/tune: volt_cli_main reads the whole command
 * line, program name first (argv[-1] is the program: the dispatcher passed
 * argv + 1). */
static int train_command(int argc, char **argv) {
    return volt_cli_main(argc + 1, argv - 1, volt_cli_builtin_registry());
}

/* The commands; a new one is a row here and a file beside this one. */
static const volt_cli_command commands[] = {
    {"fit", "[-c CONFIG.yaml] [--KEY=VALUE]", "train a model (volt fit --help)", train_command},
    {"validate", "[-c CONFIG.yaml] [--KEY=VALUE]", "evaluate on the validation set", train_command},
    {"test", "[-c CONFIG.yaml] [--KEY=VALUE]", "evaluate on the test set", train_command},
    {"predict", "[-c CONFIG.yaml] [--KEY=VALUE]", "predict, optionally saving the predictions",
     train_command},
    {"tune", "[-c CONFIG.yaml] [--KEY=VALUE]", "find a learning rate or the largest batch size",
     train_command},
    {"ckpt", "inspect|verify FILE", "look into and check checkpoints and safetensors files",
     volt_cli_ckpt},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

int volt_cli_is_help(const char *arg) {
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

void volt_cli_print_commands(FILE *out, const volt_cli_command *table, int n) {
    int width = 0;
    for (int i = 0; i < n; i++) {
        int w = (int)(strlen(table[i].name) + 1 + strlen(table[i].args));
        if (w > width) width = w;
    }
    for (int i = 0; i < n; i++) {
        int w = (int)(strlen(table[i].name) + 1 + strlen(table[i].args));
        fprintf(out, "  %s %s%*s  %s\n", table[i].name, table[i].args, width - w, "",
                table[i].summary);
    }
}

int volt_cli_dispatch(const char *prog, const volt_cli_command *table, int n, int argc, char **argv,
                      void (*usage)(FILE *out)) {
    if (argc < 1) {
        usage(stderr);
        return VOLT_CLI_USAGE;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(argv[0], table[i].name) == 0) return table[i].run(argc, argv);
    fprintf(stderr, "%s: unknown command '%s'\n\n", prog, argv[0]);
    usage(stderr);
    return VOLT_CLI_USAGE;
}

static void usage(FILE *out) {
    fprintf(out, "usage: volt COMMAND [ARGS...]\n"
                 "       volt --help | --version\n\n"
                 "commands:\n");
    volt_cli_print_commands(out, commands, N_COMMANDS);
    fprintf(out, "\n'volt COMMAND --help' describes a command. First run:\n"
                 "  volt fit -c examples/configs/fashion_mnist_cnn.yaml\n"
                 "Exit status: 0 success, 1 failure, 2 usage or configuration error,\n"
                 "75 a preempted fit (run it again with --ckpt_path=last).\n");
}

int main(int argc, char **argv) {
    if (argc >= 2 && volt_cli_is_help(argv[1])) {
        usage(stdout);
        return VOLT_CLI_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("volt %s\n", volt_version());
        return VOLT_CLI_OK;
    }
    if (argc >= 2 && argv[1][0] == '-') {
        fprintf(stderr, "volt: unknown option '%s'\n\n", argv[1]);
        usage(stderr);
        return VOLT_CLI_USAGE;
    }
    return volt_cli_dispatch("volt", commands, N_COMMANDS, argc - 1, argv + 1, usage);
}
