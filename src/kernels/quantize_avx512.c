/* quantize_avx512.c — quant_code on 16 floats at a time (see quantize.c), and the integer path's
 * activation blocks (qmat.c) a row at a time. */
#include "qmat_simd.h"

void kern_quantize_f32_s8_avx512(int64_t n, const float *x, float scale, int32_t zero, int32_t qmin, int32_t qmax,
                                 int8_t *y) {
    const __m512 s = _mm512_set1_ps(scale), lo = _mm512_set1_ps((float)(qmin - zero)),
                 hi = _mm512_set1_ps((float)(qmax - zero)), magic = _mm512_set1_ps(12582912.0f);
    const __m512i z = _mm512_set1_epi32(zero);
    for (int64_t i = 0; i < n; i += 16) {
        int64_t rem = n - i;
        __mmask16 k = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(k, x + i), s); /* true division, as quant_code */
        v = _mm512_max_ps(v, lo); /* maxps returns its second operand for NaN: NaN -> lo */
        v = _mm512_min_ps(v, hi);
        v = _mm512_sub_ps(_mm512_add_ps(v, magic), magic); /* round half to even, |v| < 2^22 */
        _mm512_mask_cvtepi32_storeu_epi8(y + i, k, _mm512_add_epi32(_mm512_cvttps_epi32(v), z));
    }
}

/* Blocks b0 .. b1 - 1 of one token's row of the integer path's activations (qmat.c
 * kern_qact_quantize; x is the row's start): per block
 * of 32, d = max|x| / 127, codes round_half_even(x * (127 / max|x|)) clamped to +-127, and the
 * codes' sums (all 32, and each 4) — the scalar loop's IEEE operations lane by lane.  With
 * dot_layout, also the decode kernels' orders (qmat.c qact_dot_layout says what they hold),
 * from the same registers: a separate pass over the codes took half of a decode step's 0.4 ms
 * of activation quantizing (W4 1.1B). */
void kern_qact_row_avx512(KernQAct *a, const float *x, int t, int K, int b0, int b1, int dot_layout) {
    const int nb = a->nb;
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f), magic = _mm512_set1_ps(12582912.0f);
    const __m256i ones = _mm256_set1_epi8(1);
    for (int b = b0; b < b1; b++) {
        int n = K - b * 32 < 32 ? K - b * 32 : 32;
        __mmask16 k0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
        __mmask16 k1 = n >= 32 ? (__mmask16)0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
        __m512 v0 = _mm512_maskz_loadu_ps(k0, x + b * 32), v1 = _mm512_maskz_loadu_ps(k1, x + b * 32 + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        __m512 s = _mm512_set1_ps(id);
        v0 = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v0, s), lo), hi);
        v1 = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v1, s), lo), hi);
        v0 = _mm512_sub_ps(_mm512_add_ps(v0, magic), magic);
        v1 = _mm512_sub_ps(_mm512_add_ps(v1, magic), magic);
        __m128i c0 = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v0)), c1 = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v1));
        __m256i c = _mm256_inserti128_si256(_mm256_castsi128_si256(c0), c1, 1);
        const size_t o = (size_t)t * nb + b;
        __m256i l = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, c); /* sums of 4 codes */
        qs_act_store(a, t, b, c, l, d);
        if (dot_layout) {
            const int quad = b / 4 * 4, i = b % 4;
            if (quad + 4 <= nb) { /* b's codes 0-15 and 16-31 at their places in the quad */
                _mm_storeu_si128((__m128i *)(a->qp + ((size_t)t * nb + quad) * 32 + 16 * i), c0);
                _mm_storeu_si128((__m128i *)(a->qp + ((size_t)t * nb + quad) * 32 + 64 + 16 * i), c1);
            } else {
                _mm256_storeu_si256((__m256i *)(a->qp + o * 32), c);
            }
            /* c4[p] = -8 (l[p] + l[p + 4]), c8 = -128 l, d4 = d 4 times */
            __m128i l4 = _mm_add_epi32(_mm256_castsi256_si128(l), _mm256_extracti128_si256(l, 1));
            _mm_storeu_si128((__m128i *)(a->c4 + o * 4), _mm_mullo_epi32(l4, _mm_set1_epi32(-8)));
            _mm256_storeu_si256((__m256i *)(a->c8 + o * 8), _mm256_mullo_epi32(l, _mm256_set1_epi32(-128)));
            _mm_storeu_ps(a->d4 + o * 4, _mm_set1_ps(d));
        }
    }
}
