/* transpose_avx512.h — a 16 x 16 transpose of 32-bit lanes held in AVX-512 registers, for the
 * *_avx512.c files: gemm_f32_avx512.c packs fp32 weight slivers with it, qmat_avx512.c unpacks
 * sb16 rows into the prompt kernel's tile. */
#ifndef QUANT_KERNELS_TRANSPOSE_AVX512_H
#define QUANT_KERNELS_TRANSPOSE_AVX512_H

#include <immintrin.h>

/* Lane i of m[r] -> lane r of m[i].  Per 128-bit lane, 32-bit then 64-bit interleaves leave
 * m[4k + j]'s lane L holding column 4L + j of rows 4k .. 4k + 3; two rounds of 128-bit lane
 * shuffles put the four row groups of each column together.  Moves bits only (fp32 lanes may
 * pass through it cast to integers). */
static inline void kern_transpose16_epi32(__m512i m[16]) {
    __m512i t[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_epi32(m[2 * k], m[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(m[2 * k], m[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) {
        m[4 * k] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        m[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        m[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        m[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int j = 0; j < 4; j++) {
        __m512i ab0 = _mm512_shuffle_i32x4(m[j], m[4 + j], 0x44), ab1 = _mm512_shuffle_i32x4(m[j], m[4 + j], 0xEE);
        __m512i cd0 = _mm512_shuffle_i32x4(m[8 + j], m[12 + j], 0x44), cd1 = _mm512_shuffle_i32x4(m[8 + j], m[12 + j], 0xEE);
        t[j] = _mm512_shuffle_i32x4(ab0, cd0, 0x88);
        t[4 + j] = _mm512_shuffle_i32x4(ab0, cd0, 0xDD);
        t[8 + j] = _mm512_shuffle_i32x4(ab1, cd1, 0x88);
        t[12 + j] = _mm512_shuffle_i32x4(ab1, cd1, 0xDD);
    }
    for (int i = 0; i < 16; i++) m[i] = t[i];
}

#endif
