/* qgemm_avx2.c — int8 linear with AVX2: int8 widened to int16, _mm256_madd_epi16 (exact:
 * each pair product sum is at most 2 * 128 * 128 = 2^15 in magnitude, far inside int32;
 * _mm256_maddubs_epi16 would saturate int16, so it is not used).
 *
 * Register blocking: R <= 4 rows of X by C <= 2 blocks of 8 output channels (8 ymm
 * accumulators); each weight vector loaded feeds R madds, each broadcast x-pair feeds C.
 * The requantization is the shared scalar epilogue in qgemm.c. */
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

/* acc[m, n0..n0+7] = a + off[n0..] (only channels < N are stored) */
static inline void store8(int32_t *acc, int N, const int32_t *off, int m, int n0, __m256i a) {
    a = _mm256_add_epi32(a, _mm256_loadu_si256((const __m256i *)(off + n0)));
    int32_t *dst = acc + (size_t)m * N + n0;
    if (N - n0 >= 8) {
        _mm256_storeu_si256((__m256i *)dst, a);
        return;
    }
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(N - n0), idx);
    _mm256_maskstore_epi32(dst, mask, a);
}

/* R rows of xs (int16, stride Kp) x C blocks of 8 channels from block nb0; named registers
 * and conditions that fold away once R, C are constants keep everything in registers. */
#define MADD_ROW(r)                                                                        \
    if (R > r) {                                                                           \
        int32_t xp;                                                                        \
        memcpy(&xp, xs + (size_t)(r) * Kp + (size_t)k2 * 2, 4);                            \
        __m256i xb = _mm256_set1_epi32(xp);                                                \
        a##r##0 = _mm256_add_epi32(a##r##0, _mm256_madd_epi16(xb, w0));                    \
        if (C > 1) a##r##1 = _mm256_add_epi32(a##r##1, _mm256_madd_epi16(xb, w1));         \
    }
#define STORE_ROW(r)                                                                       \
    if (R > r) {                                                                           \
        store8(acc, N, off, m0 + r, nb0 * 8, a##r##0);                                     \
        if (C > 1) store8(acc, N, off, m0 + r, nb0 * 8 + 8, a##r##1);                      \
    }
static inline __attribute__((always_inline)) void micro(const int R, const int C, const int16_t *xs, int Kp,
                                                         const int16_t *wp, int m0, int nb0, int N,
                                                         const int32_t *off, int32_t *acc) {
    const __m256i z = _mm256_setzero_si256();
    __m256i a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
    const int K2 = Kp / 2;
    const size_t bs = (size_t)K2 * 16; /* int16 per block of 8 channels */
    const int16_t *wb = wp + (size_t)nb0 * bs;
    for (int k2 = 0; k2 < K2; k2++) {
        const int16_t *wk = wb + (size_t)k2 * 16;
        __m256i w0 = _mm256_loadu_si256((const __m256i *)wk), w1 = z;
        if (C > 1) w1 = _mm256_loadu_si256((const __m256i *)(wk + bs));
        MADD_ROW(0)
        MADD_ROW(1)
        MADD_ROW(2)
        MADD_ROW(3)
    }
    STORE_ROW(0)
    STORE_ROW(1)
    STORE_ROW(2)
    STORE_ROW(3)
}

#define MICRO_CASE(R_, C_) \
    case (R_) * 4 + (C_): micro((R_), (C_), xr, j->Kp, j->wp, m0, nb0, j->N, j->off, j->acc); break;

/* One tile = up to 4 rows x 2 blocks of 8 channels (consecutive tiles share weights). */
typedef struct Job {
    const int16_t *xs;
    int Kp;
    const int16_t *wp;
    int M, N, NB, MB;
    const int32_t *off;
    int32_t *acc;
} Job;

static void tile(void *arg, int t) {
    const Job *j = arg;
    int g = t / j->MB, mb = t % j->MB;
    int m0 = mb * 4, R = j->M - m0 < 4 ? j->M - m0 : 4;
    int nb0 = g * 2, C = j->NB - nb0 < 2 ? j->NB - nb0 : 2;
    const int16_t *xr = j->xs + (size_t)m0 * j->Kp;
    switch (R * 4 + C) {
        MICRO_CASE(1, 1) MICRO_CASE(1, 2) MICRO_CASE(2, 1) MICRO_CASE(2, 2)
        MICRO_CASE(3, 1) MICRO_CASE(3, 2) MICRO_CASE(4, 1) MICRO_CASE(4, 2)
        default: break;
    }
}

void kern_acc_avx2(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                   int32_t *acc) {
    const int N = W->N, K = W->K, Kp = W->Kp, Np = W->Np, NB = Np / 8;
    const int16_t *wp = W->data;
    /* X widened to int16 once, zero-padded to Kp (pads meet zero weights) */
    int16_t xbuf[4096];
    int16_t *xs = (size_t)M * Kp <= sizeof xbuf / sizeof xbuf[0] ? xbuf : xmalloc((size_t)M * Kp * sizeof(int16_t));
    for (int m = 0; m < M; m++) {
        const int8_t *xr = X + (size_t)m * K;
        int16_t *sr = xs + (size_t)m * Kp;
        int k = 0;
        for (; k + 16 <= K; k += 16)
            _mm256_storeu_si256((__m256i *)(sr + k), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(xr + k))));
        for (; k < K; k++) sr[k] = xr[k];
        for (; k < Kp; k++) sr[k] = 0;
    }
    /* per channel: bias[n] - zero_x * rowsum[n] (wrapping like the int32 sum it equals) */
    int32_t obuf[1024];
    int32_t *off = (size_t)Np <= sizeof obuf / sizeof obuf[0] ? obuf : xmalloc((size_t)Np * sizeof(int32_t));
    for (int n = 0; n < Np; n++)
        off[n] = n < N ? (int32_t)((uint32_t)(bias ? bias[n] : 0) - (uint32_t)zero_x * (uint32_t)W->rowsum[n]) : 0;
    Job job = {xs, Kp, wp, M, N, NB, (M + 3) / 4, off, acc};
    kern_parallel_tiles(job.MB * ((NB + 1) / 2), tile, &job, (int64_t)M * N * K > (1 << 22));
    if (off != obuf) free(off);
    if (xs != xbuf) free(xs);
}
