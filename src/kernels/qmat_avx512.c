/* qmat_avx512.c — group-quantized linear, AVX-512 VNNI (kernels.h, qmat.c).
 *
 * Fast paths for symmetric Q4_0 and Q8_0: two blocks (64 weights) per zmm.  VNNI's vpdpbusd
 * multiplies unsigned by signed bytes, so the weights go in as u = q + o (Q4_0's stored nibble,
 * o = 8; Q8_0's code xor 0x80, o = 128) and the offset is taken back exactly from the int32
 * lanes: lane i holds sum_{4 codes} u x - o * (sum of those 4 activation codes), the latter
 * precomputed per activation block (KernQAct.l).  Each 8-lane half is one block; its int32
 * lanes are converted and multiplied by d_w d_x into an f32 accumulator that is summed once
 * per row at the end.  Q3 / Q2 / affine go the general way (qmat_simd.h). */
#include "qmat_simd.h"

/* u8 nibbles of blocks b, b + 1, each in its 32-element order: [lo0 | hi0 | lo1 | hi1]. */
static inline __m512i q4_pair(const QBlockQ4_0 *b) {
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs))),
                                   _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b[1].qs)), 1);
    return _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0)), _mm512_set1_epi8(15));
}

static inline __m512i q8_pair(const QBlockQ8_0 *b) {
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs)),
                                   _mm256_loadu_si256((const __m256i *)b[1].qs), 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
}

static inline __m256i q4_one(const QBlockQ4_0 *b) {
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->qs));
    return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(15));
}

static inline __m256i q8_one(const QBlockQ8_0 *b) {
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs), _mm256_set1_epi8((char)0x80));
}

static inline __m512 pair_scale(float a, float b) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(a)), _mm256_set1_ps(b), 1);
}

static inline float hsum256(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* One row (nb blocks of type Q4_0 (q4 = 1) or Q8_0) against one token's activation blocks. */
#define ROW_DOT(NAME, BLK, PAIR, ONE, SHIFT)                                                                  \
    static float NAME(const BLK *w, int nb, const int8_t *q, const float *xd, const int32_t *xl) {            \
        __m512 acc = _mm512_setzero_ps();                                                                     \
        int b = 0;                                                                                            \
        for (; b + 2 <= nb; b += 2) {                                                                         \
            __m512i corr = _mm512_slli_epi32(_mm512_loadu_si512(xl + 8 * b), SHIFT);                        \
            __m512i s = _mm512_dpbusd_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), corr), PAIR(w + b),     \
                                            _mm512_loadu_si512(q + QK * b));                                  \
            __m512 sc = pair_scale(_cvtsh_ss(w[b].d) * xd[b], _cvtsh_ss(w[b + 1].d) * xd[b + 1]);            \
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc);                                           \
        }                                                                                                     \
        __m256 a = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));               \
        if (b < nb) {                                                                                         \
            __m256i corr = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(xl + 8 * b)), SHIFT);      \
            __m256i s = _mm256_dpbusd_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), corr), ONE(w + b),      \
                                            _mm256_loadu_si256((const __m256i *)(q + QK * b)));              \
            a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(_cvtsh_ss(w[b].d) * xd[b]), a);        \
        }                                                                                                     \
        return hsum256(a);                                                                                    \
    }
ROW_DOT(dot_q4, QBlockQ4_0, q4_pair, q4_one, 3)
ROW_DOT(dot_q8, QBlockQ8_0, q8_pair, q8_one, 7)

/* Prompt micro-kernel: 4 rows x 4 tokens, 16 f32 accumulators; a pair of weight blocks is
 * unpacked once for 4 tokens and a token's activation pair (codes, offsets, scales) once for 4
 * rows.  Per (row, token) each pair costs vpdpbusd + convert + multiply + fma. */
#define TR 4
#define TC 4
static void tile_4x4(int q4, const uint8_t *const wrow[TR], size_t bs, int nb, const KernQAct *x, int t0, float *Y, int N,
                     int n0) {
    __m512 acc[TR][TC];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < TR; r++)
        _Pragma("GCC unroll 4")
        for (int c = 0; c < TC; c++) acc[r][c] = _mm512_setzero_ps();
    const int8_t *xq[TC];
    const float *xd[TC];
    const int32_t *xl[TC];
    _Pragma("GCC unroll 4")
    for (int c = 0; c < TC; c++) {
        xq[c] = x->q + (size_t)(t0 + c) * x->nb * QK;
        xd[c] = x->d + (size_t)(t0 + c) * x->nb;
        xl[c] = x->l + (size_t)(t0 + c) * x->nb * 8;
    }
    const int sh = q4 ? 3 : 7;
    for (int b = 0; b + 2 <= nb; b += 2) {
        __m512i neg[TC];
        __m512 dx[TC];
        _Pragma("GCC unroll 4")
        for (int c = 0; c < TC; c++) {
            neg[c] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_loadu_si512(xl[c] + 8 * b), sh));
            dx[c] = pair_scale(xd[c][b], xd[c][b + 1]);
        }
        _Pragma("GCC unroll 4")
        for (int r = 0; r < TR; r++) {
            const uint8_t *blk = wrow[r] + (size_t)b * bs;
            __m512i u = q4 ? q4_pair((const QBlockQ4_0 *)blk) : q8_pair((const QBlockQ8_0 *)blk);
            __m512 dw = pair_scale(qs_f16(blk), qs_f16(blk + bs));
            _Pragma("GCC unroll 4")
            for (int c = 0; c < TC; c++) {
                __m512i s = _mm512_dpbusd_epi32(neg[c], u, _mm512_loadu_si512(xq[c] + QK * b));
                acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s), dx[c]), dw, acc[r][c]);
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < TR; r++)
        _Pragma("GCC unroll 4")
        for (int c = 0; c < TC; c++) {
            __m256 a = _mm256_add_ps(_mm512_castps512_ps256(acc[r][c]), _mm512_extractf32x8_ps(acc[r][c], 1));
            int b = nb & ~1;
            if (b < nb) { /* odd block count: the last block alone */
                const uint8_t *blk = wrow[r] + (size_t)b * bs;
                __m256i u = q4 ? q4_one((const QBlockQ4_0 *)blk) : q8_one((const QBlockQ8_0 *)blk);
                __m256i corr = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(xl[c] + 8 * b)), sh);
                __m256i s = _mm256_dpbusd_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), corr), u,
                                                _mm256_loadu_si256((const __m256i *)(xq[c] + QK * b)));
                a = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(xd[c][b])), _mm256_set1_ps(qs_f16(blk)), a);
            }
            Y[(size_t)(t0 + c) * N + n0 + r] = hsum256(a);
        }
}

void kern_qmat_rows_avx512(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    if (W->zero || (W->type != KERN_Q4_0 && W->type != KERN_Q8_0)) {
        qs_rows_general(W, x, n0, n1, Y);
        return;
    }
    const int nb = W->nb;
    const size_t bs = kern_qtype_block_bytes(W->type);
    int tt = x->T >= TC ? x->T / TC * TC : 0; /* tokens done by the 4 x 4 tiles */
    int nn = n0 + (tt ? (n1 - n0) / TR * TR : 0);
    for (int n = n0; n < nn; n += TR) {
        const uint8_t *wrow[TR];
        for (int r = 0; r < TR; r++) wrow[r] = (const uint8_t *)W->blocks + (size_t)(n + r) * nb * bs;
        for (int t = 0; t < tt; t += TC) tile_4x4(W->type == KERN_Q4_0, wrow, bs, nb, x, t, Y, W->N, n);
    }
    for (int n = n0; n < n1; n++)
        for (int t = n < nn ? tt : 0; t < x->T; t++) {
            const int8_t *q = x->q + (size_t)t * x->nb * QK;
            const float *xd = x->d + (size_t)t * x->nb;
            const int32_t *xl = x->l + (size_t)t * x->nb * 8;
            Y[(size_t)t * W->N + n] = W->type == KERN_Q4_0
                                          ? dot_q4((const QBlockQ4_0 *)W->blocks + (size_t)n * nb, nb, q, xd, xl)
                                          : dot_q8((const QBlockQ8_0 *)W->blocks + (size_t)n * nb, nb, q, xd, xl);
        }
}
