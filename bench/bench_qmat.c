/* bench_qmat.c — speed of the group-quantized linear kernels (kernels.h: kern_qmat_linear)
 * against fp32 BLAS on a TinyLlama FFN shape (N = 5632, K = 2048), decode (T = 1) and prompt
 * (T = 128), every block type and Q4_0 with zero-points ("q4_0+z"), every ISA the CPU has, the thread count of OMP_NUM_THREADS.
 * Not a test: prints a table; nothing here asserts a speed.  Each figure is the best of 7
 * trials (the machine is shared; interference only slows a run down).
 *
 *   build/bench/bench_qmat [N K] [cpu|wall] [decode|stream]   (cpu: CPU time / threads instead of
 *   wall time; decode: T = 1 only, e.g. N K large enough that the weights stream from memory;
 *   stream: T = 1 through enough N x K Q8_0, Q4_0, Q3, Q2 and affine Q4_0 matrices in turn (512 MB) that every call
 *   reads its weights from memory, as a model's decode step does)
 * GB/s counts the weight bytes read per call (decode is bound by them); GOP/s 2 N K T. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/core.h"
#include "quant/kernels.h"
#include "quant/qblock.h"

/* CPU seconds of the process (all threads): on a machine shared by many processes, time
 * spent descheduled does not count; divided by the thread count it estimates wall time on an
 * otherwise idle machine. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int use_cpu_time;
static char sb16_name[32]; /* "<best ISA> sb16" */

static double best_of(int trials, int reps, void (*fn)(void *), void *arg) {
    double best = 1e30;
    for (int t = 0; t < trials; t++) {
        double t0 = use_cpu_time ? cpu_now() : qtime_now();
        for (int r = 0; r < reps; r++) fn(arg);
        double dt = ((use_cpu_time ? cpu_now() : qtime_now()) - t0) / reps;
        if (use_cpu_time) dt /= qthreads_get();
        if (dt < best) best = dt;
    }
    return best;
}

typedef struct Call {
    KernQMat *W;
    KernQAct *xa;
    const float *X, *Wf;
    float *Y;
    int T;
    KernIsa isa;
} Call;

static void run_q(void *a) {
    Call *c = a;
    kern_qact_quantize(c->xa, c->X, c->T, c->W->K);
    kern_qmat_linear(c->W, c->xa, NULL, c->Y, c->isa);
}

static void run_f(void *a) {
    Call *c = a;
    kern_linear_f32(c->T, c->W->N, c->W->K, c->X, c->Wf, NULL, c->Y);
}

/* Decode through ~512 MB of N x K matrices of each type, one call per matrix in turn. */
static int stream_mode(int N, int K) {
    int nb = (int)qblock_count(K);
    QRng r;
    qrng_seed(&r, 1);
    float *X = xmalloc((size_t)K * 4), *Y = xmalloc((size_t)N * 4);
    for (int i = 0; i < K; i++) X[i] = qrng_normal(&r);
    KernQAct xa;
    kern_qact_init(&xa, 1, K);
    printf("N %d K %d, %d threads, weights streamed from memory\n%-8s %-12s %10s %9s %9s %9s\n", N, K, qthreads_get(), "type",
           "isa", "ms/call", "GB/s", "read GB/s", "of read");
    for (int vt = 0; vt < 5; vt++) { /* Q8_0, Q4_0, Q3, Q2, Q4_0 with zero-points */
        const int type = vt == 4 ? KERN_Q4_0 : vt, affine = vt == 4;
        size_t bs = kern_qtype_block_bytes((KernQType)type), zbytes = affine ? (size_t)N * nb : 0, bytes = (size_t)N * nb * bs;
        int mats = (int)((512u << 20) / (bytes + zbytes)) + 1;
        uint8_t *blocks = xmalloc(bytes * mats);
        int8_t *zero = affine ? xmalloc(zbytes * mats) : NULL;
        for (size_t i = 0; i < zbytes * mats; i++) zero[i] = (int8_t)(qrng_u32(&r) % 16) - 8;
        for (size_t i = 0; i < bytes * mats; i++) blocks[i] = (uint8_t)qrng_u32(&r);
        for (size_t i = 0; i < (size_t)N * nb * mats; i++) {
            uint16_t d = qf32_to_f16(0.01f);
            blocks[i * bs] = (uint8_t)d;
            blocks[i * bs + 1] = (uint8_t)(d >> 8);
        }
        /* the same matrices in the sb16 layout too, where the SIMD kernels read it */
        KernQMat shape = {(KernQType)type, N, K, nb, NULL, NULL, 1};
        const int sb16 = kern_qmat_sb16_wanted((KernQType)type, K, affine, kern_isa_best());
        const size_t rb = kern_qmat_row_bytes(&shape), sbytes = (size_t)N * rb;
        uint8_t *sblocks = sb16 ? xmalloc64(sbytes * mats) : NULL;
        for (int m = 0; sb16 && m < mats; m++)
            for (int n = 0; n < N; n++) kern_qmat_sb16_row((KernQType)type, nb, blocks + bytes * m + (size_t)n * nb * bs, sblocks + sbytes * m + (size_t)n * rb);
        /* the variants (each ISA, then sb16) take turns trial by trial, so that a drift of the
         * host's bandwidth reaches all of them alike; the read bandwidth is measured after each
         * round of turns and its best kept */
        const int nvar = (int)kern_isa_best() + sb16;
        double best[8], bw = 0;
        for (int v = 0; v < nvar; v++) best[v] = 1e30;
        for (int trial = 0; trial < 15; trial++) {
            for (int v = 0; v < nvar; v++) {
                const int isa = v + 1, lay = isa > (int)kern_isa_best(); /* the last: sb16 */
                double t0 = use_cpu_time ? cpu_now() : qtime_now();
                for (int m = 0; m < mats; m++) {
                    KernQMat W = {(KernQType)type, N, K, nb, lay ? sblocks + sbytes * m : blocks + bytes * m,
                                  zero ? zero + zbytes * m : NULL, lay};
                    kern_qact_quantize(&xa, X, 1, K);
                    kern_qmat_linear(&W, &xa, NULL, Y, lay ? kern_isa_best() : (KernIsa)isa);
                }
                double dt = ((use_cpu_time ? cpu_now() : qtime_now()) - t0) / mats;
                if (use_cpu_time) dt /= qthreads_get();
                if (dt < best[v]) best[v] = dt;
            }
            if (trial % 5 == 4) {
                double b = kern_read_bandwidth((size_t)1 << 30, qthreads_get(), 1);
                if (b > bw) bw = b;
            }
        }
        for (int v = 0; v < nvar; v++) {
            const int isa = v + 1, lay = isa > (int)kern_isa_best();
            const double read = (double)(bytes + zbytes);
            printf("%-8s %-12s %10.3f %9.2f %9.2f %8.0f%%\n", affine ? "q4_0+z" : kern_qtype_name((KernQType)type),
                   lay ? sb16_name : kern_isa_name((KernIsa)isa), best[v] * 1e3, read / best[v] / 1e9, bw / 1e9,
                   100 * read / best[v] / bw);
        }
        free(blocks);
        free(sblocks);
        free(zero);
    }
    kern_qact_free(&xa);
    free(X);
    free(Y);
    return 0;
}

int main(int argc, char **argv) {
    int N = argc > 2 ? atoi(argv[1]) : 5632, K = argc > 2 ? atoi(argv[2]) : 2048;
    use_cpu_time = argc > 3 && strcmp(argv[3], "cpu") == 0;
    snprintf(sb16_name, sizeof sb16_name, "%s sb16", kern_isa_name(kern_isa_best()));
    if (argc > 4 && strcmp(argv[4], "stream") == 0) return stream_mode(N, K);
    int maxT = argc > 4 && strcmp(argv[4], "decode") == 0 ? 1 : 128;
    QRng r;
    qrng_seed(&r, 1);
    int nb = (int)qblock_count(K);
    float *X = xmalloc((size_t)128 * K * 4), *Y = xmalloc((size_t)128 * N * 4), *Wf = xmalloc((size_t)N * K * 4);
    for (int i = 0; i < 128 * K; i++) X[i] = qrng_normal(&r);
    for (size_t i = 0; i < (size_t)N * K; i++) Wf[i] = 0.02f * qrng_normal(&r);
    KernQAct xa;
    kern_qact_init(&xa, 128, K);
    printf("N %d K %d, %d threads\n%-8s %-12s %5s %10s %9s %9s\n", N, K, qthreads_get(), "type", "isa", "T", "ms/call", "GB/s", "GOP/s");
    for (int T = 1; T <= maxT; T *= 128) {
        Call c = {&(KernQMat){KERN_Q4_0, N, K, nb, NULL, NULL, 0}, &xa, X, Wf, Y, T, KERN_ISA_SCALAR};
        double dt = best_of(7, T == 1 ? 20 : 2, run_f, &c);
        printf("%-8s %-12s %5d %10.3f %9.2f %9.1f\n", "f32", "blas", T, dt * 1e3, 4.0 * N * K / dt / 1e9, 2.0 * N * K * T / dt / 1e9);
        for (int v = 0; v < 5; v++) { /* Q8_0, Q4_0, Q3, Q2, then Q4_0 with zero-points (an affine grid) */
            const int type = v == 4 ? KERN_Q4_0 : v, affine = v == 4;
            size_t bs = kern_qtype_block_bytes((KernQType)type), bytes = (size_t)N * nb * (bs + affine);
            uint8_t *blocks = xmalloc(bytes);
            for (size_t i = 0; i < bytes; i++) blocks[i] = (uint8_t)qrng_u32(&r);
            for (size_t i = 0; i < (size_t)N * nb; i++) { /* sane f16 scales */
                uint16_t d = qf32_to_f16(0.01f);
                blocks[i * bs] = (uint8_t)d;
                blocks[i * bs + 1] = (uint8_t)(d >> 8);
            }
            int8_t *zero = affine ? xmalloc((size_t)N * nb) : NULL;
            for (size_t i = 0; affine && i < (size_t)N * nb; i++) zero[i] = (int8_t)(qrng_u32(&r) % 16) - 8;
            KernQMat W = {(KernQType)type, N, K, nb, blocks, zero, 0}, S = W;
            /* the last row: the sb16 layout, where the SIMD kernels read it */
            const int sb16 = kern_qmat_sb16_wanted((KernQType)type, K, affine, kern_isa_best());
            S.sb16 = 1;
            uint8_t *sblocks = sb16 ? xmalloc64((size_t)N * kern_qmat_row_bytes(&S)) : NULL;
            for (int n = 0; sb16 && n < N; n++)
                kern_qmat_sb16_row((KernQType)type, nb, blocks + (size_t)n * nb * bs, sblocks + (size_t)n * kern_qmat_row_bytes(&S));
            S.blocks = sblocks;
            for (int isa = 0; isa <= (int)kern_isa_best() + sb16; isa++) {
                if (isa == 0 && T > 1) continue; /* the scalar reference is slow on prompts */
                const int lay = isa > (int)kern_isa_best();
                Call q = {lay ? &S : &W, &xa, X, Wf, Y, T, lay ? kern_isa_best() : (KernIsa)isa};
                dt = best_of(7, T == 1 ? 20 : 2, run_q, &q);
                printf("%-8s %-12s %5d %10.3f %9.2f %9.1f\n", affine ? "q4_0+z" : kern_qtype_name((KernQType)type),
                       lay ? sb16_name : kern_isa_name((KernIsa)isa), T, dt * 1e3, (double)bytes / dt / 1e9,
                       2.0 * N * K * T / dt / 1e9);
            }
            free(blocks);
            free(sblocks);
            free(zero);
        }
    }
    kern_qact_free(&xa);
    free(X);
    free(Y);
    free(Wf);
    return 0;
}
