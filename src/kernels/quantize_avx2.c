/* quantize_avx2.c — quant_code on 8 floats at a time (see quantize.c). */
#include <immintrin.h>

#include "kernels_internal.h"

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
