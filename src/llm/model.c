/* model.c — model lifetime, parameter counts, the linear-layer table (llm.h). */
#include <stdlib.h>
#include <string.h>

#include "quant/llm.h"

void llm_free(LlmModel *m) {
    qmap_close(&m->map);
    free(m->owned);
    free(m->layers);
    memset(m, 0, sizeof *m);
}

int64_t llm_n_params(const LlmModel *m) {
    const LlmConfig *c = &m->c;
    int64_t hs = c->dim / c->n_heads, D = c->dim, F = c->hidden_dim;
    int64_t per = 2 * D + D * c->n_heads * hs * 2 + 2 * D * c->n_kv_heads * hs + F * D * (c->arch == LLM_ARCH_LLAMA ? 3 : 2);
    int64_t n = (int64_t)c->vocab_size * D + c->n_layers * per + D;
    if (!c->shared_head) n += (int64_t)c->vocab_size * D;
    if (c->arch == LLM_ARCH_GPT2) n += (int64_t)c->max_seq * D;
    return n;
}

int llm_block_linears(LlmModel *m, int layer, LlmLinear out[LLM_MAX_LINEARS]) {
    const LlmConfig *c = &m->c;
    LlmLayer *l = &m->layers[layer];
    int hs = c->dim / c->n_heads, D = c->dim, F = c->hidden_dim, n = 0;
    int qd = c->n_heads * hs, kvd = c->n_kv_heads * hs;
    out[n++] = (LlmLinear){"q", LLM_SITE_QKV, l->wq, l->bq, D, qd};
    out[n++] = (LlmLinear){"k", LLM_SITE_QKV, l->wk, l->bk, D, kvd};
    out[n++] = (LlmLinear){"v", LLM_SITE_QKV, l->wv, l->bv, D, kvd};
    out[n++] = (LlmLinear){"o", LLM_SITE_O, l->wo, l->bo, qd, D};
    if (l->w_gate) out[n++] = (LlmLinear){"gate", LLM_SITE_UP, l->w_gate, NULL, D, F};
    out[n++] = (LlmLinear){"up", LLM_SITE_UP, l->w_up, l->b_up, D, F};
    out[n++] = (LlmLinear){"down", LLM_SITE_DOWN, l->w_down, l->b_down, F, D};
    return n;
}

int llm_check_context(const LlmConfig *c, int T, QErr *err) {
    if (T > c->max_seq)
        return qerr_set(err, "%d positions requested but the model's context is %d (max_position_embeddings / n_positions)",
                        T, c->max_seq);
    if (c->sliding_window > 0 && T > c->sliding_window)
        return qerr_set(err, "%d positions requested but the model's sliding_window is %d (windowed attention is not "
                        "implemented: use a sequence length <= %d)", T, c->sliding_window, c->sliding_window);
    return 0;
}
