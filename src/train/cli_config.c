/* cli_config.c: the raw configuration of the command line — every key a
 * source set, as text with where it was set, merged in order (later wins):
 * YAML files (-c), overrides (--trainer.max_epochs=3, --model=cnn,
 * --trainer.callbacks+=early_stopping) and environment defaults
 * (VOLT_TRAINER__MAX_EPOCHS=3). Keys are checked against the option tables
 * later, when the classes are known (cli_resolve.c); only the section
 * names and the top-level keys are checked here. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train/cli_impl.h"

/* ------------------------------------------------------------ items */

static void item_free(cli_item *it) {
    free(it->key);
    free(it->value);
    free(it->where);
}

static void items_clear(cli_items *l) {
    for (int i = 0; i < l->n; i++) item_free(&l->v[i]);
    l->n = 0;
}

static void items_free(cli_items *l) {
    items_clear(l);
    free(l->v);
    *l = (cli_items){0};
}

static volt_status oom(void) {
    return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "config: out of memory");
}

static char *dup_or_null(const char *s, bool *failed) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *failed = true;
    return d;
}

/* Sets key (replacing an earlier value of it). */
static volt_status items_set(cli_items *l, const char *key, const char *value, bool literal,
                             const char *where) {
    bool failed = false;
    cli_item it = {dup_or_null(key, &failed), dup_or_null(value, &failed),
                   dup_or_null(where, &failed), literal};
    if (failed) {
        item_free(&it);
        return oom();
    }
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].key, key) != 0) continue;
        item_free(&l->v[i]);
        l->v[i] = it;
        return VOLT_OK;
    }
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        cli_item *grown = realloc(l->v, (size_t)cap * sizeof *grown);
        if (!grown) {
            item_free(&it);
            return oom();
        }
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n++] = it;
    return VOLT_OK;
}

static const cli_item *items_get(const cli_items *l, const char *key) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0) return &l->v[i];
    return NULL;
}

/* ------------------------------------------------------------ config */

void cli_config_init(cli_config *c, const volt_cli_registry *registry) {
    *c = (cli_config){.registry = registry};
}

static void callbacks_clear(cli_config *c) {
    for (int i = 0; i < c->n_cbs; i++) {
        free(c->cbs[i].name);
        free(c->cbs[i].where);
        items_free(&c->cbs[i].opts);
    }
    c->n_cbs = 0;
}

void cli_config_free(cli_config *c) {
    for (int s = 0; s < CLI_N_SECTIONS; s++) items_free(&c->sec[s]);
    callbacks_clear(c);
    free(c->cbs);
    *c = (cli_config){0};
}

static bool is_class_section(int s) { return s >= CLI_MODEL && s < CLI_N_SECTIONS; }

static int section_of(const char *name) {
    for (int s = CLI_TRAINER; s < CLI_N_SECTIONS; s++)
        if (strcmp(name, cli_section_names[s]) == 0) return s;
    return -1;
}

/* Chooses the class of a section (name NULL: none). Naming another class
 * than the one named before drops the keys set for that one. */
static volt_status set_class(cli_config *c, int s, const char *name, const char *where) {
    const cli_item *old = items_get(&c->sec[s], "name");
    bool changed = !name || (old && old->value && strcasecmp(old->value, name) != 0);
    if (changed) items_clear(&c->sec[s]);
    return items_set(&c->sec[s], "name", name, false, where);
}

static volt_status callback_add(cli_config *c, const char *name, const char *where) {
    if (c->n_cbs == c->cap_cbs) {
        int cap = c->cap_cbs ? 2 * c->cap_cbs : 8;
        cli_callback_entry *grown = realloc(c->cbs, (size_t)cap * sizeof *grown);
        if (!grown) return oom();
        c->cbs = grown;
        c->cap_cbs = cap;
    }
    bool failed = false;
    cli_callback_entry e = {dup_or_null(name, &failed), dup_or_null(where, &failed), {0}};
    if (failed || !e.name) {
        free(e.name);
        free(e.where);
        return failed ? oom()
                      : volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                       "%s: trainer.callbacks: a callback needs a name", where);
    }
    c->cbs[c->n_cbs++] = e;
    return VOLT_OK;
}

static volt_status unknown_top(const char *key, const char *where) {
    volt_suggest s;
    volt_suggest_init(&s, key);
    for (int i = CLI_TRAINER; i < CLI_N_SECTIONS; i++) volt_suggest_add(&s, cli_section_names[i]);
    for (const volt_option *o = cli_globals_table; o->name; o++) volt_suggest_add(&s, o->name);
    const char *best = volt_suggest_result(&s);
    if (best)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: unknown key '%s' at the top level (did you mean %s?)", where,
                              key, best);
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                          "%s: unknown key '%s' at the top level (sections: trainer, model, "
                          "data, optimizer, lr_scheduler, tuner; keys: seed_everything, "
                          "ckpt_path, test_after_fit, predictions_path)",
                          where, key);
}

/* ------------------------------------------------------------ YAML */

typedef struct {
    cli_config *c;
    volt_yaml_doc *d;
} loader;

static void where_of(const loader *l, const yaml_node_t *n, char *buf, size_t size) {
    volt_yaml_where(l->d, n, buf, size);
}

/* A value node as an item's text: a scalar, or a list of scalars. */
static volt_status value_text(const loader *l, const yaml_node_t *v, const char *key,
                              const char *where, char **text, bool *literal) {
    *text = NULL;
    *literal = false;
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = volt_yaml_scalar(v, literal);
        if (s && !(*text = strdup(s))) return oom();
        return VOLT_OK;
    }
    if (v->type == YAML_SEQUENCE_NODE) {
        *text = volt_yaml_flow_text(l->d, v, where);
        return *text ? VOLT_OK : volt_error_status();
    }
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: expected a value, not a mapping",
                          where, key);
}

/* The text of a scalar key, NULL + error for anything else. */
static const char *key_text(const loader *l, const yaml_node_t *k, const char *what) {
    bool literal;
    const char *s = k && k->type == YAML_SCALAR_NODE ? volt_yaml_scalar(k, &literal) : NULL;
    if (!s) {
        char where[512] = "?";
        if (k) where_of(l, k, where, sizeof where);
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: a key must be a plain name", where,
                       what);
    }
    return s;
}

/* A scalar null (null, ~, empty). */
static bool is_null_node(const yaml_node_t *n) {
    bool literal;
    return n->type == YAML_SCALAR_NODE && !volt_yaml_scalar(n, &literal);
}

/* Every key: value of a mapping into `items` (skipping `skip` keys); a
 * null is an empty mapping. */
static volt_status load_pairs(const loader *l, const yaml_node_t *m, cli_items *items,
                              const char *section, const char *const *skip) {
    char where[512];
    where_of(l, m, where, sizeof where);
    if (is_null_node(m)) return VOLT_OK;
    if (m->type != YAML_MAPPING_NODE)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: expected a mapping of keys",
                              where, section);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = volt_yaml_node(l->d, p->key), *v = volt_yaml_node(l->d, p->value);
        const char *key = key_text(l, k, section);
        if (!key) return VOLT_ERR_INVALID_ARGUMENT;
        bool skipped = false;
        for (int i = 0; skip && skip[i]; i++) skipped |= strcmp(key, skip[i]) == 0;
        if (skipped) continue;
        where_of(l, k, where, sizeof where);
        char *text;
        bool literal;
        volt_status st = value_text(l, v, key, where, &text, &literal);
        if (!st) st = items_set(items, key, text, literal, where);
        free(text);
        if (st) return st;
    }
    return VOLT_OK;
}

/* The value of `key` in mapping m, NULL when absent. */
static yaml_node_t *mapping_get(const loader *l, const yaml_node_t *m, const char *key) {
    if (m->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = volt_yaml_node(l->d, p->key);
        bool literal;
        const char *s = k && k->type == YAML_SCALAR_NODE ? volt_yaml_scalar(k, &literal) : NULL;
        if (s && strcmp(s, key) == 0) return volt_yaml_node(l->d, p->value);
    }
    return NULL;
}

/* A class name node (a scalar; null: none). */
static volt_status class_name(const loader *l, const yaml_node_t *n, const char *section,
                              const char **name) {
    bool literal;
    *name = n->type == YAML_SCALAR_NODE ? volt_yaml_scalar(n, &literal) : NULL;
    if (n->type == YAML_SCALAR_NODE) return VOLT_OK;
    char where[512];
    where_of(l, n, where, sizeof where);
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: a class name must be a plain name",
                          where, section);
}

/* model: cnn | model: {name: cnn, ...} | model: {class_path: cnn, init_args: {...}}. */
static volt_status load_class(const loader *l, int s, const yaml_node_t *n) {
    const char *section = cli_section_names[s];
    char where[512];
    where_of(l, n, where, sizeof where);
    if (n->type != YAML_MAPPING_NODE) {
        const char *name;
        volt_status st = class_name(l, n, section, &name);
        return st ? st : set_class(l->c, s, name, where);
    }
    yaml_node_t *name_node = mapping_get(l, n, "class_path");
    if (!name_node) name_node = mapping_get(l, n, "name");
    if (name_node) {
        const char *name;
        volt_status st = class_name(l, name_node, section, &name);
        if (!st) st = set_class(l->c, s, name, where);
        if (st) return st;
    }
    static const char *const skip[] = {"name", "class_path", "init_args", NULL};
    volt_status st = load_pairs(l, n, &l->c->sec[s], section, skip);
    yaml_node_t *init_args = mapping_get(l, n, "init_args");
    if (!st && init_args) st = load_pairs(l, init_args, &l->c->sec[s], section, NULL);
    return st;
}

/* One entry of trainer.callbacks: a name, {name: {options}} or
 * {class_path: name, init_args: {options}}. */
static volt_status load_callback(const loader *l, const yaml_node_t *n) {
    char where[512];
    where_of(l, n, where, sizeof where);
    cli_config *c = l->c;
    const char *name;
    const yaml_node_t *opts = NULL;
    if (n->type == YAML_SCALAR_NODE) {
        volt_status st = class_name(l, n, "trainer.callbacks", &name);
        if (st) return st;
    } else if (n->type == YAML_MAPPING_NODE && mapping_get(l, n, "class_path")) {
        volt_status st = class_name(l, mapping_get(l, n, "class_path"), "trainer.callbacks", &name);
        if (st) return st;
        opts = mapping_get(l, n, "init_args");
    } else if (n->type == YAML_MAPPING_NODE &&
               n->data.mapping.pairs.top - n->data.mapping.pairs.start == 1) {
        yaml_node_pair_t *p = n->data.mapping.pairs.start;
        if (!(name = key_text(l, volt_yaml_node(l->d, p->key), "trainer.callbacks")))
            return VOLT_ERR_INVALID_ARGUMENT;
        opts = volt_yaml_node(l->d, p->value);
    } else {
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: trainer.callbacks: an entry is a name or {name: {options}}",
                              where);
    }
    volt_status st = callback_add(c, name, where);
    if (!st && opts) st = load_pairs(l, opts, &c->cbs[c->n_cbs - 1].opts, name, NULL);
    return st;
}

static volt_status load_callbacks(const loader *l, const yaml_node_t *n) {
    callbacks_clear(l->c);
    if (n->type == YAML_SCALAR_NODE) {
        bool literal;
        return volt_yaml_scalar(n, &literal) ? load_callback(l, n) : VOLT_OK;
    }
    if (n->type == YAML_MAPPING_NODE) return load_callback(l, n);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        volt_status st = load_callback(l, volt_yaml_node(l->d, *it));
        if (st) return st;
    }
    return VOLT_OK;
}

static volt_status load_trainer(const loader *l, const yaml_node_t *n) {
    static const char *const skip[] = {"callbacks", NULL};
    volt_status st = load_pairs(l, n, &l->c->sec[CLI_TRAINER], "trainer", skip);
    yaml_node_t *cbs = st ? NULL : mapping_get(l, n, "callbacks");
    return cbs ? load_callbacks(l, cbs) : st;
}

static volt_status load_top_pair(const loader *l, yaml_node_pair_t *p) {
    yaml_node_t *k = volt_yaml_node(l->d, p->key), *v = volt_yaml_node(l->d, p->value);
    const char *key = key_text(l, k, "top level");
    if (!key) return VOLT_ERR_INVALID_ARGUMENT;
    char where[512];
    where_of(l, k, where, sizeof where);
    int s = section_of(key);
    if (s == CLI_TRAINER) return load_trainer(l, v);
    if (s > 0) return load_class(l, s, v);
    if (!volt_option_find(cli_globals_table, key)) return unknown_top(key, where);
    char *text;
    bool literal;
    volt_status st = value_text(l, v, key, where, &text, &literal);
    if (!st) st = items_set(&l->c->sec[CLI_TOP], key, text, literal, where);
    free(text);
    return st;
}

static volt_status load_doc(cli_config *c, volt_yaml_doc *d) {
    loader l = {c, d};
    yaml_node_t *root = volt_yaml_root(d);
    if (!root || is_null_node(root)) return VOLT_OK;
    if (root->type != YAML_MAPPING_NODE) {
        char where[512];
        where_of(&l, root, where, sizeof where);
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: a config is a mapping (trainer:, model:, data:, ...)", where);
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        volt_status st = load_top_pair(&l, p);
        if (st) return st;
    }
    return VOLT_OK;
}

volt_status cli_config_load_file(cli_config *c, const char *path) {
    volt_yaml_doc d;
    volt_status st = volt_yaml_load_file(&d, path);
    if (!st) st = load_doc(c, &d);
    volt_yaml_doc_free(&d);
    return st;
}

volt_status cli_config_load_text(cli_config *c, const char *text, size_t n, const char *name) {
    volt_yaml_doc d;
    volt_status st = volt_yaml_load_text(&d, text, n, name);
    if (!st) st = load_doc(c, &d);
    volt_yaml_doc_free(&d);
    return st;
}

/* ------------------------------------------------------------ overrides */

/* --trainer.callbacks=VALUE / +=VALUE: the value is YAML (a name, a list,
 * {name: {options}}). */
static volt_status override_callbacks(cli_config *c, const char *value, bool append,
                                      const char *where) {
    volt_yaml_doc d;
    char name[400];
    snprintf(name, sizeof name, "%s, trainer.callbacks value", where);
    volt_status st = volt_yaml_load_text(&d, value ? value : "", value ? strlen(value) : 0, name);
    loader l = {c, &d};
    yaml_node_t *root = st ? NULL : volt_yaml_root(&d);
    if (!st && append && root)
        st = root->type == YAML_SEQUENCE_NODE
                 ? volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "%s: trainer.callbacks+= takes one callback (a name or "
                                  "{name: {options}})",
                                  where)
                 : load_callback(&l, root);
    else if (!st && root)
        st = load_callbacks(&l, root);
    else if (!st)
        callbacks_clear(c);
    volt_yaml_doc_free(&d);
    return st;
}

/* --trainer.callbacks.<name>.<key>=VALUE: the last callback of that name. */
static volt_status override_callback_key(cli_config *c, const char *rest, const char *value,
                                         const char *where) {
    const char *dot = strchr(rest, '.');
    if (!dot || dot == rest || !dot[1])
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: trainer.callbacks.%s: expected trainer.callbacks.NAME.KEY",
                              where, rest);
    size_t n = (size_t)(dot - rest);
    for (int i = c->n_cbs - 1; i >= 0; i--) {
        const char *name = c->cbs[i].name;
        if (strlen(name) == n && strncasecmp(name, rest, n) == 0)
            return items_set(&c->cbs[i].opts, dot + 1, value, false, where);
    }
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                          "%s: trainer.callbacks has no %.*s (add it first: "
                          "--trainer.callbacks+=%.*s)",
                          where, (int)n, rest, (int)n, rest);
}

/* A command line's or environment's null ("null", "~", ""): NULL. */
static const char *null_if_null(const char *v) {
    return v && (!*v || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0) ? NULL : v;
}

volt_status cli_config_override(cli_config *c, const char *key, const char *value, bool append,
                                const char *where) {
    const char *dot = strchr(key, '.');
    size_t head = dot ? (size_t)(dot - key) : strlen(key);
    char section[32];
    if (head == 0 || head >= sizeof section) return unknown_top(key, where);
    memcpy(section, key, head);
    section[head] = '\0';
    int s = section_of(section);
    const char *rest = dot ? dot + 1 : NULL;
    bool callbacks = s == CLI_TRAINER && rest && strncmp(rest, "callbacks", 9) == 0 &&
                     (rest[9] == '\0' || rest[9] == '.');
    if (append && !(callbacks && rest[9] == '\0'))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: --%s+=: only trainer.callbacks can be appended to", where, key);
    if (callbacks)
        return rest[9] ? override_callback_key(c, rest + 10, value, where)
                       : override_callbacks(c, value, append, where);
    if (s < 0) {
        if (dot || !volt_option_find(cli_globals_table, key)) return unknown_top(section, where);
        return items_set(&c->sec[CLI_TOP], key, value, false, where);
    }
    if (!rest && is_class_section(s)) return set_class(c, s, null_if_null(value), where);
    if (!rest || !*rest)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: --%s needs a key: --%s.KEY=VALUE",
                              where, key, section);
    if (is_class_section(s) && (strcmp(rest, "name") == 0 || strcmp(rest, "class_path") == 0))
        return set_class(c, s, null_if_null(value), where);
    return items_set(&c->sec[s], rest, value, false, where);
}

/* ------------------------------------------------------------ environment */

volt_status cli_config_environment(cli_config *c, char *const *env) {
    for (; env && *env; env++) {
        const char *eq = strchr(*env, '=');
        if (!eq || strncmp(*env, "VOLT_", 5) != 0) continue;
        size_t n = (size_t)(eq - *env);
        char name[256], key[256];
        if (n >= sizeof name) continue;
        memcpy(name, *env, n);
        name[n] = '\0';
        /* VOLT_TRAINER__MAX_EPOCHS -> trainer.max_epochs; VOLT_SEED_EVERYTHING. */
        size_t k = 0;
        for (const char *p = name + 5; *p && k + 1 < sizeof key; p++) {
            if (p[0] == '_' && p[1] == '_') {
                key[k++] = '.';
                p++;
            } else {
                key[k++] = (char)tolower((unsigned char)*p);
            }
        }
        key[k] = '\0';
        const char *dot = strchr(key, '.');
        char section[64];
        size_t head = dot ? (size_t)(dot - key) : k;
        if (head >= sizeof section) continue;
        memcpy(section, key, head);
        section[head] = '\0';
        bool known =
            dot ? section_of(section) > 0
                : volt_option_find(cli_globals_table, key) || section_of(key) > CLI_TRAINER;
        if (!known) continue;
        char where[300];
        snprintf(where, sizeof where, "environment %s", name);
        volt_status st = cli_config_override(c, key, eq + 1, false, where);
        if (st) return st;
    }
    return VOLT_OK;
}
