/* qgemm_avx2.c — int8 linear with AVX2: int8 widened to int16, _mm256_madd_epi16 (exact). */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/core.h"

void kern_pack_avx2(KernS8Weights *w, const int8_t *W) {
    w->Np = (w->N + 7) / 8 * 8;
    w->Kp = (w->K + 1) / 2 * 2;
    int16_t *p = xcalloc((size_t)w->Np * w->Kp, sizeof(int16_t));
    for (int n = 0; n < w->N; n++)
        for (int k = 0; k < w->K; k++) {
            size_t off = ((size_t)(n / 8) * (w->Kp / 2) + k / 2) * 16 + (n % 8) * 2 + (k % 2);
            p[off] = W[(size_t)n * w->K + k];
        }
    w->data = p;
}

void kern_acc_avx2(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                   int32_t *acc) {
    const int N = W->N, K = W->K, K2 = W->Kp / 2, NB = W->Np / 8;
    const int16_t *wp = W->data;
#pragma omp parallel if ((int64_t)M * N * K > (1 << 22))
    {
        int16_t *xs = xcalloc((size_t)W->Kp, sizeof(int16_t));
#pragma omp for schedule(static)
        for (int m = 0; m < M; m++) {
            for (int k = 0; k < K; k++) xs[k] = X[(size_t)m * K + k];
            const int32_t *xpair = (const int32_t *)xs;
            for (int nb = 0; nb < NB; nb++) {
                const int16_t *wb = wp + (size_t)nb * K2 * 16;
                __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
                int k2 = 0;
                for (; k2 + 1 < K2; k2 += 2) {
                    __m256i x0 = _mm256_set1_epi32(xpair[k2]), x1 = _mm256_set1_epi32(xpair[k2 + 1]);
                    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, _mm256_loadu_si256((const __m256i *)(wb + (size_t)k2 * 16))));
                    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x1, _mm256_loadu_si256((const __m256i *)(wb + (size_t)(k2 + 1) * 16))));
                }
                for (; k2 < K2; k2++) {
                    __m256i x0 = _mm256_set1_epi32(xpair[k2]);
                    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, _mm256_loadu_si256((const __m256i *)(wb + (size_t)k2 * 16))));
                }
                int32_t out[8];
                _mm256_storeu_si256((__m256i *)out, _mm256_add_epi32(a0, a1));
                for (int j = 0; j < 8; j++) {
                    int n = nb * 8 + j;
                    if (n < N) acc[(size_t)m * N + n] = out[j] - zero_x * W->rowsum[n] + (bias ? bias[n] : 0);
                }
            }
        }
        free(xs);
    }
}
