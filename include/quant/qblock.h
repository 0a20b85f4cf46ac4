/* qblock.h — the packed block layouts that quant's files, its loaders, its integer kernels and
 * its exporters share.  Defined once here, with their sizes asserted, so the GGUF writer,
 * the GGUF reader, quant's own packed files and the decode/prompt kernels cannot drift apart.
 *
 * A block holds QK = 32 consecutive weights of one row (along the input dimension) and one
 * float16 scale d.  The two layouts are byte-for-byte those of GGUF / ggml:
 *
 *   Q4_0 (18 bytes): w[j] = d * (u[j] - 8), u in 0..15 (quant's code q = u - 8 in -8..7);
 *                    qs[j] low nibble = u[j], high nibble = u[j + 16], j = 0..15.
 *   Q8_0 (34 bytes): w[j] = d * q[j], q in -128..127 (ggml's own quantizer never makes -128
 *                    and its dot products assume |q| <= 127: exporters must check).
 *
 * A row of K weights is ceil(K / 32) blocks; a partial last block is padded with code 0
 * (Q4_0: u = 8), which contributes exactly 0 to every product. */
#ifndef QUANT_QBLOCK_H
#define QUANT_QBLOCK_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define QK 32

typedef struct QBlockQ4_0 {
    uint16_t d;           /* float16 scale */
    uint8_t qs[QK / 2];   /* nibbles: low = element j, high = element j + 16 */
} QBlockQ4_0;
static_assert(sizeof(QBlockQ4_0) == 2 + QK / 2, "Q4_0 block is 18 bytes");

typedef struct QBlockQ8_0 {
    uint16_t d;           /* float16 scale */
    int8_t qs[QK];        /* codes */
} QBlockQ8_0;
static_assert(sizeof(QBlockQ8_0) == 2 + QK, "Q8_0 block is 34 bytes");

/* quant's own low-bit blocks (not GGUF types; the kernels unpack them to int8 per block):
 *
 *   Q3 (14 bytes): w[j] = d * (u[j] - 4), u in 0..7 (code q = u - 4 in -4..3);
 *                  qs[j % 8] bits 2*(j / 8) .. +1 = u[j] & 3, bit j of qh (little-endian) = u[j] >> 2.
 *   Q2 (10 bytes): w[j] = d * (u[j] - 2), u in 0..3 (code q = u - 2 in -2..1);
 *                  qs[j % 8] bits 2*(j / 8) .. +1 = u[j].
 *
 * The "byte j % 8, shift 2 * (j / 8)" order lets one 64-bit load, shift and mask give eight
 * consecutive codes. */
typedef struct QBlockQ3 {
    uint16_t d;           /* float16 scale */
    uint8_t qs[QK / 4];   /* low two bits */
    uint8_t qh[QK / 8];   /* high bit */
} QBlockQ3;
static_assert(sizeof(QBlockQ3) == 2 + QK / 4 + QK / 8, "Q3 block is 14 bytes");

typedef struct QBlockQ2 {
    uint16_t d;           /* float16 scale */
    uint8_t qs[QK / 4];
} QBlockQ2;
static_assert(sizeof(QBlockQ2) == 2 + QK / 4, "Q2 block is 10 bytes");

/* Activations for the integer kernels (not stored anywhere): one row of K floats becomes
 * ceil(K / 32) blocks of int8 codes q (|q| <= 127, padded with 0) with an f32 scale
 * d = max|x| / 127 and the block's code sum s (for affine weights: sum (q_w - z) q_x =
 * sum q_w q_x - z s).  Held as separate arrays so consecutive blocks are contiguous. */

/* Blocks in a row of k weights. */
static inline int64_t qblock_count(int64_t k) { return (k + QK - 1) / QK; }

/* One block from n <= 32 codes (the rest padded with 0) and a float16 scale.
 * Q4_0 codes must lie in -8..7, Q8_0 codes in -128..127 (callers check ranges). */
void qblock_q4_0_pack(const int8_t *codes, int n, uint16_t d, QBlockQ4_0 *b);
void qblock_q8_0_pack(const int8_t *codes, int n, uint16_t d, QBlockQ8_0 *b);
/* The 32 codes of a block (padding included) and its scale. */
void qblock_q4_0_unpack(const QBlockQ4_0 *b, int8_t codes[QK]);
void qblock_q8_0_unpack(const QBlockQ8_0 *b, int8_t codes[QK]);
/* Q3 codes in -4..3, Q2 codes in -2..1. */
void qblock_q3_pack(const int8_t *codes, int n, uint16_t d, QBlockQ3 *b);
void qblock_q2_pack(const int8_t *codes, int n, uint16_t d, QBlockQ2 *b);
void qblock_q3_unpack(const QBlockQ3 *b, int8_t codes[QK]);
void qblock_q2_unpack(const QBlockQ2 *b, int8_t codes[QK]);
/* A row of k weights from ceil(k / 32) blocks: w[i] = d * code (the reference dequantizer). */
void qblock_q4_0_dequant_row(const QBlockQ4_0 *b, int64_t k, float *w);
void qblock_q8_0_dequant_row(const QBlockQ8_0 *b, int64_t k, float *w);

/* llama.cpp's "K" superblocks (qblock_k.c gives each layout byte by byte): 256 weights of one
 * row with an f16 scale d (and for the affine types an f16 dmin), in sub-blocks of 16 or 32
 * whose scales (and mins) are quantized against them.  Read, never written, by quant: the
 * types of llama-quantize's Q*_K_M files. */
enum { QK_K = 256 };
typedef enum QBlockKType { QBLOCK_Q2_K, QBLOCK_Q3_K, QBLOCK_Q4_K, QBLOCK_Q5_K, QBLOCK_Q6_K } QBlockKType;
size_t qblock_k_bytes(QBlockKType t); /* a superblock's: 84, 110, 144, 176, 210 */
/* n weights (a multiple of 256) from the superblocks at p (any alignment) into w: llama.cpp's
 * dequantization, to the bit (tests/reference/ggml_dequant_check.py). */
void qblock_k_dequant(QBlockKType t, const uint8_t *p, int64_t n, float *w);
/* Q4_K / Q5_K: sub-block s's (0..7) 6-bit scale and min, from the superblock's 12 bytes of them. */
void qblock_k4_scale_min(const uint8_t *scales, int s, int *sc, int *m);

#endif
