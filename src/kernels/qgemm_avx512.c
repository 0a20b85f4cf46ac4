/* qgemm_avx512.c — int8 linear with AVX-512 VNNI (vpdpbusd: u8 x s8 -> s32).
 * X is shifted to unsigned (x + 128), which adds 128 * rowsum(W) to every dot product;
 * that and the activation zero-point are removed exactly afterwards. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/core.h"

void kern_pack_avx512(KernS8Weights *w, const int8_t *W) {
    w->Np = (w->N + 15) / 16 * 16;
    w->Kp = (w->K + 3) / 4 * 4;
    int8_t *p = xcalloc((size_t)w->Np * w->Kp, 1);
    for (int n = 0; n < w->N; n++)
        for (int k = 0; k < w->K; k++) {
            size_t off = ((size_t)(n / 16) * (w->Kp / 4) + k / 4) * 64 + (n % 16) * 4 + (k % 4);
            p[off] = W[(size_t)n * w->K + k];
        }
    w->data = p;
}

/* Rows m0..m0+R-1 (R <= 4) against output block nb. */
static inline void block_rows(int R, const uint8_t *xu, int Kp, const int8_t *wb, int K4, __m512i *acc) {
    const int32_t *x0 = (const int32_t *)xu;
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_si512();
    if (R == 4) {
        const int32_t *x1 = x0 + Kp / 4, *x2 = x0 + 2 * (Kp / 4), *x3 = x0 + 3 * (Kp / 4);
        for (int k4 = 0; k4 < K4; k4++) {
            __m512i wv = _mm512_loadu_si512((const void *)(wb + (size_t)k4 * 64));
            acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_set1_epi32(x0[k4]), wv);
            acc[1] = _mm512_dpbusd_epi32(acc[1], _mm512_set1_epi32(x1[k4]), wv);
            acc[2] = _mm512_dpbusd_epi32(acc[2], _mm512_set1_epi32(x2[k4]), wv);
            acc[3] = _mm512_dpbusd_epi32(acc[3], _mm512_set1_epi32(x3[k4]), wv);
        }
        return;
    }
    if (R == 1) {
        /* one row: four independent accumulator chains hide vpdpbusd's latency */
        __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
        int k4 = 0;
        for (; k4 + 3 < K4; k4 += 4) {
            s0 = _mm512_dpbusd_epi32(s0, _mm512_set1_epi32(x0[k4]), _mm512_loadu_si512((const void *)(wb + (size_t)k4 * 64)));
            s1 = _mm512_dpbusd_epi32(s1, _mm512_set1_epi32(x0[k4 + 1]), _mm512_loadu_si512((const void *)(wb + (size_t)(k4 + 1) * 64)));
            s2 = _mm512_dpbusd_epi32(s2, _mm512_set1_epi32(x0[k4 + 2]), _mm512_loadu_si512((const void *)(wb + (size_t)(k4 + 2) * 64)));
            s3 = _mm512_dpbusd_epi32(s3, _mm512_set1_epi32(x0[k4 + 3]), _mm512_loadu_si512((const void *)(wb + (size_t)(k4 + 3) * 64)));
        }
        for (; k4 < K4; k4++)
            s0 = _mm512_dpbusd_epi32(s0, _mm512_set1_epi32(x0[k4]), _mm512_loadu_si512((const void *)(wb + (size_t)k4 * 64)));
        acc[0] = _mm512_add_epi32(_mm512_add_epi32(s0, s1), _mm512_add_epi32(s2, s3));
        return;
    }
    for (int k4 = 0; k4 < K4; k4++) {
        __m512i wv = _mm512_loadu_si512((const void *)(wb + (size_t)k4 * 64));
        for (int r = 0; r < R; r++) acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(x0[(size_t)r * (Kp / 4) + k4]), wv);
    }
}

void kern_acc_avx512(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                     int32_t *acc) {
    const int N = W->N, K = W->K, Kp = W->Kp, K4 = Kp / 4, NB = W->Np / 16;
    const int8_t *wp = W->data;
    /* unsigned copy of X, zero-padded to Kp (pads meet zero weights) */
    uint8_t stackbuf[8192];
    uint8_t *xu = (size_t)M * Kp <= sizeof stackbuf ? stackbuf : xmalloc((size_t)M * Kp);
    for (int m = 0; m < M; m++) {
        for (int k = 0; k < K; k++) xu[(size_t)m * Kp + k] = (uint8_t)(X[(size_t)m * K + k] + 128);
        for (int k = K; k < Kp; k++) xu[(size_t)m * Kp + k] = 0;
    }
    const int MB = (M + 3) / 4;
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)M * N * K > (1 << 22))
    for (int mb = 0; mb < MB; mb++)
        for (int nb = 0; nb < NB; nb++) {
            int m0 = mb * 4, R = M - m0 < 4 ? M - m0 : 4;
            __m512i a[4];
            block_rows(R, xu + (size_t)m0 * Kp, Kp, wp + (size_t)nb * K4 * 64, K4, a);
            for (int r = 0; r < R; r++) {
                int32_t out[16];
                _mm512_storeu_si512((void *)out, a[r]);
                for (int j = 0; j < 16; j++) {
                    int n = nb * 16 + j;
                    if (n < N)
                        acc[(size_t)(m0 + r) * N + n] = out[j] - (128 + zero_x) * W->rowsum[n] + (bias ? bias[n] : 0);
                }
            }
        }
    if (xu != stackbuf) free(xu);
}
