/* model.c — model lifetime, parameter counts, the linear-layer table (llm.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/kernels.h"
#include "quant/llm.h"

void llm_kernels_describe(const LlmModel *m, char *buf, int size) {
    if (!llm_has_packed(m)) {
        snprintf(buf, (size_t)size, "fp32 (BLAS) throughout");
        return;
    }
    const KernQMat *q = NULL; /* the first packed linear (a GGUF file may keep some in fp32) */
    for (int l = 0; l < m->c.n_layers && !q; l++) {
        const LlmLayer *y = &m->layers[l];
        const KernQMat *p[7] = {y->pq, y->pk, y->pv, y->po, y->p_gate, y->p_up, y->p_down};
        for (int k = 0; k < 7 && !q; k++) q = p[k];
    }
    if (m->kernels == LLM_KERNELS_REF)
        snprintf(buf, (size_t)size, "%d linears packed %s%s, reference kernels (dequantized to fp32 per call, BLAS); "
                 "attention, norms, KV cache, embeddings, classifier: fp32", m->n_packed, kern_qtype_name(q->type),
                 q->zero ? " + zero-points" : "");
    else
        snprintf(buf, (size_t)size, "%d linears packed %s%s, integer kernels (%s%s, int8 activations per 32-block); "
                 "attention, norms, KV cache%s: fp32%s%s%s", m->n_packed, kern_qtype_name(q->type),
                 q->zero ? " + zero-points" : "", kern_isa_name((KernIsa)m->isa), q->sb16 ? ", rows in the sb16 layout" : "",
                 m->p_head ? "" : m->p_emb ? ", classifier" : ", embeddings, classifier",
                 m->p_head ? "; classifier packed " : "", m->p_head ? kern_qtype_name(m->p_head->type) : "",
                 m->p_emb ? ", embedding rows dequantized on lookup" : "");
    if (kern_cpu_amx_int8() && m->kernels != LLM_KERNELS_REF) { /* where they exist: whether prompts use them */
        size_t n = strlen(buf);
        snprintf(buf + n, (size_t)size - n, "; AMX int8 tiles %s", kern_amx_status());
    }
}

int llm_kernels_set(LlmModel *m, const char *name, QErr *err) {
    if (strcmp(name, "int") == 0) m->kernels = LLM_KERNELS_INT;
    else if (strcmp(name, "ref") == 0) m->kernels = LLM_KERNELS_REF;
    else return qerr_set(err, "--kernels %s: expected int (integer kernels) or ref (dequantize, fp32)", name);
    if (m->p_head && m->kernels == LLM_KERNELS_REF && !m->head) {
        /* the reference path: the dequantized classifier in fp32, once (what ptq-llm evaluated) */
        m->head_deq = xmalloc((size_t)m->c.vocab_size * m->c.dim * sizeof(float));
        kern_qmat_dequant(m->p_head, m->head_deq);
        m->head = m->head_deq;
    } else if (m->head_deq && m->kernels == LLM_KERNELS_INT) {
        free(m->head_deq);
        m->head = m->head_deq = NULL;
    }
    return 0;
}

void llm_free(LlmModel *m) {
    kern_async_stop(); /* a decode step may leave a worker loading the next layer's weights */
    qmap_close(&m->map);
    free(m->owned);
    free(m->layers);
    free(m->packed);
    free(m->head_deq);
    memset(m, 0, sizeof *m);
}

float *llm_carve(float **w, int64_t count) {
    float *p = (float *)(((uintptr_t)*w + 63) & ~(uintptr_t)63);
    *w = p + count;
    return p;
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
    out[n++] = (LlmLinear){"q", LLM_SITE_QKV, l->wq, l->pq, l->bq, D, qd};
    out[n++] = (LlmLinear){"k", LLM_SITE_QKV, l->wk, l->pk, l->bk, D, kvd};
    out[n++] = (LlmLinear){"v", LLM_SITE_QKV, l->wv, l->pv, l->bv, D, kvd};
    out[n++] = (LlmLinear){"o", LLM_SITE_O, l->wo, l->po, l->bo, qd, D};
    if (l->w_gate || l->p_gate) out[n++] = (LlmLinear){"gate", LLM_SITE_UP, l->w_gate, l->p_gate, NULL, D, F};
    out[n++] = (LlmLinear){"up", LLM_SITE_UP, l->w_up, l->p_up, l->b_up, D, F};
    out[n++] = (LlmLinear){"down", LLM_SITE_DOWN, l->w_down, l->p_down, l->b_down, F, D};
    return n;
}

int llm_block_shapes(const LlmConfig *c, LlmLinearShape out[LLM_MAX_LINEARS]) {
    const int hs = c->dim / (c->n_heads > 0 ? c->n_heads : 1), D = c->dim, F = c->hidden_dim;
    const int qd = c->n_heads * hs, kvd = c->n_kv_heads * hs;
    int n = 0;
    out[n++] = (LlmLinearShape){"q", D, qd};
    out[n++] = (LlmLinearShape){"k", D, kvd};
    out[n++] = (LlmLinearShape){"v", D, kvd};
    out[n++] = (LlmLinearShape){"o", qd, D};
    if (c->arch == LLM_ARCH_LLAMA) out[n++] = (LlmLinearShape){"gate", D, F};
    out[n++] = (LlmLinearShape){"up", D, F};
    out[n++] = (LlmLinearShape){"down", F, D};
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
