/* error.c — QErr messages and checked allocation. */
#include "quant/core.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* An error is one line, even when it quotes a file's own strings (a tensor name with a newline
 * in it): control characters become '?'. */
static void one_line(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

int qerr_set(QErr *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    one_line(err->msg);
    return -1;
}

int qerr_prefix(QErr *err, const char *fmt, ...) {
    if (!err) return -1;
    char head[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t h = strlen(head);
    if (h > sizeof err->msg - 3) h = sizeof err->msg - 3;
    memcpy(err->msg, head, h);
    memcpy(err->msg + h, ": ", 2);
    size_t rest = sizeof err->msg - h - 3, o = strlen(old);
    if (o > rest) o = rest;
    memcpy(err->msg + h + 2, old, o);
    err->msg[h + 2 + o] = 0;
    one_line(err->msg);
    return -1;
}

static void oom(size_t n, const char *file, int line) {
    fprintf(stderr, "quant: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

/* Big buffers (GPTQ's Hessians and working copies, calibration activations: 0.1-1 GB each) ask
 * for transparent huge pages where the kernel gives them on request (THP "madvise" mode): a
 * first touch then faults in 2 MB instead of 4 KB, and the GEMMs and transposes over them miss
 * the TLB less.  Only the 2 MB-aligned interior of the block is advised. */
enum { HUGE_MIN = 64 << 20, HUGE_PAGE = 2 << 20 };
static void advise_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
    if (n < HUGE_MIN) return;
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1), e = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE); /* advice only: a refusal changes nothing */
#else
    (void)p;
    (void)n;
#endif
}

void *xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n, file, line);
    advise_huge(p, n);
    return p;
}

void *xmalloc64_at(size_t n, const char *file, int line) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1) != 0) oom(n, file, line);
    advise_huge(p, n);
    return p;
}

void *xcalloc_at(size_t count, size_t size, const char *file, int line) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size, file, line);
    return p;
}

void *xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n, file, line);
    return q;
}

char *xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}
