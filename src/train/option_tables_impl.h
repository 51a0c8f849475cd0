/* option_tables_impl.h: the macros that write option table rows
 * (option_tables.c, cli_optim.c, cli_callbacks.c, cli_registry.c):
 *
 *     VOLT_OPT(volt_ema_options, decay, DOUBLE, "0.999", "help", VOLT_RANGE(0, 1)),
 *
 * the struct, the field (its name is the key), the type (VOLT_OPTION_<type>),
 * the default as text, a one-line help, then any of VOLT_GE / VOLT_RANGE /
 * VOLT_CHOICES / VOLT_NULLABLE or designated fields (.values, .flags). */
#ifndef VOLT_OPTION_TABLES_IMPL_H
#define VOLT_OPTION_TABLES_IMPL_H

#include <math.h>
#include <stddef.h>

#include "options_impl.h"

#define VOLT_OPT(S, f, T, d, h, ...)                                                               \
    {                                                                                              \
        .name = #f, .type = VOLT_OPTION_##T, .offset = offsetof(S, f), .def = (d), .help = (h),    \
        __VA_ARGS__                                                                                \
    }
/* The same with a key that differs from the field's name. */
#define VOLT_OPT_KEY(key, S, f, T, d, h, ...)                                                      \
    {                                                                                              \
        .name = (key), .type = VOLT_OPTION_##T, .offset = offsetof(S, f), .def = (d), .help = (h), \
        __VA_ARGS__                                                                                \
    }
#define VOLT_GE(lo) .min = (lo), .max = INFINITY
#define VOLT_RANGE(lo, hi) .min = (lo), .max = (hi)
#define VOLT_CHOICES(...)                                                                          \
    .choices = (const char *const[]) { __VA_ARGS__, NULL }
#define VOLT_NULLABLE .flags = VOLT_OPTION_NULLABLE

#endif
