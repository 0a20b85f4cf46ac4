/* qmat_amx_tile.h — a prompt tile's products on AMX int8 tiles (Intel AMX-TILE + AMX-INT8),
 * written once over six macros so that two builds share every line of it:
 *   - qmat_amx.c maps them to the instructions (the library);
 *   - tests/test_amx.c maps them to an emulator of the instructions' documented semantics
 *     (tests/amx_emu.h), so the kernel's addressing, tile shapes and arithmetic are tested on
 *     machines without AMX, which so far are all the machines quant has been developed on.
 *
 * The includer defines, before including:
 *   AMX_CFG(cfg)        ldtilecfg from a 64-byte AmxTileCfg
 *   AMX_RELEASE()       tilerelease
 *   AMX_ZERO(t)         tilezero tmm t
 *   AMX_LOAD(t, p, s)   tileloadd tmm t from p, s bytes between rows
 *   AMX_STORE(t, p, s)  tilestored tmm t to p, s bytes between rows
 *   AMX_DPBSUD(c, a, b) tdpbsud: c[m][n] += sum_{k < a.colsb/4} sum_{i < 4} a[m][4k + i] * b[k][4n + i],
 *                       a's bytes signed, b's unsigned, c int32
 *   AMX_FN              attributes of the functions below
 *
 * What it computes: the products of one 32-row pool tile of Q4_0 / Q8_0 weights, as the AVX-512
 * prompt kernel (qmat_avx512.c) has unpacked it, unsigned codes u = q + o in the order
 * wu[block][k / 4][row][k % 4] with scales wd[block][row], against 16 tokens at a time.  Per
 * block and half of the rows: one tile load of the 16 tokens' activation codes (straight from
 * KernQAct.q: 16 rows of 32 bytes, a token's row apart), one of the 16 rows' weights (8 rows of
 * 64 bytes: the [k / 4][row][4] order is exactly the "VNNI" order the instruction wants for its
 * second operand), one tdpbsud into a 16 x 16 int32 tile, one tile store.  Then, per token, the
 * exact int32 sums less o times the token's code sum (the unsigned offset) go into f32 with the
 * scalar kernel's operations in its order (kern_qmat_rows_scalar: d_w d_x, times the sum, then
 * added; no fused multiply-add), so the tiles give the scalar kernel's bits.  The 16
 * accumulators (16 rows each) stay in registers across the blocks: per token and block, one
 * load, a subtraction and a multiplication with broadcast operands, a conversion, a
 * multiplication and an addition.
 *
 * Why the per-block f32 step is not avoided: every 32-block has its own weight scale and its
 * own activation scale, so the int32 sums of two blocks cannot be added before scaling (what
 * a tile's K of 64 bytes would do).  The tiles do a block's 16 x 32 x 32 multiply-adds in two
 * instructions; the f32 step, 6 vector instructions per token and 16 rows, is the cost that
 * stays. */
#ifndef QUANT_QMAT_AMX_TILE_H
#define QUANT_QMAT_AMX_TILE_H

#include <stdint.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/qblock.h"

enum { AMX_T = 16, AMX_GC = KERN_QMAT_TILE_ROWS }; /* tokens per tile (C's rows); weight rows per pool tile */

/* The 64-byte operand of ldtilecfg (Intel SDM, LDTILECFG: byte 0 palette, 1 start_row, 2-15
 * zero, 16 + 2i tile i's bytes per row, 32-47 zero, 48 + i tile i's rows, 56-63 zero). */
typedef struct AmxTileCfg {
    uint8_t palette, start_row, zero0[14];
    uint16_t colsb[8];
    uint8_t zero1[16];
    uint8_t rows[8];
    uint8_t zero2[8];
} AmxTileCfg;

/* Two sets of three tiles, for alternate blocks (so that one block's product can run while the
 * last one's sums are scaled): tmm0 / tmm3: C, 16 tokens x 16 rows of int32; tmm1 / tmm4: A,
 * 16 tokens x 32 codes; tmm2 / tmm5: B, 8 rows of k / 4, each 16 rows x 4 codes. */
static inline void amx_cfg_fill(AmxTileCfg *c) {
    memset(c, 0, sizeof *c);
    c->palette = 1;
    for (int set = 0; set < 6; set += 3) {
        c->colsb[set] = 64, c->rows[set] = AMX_T;
        c->colsb[set + 1] = QK, c->rows[set + 1] = AMX_T;
        c->colsb[set + 2] = 64, c->rows[set + 2] = QK / 4;
    }
}

/* Block b's product for tokens t0.. and rows 16 h.. into buf ([16 tokens][16 rows] int32), on
 * the tile set C, A, B. */
#define AMX_BLOCK(C, A, B, b, buf)                                                      \
    do {                                                                                \
        AMX_ZERO(C);                                                                    \
        AMX_LOAD(A, x->q + (size_t)t0 * xrow + (size_t)(c0 + (b)) * QK, xrow);          \
        AMX_LOAD(B, wu + (size_t)(b) * wblk + 64 * h, AMX_GC * 4);                      \
        AMX_DPBSUD(C, A, B);                                                            \
        AMX_STORE(C, buf, 64);                                                          \
    } while (0)

typedef float AmxF32 __attribute__((vector_size(64)));   /* 16 lanes: one zmm where AVX-512 is on */
typedef int32_t AmxI32 __attribute__((vector_size(64)));

/* Y[t][n + r] (+)= the tile's nbc blocks (from block c0 of x) for tokens t < T16 (a multiple of
 * 16) and rows r < rows (<= 32): first, Y is not read.  o: the codes' offset (8 Q4_0, 128 Q8_0).
 * Per group of 16 tokens and half of the rows, 16 accumulators of 16 rows stay in registers
 * across the blocks (vector types, so the emulated build runs the same source). */
AMX_FN static void amx_tokens(const uint8_t *wu, const float *wd, int nbc, const KernQAct *x, int T16, int c0, int32_t o,
                              int first, float *Y, int N, int n, int rows) {
    AmxTileCfg cfg;
    amx_cfg_fill(&cfg);
    AMX_CFG(&cfg);
    _Alignas(64) int32_t c[2][AMX_T][16]; /* the products of alternate blocks */
    int32_t corr[64][AMX_T]; /* per block of the chunk (nbc <= 64) and token: o times its code sum */
    float dxs[64][AMX_T];    /* and its scale */
    const size_t xrow = (size_t)x->nb * QK, wblk = (size_t)(QK / 4) * AMX_GC * 4;
    for (int t0 = 0; t0 < T16; t0 += AMX_T) {
        for (int b = 0; b < nbc; b++)
            for (int t = 0; t < AMX_T; t++) {
                const size_t i = (size_t)(t0 + t) * x->nb + c0 + b;
                corr[b][t] = o * x->s[i];
                dxs[b][t] = x->d[i];
            }
        for (int h = 0; h < 2 && 16 * h < rows; h++) {
            const int nr = rows - 16 * h < 16 ? rows - 16 * h : 16; /* this half's rows */
            AmxF32 acc[AMX_T];
            _Pragma("GCC unroll 16") for (int t = 0; t < AMX_T; t++) {
                float a[16] = {0};
                if (!first) memcpy(a, Y + (size_t)(t0 + t) * N + n + 16 * h, sizeof(float) * (size_t)nr);
                AmxF32 v;
                memcpy(&v, a, sizeof v);
                acc[t] = v;
            }
            AMX_BLOCK(0, 1, 2, 0, &c[0][0][0]);
            for (int b = 0; b < nbc; b++) {
                if (b + 1 < nbc) { /* the next block's product first, on the other tiles */
                    if (b & 1) AMX_BLOCK(0, 1, 2, b + 1, &c[0][0][0]);
                    else AMX_BLOCK(3, 4, 5, b + 1, &c[1][0][0]);
                }
                AmxF32 w;
                memcpy(&w, wd + (size_t)b * AMX_GC + 16 * h, sizeof w);
                _Pragma("GCC unroll 16") for (int t = 0; t < AMX_T; t++) {
                    /* the scalar kernel's operations, in its order: d_w d_x, times the exact
                     * block sum, added (separate statements: no fused multiply-add) */
                    AmxI32 ci;
                    memcpy(&ci, c[b & 1][t], sizeof ci);
                    const AmxF32 dd = w * dxs[b][t];
                    const AmxF32 term = dd * __builtin_convertvector(ci - corr[b][t], AmxF32);
                    acc[t] = acc[t] + term;
                }
            }
            _Pragma("GCC unroll 16") for (int t = 0; t < AMX_T; t++) {
                float a[16];
                const AmxF32 v = acc[t];
                memcpy(a, &v, sizeof a);
                memcpy(Y + (size_t)(t0 + t) * N + n + 16 * h, a, sizeof(float) * (size_t)nr);
            }
        }
    }
    AMX_RELEASE();
}

#undef AMX_BLOCK

#endif
