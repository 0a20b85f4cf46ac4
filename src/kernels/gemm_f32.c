/* gemm_f32.c — fp32 GEMM: which implementation runs (OpenBLAS or quant's), and quant's
 * cache-blocked driver around the per-ISA register-tile micro-kernels (kernels.h).
 *
 * Why our own: Debian's OpenBLAS picks its kernels once, at load time, from a CPU table that
 * may not know this CPU (it then runs SSE3 "Prescott" kernels), or from an OPENBLAS_CORETYPE
 * set by whoever launched us.  We read the core it chose and, when it is below the CPU's
 * vector ISA, run our kernels instead; the environment is never rewritten.
 *
 * The driver (the BLIS loop nest; MR x NR tile, KC, MC, NT, NC, MB below):
 *   for jc in N step NC                       B block [K, NC]
 *     for ic in M step MB                     A block [MB, K]
 *       for pc in K step KC                   (in order: the k sum of every C element)
 *         pack op(A)[ic:ic+MB, pc:pc+KC] as MR-row slivers [KC][MR]      (~L3)
 *         pack op(B)[pc:pc+KC, jc:jc+NC] as NR-column slivers [KC][NR]   (~L3)
 *         tiles of C, MC rows x NT columns, on the worker pool:
 *           for each NR sliver (in L1) for each MR sliver (the MC x KC block in L2): micro-kernel
 * Threads split C into tiles; every C element is summed by one micro-kernel call per KC
 * chunk, chunks in k order, so C does not depend on the thread count or on who ran a tile. */
#include <cblas.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "kernels_internal.h"
#include "quant/core.h"

enum {
    GEMM_KC = 256,  /* k depth of one packed panel: an NR sliver is 32 KB at NR = 32 (L1) */
    GEMM_NT = 256,  /* columns of C per tile */
    GEMM_NC = 4096, /* columns of the packed B block (4 MB) */
    GEMM_MB = 1536, /* rows of the packed A block (1.5 MB) */
};

typedef struct GemmIsaTab {
    KernGemmUkr ukr;
    KernGemmDots dots;
    void (*pack_bt)(const float *B, int ldb, int nr, int kc, float *dst); /* or NULL: the generic pack */
    int mr, nr, mc; /* mc: rows of C per tile, a multiple of mr; mc x KC floats fit L2 */
} GemmIsaTab;

static const GemmIsaTab gemm_tabs[3] = {
    {kern_sgemm_ukr_scalar, kern_sgemm_dots_scalar, NULL, KERN_GEMM_MR_SCALAR, KERN_GEMM_NR_SCALAR, 128},
    {kern_sgemm_ukr_avx2, kern_sgemm_dots_avx2, NULL, KERN_GEMM_MR_AVX2, KERN_GEMM_NR_AVX2, 144},
    {kern_sgemm_ukr_avx512, kern_sgemm_dots_avx512, kern_sgemm_pack_bt_avx512, KERN_GEMM_MR_AVX512, KERN_GEMM_NR_AVX512, 144},
};

/* ------------------------------------------------------------------ choice */

static int cpu_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
    if (__builtin_cpu_supports("avx")) return 1;
    return 0;
}

/* Vector ISA of OpenBLAS's x86-64 core names (0.3.x DYNAMIC_ARCH targets); -1 unknown. */
static int blas_core_level(const char *core) {
    static const char *const avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *const avx2[] = {"haswell", "zen", "excavator"};
    static const char *const avx[] = {"sandybridge", "bulldozer", "piledriver", "steamroller"};
    static const char *const sse[] = {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom",
                                      "opteron", "opteron_sse3", "barcelona", "nano", "bobcat", "katmai",
                                      "coppermine", "northwood", "banias", "athlon"};
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (strcasecmp(core, avx512[i]) == 0) return 3;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
        if (strcasecmp(core, avx2[i]) == 0) return 2;
    for (size_t i = 0; i < sizeof avx / sizeof *avx; i++)
        if (strcasecmp(core, avx[i]) == 0) return 1;
    for (size_t i = 0; i < sizeof sse / sizeof *sse; i++)
        if (strcasecmp(core, sse[i]) == 0) return 0;
    return -1;
}

static const char *level_name(int level) {
    static const char *const names[] = {"SSE", "AVX", "AVX2", "AVX-512"};
    return level >= 0 && level <= 3 ? names[level] : "unknown";
}

const char *kern_gemm_isa_name(KernGemmIsa isa) {
    switch (isa) {
        case KERN_GEMM_AVX2: return "avx2";
        case KERN_GEMM_AVX512: return "avx512";
        default: return "scalar";
    }
}

static KernGemmChoice g_choice;
/* resolved once, thread-safely: the first product may run inside an OpenMP team (a streamed
 * perplexity's windows), and a second thread reading the struct while another filled it took
 * another kernel for its product, ~1 run in 10 (stream.sh's rows differed in the 7th digit) */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* The best ISA of ours at most cap that this CPU runs (QUANT_ISA caps it further). */
static KernGemmIsa isa_capped(int level, KernGemmIsa cap) {
    const char *env = getenv("QUANT_ISA");
    if (env && strcmp(env, "scalar") == 0) cap = KERN_GEMM_SCALAR;
    if (env && strcmp(env, "avx2") == 0 && cap > KERN_GEMM_AVX2) cap = KERN_GEMM_AVX2;
    KernGemmIsa best = level >= 3 ? KERN_GEMM_AVX512 : level >= 2 ? KERN_GEMM_AVX2 : KERN_GEMM_SCALAR;
    return best < cap ? best : cap;
}

static void resolve(KernGemmImpl impl, KernGemmIsa cap, const char *forced_by) {
    KernGemmChoice *c = &g_choice;
    memset(c, 0, sizeof *c);
    const char *core = openblas_get_corename();
    snprintf(c->blas_core, sizeof c->blas_core, "%s", core ? core : "?");
    c->cpu_level = cpu_level();
    c->blas_level = blas_core_level(c->blas_core);
    c->isa = isa_capped(c->cpu_level, cap);
    const char *isa = kern_gemm_isa_name(c->isa);
    if (impl == KERN_GEMM_AUTO) {
        /* ours only where it has kernels at the CPU's level that OpenBLAS's core lacks */
        int ours = c->isa >= KERN_GEMM_AVX2 && c->blas_level < c->cpu_level;
        c->impl = ours ? KERN_GEMM_QUANT : KERN_GEMM_BLAS;
        if (ours && c->blas_level < 0)
            snprintf(c->why, sizeof c->why, "quant %s (OpenBLAS core %.31s unknown to quant, this CPU has %s)", isa,
                     c->blas_core, level_name(c->cpu_level));
        else if (ours)
            snprintf(c->why, sizeof c->why, "quant %s (OpenBLAS core %.31s below this CPU's %s)", isa, c->blas_core,
                     level_name(c->cpu_level));
        else if (c->isa >= KERN_GEMM_AVX2) {
            /* OpenBLAS's kernels match the CPU: its GEMM is the faster, but not on 2-4 rows
             * (bench_gemm --decode: quant's dots 2.0-2.7x its sgemm at every core) */
            c->decode_ours = 1;
            snprintf(c->why, sizeof c->why, "OpenBLAS (core %.31s, %s; this CPU %s), quant %s for 2-%d rows",
                     c->blas_core, level_name(c->blas_level), level_name(c->cpu_level), isa, KERN_GEMM_DOTS_MAX_M);
        } else
            snprintf(c->why, sizeof c->why, "OpenBLAS (core %.31s, %s; this CPU %s)", c->blas_core,
                     level_name(c->blas_level), level_name(c->cpu_level));
        /* one row against weights: OpenBLAS's sgemv from an AVX2 core up reads the weights
         * faster than quant's 4-row dots (bench_gemm --decode: 1.1-1.25x), and inside a W4
         * 1.1B decode the dots ran its classifier 0.77-0.82x as fast (docs/design.md, "One
         * pool").  On AVX-512, quant's one-row kernel (kern_gemv_rows_avx512: one stream)
         * reads the classifier's rows, now on cache lines, at 26-28 GB/s a core against
         * sgemv's 21-22 (linear_f32.c); both take linear_f32's tiles over the pool. */
        c->gemv_tiles = c->blas_level >= 2 || c->isa == KERN_GEMM_AVX512;
        c->gemv_ours = c->isa == KERN_GEMM_AVX512;
        if (c->gemv_tiles && c->impl == KERN_GEMM_QUANT) {
            size_t l = strlen(c->why);
            snprintf(c->why + l, sizeof c->why - l, c->gemv_ours ? "; one-row products on quant's avx512 rows"
                                                                 : "; one-row products on OpenBLAS's sgemv");
        }
    } else {
        c->impl = impl;
        c->gemv_tiles = impl == KERN_GEMM_BLAS;  /* forced: the one implementation throughout */
        if (impl == KERN_GEMM_QUANT)
            snprintf(c->why, sizeof c->why, "quant %s (%s)", isa, forced_by);
        else
            snprintf(c->why, sizeof c->why, "OpenBLAS (core %.31s, %s)", c->blas_core, forced_by);
    }
}

static void resolve_from_env(void) {
    const char *env = getenv("QUANT_GEMM");
    KernGemmImpl impl = KERN_GEMM_AUTO;
    if (env && strcmp(env, "blas") == 0) impl = KERN_GEMM_BLAS;
    if (env && strcmp(env, "quant") == 0) impl = KERN_GEMM_QUANT;
    resolve(impl, KERN_GEMM_AVX512, impl == KERN_GEMM_BLAS ? "QUANT_GEMM=blas" : "QUANT_GEMM=quant");
}

const KernGemmChoice *kern_gemm_choice(void) {
    pthread_once(&g_once, resolve_from_env);
    return &g_choice;
}

/* (tests and benchmarks, between products, on one thread) */
void kern_gemm_force(KernGemmImpl impl, KernGemmIsa isa) {
    pthread_once(&g_once, resolve_from_env);
    resolve(impl, isa, "forced");
}

/* ------------------------------------------------------------------ reference */

void kern_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
                double b = tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
                s += a * b;
            }
            float *c = &C[(size_t)m * ldc + n];
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

/* ------------------------------------------------------------------ scalar kernels */

void kern_sgemm_ukr_scalar(int kc, const float *Ap, const float *Bp, float *C, int ldc, float alpha, float beta,
                           int m, int n) {
    enum { MR = KERN_GEMM_MR_SCALAR, NR = KERN_GEMM_NR_SCALAR };
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += Ap[k * MR + i] * Bp[k * NR + j];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
        }
}

void kern_sgemm_dots_scalar(int M, int n0, int n1, int K, float alpha, const float *A, int lda, const float *B,
                            int ldb, float beta, float *C, int ldc) {
    for (int n = n0; n < n1; n++)
        for (int m = 0; m < M; m++) {
            float s = 0;
            const float *a = A + (size_t)m * lda, *b = B + (size_t)n * ldb;
            for (int k = 0; k < K; k++) s += a[k] * b[k];
            float *c = &C[(size_t)m * ldc + n];
            *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
        }
}

/* ------------------------------------------------------------------ driver */

typedef struct GemmJob {
    const GemmIsaTab *t;
    int ta, tb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
    /* the current blocks */
    int jc, nc, ic, mb, pc, kc;
    float beta_now; /* beta for the first k panel, 1 after */
    float *Ap, *Bp; /* packed slivers: [ceil(mb/MR)][kc][MR], [ceil(nc/NR)][kc][NR] */
    int a_slivers, b_slivers, pack_a_tiles, pack_b_tiles;
    int tiles_m, tiles_n;
} GemmJob;

enum { PACK_SLIVERS = 8 }; /* slivers per packing tile */

static void pack_a(const GemmJob *j, int s) {
    const int MR = j->t->mr, kc = j->kc, i0 = j->ic + s * MR;
    const int mr = j->ic + j->mb - i0 < MR ? j->ic + j->mb - i0 : MR;
    float *dst = j->Ap + (size_t)s * kc * MR;
    if (mr < MR) memset(dst, 0, (size_t)kc * MR * sizeof(float));
    if (!j->ta) /* A[m, k]: rows contiguous in k */
        for (int i = 0; i < mr; i++) {
            const float *src = j->A + (size_t)(i0 + i) * j->lda + j->pc;
            for (int k = 0; k < kc; k++) dst[k * MR + i] = src[k];
        }
    else /* A[k, m]: an MR run of m is contiguous */
        for (int k = 0; k < kc; k++) {
            const float *src = j->A + (size_t)(j->pc + k) * j->lda + i0;
            for (int i = 0; i < mr; i++) dst[k * MR + i] = src[i];
        }
}

static void pack_b(const GemmJob *j, int s) {
    const int NR = j->t->nr, kc = j->kc, j0 = j->jc + s * NR;
    const int nr = j->jc + j->nc - j0 < NR ? j->jc + j->nc - j0 : NR;
    float *dst = j->Bp + (size_t)s * kc * NR;
    if (j->tb && j->t->pack_bt) {
        j->t->pack_bt(j->B + (size_t)j0 * j->ldb + j->pc, j->ldb, nr, kc, dst);
        return;
    }
    if (nr < NR) memset(dst, 0, (size_t)kc * NR * sizeof(float));
    if (j->tb) /* B[n, k] (weights): rows contiguous in k */
        for (int c = 0; c < nr; c++) {
            const float *src = j->B + (size_t)(j0 + c) * j->ldb + j->pc;
            for (int k = 0; k < kc; k++) dst[k * NR + c] = src[k];
        }
    else /* B[k, n] */
        for (int k = 0; k < kc; k++) {
            const float *src = j->B + (size_t)(j->pc + k) * j->ldb + j0;
            for (int c = 0; c < nr; c++) dst[k * NR + c] = src[c];
        }
}

static void pack_tile(void *arg, int tile) {
    const GemmJob *j = arg;
    if (tile < j->pack_a_tiles) {
        int s1 = (tile + 1) * PACK_SLIVERS < j->a_slivers ? (tile + 1) * PACK_SLIVERS : j->a_slivers;
        for (int s = tile * PACK_SLIVERS; s < s1; s++) pack_a(j, s);
    } else {
        tile -= j->pack_a_tiles;
        int s1 = (tile + 1) * PACK_SLIVERS < j->b_slivers ? (tile + 1) * PACK_SLIVERS : j->b_slivers;
        for (int s = tile * PACK_SLIVERS; s < s1; s++) pack_b(j, s);
    }
}

static void compute_tile(void *arg, int tile) {
    const GemmJob *j = arg;
    const GemmIsaTab *t = j->t;
    const int MR = t->mr, NR = t->nr, kc = j->kc;
    const int tm = tile / j->tiles_n, tn = tile % j->tiles_n;
    const int r0 = tm * t->mc, r1 = r0 + t->mc < j->mb ? r0 + t->mc : j->mb;   /* rows within the A block */
    const int c0 = tn * GEMM_NT, c1 = c0 + GEMM_NT < j->nc ? c0 + GEMM_NT : j->nc; /* columns within the B block */
    for (int c = c0; c < c1; c += NR) {
        const float *bp = j->Bp + (size_t)(c / NR) * kc * NR;
        const int n = c1 - c < NR ? c1 - c : NR;
        for (int r = r0; r < r1; r += MR) {
            const float *ap = j->Ap + (size_t)(r / MR) * kc * MR;
            const int m = r1 - r < MR ? r1 - r : MR;
            float *cp = j->C + (size_t)(j->ic + r) * j->ldc + j->jc + c;
            t->ukr(kc, ap, bp, cp, j->ldc, j->alpha, j->beta_now, m, n);
        }
    }
}

typedef struct DotsJob {
    const GemmIsaTab *t;
    int M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} DotsJob;
enum { DOTS_ROWS = 64 }; /* weight rows per tile */

static void dots_tile(void *arg, int tile) {
    const DotsJob *d = arg;
    int n0 = tile * DOTS_ROWS, n1 = n0 + DOTS_ROWS < d->N ? n0 + DOTS_ROWS : d->N;
    d->t->dots(d->M, n0, n1, d->K, d->alpha, d->A, d->lda, d->B, d->ldb, d->beta, d->C, d->ldc);
}

static void quant_sgemm(const GemmIsaTab *t, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { /* C = beta C */
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                float *c = &C[(size_t)m * ldc + n];
                *c = beta == 0.0f ? 0.0f : beta * *c;
            }
        return;
    }
    if (!ta && tb && M <= KERN_GEMM_DOTS_MAX_M) {
        DotsJob d = {t, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
        int tiles = (N + DOTS_ROWS - 1) / DOTS_ROWS;
        kern_parallel_tiles(tiles, dots_tile, &d, (int64_t)M * N * K >= (1 << 18));
        return;
    }
    const int MR = t->mr, NR = t->nr;
    const int mbmax = M < GEMM_MB ? M : GEMM_MB, ncmax = N < GEMM_NC ? N : GEMM_NC, kcmax = K < GEMM_KC ? K : GEMM_KC;
    const size_t a_floats = (size_t)((mbmax + MR - 1) / MR) * MR * kcmax;
    const size_t b_floats = (size_t)((ncmax + NR - 1) / NR) * NR * kcmax;
    float *buf = kern_thread_scratch(KERN_SCRATCH_GEMM, (a_floats + b_floats) * sizeof(float)); /* packed A and B */
    GemmJob j = {.t = t, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = alpha, .beta = beta,
                 .A = A, .B = B, .C = C, .lda = lda, .ldb = ldb, .ldc = ldc, .Ap = buf, .Bp = buf + a_floats};
    for (j.jc = 0; j.jc < N; j.jc += GEMM_NC) {
        j.nc = N - j.jc < GEMM_NC ? N - j.jc : GEMM_NC;
        for (j.ic = 0; j.ic < M; j.ic += GEMM_MB) {
            j.mb = M - j.ic < GEMM_MB ? M - j.ic : GEMM_MB;
            j.a_slivers = (j.mb + MR - 1) / MR;
            j.b_slivers = (j.nc + NR - 1) / NR;
            j.pack_a_tiles = (j.a_slivers + PACK_SLIVERS - 1) / PACK_SLIVERS;
            j.pack_b_tiles = (j.b_slivers + PACK_SLIVERS - 1) / PACK_SLIVERS;
            j.tiles_m = (j.mb + t->mc - 1) / t->mc;
            j.tiles_n = (j.nc + GEMM_NT - 1) / GEMM_NT;
            for (j.pc = 0; j.pc < K; j.pc += GEMM_KC) {
                j.kc = K - j.pc < GEMM_KC ? K - j.pc : GEMM_KC;
                j.beta_now = j.pc == 0 ? beta : 1.0f;
                const int big = (int64_t)j.mb * j.nc * j.kc >= (1 << 20);
                kern_parallel_tiles(j.pack_a_tiles + j.pack_b_tiles, pack_tile, &j, big);
                kern_parallel_tiles(j.tiles_m * j.tiles_n, compute_tile, &j, big);
            }
        }
    }
}

void kern_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc) {
    const KernGemmChoice *c = kern_gemm_choice();
    if (c->impl == KERN_GEMM_QUANT || (c->decode_ours && !ta && tb && M <= KERN_GEMM_DOTS_MAX_M)) {
        quant_sgemm(&gemm_tabs[c->isa], ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                lda, B, ldb, beta, C, ldc);
}
