/* membw.c — the machine's read bandwidth, measured (kernels.h): the bound a decode step that
 * streams its weights once per token cannot beat. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels_internal.h"
#include "quant/core.h"

typedef struct Slice {
    const uint8_t *p;
    size_t n;
    uint64_t sink;
} Slice;

static void *reader(void *arg) {
    Slice *s = arg;
    s->sink = __builtin_cpu_supports("avx2") ? kern_read_sum_avx2(s->p, s->n) : kern_read_sum_scalar(s->p, s->n);
    return NULL;
}

uint64_t kern_read_sum_scalar(const uint8_t *p, size_t n) {
    const uint64_t *q = (const uint64_t *)p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= n / 8; i += 4) {
        a ^= q[i];
        b ^= q[i + 1];
        c ^= q[i + 2];
        d ^= q[i + 3];
    }
    return a ^ b ^ c ^ d;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct KernReadBuf {
    void *base;
    uint8_t *p;     /* 64-byte aligned start */
    size_t bytes;   /* a multiple of threads * 4096 */
    int threads;
};

KernReadBuf *kern_read_buf_new(size_t bytes, int threads) {
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    KernReadBuf *b = xmalloc(sizeof *b);
    b->threads = threads;
    b->bytes = bytes / (size_t)(threads * 4096) * (size_t)(threads * 4096);
    b->base = xmalloc(b->bytes + 64);
    b->p = (uint8_t *)(((uintptr_t)b->base + 63) & ~(uintptr_t)63);
    memset(b->p, 1, b->bytes);
    return b;
}

void kern_read_buf_free(KernReadBuf *b) {
    if (!b) return;
    free(b->base);
    free(b);
}

double kern_read_buf_bandwidth(const KernReadBuf *b, int reps) {
    const int threads = b->threads;
    double best = 0;
    uint64_t sink = 0;
    for (int r = 0; r < reps; r++) {
        pthread_t th[64];
        int started[64] = {0};
        Slice sl[64];
        size_t per = b->bytes / (size_t)threads;
        double t0 = now();
        for (int t = 0; t < threads; t++) sl[t] = (Slice){b->p + per * t, per, 0};
        for (int t = 1; t < threads; t++)
            if (!(started[t] = pthread_create(&th[t], NULL, reader, &sl[t]) == 0)) reader(&sl[t]);
        reader(&sl[0]);
        for (int t = 1; t < threads; t++)
            if (started[t]) pthread_join(th[t], NULL);
        double dt = now() - t0;
        for (int t = 0; t < threads; t++) sink ^= sl[t].sink;
        if (dt > 0 && b->bytes / dt > best) best = (double)b->bytes / dt;
    }
    return sink == 42 ? best * 1.0 : best; /* sink used: the reads are not optimised away */
}

double kern_read_bandwidth(size_t bytes, int threads, int reps) {
    KernReadBuf *b = kern_read_buf_new(bytes, threads);
    double bw = kern_read_buf_bandwidth(b, reps);
    kern_read_buf_free(b);
    return bw;
}
