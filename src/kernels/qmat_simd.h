/* qmat_simd.h — AVX2-level helpers shared by qmat_avx2.c and qmat_avx512.c (static inline:
 * each file compiles them with its own -m flags): block unpacking, the row dot of rows in the
 * GGUF block order (every type on AVX2; on AVX-512 the Q3 / Q2 / affine rows, which have no
 * kernel of their own there), and the activations' block store of the quantizers. */
#ifndef QUANT_QMAT_SIMD_H
#define QUANT_QMAT_SIMD_H

#include <immintrin.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/qblock.h"

static inline int qs_u16(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

static inline float qs_f16(const void *p) { return _cvtsh_ss((unsigned short)qs_u16(p)); }

/* 32 codes of a block as unsigned bytes u = c + (1 << qs_offset_log2) (Q4_0 its stored nibbles, Q3 / Q2
 * byte j % 8 shifted by 2 (j / 8), qblock.h); Q8_0 has no unsigned form (qs_unpack). */
static inline int qs_offset_log2(KernQType type) { return type == KERN_Q4_0 ? 3 : type == KERN_Q3 ? 2 : 1; }
static inline __m256i qs_unpack_u(KernQType type, const uint8_t *blk) {
    switch (type) {
        case KERN_Q4_0: {
            __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 2)));
            return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(15));
        }
        case KERN_Q3: {
            uint64_t lo;
            uint32_t hi;
            memcpy(&lo, blk + 2, 8);
            memcpy(&hi, blk + 10, 4);
            __m256i u = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x((long long)lo), _mm256_set_epi64x(6, 4, 2, 0)),
                                         _mm256_set1_epi8(3));
            /* byte j takes qh byte j / 8 and tests bit j % 8 */
            __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)hi),
                                            _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                                              0x0101010101010101LL, 0));
            __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
            h = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), _mm256_set1_epi8(4));
            return _mm256_or_si256(u, h);
        }
        default: {
            uint64_t lo;
            memcpy(&lo, blk + 2, 8);
            return _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x((long long)lo), _mm256_set_epi64x(6, 4, 2, 0)),
                                    _mm256_set1_epi8(3));
        }
    }
}

/* Q3 / Q2 in the sb16 layout (kernels.h), one 32-byte half of a superblock: the unsigned codes
 * u = c + 4 (Q3) or c + 2 (Q2) that meet q16's vector v (0..7), lane for lane, from the half's
 * lo planes l0 (vector 0), l1 (vector 1) and, for Q3, its high plane hv (vector 2): plane v / 4
 * shifted by 2 (v % 4), and the high plane's bit v moved to bit 2.  The 16-bit shifts bring no
 * bit of one byte into the 2 (or 1) bits kept of another. */
static inline __attribute__((always_inline)) __m256i qs_sb16_low_u(const KernQType type, __m256i l0, __m256i l1, __m256i hv,
                                                                    const int v) {
    __m256i u = _mm256_and_si256(_mm256_srli_epi16(v < 4 ? l0 : l1, 2 * (v % 4)), _mm256_set1_epi8(3));
    if (type == KERN_Q3)
        u = _mm256_or_si256(u, _mm256_and_si256(v >= 2 ? _mm256_srli_epi16(hv, v - 2) : _mm256_slli_epi16(hv, 2 - v),
                                                _mm256_set1_epi8(4)));
    return u;
}

/* 32 codes of a block as int8 in a ymm. */
static inline __m256i qs_unpack(KernQType type, const uint8_t *blk) {
    if (type == KERN_Q8_0) return _mm256_loadu_si256((const __m256i *)(blk + 2));
    return _mm256_sub_epi8(qs_unpack_u(type, blk), _mm256_set1_epi8((char)(1 << qs_offset_log2(type))));
}

/* kern_qtype_block_bytes as a constant where type is one (the row dots' strides and prefetch). */
static inline int qs_block_bytes(KernQType type) {
    return type == KERN_Q8_0 ? (int)sizeof(QBlockQ8_0) : type == KERN_Q4_0 ? (int)sizeof(QBlockQ4_0)
         : type == KERN_Q3 ? (int)sizeof(QBlockQ3) : (int)sizeof(QBlockQ2);
}

static inline float qs_hsum(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* The exact int32 products of one block (GGUF order) with its activations xq, in 8 lanes of 4
 * codes each: Q4_0 / Q3 / Q2 as unsigned codes u = c + o (pmaddubsw: 2 * 15 * 127 fits int16),
 * the offset o left in (the caller takes o times the activations' code sum off), Q8_0 with
 * the sign moved onto the activation (|c| <= 128, |x| <= 127: 2 * 128 * 127 fits). */
static inline __attribute__((always_inline)) __m256i qs_block_lanes(const KernQType type, const uint8_t *blk, __m256i xq) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (type == KERN_Q8_0) {
        const __m256i c = _mm256_loadu_si256((const __m256i *)(blk + 2));
        return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(c, c), _mm256_sign_epi8(xq, c)), ones);
    }
    return _mm256_madd_epi16(_mm256_maddubs_epi16(qs_unpack_u(type, blk), xq), ones);
}

/* One row of nb blocks of `type` (GGUF order) against one token's activation blocks (q, d, l,
 * s at the row's first block), z the row's zero-points or NULL.  Blocks 8 at a time: each
 * block's exact products in 8 int32 lanes (qs_block_lanes), the 8 blocks' lanes summed across
 * into one vector of 8 block sums (phaddd and a swap of halves), then per block, exactly,
 * o (Q4_0 / Q3 / Q2) and z (affine; aff is a constant, so the symmetric loop carries no test)
 * times the activations' code sum taken off, and the sums, scaled by d_w d_x, added into one f32
 * accumulator: one conversion, one offset, one scale load per 8 blocks instead of per block
 * (per block these took most of the arithmetic of a Q3 / Q2 decode, which ran at 12 GB/s on a
 * Zen 3 core pair).  The nb % 8 blocks after them one at a time as before, the offset taken off
 * lane by lane (KernQAct.l), even and odd blocks in two accumulators.  Another f32 order than
 * the scalar kernel's.  pf > 0 prefetches that many bytes ahead, once per cache line of blocks
 * (the block size must be a constant here: as a function's result the cadence compiled to an
 * idiv per block).  A general path that unpacked to int8, summed each block horizontally and
 * added it to a scalar in the scalar kernel's order ran at a third to a half of the per-block
 * version of this (bench_qmat's q3 / q2 / q4_0+z rows). */
static inline __attribute__((always_inline)) float qs_dot_row(const KernQType type, const uint8_t *row, int nb,
                                                              const int8_t *q, const float *xd, const int32_t *xl,
                                                              const int32_t *xs, const int aff, const int8_t *z,
                                                              const int pf) {
    const int bs = qs_block_bytes(type), every = bs > 32 ? 1 : bs > 16 ? 2 : 4; /* blocks per prefetch: <= 64 bytes */
    const int sh = qs_offset_log2(type); /* o = 8, 4, 2 */
    __m256 acc = _mm256_setzero_ps();
    int b = 0;
    for (; b + 8 <= nb; b += 8) {
        __m256i p[8];
        _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
            const uint8_t *blk = row + (size_t)(b + k) * bs;
            if (pf && (b + k) % every == 0) _mm_prefetch((const char *)blk + pf, _MM_HINT_T0);
            p[k] = qs_block_lanes(type, blk, _mm256_loadu_si256((const __m256i *)(q + QK * (b + k))));
        }
        /* lane k = block k's sum: pairs, then quads (within halves), then the halves added */
        const __m256i q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
        const __m256i q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
        __m256i sum = _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20), _mm256_permute2x128_si256(q0, q1, 0x31));
        const __m256i s8 = _mm256_loadu_si256((const __m256i *)(xs + b)); /* the activations' block code sums */
        if (type != KERN_Q8_0) sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(s8, sh));
        if (aff) sum = _mm256_sub_epi32(sum, _mm256_mullo_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(z + b))), s8));
        /* the 8 blocks' f16 scales (the lane an immediate: no loop, which -O1 would not unroll) */
        const uint8_t *d0 = row + (size_t)b * bs;
        __m128i h = _mm_cvtsi32_si128(qs_u16(d0));
        h = _mm_insert_epi16(h, qs_u16(d0 + bs), 1);
        h = _mm_insert_epi16(h, qs_u16(d0 + 2 * bs), 2);
        h = _mm_insert_epi16(h, qs_u16(d0 + 3 * bs), 3);
        h = _mm_insert_epi16(h, qs_u16(d0 + 4 * bs), 4);
        h = _mm_insert_epi16(h, qs_u16(d0 + 5 * bs), 5);
        h = _mm_insert_epi16(h, qs_u16(d0 + 6 * bs), 6);
        h = _mm_insert_epi16(h, qs_u16(d0 + 7 * bs), 7);
        const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_loadu_ps(xd + b));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), d, acc);
    }
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0; /* the rest: even and odd blocks */
    for (; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * bs;
        if (pf && b % every == 0) _mm_prefetch((const char *)blk + pf, _MM_HINT_T0);
        __m256i p = qs_block_lanes(type, blk, _mm256_loadu_si256((const __m256i *)(q + QK * b)));
        if (type != KERN_Q8_0) p = _mm256_sub_epi32(p, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(xl + 8 * b)), sh));
        if (aff) p = _mm256_sub_epi32(p, _mm256_setr_epi32(z[b] * xs[b], 0, 0, 0, 0, 0, 0, 0));
        const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(qs_f16(blk) * xd[b]));
        if (b & 1) acc1 = _mm256_add_ps(acc1, f);
        else acc0 = _mm256_add_ps(acc0, f);
    }
    /* rows of fewer than 8 blocks (small models) give the bits of the one-block-at-a-time loop */
    return qs_hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), acc));
}

/* Rows [n0, n1) in the GGUF block order, every type, affine or not: qs_dot_row per row and
 * token (rows outer: a decode streams each row once). */
static inline __attribute__((always_inline)) void qs_rows_dot_t(const KernQType type, const KernQMat *W,
                                                                const KernQAct *x, int n0, int n1, float *Y, int pf) {
    const size_t bs = (size_t)qs_block_bytes(type);
    for (int n = n0; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)W->blocks + (size_t)n * W->nb * bs;
        const int8_t *z = W->zero ? W->zero + (size_t)n * W->nb : NULL;
        for (int t = 0; t < x->T; t++) {
            const size_t o = (size_t)t * x->nb;
            Y[(size_t)t * W->N + n] = z ? qs_dot_row(type, row, W->nb, x->q + o * QK, x->d + o, x->l + o * 8, x->s + o, 1, z, pf)
                                        : qs_dot_row(type, row, W->nb, x->q + o * QK, x->d + o, x->l + o * 8, x->s + o, 0, NULL, pf);
        }
    }
}

static inline void qs_rows_dot(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y, int pf) {
    switch (W->type) {
        case KERN_Q8_0: qs_rows_dot_t(KERN_Q8_0, W, x, n0, n1, Y, pf); break;
        case KERN_Q4_0: qs_rows_dot_t(KERN_Q4_0, W, x, n0, n1, Y, pf); break;
        case KERN_Q3: qs_rows_dot_t(KERN_Q3, W, x, n0, n1, Y, pf); break;
        default: qs_rows_dot_t(KERN_Q2, W, x, n0, n1, Y, pf); break;
    }
}

/* Block b of token t of the integer path's activations (kern_qact_quantize), from its 32 codes
 * c and their sums of 4 l: the codes, l, the block's sum s, its scale d, and q16 (kernels.h)
 * where the block lies in a whole superblock.  Shared by the AVX2 and AVX-512 quantizers. */
static inline void qs_act_store(KernQAct *a, int t, int b, __m256i c, __m256i l, float d) {
    const int nb = a->nb;
    const size_t o = (size_t)t * nb + b;
    _mm256_storeu_si256((__m256i *)(a->q + o * 32), c);
    _mm256_storeu_si256((__m256i *)(a->l + o * 8), l);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(l), _mm256_extracti128_si256(l, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    a->d[o] = d;
    a->s[o] = _mm_cvtsi128_si32(h);
    if (b < nb / 16 * 16) { /* q16: vector v, lane b % 16 = codes 4 sigma(v) .. + 3 */
        uint32_t w[8];
        _mm256_storeu_si256((__m256i *)w, c);
        int8_t *q16 = a->q16 + ((size_t)t * nb + b / 16 * 16) * 32 + 4 * (b % 16);
        for (int v = 0; v < 8; v++) memcpy(q16 + 64 * v, &w[kern_sb16_sigma(v)], 4);
    }
}

#endif
