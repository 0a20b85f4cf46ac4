/* gemm_f32_avx512.c — AVX-512F fp32 GEMM micro-kernel (12 x 32 register tile) and the
 * small-M dot kernel (kernels_internal.h).
 *
 * The tile: 12 rows x 2 zmm of C = 24 accumulators; per k, 2 loads of the B sliver and 12
 * broadcasts of the A sliver feed 24 FMAs (32 zmm registers: 24 + 2 + broadcasts).  The
 * accumulators are named variables, not an array, so they stay in registers. */
#include <immintrin.h>
#include <math.h>

#include "kernels_internal.h"
#include "transpose_avx512.h"

enum { MR = KERN_GEMM_MR_AVX512, NR = KERN_GEMM_NR_AVX512 };

/* C row (NR wide) = alpha * acc + beta * C */
static inline void store_row(float *c, __m512 x0, __m512 x1, __m512 va, float beta) {
    if (beta == 0.0f) {
        _mm512_storeu_ps(c, _mm512_mul_ps(va, x0));
        _mm512_storeu_ps(c + 16, _mm512_mul_ps(va, x1));
    } else {
        __m512 vb = _mm512_set1_ps(beta);
        _mm512_storeu_ps(c, _mm512_fmadd_ps(va, x0, _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
        _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(va, x1, _mm512_mul_ps(vb, _mm512_loadu_ps(c + 16))));
    }
}

void kern_sgemm_ukr_avx512(int kc, const float *Ap, const float *Bp, float *C, int ldc, float alpha, float beta,
                           int m, int n) {
#define DECL(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
#define FMA(i)                                                                                                     \
    {                                                                                                              \
        __m512 a = _mm512_set1_ps(Ap[i]);                                                                          \
        c##i##a = _mm512_fmadd_ps(a, b0, c##i##a);                                                                 \
        c##i##b = _mm512_fmadd_ps(a, b1, c##i##b);                                                                 \
    }
    DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5) DECL(6) DECL(7) DECL(8) DECL(9) DECL(10) DECL(11)
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(Bp), b1 = _mm512_loadu_ps(Bp + 16);
        FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5) FMA(6) FMA(7) FMA(8) FMA(9) FMA(10) FMA(11)
        Ap += MR;
        Bp += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha);
    if (m == MR && n == NR) {
#define STORE(i) store_row(C + (size_t)(i) * ldc, c##i##a, c##i##b, va, beta);
        STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7) STORE(8) STORE(9) STORE(10) STORE(11)
        return;
    }
    /* an edge tile: the accumulators into a buffer, then the m x n corner (same arithmetic) */
    float t[MR][NR];
#define SPILL(i) _mm512_storeu_ps(t[i], c##i##a), _mm512_storeu_ps(t[i] + 16, c##i##b);
    SPILL(0) SPILL(1) SPILL(2) SPILL(3) SPILL(4) SPILL(5) SPILL(6) SPILL(7) SPILL(8) SPILL(9) SPILL(10) SPILL(11)
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? alpha * t[i][j] : fmaf(alpha, t[i][j], beta * *c);
        }
#undef DECL
#undef FMA
#undef STORE
#undef SPILL
}

/* rows n of B against the M (<= 4) rows of A; one 16-lane accumulator per (m, row) */
static inline __attribute__((always_inline)) void dots_m(const int M, int n0, int n1, int K, float alpha,
                                                         const float *A, int lda, const float *B, int ldb,
                                                         float beta, float *C, int ldc) {
    const int K16 = K & ~15;
    const __mmask16 tail = (__mmask16)((1u << (K - K16)) - 1u); /* K - K16 < 16 */
    int n = n0;
    for (; n + 4 <= n1; n += 4) {
        __m512 acc[4][4];
#pragma GCC unroll 4
        for (int m = 0; m < M; m++)
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) acc[m][r] = _mm512_setzero_ps();
        const float *b = B + (size_t)n * ldb;
        /* 4 rows are 4 interleaved streams, which the hardware prefetcher follows less well
         * than one: each step also prefetches its share (4 lines) of the next 4 rows' range in
         * address order (the range is contiguous when ldb == K, the weights of a linear layer) */
        const char *next = (const char *)(b + (size_t)4 * ldb);
        for (int k = 0; k < K; k += 16) {
            const __mmask16 mk = k < K16 ? (__mmask16)0xFFFF : tail; /* the last, partial step */
            __m512 w[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) _mm_prefetch(next + (size_t)16 * k + 64 * r, _MM_HINT_T0);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) w[r] = _mm512_maskz_loadu_ps(mk, b + (size_t)r * ldb + k);
#pragma GCC unroll 4
            for (int m = 0; m < M; m++) {
                __m512 x = _mm512_maskz_loadu_ps(mk, A + (size_t)m * lda + k);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) acc[m][r] = _mm512_fmadd_ps(x, w[r], acc[m][r]);
            }
        }
#pragma GCC unroll 4
        for (int m = 0; m < M; m++)
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                float s = _mm512_reduce_add_ps(acc[m][r]);
                float *c = &C[(size_t)m * ldc + n + r];
                *c = beta == 0.0f ? alpha * s : fmaf(alpha, s, beta * *c);
            }
    }
    for (; n < n1; n++) {
        const float *b = B + (size_t)n * ldb;
#pragma GCC unroll 4
        for (int m = 0; m < M; m++) {
            __m512 acc = _mm512_setzero_ps();
            int k = 0;
            for (; k < K16; k += 16)
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(A + (size_t)m * lda + k), _mm512_loadu_ps(b + k), acc);
            if (tail)
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, A + (size_t)m * lda + k),
                                      _mm512_maskz_loadu_ps(tail, b + k), acc);
            float s = _mm512_reduce_add_ps(acc);
            float *c = &C[(size_t)m * ldc + n];
            *c = beta == 0.0f ? alpha * s : fmaf(alpha, s, beta * *c);
        }
    }
}

void kern_sgemm_dots_avx512(int M, int n0, int n1, int K, float alpha, const float *A, int lda, const float *B,
                            int ldb, float beta, float *C, int ldc) {
    switch (M) {
        case 1: dots_m(1, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
        case 2: dots_m(2, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
        case 3: dots_m(3, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
        default: dots_m(4, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
    }
}

/* y[n] = x . W[n] (+ beta y[n]) for rows n0 <= n < n1 of W (row stride K), one row at a time:
 * one forward stream, 4 accumulators of 16 lanes over 64 floats. */
void kern_gemv_rows_avx512(int n0, int n1, int K, const float *x, const float *W, float beta, float *y) {
    const int K64 = K & ~63;
    for (int n = n0; n < n1; n++) {
        const float *w = W + (size_t)n * K;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        int k = 0;
        for (; k < K64; k += 64) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k), _mm512_loadu_ps(x + k), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + 16), _mm512_loadu_ps(x + k + 16), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + 32), _mm512_loadu_ps(x + k + 32), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + 48), _mm512_loadu_ps(x + k + 48), a3);
        }
        for (; k < K; k += 16) {
            const __mmask16 mk = K - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (K - k)) - 1u);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, w + k), _mm512_maskz_loadu_ps(mk, x + k), a0);
        }
        float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        y[n] = beta == 0.0f ? s : s + beta * y[n];
    }
}

/* out[k * ld_out + i] = in[i * ld_in + k] for a 16 x 16 block (i rows of in, k its columns),
 * through the registers' transpose (transpose_avx512.h). */
static inline void transpose16(const float *in, size_t ld_in, float *out, size_t ld_out) {
    __m512i m[16];
    for (int i = 0; i < 16; i++) m[i] = _mm512_castps_si512(_mm512_loadu_ps(in + (size_t)i * ld_in));
    kern_transpose16_epi32(m);
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(out + (size_t)i * ld_out, _mm512_castsi512_ps(m[i]));
}

void kern_sgemm_pack_bt_avx512(const float *B, int ldb, int nr, int kc, float *dst) {
    int k = 0;
    if (nr == NR)
        for (; k + 16 <= kc; k += 16) {
            transpose16(B + k, (size_t)ldb, dst + (size_t)k * NR, NR);
            transpose16(B + (size_t)16 * ldb + k, (size_t)ldb, dst + (size_t)k * NR + 16, NR);
        }
    for (int c = 0; c < NR; c++)
        for (int kk = k; kk < kc; kk++) dst[(size_t)kk * NR + c] = c < nr ? B[(size_t)c * ldb + kk] : 0.0f;
    if (nr < NR)
        for (int c = nr; c < NR; c++)
            for (int kk = 0; kk < k; kk++) dst[(size_t)kk * NR + c] = 0.0f;
}
