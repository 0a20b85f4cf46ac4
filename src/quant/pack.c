/* pack.c — little-endian bit fields of 2..8 bits (pack.h). */
#include "quant/pack.h"

#include <immintrin.h>
#include <string.h>

/* 4-bit pairs, 64 codes at a time: as 16-bit lanes w = q0 | q1 << 8, (q + 8) mod 16 is
 * (q ^ 8) & 15, so the byte is ((w ^ 0x0808) & 0xF) | ((w ^ 0x0808) >> 4 & 0xF0).  Returns
 * the pairs done. */
__attribute__((target("avx512f,avx512bw"))) static int64_t pack4_avx512(const int8_t *q, int64_t pairs, uint8_t *out) {
    const __m512i x8 = _mm512_set1_epi16(0x0808), lo = _mm512_set1_epi16(0x000F), hi = _mm512_set1_epi16(0x00F0);
    int64_t i = 0;
    for (; i + 32 <= pairs; i += 32) {
        __m512i w = _mm512_xor_si512(_mm512_loadu_si512(q + 2 * i), x8);
        w = _mm512_or_si512(_mm512_and_si512(w, lo), _mm512_and_si512(_mm512_srli_epi16(w, 4), hi));
        _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi16_epi8(w));
    }
    return i;
}

static int has_avx512bw(void) {
    static int known = -1; /* every thread that asks stores the same answer */
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        __builtin_cpu_init();
        k = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
}

size_t qpack_bytes(int bits, int64_t n) { return (size_t)((n * bits + 7) / 8); }

void qpack(int bits, const int8_t *q, int64_t n, uint8_t *out) {
    const int qmin = -(1 << (bits - 1));
    const uint32_t mask = (1u << bits) - 1;
    if (bits == 8) {
#pragma omp simd /* -O2's cheap vectorizer leaves a loop of unknown length scalar */
        for (int64_t i = 0; i < n; i++) out[i] = (uint8_t)(q[i] - qmin);
        return;
    }
    if (bits == 4) { /* two codes per byte, low nibble first: the same bytes as the loop below, branch-free */
        int64_t i0 = has_avx512bw() ? pack4_avx512(q, n / 2, out) : 0;
        for (int64_t i = i0; i < n / 2; i++)
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
