/* atomic_file.c: writes a file so that a crash or an error never leaves it
 * torn — a temporary file beside the target, fsync, rename over the target,
 * fsync of the directory (io_impl.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io_impl.h"

struct volt_atomic_file {
    int fd;
    const char *op;
    char *path;     /* the target */
    char *tmp_path; /* the temporary file beside it */
};

static volt_status io_error(const char *op, const char *what, const char *path, int err) {
    char buf[128];
    const char *reason = strerror_r(err, buf, sizeof buf);
    return volt_error_set(VOLT_ERR_IO, "%s: %s %s: %s", op, what, path, reason);
}

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void atomic_free(volt_atomic_file *f) {
    free(f->path);
    free(f->tmp_path);
    free(f);
}

volt_atomic_file *volt_atomic_file_open(const char *path, const char *op) {
    if (!path || !*path) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: empty or NULL path", op);
        return NULL;
    }
    /* "dir/" would put the temporary file inside dir, then fail the rename. */
    if (path[strlen(path) - 1] == '/') {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s names a directory (ends with '/')", op,
                       path);
        return NULL;
    }
    volt_atomic_file *f = calloc(1, sizeof *f);
    size_t room = strlen(path) + 64;
    if (f) f->tmp_path = malloc(room);
    if (f) f->path = str_dup(path);
    if (!f || !f->tmp_path || !f->path) {
        if (f) atomic_free(f);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
        return NULL;
    }
    f->op = op;
    /* A name no other writer picks: pid, clock and attempt number; O_EXCL
     * makes a collision a retry, never a shared file. The kernel applies the
     * umask to 0666, so the file gets the permissions of an ordinary one. */
    unsigned long long salt = (unsigned long long)(volt_time_now() * 1e9);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(f->tmp_path, room, "%s.tmp-%ld-%llx", path, (long)getpid(),
                 (salt + (unsigned long long)attempt * 7919ULL) & 0xffffffffULL);
        f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0) return f;
        if (errno != EEXIST) break;
    }
    io_error(op, "cannot create a temporary file beside", path, errno);
    atomic_free(f);
    return NULL;
}

volt_status volt_atomic_file_write(volt_atomic_file *f, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            /* Name the file the caller asked for; the temporary one goes. */
            char buf[128];
            const char *reason = strerror_r(errno, buf, sizeof buf);
            const char *slash = strrchr(f->tmp_path, '/');
            return volt_error_set(VOLT_ERR_IO, "%s: cannot write %s (temporary file %s): %s", f->op,
                                  f->path, slash ? slash + 1 : f->tmp_path, reason);
        }
        p += w;
        n -= (size_t)w;
    }
    return VOLT_OK;
}

void volt_atomic_file_abort(volt_atomic_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp_path);
    atomic_free(f);
}

/* fsync of the directory holding path, so that the rename itself is durable. */
static volt_status sync_parent_dir(const char *op, const char *path) {
    char *dir = str_dup(path);
    if (!dir) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    volt_status st = VOLT_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) st = io_error(op, "cannot open the directory", dir, errno);
    /* EINVAL: a file system that cannot sync directories; nothing to do. */
    else if (fsync(fd) != 0 && errno != EINVAL)
        st = io_error(op, "cannot fsync", dir, errno);
    if (fd >= 0) close(fd);
    free(dir);
    return st;
}

volt_status volt_atomic_file_commit(volt_atomic_file *f) {
    volt_status st = VOLT_OK;
    if (fsync(f->fd) != 0) st = io_error(f->op, "cannot fsync", f->tmp_path, errno);
    int rc = close(f->fd);
    f->fd = -1;
    if (st == VOLT_OK && rc != 0) st = io_error(f->op, "cannot close", f->tmp_path, errno);
    if (st == VOLT_OK && rename(f->tmp_path, f->path) != 0)
        st = io_error(f->op, "cannot rename the temporary file over", f->path, errno);
    if (st != VOLT_OK) {
        volt_atomic_file_abort(f);
        return st;
    }
    st = sync_parent_dir(f->op, f->path);
    atomic_free(f);
    return st;
}
