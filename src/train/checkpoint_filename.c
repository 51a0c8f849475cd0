/* checkpoint_filename.c: ModelCheckpoint's file-name templates —
 * "{epoch}-{val_loss:.2f}" to "epoch=2-val_loss=0.12" — with Python's
 * format-spec subset and Python's float repr for fields without a spec. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/model_checkpoint_impl.h"

#define DEFAULT_TEMPLATE "{epoch}-{step}"

/* ------------------------------------------------------------ float repr */

/* Fixed notation of the digits d (no point) with decimal exponent e. */
static void repr_fixed(const char *d, int nd, int e, char *out, size_t cap) {
    char buf[64];
    int k = 0;
    if (e < 0) {
        buf[k++] = '0';
        buf[k++] = '.';
        for (int i = 0; i < -e - 1; i++) buf[k++] = '0';
        for (int i = 0; i < nd; i++) buf[k++] = d[i];
    } else {
        for (int i = 0; i <= e; i++) buf[k++] = i < nd ? d[i] : '0';
        buf[k++] = '.';
        if (nd > e + 1)
            for (int i = e + 1; i < nd; i++) buf[k++] = d[i];
        else
            buf[k++] = '0';
    }
    buf[k] = 0;
    snprintf(out, cap, "%s", buf);
}

void volt_checkpoint_float_repr(double v, char *buf, size_t cap) {
    if (isnan(v)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "inf" : "-inf");
        return;
    }
    char sci[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, v);
        if (strtod(sci, NULL) == v) break;
    }
    /* sci: [-]d[.ddd]e[+-]xx */
    const char *p = sci;
    bool neg = *p == '-';
    if (neg) p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int e = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--; /* "1.0e+00" never appears, but be safe */
    digits[nd] = 0;
    char body[64];
    if (e >= -4 && e < 16) {
        repr_fixed(digits, nd, e, body, sizeof body);
    } else {
        int k = snprintf(body, sizeof body, "%c", digits[0]);
        if (nd > 1) k += snprintf(body + k, sizeof body - (size_t)k, ".%s", digits + 1);
        snprintf(body + k, sizeof body - (size_t)k, "e%c%02d", e < 0 ? '-' : '+', abs(e));
    }
    snprintf(buf, cap, "%s%s", neg ? "-" : "", body);
}

/* ------------------------------------------------------------- the specs */

typedef struct {
    char sign; /* 0, '+', '-', ' ' */
    bool zero;
    int width;     /* -1: none */
    int precision; /* -1: none */
    char type;     /* 0 or one of dfFeEgG */
} fmt_spec;

static bool parse_int(const char **p, int *out) {
    if (**p < '0' || **p > '9') return false;
    long v = 0;
    while (**p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        if (v > 512) return false; /* no sane file name needs more */
        (*p)++;
    }
    *out = (int)v;
    return true;
}

/* spec: the text between ':' and '}' (len bytes). */
static bool parse_spec(const char *spec, size_t len, fmt_spec *f) {
    char buf[64];
    if (len >= sizeof buf) return false;
    memcpy(buf, spec, len);
    buf[len] = 0;
    *f = (fmt_spec){.width = -1, .precision = -1};
    const char *p = buf;
    if (*p == '+' || *p == '-' || *p == ' ') f->sign = *p++;
    if (*p == '0') f->zero = true, p++;
    if (*p >= '0' && *p <= '9' && !parse_int(&p, &f->width)) return false;
    if (*p == '.') {
        p++;
        if (!parse_int(&p, &f->precision)) return false;
    }
    if (*p && strchr("dfFeEgG", *p)) f->type = *p++;
    return *p == 0;
}

/* The printf flags of a spec ("%+08"), without precision and conversion. */
static void printf_flags(const fmt_spec *f, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "%%");
    if (f->sign == '+' || f->sign == ' ') k += snprintf(buf + k, cap - (size_t)k, "%c", f->sign);
    if (f->zero) k += snprintf(buf + k, cap - (size_t)k, "0");
    if (f->width >= 0) snprintf(buf + k, cap - (size_t)k, "%d", f->width);
}

/* Pads Python-style a number already formatted (repr) to the spec's width. */
static void pad_number(const fmt_spec *f, const char *num, char *out, size_t cap) {
    char body[96];
    bool neg = num[0] == '-';
    const char *digits = neg ? num + 1 : num;
    char sign = neg ? '-' : (f->sign == '+' || f->sign == ' ') ? f->sign : 0;
    int len = (int)strlen(digits) + (sign != 0);
    int fill = f->width > len ? f->width - len : 0;
    int k = 0;
    if (!f->zero)
        for (int i = 0; i < fill && k < 80; i++) body[k++] = ' ';
    if (sign) body[k++] = sign;
    if (f->zero)
        for (int i = 0; i < fill && k < 80; i++) body[k++] = '0';
    body[k] = 0;
    snprintf(out, cap, "%s%s", body, digits);
}

typedef struct {
    const char *tmpl, *name;
} field_ctx;

static volt_status field_error(const field_ctx *c, const char *what) {
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                          "ModelCheckpoint: filename '%s': field '%s': %s", c->tmpl, c->name, what);
}

static volt_status format_int(const field_ctx *c, const fmt_spec *f, int64_t v, char *out,
                              size_t cap) {
    char pf[32], fmtbuf[48];
    printf_flags(f, pf, sizeof pf);
    if (f->type == 0 || f->type == 'd') {
        if (f->precision >= 0)
            return field_error(c, "a precision is not allowed for an integer (use .Nf)");
        snprintf(fmtbuf, sizeof fmtbuf, "%slld", pf);
        snprintf(out, cap, fmtbuf, (long long)v);
        return VOLT_OK;
    }
    snprintf(fmtbuf, sizeof fmtbuf, "%s.%d%c", pf, f->precision >= 0 ? f->precision : 6, f->type);
    snprintf(out, cap, fmtbuf, (double)v);
    return VOLT_OK;
}

static volt_status format_real(const field_ctx *c, const fmt_spec *f, double v, char *out,
                               size_t cap) {
    char pf[32], fmtbuf[48];
    if (f->type == 'd')
        return field_error(c, "format 'd' needs an integer, and this is a real number "
                              "(use .Nf)");
    if (f->type == 0 && f->precision < 0) {
        char num[40];
        volt_checkpoint_float_repr(v, num, sizeof num);
        pad_number(f, num, out, cap);
        return VOLT_OK;
    }
    printf_flags(f, pf, sizeof pf);
    char type = f->type ? f->type : 'g';
    snprintf(fmtbuf, sizeof fmtbuf, "%s.%d%c", pf, f->precision >= 0 ? f->precision : 6, type);
    snprintf(out, cap, fmtbuf, v);
    /* Python's format without a type keeps a ".0" on whole numbers */
    if (f->type == 0 && isfinite(v) && !strpbrk(out, ".e")) {
        size_t n = strlen(out);
        if (n + 2 < cap) memcpy(out + n, ".0", 3);
    }
    return VOLT_OK;
}

/* ------------------------------------------------------------ the template */

typedef struct {
    char *out;
    size_t cap, len;
    bool full;
} out_buf;

static void put(out_buf *b, const char *s, size_t n) {
    if (b->len + n >= b->cap) {
        b->full = true;
        return;
    }
    memcpy(b->out + b->len, s, n);
    b->len += n;
    b->out[b->len] = 0;
}

/* One field "{name[:spec]}" starting at *p (at the '{'); moves *p past it. */
static volt_status format_field(const char *tmpl, const char **p, const volt_metrics *metrics,
                                int64_t epoch, int64_t step, bool auto_insert, out_buf *b) {
    const char *start = *p + 1;
    const char *end = strchr(start, '}');
    if (!end)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: filename '%s': '{' at offset %d is not closed "
                              "by '}'",
                              tmpl, (int)(*p - tmpl));
    const char *colon = memchr(start, ':', (size_t)(end - start));
    size_t name_len = (size_t)((colon ? colon : end) - start);
    char name[256];
    if (name_len == 0 || name_len >= sizeof name)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: filename '%s': field at offset %d has %s name",
                              tmpl, (int)(*p - tmpl), name_len == 0 ? "an empty" : "a too long");
    memcpy(name, start, name_len);
    name[name_len] = 0;
    field_ctx c = {tmpl, name};
    fmt_spec f = {.width = -1, .precision = -1};
    if (colon && !parse_spec(colon + 1, (size_t)(end - colon - 1), &f))
        return field_error(&c, "unsupported format spec (Python's [sign][0][width][.precision]"
                               "[type] with type d, f, F, e, E, g or G)");
    char val[640];
    volt_status st;
    if (strcmp(name, "epoch") == 0 || strcmp(name, "step") == 0)
        st = format_int(&c, &f, name[0] == 'e' ? epoch : step, val, sizeof val);
    else if (metrics && volt_metrics_has(metrics, name))
        st = format_real(&c, &f, volt_metrics_get(metrics, name), val, sizeof val);
    else
        st = format_int(&c, &f, 0, val, sizeof val); /* Lightning: a missing key is 0 */
    if (st) return st;
    if (auto_insert) {
        put(b, name, name_len);
        put(b, "=", 1);
    }
    put(b, val, strlen(val));
    *p = end + 1;
    return VOLT_OK;
}

volt_status volt_checkpoint_format_name(const char *tmpl, const volt_metrics *metrics,
                                        int64_t epoch, int64_t step, bool auto_insert_metric_name,
                                        char *out, size_t cap) {
    if (!out || cap == 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "checkpoint_format_name: no output");
    if (!tmpl || !*tmpl) tmpl = DEFAULT_TEMPLATE;
    out_buf b = {out, cap, 0, false};
    out[0] = 0;
    for (const char *p = tmpl; *p;) {
        if (*p == '{') {
            volt_status st =
                format_field(tmpl, &p, metrics, epoch, step, auto_insert_metric_name, &b);
            if (st) return st;
            continue;
        }
        const char *next = strchr(p, '{');
        size_t n = next ? (size_t)(next - p) : strlen(p);
        put(&b, p, n);
        p += n;
    }
    if (b.full)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: filename '%s': the formatted name is longer than "
                              "%zu bytes",
                              tmpl, cap - 1);
    return VOLT_OK;
}
