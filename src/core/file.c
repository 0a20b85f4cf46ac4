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

enum { QWRITER_ALIGN = 4096, QWRITER_STAGE = 8 << 20 }; /* direct I/O: offsets, lengths, addresses */

int qwriter_open_direct(QWriter *w, const char *path, QErr *err) {
    if (qwriter_open(w, path, err)) return -1;
#ifdef O_DIRECT
    int fd = open(w->tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
    void *st = NULL;
    if (fd < 0) return 0; /* no direct I/O here (tmpfs): buffered */
    if (posix_memalign(&st, QWRITER_ALIGN, QWRITER_STAGE)) {
        close(fd);
        return 0;
    }
    w->dfd = fd;
    w->stage = st;
#endif
    return 0;
}

/* The first n bytes of the stage (n a multiple of QWRITER_ALIGN) to the file.  A filesystem that
 * opened O_DIRECT but refuses the write (EINVAL: another alignment) gets it buffered. */
static int stage_flush(QWriter *w, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(w->dfd, w->stage + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EINVAL) {
            int fl = fcntl(w->dfd, F_GETFL);
            if (fl >= 0 && (fl & O_DIRECT) && fcntl(w->dfd, F_SETFL, fl & ~O_DIRECT) == 0) continue;
        }
        if (k <= 0) return -1;
        done += (size_t)k;
    }
    return 0;
}

int qwriter_write(QWriter *w, const void *buf, size_t n, QErr *err) {
    if (w->failed) return -1;
    if (w->stage) {
        const uint8_t *p = buf;
        while (n) {
            size_t k = QWRITER_STAGE - w->nstage < n ? QWRITER_STAGE - w->nstage : n;
            memcpy(w->stage + w->nstage, p, k);
            w->nstage += k;
            w->written += (int64_t)k;
            p += k;
            n -= k;
            if (w->nstage == QWRITER_STAGE) {
                if (stage_flush(w, QWRITER_STAGE)) {
                    w->failed = 1;
                    return qerr_set(err, "%s: write failed: %s", w->path, strerror(errno));
                }
                w->nstage = 0;
            }
        }
        return 0;
    }
    if (n && fwrite(buf, 1, n, w->f) != n) {
        w->failed = 1;
        return qerr_set(err, "%s: write failed: %s", w->path, strerror(errno));
    }
    return 0;
}

/* Direct I/O's end: the last partial block written padded with zeros, the padding cut off again. */
static int stage_finish(QWriter *w) {
    size_t n = (w->nstage + QWRITER_ALIGN - 1) / QWRITER_ALIGN * QWRITER_ALIGN;
    memset(w->stage + w->nstage, 0, n - w->nstage);
    int ok = !w->failed && stage_flush(w, n) == 0 && ftruncate(w->dfd, (off_t)w->written) == 0 && fsync(w->dfd) == 0;
    ok = close(w->dfd) == 0 && ok;
    free(w->stage);
    w->stage = NULL;
    return ok;
}

int qwriter_commit(QWriter *w, QErr *err) {
    if (!w->f) return qerr_set(err, "writer not open");
    int ok = w->stage ? stage_finish(w) : !w->failed && fflush(w->f) == 0 && fsync(fileno(w->f)) == 0;
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
    if (w->stage) {
        close(w->dfd);
        free(w->stage);
    }
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
