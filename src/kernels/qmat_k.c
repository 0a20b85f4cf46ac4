/* qmat_k.c — llama.cpp's Q4_K and Q6_K superblocks as packed linears (kernels.h KERN_Q4_K,
 * KERN_Q6_K): the scalar integer kernel, the reference of qmat_k_avx2.c.
 *
 * The activations' blocks of 32 (KernQAct: int8 codes q, scale d_x, code sum s_x) line up with
 * the superblocks' sub-blocks, so every block's product is exact in int32 before one f32 step:
 *   Q4_K  sub-block j of 32 (of 8): w = D u - M with D = d sc_j, M = dmin m_j, u in 0..15:
 *         sum w x = d_x (D sum u q - M s_x);
 *   Q6_K  block j of 32 = two sub-blocks of 16 with int8 scales a, b: w = d a (u - 32) or
 *         d b (u - 32), u in 0..63: sum w x = d d_x (a S_lo + b S_hi), S the halves' exact
 *         sums of (u - 32) q (|a S_lo + b S_hi| < 2^24: exact in int32 and in f32).
 * Blocks are summed in order, each step its own rounding (no fused multiply-add), as in
 * kern_qmat_rows_scalar. */
#include <string.h>

#include "kernels_internal.h"
#include "quant/core.h"
#include "quant/qblock.h"

/* Block b (0 .. nb - 1) of a Q4_K row: its 32 unsigned codes and D, M (qblock_k.c's layout). */
static void q4k_block(const uint8_t *row, int b, uint8_t u[QK], float *D, float *M) {
    const uint8_t *sb = row + (size_t)(b / 8) * 144, *qs = sb + 16 + 32 * (b % 8 / 2);
    const int hi = b % 2;
    uint16_t hd, hm;
    memcpy(&hd, sb, 2);
    memcpy(&hm, sb + 2, 2);
    int sc, m;
    qblock_k4_scale_min(sb + 4, b % 8, &sc, &m);
    *D = qf16_to_f32(hd) * (float)sc;
    *M = qf16_to_f32(hm) * (float)m;
    for (int l = 0; l < QK; l++) u[l] = hi ? qs[l] >> 4 : qs[l] & 15;
}

/* Block b of a Q6_K row: its 32 codes u - 32, the two halves' scales and d. */
static void q6k_block(const uint8_t *row, int b, int8_t c[QK], int *a, int *bb, float *d) {
    const uint8_t *sb = row + (size_t)(b / 8) * 210;
    const int j = b % 8, half = j / 4, i = j % 4;
    const uint8_t *ql = sb + 64 * half + 32 * (i % 2), *qh = sb + 128 + 32 * half;
    const int8_t *sc = (const int8_t *)(sb + 192) + 8 * half;
    uint16_t hd;
    memcpy(&hd, sb + 208, 2);
    *d = qf16_to_f32(hd);
    *a = sc[2 * i];
    *bb = sc[2 * i + 1];
    for (int l = 0; l < QK; l++) {
        const int nib = i < 2 ? ql[l] & 15 : ql[l] >> 4;
        c[l] = (int8_t)((nib | ((qh[l] >> (2 * i)) & 3) << 4) - 32);
    }
}

void kern_qmat_rows_k_scalar(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    const size_t stride = kern_qmat_row_bytes(W);
    for (int n = n0; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)W->blocks + (size_t)n * stride;
        for (int t = 0; t < x->T; t++) {
            float acc = 0;
            for (int b = 0; b < W->nb; b++) {
                const size_t i = (size_t)t * x->nb + b;
                const int8_t *q = x->q + i * QK;
                float term;
                if (W->type == KERN_Q4_K) {
                    uint8_t u[QK];
                    float D, M;
                    q4k_block(row, b, u, &D, &M);
                    int32_t s = 0;
                    for (int l = 0; l < QK; l++) s += u[l] * q[l];
                    const float t1 = D * (float)s, t2 = M * (float)x->s[i], diff = t1 - t2;
                    term = diff * x->d[i];
                } else {
                    int8_t c[QK];
                    int a, bb;
                    float d;
                    q6k_block(row, b, c, &a, &bb, &d);
                    int32_t lo = 0, hi = 0;
                    for (int l = 0; l < QK / 2; l++) lo += c[l] * q[l];
                    for (int l = QK / 2; l < QK; l++) hi += c[l] * q[l];
                    const float dd = d * x->d[i];
                    term = dd * (float)(a * lo + bb * hi);
                }
                acc += term;
            }
            Y[(size_t)t * W->N + n] = acc;
        }
    }
}
