/* attn.c — causal attention of a few new tokens against the KV cache (kernels.h:
 * kern_attention_f32): the decode step's attention.
 *
 * Why not two BLAS products per head as for a prompt: at decode each head is a 1 x n x hs
 * product and an 1 x hs x n one, tiny, and a 1.1B model makes ~1400 of them per token; the
 * calls' overhead and running them on one thread cost a fifth of the step (6 ms of 28).  Here
 * each head is one pool tile (the heads split over the threads, each head summed by one thread
 * in one order, so the output does not depend on the thread count): scores by 8-lane dots,
 * the softmax in place, and the values accumulated row by row into the head's output. */
#include <math.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/core.h"

typedef struct AttnJob {
    int T, pos0, H, Hkv, hs, ldq, ldkv, ldo;
    float scale;
    const float *q, *k, *v;
    float *scratch, *out;
} AttnJob;

/* One head's attention for every new token (inlined into each ISA's clone below). */
static inline __attribute__((always_inline)) void head_body(void *arg, int h) {
    const AttnJob *j = arg;
    const int hs = j->hs, kvh = h / (j->H / j->Hkv);
    const float *k = j->k + (size_t)kvh * hs, *v = j->v + (size_t)kvh * hs;
    float *a = j->scratch + (size_t)h * (j->pos0 + j->T);
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
/* the same source on AVX-512 (8-lane dots in one register, 16-lane value rows) */
__attribute__((target("avx512f"))) static void head_avx512(void *arg, int h) { head_body(arg, h); }

void kern_attention_f32(int T, int pos0, int H, int Hkv, int hs, const float *q, int ldq, const float *k, const float *v,
                        int ldkv, float *scratch, float *out, int ldo) {
    AttnJob j = {T, pos0, H, Hkv, hs, ldq, ldkv, ldo, 1.0f / sqrtf((float)hs), q, k, v, scratch, out};
    kern_parallel_tiles(H, kern_f32_avx512() ? head_avx512 : head, &j, (int64_t)T * (pos0 + T) * H * hs >= (1 << 14));
}
