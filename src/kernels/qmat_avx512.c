/* qmat_avx512.c — group-quantized linear, AVX-512 VNNI + VBMI (kernels.h, qmat.c).
 *
 * Fast paths for symmetric Q4_0 and Q8_0.  VNNI's vpdpbusd multiplies unsigned by signed
 * bytes, so the weights go in unsigned, u = q + o (Q4_0's stored nibble, o = 8; Q8_0's code
 * xor 0x80, o = 128), and o times the activation codes' sum is taken back exactly in int32
 * before the block's int32 sum is scaled by d_w d_x and added in f32.  Q3 / Q2 and affine
 * rows of a decode run qs_rows_dot (qmat_simd.h), or, in the sb16 layout, the AVX2 kernels;
 * a prompt on Q3 / Q2 / affine GGUF-order rows and on Q3 / Q2 sb16 rows arrives recoded into
 * Q4_0 / Q8_0 (qmat.c).
 *
 * Decode (T <= KERN_QACT_DOT_T tokens): rows against one token, streaming the rows' blocks
 * as stored, one row at a time.  Q4_0: per 4 blocks (72 bytes) of a row two loads, one
 * vpermt2b that gathers the 4 x 16 nibble bytes, one vpermb that gathers the 4 f16 scales
 * (each repeated over its 4 int32 lanes), and two vpdpbusd against activations pre-arranged
 * in that order (KernQAct.qp: low nibbles are codes 0-15, high nibbles 16-31), starting from
 * the exact offsets (KernQAct.c4); one f32 fma per 128 weights.  Q8_0, a row at a time, 2
 * blocks (68 bytes) per vpdpbusd, codes and scales gathered the same way (dot_q8).
 *
 * Rows in the sb16 layout (kernels.h; the loader chooses it for these kernels) decode through
 * dot_sb16: one block per int32 lane, aligned loads, no gathers; its reasons are there.
 *
 * Prompt (more tokens): tiles of 32 rows; a tile's blocks (64 at a time) are unpacked once to
 * u8 in the [block][k / 4][32 rows][4] order, so that each vpdpbusd multiplies 16 rows by 4
 * codes of one token broadcast from memory; register tiles of up to 6 tokens x 32 rows (12
 * int32 block accumulators, 12 f32 accumulators) reuse each weight load 6 times.  Per block
 * and (token, 16 rows): 8 vpdpbusd, then convert, multiply the scales, fma.  Where the AMX int8
 * tiles run (kern_amx_on), each group of 16 tokens goes to them instead (qmat_amx_tile.h), on the
 * same unpacked tile (their results are the scalar kernel's bits); the tokens past the last 16
 * stay here. */
#include "qmat_simd.h"
#include "transpose_avx512.h"

#define VBMI __attribute__((target("avx512vbmi")))

/* Byte gathers (vpermt2b over a block group's first 64 bytes A and the 16 bytes B that follow
 * from offset 56 (Q4_0) or 52 (Q8_0); index i < 64 picks A[i], 64 + j picks B[j]).
 * Q4_QS: 16 nibble bytes of each of 4 blocks (block i at 18 i + 2).  Q4_D: the 4 f16 scales
 * (at 18 i), each for 4 consecutive lanes.  Q8_QS / Q8_D (below, with dot_q8): the same for 2
 * Q8_0 blocks (codes at 34 i + 2, scales at 34 i, each for 8 lanes). */
static const uint8_t Q4_QS[64] = {2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 25,
                                  26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49,
                                  50, 51, 52, 53, 56, 57, 58, 59, 60, 61, 62, 63, 72, 73, 74, 75, 76, 77, 78, 79};
static const uint8_t Q4_D[64] = {0,  1,  0,  1,  0,  1,  0,  1,  18, 19, 18, 19, 18, 19, 18, 19,
                                 36, 37, 36, 37, 36, 37, 36, 37, 54, 55, 54, 55, 54, 55, 54, 55};
/* 32 unsigned codes of one block in element order (u = q + o). */
static inline __m256i q4_one(const uint8_t *blk) {
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 2)));
    return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(15));
}

static inline __m256i q8_one(const uint8_t *blk) {
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), _mm256_set1_epi8((char)0x80));
}

static inline float hsum512(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* Block b alone (the blocks past the last full group), in plain order: the f32 term. */
static inline float one_block(int q4, const uint8_t *blk, const int8_t *q, const int32_t *l, float dx) {
    __m256i corr = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)l), q4 ? 3 : 7);
    __m256i s = _mm256_dpbusd_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), corr), q4 ? q4_one(blk) : q8_one(blk),
                                    _mm256_loadu_si256((const __m256i *)q));
    __m256i h = _mm256_add_epi32(s, _mm256_shuffle_epi32(s, 0x4e));
    h = _mm256_add_epi32(h, _mm256_shuffle_epi32(h, 0xb1));
    int32_t si = _mm_cvtsi128_si32(_mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
    float dd = qs_f16(blk) * dx;
    return dd * (float)si;
}

/* ---------------------------------------------------------------- decode: row dots */

/* acc + the 4 blocks of row at p (72 bytes) against the token's activations at block b. */
VBMI static inline __attribute__((always_inline)) __m512 q4_step(__m512 acc, const uint8_t *p, const int8_t *qp,
                                                                const int32_t *c4, const float *d4, int b) {
    const __m512i m15 = _mm512_set1_epi8(15);
    __m512i A = _mm512_loadu_si512(p), B = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + 56)));
    __m512i qs = _mm512_permutex2var_epi8(A, _mm512_loadu_si512(Q4_QS), B);
    __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi8(_mm512_loadu_si512(Q4_D), A)));
    __m512i s = _mm512_dpbusd_epi32(_mm512_loadu_si512(c4 + 4 * b), _mm512_and_si512(qs, m15), _mm512_loadu_si512(qp + QK * b));
    s = _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(qs, 4), m15), _mm512_loadu_si512(qp + QK * b + 64));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_loadu_ps(d4 + 4 * b)), acc);
}

/* Decode (dot_row, below).  Q4_0: one row at a time, its blocks streamed in address order; two
 * accumulators (blocks b..b+3 and b+4..b+7 of each 8), token 0's activations 64-byte aligned
 * (KernQAct).
 *
 * Why one row and not several side by side sharing each activation load: measured with
 * bench_qmat 5632 2048 wall stream, alternating, 1 / 2 threads, one row streams 24-25 / 42-43
 * GB/s where 4 rows (with a software prefetch of the next group's range) streamed 19-20 /
 * 35-39, and 2 rows 18 / 34-35.  Several rows are several interleaved streams, which the
 * hardware prefetcher follows worse than one; the grouping paid only while the activations
 * were 16-byte aligned, so that every 64-byte activation load straddled two cache lines and
 * sharing it over 4 rows saved 3 of 4 split loads (one row on those buffers: 18-19 GB/s).
 *
 * Q8_0: one row at a time, 2 blocks (68 bytes) per step: one vpermt2b gathers the 2 x 32
 * codes, one vpermb the 2 f16 scales (each for its 8 int32 lanes), one vpdpbusd against the
 * activation codes in plain order from the exact offsets (KernQAct.c8); two accumulators (blocks
 * b, b + 1 and b + 2, b + 3 of each 4).  Why not one block per 256-bit step, with the scale as a
 * scalar (what ran from session 7 to 11): that was measured faster from memory while the
 * activations straddled cache lines.  On aligned activations the 512-bit step computes 1.2-1.3x
 * faster (bench_qmat 5632 2048 wall decode, one thread, in cache: 41-47 against 34-36 GB/s),
 * and a W8 1.1B decode ran 5% faster (4 alternating rounds: 33.2 against 31.5 tokens/s,
 * linears 44-48 against 36-44 GB/s) when the host's memory was fast enough that the kernels'
 * pace, not the memory, was the limit. */
static const uint8_t Q8_QS[64] = {2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                                  24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
                                  48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 76, 77, 78, 79};
static const uint8_t Q8_D[64] = {0,  1,  0,  1,  0,  1,  0,  1,  0,  1,  0,  1,  0,  1,  0,  1,
                                 34, 35, 34, 35, 34, 35, 34, 35, 34, 35, 34, 35, 34, 35, 34, 35};

/* acc + the 2 blocks of row at p (68 bytes) against the token's activations at block b; the
 * activation scales come from d4 (4 per block), spread to 8 lanes per block. */
VBMI static inline __attribute__((always_inline)) __m512 q8_step(__m512 acc, const uint8_t *p, const int8_t *q,
                                                                const int32_t *c8, const float *d4, int b) {
    const __m512i m80 = _mm512_set1_epi8((char)0x80);
    const __m512i spread = _mm512_set_epi32(7, 6, 5, 4, 7, 6, 5, 4, 3, 2, 1, 0, 3, 2, 1, 0);
    __m512i A = _mm512_loadu_si512(p), B = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + 52)));
    __m512i u = _mm512_xor_si512(_mm512_permutex2var_epi8(A, _mm512_loadu_si512(Q8_QS), B), m80);
    __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi8(_mm512_loadu_si512(Q8_D), A)));
    __m512 dx = _mm512_permutexvar_ps(spread, _mm512_castps256_ps512(_mm256_loadu_ps(d4 + 4 * b)));
    __m512i s = _mm512_dpbusd_epi32(_mm512_loadu_si512(c8 + 8 * b), u, _mm512_loadu_si512(q + QK * b));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, dx), acc);
}

/* One row against token t: q4 (Q4_0, 4 blocks a step) or Q8_0 (2 blocks a step); two
 * accumulators taking alternate steps; the blocks past the last full step one at a time in
 * plain order (KernQAct keeps those blocks' codes unpermuted in qp as well). */
VBMI static inline __attribute__((always_inline)) float dot_row(const int q4, const uint8_t *row, int nb, const KernQAct *x,
                                                               int t) {
    const size_t o = (size_t)t * x->nb;
    const int8_t *q = (q4 ? x->qp : x->q) + o * QK;
    const int32_t *c = q4 ? x->c4 + o * 4 : x->c8 + o * 8;
    const float *d4 = x->d4 + o * 4;
    const int S = q4 ? 4 : 2, bs = q4 ? 18 : 34; /* blocks a step, bytes a block */
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int b = 0;
    for (; b + 2 * S <= nb; b += 2 * S) {
        acc0 = q4 ? q4_step(acc0, row + (size_t)b * bs, q, c, d4, b) : q8_step(acc0, row + (size_t)b * bs, q, c, d4, b);
        acc1 = q4 ? q4_step(acc1, row + (size_t)(b + S) * bs, q, c, d4, b + S)
                  : q8_step(acc1, row + (size_t)(b + S) * bs, q, c, d4, b + S);
    }
    if (b + S <= nb) {
        acc0 = q4 ? q4_step(acc0, row + (size_t)b * bs, q, c, d4, b) : q8_step(acc0, row + (size_t)b * bs, q, c, d4, b);
        b += S;
    }
    float v = hsum512(_mm512_add_ps(acc0, acc1));
    for (int j = b; j < nb; j++) v += one_block(q4, row + (size_t)j * bs, q + QK * j, x->l + (o + j) * 8, x->d[o + j]);
    return v;
}

VBMI static float dot_q4(const uint8_t *row, int nb, const KernQAct *x, int t) { return dot_row(1, row, nb, x, t); }
VBMI static float dot_q8(const uint8_t *row, int nb, const KernQAct *x, int t) { return dot_row(0, row, nb, x, t); }

/* Decode on sb16 rows (kernels.h): per superblock of 16 blocks, each int32 lane holds one
 * block's whole sum, so the scales take one aligned load, one conversion and one fma per 16
 * blocks, and every weight load is an aligned 64 bytes.  Q4_0: 4 loads, each two vpdpbusd
 * (low nibbles, high nibbles against activation vectors 2v and 2v + 1 of q16); Q8_0: 8 loads
 * and 8 vpdpbusd.  The unsigned codes' offset comes off once per superblock: o times the
 * block's code sum (KernQAct.s), o = 8 or 128.
 *
 * Why: on the GGUF blocks (dot_row) a 72-byte step needs a byte gather for the codes, one for
 * the scales and a conversion, and 7 of its 8 64-byte loads straddle cache lines (a plain read
 * with straddling loads streams 25 GB/s a core where aligned ones stream 32-35).  One thread,
 * bench_qmat 5632 2048 wall [stream]: Q4_0 from cache 40 -> 60 GB/s, from memory 25 -> 28;
 * Q8_0 45 -> 70 and 27 -> 31.  The scales sit after each pair of superblocks, not after the
 * row's codes: a row that jumps ahead for its scales and back streamed 10% slower at K = 5632. */
static inline __attribute__((always_inline)) float dot_sb16(const int q4, const uint8_t *row, int nb, const KernQAct *x,
                                                            int t) {
    const size_t o = (size_t)t * x->nb;
    const int8_t *q = x->q16 + o * QK;
    const int32_t *sx = x->s + o;
    const float *dx = x->d + o;
    const int ns = nb / 16;
    const __m512i m15 = _mm512_set1_epi8(15);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int s = 0; s < ns; s++) {
        size_t codes, scales;
        kern_sb16_at(q4 ? KERN_Q4_0 : KERN_Q8_0, ns, s, &codes, &scales);
        const uint8_t *w = row + codes, *sc = row + scales;
        const int8_t *xs = q + (size_t)s * 512;
        __m512i a = _mm512_setzero_si512(), c = _mm512_setzero_si512();
        if (q4) {
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {
                __m512i u = _mm512_load_si512(w + 64 * v);
                a = _mm512_dpbusd_epi32(a, _mm512_and_si512(u, m15), _mm512_load_si512(xs + 128 * v));
                c = _mm512_dpbusd_epi32(c, _mm512_and_si512(_mm512_srli_epi16(u, 4), m15), _mm512_load_si512(xs + 128 * v + 64));
            }
        } else {
            _Pragma("GCC unroll 4") for (int v = 0; v < 8; v += 2) {
                a = _mm512_dpbusd_epi32(a, _mm512_load_si512(w + 64 * v), _mm512_load_si512(xs + 64 * v));
                c = _mm512_dpbusd_epi32(c, _mm512_load_si512(w + 64 * v + 64), _mm512_load_si512(xs + 64 * v + 64));
            }
        }
        __m512i corr = _mm512_slli_epi32(_mm512_loadu_si512(sx + 16 * s), q4 ? 3 : 7);
        __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_add_epi32(a, c), corr));
        __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_load_si256((const __m256i *)sc)), _mm512_loadu_ps(dx + 16 * s));
        if (s & 1) acc1 = _mm512_fmadd_ps(f, dd, acc1);
        else acc0 = _mm512_fmadd_ps(f, dd, acc0);
    }
    return hsum512(_mm512_add_ps(acc0, acc1));
}

static float dot_sb16_q4(const uint8_t *row, int nb, const KernQAct *x, int t) { return dot_sb16(1, row, nb, x, t); }
static float dot_sb16_q8(const uint8_t *row, int nb, const KernQAct *x, int t) { return dot_sb16(0, row, nb, x, t); }

/* ---------------------------------------------------------------- prompt: tiles */

enum { GC = KERN_QMAT_TILE_ROWS, GR = 6, KCB = 64 }; /* rows per tile, tokens per register tile, blocks per chunk */

/* Rows [n, n + rows) (rows <= GC; the rest of the tile zero, scale 0), blocks [c0, c1):
 * wu[b - c0][k / 4][row][k % 4] = u, wd[b - c0][row] = d_w. */
static void unpack_tile(const KernQMat *W, int n, int rows, int c0, int c1, uint8_t *wu, float *wd) {
    const int q4 = W->type == KERN_Q4_0;
    const size_t bs = kern_qtype_block_bytes(W->type);
    const size_t stride = kern_qmat_row_bytes(W);
    for (int r = 0; r < GC; r++) {
        const uint8_t *row = (const uint8_t *)W->blocks + (size_t)(n + r) * stride;
        for (int b = c0; b < c1; b++) {
            uint8_t *dst = wu + (size_t)(b - c0) * (8 * GC * 4) + 4 * r;
            uint32_t u[8] = {0};
            float d = 0;
            if (r < rows) {
                const uint8_t *blk = row + (size_t)b * bs;
                _mm256_storeu_si256((__m256i *)u, q4 ? q4_one(blk) : q8_one(blk));
                d = qs_f16(blk);
            }
            for (int k4 = 0; k4 < 8; k4++) memcpy(dst + (size_t)k4 * GC * 4, &u[k4], 4);
            wd[(size_t)(b - c0) * GC + r] = d;
        }
    }
}

/* unpack_tile on sb16 rows (kernels.h): a superblock's vector v of 16 rows is 16 x 16 dwords
 * (row x block), which one transpose turns into the tile's [block][k / 4][row] order; Q4_0's
 * nibble vector v gives codes 4v .. (low) and 16 + 4v .. (high).  [c0, c1) whole superblocks. */
static void unpack_tile_sb16(const KernQMat *W, int n, int rows, int c0, int c1, uint8_t *wu, float *wd) {
    const int q4 = W->type == KERN_Q4_0, nv = q4 ? 4 : 8, ns = W->nb / 16;
    const size_t stride = kern_qmat_row_bytes(W);
    const uint8_t *base = (const uint8_t *)W->blocks + (size_t)n * stride;
    const __m512i m15 = _mm512_set1_epi8(15);
    for (int s = c0 / 16; s < c1 / 16; s++) {
        size_t codes, scales;
        kern_sb16_at(q4 ? KERN_Q4_0 : KERN_Q8_0, ns, s, &codes, &scales);
        for (int r0 = 0; r0 < GC; r0 += 16) {
            for (int v = 0; v < nv; v++) {
                __m512i m[16];
                for (int j = 0; j < 16; j++)
                    m[j] = r0 + j < rows ? _mm512_load_si512(base + (size_t)(r0 + j) * stride + codes + 64 * v) : _mm512_setzero_si512();
                kern_transpose16_epi32(m);
                for (int i = 0; i < 16; i++) {
                    uint8_t *dst = wu + (size_t)(16 * s + i - c0) * (8 * GC * 4) + 4 * r0;
                    if (q4) {
                        _mm512_store_si512(dst + v * GC * 4, _mm512_and_si512(m[i], m15));
                        _mm512_store_si512(dst + (v + 4) * GC * 4, _mm512_and_si512(_mm512_srli_epi16(m[i], 4), m15));
                    } else {
                        _mm512_store_si512(dst + kern_sb16_sigma(v) * GC * 4, m[i]);
                    }
                }
            }
            for (int j = 0; j < 16; j++) {
                _Alignas(64) float d[16] = {0};
                if (r0 + j < rows)
                    _mm512_store_ps(d, _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(base + (size_t)(r0 + j) * stride + scales))));
                for (int i = 0; i < 16; i++) wd[(size_t)(16 * s + i - c0) * GC + r0 + j] = d[i];
            }
        }
    }
}

/* Y[t0 + i, n .. n + 31] (+)= the tile's blocks against R tokens (first: Y not read). */
static inline __attribute__((always_inline)) void micro(const int R, const uint8_t *wu, const float *wd, int nbc,
                                                         const KernQAct *x, int t0, int c0, int32_t o, int first,
                                                         float *Y, int N, int n, __mmask16 m0, __mmask16 m1) {
    __m512 f[GR][2];
    const int8_t *xq[GR];
    const int32_t *xs[GR];
    const float *xd[GR];
    _Pragma("GCC unroll 6") for (int i = 0; i < GR; i++) {
        if (i >= R) break;
        size_t off = (size_t)(t0 + i) * x->nb + c0;
        xq[i] = x->q + off * QK;
        xs[i] = x->s + off;
        xd[i] = x->d + off;
        float *y = Y + (size_t)(t0 + i) * N + n;
        f[i][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y);
        f[i][1] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + 16);
    }
    for (int b = 0; b < nbc; b++) {
        __m512i a[GR][2];
        _Pragma("GCC unroll 6") for (int i = 0; i < GR; i++) {
            if (i >= R) break;
            __m512i c = _mm512_set1_epi32(-o * xs[i][b]);
            a[i][0] = c;
            a[i][1] = c;
        }
        const uint8_t *w = wu + (size_t)b * (8 * GC * 4);
        _Pragma("GCC unroll 8") for (int k4 = 0; k4 < 8; k4++) {
            __m512i w0 = _mm512_load_si512(w + k4 * GC * 4), w1 = _mm512_load_si512(w + k4 * GC * 4 + 64);
            _Pragma("GCC unroll 6") for (int i = 0; i < GR; i++) {
                if (i >= R) break;
                int32_t x4;
                memcpy(&x4, xq[i] + b * QK + 4 * k4, 4);
                __m512i xb = _mm512_set1_epi32(x4);
                a[i][0] = _mm512_dpbusd_epi32(a[i][0], w0, xb);
                a[i][1] = _mm512_dpbusd_epi32(a[i][1], w1, xb);
            }
        }
        __m512 d0 = _mm512_load_ps(wd + (size_t)b * GC), d1 = _mm512_load_ps(wd + (size_t)b * GC + 16);
        _Pragma("GCC unroll 6") for (int i = 0; i < GR; i++) {
            if (i >= R) break;
            __m512 dx = _mm512_set1_ps(xd[i][b]);
            f[i][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[i][0]), _mm512_mul_ps(d0, dx), f[i][0]);
            f[i][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[i][1]), _mm512_mul_ps(d1, dx), f[i][1]);
        }
    }
    _Pragma("GCC unroll 6") for (int i = 0; i < GR; i++) {
        if (i >= R) break;
        float *y = Y + (size_t)(t0 + i) * N + n;
        _mm512_mask_storeu_ps(y, m0, f[i][0]);
        _mm512_mask_storeu_ps(y + 16, m1, f[i][1]);
    }
}

static void micro_any(int R, const uint8_t *wu, const float *wd, int nbc, const KernQAct *x, int t0, int c0, int32_t o,
                      int first, float *Y, int N, int n, __mmask16 m0, __mmask16 m1) {
    switch (R) {
        case 1: micro(1, wu, wd, nbc, x, t0, c0, o, first, Y, N, n, m0, m1); break;
        case 2: micro(2, wu, wd, nbc, x, t0, c0, o, first, Y, N, n, m0, m1); break;
        case 3: micro(3, wu, wd, nbc, x, t0, c0, o, first, Y, N, n, m0, m1); break;
        case 4: micro(4, wu, wd, nbc, x, t0, c0, o, first, Y, N, n, m0, m1); break;
        case 5: micro(5, wu, wd, nbc, x, t0, c0, o, first, Y, N, n, m0, m1); break;
        default: micro(6, wu, wd, nbc, x, t0, c0, o, first, Y, N, n, m0, m1); break;
    }
}

static void tile_rows(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    _Alignas(64) uint8_t wu[KCB * 8 * GC * 4]; /* 64 KB: stays in L2 while every token passes */
    _Alignas(64) float wd[KCB * GC];
    const int32_t o = W->type == KERN_Q4_0 ? 8 : 128;
    const int t16 = kern_amx_on() ? x->T / 16 * 16 : 0; /* tokens for the AMX tiles; the rest here */
    for (int n = n0; n < n1; n += GC) {
        int rows = n1 - n < GC ? n1 - n : GC;
        __mmask16 m0 = rows >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rows) - 1);
        __mmask16 m1 = rows >= 32 ? (__mmask16)0xFFFF : rows > 16 ? (__mmask16)((1u << (rows - 16)) - 1) : 0;
        for (int c0 = 0; c0 < W->nb; c0 += KCB) {
            int c1 = W->nb - c0 < KCB ? W->nb : c0 + KCB;
            if (W->sb16) unpack_tile_sb16(W, n, rows, c0, c1, wu, wd);
            else unpack_tile(W, n, rows, c0, c1, wu, wd);
            if (t16) kern_qmat_amx_tokens(wu, wd, c1 - c0, x, t16, c0, o, c0 == 0, Y, W->N, n, rows);
            for (int t = t16; t < x->T; t += GR)
                micro_any(x->T - t < GR ? x->T - t : GR, wu, wd, c1 - c0, x, t, c0, o, c0 == 0, Y, W->N, n, m0, m1);
        }
    }
}

void kern_qmat_rows_avx512(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    if (W->sb16 && (W->nb % 16 || W->zero || (W->type != KERN_Q4_0 && W->type != KERN_Q8_0))) {
        /* a tail after the superblocks, zero-points, Q3 / Q2: the AVX2 kernels' (kern_qmat_sb16_wanted) */
        kern_qmat_rows_avx2(W, x, n0, n1, Y);
        return;
    }
    if (W->zero || (W->type != KERN_Q4_0 && W->type != KERN_Q8_0)) { /* no prefetch: it gained nothing here (qmat_avx2.c) */
        qs_rows_dot(W, x, n0, n1, Y, 0);
        return;
    }
    if (x->T > KERN_QACT_DOT_T) {
        tile_rows(W, x, n0, n1, Y);
        return;
    }
    const int nb = W->nb;
    const size_t stride = kern_qmat_row_bytes(W);
    const uint8_t *row0 = (const uint8_t *)W->blocks + (size_t)n0 * stride;
    float (*dot)(const uint8_t *, int, const KernQAct *, int) =
        W->sb16 ? (W->type == KERN_Q4_0 ? dot_sb16_q4 : dot_sb16_q8) : W->type == KERN_Q4_0 ? dot_q4 : dot_q8;
    for (int t = 0; t < x->T; t++) {
        float *y = Y + (size_t)t * W->N;
        for (int n = n0; n < n1; n++) y[n] = dot(row0 + (size_t)(n - n0) * stride, nb, x, t);
    }
}
