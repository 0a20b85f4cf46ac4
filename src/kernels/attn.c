/* attn.c — causal attention of a few new tokens against the KV cache (kernels.h:
 * kern_attention_f32): the decode step's attention.
 *
 * Why not two BLAS products per head as for a prompt: at decode each head is a 1 x n x hs
 * product and an 1 x hs x n one, tiny, and a 1.1B model makes ~1400 of them per token; the
 * calls' overhead and running them on one thread cost a fifth of the step (6 ms of 28).  Here
 * each head is one pool tile (the heads split over the threads, each head summed by one thread
 * in one order, so the output does not depend on the thread count): scores by 8-lane dots,
 * the softmax in place, and the values accumulated row by row into the head's output; on
 * AVX-512 with head sizes 16, 32, .. 128 and on AVX2 with 8, 16, .. 128, the query and the
 * output kept in registers (head_wide, head_ymm). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/core.h"

typedef struct AttnJob {
    int T, pos0, H, Hkv, hs, ldq, ldkv, ldo;
    size_t kvh_stride; /* floats from one kv head's rows to the next's */
    float scale;
    const float *q, *k, *v;
    float *scratch, *out;
} AttnJob;

/* Head h's key and value columns (its kv head's) and its scores' scratch row. */
typedef struct HeadAt {
    const float *k, *v;
    float *a;
} HeadAt;
static inline __attribute__((always_inline)) HeadAt head_at(const AttnJob *j, int h) {
    const int kvh = h / (j->H / j->Hkv);
    return (HeadAt){j->k + (size_t)kvh * j->kvh_stride, j->v + (size_t)kvh * j->kvh_stride, j->scratch + (size_t)h * (j->pos0 + j->T)};
}

/* One head's attention for every new token (inlined into each ISA's clone below). */
static inline __attribute__((always_inline)) void head_body(void *arg, int h) {
    const AttnJob *j = arg;
    const int hs = j->hs;
    const HeadAt at = head_at(j, h);
    const float *k = at.k, *v = at.v;
    float *a = at.a;
    for (int t = 0; t < j->T; t++) {
        const int n = j->pos0 + t + 1; /* keys up to this token's position */
        const float *q = j->q + (size_t)t * j->ldq + (size_t)h * hs;
        for (int i = 0; i < n; i++) a[i] = j->scale * q_dot_f32(q, k + (size_t)i * j->ldkv, hs);
        q_softmax_f32(a, n);
        float *o = j->out + (size_t)t * j->ldo + (size_t)h * hs;
        memset(o, 0, (size_t)hs * sizeof(float));
        for (int i = 0; i < n; i++) {
            const float ai = a[i], *vi = v + (size_t)i * j->ldkv;
#pragma omp simd
            for (int d = 0; d < hs; d++) o[d] += ai * vi[d];
        }
    }
}

static void head(void *arg, int h) { head_body(arg, h); }

/* AVX-512, head sizes 16 C (C <= 8): the query in C registers; each key's score by C fmas and
 * one horizontal sum (keys are independent, so their chains overlap); the output in 2 x C
 * registers, even and odd keys apart, added at the end.  Why not head_body compiled for
 * AVX-512: its 8-lane dot is one dependent chain per key, and its output row went through
 * memory for every key (a store and a load per fma); the decode step's attention of a W4
 * 1.1B model (32 heads, 160-190 positions) took 0.75 ms of its 19.5.  The loops over registers
 * are unrolled by pragma (session 13): gcc kept o0 / o1 on the stack for some C, a load and a
 * store per fma, as it did in head_ymm; the same operations in the same order, not measured
 * here (that session's machine had no AVX-512). */
#define AVX512 __attribute__((target("avx512f")))
AVX512 static inline __attribute__((always_inline)) void head_wide(const AttnJob *j, int h, const int C) {
    const int hs = j->hs;
    const HeadAt at = head_at(j, h);
    const float *k = at.k, *v = at.v;
    float *a = at.a;
    for (int t = 0; t < j->T; t++) {
        const int n = j->pos0 + t + 1;
        const float *qt = j->q + (size_t)t * j->ldq + (size_t)h * hs;
        __m512 q[8];
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) q[c] = _mm512_loadu_ps(qt + 16 * c);
        for (int i = 0; i < n; i++) {
            const float *ki = k + (size_t)i * j->ldkv;
            __m512 d = _mm512_mul_ps(q[0], _mm512_loadu_ps(ki));
            _Pragma("GCC unroll 8") for (int c = 1; c < C; c++) d = _mm512_fmadd_ps(q[c], _mm512_loadu_ps(ki + 16 * c), d);
            a[i] = j->scale * _mm512_reduce_add_ps(d);
        }
        q_softmax_f32(a, n);
        __m512 o0[8], o1[8];
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) o0[c] = o1[c] = _mm512_setzero_ps();
        int i = 0;
        for (; i + 2 <= n; i += 2) {
            const float *v0 = v + (size_t)i * j->ldkv, *v1 = v0 + j->ldkv;
            const __m512 a0 = _mm512_set1_ps(a[i]), a1 = _mm512_set1_ps(a[i + 1]);
            _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) {
                o0[c] = _mm512_fmadd_ps(a0, _mm512_loadu_ps(v0 + 16 * c), o0[c]);
                o1[c] = _mm512_fmadd_ps(a1, _mm512_loadu_ps(v1 + 16 * c), o1[c]);
            }
        }
        if (i < n) {
            const float *v0 = v + (size_t)i * j->ldkv;
            const __m512 a0 = _mm512_set1_ps(a[i]);
            _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) o0[c] = _mm512_fmadd_ps(a0, _mm512_loadu_ps(v0 + 16 * c), o0[c]);
        }
        float *o = j->out + (size_t)t * j->ldo + (size_t)h * hs;
        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++) _mm512_storeu_ps(o + 16 * c, _mm512_add_ps(o0[c], o1[c]));
    }
}

AVX512 static void head_avx512(void *arg, int h) {
    const AttnJob *j = arg;
    switch (j->hs / 16) { /* constant C: the registers' loops unrolled */
        case 1: head_wide(j, h, 1); break;
        case 2: head_wide(j, h, 2); break;
        case 3: head_wide(j, h, 3); break;
        case 4: head_wide(j, h, 4); break;
        case 5: head_wide(j, h, 5); break;
        case 6: head_wide(j, h, 6); break;
        case 7: head_wide(j, h, 7); break;
        default: head_wide(j, h, 8); break;
    }
}

/* AVX2 + FMA, head sizes 8 C (C <= 16): the same plan in 8 lanes, but the scores 8 keys at a
 * time, one accumulator per key (a key's own chain of C dependent fmas left the pipes idle),
 * summed across by a transposing hadd, and every loop over registers unrolled (gcc otherwise
 * kept the arrays on the stack): at 300 positions the attention went from 3.8% to 1.7% of a
 * W8 1.1B decode's perf samples.  The output's C registers take one chain per register (even
 * and odd keys apart would need 2 C of the 16 ymm).  Why a clone at all: the baseline's
 * head_body runs SSE2 code here (the build targets x86-64); on a Zen 3 EPYC the decode step's
 * attention of a W4 1.1B model took 2.5 ms of its 36. */
#define AVX2 __attribute__((target("avx2,fma")))
AVX2 static inline __attribute__((always_inline)) float hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

AVX2 static inline __attribute__((always_inline)) void head_ymm(const AttnJob *j, int h, const int C) {
    const HeadAt at = head_at(j, h); /* scores in at.a */
    for (int t = 0; t < j->T; t++) {
        const int n = j->pos0 + t + 1;
        const float *qt = j->q + (size_t)t * j->ldq + (size_t)h * j->hs;
        __m256 q[16];
        _Pragma("GCC unroll 16") for (int c = 0; c < C; c++) q[c] = _mm256_loadu_ps(qt + 8 * c);
        int i = 0;
        for (; i + 8 <= n; i += 8) { /* 8 keys: 8 independent chains, then one transposing sum */
            const float *k0 = at.k + (size_t)i * j->ldkv;
            const size_t ld = (size_t)j->ldkv;
            __m256 d[8];
            _Pragma("GCC unroll 16") for (int e = 0; e < 8; e++) d[e] = _mm256_mul_ps(q[0], _mm256_loadu_ps(k0 + e * ld));
            _Pragma("GCC unroll 16") for (int c = 1; c < C; c++)
                _Pragma("GCC unroll 16") for (int e = 0; e < 8; e++)
                    d[e] = _mm256_fmadd_ps(q[c], _mm256_loadu_ps(k0 + e * ld + 8 * c), d[e]);
            /* hadd pairs, then the 128-bit halves: lane e = key e's sum */
            __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(d[0], d[1]), _mm256_hadd_ps(d[2], d[3]));
            __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(d[4], d[5]), _mm256_hadd_ps(d[6], d[7]));
            __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
            _mm256_storeu_ps(at.a + i, _mm256_mul_ps(_mm256_set1_ps(j->scale), sum));
        }
        for (; i < n; i++) {
            const float *ki = at.k + (size_t)i * j->ldkv;
            __m256 d = _mm256_mul_ps(q[0], _mm256_loadu_ps(ki));
            _Pragma("GCC unroll 16") for (int c = 1; c < C; c++) d = _mm256_fmadd_ps(q[c], _mm256_loadu_ps(ki + 8 * c), d);
            at.a[i] = j->scale * hsum8(d);
        }
        q_softmax_f32(at.a, n);
        __m256 o[16];
        _Pragma("GCC unroll 16") for (int c = 0; c < C; c++) o[c] = _mm256_setzero_ps();
        for (i = 0; i < n; i++) {
            const float *vi = at.v + (size_t)i * j->ldkv;
            const __m256 ai = _mm256_set1_ps(at.a[i]);
            _Pragma("GCC unroll 16") for (int c = 0; c < C; c++) o[c] = _mm256_fmadd_ps(ai, _mm256_loadu_ps(vi + 8 * c), o[c]);
        }
        float *out = j->out + (size_t)t * j->ldo + (size_t)h * j->hs;
        _Pragma("GCC unroll 16") for (int c = 0; c < C; c++) _mm256_storeu_ps(out + 8 * c, o[c]);
    }
}

AVX2 static void head_avx2(void *arg, int h) {
    const AttnJob *j = arg;
    switch (j->hs / 8) { /* constant C: the registers' loops unrolled */
#define HEAD_CASE(C_) \
    case C_: head_ymm(j, h, C_); break;
        HEAD_CASE(1) HEAD_CASE(2) HEAD_CASE(3) HEAD_CASE(4) HEAD_CASE(5) HEAD_CASE(6) HEAD_CASE(7) HEAD_CASE(8)
        HEAD_CASE(9) HEAD_CASE(10) HEAD_CASE(11) HEAD_CASE(12) HEAD_CASE(13) HEAD_CASE(14) HEAD_CASE(15)
        default: head_ymm(j, h, 16); break;
#undef HEAD_CASE
    }
}

void kern_attention_f32(int T, int pos0, int H, int Hkv, int hs, const float *q, int ldq, const float *k, const float *v,
                        int ldkv, size_t kvh_stride, float *scratch, float *out, int ldo) {
    AttnJob j = {T, pos0, H, Hkv, hs, ldq, ldkv, ldo, kvh_stride, 1.0f / sqrtf((float)hs), q, k, v, scratch, out};
    KernTileFn fn = head;
    const int level = kern_f32_level();
    if (level == 2 && hs % 16 == 0 && hs <= 128) fn = head_avx512;
    else if (level >= 1 && hs % 8 == 0 && hs <= 128) fn = head_avx2;
    kern_parallel_tiles(H, fn, &j, (int64_t)T * (pos0 + T) * H * hs >= (1 << 14));
}
