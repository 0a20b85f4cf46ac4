/* qmat_avx2.c — group-quantized linear, AVX2 (kernels.h, qmat.c).
 *
 * Rows in the sb16 layout (what the loader gives these kernels where a row holds at least one
 * superblock; every type, affine rows too) go through sb16_row below.  Rows in the GGUF block
 * order, of every type, through qs_dot_row (qmat_simd.h): one block (32 weights) per ymm,
 * pmaddubsw multiplying unsigned by signed bytes into int16 pairs that must not saturate.  A
 * prompt on Q3 / Q2 rows (either layout) or affine GGUF-order rows arrives recoded into Q4_0 /
 * Q8_0 (qmat.c, kern_qmat_recode_avx2 at the end of this file). */
#include "qmat_simd.h"

/* Decode prefetches the lines PF bytes ahead of the block or superblock it reads (rows follow
 * each other in memory, so past a row's end it fetches the next row's).  On a Zen 3 EPYC (2
 * threads, bench_qmat 5632 2048 wall stream, the layouts taking turns) the hardware prefetcher
 * alone kept sb16 Q4_0 at 70% and Q8_0 at 83% of the read bandwidth; 512 bytes ahead gave
 * 93 / 98%, 1024-2048 95-101%, 4096 95%.  Then with 11008-wide rows too (4096 x 11008): sb16
 * Q8_0 at 2048 bytes 91-95%, 1024 95-97%, 3072 and more 84-92%, so Q8_0 looks half as far
 * ahead.  GGUF-order Q8_0: 84 -> 93-98% (its Q4_0 is bound by its arithmetic, 11 GB/s a core
 * from cache). */
enum { PF = 2048, PF_SB16_Q8 = 1024 };

/* sb16 rows (kernels.h) on AVX2: a 64-byte vector of a superblock is two ymm halves, blocks
 * 0-7 and 8-15 of it, so each int32 lane of a half sums one block and a half's 8 scales take
 * one conversion; the rows are 64-byte aligned, so no load straddles a cache line.  Q4_0: the
 * low and high nibbles of each of the 4 vectors against q16's vectors 2v and 2v + 1; the 8
 * pmaddubsw results of a half add up in int16 (each at most 2 * 15 * 127, 8 of them 30480:
 * no saturation), one pmaddwd widens them, and 8 (block code sum) comes off per lane (the
 * stored nibble is q + 8).  Q8_0: the codes are stored xor 0x80; flipped back, the sign moves
 * onto the activation as in qs_dot_row, and each vector's pairs widen at once (two would not
 * fit int16).  Q3 / Q2: the planes' shifts (qs_sb16_low_u) give, for each of q16's 8 vectors,
 * the unsigned codes u = q + o (o = 4, 2) of that vector's lanes, so the 8 pmaddubsw of a half
 * add up in int16 as Q4_0's (at most 8 x 2 x 7 x 127) and o times the block code sum comes off;
 * the unpacking is 2 (Q2) or 5 (Q3) operations per 32 codes where the GGUF order took 3 and 11
 * per block, which held these widths to about half the memory's speed.  Affine rows
 * (zero-points beside the blocks): (o + z) times the block code sum comes off each lane
 * instead, o = 8 (Q4_0), 4, 2 or 0, by one pmulld per half superblock.
 *
 * NT tokens (1..4) share each row's unpacked nibbles: a prompt reads a row's weights once per
 * 4 tokens from cache, and a decode step (NT = 1) streams each row once.  Accumulation: per
 * lane (block) in f32, halves in order, then a horizontal sum: another order than the scalar
 * kernel's, equal to float rounding. */
/* KEEP pins an accumulator's chain: without it gcc re-associates the integer sums into a tree,
 * computes every pmaddubsw first and spills them (the prompt kernel ran at 127 GOP/s a core on
 * a Zen 3 EPYC, 183 with it; bench_qmat-like runs, Q4_0, T = 128). */
#define KEEP(r) __asm__("" : "+x"(r))
#define SB16_Q4(t)                                                                                             \
    if (NT > t) {                                                                                              \
        const int8_t *xq = x->q16 + ((size_t)(t0 + t) * nb + 16 * (size_t)s) * QK + 32 * h + 128 * v;           \
        a##t = _mm256_add_epi16(a##t, _mm256_maddubs_epi16(lo, _mm256_load_si256((const __m256i *)xq)));          \
        a##t = _mm256_add_epi16(a##t, _mm256_maddubs_epi16(hi, _mm256_load_si256((const __m256i *)(xq + 64))));   \
        KEEP(a##t);                                                                                            \
    }
#define SB16_Q8(t)                                                                                             \
    if (NT > t) {                                                                                              \
        const int8_t *xq = x->q16 + ((size_t)(t0 + t) * nb + 16 * (size_t)s) * QK + 32 * h + 64 * v;            \
        __m256i p = _mm256_maddubs_epi16(ac, _mm256_sign_epi8(_mm256_load_si256((const __m256i *)xq), c));       \
        a##t = _mm256_add_epi32(a##t, _mm256_madd_epi16(p, ones));                                              \
        KEEP(a##t);                                                                                            \
    }
#define SB16_LOW(t)                                                                                            \
    if (NT > t) {                                                                                              \
        const int8_t *xq = x->q16 + ((size_t)(t0 + t) * nb + 16 * (size_t)s) * QK + 32 * h + 64 * v;            \
        a##t = _mm256_add_epi16(a##t, _mm256_maddubs_epi16(u, _mm256_load_si256((const __m256i *)xq)));            \
        KEEP(a##t);                                                                                            \
    }
#define SB16_END(t)                                                                                            \
    if (NT > t) {                                                                                              \
        const size_t o = (size_t)(t0 + t) * nb + 16 * (size_t)s + 8 * h;                                       \
        __m256i i32 = a##t;                                                                                    \
        const __m256i xs = _mm256_loadu_si256((const __m256i *)(x->s + o));                                     \
        if (q4 || low) i32 = _mm256_sub_epi32(_mm256_madd_epi16(a##t, ones), aff ? _mm256_mullo_epi32(xs, zo) : _mm256_slli_epi32(xs, sh)); \
        else if (aff) i32 = _mm256_sub_epi32(i32, _mm256_mullo_epi32(xs, zo));                                 \
        f##t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, _mm256_loadu_ps(x->d + o)), f##t);     \
    }
static inline __attribute__((always_inline)) void sb16_row(const KernQType type, const int NT, const int aff,
                                                           const uint8_t *row, int nb, const int8_t *z, const KernQAct *x,
                                                           int t0, float *y, size_t ldy) {
    const int ns = nb / 16, q4 = type == KERN_Q4_0, low = type == KERN_Q3 || type == KERN_Q2;
    const int sh = qs_offset_log2(type), nv = (int)(kern_sb16_codes(type) / 64); /* offset o = 1 << sh (Q8_0: none) */
    const __m256i m15 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    __m256 f0 = _mm256_setzero_ps(), f1 = f0, f2 = f0, f3 = f0;
    for (int s = 0; s < ns; s++) {
        size_t codes, scales;
        kern_sb16_at(type, ns, s, &codes, &scales);
        if (NT == 1) { /* a prompt's tokens reuse the row from cache */
            const int pf = type == KERN_Q8_0 ? PF_SB16_Q8 : PF;
            const char *p = (const char *)row + codes + pf;
            for (int v = 0; v < nv; v++) _mm_prefetch(p + 64 * v, _MM_HINT_T0);
            if (s % 2 == 1 || s + 1 == ns) _mm_prefetch((const char *)row + scales + pf, _MM_HINT_T0); /* the pair's scales */
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *w = row + codes + 32 * h;
            __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
            if (q4) {
                _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {
                    const __m256i u = _mm256_load_si256((const __m256i *)(w + 64 * v));
                    const __m256i lo = _mm256_and_si256(u, m15), hi = _mm256_and_si256(_mm256_srli_epi16(u, 4), m15);
                    SB16_Q4(0) SB16_Q4(1) SB16_Q4(2) SB16_Q4(3)
                }
            } else if (low) {
                /* the planes (kernels.h, qs_sb16_low_u); at most 8 x 2 x 7 x 127 in int16 */
                const __m256i l0 = _mm256_load_si256((const __m256i *)w), l1 = _mm256_load_si256((const __m256i *)(w + 64));
                const __m256i hv = type == KERN_Q3 ? _mm256_load_si256((const __m256i *)(w + 128)) : _mm256_setzero_si256();
                _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++) {
                    const __m256i u = qs_sb16_low_u(type, l0, l1, hv, v);
                    SB16_LOW(0) SB16_LOW(1) SB16_LOW(2) SB16_LOW(3)
                }
            } else {
                _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++) {
                    const __m256i c = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(w + 64 * v)), flip);
                    const __m256i ac = _mm256_sign_epi8(c, c);
                    SB16_Q8(0) SB16_Q8(1) SB16_Q8(2) SB16_Q8(3)
                }
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(row + scales + 16 * h)));
            /* affine: o + z per block (the stored u is c + o: 8, 4, 2; Q8_0 0), times the block's code sum */
            const __m256i zo = aff ? _mm256_add_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(z + 16 * s + 8 * h))),
                                                    _mm256_set1_epi32(type == KERN_Q8_0 ? 0 : 1 << sh))
                                 : _mm256_setzero_si256();
            SB16_END(0) SB16_END(1) SB16_END(2) SB16_END(3)
        }
    }
    float tail[4] = {0, 0, 0, 0}; /* the nb % 16 GGUF blocks after the superblocks */
    const int full = ns * 16;
    if (nb > full) {
        const uint8_t *tb = row + kern_sb16_head(type, ns);
        for (int t = 0; t < NT; t++) {
            const size_t o = (size_t)(t0 + t) * nb + full;
            const int8_t *q = x->q + o * QK;
            const float *d = x->d + o;
            const int32_t *l = x->l + o * 8, *xs = x->s + o;
            /* type and aff are constants in each copy of sb16_row: one specialised row dot */
            tail[t] = qs_dot_row(type, tb, nb - full, q, d, l, xs, aff, aff ? z + full : NULL, PF);
        }
    }
    y[0] = qs_hsum(f0) + tail[0];
    if (NT > 1) y[ldy] = qs_hsum(f1) + tail[1];
    if (NT > 2) y[2 * ldy] = qs_hsum(f2) + tail[2];
    if (NT > 3) y[3 * ldy] = qs_hsum(f3) + tail[3];
}
#undef SB16_Q4
#undef SB16_Q8
#undef SB16_LOW
#undef SB16_END

/* Tokens 4 at a time; within them every row of the tile, so a prompt's 4 tokens of
 * activations stay in L1 while the tile's rows pass through L2.  Every (type, tokens) its own
 * copy of sb16_row; the affine rows' copies live in a function of their own, so the symmetric
 * ones compile as they did before zero-points came (with all 16 in one function the symmetric
 * Q8_0 decode ran 5% slower, bench_qmat). */
static inline __attribute__((always_inline)) void rows_sb16_body(const int aff, const KernQMat *W, const KernQAct *x,
                                                                 int n0, int n1, float *Y) {
    const int nb = W->nb, q4 = W->type == KERN_Q4_0, low = W->type == KERN_Q3 || W->type == KERN_Q2;
    const int step = low ? 1 : 4; /* Q3 / Q2 one token at a time: a prompt comes recoded (qmat.c) */
    const size_t stride = kern_qmat_row_bytes(W), ldy = (size_t)W->N;
    const uint8_t *rows = (const uint8_t *)W->blocks;
    for (int t0 = 0; t0 < x->T; t0 += step) {
        const int nt = x->T - t0 < step ? x->T - t0 : step;
        for (int n = n0; n < n1; n++) {
            const uint8_t *row = rows + (size_t)n * stride;
            const int8_t *z = aff ? W->zero + (size_t)n * nb : NULL;
            float *y = Y + (size_t)t0 * ldy + n;
            if (low) {
                if (W->type == KERN_Q3) sb16_row(KERN_Q3, 1, aff, row, nb, z, x, t0, y, ldy);
                else sb16_row(KERN_Q2, 1, aff, row, nb, z, x, t0, y, ldy);
                continue;
            }
            switch (nt * 2 + q4) {
                case 2: sb16_row(KERN_Q8_0, 1, aff, row, nb, z, x, t0, y, ldy); break;
                case 3: sb16_row(KERN_Q4_0, 1, aff, row, nb, z, x, t0, y, ldy); break;
                case 4: sb16_row(KERN_Q8_0, 2, aff, row, nb, z, x, t0, y, ldy); break;
                case 5: sb16_row(KERN_Q4_0, 2, aff, row, nb, z, x, t0, y, ldy); break;
                case 6: sb16_row(KERN_Q8_0, 3, aff, row, nb, z, x, t0, y, ldy); break;
                case 7: sb16_row(KERN_Q4_0, 3, aff, row, nb, z, x, t0, y, ldy); break;
                case 8: sb16_row(KERN_Q8_0, 4, aff, row, nb, z, x, t0, y, ldy); break;
                default: sb16_row(KERN_Q4_0, 4, aff, row, nb, z, x, t0, y, ldy); break;
            }
        }
    }
}
__attribute__((noinline)) static void rows_sb16(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    rows_sb16_body(0, W, x, n0, n1, Y);
}
__attribute__((noinline)) static void rows_sb16_affine(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    rows_sb16_body(1, W, x, n0, n1, Y);
}

void kern_qmat_rows_avx2(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    if (W->sb16 && W->zero) rows_sb16_affine(W, x, n0, n1, Y);
    else if (W->sb16) rows_sb16(W, x, n0, n1, Y);
    else qs_rows_dot(W, x, n0, n1, Y, PF);
}

/* A Q3 / Q2 row's superblocks (sb16) straight into a Q4_0 sb16 row's: V's vector v holds the
 * codes of q16's vectors 2 v (low nibbles: codes 4 v ..) and 2 v + 1 (high nibbles: 16 + 4 v ..),
 * so each nibble is a plane's u + 8 - o - z, o = 4 or 2 (the codes c - z + 8); the 16 scales are
 * copied.  0 when some c - z leaves [-8, 7]: the byte sum cannot wrap back into 0..15 (u 0..7,
 * z an int8), so a high nibble bit says so. */
static inline __attribute__((always_inline)) int recode_low_superblocks(const KernQType t, int nb, const uint8_t *row,
                                                                        const int8_t *z, uint8_t *out) {
    const int ns = nb / 16, o = t == KERN_Q3 ? 4 : 2;
    for (int s = 0; s < ns; s++) {
        size_t wc, wsc, vc, vsc;
        kern_sb16_at(t, ns, s, &wc, &wsc);
        kern_sb16_at(KERN_Q4_0, ns, s, &vc, &vsc);
        memcpy(out + vsc, row + wsc, 32);
        for (int h = 0; h < 2; h++) {
            const uint8_t *p = row + wc + 32 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)p), l1 = _mm256_loadu_si256((const __m256i *)(p + 64));
            const __m256i hv = t == KERN_Q3 ? _mm256_loadu_si256((const __m256i *)(p + 128)) : _mm256_setzero_si256();
            __m256i add = _mm256_set1_epi8((char)(8 - o)), seen = _mm256_setzero_si256();
            if (z) { /* lane i (block 8 h + i): 8 - o - z in each of its 4 bytes */
                const __m256i zi = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(z + 16 * s + 8 * h)));
                add = _mm256_sub_epi8(add, _mm256_mullo_epi32(_mm256_and_si256(zi, _mm256_set1_epi32(255)), _mm256_set1_epi32(0x01010101)));
            }
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {
                const __m256i a = _mm256_add_epi8(qs_sb16_low_u(t, l0, l1, hv, 2 * v), add);
                const __m256i b = _mm256_add_epi8(qs_sb16_low_u(t, l0, l1, hv, 2 * v + 1), add);
                seen = _mm256_or_si256(seen, _mm256_or_si256(a, b));
                _mm256_store_si256((__m256i *)(out + vc + 64 * v + 32 * h), _mm256_or_si256(a, _mm256_slli_epi16(b, 4)));
            }
            if (z && !_mm256_testz_si256(seen, _mm256_set1_epi8((char)0xF0))) return 0;
        }
    }
    return 1;
}

/* kernels_internal.h.  Each block is built in its GGUF bytes (Q4_0: code j + 8 low nibble,
 * code j + 16 + 8 high; Q8_0: the codes) and put into the sb16 row by kern_sb16_put; a Q3 / Q2
 * sb16 row's superblocks into Q4_0 sb16 ones by recode_low_superblocks, the rest from each
 * block's GGUF bytes (kern_sb16_get). */
int kern_qmat_recode_avx2(const KernQMat *W, int n0, int n1, const KernQMat *V, uint8_t *dst) {
    const int nb = W->nb, q4 = V->type == KERN_Q4_0;
    const size_t bs = kern_qtype_block_bytes(W->type), vbs = kern_qtype_block_bytes(V->type);
    const size_t stride = kern_qmat_row_bytes(V);
    const __m256i m8 = _mm256_set1_epi8(-8), p7 = _mm256_set1_epi8(7), p8 = _mm256_set1_epi8(8);
    const size_t wstride = kern_qmat_row_bytes(W);
    uint8_t wb[sizeof(QBlockQ8_0)]; /* a block of W's sb16 row in its GGUF bytes */
    for (int n = n0; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)W->blocks + (size_t)n * wstride;
        const int8_t *z = W->zero ? W->zero + (size_t)n * nb : NULL;
        uint8_t *out = dst + (size_t)(n - n0) * stride;
        if (V->sb16) memset(out, 0, stride); /* the padding after a lone superblock and the row's end */
        int b = 0;
        if (W->sb16 && q4 && V->sb16 && (W->type == KERN_Q3 || W->type == KERN_Q2)) {
            if (!(W->type == KERN_Q3 ? recode_low_superblocks(KERN_Q3, nb, row, z, out)
                                     : recode_low_superblocks(KERN_Q2, nb, row, z, out)))
                return 0;
            b = nb / 16 * 16;
        }
        for (; b < nb; b++) {
            const uint8_t *blk = row + (size_t)b * bs;
            if (W->sb16) {
                kern_sb16_get(W->type, nb, row, b, wb);
                blk = wb;
            }
            __m256i c = qs_unpack(W->type, blk);
            if (z) { /* c - z, refused where it wraps (Q8_0) or leaves Q4_0's codes */
                __m256i zb = _mm256_set1_epi8(z[b]), d = _mm256_subs_epi8(c, zb);
                if (!q4 && !_mm256_testc_si256(_mm256_cmpeq_epi8(d, _mm256_sub_epi8(c, zb)), _mm256_set1_epi8(-1))) return 0;
                c = d;
            }
            if (q4 && !_mm256_testz_si256(_mm256_or_si256(_mm256_cmpgt_epi8(c, p7), _mm256_cmpgt_epi8(m8, c)),
                                          _mm256_set1_epi8(-1)))
                return 0;
            uint8_t g[2 + QK]; /* the block's GGUF bytes */
            memcpy(g, blk, 2);
            if (q4) { /* c + 8 in [0, 15]: codes 0-15 low nibbles, 16-31 high (no carry between bytes) */
                __m256i u = _mm256_add_epi8(c, p8);
                _mm_storeu_si128((__m128i *)(g + 2), _mm_or_si128(_mm256_castsi256_si128(u), _mm_slli_epi16(_mm256_extracti128_si256(u, 1), 4)));
            } else {
                _mm256_storeu_si256((__m256i *)(g + 2), c);
            }
            if (V->sb16) kern_sb16_put(V->type, nb, b, g, out);
            else memcpy(out + (size_t)b * vbs, g, vbs);
        }
    }
    return 1;
}
