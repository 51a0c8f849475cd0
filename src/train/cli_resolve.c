/* cli_resolve.c: from the raw configuration (cli_config.c) to option
 * structs — each section starts from its table's defaults and takes the
 * keys the sources set (errors name where a bad key or value was set), the
 * classes of model, data, optimizer, lr_scheduler, tuner and each callback
 * are looked up by name, and everything is checked before anything runs:
 * required keys, the trainer configuration, and one trial build of every
 * callback, optimizer and scheduler; a gpt model takes its vocabulary size
 * from the text datamodule. The resolved configuration is written back as
 * YAML (--print-config, config.yaml) that reads back the same. */
#include <stdlib.h>
#include <string.h>

#include "train/cli_impl.h"

/* ------------------------------------------------------------ building */

/* Sets every item (but the class name) into obj. */
static volt_status apply_items(const volt_option *table, void *obj, const char *section,
                               const cli_items *items) {
    for (int i = 0; i < items->n; i++) {
        const cli_item *it = &items->v[i];
        if (strcmp(it->key, "name") == 0) continue;
        const volt_option *o = volt_option_find(table, it->key);
        volt_status st = o ? volt_option_set_text(o, obj, section, it->value, it->literal)
                           : volt_options_set(table, obj, section, it->key, it->value);
        if (st) return volt_error_at(it->where);
    }
    return VOLT_OK;
}

/* An object of class cls from its defaults and items. */
static volt_status make_object(const volt_cli_class *cls, const char *section,
                               const cli_items *items, cli_object *out) {
    out->cls = cls;
    out->opts = calloc(1, cls->options_size ? cls->options_size : 1);
    if (!out->opts) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "config: out of memory");
    if (volt_options_defaults(cls->options, out->opts) != VOLT_OK) {
        free(out->opts);
        out->opts = NULL;
        return volt_error_at(cls->name);
    }
    volt_status st = apply_items(cls->options, out->opts, section, items);
    if (!st) st = volt_options_check(cls->options, out->opts, section);
    return st;
}

static void object_free(cli_object *o) {
    if (o->opts) volt_options_release(o->cls->options, o->opts);
    free(o->opts);
    *o = (cli_object){0};
}

static const cli_item *find_item(const cli_items *items, const char *key) {
    for (int i = 0; i < items->n; i++)
        if (strcmp(items->v[i].key, key) == 0) return &items->v[i];
    return NULL;
}

/* A class section: the class named by its "name" item (else `def`). */
static volt_status resolve_class(const cli_config *c, cli_section s, const volt_cli_class *def,
                                 cli_object *out) {
    const char *section = cli_section_names[s];
    cli_class_list list = cli_list(c->registry, s);
    const cli_items *items = &c->sec[s];
    const cli_item *name = find_item(items, "name");
    const volt_cli_class *cls = def;
    if (name && name->value && !(cls = cli_class_find(&list, name->value)))
        return volt_error_at(name->where);
    if (name && !name->value) cls = NULL;
    if (cls) return make_object(cls, section, items, out);
    for (int i = 0; i < items->n; i++)
        if (strcmp(items->v[i].key, "name") != 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "%s: %s.%s is set but no %s is chosen (set %s.name)",
                                  items->v[i].where, section, items->v[i].key, section, section);
    return VOLT_OK;
}

static volt_status resolve_callbacks(const cli_config *c, cli_resolved *r) {
    if (c->n_cbs == 0) return VOLT_OK;
    r->cbs = calloc((size_t)c->n_cbs, sizeof *r->cbs);
    if (!r->cbs) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "config: out of memory");
    for (int i = 0; i < c->n_cbs; i++) {
        const cli_callback_entry *e = &c->cbs[i];
        const volt_cli_class *cls = cli_class_find(&cli_callback_list, e->name);
        if (!cls) return volt_error_at(e->where);
        char section[160];
        snprintf(section, sizeof section, "trainer.callbacks.%s", cls->name);
        r->n_cbs = i + 1;
        volt_status st = make_object(cls, section, &e->opts, &r->cbs[i]);
        if (st) return st;
        /* One trial build: the constructor's own checks. */
        volt_callback *cb = ((const cli_builtin *)(const void *)cls)->new_callback(r->cbs[i].opts);
        if (!cb) return volt_error_at(section);
        cb->ops->free(cb);
    }
    return VOLT_OK;
}

static volt_status resolve_plain(const volt_option *table, void *obj, const char *section,
                                 const cli_items *items, bool *set) {
    if (volt_options_defaults(table, obj) != VOLT_OK) return volt_error_at(section);
    *set = true;
    volt_status st = apply_items(table, obj, section, items);
    return st ? st : volt_options_check(table, obj, section);
}

static const volt_cli_class *first_class(const cli_config *c, cli_section s) {
    cli_class_list list = cli_list(c->registry, s);
    return list.n > 0 ? cli_class_at(&list, 0) : NULL;
}

/* The error for a model or data section with no class. */
static volt_status none_chosen(const cli_config *c, cli_section s) {
    cli_class_list list = cli_list(c->registry, s);
    volt_text t = {0};
    for (int i = 0; i < list.n; i++)
        volt_text_printf(&t, "%s%s", i ? ", " : "", cli_class_at(&list, i)->name);
    volt_status st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "no %s chosen: set %s.name (%s)",
                                    cli_section_names[s], cli_section_names[s],
                                    t.data ? t.data : "this program registers none");
    free(t.data);
    return st;
}

/* LightningCLI's link_arguments for the built-in language model: a gpt
 * model with vocab_size 0 takes the vocabulary size of the text datamodule
 * (which reads its files for it), and its block_size must hold the data's
 * windows. */
static volt_status link_gpt_text(cli_resolved *r) {
    if (r->model.cls->options != volt_gpt_table) return VOLT_OK;
    volt_gpt_options *m = r->model.opts;
    bool text = r->data.cls->options == volt_text_datamodule_table;
    const volt_text_datamodule_options *d = text ? r->data.opts : NULL;
    if (d && d->block_size > m->block_size)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data.block_size %lld exceeds model.block_size %lld (the model "
                              "embeds at most block_size positions)",
                              (long long)d->block_size, (long long)m->block_size);
    if (m->vocab_size != 0) return VOLT_OK;
    if (!d)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "model.vocab_size is 0 (from the data), but data '%s' has no "
                              "vocabulary: set model.vocab_size",
                              r->data.cls->name);
    volt_datamodule *dm = volt_text_datamodule_new(d);
    const volt_char_vocab *v = dm ? volt_text_datamodule_vocab(dm) : NULL;
    if (v) m->vocab_size = v->size;
    volt_datamodule_free(dm);
    return v ? VOLT_OK : volt_error_at("data");
}

volt_status cli_resolve(const cli_config *c, cli_resolved *r, bool tune) {
    *r = (cli_resolved){0};
    volt_status st;
    if ((st = resolve_plain(cli_globals_table, &r->top, "", &c->sec[CLI_TOP], &r->top_set)) ||
        (st = resolve_plain(volt_trainer_config_table, &r->trainer, "trainer", &c->sec[CLI_TRAINER],
                            &r->trainer_set)) ||
        (st = volt_trainer_config_check(&r->trainer)) ||
        (st = resolve_class(c, CLI_MODEL, first_class(c, CLI_MODEL), &r->model)) ||
        (st = resolve_class(c, CLI_DATA, first_class(c, CLI_DATA), &r->data)) ||
        (st = resolve_class(c, CLI_OPTIMIZER, NULL, &r->optimizer)) ||
        (st = resolve_class(c, CLI_LR_SCHEDULER, NULL, &r->lr_scheduler)) ||
        (st = resolve_class(c, CLI_TUNER,
                            tune || c->sec[CLI_TUNER].n ? first_class(c, CLI_TUNER) : NULL,
                            &r->tuner)) ||
        (st = resolve_callbacks(c, r)))
        return st;
    if (!r->model.cls) return none_chosen(c, CLI_MODEL);
    if (!r->data.cls) return none_chosen(c, CLI_DATA);
    if ((st = link_gpt_text(r))) return st;
    if (r->lr_scheduler.cls && !r->optimizer.cls)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "lr_scheduler '%s' needs an optimizer section (optimizer.name: "
                              "sgd, adam, ...): a scheduler cannot join the module's own "
                              "optimizer",
                              r->lr_scheduler.cls->name);
    return cli_check_optim(r);
}

void cli_resolved_free(cli_resolved *r) {
    if (r->top_set) volt_options_release(cli_globals_table, &r->top);
    if (r->trainer_set) volt_options_release(volt_trainer_config_table, &r->trainer);
    object_free(&r->model);
    object_free(&r->data);
    object_free(&r->optimizer);
    object_free(&r->lr_scheduler);
    object_free(&r->tuner);
    for (int i = 0; i < r->n_cbs; i++) object_free(&r->cbs[i]);
    free(r->cbs);
    *r = (cli_resolved){0};
}

/* ------------------------------------------------------------ YAML */

static void write_object(volt_yaml_writer *w, const char *section, const cli_object *o) {
    volt_yaml_plain(w, section);
    if (!o->cls) {
        volt_yaml_null(w);
        return;
    }
    volt_yaml_begin_mapping(w);
    volt_yaml_plain(w, "name");
    volt_yaml_string(w, o->cls->name);
    volt_yaml_options(w, o->cls->options, o->opts);
    volt_yaml_end_mapping(w);
}

static void write_callbacks(volt_yaml_writer *w, const cli_resolved *r) {
    volt_yaml_plain(w, "callbacks");
    volt_yaml_begin_sequence(w, r->n_cbs == 0);
    for (int i = 0; i < r->n_cbs; i++) {
        volt_yaml_begin_mapping(w);
        volt_yaml_plain(w, r->cbs[i].cls->name);
        volt_yaml_begin_mapping(w);
        volt_yaml_options(w, r->cbs[i].cls->options, r->cbs[i].opts);
        volt_yaml_end_mapping(w);
        volt_yaml_end_mapping(w);
    }
    volt_yaml_end_sequence(w);
}

char *cli_resolved_yaml(const cli_resolved *r) {
    volt_yaml_writer w;
    volt_yaml_writer_init(&w);
    volt_yaml_begin_mapping(&w);
    volt_yaml_options(&w, cli_globals_table, &r->top);
    volt_yaml_plain(&w, "trainer");
    volt_yaml_begin_mapping(&w);
    volt_yaml_options(&w, volt_trainer_config_table, &r->trainer);
    write_callbacks(&w, r);
    volt_yaml_end_mapping(&w);
    write_object(&w, "model", &r->model);
    write_object(&w, "data", &r->data);
    write_object(&w, "optimizer", &r->optimizer);
    write_object(&w, "lr_scheduler", &r->lr_scheduler);
    if (r->tuner.cls) write_object(&w, "tuner", &r->tuner);
    volt_yaml_end_mapping(&w);
    return volt_yaml_writer_finish(&w);
}
