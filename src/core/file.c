/* file.c — whole-file reads, memory maps, atomic writes, directories. */
#include "quant/core.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* ------------------------------------------------------------ direct writes */
enum { QWRITER_ALIGN = 4096, QWRITER_STAGE = 4 << 20 }; /* direct I/O: offsets, lengths, addresses */

struct QWriterDirect {
    int fd;             /* the temporary, opened O_DIRECT */
    uint8_t *buf[2];    /* [QWRITER_STAGE] each, aligned */
    int cur;            /* the buffer being filled */
    size_t n;           /* bytes in it */
    int64_t written;    /* bytes handed over (the file's final length) */
    int threaded;       /* 0: flushes happen in the caller (no thread could be started) */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int busy, busy_idx; /* buf[busy_idx] is being written by the thread */
    int quit, failed, err;
};

/* n bytes (a multiple of QWRITER_ALIGN) to the file.  A filesystem that opened O_DIRECT but
 * refuses the write (EINVAL: another alignment) gets it buffered. */
static int direct_write(struct QWriterDirect *d, const uint8_t *p, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(d->fd, p + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EINVAL) {
            int fl = fcntl(d->fd, F_GETFL);
            if (fl >= 0 && (fl & O_DIRECT) && fcntl(d->fd, F_SETFL, fl & ~O_DIRECT) == 0) continue;
        }
        if (k <= 0) return k < 0 ? errno : EIO;
        done += (size_t)k;
    }
    return 0;
}

static void *direct_thread(void *arg) {
    struct QWriterDirect *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->busy && !d->quit) pthread_cond_wait(&d->cv, &d->mu);
        if (!d->busy) break; /* quit, nothing pending */
        const int idx = d->busy_idx;
        pthread_mutex_unlock(&d->mu);
        int e = direct_write(d, d->buf[idx], QWRITER_STAGE);
        pthread_mutex_lock(&d->mu);
        if (e && !d->failed) d->failed = 1, d->err = e;
        d->busy = 0;
        pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* Waits for the thread's write (if any); its error, or 0. */
static int direct_wait(struct QWriterDirect *d) {
    if (!d->threaded) return d->failed ? d->err : 0;
    pthread_mutex_lock(&d->mu);
    while (d->busy) pthread_cond_wait(&d->cv, &d->mu);
    int e = d->failed ? d->err : 0;
    pthread_mutex_unlock(&d->mu);
    return e;
}

/* The full buffer handed to the thread (or written here), the other one filled next. */
static int direct_swap(struct QWriterDirect *d) {
    int e = direct_wait(d);
    if (e) return e;
    if (!d->threaded) {
        if ((e = direct_write(d, d->buf[d->cur], QWRITER_STAGE))) d->failed = 1, d->err = e;
        d->n = 0;
        return e;
    }
    pthread_mutex_lock(&d->mu);
    d->busy = 1;
    d->busy_idx = d->cur;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    d->cur ^= 1;
    d->n = 0;
    return 0;
}

/* The thread stopped, the file closed, everything freed; with finish, the last partial block
 * first written padded with zeros and the padding cut off again.  1 ok. */
static int direct_close(QWriter *w, int finish) {
    struct QWriterDirect *d = w->d;
    int e = direct_wait(d);
    if (d->threaded) {
        pthread_mutex_lock(&d->mu);
        d->quit = 1;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->th, NULL);
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
    }
    int ok = 0;
    if (finish && !e) {
        size_t n = (d->n + QWRITER_ALIGN - 1) / QWRITER_ALIGN * QWRITER_ALIGN;
        memset(d->buf[d->cur] + d->n, 0, n - d->n);
        e = direct_write(d, d->buf[d->cur], n);
        ok = !e && ftruncate(d->fd, (off_t)d->written) == 0 && fsync(d->fd) == 0;
        if (e) errno = e;
    }
    ok = close(d->fd) == 0 && ok;
    free(d->buf[0]);
    free(d->buf[1]);
    free(d);
    w->d = NULL;
    return ok;
}

int qwriter_open_direct(QWriter *w, const char *path, QErr *err) {
    if (qwriter_open(w, path, err)) return -1;
#ifdef O_DIRECT
    int fd = open(w->tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return 0; /* no direct I/O here (tmpfs): buffered */
    struct QWriterDirect *d = xcalloc(1, sizeof *d);
    d->fd = fd;
    void *b0 = NULL, *b1 = NULL;
    if (posix_memalign(&b0, QWRITER_ALIGN, QWRITER_STAGE) || posix_memalign(&b1, QWRITER_ALIGN, QWRITER_STAGE)) {
        free(b0);
        close(fd);
        free(d);
        return 0;
    }
    d->buf[0] = b0;
    d->buf[1] = b1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->threaded = pthread_create(&d->th, NULL, direct_thread, d) == 0;
    if (!d->threaded) {
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
    }
    w->d = d;
#endif
    return 0;
}

int qwriter_write(QWriter *w, const void *buf, size_t n, QErr *err) {
    if (w->failed) return -1;
    if (w->d) {
        struct QWriterDirect *d = w->d;
        const uint8_t *p = buf;
        while (n) {
            size_t k = QWRITER_STAGE - d->n < n ? QWRITER_STAGE - d->n : n;
            memcpy(d->buf[d->cur] + d->n, p, k);
            d->n += k;
            d->written += (int64_t)k;
            p += k;
            n -= k;
            int e = d->n == QWRITER_STAGE ? direct_swap(d) : 0;
            if (e) {
                w->failed = 1;
                return qerr_set(err, "%s: write failed: %s", w->path, strerror(e));
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

int qwriter_commit(QWriter *w, QErr *err) {
    if (!w->f) return qerr_set(err, "writer not open");
    int ok = w->d ? direct_close(w, !w->failed) && !w->failed : !w->failed && fflush(w->f) == 0 && fsync(fileno(w->f)) == 0;
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
    if (w->d) direct_close(w, 0);
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
