/* qblock.c — scalar reference packing of the GGUF-compatible blocks (qblock.h). */
#include "quant/qblock.h"

#include <string.h>

#include "quant/core.h"

void qblock_q4_0_pack(const int8_t *codes, int n, uint16_t d, QBlockQ4_0 *b) {
    uint8_t u[QK];
    for (int j = 0; j < QK; j++) u[j] = (uint8_t)((j < n ? codes[j] : 0) + 8);
    b->d = d;
    for (int j = 0; j < QK / 2; j++) b->qs[j] = (uint8_t)((u[j] & 15) | (u[j + QK / 2] << 4));
}

void qblock_q8_0_pack(const int8_t *codes, int n, uint16_t d, QBlockQ8_0 *b) {
    b->d = d;
    memset(b->qs, 0, sizeof b->qs);
    memcpy(b->qs, codes, (size_t)n);
}

void qblock_q4_0_unpack(const QBlockQ4_0 *b, int8_t codes[QK]) {
    for (int j = 0; j < QK / 2; j++) {
        codes[j] = (int8_t)((b->qs[j] & 15) - 8);
        codes[j + QK / 2] = (int8_t)((b->qs[j] >> 4) - 8);
    }
}

void qblock_q8_0_unpack(const QBlockQ8_0 *b, int8_t codes[QK]) { memcpy(codes, b->qs, QK); }

void qblock_q4_0_dequant_row(const QBlockQ4_0 *b, int64_t k, float *w) {
    int8_t c[QK];
    for (int64_t i0 = 0; i0 < k; i0 += QK, b++) {
        qblock_q4_0_unpack(b, c);
        float d = qf16_to_f32(b->d);
        for (int64_t j = 0; j < QK && i0 + j < k; j++) w[i0 + j] = d * (float)c[j];
    }
}

void qblock_q8_0_dequant_row(const QBlockQ8_0 *b, int64_t k, float *w) {
    for (int64_t i0 = 0; i0 < k; i0 += QK, b++) {
        float d = qf16_to_f32(b->d);
        for (int64_t j = 0; j < QK && i0 + j < k; j++) w[i0 + j] = d * (float)b->qs[j];
    }
}

void qblock_q3_pack(const int8_t *codes, int n, uint16_t d, QBlockQ3 *b) {
    memset(b, 0, sizeof *b);
    b->d = d;
    for (int j = 0; j < QK; j++) {
        int u = (j < n ? codes[j] : 0) + 4;
        b->qs[j % 8] |= (uint8_t)((u & 3) << (2 * (j / 8)));
        b->qh[j / 8] |= (uint8_t)((u >> 2) << (j % 8));
    }
}

void qblock_q2_pack(const int8_t *codes, int n, uint16_t d, QBlockQ2 *b) {
    memset(b, 0, sizeof *b);
    b->d = d;
    for (int j = 0; j < QK; j++) b->qs[j % 8] |= (uint8_t)(((j < n ? codes[j] : 0) + 2) << (2 * (j / 8)));
}

void qblock_q3_unpack(const QBlockQ3 *b, int8_t codes[QK]) {
    for (int j = 0; j < QK; j++)
        codes[j] = (int8_t)((((b->qs[j % 8] >> (2 * (j / 8))) & 3) | (((b->qh[j / 8] >> (j % 8)) & 1) << 2)) - 4);
}

void qblock_q2_unpack(const QBlockQ2 *b, int8_t codes[QK]) {
    for (int j = 0; j < QK; j++) codes[j] = (int8_t)(((b->qs[j % 8] >> (2 * (j / 8))) & 3) - 2);
}
