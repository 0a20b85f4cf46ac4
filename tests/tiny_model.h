/* tiny_model.h — a small random LlmModel held in the test's own buffers, Llama (grouped-query,
 * untied head) or GPT-2 (biases, LayerNorm, learned positions), for the tests that run whole
 * models (test_llm_tune, test_smooth).  The including file defines the shapes first:
 *   enum { D, H, HKV, F, T, L2, VOC }   dim, heads, KV heads (Llama), FFN, positions, blocks, vocab
 * and includes quant/llm.h. */
#ifndef QUANT_TEST_TINY_MODEL_H
#define QUANT_TEST_TINY_MODEL_H

#include <stdlib.h>
#include <string.h>

#include "quant/llm.h"

/* n floats ~ N(mean, sd^2) from r. */
static float *randv(QRng *r, size_t n, float sd, float mean) {
    float *v = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = mean + sd * qrng_normal(r);
    return v;
}

typedef struct TinyModel {
    LlmModel m;
    LlmLayer layers[L2];
    float *bufs[L2 * 17 + 5];
    int nb;
} TinyModel;
static float *tm_take(TinyModel *t, QRng *r, size_t n, float sd, float mean) {
    return t->bufs[t->nb++] = randv(r, n, sd, mean);
}
/* Weights drawn from a generator seeded with seed. */
static void tiny_init(TinyModel *t, int gpt2, uint64_t seed) {
    QRng r;
    qrng_seed(&r, seed);
    memset(t, 0, sizeof *t);
    int hkv = gpt2 ? H : HKV;
    LlmConfig c = {.arch = gpt2 ? LLM_ARCH_GPT2 : LLM_ARCH_LLAMA, .dim = D, .hidden_dim = F, .n_layers = L2, .n_heads = H,
                   .n_kv_heads = hkv, .vocab_size = VOC, .max_seq = T, .norm_eps = 1e-5f,
                   .rope_theta = gpt2 ? 0.0f : 10000.0f, .rope_interleaved = 1};
    t->m.c = c;
    int kvd = hkv * (D / H);
    for (int l = 0; l < L2; l++) {
        LlmLayer *y = &t->layers[l];
        y->attn_norm = tm_take(t, &r, D, 0.2f, 1.0f);
        y->ffn_norm = tm_take(t, &r, D, 0.2f, 1.0f);
        y->wq = tm_take(t, &r, (size_t)D * D, 0.4f, 0);
        y->wk = tm_take(t, &r, (size_t)kvd * D, 0.4f, 0);
        y->wv = tm_take(t, &r, (size_t)kvd * D, 0.4f, 0);
        y->wo = tm_take(t, &r, (size_t)D * D, 0.3f, 0);
        if (!gpt2) y->w_gate = tm_take(t, &r, (size_t)F * D, 0.4f, 0);
        y->w_up = tm_take(t, &r, (size_t)F * D, 0.4f, 0);
        y->w_down = tm_take(t, &r, (size_t)D * F, 0.3f, 0);
        if (gpt2) {
            y->attn_norm_b = tm_take(t, &r, D, 0.1f, 0);
            y->ffn_norm_b = tm_take(t, &r, D, 0.1f, 0);
            y->bq = tm_take(t, &r, D, 0.1f, 0);
            y->bk = tm_take(t, &r, (size_t)kvd, 0.1f, 0);
            y->bv = tm_take(t, &r, (size_t)kvd, 0.1f, 0);
            y->bo = tm_take(t, &r, D, 0.1f, 0);
            y->b_up = tm_take(t, &r, F, 0.1f, 0);
            y->b_down = tm_take(t, &r, D, 0.1f, 0);
        }
    }
    t->m.layers = t->layers;
    t->m.tok_emb = tm_take(t, &r, (size_t)VOC * D, 1.0f, 0);
    t->m.head = tm_take(t, &r, (size_t)VOC * D, 0.5f, 0);
    t->m.final_norm = tm_take(t, &r, D, 0.2f, 1.0f);
    if (gpt2) {
        t->m.final_norm_b = tm_take(t, &r, D, 0.1f, 0);
        t->m.pos_emb = tm_take(t, &r, (size_t)T * D, 0.3f, 0);
    }
}
static void tiny_free(TinyModel *t) {
    for (int i = 0; i < t->nb; i++) free(t->bufs[i]);
}

#endif
