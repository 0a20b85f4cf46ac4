/* qfile_write.c — the quant-llm file's tensor list and the one way tensors are handed to it
 * (llm_ptq.h, docs/formats.md), shared by the in-memory writer (save.c) and the streamed one
 * (stream.c), so the two write the same bytes.
 *
 * The list follows from the configuration and the scheme alone: a linear's scale count from
 * llm_rtn_init's grid (GPTQ's is the same), the embedding's from llm_emb_qparams, an untied
 * classifier's from groups of LLM_QFILE_HEAD_GROUP.  Tensors then arrive in list order; each is
 * checked against its entry (name, bytes) before it is kept or written. */
#include <stdlib.h>
#include <string.h>

#include "quant/llm_ptq.h"
#include "quant/llm_qfile.h"
#include "quant/pack.h"

/* ------------------------------------------------------------ the list */
static void lay(LlmQfileLayout *L, const char *name, StDtype dt, int64_t n0, int64_t n1) {
    if (L->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 64;
        L->t = xrealloc(L->t, (size_t)L->cap * sizeof *L->t);
    }
    StWriteTensor *t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->dtype = dt;
    t->ndim = n1 > 0 ? 2 : 1;
    t->shape[0] = n0;
    t->shape[1] = n1;
}

void llm_qfile_layout_free(LlmQfileLayout *L) {
    for (int i = 0; i < L->n; i++) free((void *)L->t[i].name);
    free(L->t);
    memset(L, 0, sizeof *L);
}

/* packed codes, float16 scales, packed zero-points when affine (save.c's order) */
static void lay_quant(LlmQfileLayout *L, const char *base, int bits, int sym, int64_t nweights, int64_t nscales) {
    char name[160];
    snprintf(name, sizeof name, "%s.qweight", base);
    lay(L, name, ST_U8, (int64_t)qpack_bytes(bits, nweights), 0);
    snprintf(name, sizeof name, "%s.scale", base);
    lay(L, name, ST_F16, nscales, 0);
    if (!sym) {
        snprintf(name, sizeof name, "%s.zero", base);
        lay(L, name, ST_U8, (int64_t)qpack_bytes(bits, nscales), 0);
    }
}

int llm_qfile_emb_group(const LlmConfig *c, const LlmWQuant *s, int emb_bits) {
    (void)c;
    return emb_bits > 0 ? (int)s->emb_group : 0;
}

int llm_qfile_head_bits(const LlmConfig *c, const LlmWQuant *s) {
    return c->shared_head ? 0 : s->head_bits > 0 ? s->head_bits : 0;
}

int llm_qfile_layout(const LlmConfig *c, int pos_emb, int norm_bias, const LlmWQuant *s, int emb_bits, LlmQfileLayout *L,
                     QErr *err) {
    memset(L, 0, sizeof *L);
    const int64_t D = c->dim, V = c->vocab_size;
    QParams p;
    /* scale counts from one row's grid times the rows (per-row and grouped grids have the same
     * units in every row): a [V, D] grid would allocate and fill V x D / group scales here */
    if (emb_bits > 0) {
        if (llm_emb_qparams(&p, emb_bits, llm_qfile_emb_group(c, s, emb_bits), 1, D, err)) return -1;
        lay_quant(L, "token_embd", emb_bits, 1, V * D, p.n * V);
        qparams_free(&p);
    } else {
        lay(L, "token_embd.weight", ST_F32, V, D);
    }
    const int hb = llm_qfile_head_bits(c, s);
    if (hb > 0) {
        if (llm_rtn_init(&p, hb, 1, LLM_QFILE_HEAD_GROUP, 1, D, err)) return -1;
        lay_quant(L, "output", hb, 1, V * D, p.n * V);
        qparams_free(&p);
    } else if (!c->shared_head) {
        lay(L, "output.weight", ST_F32, V, D);
    }
    if (pos_emb) lay(L, "position_embd.weight", ST_F32, c->max_seq, D);
    lay(L, "output_norm.weight", ST_F32, D, 0);
    if (norm_bias) lay(L, "output_norm.bias", ST_F32, D, 0);
    LlmLinearShape lin[LLM_MAX_LINEARS];
    const int nl = llm_block_shapes(c, lin);
    int64_t ns[LLM_MAX_LINEARS];
    for (int k = 0; k < nl; k++) {
        if (llm_rtn_init(&p, s->bits, s->symmetric, s->group_size, 1, lin[k].in, err)) {
            llm_qfile_layout_free(L);
            qerr_prefix(err, "blk.0.%s", lin[k].name);
            return -1;
        }
        ns[k] = p.n * lin[k].out;
        qparams_free(&p);
    }
    const int bias = c->arch == LLM_ARCH_GPT2; /* GPT-2's linears all have biases, Llama's none */
    char name[160];
    for (int l = 0; l < c->n_layers; l++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        lay(L, name, ST_F32, D, 0);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        lay(L, name, ST_F32, D, 0);
        if (norm_bias) {
            snprintf(name, sizeof name, "blk.%d.attn_norm.bias", l);
            lay(L, name, ST_F32, D, 0);
            snprintf(name, sizeof name, "blk.%d.ffn_norm.bias", l);
            lay(L, name, ST_F32, D, 0);
        }
        for (int k = 0; k < nl; k++) {
            char base[96];
            snprintf(base, sizeof base, "blk.%d.%s", l, lin[k].name);
            lay_quant(L, base, s->bits, s->symmetric, (int64_t)lin[k].out * lin[k].in, ns[k]);
            if (bias) {
                snprintf(name, sizeof name, "%s.bias", base);
                lay(L, name, ST_F32, lin[k].out, 0);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the sink */
int llm_qfile_claim(LlmQfileSink *k, const char *name, size_t nbytes, QErr *err) {
    const LlmQfileLayout *L = k->L;
    if (k->next >= L->n || strcmp(L->t[k->next].name, name) != 0 || st_write_nbytes(&L->t[k->next]) != nbytes)
        return qerr_set(err, "internal: %s: tensor '%s' (%zu bytes) does not match the header's entry %d (%s)", k->path, name,
                        nbytes, k->next, k->next < L->n ? L->t[k->next].name : "past the end");
    return k->next++;
}

/* data: kept by pointer until st_write (owned: freed by llm_qfile_sink_free), or written now */
static int give(LlmQfileSink *k, const char *name, const void *data, size_t nbytes, int owned, QErr *err) {
    int i = llm_qfile_claim(k, name, nbytes, err);
    if (i < 0) {
        if (owned) free((void *)data);
        return -1;
    }
    if (k->w) {
        int rc = qwriter_write(k->w, data, nbytes, err);
        if (owned) free((void *)data);
        return rc;
    }
    k->L->t[i].data = data;
    if (owned) {
        if (k->nown == k->cap) {
            k->cap = k->cap ? 2 * k->cap : 64;
            k->owned = xrealloc(k->owned, (size_t)k->cap * sizeof *k->owned);
        }
        k->owned[k->nown++] = (void *)data;
    }
    return 0;
}

int llm_qfile_put_f32(LlmQfileSink *k, const char *name, const float *x, int64_t n, QErr *err) {
    return give(k, name, x, (size_t)n * sizeof(float), 0, err);
}

int llm_qfile_put_quant(LlmQfileSink *k, const char *base, const QParams *p, const int8_t *codes, QErr *err) {
    char name[160];
    const int64_t n = p->rows * p->cols;
    uint8_t *packed = xmalloc(qpack_bytes(p->bits, n));
    qpack(p->bits, codes, n, packed);
    snprintf(name, sizeof name, "%s.qweight", base);
    if (give(k, name, packed, qpack_bytes(p->bits, n), 1, err)) return -1;
    uint16_t *sc = xmalloc((size_t)p->n * 2);
    for (int64_t i = 0; i < p->n; i++) sc[i] = qf32_to_f16(p->scale[i]);
    snprintf(name, sizeof name, "%s.scale", base);
    if (give(k, name, sc, (size_t)p->n * 2, 1, err)) return -1;
    if (p->symmetric) return 0;
    int8_t *z = xmalloc((size_t)p->n);
    for (int64_t i = 0; i < p->n; i++) z[i] = (int8_t)p->zero[i];
    uint8_t *zp = xmalloc(qpack_bytes(p->bits, p->n));
    qpack(p->bits, z, p->n, zp);
    free(z);
    snprintf(name, sizeof name, "%s.zero", base);
    return give(k, name, zp, qpack_bytes(p->bits, p->n), 1, err);
}

int llm_qfile_sink_done(const LlmQfileSink *k, QErr *err) {
    if (k->next != k->L->n)
        return qerr_set(err, "internal: %s: %d of %d tensors given", k->path, k->next, k->L->n);
    return 0;
}

void llm_qfile_sink_free(LlmQfileSink *k) {
    for (int i = 0; i < k->nown; i++) free(k->owned[i]);
    free(k->owned);
    k->owned = NULL;
    k->nown = k->cap = 0;
}

/* ------------------------------------------------------------ the metadata */
int llm_qfile_meta(const LlmConfig *c, const LlmWQuant *scheme, int emb_bits, const char *source,
                   char v[LLM_QFILE_META_MAX][64], const char *keys[LLM_QFILE_META_MAX], const char *vals[LLM_QFILE_META_MAX]) {
    int nm = 0;
#define META(k, ...) (snprintf(v[nm], sizeof v[nm], __VA_ARGS__), keys[nm] = (k), vals[nm] = v[nm], nm++)
    META("format", "%s", LLM_QFILE_FORMAT);
    META("version", "%s", LLM_QFILE_VERSION);
    META("arch", "%d", (int)c->arch);
    META("dim", "%d", c->dim);
    META("hidden_dim", "%d", c->hidden_dim);
    META("n_layers", "%d", c->n_layers);
    META("n_heads", "%d", c->n_heads);
    META("n_kv_heads", "%d", c->n_kv_heads);
    META("vocab_size", "%d", c->vocab_size);
    META("max_seq", "%d", c->max_seq);
    META("norm_eps", "%.9g", c->norm_eps);
    META("rope_theta", "%.9g", c->rope_theta);
    META("rope_interleaved", "%d", c->rope_interleaved);
    META("shared_head", "%d", c->shared_head);
    META("method", "%s", llm_qmethod_name(scheme->method));
    META("bits", "%d", scheme->bits);
    META("group_size", "%lld", (long long)scheme->group_size);
    META("symmetric", "%d", scheme->symmetric);
    META("group_tail", "%s", "merged");
    META("emb_bits", "%d", emb_bits > 0 ? emb_bits : 0);
    META("emb_group", "%d", llm_qfile_emb_group(c, scheme, emb_bits));
    META("head_bits", "%d", llm_qfile_head_bits(c, scheme));
    META("source", "%.60s", source ? source : "");
#undef META
    return nm;
}
