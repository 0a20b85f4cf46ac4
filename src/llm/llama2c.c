/* llama2c.c — legacy llama2.c checkpoints (llm.h).
 * Header: 7 x int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len);
 * vocab_size < 0 means the classifier is stored separately (untied).  Then fp32 arrays:
 * token_embedding [V, D], rms_att [L, D], wq [L, D, D], wk [L, kvd, D], wv [L, kvd, D],
 * wo [L, D, D], rms_ffn [L, D], w1 [L, F, D], w2 [L, D, F], w3 [L, F, D], rms_final [D],
 * freq_cis_real/imag [S, hs/2] (unused), and wcls [V, D] when untied. */
#include <stdlib.h>
#include <string.h>

#include "quant/checked.h"
#include "quant/llm.h"

int llm_load_llama2c(LlmModel *m, const char *path, QErr *err) {
    memset(m, 0, sizeof *m);
    if (qmap_open(&m->map, path, 1, err)) return -1;
    const uint8_t *p = m->map.data;
    size_t len = m->map.len;
    if (len < 28) {
        llm_free(m);
        return qerr_set(err, "%s: truncated: %zu bytes, a llama2.c header needs 28", path, len);
    }
    int32_t h[7];
    memcpy(h, p, sizeof h);
    LlmConfig *c = &m->c;
    c->arch = LLM_ARCH_LLAMA;
    c->dim = h[0];
    c->hidden_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    c->shared_head = h[5] > 0;
    /* in 64 bits: -INT32_MIN overflows int (undefined behaviour, and gcc then drops the
     * vocab_size < 1 test below as impossible) */
    const int64_t vabs = h[5] > 0 ? (int64_t)h[5] : -(int64_t)h[5];
    c->vocab_size = vabs > (1 << 22) ? 0 : (int)vabs;
    c->max_seq = h[6];
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->rope_interleaved = 1;
    if (c->dim < 1 || c->dim > 65536 || c->hidden_dim < 1 || c->hidden_dim > 1 << 20 || c->n_layers < 1 ||
        c->n_layers > 1024 || c->n_heads < 1 || c->n_kv_heads < 1 || c->n_kv_heads > c->n_heads ||
        c->n_heads % c->n_kv_heads || c->dim % c->n_heads || (c->dim / c->n_heads) % 2 || c->vocab_size < 1 ||
        c->vocab_size > 1 << 22 || c->max_seq < 1 || c->max_seq > 1 << 20) {
        qerr_set(err, "%s: implausible llama2.c header (dim %d, hidden %d, layers %d, heads %d/%d, vocab %d, seq %d)",
                 path, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
        llm_free(m);
        return -1;
    }
    uint64_t D = c->dim, F = c->hidden_dim, L = c->n_layers, V = c->vocab_size, S = c->max_seq;
    uint64_t hs = D / c->n_heads, kvd = hs * c->n_kv_heads;
    uint64_t floats = V * D + L * D + L * D * D + 2 * L * kvd * D + L * D * D + L * D + 3 * L * F * D + D + S * hs;
    if (!c->shared_head) floats += V * D;
    uint64_t need = 28 + 4 * floats;
    if (len != need) {
        qerr_set(err, "%s: %s: the header (dim %d, hidden %d, layers %d, vocab %d, seq %d) needs %llu bytes, the file has %zu",
                 path, len < need ? "truncated" : "size mismatch", c->dim, c->hidden_dim, c->n_layers, c->vocab_size,
                 c->max_seq, (unsigned long long)need, len);
        llm_free(m);
        return -1;
    }
    float *w = (float *)(m->map.data + 28);
    m->tok_emb = w;
    w += V * D;
    m->layers = xcalloc(L, sizeof(LlmLayer));
    float *rms_att = w; w += L * D;
    float *wq = w; w += L * D * D;
    float *wk = w; w += L * kvd * D;
    float *wv = w; w += L * kvd * D;
    float *wo = w; w += L * D * D;
    float *rms_ffn = w; w += L * D;
    float *w1 = w; w += L * F * D;
    float *w2 = w; w += L * D * F;
    float *w3 = w; w += L * F * D;
    m->final_norm = w; w += D;
    w += S * hs; /* freq_cis_real + freq_cis_imag */
    m->head = c->shared_head ? m->tok_emb : w;
    /* non-finite weights would turn every logit into NaN (and NaN -> int in q_expf) */
    const struct {
        const char *name;
        const float *p;
        uint64_t n;
    } arrays[] = {{"token_embedding", m->tok_emb, V * D}, {"rms_att", rms_att, L * D}, {"wq", wq, L * D * D},
                  {"wk", wk, L * kvd * D}, {"wv", wv, L * kvd * D}, {"wo", wo, L * D * D},
                  {"rms_ffn", rms_ffn, L * D}, {"w1", w1, L * F * D}, {"w2", w2, L * D * F}, {"w3", w3, L * F * D},
                  {"rms_final", m->final_norm, D}, {"wcls", m->head, c->shared_head ? 0 : V * D}};
    for (size_t k = 0; k < sizeof arrays / sizeof *arrays; k++)
        if (q_check_finite(arrays[k].p, (int64_t)arrays[k].n, path, arrays[k].name, err)) {
            llm_free(m);
            return -1;
        }
    for (uint64_t l = 0; l < L; l++) {
        LlmLayer *y = &m->layers[l];
        y->attn_norm = rms_att + l * D;
        y->wq = wq + l * D * D;
        y->wk = wk + l * kvd * D;
        y->wv = wv + l * kvd * D;
        y->wo = wo + l * D * D;
        y->ffn_norm = rms_ffn + l * D;
        y->w_gate = w1 + l * F * D;
        y->w_down = w2 + l * D * F;
        y->w_up = w3 + l * F * D;
    }
    snprintf(m->name, sizeof m->name, "%s", path);
    return 0;
}
