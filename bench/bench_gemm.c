/* bench_gemm.c — quant's fp32 GEMM against OpenBLAS on the products ptq-llm runs on a
 * TinyLlama-1.1B-shaped model (dim 2048, ffn 5632, vocab 32000, windows of 256 tokens).
 * Not a test: prints a table; nothing here asserts a speed.
 *
 *   build/bench/bench_gemm [--rounds R] [--threads T] [--cores SkylakeX,Cooperlake] [--quick | --decode]
 *
 * OpenBLAS picks its kernels once, when the library loads, so each other core type runs in a
 * child process (this binary again, with OPENBLAS_CORETYPE set for the child only; the
 * environment's own core, whatever it is, runs in this process).  Rounds alternate: every
 * round times each shape with quant's kernels and with OpenBLAS here, then once in each child.
 * A figure is the median over rounds of the best of a few calls (the machine is shared;
 * interference only slows a call down).  GFLOP/s = 2 M N K / time.  The peak estimate is
 * 24 independent chains of 512-bit (or 256-bit) FMAs on one thread. */
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quant/core.h"
#include "quant/kernels.h"

typedef struct Shape {
    const char *name;
    int ta, tb, M, N, K;
} Shape;

static const Shape SHAPES[] = {
    {"sgemm 1024^3 (reference)", 0, 0, 1024, 1024, 1024},
    {"window q/k/v/o 256x2048x2048", 0, 1, 256, 2048, 2048},
    {"window ffn up 256x5632x2048", 0, 1, 256, 5632, 2048},
    {"window ffn down 256x2048x5632", 0, 1, 256, 2048, 5632},
    {"window head 256x32000x2048", 0, 1, 256, 32000, 2048},
    {"decode q/k/v/o 1x2048x2048 (sgemv)", 0, 1, 1, 2048, 2048},
    {"decode ffn up 1x5632x2048 (sgemv)", 0, 1, 1, 5632, 2048},
    {"decode head 1x32000x2048 (sgemv)", 0, 1, 1, 32000, 2048},
    {"4 rows q/k/v/o 4x2048x2048", 0, 1, 4, 2048, 2048},
    {"gptq update 1920x2048x128 (T,N)", 1, 0, 1920, 2048, 128},
    {"tune dW 2048x2048x256 (T,N)", 1, 0, 2048, 2048, 256},
    {"tune dX 256x2048x2048 (N,N)", 0, 0, 256, 2048, 2048},
};
enum { NSHAPES = sizeof SHAPES / sizeof *SHAPES, MAX_CORES = 4 };

/* --quick leaves out the 32000-row head window; --decode keeps only the M <= 4 shapes */
static int skipped(const Shape *p, int quick) { return (quick == 1 && p->N == 32000 && p->M > 1) || (quick == 2 && p->M > 4); }

typedef struct Bufs {
    float *A, *B, *C;
} Bufs;

static void bufs_init(Bufs *b, int quick) {
    size_t amax = 0, bmax = 0, cmax = 0;
    for (int s = 0; s < NSHAPES; s++) {
        const Shape *p = &SHAPES[s];
        if (skipped(p, quick)) continue;
        if ((size_t)p->M * p->K > amax) amax = (size_t)p->M * p->K;
        if ((size_t)p->N * p->K > bmax) bmax = (size_t)p->N * p->K;
        if ((size_t)p->M * p->N > cmax) cmax = (size_t)p->M * p->N;
    }
    QRng rng;
    qrng_seed(&rng, 17);
    b->A = xmalloc(amax * sizeof(float));
    b->B = xmalloc(bmax * sizeof(float));
    b->C = xmalloc(cmax * sizeof(float));
    for (size_t i = 0; i < amax; i++) b->A[i] = qrng_uniform(&rng) - 0.5f;
    for (size_t i = 0; i < bmax; i++) b->B[i] = (qrng_uniform(&rng) - 0.5f) * 0.05f;
    memset(b->C, 0, cmax * sizeof(float));
}

/* Seconds of this thread's CPU time at 1 thread (the machine is shared: a time slice given to
 * another process is not ours), wall seconds otherwise. */
static int g_cpu_clock;
static double now(void) {
    if (!g_cpu_clock) return qtime_now();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* best of `calls` calls (at least 3, at least ~0.2 s in all) of one product, seconds */
static double time_shape(const Shape *p, const Bufs *b, int ours) {
    double best = 1e30, spent = 0;
    for (int c = 0; c < 3 || (spent < 0.2 && c < 20); c++) {
        double t0 = now();
        const int lda = p->ta ? p->M : p->K, ldb = p->tb ? p->K : p->N;
        if (ours)
            kern_sgemm(p->ta, p->tb, p->M, p->N, p->K, 1.0f, b->A, lda, b->B, ldb, 0.0f, b->C, p->N);
        else if (p->M == 1 && p->tb) /* what kern_linear_f32 calls on OpenBLAS for one row */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, p->N, p->K, 1.0f, b->B, ldb, b->A, 1, 0.0f, b->C, 1);
        else
            cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans, p->M,
                        p->N, p->K, 1.0f, b->A, lda, b->B, ldb, 0.0f, b->C, p->N);
        double t = now() - t0;
        spent += t;
        if (t < best) best = t;
    }
    return best;
}

__attribute__((target("avx512f"))) static double peak_avx512(void) {
    __m512 c[24], a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
    for (int i = 0; i < 24; i++) c[i] = _mm512_set1_ps((float)i);
    const long iters = 20000000;
    double t0 = now();
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) c[i] = _mm512_fmadd_ps(a, c[i], b);
    double t = now() - t0;
    float sink = 0;
    for (int i = 0; i < 24; i++) sink += _mm512_reduce_add_ps(c[i]);
    if (sink == 12345.0f) printf(" ");
    return 24.0 * 16 * 2 * iters / t;
}

__attribute__((target("avx2,fma"))) static double peak_avx2(void) {
    __m256 c[12], a = _mm256_set1_ps(1.0000001f), b = _mm256_set1_ps(0.9999999f);
    for (int i = 0; i < 12; i++) c[i] = _mm256_set1_ps((float)i);
    const long iters = 20000000;
    double t0 = now();
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) c[i] = _mm256_fmadd_ps(a, c[i], b);
    double t = now() - t0;
    float buf[8], sink = 0;
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(buf, c[i]);
        sink += buf[0];
    }
    if (sink == 12345.0f) printf(" ");
    return 12.0 * 8 * 2 * iters / t;
}

/* child: time every shape once with OpenBLAS at the core this process loaded, print "s t" lines */
static int run_child(int quick, int threads) {
    qthreads_set(threads);
    g_cpu_clock = threads == 1;
    Bufs b;
    bufs_init(&b, quick);
    printf("core %s\n", openblas_get_corename());
    for (int s = 0; s < NSHAPES; s++) {
        if (skipped(&SHAPES[s], quick)) continue;
        printf("%d %.9f\n", s, time_shape(&SHAPES[s], &b, 0));
    }
    return 0;
}

int main(int argc, char **argv) {
    int rounds = 5, threads = 1, quick = 0, child = 0;
    char cores_arg[128] = "SkylakeX,Cooperlake";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cores") && i + 1 < argc) snprintf(cores_arg, sizeof cores_arg, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--decode")) quick = 2;
        else if (!strcmp(argv[i], "--child")) child = 1;
        else {
            fprintf(stderr, "usage: %s [--rounds R] [--threads T] [--cores A,B|none] [--quick | --decode]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 1) rounds = 1;
    if (child) return run_child(quick, threads);

    char *cores[MAX_CORES];
    int ncores = 0;
    if (strcmp(cores_arg, "none") != 0)
        for (char *tok = strtok(cores_arg, ","); tok && ncores < MAX_CORES; tok = strtok(NULL, ",")) cores[ncores++] = tok;

    qthreads_set(threads);
    g_cpu_clock = threads == 1;
    const KernGemmChoice *ch = kern_gemm_choice();
    const char *envcore = getenv("OPENBLAS_CORETYPE");
    printf("fp32 GEMM: %s\n", ch->why);
    printf("times: %s\n", g_cpu_clock ? "CPU time of the calling thread (1 thread)" : "wall clock");
    printf("threads %d, rounds %d; OpenBLAS here: core %s (OPENBLAS_CORETYPE=%s)\n", threads, rounds, ch->blas_core,
           envcore ? envcore : "(unset)");
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        printf("peak estimate, 1 thread: AVX-512 FMA %.0f GFLOP/s\n", peak_avx512() * 1e-9);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        printf("peak estimate, 1 thread: AVX2 FMA %.0f GFLOP/s\n", peak_avx2() * 1e-9);
    fflush(stdout);

    /* ours always runs at the CPU's best ISA here, whatever AUTO would pick */
    kern_gemm_force(KERN_GEMM_QUANT, KERN_GEMM_AVX512);
    const char *ours_isa = kern_gemm_isa_name(kern_gemm_choice()->isa);
    Bufs b;
    bufs_init(&b, quick);
    static double t_ours[NSHAPES][64], t_blas[NSHAPES][64], t_core[MAX_CORES][NSHAPES][64];
    char core_seen[MAX_CORES][32] = {{0}};
    if (rounds > 64) rounds = 64;
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < NSHAPES; s++) {
            if (skipped(&SHAPES[s], quick)) continue;
            t_ours[s][r] = time_shape(&SHAPES[s], &b, 1);
            t_blas[s][r] = time_shape(&SHAPES[s], &b, 0);
        }
        for (int c = 0; c < ncores; c++) {
            char cmd[512];
            snprintf(cmd, sizeof cmd, "OPENBLAS_CORETYPE=%s /proc/%d/exe --child --threads %d%s", cores[c],
                     (int)getpid(), threads, quick == 2 ? " --decode" : quick ? " --quick" : "");
            FILE *p = popen(cmd, "r");
            if (!p) {
                fprintf(stderr, "bench_gemm: cannot run %s\n", cmd);
                return 1;
            }
            char line[256];
            while (fgets(line, sizeof line, p)) {
                int s;
                double t;
                if (sscanf(line, "core %31s", core_seen[c]) == 1) continue;
                if (sscanf(line, "%d %lf", &s, &t) == 2 && s >= 0 && s < NSHAPES) t_core[c][s][r] = t;
            }
            pclose(p);
        }
        fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
    }

    printf("\n%-34s %14s %14s", "product (M x N x K)", "quant", "OpenBLAS here");
    for (int c = 0; c < ncores; c++) printf(" %14s", core_seen[c][0] ? core_seen[c] : cores[c]);
    printf("   ratio quant / each (time ratio inverted: >1 = quant faster)\n");
    printf("%-34s %14s %14s", "", ours_isa, ch->blas_core);
    for (int c = 0; c < ncores; c++) printf(" %14s", "GFLOP/s");
    printf("\n");
    for (int s = 0; s < NSHAPES; s++) {
        const Shape *p = &SHAPES[s];
        if (skipped(p, quick)) continue;
        double flop = 2.0 * p->M * p->N * p->K;
        double to = qmedian(t_ours[s], rounds), tb = qmedian(t_blas[s], rounds);
        printf("%-34s %9.1f GF/s %9.1f GF/s", p->name, flop / to * 1e-9, flop / tb * 1e-9);
        double tc[MAX_CORES];
        for (int c = 0; c < ncores; c++) {
            tc[c] = qmedian(t_core[c][s], rounds);
            printf(" %9.1f GF/s", tc[c] > 0 ? flop / tc[c] * 1e-9 : 0.0);
        }
        printf("   x%.2f", tb / to);
        for (int c = 0; c < ncores; c++) printf(" x%.2f", tc[c] > 0 ? tc[c] / to : 0.0);
        printf("\n");
    }
    return 0;
}
