/* quantize_avx2.c — quant_code on 8 floats at a time (see quantize.c), and the integer path's
 * activation blocks (qmat.c) a row at a time. */
#include "qmat_simd.h"

void kern_quantize_f32_s8_avx2(int64_t n, const float *x, float scale, int32_t zero, int32_t qmin, int32_t qmax,
                               int8_t *y) {
    const __m256 s = _mm256_set1_ps(scale), lo = _mm256_set1_ps((float)(qmin - zero)),
                 hi = _mm256_set1_ps((float)(qmax - zero)), magic = _mm256_set1_ps(12582912.0f);
    const __m256i z = _mm256_set1_epi32(zero);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), s); /* true division, as quant_code */
        v = _mm256_max_ps(v, lo); /* maxps returns its second operand for NaN: NaN -> lo */
        v = _mm256_min_ps(v, hi);
        v = _mm256_sub_ps(_mm256_add_ps(v, magic), magic); /* round half to even, |v| < 2^22 */
        __m256i q = _mm256_add_epi32(_mm256_cvttps_epi32(v), z);
        /* 8 int32 in [-128, 127] -> 8 int8 */
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(y + i), _mm_packs_epi16(w, w));
    }
    if (i < n) kern_quantize_f32_s8_scalar(n - i, x + i, scale, zero, qmin, qmax, y + i);
}

/* Blocks b0 .. b1 - 1 of one token's row of the integer path's activations (qmat.c
 * kern_qact_quantize; x is the row's start) with AVX2: the scalar loop's IEEE operations 8
 * lanes at a time (same bytes), plus q16 for the blocks of whole superblocks.
 * Not the AVX-512 decode orders (qp, c4, c8, d4): no kernel this ISA runs reads them.  The
 * scalar loop took 1.6 ms of a 36 ms W4 1.1B decode step on a Zen 3 EPYC. */
void kern_qact_row_avx2(KernQAct *a, const float *x, int t, int K, int b0, int b1) {
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f), magic = _mm256_set1_ps(12582912.0f);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* undoes packs' lane interleave */
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int b = b0; b < b1; b++) {
        const int n = K - b * 32 < 32 ? K - b * 32 : 32;
        __m256 v[4];
        for (int i = 0; i < 4; i++) { /* lanes past K read as 0 */
            const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8 * i), idx);
            v[i] = _mm256_maskload_ps(x + b * 32 + 8 * i, m);
        }
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absmask), _mm256_and_ps(v[1], absmask)),
                                 _mm256_max_ps(_mm256_and_ps(v[2], absmask), _mm256_and_ps(v[3], absmask)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        const __m256 s = _mm256_set1_ps(id);
        __m256i c32[4];
        for (int i = 0; i < 4; i++) {
            __m256 w = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v[i], s), lo), hi);
            w = _mm256_sub_ps(_mm256_add_ps(w, magic), magic); /* round half to even */
            c32[i] = _mm256_cvttps_epi32(w);
        }
        /* 32 int32 -> 32 int8 in order: packs work within 128-bit lanes, the permute restores it */
        __m256i c16a = _mm256_packs_epi32(c32[0], c32[1]), c16b = _mm256_packs_epi32(c32[2], c32[3]);
        __m256i c = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(c16a, c16b), order);
        /* sums of 4 codes: |code| <= 127, so pairs fit int16 */
        qs_act_store(a, t, b, c, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, c), ones16), d);
    }
}
