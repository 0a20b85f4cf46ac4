/* save.c — writing a quantized model as a quant-llm safetensors file (llm_qfile.h,
 * docs/formats.md).  Packed codes (U8), float16 scales, packed zero-points when affine,
 * fp32 norms and biases, and the scheme + architecture in __metadata__. */
#include <stdlib.h>
#include <string.h>

#include "quant/llm_ptq.h"
#include "quant/llm_qfile.h"
#include "quant/pack.h"
#include "quant/safetensors.h"

typedef struct Out {
    int n, cap;
    StWriteTensor *t;
    void **owned;
    int nown;
} Out;

static void add(Out *o, const char *name, StDtype dt, int64_t n0, int64_t n1, const void *data, int own) {
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->t = xrealloc(o->t, (size_t)o->cap * sizeof *o->t);
        o->owned = xrealloc(o->owned, (size_t)o->cap * 2 * sizeof(void *));
    }
    StWriteTensor *t = &o->t[o->n++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->dtype = dt;
    t->ndim = n1 > 0 ? 2 : 1;
    t->shape[0] = n0;
    t->shape[1] = n1;
    t->data = data;
    o->owned[o->nown++] = (void *)t->name;
    if (own) o->owned[o->nown++] = (void *)data;
}

static void add_quant(Out *o, const char *base, const QParams *p, const int8_t *codes) {
    char name[160];
    int64_t n = p->rows * p->cols;
    uint8_t *packed = xmalloc(qpack_bytes(p->bits, n));
    qpack(p->bits, codes, n, packed);
    snprintf(name, sizeof name, "%s.qweight", base);
    add(o, name, ST_U8, (int64_t)qpack_bytes(p->bits, n), 0, packed, 1);
    uint16_t *sc = xmalloc((size_t)p->n * 2);
    for (int64_t k = 0; k < p->n; k++) sc[k] = qf32_to_f16(p->scale[k]);
    snprintf(name, sizeof name, "%s.scale", base);
    add(o, name, ST_F16, p->n, 0, sc, 1);
    if (!p->symmetric) {
        int8_t *z = xmalloc((size_t)p->n);
        for (int64_t k = 0; k < p->n; k++) z[k] = (int8_t)p->zero[k];
        uint8_t *zp = xmalloc(qpack_bytes(p->bits, p->n));
        qpack(p->bits, z, p->n, zp);
        free(z);
        snprintf(name, sizeof name, "%s.zero", base);
        add(o, name, ST_U8, (int64_t)qpack_bytes(p->bits, p->n), 0, zp, 1);
    }
}

int llm_save_quantized(const char *path, const LlmModel *m, const LlmQuantized *q, const char *source, QErr *err) {
    const LlmConfig *c = &m->c;
    int64_t D = c->dim, V = c->vocab_size;
    Out o = {0};
    if (q->emb_codes) add_quant(&o, "token_embd", &q->emb_p, q->emb_codes);
    else add(&o, "token_embd.weight", ST_F32, V, D, m->tok_emb, 0);
    if (!c->shared_head && q->head_codes) add_quant(&o, "output", &q->head_p, q->head_codes);
    else if (!c->shared_head) add(&o, "output.weight", ST_F32, V, D, m->head, 0);
    if (m->pos_emb) add(&o, "position_embd.weight", ST_F32, c->max_seq, D, m->pos_emb, 0);
    add(&o, "output_norm.weight", ST_F32, D, 0, m->final_norm, 0);
    if (m->final_norm_b) add(&o, "output_norm.bias", ST_F32, D, 0, m->final_norm_b, 0);
    char name[160];
    int idx = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const LlmLayer *y = &m->layers[l];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        add(&o, name, ST_F32, D, 0, y->attn_norm, 0);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        add(&o, name, ST_F32, D, 0, y->ffn_norm, 0);
        if (y->attn_norm_b) {
            snprintf(name, sizeof name, "blk.%d.attn_norm.bias", l);
            add(&o, name, ST_F32, D, 0, y->attn_norm_b, 0);
            snprintf(name, sizeof name, "blk.%d.ffn_norm.bias", l);
            add(&o, name, ST_F32, D, 0, y->ffn_norm_b, 0);
        }
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, l, lin);
        for (int k = 0; k < nl; k++, idx++) {
            if (idx >= q->n) {
                for (int i = 0; i < o.nown; i++) free(o.owned[i]);
                free(o.t);
                free(o.owned);
                return qerr_set(err, "%s: the quantization result has %d linears, the model more", path, q->n);
            }
            char base[96];
            snprintf(base, sizeof base, "blk.%d.%s", l, lin[k].name);
            add_quant(&o, base, &q->lin[idx].p, q->lin[idx].codes);
            if (lin[k].b) {
                snprintf(name, sizeof name, "%s.bias", base);
                add(&o, name, ST_F32, lin[k].out, 0, lin[k].b, 0);
            }
        }
    }
    char v[28][64];
    const char *keys[28], *vals[28];
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
    META("method", "%s", llm_qmethod_name(q->scheme.method));
    META("bits", "%d", q->scheme.bits);
    META("group_size", "%lld", (long long)q->scheme.group_size);
    META("symmetric", "%d", q->scheme.symmetric);
    META("group_tail", "%s", "merged");
    META("emb_bits", "%d", q->emb_codes ? q->emb_bits : 0);
    META("emb_group", "%lld", (long long)(q->emb_codes && q->emb_p.gran == QGRAN_GROUP ? q->emb_p.group_size : 0));
    META("head_bits", "%d", q->head_codes ? q->head_p.bits : 0);
    META("source", "%.60s", source ? source : "");
#undef META
    int rc = st_write(path, o.t, o.n, keys, vals, nm, err);
    for (int i = 0; i < o.nown; i++) free(o.owned[i]);
    free(o.t);
    free(o.owned);
    return rc;
}
