/* error.c: the thread-local sticky error (DESIGN.md §2) and VOLT_ASSERT. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "volt/core.h"

#define VOLT_ERROR_CAPACITY 1024

static _Thread_local volt_status error_status = VOLT_OK;
static _Thread_local char error_text[VOLT_ERROR_CAPACITY];

const char *volt_error_message(void) { return error_text; }

volt_status volt_error_status(void) { return error_status; }

void volt_error_clear(void) {
    error_status = VOLT_OK;
    error_text[0] = '\0';
}

volt_status volt_error_set(volt_status status, const char *fmt, ...) {
    if (error_status != VOLT_OK || status == VOLT_OK) return status;
    error_status = status;
    int n = snprintf(error_text, sizeof error_text, "volt: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text + n, sizeof error_text - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

const char *volt_status_name(volt_status status) {
    switch (status) {
    case VOLT_OK: return "VOLT_OK";
    case VOLT_ERR_INVALID_ARGUMENT: return "VOLT_ERR_INVALID_ARGUMENT";
    case VOLT_ERR_SHAPE: return "VOLT_ERR_SHAPE";
    case VOLT_ERR_DTYPE: return "VOLT_ERR_DTYPE";
    case VOLT_ERR_DEVICE: return "VOLT_ERR_DEVICE";
    case VOLT_ERR_OUT_OF_MEMORY: return "VOLT_ERR_OUT_OF_MEMORY";
    case VOLT_ERR_IO: return "VOLT_ERR_IO";
    case VOLT_ERR_FORMAT: return "VOLT_ERR_FORMAT";
    case VOLT_ERR_STATE: return "VOLT_ERR_STATE";
    case VOLT_ERR_UNSUPPORTED: return "VOLT_ERR_UNSUPPORTED";
    case VOLT_ERR_INTERNAL: return "VOLT_ERR_INTERNAL";
    }
    return "VOLT_ERR_?";
}

_Noreturn void volt_assert_fail(const char *file, int line, const char *cond) {
    fprintf(stderr, "volt: internal error at %s:%d: assertion '%s' failed\n", file, line, cond);
    abort();
}
