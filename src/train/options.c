/* options.c: the option engine (volt/train.h, "option tables and the
 * command line") — one field set from text by its table entry (parse, null,
 * range and choice checks, with messages that name the key and the value),
 * defaults, required fields, and the strings the engine owns. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train/options_impl.h"

#define FIELD(o, obj, type) ((type *)(void *)((char *)(obj) + (o)->offset))
#define CFIELD(o, obj, type) ((const type *)(const void *)((const char *)(obj) + (o)->offset))

const volt_option *volt_option_find(const volt_option *table, const char *key) {
    for (const volt_option *o = table; o && o->name; o++)
        if (strcmp(o->name, key) == 0) return o;
    return NULL;
}

static bool nullable(const volt_option *o) {
    return (o->flags & (VOLT_OPTION_NULLABLE | VOLT_OPTION_NULL_NAN | VOLT_OPTION_REQUIRED)) != 0;
}

static bool is_string_type(volt_option_type t) {
    return t == VOLT_OPTION_STRING || t == VOLT_OPTION_CHOICE;
}

/* YAML 1.1's null words (an empty value is null too). */
static bool null_word(const char *s) {
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* ------------------------------------------------------------ errors */

static volt_status bad(const volt_option *o, const char *section, const char *value,
                       const char *what) {
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s%s%s: '%s' %s", section ? section : "",
                          section && *section ? "." : "", o->name, value, what);
}

static bool has_range(const volt_option *o) { return o->min != 0 || o->max != 0; }

static volt_status out_of_range(const volt_option *o, const char *section, const char *value) {
    char lo[32], hi[32], what[96];
    volt_option_format_double(o->min, false, lo, sizeof lo);
    volt_option_format_double(o->max, false, hi, sizeof hi);
    if (isinf(o->max))
        snprintf(what, sizeof what, "is out of range (must be >= %s)", lo);
    else if (isinf(o->min))
        snprintf(what, sizeof what, "is out of range (must be <= %s)", hi);
    else
        snprintf(what, sizeof what, "is out of range [%s, %s]", lo, hi);
    return bad(o, section, value, what);
}

static bool in_range(const volt_option *o, double v) {
    return !has_range(o) || (v >= o->min && v <= o->max);
}

/* ------------------------------------------------------------ parsing */

static bool parse_int(const char *s, int64_t *out) {
    if (!*s || isspace((unsigned char)*s)) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = (int64_t)v;
    return true;
}

static bool parse_uint(const char *s, uint64_t *out) {
    if (!*s || *s == '-' || isspace((unsigned char)*s)) return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = (uint64_t)v;
    return true;
}

/* A real: C's forms and YAML's .inf / .nan spellings. */
static bool parse_double(const char *s, double *out) {
    const char *p = s;
    int sign = 1;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    if (strcasecmp(p, ".inf") == 0) {
        *out = sign < 0 ? -(double)INFINITY : (double)INFINITY;
        return true;
    }
    if (p == s && strcasecmp(p, ".nan") == 0) {
        *out = NAN;
        return true;
    }
    if (!*s || isspace((unsigned char)*s)) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end || (errno == ERANGE && isinf(v))) return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) return (*out = true), true;
        if (strcasecmp(s, no[i]) == 0) return (*out = false), true;
    }
    return false;
}

/* Whole-number text (an integer literal, no point or exponent). */
static bool looks_integral(const char *s) {
    if (*s == '+' || *s == '-') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* "[1, 2]", "1, 2", "1" (spaces anywhere between items) into a list. */
static volt_status parse_list(const volt_option *o, const char *section, const char *value,
                              volt_int_list *out) {
    volt_int_list l = {0};
    const char *p = value;
    while (isspace((unsigned char)*p)) p++;
    bool bracket = *p == '[';
    if (bracket) p++;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (bracket && *p == ']' && l.n == 0) break;
        char item[32];
        size_t k = 0;
        while (*p && *p != ',' && *p != ']' && !isspace((unsigned char)*p) && k + 1 < sizeof item)
            item[k++] = *p++;
        item[k] = '\0';
        while (isspace((unsigned char)*p)) p++;
        int64_t v;
        if (!parse_int(item, &v)) return bad(o, section, value, "is not a list of integers");
        if (!in_range(o, (double)v)) return out_of_range(o, section, value);
        if (l.n == VOLT_INT_LIST_MAX)
            return bad(o, section, value, "has too many items (at most 32)");
        l.v[l.n++] = v;
        if (*p == ',') {
            p++;
            continue;
        }
        break;
    }
    if (bracket && *p++ != ']') return bad(o, section, value, "is not a list of integers");
    while (isspace((unsigned char)*p)) p++;
    if (*p) return bad(o, section, value, "is not a list of integers");
    *out = l;
    return VOLT_OK;
}

/* The index of `value` among the choices (ignoring case), or a message
 * listing them with a suggestion. */
static volt_status parse_choice(const volt_option *o, const char *section, const char *value,
                                int *index) {
    volt_suggest s;
    volt_suggest_init(&s, value);
    for (int i = 0; o->choices && o->choices[i]; i++) {
        if (strcasecmp(value, o->choices[i]) == 0) return (*index = i), VOLT_OK;
        volt_suggest_add(&s, o->choices[i]);
    }
    volt_text t = {0};
    volt_text_printf(&t, "is not one of ");
    for (int i = 0; o->choices && o->choices[i]; i++)
        volt_text_printf(&t, "%s%s", i ? ", " : "", o->choices[i]);
    if (volt_suggest_result(&s))
        volt_text_printf(&t, " (did you mean %s?)", volt_suggest_result(&s));
    volt_status st = bad(o, section, value, t.failed ? "is not an allowed value" : t.data);
    free(t.data);
    return st;
}

static volt_status set_string(const volt_option *o, void *obj, const char *section,
                              const char *value) {
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s.%s: out of memory", section, o->name);
    const char **field = FIELD(o, obj, const char *);
    free((char *)*field);
    *field = copy;
    return VOLT_OK;
}

/* Stores null in a field that allows it. */
static volt_status set_null(const volt_option *o, void *obj, const char *section) {
    if (!nullable(o)) {
        static const char *const kind[] = {[VOLT_OPTION_BOOL] = "true or false",
                                           [VOLT_OPTION_INT] = "an integer",
                                           [VOLT_OPTION_INT32] = "an integer",
                                           [VOLT_OPTION_UINT64] = "an integer >= 0",
                                           [VOLT_OPTION_DOUBLE] = "a number",
                                           [VOLT_OPTION_STRING] = "a string",
                                           [VOLT_OPTION_CHOICE] = "one of its choices",
                                           [VOLT_OPTION_ENUM] = "one of its choices",
                                           [VOLT_OPTION_BATCHES] =
                                               "a fraction or a count of batches",
                                           [VOLT_OPTION_INT_LIST] = "a list of integers"};
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s%s%s: null is not allowed (%s)",
                              section ? section : "", section && *section ? "." : "", o->name,
                              kind[o->type]);
    }
    switch (o->type) {
    case VOLT_OPTION_INT: *FIELD(o, obj, int64_t) = VOLT_NONE; break;
    case VOLT_OPTION_DOUBLE:
        *FIELD(o, obj, double) = (o->flags & VOLT_OPTION_NULL_NAN) ? NAN : (double)VOLT_NONE;
        break;
    case VOLT_OPTION_STRING:
    case VOLT_OPTION_CHOICE: return set_string(o, obj, section, NULL);
    case VOLT_OPTION_ENUM: *FIELD(o, obj, int) = -1; break;
    case VOLT_OPTION_INT_LIST: FIELD(o, obj, volt_int_list)->n = 0; break;
    default:
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s.%s: this type cannot be null", section,
                              o->name);
    }
    return VOLT_OK;
}

static volt_status set_integer(const volt_option *o, void *obj, const char *section,
                               const char *value) {
    if (o->type == VOLT_OPTION_UINT64) {
        uint64_t u;
        if (!parse_uint(value, &u)) return bad(o, section, value, "is not an integer >= 0");
        if (!in_range(o, (double)u)) return out_of_range(o, section, value);
        *FIELD(o, obj, uint64_t) = u;
        return VOLT_OK;
    }
    int64_t v;
    bool boolean = (o->flags & VOLT_OPTION_TRUE_IS_ONE) &&
                   (strcmp(value, "true") == 0 || strcmp(value, "false") == 0);
    if (boolean)
        v = value[0] == 't';
    else if (!parse_int(value, &v))
        return bad(o, section, value, "is not an integer");
    if (!in_range(o, (double)v)) return out_of_range(o, section, value);
    if (o->type == VOLT_OPTION_INT32) {
        if (v < INT_MIN || v > INT_MAX) return bad(o, section, value, "is too large");
        *FIELD(o, obj, int) = (int)v;
    } else {
        *FIELD(o, obj, int64_t) = v;
    }
    return VOLT_OK;
}

static volt_status set_real(const volt_option *o, void *obj, const char *section,
                            const char *value) {
    double v;
    if (!parse_double(value, &v)) return bad(o, section, value, "is not a number");
    if (isnan(v) || !in_range(o, v)) {
        if (isnan(v)) return bad(o, section, value, "is not a number (NaN)");
        return out_of_range(o, section, value);
    }
    if (v == 0 && (o->flags & VOLT_OPTION_OPTIM_ZERO)) v = VOLT_OPTIM_ZERO;
    *FIELD(o, obj, double) = v;
    return VOLT_OK;
}

/* Lightning's int-or-float: "10" is ten batches, "0.25" a quarter of them. */
static volt_status set_batches(const volt_option *o, void *obj, const char *section,
                               const char *value) {
    if (looks_integral(value)) {
        int64_t n;
        if (!parse_int(value, &n) || n < 0 || n > (int64_t)1e14)
            return bad(o, section, value, "is not a count of batches (an integer >= 0)");
        *FIELD(o, obj, double) = VOLT_BATCHES(n);
        return VOLT_OK;
    }
    double v;
    if (!parse_double(value, &v))
        return bad(o, section, value, "is not a fraction (0.0 to 1.0) or a count of batches");
    if (!(v >= 0 && v <= 1))
        return bad(o, section, value,
                   "is out of range (a fraction is in [0.0, 1.0]; write a count of batches "
                   "as an integer)");
    *FIELD(o, obj, double) = v;
    return VOLT_OK;
}

volt_status volt_option_set_text(const volt_option *o, void *obj, const char *section,
                                 const char *value, bool literal) {
    if (!value || (!literal && null_word(value))) return set_null(o, obj, section);
    int index;
    volt_status st;
    switch (o->type) {
    case VOLT_OPTION_BOOL: {
        bool b;
        if (!parse_bool(value, &b)) return bad(o, section, value, "is not true or false");
        *FIELD(o, obj, bool) = b;
        return VOLT_OK;
    }
    case VOLT_OPTION_INT:
    case VOLT_OPTION_INT32:
    case VOLT_OPTION_UINT64: return set_integer(o, obj, section, value);
    case VOLT_OPTION_DOUBLE: return set_real(o, obj, section, value);
    case VOLT_OPTION_STRING: return set_string(o, obj, section, value);
    case VOLT_OPTION_CHOICE:
        if ((st = parse_choice(o, section, value, &index))) return st;
        return set_string(o, obj, section, o->choices[index]);
    case VOLT_OPTION_ENUM:
        if ((st = parse_choice(o, section, value, &index))) return st;
        *FIELD(o, obj, int) = o->values ? o->values[index] : index;
        return VOLT_OK;
    case VOLT_OPTION_BATCHES: return set_batches(o, obj, section, value);
    case VOLT_OPTION_INT_LIST: return parse_list(o, section, value, FIELD(o, obj, volt_int_list));
    }
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s.%s: unknown option type %d", section,
                          o->name, (int)o->type);
}

/* ---------------------------------------------------------- public API */

static volt_status unknown_key(const volt_option *table, const char *section, const char *key) {
    volt_suggest s;
    volt_suggest_init(&s, key);
    for (const volt_option *o = table; o && o->name; o++) volt_suggest_add(&s, o->name);
    if (volt_suggest_result(&s))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "unknown key '%s' in %s (did you mean %s?)", key, section,
                              volt_suggest_result(&s));
    volt_text t = {0};
    for (const volt_option *o = table; o && o->name; o++)
        volt_text_printf(&t, "%s%s", o == table ? "" : ", ", o->name);
    volt_status st =
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "unknown key '%s' in %s (its keys: %s)", key,
                       section, t.data && !t.failed ? t.data : "none");
    free(t.data);
    return st;
}

volt_status volt_options_set(const volt_option *table, void *obj, const char *section,
                             const char *key, const char *value) {
    if (!table || !obj || !key)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "options: NULL table, struct or key");
    if (!section) section = "options";
    const volt_option *o = volt_option_find(table, key);
    if (!o) return unknown_key(table, section, key);
    return volt_option_set_text(o, obj, section, value, false);
}

volt_status volt_options_defaults(const volt_option *table, void *obj) {
    if (!table || !obj)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "options: NULL table or struct");
    for (const volt_option *o = table; o->name; o++) {
        if (is_string_type(o->type)) *FIELD(o, obj, const char *) = NULL;
        if (o->type == VOLT_OPTION_INT_LIST)
            memset(FIELD(o, obj, volt_int_list), 0, sizeof(volt_int_list));
        const char *def = o->def ? o->def : "null";
        if (volt_option_set_text(o, obj, "default", def, false) != VOLT_OK) {
            volt_options_release(table, obj);
            return VOLT_ERR_INVALID_ARGUMENT;
        }
    }
    return VOLT_OK;
}

void volt_options_release(const volt_option *table, void *obj) {
    if (!table || !obj) return;
    for (const volt_option *o = table; o->name; o++) {
        if (!is_string_type(o->type)) continue;
        const char **field = FIELD(o, obj, const char *);
        free((char *)*field);
        *field = NULL;
    }
}

bool volt_option_is_null(const volt_option *o, const void *obj) {
    switch (o->type) {
    case VOLT_OPTION_INT: return *CFIELD(o, obj, int64_t) == VOLT_NONE;
    case VOLT_OPTION_DOUBLE: {
        double v = *CFIELD(o, obj, double);
        return (o->flags & VOLT_OPTION_NULL_NAN) ? isnan(v) : v == (double)VOLT_NONE;
    }
    case VOLT_OPTION_STRING:
    case VOLT_OPTION_CHOICE: return *CFIELD(o, obj, const char *) == NULL;
    case VOLT_OPTION_ENUM: return nullable(o) && *CFIELD(o, obj, int) == -1;
    case VOLT_OPTION_INT_LIST: return CFIELD(o, obj, volt_int_list)->n == 0;
    default: return false;
    }
}

volt_status volt_options_check(const volt_option *table, const void *obj, const char *section) {
    if (!table || !obj)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "options: NULL table or struct");
    for (const volt_option *o = table; o->name; o++)
        if ((o->flags & VOLT_OPTION_REQUIRED) && volt_option_is_null(o, obj))
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s%s%s is required: %s",
                                  section ? section : "", section && *section ? "." : "", o->name,
                                  o->help ? o->help : "no default");
    return VOLT_OK;
}
