/* idx_cache.c: where the uncompressed copies of gzip'd IDX files live (the
 * IDX dataset reads its records from them with pread, so the pixels never
 * stay in the process's memory) — the cache file's name, keyed by the
 * source's real path, size and modification time, and the temporary file
 * that becomes it with one rename once it is whole. None of these records
 * an error: a cache that cannot be used only means reading into memory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_impl.h"

/* FNV-1a, 64 bits, continuing from h. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* $XDG_CACHE_HOME/volt (an absolute path only, as the XDG spec asks), else
 * $HOME/.cache/volt, else (HOME unset: a service, `env -i`) the user's home
 * from the password database; into buf. false when there is none or it does
 * not fit. */
static bool cache_dir(char *buf, size_t size) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n = -1;
    if (xdg && xdg[0] == '/') {
        n = snprintf(buf, size, "%s/volt", xdg);
    } else if (home && home[0] == '/') {
        n = snprintf(buf, size, "%s/.cache/volt", home);
    } else if (!home) {
        char records[4096];
        struct passwd pw, *found = NULL;
        if (getpwuid_r(getuid(), &pw, records, sizeof records, &found) == 0 && found &&
            found->pw_dir && found->pw_dir[0] == '/')
            n = snprintf(buf, size, "%s/.cache/volt", found->pw_dir);
    }
    return n > 0 && (size_t)n < size;
}

/* True when fd's file starts with the gzip magic 1f 8b. */
static bool is_gzip(int fd) {
    uint8_t magic[2];
    return pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

char *volt_idx_cache_path(const char *src) {
    int fd = src ? open(src, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    bool gz = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && is_gzip(fd);
    if (fd >= 0) close(fd);
    char dir[PATH_MAX], real[PATH_MAX];
    if (!gz || !cache_dir(dir, sizeof dir) || !realpath(src, real)) return NULL;
    uint64_t h = fnv1a(0xcbf29ce484222325ull, real, strlen(real));
    int64_t key[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
    h = fnv1a(h, key, sizeof key);
    const char *base = strrchr(real, '/') + 1;
    size_t stem = strlen(base);
    if (stem > 3 && strcmp(base + stem - 3, ".gz") == 0) stem -= 3;
    size_t size = strlen(dir) + stem + 32;
    char *path = malloc(size);
    if (path) snprintf(path, size, "%s/%.*s-%016llx", dir, (int)stem, base, (unsigned long long)h);
    return path;
}

/* mkdir -p of the directory that holds path (which stays unchanged). */
static bool make_parent_dirs(char *path) {
    char *last = strrchr(path, '/');
    if (!last || last == path) return true;
    *last = '\0';
    bool ok = true;
    for (char *p = path + 1; ok; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        ok = mkdir(path, 0777) == 0 || errno == EEXIST;
        *p = c;
        if (c == '\0') break;
    }
    *last = '/';
    return ok;
}

int volt_idx_cache_begin(const char *cache_path, char **tmp_path) {
    *tmp_path = NULL;
    size_t size = strlen(cache_path) + 48;
    char *tmp = malloc(size);
    if (!tmp) return -1;
    snprintf(tmp, size, "%s", cache_path);
    if (!make_parent_dirs(tmp)) {
        free(tmp);
        return -1;
    }
    /* pid and attempt make the name this writer's own; O_EXCL makes sure. */
    for (int attempt = 0; attempt < 16; attempt++) {
        snprintf(tmp, size, "%s.tmp-%ld-%d", cache_path, (long)getpid(), attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp_path = tmp;
            return fd;
        }
        if (errno != EEXIST) break;
    }
    free(tmp);
    return -1;
}

bool volt_idx_cache_write(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

void volt_idx_cache_abort(int fd, char *tmp_path) {
    close(fd);
    unlink(tmp_path);
    free(tmp_path);
}

bool volt_idx_cache_commit(int fd, char *tmp_path, const char *cache_path) {
    /* Whole on disk before it gets its name: a crash never leaves a torn
     * cache file behind that name (a leftover temporary one at worst). */
    if (fsync(fd) != 0) {
        volt_idx_cache_abort(fd, tmp_path);
        return false;
    }
    bool ok = close(fd) == 0 && rename(tmp_path, cache_path) == 0;
    if (!ok) unlink(tmp_path);
    free(tmp_path);
    return ok;
}
