/* llm_source.c — a model read one block at a time (llm_source.h): Hugging Face directories
 * through llm_hf.c's checked loader, llama2.c checkpoints through their private map. */
#include <stdlib.h>
#include <string.h>

#include "quant/llm_source.h"

struct LlmSource {
    LlmHfLazy *hf;   /* Hugging Face directory */
    LlmModel l2c;    /* llama2.c: the whole checkpoint mapped (weights point into the map) */
};

int llm_source_open(LlmSource **out, LlmModel *m, const char *path, QErr *err) {
    return llm_source_open_ex(out, m, path, 0, err);
}

int llm_source_rows(LlmSource *s, const LlmModel *m, int head, int64_t row0, int64_t nrows, float *dst, QErr *err) {
    const float *w = head ? m->head : m->tok_emb;
    if (s->hf && !w) return llm_hf_lazy_rows(s->hf, m, head, row0, nrows, dst, err);
    if (!w || row0 < 0 || nrows < 0 || row0 + nrows > m->c.vocab_size) return qerr_set(err, "internal: rows of a missing tensor");
    memcpy(dst, w + (size_t)row0 * m->c.dim, (size_t)nrows * m->c.dim * sizeof(float));
    return 0;
}

int llm_source_open_ex(LlmSource **out, LlmModel *m, const char *path, int shared_lazy, QErr *err) {
    LlmSource *s = xcalloc(1, sizeof *s);
    memset(m, 0, sizeof *m);
    if (qpath_is_dir(path)) {
        if (llm_hf_lazy_open(&s->hf, m, path, shared_lazy, err)) {
            free(s);
            return -1;
        }
        *out = s;
        return 0;
    }
    if (!qpath_exists(path)) {
        free(s);
        return qerr_set(err, "%s: no such file or directory", path);
    }
    /* llama2.c: fp32 in the file already; the shared tensors are copied out so the quantizer
     * may change them (the embedding is dequantized in place) without touching the map */
    if (llm_load_llama2c(&s->l2c, path, err)) {
        free(s);
        return -1;
    }
    const LlmConfig *c = &s->l2c.c;
    const size_t D = (size_t)c->dim, V = (size_t)c->vocab_size;
    m->c = *c;
    m->owned = xmalloc((V * D * (c->shared_head ? 1 : 2) + D) * sizeof(float));
    m->tok_emb = m->owned;
    memcpy(m->tok_emb, s->l2c.tok_emb, V * D * sizeof(float));
    m->final_norm = m->tok_emb + V * D;
    memcpy(m->final_norm, s->l2c.final_norm, D * sizeof(float));
    m->head = m->tok_emb;
    if (!c->shared_head) {
        m->head = m->final_norm + D;
        memcpy(m->head, s->l2c.head, V * D * sizeof(float));
    }
    m->layers = xcalloc((size_t)c->n_layers, sizeof(LlmLayer));
    snprintf(m->name, sizeof m->name, "%s", path);
    qmap_release(s->l2c.map.data, s->l2c.map.len);
    *out = s;
    return 0;
}

size_t llm_source_block_floats(const LlmConfig *c) { return llm_hf_lazy_block_floats(c); }

int llm_source_block(LlmSource *s, LlmModel *m, int layer, float *buf, QErr *err) {
    if (layer < 0 || layer >= m->c.n_layers) return qerr_set(err, "internal: block %d of %d", layer, m->c.n_layers);
    if (s->hf) return llm_hf_lazy_block(s->hf, m, layer, buf, err);
    /* llama2.c: the same carving as the HF loader (norms, q, k, v, o, up, down, gate) */
    const LlmLayer *f = &s->l2c.layers[layer];
    const LlmConfig *c = &m->c;
    const size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, hs = D / (size_t)c->n_heads;
    const size_t qd = (size_t)c->n_heads * hs, kvd = (size_t)c->n_kv_heads * hs;
    LlmLayer *y = &m->layers[layer];
    float *p = buf;
#define COPY(field, n) (y->field = p, memcpy(p, f->field, (n) * sizeof(float)), p += (n))
    COPY(attn_norm, D);
    COPY(ffn_norm, D);
    COPY(wq, qd * D);
    COPY(wk, kvd * D);
    COPY(wv, kvd * D);
    COPY(wo, D * qd);
    COPY(w_up, F * D);
    COPY(w_down, D * F);
    COPY(w_gate, F * D);
#undef COPY
    return 0;
}

void llm_source_release(LlmSource *s, LlmModel *m, int layer) {
    if (s->hf) {
        llm_hf_lazy_release(s->hf);
    } else {
        const LlmConfig *c = &m->c;
        const size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, hs = D / (size_t)c->n_heads;
        const LlmLayer *f = &s->l2c.layers[layer];
        qmap_release(f->wq, (size_t)c->n_heads * hs * D * sizeof(float));
        qmap_release(f->wk, (size_t)c->n_kv_heads * hs * D * sizeof(float));
        qmap_release(f->wv, (size_t)c->n_kv_heads * hs * D * sizeof(float));
        qmap_release(f->wo, (size_t)c->n_heads * hs * D * sizeof(float));
        qmap_release(f->w_gate, F * D * sizeof(float));
        qmap_release(f->w_up, F * D * sizeof(float));
        qmap_release(f->w_down, F * D * sizeof(float));
    }
    memset(&m->layers[layer], 0, sizeof m->layers[layer]);
}

int llm_source_view(LlmSource *s, const LlmModel *m, int layer, const char *part, StTensor *v) {
    return s->hf ? llm_hf_lazy_view(s->hf, m, layer, part, v) : 1;
}

const char *llm_source_view_file(LlmSource *s, const StTensor *v, int64_t *offset) {
    return s->hf ? llm_hf_lazy_file(s->hf, v, offset) : NULL;
}

void llm_source_close(LlmSource *s, LlmModel *m) {
    if (s) {
        llm_hf_lazy_close(s->hf);
        llm_free(&s->l2c);
        free(s);
    }
    llm_free(m);
}
