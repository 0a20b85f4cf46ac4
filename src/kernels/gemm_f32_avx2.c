/* gemm_f32_avx2.c — AVX2+FMA fp32 GEMM micro-kernel (6 x 16 register tile) and the small-M
 * dot kernel (kernels_internal.h).
 *
 * The tile: 6 rows x 2 ymm of C = 12 accumulators; per k, 2 loads of the B sliver and 6
 * broadcasts of the A sliver feed 12 FMAs (16 ymm registers: 12 + 2 + 1 broadcast). */
#include <immintrin.h>
#include <math.h>

#include "kernels_internal.h"

enum { MR = KERN_GEMM_MR_AVX2, NR = KERN_GEMM_NR_AVX2 };

static inline void store_row(float *c, __m256 x0, __m256 x1, __m256 va, float beta) {
    if (beta == 0.0f) {
        _mm256_storeu_ps(c, _mm256_mul_ps(va, x0));
        _mm256_storeu_ps(c + 8, _mm256_mul_ps(va, x1));
    } else {
        __m256 vb = _mm256_set1_ps(beta);
        _mm256_storeu_ps(c, _mm256_fmadd_ps(va, x0, _mm256_mul_ps(vb, _mm256_loadu_ps(c))));
        _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(va, x1, _mm256_mul_ps(vb, _mm256_loadu_ps(c + 8))));
    }
}

void kern_sgemm_ukr_avx2(int kc, const float *Ap, const float *Bp, float *C, int ldc, float alpha, float beta, int m,
                         int n) {
#define DECL(i) __m256 c##i##a = _mm256_setzero_ps(), c##i##b = _mm256_setzero_ps();
#define FMA(i)                                                                                                     \
    {                                                                                                              \
        __m256 a = _mm256_broadcast_ss(Ap + i);                                                                    \
        c##i##a = _mm256_fmadd_ps(a, b0, c##i##a);                                                                 \
        c##i##b = _mm256_fmadd_ps(a, b1, c##i##b);                                                                 \
    }
    DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5)
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8);
        FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5)
        Ap += MR;
        Bp += NR;
    }
    const __m256 va = _mm256_set1_ps(alpha);
    if (m == MR && n == NR) {
#define STORE(i) store_row(C + (size_t)(i) * ldc, c##i##a, c##i##b, va, beta);
        STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
        return;
    }
    /* an edge tile: the accumulators into a buffer, then the m x n corner (same arithmetic) */
    float t[MR][NR];
#define SPILL(i) _mm256_storeu_ps(t[i], c##i##a), _mm256_storeu_ps(t[i] + 8, c##i##b);
    SPILL(0) SPILL(1) SPILL(2) SPILL(3) SPILL(4) SPILL(5)
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

/* 8 lanes summed in a fixed order */
static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* rows n of B against the M (<= 4) rows of A; one 8-lane accumulator per (m, row) */
static inline __attribute__((always_inline)) void dots_m(const int M, int n0, int n1, int K, float alpha,
                                                         const float *A, int lda, const float *B, int ldb,
                                                         float beta, float *C, int ldc) {
    const int K8 = K & ~7;
    /* lanes below K - K8 loaded in the last, partial step */
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(K - K8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i full = _mm256_set1_epi32(-1);
    int n = n0;
    for (; n + 4 <= n1; n += 4) {
        __m256 acc[4][4];
#pragma GCC unroll 4
        for (int m = 0; m < M; m++)
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) acc[m][r] = _mm256_setzero_ps();
        const float *b = B + (size_t)n * ldb;
        for (int k = 0; k < K; k += 8) {
            const __m256i mk = k < K8 ? full : tail;
            __m256 w[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) w[r] = _mm256_maskload_ps(b + (size_t)r * ldb + k, mk);
#pragma GCC unroll 4
            for (int m = 0; m < M; m++) {
                __m256 x = _mm256_maskload_ps(A + (size_t)m * lda + k, mk);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) acc[m][r] = _mm256_fmadd_ps(x, w[r], acc[m][r]);
            }
        }
#pragma GCC unroll 4
        for (int m = 0; m < M; m++)
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                float s = hsum(acc[m][r]);
                float *c = &C[(size_t)m * ldc + n + r];
                *c = beta == 0.0f ? alpha * s : fmaf(alpha, s, beta * *c);
            }
    }
    for (; n < n1; n++) {
        const float *b = B + (size_t)n * ldb;
#pragma GCC unroll 4
        for (int m = 0; m < M; m++) {
            __m256 acc = _mm256_setzero_ps();
            for (int k = 0; k < K; k += 8) {
                const __m256i mk = k < K8 ? full : tail;
                acc = _mm256_fmadd_ps(_mm256_maskload_ps(A + (size_t)m * lda + k, mk), _mm256_maskload_ps(b + k, mk),
                                      acc);
            }
            float s = hsum(acc);
            float *c = &C[(size_t)m * ldc + n];
            *c = beta == 0.0f ? alpha * s : fmaf(alpha, s, beta * *c);
        }
    }
}

void kern_sgemm_dots_avx2(int M, int n0, int n1, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                          float beta, float *C, int ldc) {
    switch (M) {
        case 1: dots_m(1, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
        case 2: dots_m(2, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
        case 3: dots_m(3, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
        default: dots_m(4, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc); break;
    }
}
