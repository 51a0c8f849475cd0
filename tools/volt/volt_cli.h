/* volt_cli.h: what the files of the `volt` command line program share — the
 * exit codes, the shape of a (sub)command and each command's entry point.
 * Every command is a table row {name, summary, run}; main.c dispatches the
 * first argument through its table, a command with subcommands (ckpt.c) its
 * own second argument through another. A new command is one more row. */
#ifndef VOLT_CLI_H
#define VOLT_CLI_H

#include <stdio.h>

/* Exit codes: success, a failure the command reports (a file that does not
 * verify), and a usage error (unknown command, missing argument). */
enum { VOLT_CLI_OK = 0, VOLT_CLI_FAIL = 1, VOLT_CLI_USAGE = 2 };

/* A command: argv[0] is the command's own name ("ckpt", "inspect"), argv[1..]
 * its arguments. Returns one of the exit codes above. */
typedef int (*volt_cli_fn)(int argc, char **argv);

typedef struct {
    const char *name;
    const char *args;    /* the argument synopsis for the usage text ("FILE") */
    const char *summary; /* one line */
    volt_cli_fn run;
} volt_cli_command;

/* Finds argv[0] in a table of n commands and runs it; prints `usage` to
 * stderr and returns VOLT_CLI_USAGE when argc is 0 or the name is unknown
 * (naming it). `prog` prefixes messages ("volt", "volt ckpt"). */
int volt_cli_dispatch(const char *prog, const volt_cli_command *table, int n, int argc, char **argv,
                      void (*usage)(FILE *out));
/* Prints the rows of a command table, one "  name args  summary" line each. */
void volt_cli_print_commands(FILE *out, const volt_cli_command *table, int n);
/* True for "-h" and "--help". */
int volt_cli_is_help(const char *arg);

/* volt ckpt inspect|verify FILE (ckpt.c). */
int volt_cli_ckpt(int argc, char **argv);
void volt_cli_ckpt_usage(FILE *out);

#endif
