/* llm_hf.c — Hugging Face model directories (llm.h): config.json + model.safetensors (or a
 * sharded set), GPT2LMHeadModel and LlamaForCausalLM, tensors F32/F16/BF16 widened to fp32.
 * Every tensor the config implies must be present with exactly the shape it implies.
 *
 * GPT-2 (prefix "transformer." optional, as the Hub's gpt2 / distilgpt2 files differ):
 *   wte [V, D], wpe [S, D], h.i.ln_1.{weight,bias} [D], h.i.attn.c_attn.{weight [D, 3D], bias [3D]},
 *   h.i.attn.c_proj.{weight [D, D], bias}, h.i.ln_2, h.i.mlp.c_fc.{weight [D, F], bias [F]},
 *   h.i.mlp.c_proj.{weight [F, D], bias [D]}, ln_f.  Conv1D weights are [in, out] in the file:
 *   transposed here to [out, in]; c_attn's columns are q | k | v.
 * Llama: model.embed_tokens [V, D], model.layers.i.{input_layernorm, post_attention_layernorm} [D],
 *   self_attn.{q_proj [H hs, D], k_proj [Hkv hs, D], v_proj, o_proj [D, H hs]},
 *   mlp.{gate_proj [F, D], up_proj [F, D], down_proj [D, F]}, model.norm [D], lm_head [V, D]
 *   (absent when tied).  HF's q/k layout pairs (i, i + hs/2) for RoPE (rope_interleaved = 0). */
#include <stdlib.h>
#include <string.h>

#include "quant/llm.h"
#include "quant/llm_gptq_dir.h"
#include "quant/safetensors.h"

typedef struct Loader {
    Safetensors st;
    const char *dir;
    char prefix[32];
    float *tmp;          /* widening scratch, the largest tensor */
    size_t tmp_cap;
    GptqLayout gq;       /* quantization_config (bits 0: none) */
    QErr *err;
} Loader;

/* The tensor `name` with shape (d0[, d1]) widened into dst; transposed ([d0, d1] in the
 * file -> [d1, d0] in dst) when transpose. */
static int get(Loader *L, const char *name, int64_t d0, int64_t d1, float *dst, int transpose) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    const StTensor *t = st_find(&L->st, full);
    size_t fl = strlen(full);
    if (!t && L->gq.bits && d1 && fl > 7 && strcmp(full + fl - 7, ".weight") == 0) {
        /* a GPTQ-quantized linear: qweight/qzeros/scales/g_idx, dequantized into [out, in]
         * (dst is [d1, d0] for a transposed Conv1D, [d0, d1] otherwise) */
        full[fl - 7] = 0;
        return gptq_linear_read(&L->st, L->dir, full, transpose ? d1 : d0, transpose ? d0 : d1, &L->gq, dst, L->err);
    }
    if (!t) return qerr_set(L->err, "%s: tensor '%s' is missing", L->dir, full);
    int ndim = d1 ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[128] = "", want[64];
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (ndim == 2) snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
        else snprintf(want, sizeof want, "%lld", (long long)d0);
        return qerr_set(L->err, "%s: tensor '%s' has shape [%s] but config.json implies [%s]", L->dir, full, got, want);
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return qerr_set(L->err, "%s: tensor '%s' has dtype %s (expected F32, F16 or BF16)", L->dir, full,
                        st_dtype_name(t->dtype));
    if (!transpose) return st_to_f32(t, dst, L->err);
    if ((size_t)t->numel > L->tmp_cap) {
        L->tmp_cap = (size_t)t->numel;
        L->tmp = xrealloc(L->tmp, L->tmp_cap * sizeof(float));
    }
    if (st_to_f32(t, L->tmp, L->err)) return -1;
    for (int64_t i = 0; i < d0; i++)
        for (int64_t j = 0; j < d1; j++) dst[j * d0 + i] = L->tmp[i * d1 + j];
    return 0;
}

static int getf(Loader *L, int64_t d0, int64_t d1, float *dst, int transpose, const char *fmt, int layer) {
    char name[200];
    snprintf(name, sizeof name, fmt, layer);
    return get(L, name, d0, d1, dst, transpose);
}

/* Carves n floats off the owned buffer. */
static float *take(float **p, size_t n) {
    float *r = *p;
    *p += n;
    return r;
}

int llm_load_hf(LlmModel *m, const char *dir, QErr *err) {
    memset(m, 0, sizeof *m);
    char cfgpath[4096];
    snprintf(cfgpath, sizeof cfgpath, "%s/config.json", dir);
    if (!qpath_exists(cfgpath)) return qerr_set(err, "%s: no config.json (not a Hugging Face model directory)", dir);
    if (llm_config_from_json(&m->c, cfgpath, err)) return -1;
    Loader L;
    memset(&L, 0, sizeof L);
    L.dir = dir;
    L.err = err;
    if (gptq_layout_read(cfgpath, &L.gq, err)) return -1;
    if (st_open_dir(&L.st, dir, err)) return -1;
    LlmConfig *c = &m->c;
    const int gpt2 = c->arch == LLM_ARCH_GPT2;
    const size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, V = (size_t)c->vocab_size, S = (size_t)c->max_seq;
    const size_t hs = D / (size_t)c->n_heads, qd = (size_t)c->n_heads * hs, kvd = (size_t)c->n_kv_heads * hs;
    if (gpt2) {
        if (st_find(&L.st, "transformer.wte.weight")) strcpy(L.prefix, "transformer.");
        /* GPT-2's head is the embedding; a lm_head.weight in the file (some exports) is a copy. */
        c->shared_head = 1;
    } else if (!c->shared_head && !st_find(&L.st, "lm_head.weight")) {
        /* tie_word_embeddings absent and no lm_head: the Hub's convention for tied models */
        c->shared_head = 1;
    }
    size_t per = 2 * D + qd * D + 2 * kvd * D + D * qd + (gpt2 ? 2 : 3) * F * D;
    if (gpt2) per += 2 * D + qd + 2 * kvd + D + F + D;
    size_t total = V * D + (size_t)c->n_layers * per + D + (gpt2 ? D + S * D : 0) + (c->shared_head ? 0 : V * D);
    /* Before allocating: a config implying far more weights than the files hold is bad input,
     * not an out-of-memory abort.  Smaller disagreements get the per-tensor messages below. */
    size_t avail = 0;
    for (int i = 0; i < L.st.ntensors; i++)  /* GPTQ's int32 words hold 32/bits weights each */
        avail += (size_t)L.st.tensors[i].numel * (L.gq.bits && L.st.tensors[i].dtype == ST_I32 ? 32u / (unsigned)L.gq.bits : 1u);
    if (total > 2 * avail + ((size_t)1 << 20)) {
        qerr_set(err, "%s: config.json implies %zu weights but the safetensors hold only %zu: dims disagree", dir, total,
                 avail);
        st_close(&L.st);
        memset(m, 0, sizeof *m);
        return -1;
    }
    m->owned = xmalloc(total * sizeof(float));
    m->layers = xcalloc((size_t)c->n_layers, sizeof(LlmLayer));
    float *p = m->owned;
    int rc = -1;
    m->tok_emb = take(&p, V * D);
    if (gpt2) {
        m->pos_emb = take(&p, S * D);
        if (get(&L, "wte.weight", (int64_t)V, (int64_t)D, m->tok_emb, 0) ||
            get(&L, "wpe.weight", (int64_t)S, (int64_t)D, m->pos_emb, 0))
            goto done;
    } else if (get(&L, "model.embed_tokens.weight", (int64_t)V, (int64_t)D, m->tok_emb, 0)) {
        goto done;
    }
    for (int i = 0; i < c->n_layers; i++) {
        LlmLayer *y = &m->layers[i];
        y->attn_norm = take(&p, D);
        y->ffn_norm = take(&p, D);
        y->wq = take(&p, qd * D);
        y->wk = take(&p, kvd * D);
        y->wv = take(&p, kvd * D);
        y->wo = take(&p, D * qd);
        y->w_up = take(&p, F * D);
        y->w_down = take(&p, D * F);
        if (gpt2) {
            y->attn_norm_b = take(&p, D);
            y->ffn_norm_b = take(&p, D);
            y->bq = take(&p, qd);
            y->bk = take(&p, kvd);
            y->bv = take(&p, kvd);
            y->bo = take(&p, D);
            y->b_up = take(&p, F);
            y->b_down = take(&p, D);
            /* c_attn: [D, 3D] in the file; q, k, v are its column blocks.  Transpose the whole
             * matrix into [3D, D] rows (q rows, then k, then v) — wq, wk, wv are consecutive. */
            if (y->wk != y->wq + qd * D || y->wv != y->wk + kvd * D || y->bk != y->bq + qd || y->bv != y->bk + kvd) {
                qerr_set(err, "internal: q/k/v not contiguous");
                goto done;
            }
            if (getf(&L, (int64_t)D, 0, y->attn_norm, 0, "h.%d.ln_1.weight", i) ||
                getf(&L, (int64_t)D, 0, y->attn_norm_b, 0, "h.%d.ln_1.bias", i) ||
                getf(&L, (int64_t)D, (int64_t)(qd + 2 * kvd), y->wq, 1, "h.%d.attn.c_attn.weight", i) ||
                getf(&L, (int64_t)(qd + 2 * kvd), 0, y->bq, 0, "h.%d.attn.c_attn.bias", i) ||
                getf(&L, (int64_t)qd, (int64_t)D, y->wo, 1, "h.%d.attn.c_proj.weight", i) ||
                getf(&L, (int64_t)D, 0, y->bo, 0, "h.%d.attn.c_proj.bias", i) ||
                getf(&L, (int64_t)D, 0, y->ffn_norm, 0, "h.%d.ln_2.weight", i) ||
                getf(&L, (int64_t)D, 0, y->ffn_norm_b, 0, "h.%d.ln_2.bias", i) ||
                getf(&L, (int64_t)D, (int64_t)F, y->w_up, 1, "h.%d.mlp.c_fc.weight", i) ||
                getf(&L, (int64_t)F, 0, y->b_up, 0, "h.%d.mlp.c_fc.bias", i) ||
                getf(&L, (int64_t)F, (int64_t)D, y->w_down, 1, "h.%d.mlp.c_proj.weight", i) ||
                getf(&L, (int64_t)D, 0, y->b_down, 0, "h.%d.mlp.c_proj.bias", i))
                goto done;
        } else {
            y->w_gate = take(&p, F * D);
            if (getf(&L, (int64_t)D, 0, y->attn_norm, 0, "model.layers.%d.input_layernorm.weight", i) ||
                getf(&L, (int64_t)qd, (int64_t)D, y->wq, 0, "model.layers.%d.self_attn.q_proj.weight", i) ||
                getf(&L, (int64_t)kvd, (int64_t)D, y->wk, 0, "model.layers.%d.self_attn.k_proj.weight", i) ||
                getf(&L, (int64_t)kvd, (int64_t)D, y->wv, 0, "model.layers.%d.self_attn.v_proj.weight", i) ||
                getf(&L, (int64_t)D, (int64_t)qd, y->wo, 0, "model.layers.%d.self_attn.o_proj.weight", i) ||
                getf(&L, (int64_t)D, 0, y->ffn_norm, 0, "model.layers.%d.post_attention_layernorm.weight", i) ||
                getf(&L, (int64_t)F, (int64_t)D, y->w_gate, 0, "model.layers.%d.mlp.gate_proj.weight", i) ||
                getf(&L, (int64_t)F, (int64_t)D, y->w_up, 0, "model.layers.%d.mlp.up_proj.weight", i) ||
                getf(&L, (int64_t)D, (int64_t)F, y->w_down, 0, "model.layers.%d.mlp.down_proj.weight", i))
                goto done;
        }
    }
    m->final_norm = take(&p, D);
    if (gpt2) {
        m->final_norm_b = take(&p, D);
        if (get(&L, "ln_f.weight", (int64_t)D, 0, m->final_norm, 0) ||
            get(&L, "ln_f.bias", (int64_t)D, 0, m->final_norm_b, 0))
            goto done;
    } else if (get(&L, "model.norm.weight", (int64_t)D, 0, m->final_norm, 0)) {
        goto done;
    }
    if (c->shared_head) {
        m->head = m->tok_emb;
    } else {
        m->head = take(&p, V * D);
        L.prefix[0] = 0;
        if (get(&L, "lm_head.weight", (int64_t)V, (int64_t)D, m->head, 0)) goto done;
    }
    if ((size_t)(p - m->owned) != total) {
        qerr_set(err, "internal: HF loader used %zu of %zu floats", (size_t)(p - m->owned), total);
        goto done;
    }
    snprintf(m->name, sizeof m->name, "%s", dir);
    rc = 0;
done:
    free(L.tmp);
    st_close(&L.st);
    if (rc) llm_free(m);
    return rc;
}
