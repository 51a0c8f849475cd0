/* options_impl.h: what the option engine (options.c, options_text.c,
 * options_yaml.c) shares with the command line (cli*.c): finding a key,
 * setting one from text that may be a quoted YAML string, a value's text
 * form, did-you-mean suggestions, and libyaml helpers. Not public. */
#ifndef VOLT_OPTIONS_IMPL_H
#define VOLT_OPTIONS_IMPL_H

#include <stddef.h>

#include <yaml.h>

#include "volt/train.h"

/* The entry named `key` (exact match), NULL when absent (no error). */
const volt_option *volt_option_find(const volt_option *table, const char *key);
/* volt_options_set for one entry. literal: `value` came quoted (a YAML
 * "null" string is the string, never null). section prefixes messages. */
volt_status volt_option_set_text(const volt_option *o, void *obj, const char *section,
                                 const char *value, bool literal);
/* True when the field holds null (VOLT_NONE, NAN, NULL, -1, an empty list). */
bool volt_option_is_null(const volt_option *o, const void *obj);

/* How a value's text must be written in YAML. */
typedef enum {
    VOLT_OPTION_TEXT_NULL,  /* "null" */
    VOLT_OPTION_TEXT_PLAIN, /* a number, boolean or choice: a plain scalar */
    VOLT_OPTION_TEXT_STRING /* a string: quoted when it would read as something else */
} volt_option_text_kind;
/* The value of the field as text (malloc'd, *text; NULL + error when out of
 * memory). Lists are "[30, 60]" (kind PLAIN; volt_option_list_items gives
 * the items). */
volt_status volt_option_text(const volt_option *o, const void *obj, char **text,
                             volt_option_text_kind *kind);
/* The shortest text of a double that reads back exactly; with
 * force_point a whole number keeps ".0" (what tells a fraction of batches
 * from a count). buf holds >= 32 bytes. */
void volt_option_format_double(double v, bool force_point, char *buf, size_t n);

/* Did-you-mean: offer candidates; the best within reach of `word` (edit
 * distance <= max(1, len / 3), ignoring case) wins; NULL when none. */
typedef struct {
    const char *word;
    const char *best;
    size_t best_distance;
} volt_suggest;
void volt_suggest_init(volt_suggest *s, const char *word);
void volt_suggest_add(volt_suggest *s, const char *candidate);
const char *volt_suggest_result(const volt_suggest *s);

/* A growable text buffer (malloc'd; NULL after a failed append). */
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} volt_text;
void volt_text_append(volt_text *t, const char *s, size_t n);
void volt_text_printf(volt_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text (the caller frees it), or NULL + VOLT_ERR_OUT_OF_MEMORY. */
char *volt_text_finish(volt_text *t, const char *who);

/* Rewrites the recorded error as "<where>: <message>" (same status);
 * returns its status (VOLT_OK when none is recorded). */
volt_status volt_error_at(const char *where);

/* ------------------------------------------------------------ YAML */

/* A loaded YAML document and where it came from (for messages). */
typedef struct {
    yaml_document_t doc;
    char *name; /* the file name, or what the text was */
    bool loaded;
} volt_yaml_doc;
/* Loads the first document of `path` (VOLT_ERR_IO naming a missing file) or
 * of text[0..n) named `name`; a syntax error is VOLT_ERR_FORMAT
 * "<name>:<line>:<column>: <problem> (<context>)". Free with
 * volt_yaml_doc_free (also after a failure). */
volt_status volt_yaml_load_file(volt_yaml_doc *d, const char *path);
volt_status volt_yaml_load_text(volt_yaml_doc *d, const char *text, size_t n, const char *name);
void volt_yaml_doc_free(volt_yaml_doc *d);
/* The root node (NULL for an empty document). */
yaml_node_t *volt_yaml_root(volt_yaml_doc *d);
yaml_node_t *volt_yaml_node(volt_yaml_doc *d, int index);
/* "<name>:<line>:<column>" of a node, into buf. */
void volt_yaml_where(const volt_yaml_doc *d, const yaml_node_t *node, char *buf, size_t n);
/* A scalar's text, NULL for a YAML null (plain null, ~ or empty); *literal
 * tells a quoted scalar. */
const char *volt_yaml_scalar(const yaml_node_t *node, bool *literal);
/* A sequence of scalars as "[a, b]" text (malloc'd); NULL + error naming
 * `where` for nested collections. */
char *volt_yaml_flow_text(volt_yaml_doc *d, const yaml_node_t *node, const char *where);

/* Sets every key of a YAML mapping node into obj (errors prefixed with the
 * node's place). */
volt_status volt_options_set_yaml(const volt_option *table, void *obj, const char *section,
                                  volt_yaml_doc *d, const yaml_node_t *mapping);

/* Emitting YAML into a volt_text: a block-style document. */
typedef struct {
    yaml_emitter_t emitter;
    volt_text out;
    bool failed;
} volt_yaml_writer;
void volt_yaml_writer_init(volt_yaml_writer *w);
void volt_yaml_begin_mapping(volt_yaml_writer *w);
void volt_yaml_end_mapping(volt_yaml_writer *w);
void volt_yaml_begin_sequence(volt_yaml_writer *w, bool flow);
void volt_yaml_end_sequence(volt_yaml_writer *w);
/* A scalar: plain (keys, numbers, booleans), a string (quoted when it would
 * read as null, a number or a boolean), or null. */
void volt_yaml_plain(volt_yaml_writer *w, const char *text);
void volt_yaml_string(volt_yaml_writer *w, const char *text);
void volt_yaml_null(volt_yaml_writer *w);
/* Every key of obj: key, value pairs (inside a mapping the caller opened). */
void volt_yaml_options(volt_yaml_writer *w, const volt_option *table, const void *obj);
/* Ends the document: the text (malloc'd) or NULL + error. */
char *volt_yaml_writer_finish(volt_yaml_writer *w);

#endif
