/* qblock_k.c — llama.cpp's "K" superblocks, widened to f32 (qblock.h).
 *
 * Each superblock holds 256 weights of one row and an f16 scale d (and, for the affine types,
 * an f16 dmin); its sub-blocks of 16 or 32 weights have scales (and mins) quantized against
 * them.  The layouts, byte by byte (the offsets into one superblock):
 *   Q2_K  84 bytes: scales[16] (low nibble sub-scale, high nibble sub-min; 16 sub-blocks of 16),
 *         qs[64], d, dmin.  Weight j of half h = j / 128: 2 bits at shift 2 (j % 128 / 32) of
 *         qs[32 h + j % 32]; sub-block j / 16; w = d sc q - dmin m.
 *   Q3_K  110 bytes: hmask[32], qs[64], scales[12] (16 6-bit sub-scales, k3_scale), d.  Low 2
 *         bits as Q2_K; the third is bit 4 h + j % 128 / 32 of hmask[j % 32], a clear bit
 *         meaning minus 4: q in [-4, 3]; w = d (sc - 32) q.
 *   Q4_K  144 bytes: d, dmin, scales[12] (8 6-bit sub-scales and 8 mins, k4 order below),
 *         qs[128].  Pair p of 64 weights: the low nibbles of qs[32 p ..] then the high ones;
 *         sub-blocks 2 p, 2 p + 1 of 32; w = d sc q - dmin m.
 *   Q5_K  176 bytes: d, dmin, scales[12], qh[32], qs[128]: Q4_K's nibbles plus a fifth bit,
 *         bit 2 p (low nibbles) or 2 p + 1 (high) of qh[j % 32].
 *   Q6_K  210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), 16 int8 scales (one per 16),
 *         d; each half of 128 takes 64 ql, 32 qh and 8 scales: element l + 32 i (l < 32, i < 4)
 *         has the low (i < 2) or high (i >= 2) nibble of ql[l + 32 (i % 2)], bits 2 i, 2 i + 1
 *         of qh[l], and scale l / 16 + 2 i; w = d sc (q - 32).
 * The 12 bytes of Q4_K / Q5_K sub-scales and mins ("k4"): for sub-block s < 4, scale = bytes[s]
 * & 63, min = bytes[s + 4] & 63; for s >= 4 the low 4 bits come from bytes[s + 4] (scale: low
 * nibble, min: high nibble) and the top 2 bits from the top bits of bytes[s - 4] (scale) and
 * bytes[s] (min). */
#include <string.h>

#include "quant/core.h"
#include "quant/qblock.h"

static float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return qf16_to_f32(h);
}

size_t qblock_k_bytes(QBlockKType t) {
    static const size_t bytes[] = {84, 110, 144, 176, 210};
    return bytes[t];
}

void qblock_k4_scale_min(const uint8_t *b, int s, int *sc, int *m) {
    if (s < 4) {
        *sc = b[s] & 63;
        *m = b[s + 4] & 63;
    } else {
        *sc = (b[s + 4] & 15) | (b[s - 4] >> 6) << 4;
        *m = (b[s + 4] >> 4) | (b[s] >> 6) << 4;
    }
}

/* Q3_K: sub-block s's 6-bit scale (0..63; the weight's factor is sc - 32): low 4 bits from the
 * nibbles of bytes 0-7, high 2 bits from bytes 8-11 (byte 8 + s % 4, bits 2 (s / 4)). */
static int k3_scale(const uint8_t *b, int s) {
    const int lo = s < 8 ? b[s] & 15 : b[s - 8] >> 4;
    const int hi = (b[8 + s % 4] >> (2 * (s / 4))) & 3;
    return lo | hi << 4;
}

/* Each case walks its sub-blocks, their scale (and min) decoded once for the sub-block's weights;
 * the products are llama.cpp's, (d sc) q - dmin m, in its order. */
void qblock_k_dequant(QBlockKType type, const uint8_t *p, int64_t n, float *dst) {
    for (int64_t sb = 0; sb < n / 256; sb++) {
        float *y = dst + sb * 256;
        switch (type) {
            case QBLOCK_Q2_K: { /* 16 sub-blocks of 16: sub-block s is weights 16 s .. of half s / 8 */
                const uint8_t *blk = p + sb * 84, *sc = blk, *qs = blk + 16;
                const float d = f16_at(blk + 80), dmin = f16_at(blk + 82);
                for (int s = 0; s < 16; s++) {
                    const int h = s / 8;
                    const float dl = d * (float)(sc[s] & 15), ml = dmin * (float)(sc[s] >> 4);
                    for (int i = s % 8 * 16; i < s % 8 * 16 + 16; i++)
                        y[128 * h + i] = dl * (float)((qs[32 * h + i % 32] >> (2 * (i / 32))) & 3) - ml;
                }
                break;
            }
            case QBLOCK_Q3_K: { /* the same sub-blocks, a third bit from hmask */
                const uint8_t *blk = p + sb * 110, *hm = blk, *qs = blk + 32, *sc = blk + 96;
                const float d = f16_at(blk + 108);
                for (int s = 0; s < 16; s++) {
                    const int h = s / 8;
                    const float dl = d * (float)(k3_scale(sc, s) - 32);
                    for (int i = s % 8 * 16; i < s % 8 * 16 + 16; i++) {
                        const int lo = (qs[32 * h + i % 32] >> (2 * (i / 32))) & 3;
                        const int hbit = (hm[i % 32] >> (4 * h + i / 32)) & 1;
                        y[128 * h + i] = dl * (float)(lo - (hbit ? 0 : 4));
                    }
                }
                break;
            }
            case QBLOCK_Q4_K:
            case QBLOCK_Q5_K: { /* 8 sub-blocks of 32: s = 2 pair + (high nibbles) */
                const int q5 = type == QBLOCK_Q5_K;
                const uint8_t *blk = p + sb * (q5 ? 176 : 144), *sc = blk + 4, *qh = blk + 16;
                const uint8_t *qs = blk + (q5 ? 48 : 16);
                const float d = f16_at(blk), dmin = f16_at(blk + 2);
                for (int s = 0; s < 8; s++) {
                    int scale, min;
                    qblock_k4_scale_min(sc, s, &scale, &min);
                    const float dl = d * (float)scale, ml = dmin * (float)min;
                    const uint8_t *q4 = qs + 32 * (s / 2);
                    for (int l = 0; l < 32; l++) {
                        int q = s % 2 ? q4[l] >> 4 : q4[l] & 15;
                        if (q5) q |= ((qh[l] >> s) & 1) << 4;
                        y[32 * s + l] = dl * (float)q - ml;
                    }
                }
                break;
            }
            case QBLOCK_Q6_K: {
                const uint8_t *blk = p + sb * 210, *ql = blk, *qh = blk + 128;
                const int8_t *sc = (const int8_t *)(blk + 192);
                const float d = f16_at(blk + 208);
                for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128)
                    for (int l = 0; l < 32; l++)
                        for (int i = 0; i < 4; i++) {
                            const uint8_t b4 = ql[l + 32 * (i % 2)];
                            int q = ((i < 2 ? b4 & 15 : b4 >> 4) | ((qh[l] >> (2 * i)) & 3) << 4) - 32;
                            y[l + 32 * i] = d * (float)sc[l / 16 + 2 * i] * (float)q;
                        }
                break;
            }
        }
    }
}
