/* qmat_avx2.c — group-quantized linear, AVX2 (kernels.h, qmat.c).
 *
 * Fast paths for symmetric Q4_0 and Q8_0, one block (32 weights) per ymm: pmaddubsw multiplies
 * unsigned by signed bytes into int16 pairs, which must not saturate.  Q4_0 goes in as its
 * stored nibble u = q + 8 (15 * 127 * 2 fits) and 8 * (sum of 4 activation codes) is taken
 * off each int32 lane (KernQAct.l); Q8_0 moves the weight's sign onto the activation
 * (|q| <= 128, |x| <= 127: 2 * 128 * 127 fits).  The int32 lanes of a block are converted and
 * multiplied by d_w d_x into an f32 accumulator.  Q3 / Q2 / affine: qmat_simd.h. */
#include "qmat_simd.h"

static inline float hsum256(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

static float dot_q4(const QBlockQ4_0 *w, int nb, const int8_t *q, const float *xd, const int32_t *xl) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int b = 0; b < nb; b++) {
        __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w[b].qs));
        __m256i u = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(15));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(q + QK * b))), ones);
        p = _mm256_sub_epi32(p, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(xl + 8 * b)), 3));
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(_cvtsh_ss(w[b].d) * xd[b]));
        if (b & 1) acc1 = _mm256_add_ps(acc1, f);
        else acc0 = _mm256_add_ps(acc0, f);
    }
    return hsum256(_mm256_add_ps(acc0, acc1));
}

static float dot_q8(const QBlockQ8_0 *w, int nb, const int8_t *q, const float *xd) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int b = 0; b < nb; b++) {
        __m256i c = _mm256_loadu_si256((const __m256i *)w[b].qs), x = _mm256_loadu_si256((const __m256i *)(q + QK * b));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(c, c), _mm256_sign_epi8(x, c)), ones);
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(_cvtsh_ss(w[b].d) * xd[b]));
        if (b & 1) acc1 = _mm256_add_ps(acc1, f);
        else acc0 = _mm256_add_ps(acc0, f);
    }
    return hsum256(_mm256_add_ps(acc0, acc1));
}

void kern_qmat_rows_avx2(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    if (W->sb16) { /* chosen only where the AVX-512 kernels run (kern_qmat_sb16_wanted): correct here, not fast */
        kern_qmat_rows_scalar(W, x, n0, n1, Y);
        return;
    }
    if (W->zero || (W->type != KERN_Q4_0 && W->type != KERN_Q8_0)) {
        qs_rows_general(W, x, n0, n1, Y);
        return;
    }
    const int nb = W->nb;
    for (int n = n0; n < n1; n++)
        for (int t = 0; t < x->T; t++) {
            const int8_t *q = x->q + (size_t)t * x->nb * QK;
            const float *xd = x->d + (size_t)t * x->nb;
            const int32_t *xl = x->l + (size_t)t * x->nb * 8;
            Y[(size_t)t * W->N + n] = W->type == KERN_Q4_0
                                          ? dot_q4((const QBlockQ4_0 *)W->blocks + (size_t)n * nb, nb, q, xd, xl)
                                          : dot_q8((const QBlockQ8_0 *)W->blocks + (size_t)n * nb, nb, q, xd);
        }
}
