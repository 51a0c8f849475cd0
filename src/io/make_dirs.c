/* make_dirs.c: mkdir -p, for the writers that put files in directories
 * they may have to create (checkpoints, logs). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io_impl.h"

volt_status volt_make_dirs(const char *dir, const char *op) {
    char buf[4096];
    if (!dir || !*dir) return VOLT_OK;
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: directory name too long: %.80s...",
                              op, dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char c = *p;
        *p = 0;
        struct stat sb;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return volt_error_set(VOLT_ERR_IO, "%s: cannot create directory %s: %s", op, buf,
                                  strerror(errno));
        if (stat(buf, &sb) == 0 && !S_ISDIR(sb.st_mode))
            return volt_error_set(VOLT_ERR_IO, "%s: %s is not a directory", op, buf);
        *p = c;
        if (c == 0) break;
    }
    return VOLT_OK;
}

volt_status volt_make_parent_dirs(const char *path, const char *op) {
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash || slash == path) return VOLT_OK;
    char buf[4096];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof buf)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: path too long: %.80s...", op, path);
    memcpy(buf, path, n);
    buf[n] = 0;
    return volt_make_dirs(buf, op);
}
