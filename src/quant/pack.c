/* pack.c — little-endian bit fields of 2..8 bits (pack.h). */
#include "quant/pack.h"

#include <string.h>

size_t qpack_bytes(int bits, int64_t n) { return (size_t)((n * bits + 7) / 8); }

void qpack(int bits, const int8_t *q, int64_t n, uint8_t *out) {
    const int qmin = -(1 << (bits - 1));
    const uint32_t mask = (1u << bits) - 1;
    if (bits == 8) {
        for (int64_t i = 0; i < n; i++) out[i] = (uint8_t)(q[i] - qmin);
        return;
    }
    if (bits == 4) { /* two codes per byte, low nibble first: the same bytes as the loop below, branch-free */
        for (int64_t i = 0; i < n / 2; i++)
            out[i] = (uint8_t)(((uint32_t)(q[2 * i] + 8) & 15) | (((uint32_t)(q[2 * i + 1] + 8) & 15) << 4));
        if (n & 1) out[n / 2] = (uint8_t)((uint32_t)(q[n - 1] + 8) & 15);
        return;
    }
    memset(out, 0, qpack_bytes(bits, n));
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)(q[i] - qmin) & mask;
        int64_t bit = i * bits;
        int64_t byte = bit >> 3;
        int sh = (int)(bit & 7);
        out[byte] |= (uint8_t)(u << sh);
        if (sh + bits > 8) out[byte + 1] |= (uint8_t)(u >> (8 - sh));
    }
}

void qunpack(int bits, const uint8_t *in, int64_t n, int8_t *q) {
    const int qmin = -(1 << (bits - 1));
    const uint32_t mask = (1u << bits) - 1;
    if (bits == 8) {
        for (int64_t i = 0; i < n; i++) q[i] = (int8_t)(in[i] + qmin);
        return;
    }
    if (bits == 4) { /* two codes per byte, low nibble first: the common case, kept branch-free */
        for (int64_t i = 0; i < n / 2; i++) {
            q[2 * i] = (int8_t)((in[i] & 15) - 8);
            q[2 * i + 1] = (int8_t)((in[i] >> 4) - 8);
        }
        if (n & 1) q[n - 1] = (int8_t)((in[n / 2] & 15) - 8);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t bit = i * bits;
        int64_t byte = bit >> 3;
        int sh = (int)(bit & 7);
        uint32_t u = (uint32_t)in[byte] >> sh;
        if (sh + bits > 8) u |= (uint32_t)in[byte + 1] << (8 - sh);
        q[i] = (int8_t)((int)(u & mask) + qmin);
    }
}
