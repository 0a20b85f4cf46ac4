/* quantize_avx512.c — quant_code on 16 floats at a time (see quantize.c). */
#include <immintrin.h>

#include "kernels_internal.h"

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
