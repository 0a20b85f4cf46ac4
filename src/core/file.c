/* file.c — whole-file reads, memory maps, atomic writes, directories. */
#include "quant/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int qfile_read_all(const char *path, uint8_t **data, size_t *len, QErr *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return qerr_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return qerr_set(err, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = xmalloc(n + 1);
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return qerr_set(err, "%s: read failed", path);
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int qmap_open(QMap *m, const char *path, int writable_private, QErr *err) {
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return qerr_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qerr_set(err, "%s: not a regular file", path);
    }
    m->len = (size_t)st.st_size;
    if (m->len == 0) {
        close(fd);
        return qerr_set(err, "%s: file is empty", path);
    }
    int prot = PROT_READ | (writable_private ? PROT_WRITE : 0);
    void *p = mmap(NULL, m->len, prot, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return qerr_set(err, "%s: mmap failed: %s", path, strerror(errno));
    m->data = p;
    return 0;
}

void qmap_close(QMap *m) {
    if (m->data) munmap(m->data, m->len);
    m->data = NULL;
    m->len = 0;
}

void qmap_release(const void *p, size_t n) {
    if (!p || !n) return;
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p, b = a + n;
    a -= a % (uintptr_t)pg; /* whole pages: a neighbour sharing the edge page is re-read if needed */
    madvise((void *)a, b - a, MADV_DONTNEED);
}

void qmap_prefault(const void *p, size_t n) {
#ifdef MADV_POPULATE_READ
    if (!p || !n) return;
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p, b = a + n;
    a -= a % (uintptr_t)pg;
    madvise((void *)a, b - a, MADV_POPULATE_READ); /* best effort: older kernels refuse it, faults then do the work */
#else
    (void)p;
    (void)n;
#endif
}

int qwriter_open(QWriter *w, const char *path, QErr *err) {
    memset(w, 0, sizeof *w);
    size_t n = strlen(path) + 32;
    w->path = xstrdup(path);
    w->tmp = xmalloc(n);
    snprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        int e = errno;
        free(w->path);
        free(w->tmp);
        memset(w, 0, sizeof *w);
        return qerr_set(err, "%s: cannot create: %s", path, strerror(e));
    }
    return 0;
}

int qwriter_write(QWriter *w, const void *buf, size_t n, QErr *err) {
    if (w->failed) return -1;
    if (n && fwrite(buf, 1, n, w->f) != n) {
        w->failed = 1;
        return qerr_set(err, "%s: write failed: %s", w->path, strerror(errno));
    }
    return 0;
}

int qwriter_commit(QWriter *w, QErr *err) {
    if (!w->f) return qerr_set(err, "writer not open");
    int ok = !w->failed && fflush(w->f) == 0 && fsync(fileno(w->f)) == 0;
    ok = (fclose(w->f) == 0) && ok;
    w->f = NULL;
    if (!ok || rename(w->tmp, w->path) != 0) {
        int e = errno;
        unlink(w->tmp);
        qerr_set(err, "%s: cannot write: %s", w->path, strerror(e));
        free(w->path);
        free(w->tmp);
        w->path = w->tmp = NULL;
        return -1;
    }
    free(w->path);
    free(w->tmp);
    w->path = w->tmp = NULL;
    return 0;
}

void qwriter_abort(QWriter *w) {
    if (w->f) fclose(w->f);
    if (w->tmp) unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    memset(w, 0, sizeof *w);
}

int qmkdir_p(const char *dir, QErr *err) {
    char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            qerr_set(err, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        rc = qerr_set(err, "%s: cannot create directory: %s", p, strerror(errno));
    else if (!qpath_is_dir(p))
        rc = qerr_set(err, "%s: exists and is not a directory", p);
    free(p);
    return rc;
}

int qpath_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int qpath_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *quant_data_dir(void) {
    const char *d = getenv("QUANT_DATA_DIR");
    return (d && *d) ? d : "../shared/data";
}
