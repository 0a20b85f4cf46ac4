/* rng.c — a small seeded generator (PCG-XSH-RR on a 64-bit LCG). One per consumer. */
#include "quant/core.h"

#include <math.h>

void qrng_seed(QRng *r, uint64_t seed) {
    r->state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    (void)qrng_u32(r);
}

uint32_t qrng_u32(QRng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + 1442695040888963407ULL;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint64_t qrng_u64(QRng *r) {
    uint64_t hi = qrng_u32(r);
    return (hi << 32) | qrng_u32(r);
}

float qrng_uniform(QRng *r) { return (qrng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float qrng_normal(QRng *r) {
    float u1 = qrng_uniform(r), u2 = qrng_uniform(r);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}

uint32_t qrng_below(QRng *r, uint32_t n) {
    /* Lemire's nearly-divisionless method, unbiased */
    uint64_t m = (uint64_t)qrng_u32(r) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)qrng_u32(r) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void qrng_shuffle_i32(QRng *r, int32_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = qrng_below(r, (uint32_t)(i + 1));
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
