/* cli_impl.h: the parts of volt_cli_main (cli.c) — the classes a config can
 * name (optimizers, schedulers, callbacks, tuners: cli_optim.c,
 * cli_callbacks.c, cli_tune.c; models and datamodules come from the
 * registry), the raw configuration merged from YAML files, overrides and
 * the environment (cli_config.c), its resolution into option structs and
 * back to YAML (cli_resolve.c), and the runs (cli_run.c, cli_tune.c).
 * Not public; tests/train/test_options.c and the fuzz target use it. */
#ifndef VOLT_CLI_IMPL_H
#define VOLT_CLI_IMPL_H

#include <stdio.h>

#include "options_impl.h"

/* ------------------------------------------------------------ classes */

/* A built-in class: name, help, table and size (in cls), and its
 * constructor. An optimizer's options are its volt_<name>_options; a
 * scheduler's args start with cli_sched_common. */
typedef struct cli_builtin {
    volt_cli_class cls;
    volt_optimizer *(*new_optimizer)(volt_params params, const void *options);
    volt_lr_scheduler *(*new_scheduler)(volt_optimizer *opt, const void *args);
    volt_callback *(*new_callback)(const void *options);
} cli_builtin;

typedef struct {
    const char *interval; /* "epoch" or "step" */
    int64_t frequency;    /* >= 1 */
    const char *monitor;  /* plateau's metric; NULL for the others */
} cli_sched_common;

extern const cli_builtin cli_optimizers[], cli_schedulers[], cli_callbacks[], cli_tuners[];
extern const int cli_n_optimizers, cli_n_schedulers, cli_n_callbacks, cli_n_tuners;

/* A list of classes of one kind: entries `stride` bytes apart, each
 * starting with a volt_cli_class. */
typedef struct {
    const char *kind; /* "model", "datamodule", "optimizer", ... */
    const volt_cli_class *first;
    int n;
    size_t stride;
} cli_class_list;

/* The class named `name` (ignoring case); NULL + an error listing the
 * names (with a suggestion) when there is none. */
const volt_cli_class *cli_class_find(const cli_class_list *list, const char *name);
const volt_cli_class *cli_class_at(const cli_class_list *list, int i);

/* ------------------------------------------------------------ sections */

typedef enum {
    CLI_TOP = 0, /* seed_everything, ckpt_path, ... */
    CLI_TRAINER,
    CLI_MODEL,
    CLI_DATA,
    CLI_OPTIMIZER,
    CLI_LR_SCHEDULER,
    CLI_TUNER,
    CLI_N_SECTIONS
} cli_section;

extern const char *const cli_section_names[CLI_N_SECTIONS]; /* "", "trainer", "model", ... */

/* The top-level keys. */
typedef struct {
    int64_t seed_everything;
    const char *ckpt_path;
    bool test_after_fit;
    const char *predictions_path;
} cli_globals;
extern const volt_option cli_globals_table[];

/* ------------------------------------------------------ raw configuration */

/* One key set by a source: the value as text (NULL: null; literal: it was
 * quoted) and where it was set ("cfg.yaml:3:15", "command line",
 * "environment VOLT_TRAINER__MAX_EPOCHS"). */
typedef struct {
    char *key, *value, *where;
    bool literal;
} cli_item;

typedef struct {
    cli_item *v;
    int n, cap;
} cli_items;

typedef struct {
    char *name, *where;
    cli_items opts;
} cli_callback_entry;

typedef struct {
    const volt_cli_registry *registry;
    cli_items sec[CLI_N_SECTIONS];
    cli_callback_entry *cbs;
    int n_cbs, cap_cbs;
} cli_config;

void cli_config_init(cli_config *c, const volt_cli_registry *registry);
void cli_config_free(cli_config *c);
/* Merges a YAML document (a file, or text named `name`): later values win. */
volt_status cli_config_load_file(cli_config *c, const char *path);
volt_status cli_config_load_text(cli_config *c, const char *text, size_t n, const char *name);
/* One override: key "trainer.max_epochs", "model" (the class), "seed_everything",
 * "trainer.callbacks" (a YAML list; append: one more, a name or
 * {name: {options}}), "trainer.callbacks.<name>.<key>" (the last callback of
 * that name). */
volt_status cli_config_override(cli_config *c, const char *key, const char *value, bool append,
                                const char *where);
/* Every VOLT_<SECTION>__<KEY> (and VOLT_<TOP-LEVEL KEY>) of env. */
volt_status cli_config_environment(cli_config *c, char *const *env);

/* ------------------------------------------------------ resolved configuration */

typedef struct {
    const volt_cli_class *cls; /* NULL: none chosen (optimizer, lr_scheduler) */
    void *opts;                /* cls->options_size bytes, filled by its table */
} cli_object;

typedef struct {
    cli_globals top;
    volt_trainer_config trainer;
    cli_object model, data, optimizer, lr_scheduler, tuner;
    cli_object *cbs;
    int n_cbs;
    bool top_set, trainer_set; /* the structs hold engine-owned strings */
} cli_resolved;

/* The class lists of a config's registry. */
cli_class_list cli_list(const volt_cli_registry *registry, cli_section section);
extern const cli_class_list cli_callback_list;

/* Builds every section from defaults and the config's items; checks
 * types, ranges, required keys and the trainer configuration, and builds
 * (then frees) each optimizer, scheduler and callback once to check their
 * options. Errors name where the bad value was set. The tuner section is
 * resolved for `tune` or when the config sets it. Free r with
 * cli_resolved_free also after a failure. */
volt_status cli_resolve(const cli_config *c, cli_resolved *r, bool tune);
/* The trial build of the optimizer and scheduler (cli_optim.c). */
volt_status cli_check_optim(const cli_resolved *r);
void cli_resolved_free(cli_resolved *r);
/* The resolved configuration as YAML that cli_config_load_file reads back
 * to the same values (malloc'd). */
char *cli_resolved_yaml(const cli_resolved *r);

/* ------------------------------------------------------------ running */

/* The subcommands. */
typedef enum { CLI_FIT, CLI_VALIDATE, CLI_TEST, CLI_PREDICT, CLI_TUNE } cli_command;

/* Runs a subcommand on a resolved configuration: builds the model, data,
 * trainer and callbacks, runs, prints results to out. config_yaml is saved
 * as config.yaml in the log directory at fit start. Returns the exit code. */
int cli_run(cli_command cmd, const cli_resolved *r, const char *config_yaml, FILE *out, FILE *err);
/* The optimizer section's configure_optimizers (ctx: the cli_resolved). */
volt_status cli_configure_optimizers(void *ctx, volt_module *module, volt_optim_setup *setup);
/* volt tune on what cli_run built (cli_tune.c): the exit code. */
int cli_tune_run(const cli_resolved *r, volt_trainer *t, volt_module *model, volt_datamodule *data,
                 FILE *out, FILE *err);
/* volt_cli_main with its streams and environment (tests, the fuzz target). */
int cli_main(int argc, char **argv, const volt_cli_registry *registry, FILE *out, FILE *err,
             char *const *env);
/* Prints the error recorded and clears it. */
void cli_print_error(FILE *err, const char *prog);

#endif
