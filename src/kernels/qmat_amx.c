/* qmat_amx.c — the AMX int8 tile kernel of a prompt (qmat_amx_tile.h) on the real instructions,
 * and its self-test.  Compiled with the AVX-512 and AMX flags (Makefile: *_amx.c); called only
 * once amx.c has found the tiles usable (kern_amx_on), so nothing here runs on other CPUs. */
#include <immintrin.h>

#include "kernels_internal.h"

/* GCC's tile loads are asm statements that do not tell the compiler they read memory, and its
 * ldtilecfg names 8 of the 64 bytes it reads: the barrier keeps the stores of the unpacked tile
 * and of the whole configuration before them (and a tile store's results before their reads). */
#define AMX_BARRIER() __asm__ volatile("" ::: "memory")
#define AMX_CFG(cfg)              \
    do {                          \
        AMX_BARRIER();            \
        _tile_loadconfig(cfg);    \
    } while (0)
#define AMX_RELEASE() _tile_release()
#define AMX_ZERO(t) _tile_zero(t)
#define AMX_LOAD(t, p, s)        \
    do {                         \
        AMX_BARRIER();           \
        _tile_loadd(t, p, s);    \
    } while (0)
#define AMX_STORE(t, p, s)       \
    do {                         \
        _tile_stored(t, p, s);   \
        AMX_BARRIER();           \
    } while (0)
#define AMX_DPBSUD(c, a, b) _tile_dpbsud(c, a, b)
#define AMX_FN
#include "qmat_amx_tile.h"

void kern_qmat_amx_tokens(const uint8_t *wu, const float *wd, int nbc, const KernQAct *x, int T16, int c0, int32_t o,
                          int first, float *Y, int N, int n, int rows) {
    amx_tokens(wu, wd, nbc, x, T16, c0, o, first, Y, N, n, rows);
}

/* A fixed product of 32 rows x 3 blocks against 16 tokens, Q4_0-like (o = 8), every array on the
 * stack (it runs in a forked child of a threaded process: no malloc), against the same sums
 * done in plain C with the scalar kernel's operations: the same bits. */
int kern_qmat_amx_selftest(void) {
    enum { NB = 3, T = AMX_T, R = AMX_GC };
    _Alignas(64) uint8_t wu[NB * (QK / 4) * R * 4];
    _Alignas(64) float wd[NB * R], y[T * R], ref[T * R];
    _Alignas(64) int8_t q[T * NB * QK];
    float d[T * NB];
    int32_t s[T * NB];
    uint32_t h = 2463534242u;
    for (size_t i = 0; i < sizeof wu; i++) h ^= h << 13, h ^= h >> 17, h ^= h << 5, wu[i] = (uint8_t)(h % 16);
    for (int i = 0; i < T * NB * QK; i++) h ^= h << 13, h ^= h >> 17, h ^= h << 5, q[i] = (int8_t)(h % 255 - 127);
    for (int i = 0; i < NB * R; i++) wd[i] = 0.001f * (float)(i % 7 + 1);
    for (int i = 0; i < T * NB; i++) {
        d[i] = 0.01f * (float)(i % 5 + 1);
        s[i] = 0;
        for (int j = 0; j < QK; j++) s[i] += q[i * QK + j];
    }
    KernQAct x = {.T = T, .K = NB * QK, .nb = NB, .q = q, .d = d, .s = s};
    amx_tokens(wu, wd, NB, &x, T, 0, 8, 1, y, R, 0, R);
    for (int t = 0; t < T; t++)
        for (int r = 0; r < R; r++) {
            float acc = 0;
            for (int b = 0; b < NB; b++) {
                int32_t sum = 0;
                for (int k = 0; k < QK; k++) sum += (wu[(size_t)b * (QK / 4) * R * 4 + (k / 4) * R * 4 + r * 4 + k % 4] - 8) * q[(t * NB + b) * QK + k];
                const float dd = wd[b * R + r] * d[t * NB + b], term = dd * (float)sum; /* the scalar kernel's order */
                acc += term;
            }
            ref[t * R + r] = acc;
        }
    return memcmp(y, ref, sizeof y) != 0;
}
