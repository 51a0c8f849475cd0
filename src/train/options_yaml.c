/* options_yaml.c: the option engine's YAML (libyaml) — loading a document
 * with syntax errors reported at their line and column, reading a mapping
 * into a struct through its table (volt_options_load_yaml), and writing a
 * struct (or any block document) back as YAML that reads back the same
 * (volt_options_to_yaml, --print-config, config.yaml). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train/options_impl.h"

/* Config files larger than this are refused (they are a few KiB). */
#define YAML_MAX_BYTES (16u << 20)

/* ------------------------------------------------------------ loading */

void volt_yaml_doc_free(volt_yaml_doc *d) {
    if (d->loaded) yaml_document_delete(&d->doc);
    free(d->name);
    *d = (volt_yaml_doc){0};
}

static volt_status syntax_error(const yaml_parser_t *p, const char *name) {
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR)
        return volt_error_set(VOLT_ERR_FORMAT, "%s: byte %zu: %s", name, p->problem_offset,
                              problem);
    if (p->error == YAML_MEMORY_ERROR)
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory reading YAML", name);
    char context[160] = "";
    if (p->context)
        snprintf(context, sizeof context, " (%s at line %zu, column %zu)", p->context,
                 p->context_mark.line + 1, p->context_mark.column + 1);
    return volt_error_set(VOLT_ERR_FORMAT, "%s:%zu:%zu: YAML syntax error: %s%s", name,
                          p->problem_mark.line + 1, p->problem_mark.column + 1, problem, context);
}

volt_status volt_yaml_load_text(volt_yaml_doc *d, const char *text, size_t n, const char *name) {
    *d = (volt_yaml_doc){0};
    if (!(d->name = strdup(name ? name : "<text>")))
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "YAML: out of memory");
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory reading YAML", d->name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
    volt_status st = VOLT_OK;
    if (yaml_parser_load(&parser, &d->doc))
        d->loaded = true;
    else
        st = syntax_error(&parser, d->name);
    yaml_parser_delete(&parser);
    return st;
}

volt_status volt_yaml_load_file(volt_yaml_doc *d, const char *path) {
    *d = (volt_yaml_doc){0};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return volt_error_set(VOLT_ERR_IO, "config file '%s': %s", path,
                              errno == ENOENT ? "no such file" : strerror(errno));
    volt_text t = {0};
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0 && t.len <= YAML_MAX_BYTES)
        volt_text_append(&t, buf, got);
    bool read_error = ferror(fp) != 0;
    fclose(fp);
    if (read_error || t.len > YAML_MAX_BYTES) {
        free(t.data);
        return volt_error_set(VOLT_ERR_IO, "config file '%s': %s", path,
                              read_error ? "read error (a directory?)" : "larger than 16 MiB");
    }
    size_t n = t.len;
    char *text = volt_text_finish(&t, path);
    if (!text) return VOLT_ERR_OUT_OF_MEMORY;
    volt_status st = volt_yaml_load_text(d, text, n, path);
    free(text);
    return st;
}

yaml_node_t *volt_yaml_root(volt_yaml_doc *d) {
    return d->loaded ? yaml_document_get_root_node(&d->doc) : NULL;
}

yaml_node_t *volt_yaml_node(volt_yaml_doc *d, int index) {
    return d->loaded ? yaml_document_get_node(&d->doc, index) : NULL;
}

void volt_yaml_where(const volt_yaml_doc *d, const yaml_node_t *node, char *buf, size_t n) {
    snprintf(buf, n, "%s:%zu:%zu", d->name, node->start_mark.line + 1, node->start_mark.column + 1);
}

const char *volt_yaml_scalar(const yaml_node_t *node, bool *literal) {
    const char *text = (const char *)node->data.scalar.value;
    *literal = node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
               node->data.scalar.style != YAML_ANY_SCALAR_STYLE;
    if (*literal) return text;
    if (!*text || strcmp(text, "~") == 0 || strcmp(text, "null") == 0 ||
        strcmp(text, "Null") == 0 || strcmp(text, "NULL") == 0)
        return NULL;
    return text;
}

char *volt_yaml_flow_text(volt_yaml_doc *d, const yaml_node_t *node, const char *where) {
    volt_text t = {0};
    volt_text_append(&t, "[", 1);
    int i = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *item = volt_yaml_node(d, *it);
        bool literal;
        const char *text =
            item && item->type == YAML_SCALAR_NODE ? volt_yaml_scalar(item, &literal) : NULL;
        if (!text) {
            free(t.data);
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: expected a list of plain values", where);
            return NULL;
        }
        volt_text_printf(&t, "%s%s", i ? ", " : "", text);
    }
    volt_text_append(&t, "]", 1);
    return volt_text_finish(&t, where);
}

/* ------------------------------------------------------------ reading */

volt_status volt_error_at(const char *where) {
    volt_status st = volt_error_status();
    if (st == VOLT_OK) return VOLT_OK;
    const char *msg = volt_error_message();
    if (strncmp(msg, "volt: ", 6) == 0) msg += 6;
    char *copy = strdup(msg);
    volt_error_clear();
    volt_error_set(st, "%s: %s", where, copy ? copy : "(out of memory)");
    free(copy);
    return st;
}

/* One key: value pair of a mapping into obj. */
static volt_status set_pair(const volt_option *table, void *obj, const char *section,
                            volt_yaml_doc *d, yaml_node_pair_t *pair) {
    yaml_node_t *key = volt_yaml_node(d, pair->key), *value = volt_yaml_node(d, pair->value);
    char where[512];
    volt_yaml_where(d, key, where, sizeof where);
    bool literal;
    const char *name = key->type == YAML_SCALAR_NODE ? volt_yaml_scalar(key, &literal) : NULL;
    if (!name)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: a key must be a plain name",
                              where, section);
    const volt_option *o = volt_option_find(table, name);
    if (!o) {
        volt_options_set(table, obj, section, name, NULL);
        return volt_error_at(where);
    }
    volt_yaml_where(d, value, where, sizeof where);
    volt_status st;
    if (value->type == YAML_SCALAR_NODE) {
        const char *text = volt_yaml_scalar(value, &literal);
        st = volt_option_set_text(o, obj, section, text, literal);
    } else if (value->type == YAML_SEQUENCE_NODE && o->type == VOLT_OPTION_INT_LIST) {
        char *text = volt_yaml_flow_text(d, value, where);
        if (!text) return VOLT_ERR_INVALID_ARGUMENT;
        st = volt_option_set_text(o, obj, section, text, false);
        free(text);
    } else {
        st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s.%s: expected a single value, not a %s",
                            section, name, value->type == YAML_MAPPING_NODE ? "mapping" : "list");
    }
    return st ? volt_error_at(where) : VOLT_OK;
}

volt_status volt_options_set_yaml(const volt_option *table, void *obj, const char *section,
                                  volt_yaml_doc *d, const yaml_node_t *mapping) {
    if (mapping->type != YAML_MAPPING_NODE) {
        char where[512];
        volt_yaml_where(d, mapping, where, sizeof where);
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: expected a mapping of keys",
                              where, section);
    }
    for (yaml_node_pair_t *p = mapping->data.mapping.pairs.start;
         p < mapping->data.mapping.pairs.top; p++) {
        volt_status st = set_pair(table, obj, section, d, p);
        if (st) return st;
    }
    return VOLT_OK;
}

volt_status volt_options_load_yaml(const volt_option *table, void *obj, const char *section,
                                   const char *path) {
    if (!table || !obj || !path)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "options: NULL table, struct or path");
    volt_yaml_doc d;
    volt_status st = volt_yaml_load_file(&d, path);
    yaml_node_t *root = st ? NULL : volt_yaml_root(&d);
    if (root && !(root->type == YAML_SCALAR_NODE && !*root->data.scalar.value))
        st = volt_options_set_yaml(table, obj, section ? section : "options", &d, root);
    volt_yaml_doc_free(&d);
    return st;
}

/* ------------------------------------------------------------ writing */

static int write_handler(void *data, unsigned char *buffer, size_t size) {
    volt_text *t = data;
    volt_text_append(t, (const char *)buffer, size);
    return !t->failed;
}

static void emit(volt_yaml_writer *w, yaml_event_t *ev, int ok) {
    if (w->failed) {
        if (ok) yaml_event_delete(ev);
        return;
    }
    if (!ok || !yaml_emitter_emit(&w->emitter, ev)) w->failed = true;
}

void volt_yaml_writer_init(volt_yaml_writer *w) {
    *w = (volt_yaml_writer){0};
    if (!yaml_emitter_initialize(&w->emitter)) {
        w->failed = true;
        return;
    }
    yaml_emitter_set_output(&w->emitter, write_handler, &w->out);
    yaml_emitter_set_unicode(&w->emitter, 1);
    yaml_emitter_set_width(&w->emitter, -1);
    yaml_emitter_set_indent(&w->emitter, 2);
    yaml_event_t ev;
    emit(w, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    emit(w, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
}

void volt_yaml_begin_mapping(volt_yaml_writer *w) {
    yaml_event_t ev;
    emit(w, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

void volt_yaml_end_mapping(volt_yaml_writer *w) {
    yaml_event_t ev;
    emit(w, &ev, yaml_mapping_end_event_initialize(&ev));
}

void volt_yaml_begin_sequence(volt_yaml_writer *w, bool flow) {
    yaml_event_t ev;
    emit(w, &ev,
         yaml_sequence_start_event_initialize(
             &ev, NULL, NULL, 1, flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE));
}

void volt_yaml_end_sequence(volt_yaml_writer *w) {
    yaml_event_t ev;
    emit(w, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void scalar(volt_yaml_writer *w, const char *text, yaml_scalar_style_t style) {
    yaml_event_t ev;
    emit(w, &ev,
         yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)text,
                                      (int)strlen(text), 1, 1, style));
}

void volt_yaml_plain(volt_yaml_writer *w, const char *text) {
    scalar(w, text, YAML_PLAIN_SCALAR_STYLE);
}

void volt_yaml_null(volt_yaml_writer *w) { scalar(w, "null", YAML_PLAIN_SCALAR_STYLE); }

/* Would a plain scalar with this text read as something other than a
 * string (null, a boolean, a number)? */
static bool reads_as_other(const char *s) {
    static const char *const words[] = {"~",   "null", "true", "false", "yes",   "no",    "on",
                                        "off", "y",    "n",    ".inf",  "-.inf", "+.inf", ".nan"};
    if (!*s) return true;
    /* YAML 1.1 readers also take 1_000, 0o17, 1:30 and dates for numbers:
     * quote whatever starts like a number. */
    const char *p = *s == '+' || *s == '-' ? s + 1 : s;
    if ((*p >= '0' && *p <= '9') || *p == '.') return true;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0) return true;
    char *end;
    (void)strtod(s, &end);
    return *end == '\0';
}

void volt_yaml_string(volt_yaml_writer *w, const char *text) {
    scalar(w, text, reads_as_other(text) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
}

static void emit_list(volt_yaml_writer *w, const volt_int_list *l) {
    volt_yaml_begin_sequence(w, true);
    for (int i = 0; i < l->n; i++) {
        char item[24];
        snprintf(item, sizeof item, "%lld", (long long)l->v[i]);
        volt_yaml_plain(w, item);
    }
    volt_yaml_end_sequence(w);
}

void volt_yaml_options(volt_yaml_writer *w, const volt_option *table, const void *obj) {
    for (const volt_option *o = table; o && o->name; o++) {
        char *text;
        volt_option_text_kind kind;
        if (volt_option_text(o, obj, &text, &kind) != VOLT_OK) {
            w->failed = true;
            return;
        }
        volt_yaml_plain(w, o->name);
        if (kind == VOLT_OPTION_TEXT_NULL)
            volt_yaml_null(w);
        else if (o->type == VOLT_OPTION_INT_LIST)
            emit_list(w, (const volt_int_list *)(const void *)((const char *)obj + o->offset));
        else if (kind == VOLT_OPTION_TEXT_STRING)
            volt_yaml_string(w, text);
        else
            volt_yaml_plain(w, text);
        free(text);
    }
}

char *volt_yaml_writer_finish(volt_yaml_writer *w) {
    yaml_event_t ev;
    emit(w, &ev, yaml_document_end_event_initialize(&ev, 1));
    emit(w, &ev, yaml_stream_end_event_initialize(&ev));
    if (!w->failed && !yaml_emitter_flush(&w->emitter)) w->failed = true;
    yaml_emitter_delete(&w->emitter);
    if (w->failed) {
        free(w->out.data);
        w->out = (volt_text){0};
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "YAML: cannot write the configuration (a string that is not UTF-8, or "
                       "out of memory)");
        return NULL;
    }
    return volt_text_finish(&w->out, "YAML");
}

char *volt_options_to_yaml(const volt_option *table, const void *obj) {
    if (!table || !obj) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "options: NULL table or struct");
        return NULL;
    }
    volt_yaml_writer w;
    volt_yaml_writer_init(&w);
    volt_yaml_begin_mapping(&w);
    volt_yaml_options(&w, table, obj);
    volt_yaml_end_mapping(&w);
    return volt_yaml_writer_finish(&w);
}
