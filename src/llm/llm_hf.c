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
 *   (absent when tied).  HF's q/k layout pairs (i, i + hs/2) for RoPE (rope_interleaved = 0).
 * Names are resolved as transformers saves them (resolve / check_unused): the tied pair under
 * either name, safetensors' __metadata__ aliases for dropped duplicates, buffers ignored,
 * any other tensor refused by name. */
#include <stdlib.h>
#include <string.h>

#include "quant/checked.h"
#include "quant/llm.h"
#include "quant/llm_gptq_dir.h"
#include "quant/llm_source.h"
#include "quant/safetensors.h"

typedef struct Loader {
    Safetensors st;
    const char *dir;
    char prefix[32];
    unsigned char *used; /* [st.ntensors] read into the model (or a known buffer / tied copy) */
    float *tmp;          /* widening scratch, the largest tensor */
    size_t tmp_cap;
    GptqLayout gq;       /* quantization_config (bits 0: none) */
    QErr *err;
    int dry;             /* check names, shapes and dtypes only; read nothing (the streamed open) */
    int ntouch, captouch; /* mapped spans read since the last release (streamed reads) */
    const uint8_t **touch_p;
    size_t *touch_n;
} Loader;

/* The tensor stored under `full`, or under the name safetensors' save_model kept when it
 * dropped `full` as a duplicate of a shared tensor (__metadata__ {"dropped": "kept"}, how
 * transformers saves tied embeddings); NULL when neither.  Marks what it finds as used. */
static const StTensor *resolve(Loader *L, const char *full) {
    const StTensor *t = st_find(&L->st, full);
    const char *alias = t ? NULL : st_meta(&L->st, full);
    if (alias) t = st_find(&L->st, alias);
    if (t) L->used[t - L->st.tensors] = 1;
    return t;
}

static int present(const Loader *L, const char *full) {
    const char *alias = st_meta(&L->st, full);
    return st_find(&L->st, full) || (alias && st_find(&L->st, alias));
}

/* Buffers PyTorch modules register and transformers sometimes saves; they hold no weights
 * (GPT-2's causal mask attn.bias / attn.masked_bias, Llama's RoPE inv_freq, recomputed). */
static int is_buffer(const char *name) {
    static const char *const suffix[] = {".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        size_t k = strlen(suffix[i]);
        if (n >= k && strcmp(name + n - k, suffix[i]) == 0) return 1;
    }
    return 0;
}

/* After loading: every tensor must have been read, or be a known buffer, or be the second
 * copy of a tied matrix; anything else means a layout quant does not understand. */
static int check_unused(Loader *L, const char *tied_copy) {
    int n = 0;
    const char *first = NULL;
    for (int i = 0; i < L->st.ntensors; i++) {
        const char *name = L->st.tensors[i].name;
        if (L->used[i] || is_buffer(name) || (tied_copy && strcmp(name, tied_copy) == 0)) continue;
        if (!n++) first = name;
    }
    if (n)
        return qerr_set(L->err, "%s: unknown tensor '%s'%s: not part of the architecture config.json names (refused "
                        "rather than ignored)", L->dir, first, n > 1 ? " (and others)" : "");
    return 0;
}

/* The tensor `full` (no prefix added) with shape (d0[, d1]) widened into dst; transposed
 * ([d0, d1] in the file -> [d1, d0] in dst) when transpose. */
static int get_full(Loader *L, const char *full, int64_t d0, int64_t d1, float *dst, int transpose) {
    const StTensor *t = resolve(L, full);
    size_t fl = strlen(full);
    if (!t && L->gq.bits && d1 && fl > 7 && fl < 256 && strcmp(full + fl - 7, ".weight") == 0) {
        /* a GPTQ-quantized linear: qweight/qzeros/scales/g_idx, dequantized into [out, in]
         * (dst is [d1, d0] for a transposed Conv1D, [d0, d1] otherwise) */
        char base[256], part[300];
        memcpy(base, full, fl - 7);
        base[fl - 7] = 0;
        static const char *const parts[] = {"qweight", "qzeros", "scales", "g_idx"};
        for (int i = 0; i < 4; i++) { /* read by gptq_linear_read: not unknown tensors */
            snprintf(part, sizeof part, "%s.%s", base, parts[i]);
            resolve(L, part);
        }
        if (L->dry) return 0;
        return gptq_linear_read(&L->st, L->dir, base, transpose ? d1 : d0, transpose ? d0 : d1, &L->gq, dst, L->err);
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
    if (L->dry) return 0;
    if (L->ntouch == L->captouch) {
        L->captouch = L->captouch ? 2 * L->captouch : 32;
        L->touch_p = xrealloc(L->touch_p, (size_t)L->captouch * sizeof *L->touch_p);
        L->touch_n = xrealloc(L->touch_n, (size_t)L->captouch * sizeof *L->touch_n);
    }
    L->touch_p[L->ntouch] = t->data;
    L->touch_n[L->ntouch++] = t->nbytes;
    qmap_prefault(t->data, t->nbytes); /* one call instead of a page fault per page */
    if (!transpose)
        return st_to_f32(t, dst, L->err) || q_check_finite(dst, t->numel, L->dir, full, L->err) ? -1 : 0;
    if ((size_t)t->numel > L->tmp_cap) {
        L->tmp_cap = (size_t)t->numel;
        L->tmp = xrealloc(L->tmp, L->tmp_cap * sizeof(float));
    }
    if (st_to_f32(t, L->tmp, L->err) || q_check_finite(L->tmp, t->numel, L->dir, full, L->err)) return -1;
    for (int64_t i = 0; i < d0; i++)
        for (int64_t j = 0; j < d1; j++) dst[j * d0 + i] = L->tmp[i * d1 + j];
    return 0;
}

/* The tensor `name` under the model's prefix ("transformer." for some GPT-2 files). */
static int get(Loader *L, const char *name, int64_t d0, int64_t d1, float *dst, int transpose) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    return get_full(L, full, d0, d1, dst, transpose);
}

static int getf(Loader *L, int64_t d0, int64_t d1, float *dst, int transpose, const char *fmt, int layer) {
    char name[200];
    snprintf(name, sizeof name, fmt, layer);
    return get(L, name, d0, d1, dst, transpose);
}

/* Carves n floats off the owned buffer (NULL stays NULL: a dry pass reads nothing). */
static float *take(float **p, size_t n) {
    float *r = *p;
    if (r) *p += n;
    return r;
}

/* config.json, the safetensors opened, the embedding's name chosen, and the weight count the
 * config implies checked against the files; *total: floats of the whole fp32 model. */
static int hf_begin(Loader *L, LlmModel *m, const char *dir, char emb[64], size_t *total, QErr *err) {
    memset(m, 0, sizeof *m);
    char cfgpath[4096];
    snprintf(cfgpath, sizeof cfgpath, "%s/config.json", dir);
    if (!qpath_exists(cfgpath)) return qerr_set(err, "%s: no config.json (not a Hugging Face model directory)", dir);
    if (llm_config_from_json(&m->c, cfgpath, err)) return -1;
    memset(L, 0, sizeof *L);
    L->dir = dir;
    L->err = err;
    if (gptq_layout_read(cfgpath, &L->gq, err)) return -1;
    if (st_open_dir(&L->st, dir, err)) return -1;
    LlmConfig *c = &m->c;
    const int gpt2 = c->arch == LLM_ARCH_GPT2;
    const size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, V = (size_t)c->vocab_size, S = (size_t)c->max_seq;
    const size_t hs = D / (size_t)c->n_heads, qd = (size_t)c->n_heads * hs, kvd = (size_t)c->n_kv_heads * hs;
    L->used = xcalloc((size_t)L->st.ntensors + 1, 1);
    /* Which name the token embedding is read from: transformers saves a tied pair once, under
     * either name (or both); tie_word_embeddings decides whether the head is that matrix. */
    if (gpt2) {
        if (present(L, "transformer.wte.weight") || present(L, "transformer.ln_f.weight")) strcpy(L->prefix, "transformer.");
        snprintf(emb, 64, "%swte.weight", L->prefix);
    } else {
        strcpy(emb, "model.embed_tokens.weight");
        /* tie_word_embeddings absent and no lm_head: the Hub's convention for tied models */
        if (!c->shared_head && !c->tie_given && !present(L, "lm_head.weight")) c->shared_head = 1;
    }
    if (c->shared_head && !present(L, emb) && present(L, "lm_head.weight")) strcpy(emb, "lm_head.weight");
    if (!c->shared_head && !present(L, "lm_head.weight")) {
        qerr_set(err, "%s: tensor 'lm_head.weight' is missing and config.json sets tie_word_embeddings false "
                 "(the head would be untrained)", dir);
        goto fail;
    }
    /* The weights the config implies, in checked arithmetic (config.json's fields are bounded,
     * but their products are not small).  Every float below is filled from exactly one tensor
     * element, and the safetensors reader has checked that tensors do not overlap, so a config
     * implying far more weights than the files hold elements is bad input: refused here, before
     * allocating, instead of an out-of-memory abort. */
    QSize per = qs_add(qs_mul3(2, (int64_t)D, 1), qs_mul3((int64_t)qd, (int64_t)D, 2));
    per = qs_add(per, qs_mul3(2, (int64_t)kvd, (int64_t)D));
    per = qs_add(per, qs_mul3(gpt2 ? 2 : 3, (int64_t)F, (int64_t)D));
    if (gpt2) per = qs_add(per, qs(2 * (int64_t)D + (int64_t)qd + 2 * (int64_t)kvd + 2 * (int64_t)D + (int64_t)F));
    QSize tot = qs_add(qs_mul(qs((int64_t)V), qs((int64_t)D)), qs_mul(qs(c->n_layers), per));
    tot = qs_add(tot, qs((int64_t)D + (gpt2 ? (int64_t)D : 0)));
    if (gpt2) tot = qs_add(tot, qs_mul(qs((int64_t)S), qs((int64_t)D)));
    if (!c->shared_head) tot = qs_add(tot, qs_mul(qs((int64_t)V), qs((int64_t)D)));
    int64_t avail = 0;
    for (int i = 0; i < L->st.ntensors; i++) /* each < 2^40, < 2^31 of them; GPTQ's int32 words hold 32/bits weights */
        avail += L->st.tensors[i].numel * (L->gq.bits && L->st.tensors[i].dtype == ST_I32 ? 32 / L->gq.bits : 1);
    QSize bytes = qs_mul(tot, qs(sizeof(float)));
    /* twice the elements plus 2^20 of slack: a small disagreement gets the precise per-tensor
     * message below instead of this one */
    if (tot.bad || tot.v > 2 * avail + (1 << 20)) {
        if (tot.bad) qerr_set(err, "%s: config.json: the weight count its dimensions imply overflows", dir);
        else
            qerr_set(err, "%s: config.json implies %lld weights but the safetensors hold only %lld: dims disagree; "
                     "refused before allocating %lld bytes", dir, (long long)tot.v, (long long)avail, (long long)bytes.v);
        goto fail;
    }
    *total = (size_t)tot.v;
    m->layers = xcalloc((size_t)c->n_layers, sizeof(LlmLayer));
    return 0;
fail:
    free(L->used);
    st_close(&L->st);
    memset(m, 0, sizeof *m);
    return -1;
}

/* Floats of one block's weights (norms, linears, biases) in fp32. */
static size_t hf_layer_floats(const LlmConfig *c) {
    const size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, hs = D / (size_t)c->n_heads;
    const size_t qd = (size_t)c->n_heads * hs, kvd = (size_t)c->n_kv_heads * hs;
    size_t n = 2 * D + 2 * qd * D + 2 * kvd * D + 2 * F * D;
    if (c->arch == LLM_ARCH_GPT2) n += 2 * D + qd + 2 * kvd + D + F + D;
    else n += F * D;
    return n;
}

/* Block i's weights carved off *p and read (L->dry: checked only, p NULL). */
static int hf_layer(Loader *L, LlmModel *m, int i, float **p) {
    const LlmConfig *c = &m->c;
    const int gpt2 = c->arch == LLM_ARCH_GPT2;
    const size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim;
    const size_t hs = D / (size_t)c->n_heads, qd = (size_t)c->n_heads * hs, kvd = (size_t)c->n_kv_heads * hs;
    LlmLayer *y = &m->layers[i];
    y->attn_norm = take(p, D);
    y->ffn_norm = take(p, D);
    y->wq = take(p, qd * D);
    y->wk = take(p, kvd * D);
    y->wv = take(p, kvd * D);
    y->wo = take(p, D * qd);
    y->w_up = take(p, F * D);
    y->w_down = take(p, D * F);
    if (gpt2) {
        y->attn_norm_b = take(p, D);
        y->ffn_norm_b = take(p, D);
        y->bq = take(p, qd);
        y->bk = take(p, kvd);
        y->bv = take(p, kvd);
        y->bo = take(p, D);
        y->b_up = take(p, F);
        y->b_down = take(p, D);
        /* c_attn: [D, 3D] in the file; q, k, v are its column blocks.  Transpose the whole
         * matrix into [3D, D] rows (q rows, then k, then v) — wq, wk, wv are consecutive. */
        if (!L->dry && (y->wk != y->wq + qd * D || y->wv != y->wk + kvd * D || y->bk != y->bq + qd || y->bv != y->bk + kvd))
            return qerr_set(L->err, "internal: q/k/v not contiguous");
        return getf(L, (int64_t)D, 0, y->attn_norm, 0, "h.%d.ln_1.weight", i) ||
               getf(L, (int64_t)D, 0, y->attn_norm_b, 0, "h.%d.ln_1.bias", i) ||
               getf(L, (int64_t)D, (int64_t)(qd + 2 * kvd), y->wq, 1, "h.%d.attn.c_attn.weight", i) ||
               getf(L, (int64_t)(qd + 2 * kvd), 0, y->bq, 0, "h.%d.attn.c_attn.bias", i) ||
               getf(L, (int64_t)qd, (int64_t)D, y->wo, 1, "h.%d.attn.c_proj.weight", i) ||
               getf(L, (int64_t)D, 0, y->bo, 0, "h.%d.attn.c_proj.bias", i) ||
               getf(L, (int64_t)D, 0, y->ffn_norm, 0, "h.%d.ln_2.weight", i) ||
               getf(L, (int64_t)D, 0, y->ffn_norm_b, 0, "h.%d.ln_2.bias", i) ||
               getf(L, (int64_t)D, (int64_t)F, y->w_up, 1, "h.%d.mlp.c_fc.weight", i) ||
               getf(L, (int64_t)F, 0, y->b_up, 0, "h.%d.mlp.c_fc.bias", i) ||
               getf(L, (int64_t)F, (int64_t)D, y->w_down, 1, "h.%d.mlp.c_proj.weight", i) ||
               getf(L, (int64_t)D, 0, y->b_down, 0, "h.%d.mlp.c_proj.bias", i)
                   ? -1
                   : 0;
    }
    y->w_gate = take(p, F * D);
    return getf(L, (int64_t)D, 0, y->attn_norm, 0, "model.layers.%d.input_layernorm.weight", i) ||
           getf(L, (int64_t)qd, (int64_t)D, y->wq, 0, "model.layers.%d.self_attn.q_proj.weight", i) ||
           getf(L, (int64_t)kvd, (int64_t)D, y->wk, 0, "model.layers.%d.self_attn.k_proj.weight", i) ||
           getf(L, (int64_t)kvd, (int64_t)D, y->wv, 0, "model.layers.%d.self_attn.v_proj.weight", i) ||
           getf(L, (int64_t)D, (int64_t)qd, y->wo, 0, "model.layers.%d.self_attn.o_proj.weight", i) ||
           getf(L, (int64_t)D, 0, y->ffn_norm, 0, "model.layers.%d.post_attention_layernorm.weight", i) ||
           getf(L, (int64_t)F, (int64_t)D, y->w_gate, 0, "model.layers.%d.mlp.gate_proj.weight", i) ||
           getf(L, (int64_t)F, (int64_t)D, y->w_up, 0, "model.layers.%d.mlp.up_proj.weight", i) ||
           getf(L, (int64_t)D, (int64_t)F, y->w_down, 0, "model.layers.%d.mlp.down_proj.weight", i)
               ? -1
               : 0;
}

/* The token (and position) embeddings off *p. */
static int hf_emb(Loader *L, LlmModel *m, const char *emb, float **p) {
    const LlmConfig *c = &m->c;
    const size_t D = (size_t)c->dim, V = (size_t)c->vocab_size, S = (size_t)c->max_seq;
    m->tok_emb = take(p, V * D);
    if (c->arch == LLM_ARCH_GPT2) {
        m->pos_emb = take(p, S * D);
        return get_full(L, emb, (int64_t)V, (int64_t)D, m->tok_emb, 0) ||
                       get(L, "wpe.weight", (int64_t)S, (int64_t)D, m->pos_emb, 0)
                   ? -1
                   : 0;
    }
    return get_full(L, emb, (int64_t)V, (int64_t)D, m->tok_emb, 0);
}

/* The final norm and the head off *p, then every tensor of the files accounted for. */
static int hf_tail(Loader *L, LlmModel *m, const char *emb, float **p) {
    const LlmConfig *c = &m->c;
    const int gpt2 = c->arch == LLM_ARCH_GPT2;
    const size_t D = (size_t)c->dim, V = (size_t)c->vocab_size;
    m->final_norm = take(p, D);
    if (gpt2) {
        m->final_norm_b = take(p, D);
        if (get(L, "ln_f.weight", (int64_t)D, 0, m->final_norm, 0) || get(L, "ln_f.bias", (int64_t)D, 0, m->final_norm_b, 0))
            return -1;
    } else if (get(L, "model.norm.weight", (int64_t)D, 0, m->final_norm, 0)) {
        return -1;
    }
    if (c->shared_head) {
        m->head = m->tok_emb;
    } else {
        m->head = take(p, V * D);
        char prefix[32];
        memcpy(prefix, L->prefix, sizeof prefix);
        L->prefix[0] = 0;
        int rc = get(L, "lm_head.weight", (int64_t)V, (int64_t)D, m->head, 0);
        memcpy(L->prefix, prefix, sizeof prefix);
        if (rc) return -1;
    }
    /* a tied head stored under both names: the second is a copy of the embedding */
    return check_unused(L, c->shared_head ? (strcmp(emb, "lm_head.weight") ? "lm_head.weight" : NULL) : NULL);
}

static void hf_end(Loader *L) {
    free(L->used);
    free(L->tmp);
    free(L->touch_p);
    free(L->touch_n);
    st_close(&L->st);
}

int llm_load_hf(LlmModel *m, const char *dir, QErr *err) {
    Loader L;
    char emb[64];
    size_t total;
    if (hf_begin(&L, m, dir, emb, &total, err)) return -1;
    m->owned = xmalloc(total * sizeof(float));
    float *p = m->owned;
    int rc = -1;
    if (hf_emb(&L, m, emb, &p)) goto done;
    for (int i = 0; i < m->c.n_layers; i++)
        if (hf_layer(&L, m, i, &p)) goto done;
    if (hf_tail(&L, m, emb, &p)) goto done;
    if ((size_t)(p - m->owned) != total) {
        qerr_set(err, "internal: HF loader used %zu of %zu floats", (size_t)(p - m->owned), total);
        goto done;
    }
    snprintf(m->name, sizeof m->name, "%s", dir);
    rc = 0;
done:
    hf_end(&L);
    if (rc) llm_free(m);
    return rc;
}

/* ------------------------------------------------------ streamed (llm_source.h) */
struct LlmHfLazy {
    Loader L;
    char dir[4096];
    char emb[64];
    int shared_lazy;     /* tok_emb / head left in the file (llm_hf_lazy_rows) */
};

int llm_hf_lazy_open(LlmHfLazy **out, LlmModel *m, const char *dir, int shared_lazy, QErr *err) {
    LlmHfLazy *z = xcalloc(1, sizeof *z);
    snprintf(z->dir, sizeof z->dir, "%s", dir);
    char emb[64];
    size_t total;
    if (hf_begin(&z->L, m, z->dir, emb, &total, err)) {
        free(z);
        return -1;
    }
    Loader *L = &z->L;
    const LlmConfig *c = &m->c;
    const size_t D = (size_t)c->dim, V = (size_t)c->vocab_size, S = (size_t)c->max_seq;
    /* every block's tensors checked (names, shapes, dtypes) before anything is read */
    L->dry = 1;
    float *none = NULL;
    int rc = 0;
    for (int i = 0; i < c->n_layers && rc == 0; i++) rc = hf_layer(L, m, i, &none);
    memset(m->layers, 0, (size_t)c->n_layers * sizeof(LlmLayer));
    L->dry = 0;
    snprintf(z->emb, sizeof z->emb, "%s", emb);
    z->shared_lazy = shared_lazy && c->arch == LLM_ARCH_LLAMA;
    if (rc == 0 && z->shared_lazy) {
        /* embedding and head checked, not read: only the final norm is widened now */
        L->dry = 1;
        rc = hf_emb(L, m, emb, &none) || hf_tail(L, m, emb, &none) ? -1 : 0;
        L->dry = 0;
        m->tok_emb = m->head = NULL;
        if (rc == 0) {
            m->owned = xmalloc(D * sizeof(float));
            m->final_norm = m->owned;
            rc = get(L, "model.norm.weight", (int64_t)D, 0, m->final_norm, 0);
        }
        llm_hf_lazy_release(z);
    } else if (rc == 0) {
        size_t glob = V * D + D + (c->arch == LLM_ARCH_GPT2 ? S * D + D : 0) + (c->shared_head ? 0 : V * D);
        m->owned = xmalloc(glob * sizeof(float));
        float *p = m->owned;
        rc = hf_emb(L, m, emb, &p) || hf_tail(L, m, emb, &p) ? -1 : 0;
        if (rc == 0 && (size_t)(p - m->owned) != glob) rc = qerr_set(err, "internal: HF streamed open used %zu of %zu floats",
                                                                       (size_t)(p - m->owned), glob);
        llm_hf_lazy_release(z);
    }
    if (rc) {
        hf_end(L);
        free(z);
        llm_free(m);
        return -1;
    }
    snprintf(m->name, sizeof m->name, "%s", dir);
    *out = z;
    return 0;
}

size_t llm_hf_lazy_block_floats(const LlmConfig *c) { return hf_layer_floats(c); }

int llm_hf_lazy_rows(LlmHfLazy *z, const LlmModel *m, int head, int64_t row0, int64_t nrows, float *dst, QErr *err) {
    const char *name = head && !m->c.shared_head ? "lm_head.weight" : z->emb;
    const StTensor *t = st_find(&z->L.st, name);
    const char *alias = t ? NULL : st_meta(&z->L.st, name);
    if (alias) t = st_find(&z->L.st, alias);
    const int64_t D = m->c.dim;
    if (!t || t->ndim != 2 || t->shape[1] != D || row0 < 0 || nrows < 0 || row0 + nrows > t->shape[0])
        return qerr_set(err, "internal: rows %lld..%lld of '%s'", (long long)row0, (long long)(row0 + nrows), name);
    StTensor v = *t; /* a view of the rows: the same widening as the whole tensor's */
    size_t es = st_dtype_size(t->dtype);
    v.data = t->data + (size_t)row0 * (size_t)D * es;
    v.numel = nrows * D;
    v.nbytes = (size_t)v.numel * es;
    v.shape[0] = nrows;
    qmap_prefault(v.data, v.nbytes);
    int rc = st_to_f32(&v, dst, err) || q_check_finite(dst, v.numel, z->dir, name, err) ? -1 : 0;
    qmap_release(v.data, v.nbytes);
    return rc;
}

int llm_hf_lazy_block(LlmHfLazy *z, LlmModel *m, int layer, float *buf, QErr *err) {
    z->L.err = err;
    float *p = buf;
    if (hf_layer(&z->L, m, layer, &p)) return -1;
    if ((size_t)(p - buf) != hf_layer_floats(&m->c)) return qerr_set(err, "internal: block %d used %zu floats", layer, (size_t)(p - buf));
    return 0;
}

int llm_hf_lazy_view(LlmHfLazy *z, const LlmModel *m, int layer, const char *part, StTensor *v) {
    /* Llama's names only (GPT-2's Conv1D weights are transposed on reading; a GPTQ directory's
     * linears are dequantized), each resolved as at open (aliases of dropped duplicates) */
    static const char *const parts[][2] = {
        {"attn_norm", "input_layernorm"},  {"ffn_norm", "post_attention_layernorm"},
        {"q", "self_attn.q_proj"},         {"k", "self_attn.k_proj"},
        {"v", "self_attn.v_proj"},         {"o", "self_attn.o_proj"},
        {"gate", "mlp.gate_proj"},         {"up", "mlp.up_proj"},
        {"down", "mlp.down_proj"}};
    if (m->c.arch != LLM_ARCH_LLAMA || z->L.gq.bits) return 1;
    char name[256] = "";
    if (strcmp(part, "embed") == 0 || (strcmp(part, "head") == 0 && m->c.shared_head)) {
        snprintf(name, sizeof name, "%s", z->emb);
    } else if (strcmp(part, "head") == 0) {
        snprintf(name, sizeof name, "lm_head.weight");
    } else {
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
            if (strcmp(part, parts[i][0]) == 0) snprintf(name, sizeof name, "model.layers.%d.%s.weight", layer, parts[i][1]);
        if (!name[0] || layer < 0 || layer >= m->c.n_layers) return 1;
    }
    const StTensor *t = st_find(&z->L.st, name);
    const char *alias = t ? NULL : st_meta(&z->L.st, name);
    if (alias) t = st_find(&z->L.st, alias);
    /* names, shapes and dtypes were checked at open: this only guards a caller's mistake */
    if (!t || (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)) return 1;
    *v = *t;
    return 0;
}

const char *llm_hf_lazy_file(LlmHfLazy *z, const StTensor *v, int64_t *offset) {
    const Safetensors *st = &z->L.st;
    if (v->shard < 0 || v->shard >= st->nshards) return NULL;
    const StShard *sh = &st->shards[v->shard];
    if (v->data < sh->map.data || v->nbytes > sh->map.len || (size_t)(v->data - sh->map.data) > sh->map.len - v->nbytes) return NULL;
    *offset = (int64_t)(v->data - sh->map.data);
    return sh->path;
}

void llm_hf_lazy_release(LlmHfLazy *z) {
    Loader *L = &z->L;
    for (int i = 0; i < L->ntouch; i++) qmap_release(L->touch_p[i], L->touch_n[i]);
    L->ntouch = 0;
}

void llm_hf_lazy_close(LlmHfLazy *z) {
    if (!z) return;
    hf_end(&z->L);
    free(z);
}
