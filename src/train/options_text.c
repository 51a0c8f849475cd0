/* options_text.c: the text side of the option engine — a field's value as
 * text (what --print-config and config.yaml show), numbers formatted to read
 * back exactly, the --help text of a table, did-you-mean suggestions (edit
 * distance) and a growable text buffer. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/options_impl.h"

#define CFIELD(o, obj, type) ((const type *)(const void *)((const char *)(obj) + (o)->offset))

/* ------------------------------------------------------------ text buffer */

void volt_text_append(volt_text *t, const char *s, size_t n) {
    if (t->failed) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

void volt_text_printf(volt_text *t, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        volt_text_append(t, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        t->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    volt_text_append(t, big, (size_t)n);
    free(big);
}

char *volt_text_finish(volt_text *t, const char *who) {
    if (!t->failed && !t->data) volt_text_append(t, "", 0);
    if (t->failed) {
        free(t->data);
        *t = (volt_text){0};
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", who);
        return NULL;
    }
    char *out = t->data;
    *t = (volt_text){0};
    return out;
}

/* ------------------------------------------------------------ suggestions */

/* Edit distance ignoring case, a swap of neighbours counting one (optimal
 * string alignment: "widht" is 1 from "width"); SIZE_MAX past 63 bytes. */
static size_t edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return SIZE_MAX;
    unsigned char d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= na; i++) {
        for (size_t j = 1; j <= nb; j++) {
            int x = tolower((unsigned char)a[i - 1]), y = tolower((unsigned char)b[j - 1]);
            unsigned best = d[i - 1][j - 1] + (x != y);
            if (d[i - 1][j] + 1u < best) best = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < best) best = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && x == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == y && d[i - 2][j - 2] + 1u < best)
                best = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[na][nb];
}

void volt_suggest_init(volt_suggest *s, const char *word) {
    *s = (volt_suggest){.word = word, .best = NULL, .best_distance = SIZE_MAX};
}

void volt_suggest_add(volt_suggest *s, const char *candidate) {
    if (!s->word || !candidate) return;
    size_t d = edit_distance(s->word, candidate);
    size_t reach = strlen(s->word) / 3;
    if (reach < 1) reach = 1;
    if (d <= reach && d < s->best_distance) {
        s->best = candidate;
        s->best_distance = d;
    }
}

const char *volt_suggest_result(const volt_suggest *s) { return s->best; }

/* ------------------------------------------------------------ values */

void volt_option_format_double(double v, bool force_point, char *buf, size_t n) {
    if (isnan(v)) {
        snprintf(buf, n, ".nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? ".inf" : "-.inf");
        return;
    }
    if (v == 0) v = 0; /* -0.0 prints as 0 */
    char text[40];
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(text, sizeof text, "%.0f", v); /* 10, not 1e+01 */
    } else {
        for (int precision = 1; precision <= 17; precision++) {
            snprintf(text, sizeof text, "%.*g", precision, v);
            if (strtod(text, NULL) == v) break;
        }
    }
    /* YAML 1.1 readers (PyYAML) want a point in a float: 1e-08 -> 1.0e-08. */
    char *e = strchr(text, 'e');
    bool point = strchr(text, '.') != NULL;
    if (e && !point) {
        char mantissa[40];
        snprintf(mantissa, sizeof mantissa, "%.*s.0%s", (int)(e - text), text, e);
        snprintf(buf, n, "%s", mantissa);
    } else if (!e && !point && force_point) {
        snprintf(buf, n, "%s.0", text);
    } else {
        snprintf(buf, n, "%s", text);
    }
}

static const char *enum_name(const volt_option *o, int v) {
    for (int i = 0; o->choices && o->choices[i]; i++)
        if ((o->values ? o->values[i] : i) == v) return o->choices[i];
    return NULL;
}

static void list_text(const volt_int_list *l, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < l->n && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%" PRId64, i ? ", " : "", l->v[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

/* The text of a non-string, non-null field into buf. */
static void scalar_text(const volt_option *o, const void *obj, char *buf, size_t n) {
    switch (o->type) {
    case VOLT_OPTION_BOOL: snprintf(buf, n, "%s", *CFIELD(o, obj, bool) ? "true" : "false"); break;
    case VOLT_OPTION_INT: snprintf(buf, n, "%" PRId64, *CFIELD(o, obj, int64_t)); break;
    case VOLT_OPTION_INT32: snprintf(buf, n, "%d", *CFIELD(o, obj, int)); break;
    case VOLT_OPTION_UINT64: snprintf(buf, n, "%" PRIu64, *CFIELD(o, obj, uint64_t)); break;
    case VOLT_OPTION_DOUBLE:
        volt_option_format_double(*CFIELD(o, obj, double), true, buf, n);
        break;
    case VOLT_OPTION_ENUM: {
        const char *name = enum_name(o, *CFIELD(o, obj, int));
        snprintf(buf, n, "%s", name ? name : "null");
        break;
    }
    case VOLT_OPTION_BATCHES: {
        double v = *CFIELD(o, obj, double);
        if (v <= -VOLT_BATCHES_TAG)
            snprintf(buf, n, "%.0f", -v - VOLT_BATCHES_TAG);
        else if (v > 1)
            snprintf(buf, n, "%.0f", v);
        else
            volt_option_format_double(v, true, buf, n);
        break;
    }
    case VOLT_OPTION_INT_LIST: list_text(CFIELD(o, obj, volt_int_list), buf, n); break;
    default: snprintf(buf, n, "?"); break;
    }
}

volt_status volt_option_text(const volt_option *o, const void *obj, char **text,
                             volt_option_text_kind *kind) {
    *text = NULL;
    bool may_be_null =
        (o->flags & (VOLT_OPTION_NULLABLE | VOLT_OPTION_NULL_NAN | VOLT_OPTION_REQUIRED)) ||
        o->type == VOLT_OPTION_STRING || o->type == VOLT_OPTION_CHOICE;
    if (may_be_null && volt_option_is_null(o, obj)) {
        *kind = VOLT_OPTION_TEXT_NULL;
        *text = strdup("null");
    } else if (o->type == VOLT_OPTION_STRING || o->type == VOLT_OPTION_CHOICE) {
        *kind = o->type == VOLT_OPTION_STRING ? VOLT_OPTION_TEXT_STRING : VOLT_OPTION_TEXT_PLAIN;
        *text = strdup(*CFIELD(o, obj, const char *));
    } else {
        char buf[VOLT_INT_LIST_MAX * 24 + 8];
        scalar_text(o, obj, buf, sizeof buf);
        *kind = VOLT_OPTION_TEXT_PLAIN;
        *text = strdup(buf);
    }
    if (!*text) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "options: out of memory");
    return VOLT_OK;
}

/* ------------------------------------------------------------ help */

static void type_text(volt_text *t, const volt_option *o) {
    static const char *const names[] = {[VOLT_OPTION_BOOL] = "bool",
                                        [VOLT_OPTION_INT] = "int",
                                        [VOLT_OPTION_INT32] = "int",
                                        [VOLT_OPTION_UINT64] = "int",
                                        [VOLT_OPTION_DOUBLE] = "real",
                                        [VOLT_OPTION_STRING] = "string",
                                        [VOLT_OPTION_BATCHES] =
                                            "int (batches) | real (fraction of them)",
                                        [VOLT_OPTION_INT_LIST] = "[int, ...]"};
    if (o->type == VOLT_OPTION_CHOICE || o->type == VOLT_OPTION_ENUM) {
        for (int i = 0; o->choices && o->choices[i]; i++)
            volt_text_printf(t, "%s%s", i ? "|" : "", o->choices[i]);
    } else {
        volt_text_printf(t, "%s", names[o->type]);
    }
    if (o->flags & (VOLT_OPTION_NULLABLE | VOLT_OPTION_NULL_NAN)) volt_text_printf(t, " | null");
}

static void range_text(volt_text *t, const volt_option *o) {
    if (o->min == 0 && o->max == 0) return;
    char lo[32], hi[32];
    volt_option_format_double(o->min, false, lo, sizeof lo);
    volt_option_format_double(o->max, false, hi, sizeof hi);
    if (isinf(o->max))
        volt_text_printf(t, ", >= %s", lo);
    else if (isinf(o->min))
        volt_text_printf(t, ", <= %s", hi);
    else
        volt_text_printf(t, ", in [%s, %s]", lo, hi);
}

char *volt_options_help(const volt_option *table, const char *section) {
    volt_text t = {0};
    const char *sep = section && *section ? "." : "";
    if (!section) section = "";
    for (const volt_option *o = table; o && o->name; o++) {
        volt_text_printf(&t, "  --%s%s%s  ", section, sep, o->name);
        type_text(&t, o);
        if (o->flags & VOLT_OPTION_REQUIRED)
            volt_text_printf(&t, "  (required");
        else
            volt_text_printf(&t, "  (default: %s", o->def ? o->def : "null");
        range_text(&t, o);
        volt_text_printf(&t, ")\n      %s\n", o->help ? o->help : "");
    }
    return volt_text_finish(&t, "options help");
}
