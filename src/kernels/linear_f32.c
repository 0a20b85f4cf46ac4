/* linear_f32.c — fp32 linear layer: Y = X W^T + b through kern_sgemm (OpenBLAS or quant's
 * kernels, gemm_f32.c). */
#include <cblas.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/core.h"

/* One row against the weights (decode's classifier): quant's AVX-512 rows or OpenBLAS's sgemv
 * (kern_gemm_choice) on tiles of GEMV_ROWS rows, single-threaded, the tiles over quant's pool.
 * Why not OpenBLAS's own threads: between two tokens its idle thread spins on sched_yield (its
 * wait lasts longer than a token), and on a 2-core machine that syscall loop took a sixth of
 * the CPU from the linears' threads (perf: sched_yield and the hypervisor's irq-enable 16% of a
 * W4 1.1B decode).  Fixed tiles also make each output row's sum independent of the thread
 * count. */
enum { GEMV_ROWS = 256 };

typedef struct Gemv {
    int N, K;
    const float *X, *W;
    float beta, *Y;
    int own; /* quant's AVX-512 rows (kern_gemv_rows_avx512) */
} Gemv;

static void gemv_tile(void *arg, int i) {
    const Gemv *g = arg;
    int n0 = i * GEMV_ROWS, n = g->N - n0 < GEMV_ROWS ? g->N - n0 : GEMV_ROWS;
    if (g->own) kern_gemv_rows_avx512(n0, n0 + n, g->K, g->X, g->W, g->beta, g->Y);
    else cblas_sgemv(CblasRowMajor, CblasNoTrans, n, g->K, 1.0f, g->W + (size_t)n0 * g->K, g->K, g->X, 1, g->beta, g->Y + n0, 1);
}

void kern_linear_f32(int M, int N, int K, const float *X, const float *W, const float *b, float *Y) {
    if (b)
        for (int i = 0; i < M; i++) memcpy(Y + (size_t)i * N, b, (size_t)N * sizeof(float));
    const KernGemmChoice *c = kern_gemm_choice();
    if (M == 1 && c->gemv_tiles) {
        /* on AVX-512, quant's one-row kernel: one forward stream (the decode's fp32 classifier,
         * 32000 x 2048, rows on cache lines as the loaders carve them: 26-28 GB/s a core against
         * OpenBLAS sgemv's 21-22 at the same moment; both 21-22 with rows 16 bytes off a line).
         * Chosen by the ISA alone, never by a pointer's alignment, so the bits do not depend on
         * where an allocation landed. */
        const int own = c->gemv_ours;
        Gemv g = {N, K, X, W, b ? 1.0f : 0.0f, Y, own};
        int old = qblas_threads_swap(1);
        kern_parallel_tiles((N + GEMV_ROWS - 1) / GEMV_ROWS, gemv_tile, &g, (int64_t)N * K >= (1 << 18));
        qblas_threads_swap(old);
        return;
    }
    kern_sgemm(0, 1, M, N, K, 1.0f, X, K, W, K, b ? 1.0f : 0.0f, Y, N);
}
