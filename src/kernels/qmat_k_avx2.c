/* qmat_k_avx2.c — Q4_K / Q6_K rows on AVX2 (kernels.h KERN_Q4_K, KERN_Q6_K; the arithmetic and
 * the scalar reference: qmat_k.c).  AVX-512 machines run these too.
 *
 * Row dots, a superblock (8 activation blocks) per step, the superblock's bytes as the GGUF file
 * stores them, unpacked once for up to 4 tokens:
 *   Q4_K  4 loads of 32 nibble bytes; their low nibbles are block 2p's 32 codes in element
 *         order, the high nibbles block 2p + 1's, so each meets its activation block with one
 *         pmaddubsw (unsigned codes 0..15 against signed ones: pairs at most 2 x 15 x 127) and
 *         one pmaddwd.  The 8 scales and 8 mins come out of their 12 bytes with 32-bit masks
 *         and shifts, one conversion each.
 *   Q6_K  per half of 128: 2 loads of low nibbles and 1 of high bits make the 4 blocks' codes
 *         u (0..63; pmaddubsw pairs at most 2 x 63 x 127); 32 times the activations' 4-sums
 *         (one more pmaddubsw) come off, and pmulld applies the two halves' int8 scales to
 *         lanes 0-3 and 4-7.
 * Eight blocks' int32 lanes reduce to one vector of 8 block sums (3 levels of phaddd and a
 * lane swap); the f32 step is then the scalar kernel's, lane for lane (each block's term has
 * its bits), summed per lane across superblocks and across lanes at the end: another order
 * than the scalar kernel's, equal to float rounding. */
#include "qmat_simd.h"

enum { PF_K = 2048 }; /* bytes ahead that a decode prefetches (qmat_avx2.c's measurements) */

/* s[j]: 8 int32 partial sums of block j -> lane j: block j's sum. */
static inline __m256i sum8(const __m256i s[8]) {
    const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

/* A Q4_K superblock's 8 sub-block factors D = d sc and M = dmin m, lane j for sub-block j: the
 * 12 bytes of 6-bit scales and mins (qblock_k4_scale_min) unpacked 4 at a time with 32-bit masks
 * and shifts, scales into bytes 0-7 of u and mins into bytes 8-15. */
static inline void q4k_scales(const uint8_t *blk, __m256 *D, __m256 *M) {
    uint32_t u[4];
    memcpy(u, blk + 4, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    const uint32_t m03 = u[1] & 0x3f3f3f3fu;
    u[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    u[2] = m03;
    u[0] &= 0x3f3f3f3fu;
    *D = _mm256_mul_ps(_mm256_set1_ps(qs_f16(blk)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)u))));
    *M = _mm256_mul_ps(_mm256_set1_ps(qs_f16(blk + 2)),
                       _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(u + 2)))));
}

/* A Q4_K row of nsb superblocks against one token (q, s, d: its blocks' codes, code sums and
 * scales from block 0). */
static float dot_q4k(const uint8_t *row, int nsb, const int8_t *q, const int32_t *sx, const float *dx) {
    const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        const uint8_t *blk = row + (size_t)sb * 144;
        for (int k = 0; k < 192; k += 64) _mm_prefetch((const char *)blk + PF_K + k, _MM_HINT_T0);
        __m256 D, M;
        q4k_scales(blk, &D, &M);
        const int8_t *xq = q + (size_t)sb * 8 * QK;
        __m256i s[8];
        for (int p = 0; p < 4; p++) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * p));
            const __m256i lo = _mm256_and_si256(qs, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4);
            s[2 * p] = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(xq + 64 * p))), ones);
            s[2 * p + 1] = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xq + 64 * p + 32))), ones);
        }
        const __m256 t1 = _mm256_mul_ps(D, _mm256_cvtepi32_ps(sum8(s)));
        const __m256 t2 = _mm256_mul_ps(M, _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(sx + 8 * sb))));
        const __m256 term = _mm256_mul_ps(_mm256_sub_ps(t1, t2), _mm256_loadu_ps(dx + 8 * sb));
        acc = _mm256_add_ps(acc, term);
    }
    return qs_hsum(acc);
}

/* Blocks 4 half .. 4 half + 3 of a Q6_K superblock: their 32 codes u (0..63) each, in element
 * order, from the low or high nibbles of ql's bytes and 2 bits of qh's (qblock_k.c's layout):
 * three loads for the four. */
static inline void q6k_codes(const uint8_t *blk, int half, __m256i uq[4]) {
    const __m256i qa = _mm256_loadu_si256((const __m256i *)(blk + 64 * half));
    const __m256i qb = _mm256_loadu_si256((const __m256i *)(blk + 64 * half + 32));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * half));
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    for (int i = 0; i < 4; i++) {
        const __m256i ql = i % 2 ? qb : qa;
        const __m256i nib = i < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
        const __m256i hb = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * i)), m2);
        uq[i] = _mm256_or_si256(nib, _mm256_slli_epi16(hb, 4)); /* 0..63: no bit leaves its byte */
    }
}

/* Block j's two int8 scales: lanes 0-3 (codes 0-15) and 4-7 (16-31). */
static inline __m256i q6k_scales(const int8_t *sc, int j) {
    const int a = sc[2 * j], b = sc[2 * j + 1]; /* sc[8 half + 2 i (+ 1)], j = 4 half + i */
    return _mm256_setr_epi32(a, a, a, a, b, b, b, b);
}

/* 8 int32 lanes whose sum is a S_lo + b S_hi: the 4-sums of (u - 32) x (pmaddubsw on the unsigned
 * codes, less 32 times the activations' 4-sums), times the halves' scales. */
static inline __m256i q6k_dot(__m256i uq, __m256i xv, __m256i scv) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i dot = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(uq, xv), ones),
                                         _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(32), xv), ones));
    return _mm256_mullo_epi32(dot, scv);
}

/* A Q6_K row against one token. */
static float dot_q6k(const uint8_t *row, int nsb, const int8_t *q, const float *dx) {
    __m256 acc = _mm256_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        const uint8_t *blk = row + (size_t)sb * 210;
        for (int k = 0; k < 256; k += 64) _mm_prefetch((const char *)blk + PF_K + k, _MM_HINT_T0);
        const int8_t *sc = (const int8_t *)(blk + 192), *xq = q + (size_t)sb * 8 * QK;
        __m256i s[8], uq[8];
        q6k_codes(blk, 0, uq);
        q6k_codes(blk, 1, uq + 4);
        for (int j = 0; j < 8; j++)
            s[j] = q6k_dot(uq[j], _mm256_loadu_si256((const __m256i *)(xq + (size_t)j * QK)), q6k_scales(sc, j));
        const __m256 dd = _mm256_mul_ps(_mm256_set1_ps(qs_f16(blk + 208)), _mm256_loadu_ps(dx + 8 * sb));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(dd, _mm256_cvtepi32_ps(sum8(s))));
    }
    return qs_hsum(acc);
}

enum { NT_MAX = 4 }; /* tokens that share a superblock's unpacking */

/* A Q4_K row of nsb superblocks against tokens t0 .. t0 + NT - 1 (y[t * ldy]): each superblock's
 * codes, scales and mins are unpacked once for the NT tokens (a prompt reads the row from cache
 * once per NT tokens; a single token takes dot_q4k). */
static inline __attribute__((always_inline)) void rows_q4k(const int NT, const uint8_t *row, int nsb, const KernQAct *x,
                                                           int t0, float *y, size_t ldy) {
    const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    __m256 acc[NT_MAX];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        const uint8_t *blk = row + (size_t)sb * 144;
        for (int k = 0; k < 192; k += 64) _mm_prefetch((const char *)blk + PF_K + k, _MM_HINT_T0);
        __m256 D, M;
        q4k_scales(blk, &D, &M);
        __m256i c[8]; /* block j's 32 codes in element order */
        for (int p = 0; p < 4; p++) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * p));
            c[2 * p] = _mm256_and_si256(qs, m4);
            c[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4);
        }
        for (int t = 0; t < NT; t++) {
            const size_t o = (size_t)(t0 + t) * x->nb + 8 * (size_t)sb;
            const int8_t *xq = x->q + o * QK;
            __m256i s[8];
            for (int j = 0; j < 8; j++)
                s[j] = _mm256_madd_epi16(_mm256_maddubs_epi16(c[j], _mm256_loadu_si256((const __m256i *)(xq + 32 * j))), ones);
            const __m256 t1 = _mm256_mul_ps(D, _mm256_cvtepi32_ps(sum8(s)));
            const __m256 t2 = _mm256_mul_ps(M, _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(x->s + o))));
            const __m256 term = _mm256_mul_ps(_mm256_sub_ps(t1, t2), _mm256_loadu_ps(x->d + o));
            acc[t] = _mm256_add_ps(acc[t], term);
        }
    }
    for (int t = 0; t < NT; t++) y[(size_t)t * ldy] = qs_hsum(acc[t]);
}

/* A Q6_K row against tokens t0 .. t0 + NT - 1, each half superblock's codes and scales unpacked
 * once for them. */
static inline __attribute__((always_inline)) void rows_q6k(const int NT, const uint8_t *row, int nsb, const KernQAct *x,
                                                           int t0, float *y, size_t ldy) {
    __m256 acc[NT_MAX];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        const uint8_t *blk = row + (size_t)sb * 210;
        for (int k = 0; k < 256; k += 64) _mm_prefetch((const char *)blk + PF_K + k, _MM_HINT_T0);
        const int8_t *sc = (const int8_t *)(blk + 192);
        const float d = qs_f16(blk + 208);
        __m256i s[NT_MAX][8], uq[8];
        q6k_codes(blk, 0, uq);
        q6k_codes(blk, 1, uq + 4);
        for (int j = 0; j < 8; j++) {
            const __m256i scv = q6k_scales(sc, j);
            for (int t = 0; t < NT; t++) {
                const int8_t *xq = x->q + ((size_t)(t0 + t) * x->nb + 8 * (size_t)sb + j) * QK;
                s[t][j] = q6k_dot(uq[j], _mm256_loadu_si256((const __m256i *)xq), scv);
            }
        }
        for (int t = 0; t < NT; t++) {
            const size_t o = (size_t)(t0 + t) * x->nb + 8 * (size_t)sb;
            const __m256 dd = _mm256_mul_ps(_mm256_set1_ps(d), _mm256_loadu_ps(x->d + o));
            acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(dd, _mm256_cvtepi32_ps(sum8(s[t]))));
        }
    }
    for (int t = 0; t < NT; t++) y[(size_t)t * ldy] = qs_hsum(acc[t]);
}

/* A row against NT tokens on either type (NT a constant in each call below). */
static inline __attribute__((always_inline)) void rows_nt(const int NT, int q4, const uint8_t *row, int nsb,
                                                          const KernQAct *x, int t0, float *y, size_t ldy) {
    if (q4) rows_q4k(NT, row, nsb, x, t0, y, ldy);
    else rows_q6k(NT, row, nsb, x, t0, y, ldy);
}

void kern_qmat_rows_k_avx2(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    const size_t stride = kern_qmat_row_bytes(W), ldy = (size_t)W->N;
    const int nsb = W->K / QK_K, q4 = W->type == KERN_Q4_K;
    for (int n = n0; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)W->blocks + (size_t)n * stride;
        for (int t0 = 0; t0 < x->T; t0 += NT_MAX) {
            float *y = Y + (size_t)t0 * ldy + n;
            switch (x->T - t0 < NT_MAX ? x->T - t0 : NT_MAX) {
                case 1: { /* one token (a decode step): its own loop, measured faster than rows_nt(1) */
                    const size_t o = (size_t)t0 * x->nb;
                    *y = q4 ? dot_q4k(row, nsb, x->q + o * QK, x->s + o, x->d + o) : dot_q6k(row, nsb, x->q + o * QK, x->d + o);
                    break;
                }
                case 2: rows_nt(2, q4, row, nsb, x, t0, y, ldy); break;
                case 3: rows_nt(3, q4, row, nsb, x, t0, y, ldy); break;
                default: rows_nt(4, q4, row, nsb, x, t0, y, ldy); break;
            }
        }
    }
}
