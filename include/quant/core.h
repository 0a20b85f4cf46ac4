/* core.h — errors, checked allocation, files (read, mmap, atomic write), rng, time,
 * progress, tables and JSON output.  Everything above src/core uses these.
 *
 * Error convention: a library function that can fail on bad input returns int
 * (0 = ok, -1 = failed) and takes a QErr* as its last argument, which it fills
 * with one line that names the file / tensor / offset and what was expected.
 * Library code never exits on bad input; the CLI prints "quant: error: <msg>".
 * Out-of-memory is not bad input: xmalloc() reports file:line and aborts. */
#ifndef QUANT_CORE_H
#define QUANT_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- errors */
typedef struct QErr {
    char msg[1024];
} QErr;

/* Sets err->msg (printf-style) and returns -1, so callers can write
 * `return qerr_set(err, "%s: truncated at byte %zu", path, off);`.  err may be NULL. */
int qerr_set(QErr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes an existing message: "context: old message". Returns -1. */
int qerr_prefix(QErr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------ checked allocation */
void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t count, size_t size, const char *file, int line);
void *xrealloc_at(void *p, size_t n, const char *file, int line);
char *xstrdup_at(const char *s, const char *file, int line);
/* n bytes at an address that is a multiple of 64 (a cache line), released with free(): a
 * kernel's 64-byte loads from it never straddle two lines. */
void *xmalloc64_at(size_t n, const char *file, int line);
#define xmalloc64(n)     xmalloc64_at((n), __FILE__, __LINE__)
#define xmalloc(n)       xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(c, s)    xcalloc_at((c), (s), __FILE__, __LINE__)
#define xrealloc(p, n)   xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s)       xstrdup_at((s), __FILE__, __LINE__)

/* ------------------------------------------------------------------ files */
/* Reads a whole file into a fresh buffer (NUL-terminated one byte past len). */
int qfile_read_all(const char *path, uint8_t **data, size_t *len, QErr *err);

/* A read-only (or private copy-on-write) memory map of a whole file. */
typedef struct QMap {
    uint8_t *data;
    size_t len;
} QMap;
int  qmap_open(QMap *m, const char *path, int writable_private, QErr *err);
void qmap_close(QMap *m);
/* Drops the pages of [p, p + n) (inside a read-only or private file map) from this process:
 * read again from the file if touched again.  Streamed reads call it on what they are done
 * with, so resident memory follows the block being worked on, not the bytes read so far. */
void qmap_release(const void *p, size_t n);
/* Maps in the pages of [p, p + n) in one call (MADV_POPULATE_READ) before a pass reads them. */
void qmap_prefault(const void *p, size_t n);

/* Atomic writer: writes go to "<path>.tmp.<pid>", commit fsyncs and renames it over
 * <path>; abort (or a failed write) removes the temporary, so no partial output is
 * ever left under the final name. */
typedef struct QWriter {
    FILE *f;
    char *path;
    char *tmp;
    int failed;
    struct QWriterDirect *d; /* qwriter_open_direct's state (file.c), or NULL */
} QWriter;
int  qwriter_open(QWriter *w, const char *path, QErr *err);
/* The same for a big file written once (a quantized model): where the filesystem allows it
 * (not tmpfs), the bytes go to the disk directly (O_DIRECT) from aligned staging buffers, a
 * background thread writing one while the caller fills the other, instead of being copied into
 * the page cache and flushed again at commit; otherwise exactly qwriter_open.  The same bytes
 * either way.  One caller thread at a time, as for qwriter_open. */
int  qwriter_open_direct(QWriter *w, const char *path, QErr *err);
int  qwriter_write(QWriter *w, const void *buf, size_t n, QErr *err);
int  qwriter_commit(QWriter *w, QErr *err);
void qwriter_abort(QWriter *w);
/* mkdir -p */
int  qmkdir_p(const char *dir, QErr *err);
int  qpath_exists(const char *path);
int  qpath_is_dir(const char *path);

/* Where the shared test/dev data lives: $QUANT_DATA_DIR, else "../shared/data". */
const char *quant_data_dir(void);

/* -------------------------------------------------------------------- rng */
/* PCG-style 64-bit generator; one per consumer, seeded explicitly (no global state). */
typedef struct QRng {
    uint64_t state;
} QRng;
void     qrng_seed(QRng *r, uint64_t seed);
uint32_t qrng_u32(QRng *r);
uint64_t qrng_u64(QRng *r);
float    qrng_uniform(QRng *r);              /* [0, 1) */
float    qrng_normal(QRng *r);               /* N(0, 1), Box-Muller */
uint32_t qrng_below(QRng *r, uint32_t n);    /* uniform in [0, n) */
void     qrng_shuffle_i32(QRng *r, int32_t *a, int64_t n);

/* ------------------------------------------------------- time, threads, rss */
double  qtime_now(void);        /* seconds, monotonic */
double  qmedian(double *v, int n); /* median of v[0..n) (sorts v in place; the mean of the middle two when n is even) */
int     qthreads_get(void);
void    qthreads_set(int n);    /* OpenMP and OpenBLAS thread counts together */
/* Sets OpenBLAS's own thread count and returns the previous one: work that is parallel
 * across independent items (windows, samples) runs BLAS single-threaded inside. */
int     qblas_threads_swap(int n);
int64_t qpeak_rss_bytes(void);  /* VmHWM from /proc/self/status, -1 if unknown */
int64_t qmem_available_bytes(void);  /* MemAvailable from /proc/meminfo, -1 if unknown */

/* --------------------------------------------------------------- progress */
/* Progress of a long job on stderr.  On a terminal: one updating line with a bar and the ETA
 * once the fraction done is known (qprogress_frac).  Otherwise (logs, CI): a plain line at
 * most every QPROGRESS_LOG_SECONDS, so a long run shows where it is without flooding the log.
 * Lines that must always be seen (per-epoch summaries) use qlog(). */
#define QPROGRESS_LOG_SECONDS 10.0
typedef struct QProgress {
    int tty;
    int active;
    double t0;
    double frac;        /* fraction done in [0, 1], < 0 while unknown */
    double last_log;    /* time of the last plain line (not a terminal) */
} QProgress;
void qprogress_init(QProgress *p);
/* Sets the fraction done (0..1) that the next update shows as a bar and an ETA. */
void qprogress_frac(QProgress *p, double frac);
void qprogress_update(QProgress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void qprogress_done(QProgress *p);
/* "1h02m", "3m05s", "12.3s": a duration for progress lines. */
void qprogress_fmt_seconds(double s, char *buf, size_t n);
void qlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* stderr, one line */

/* ----------------------------------------------------------------- tables */
/* Readable aligned table on a stream: columns set once, then rows of cells. */
typedef struct QTable {
    int ncols, nrows, cap;
    char **cells;   /* (nrows + 1) * ncols; row 0 is the header */
    int *right;     /* per column: right-align (numbers) */
    int next_col;   /* qtable_cell's position in the current row */
} QTable;
void qtable_init(QTable *t, int ncols, const char *const *headers);
void qtable_align_right(QTable *t, int col, int right);
void qtable_add_row(QTable *t, const char *const *cells);
/* Row by row: qtable_new_row(), then one qtable_cell() per column, left to right. */
void qtable_new_row(QTable *t);
void qtable_cell(QTable *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void qtable_print(const QTable *t, FILE *f);
void qtable_free(QTable *t);

/* ------------------------------------------------------------------- json */
struct cJSON;
/* Writes a cJSON tree to path atomically (pretty-printed). */
int qjson_write_file(const char *path, const struct cJSON *root, QErr *err);

/* --------------------------------------------------------------- training */
/* The learning rate of 0-based step t of total, decayed from lr to 0 along a half cosine:
 * lr (1 + cos(pi t / total)) / 2; lr itself when total <= 0. */
float q_cosine_lr(float lr, int64_t t, int64_t total);

/* -------------------------------------------------------------- half floats */
float    qf16_to_f32(uint16_t h);
uint16_t qf32_to_f16(float f);
float    qbf16_to_f32(uint16_t h);
uint16_t qf32_to_bf16(float f);   /* round to nearest even */

/* exp(x) for float, inline and branch-free so loops over it vectorize (libm's expf is a call
 * per element, and the attention softmax makes T^2 of them per head).  exp(x) = 2^n 2^f with
 * n = round(x log2 e), |f| <= 1/2, 2^f by its degree-6 Taylor polynomial: relative error
 * about 2e-7 (a few ulp).  x is clamped to [-87.3, 88]: below, the result is the smallest
 * normal float instead of a subnormal or 0 (harmless next to a softmax's 1), above, exp(88);
 * NaN is treated as below (a NaN -> int conversion is undefined behaviour). */
static inline float q_expf(float x) {
    x = x > -87.3f ? x : -87.3f; /* NaN (inf - inf from overflowing finite weights) lands here too */
    x = x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504089f;
    float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest */
    float f = t - n;
    float p = 1.5403530e-4f;
    p = p * f + 1.3333558e-3f;
    p = p * f + 9.6181291e-3f;
    p = p * f + 5.5504109e-2f;
    p = p * f + 2.4022651e-1f;
    p = p * f + 6.9314718e-1f;
    p = p * f + 1.0f;
    union {
        int32_t i;
        float f;
    } sc = {.i = ((int32_t)n + 127) * (1 << 23)};
    return p * sc.f;
}

/* In-place softmax of a[0..n), n >= 1: the attention's inner loop.  The max and the sum are
 * kept in 8 independent lanes: a plain reduction loop over floats is serial (the compiler may
 * not reassociate the adds), and an `omp simd reduction` keeps its accumulator in memory. */
static inline void q_softmax_f32(float *a, int n) {
    float m8[8], s8[8] = {0};
    for (int k = 0; k < 8; k++) m8[k] = a[0];
    int j = 0;
    for (; j + 8 <= n; j += 8)
#pragma omp simd
        for (int k = 0; k < 8; k++) m8[k] = a[j + k] > m8[k] ? a[j + k] : m8[k]; /* not fmaxf: a libm call */
    float mx = m8[0];
    for (int k = 1; k < 8; k++) mx = m8[k] > mx ? m8[k] : mx;
    for (; j < n; j++) mx = a[j] > mx ? a[j] : mx;
    for (j = 0; j + 8 <= n; j += 8)
#pragma omp simd
        for (int k = 0; k < 8; k++) s8[k] += (a[j + k] = q_expf(a[j + k] - mx));
    float sum = 0;
    for (; j < n; j++) sum += (a[j] = q_expf(a[j] - mx));
    for (int k = 0; k < 8; k++) sum += s8[k];
    const float inv = 1.0f / sum;
#pragma omp simd
    for (j = 0; j < n; j++) a[j] *= inv;
}

/* sum_j a[j] b[j], in 8 lanes (see q_softmax_f32) */
static inline float q_dot_f32(const float *a, const float *b, int n) {
    float s8[8] = {0}, s = 0;
    int j = 0;
    for (; j + 8 <= n; j += 8)
#pragma omp simd
        for (int k = 0; k < 8; k++) s8[k] += a[j + k] * b[j + k];
    for (; j < n; j++) s += a[j] * b[j];
    for (int k = 0; k < 8; k++) s += s8[k];
    return s;
}

#endif
