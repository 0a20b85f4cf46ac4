/* stream.c — weight quantization of a model streamed block by block (llm_stream.h).
 *
 * The output is a quant-llm file (docs/formats.md) in exactly the tensor order save.c uses, so
 * its header is known before any block is quantized: the shapes follow from the config and
 * the scheme (a linear's scale count from qparams_init + merge_tail).  The header is written
 * first, then each tensor's bytes as its block completes; every block checks its linears'
 * parameters against the header it promised. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "quant/llm_source.h"
#include "quant/llm_stream.h"
#include "quant/pack.h"
#include "quant/safetensors.h"

int llm_stream_supported(const LlmWQuant *s) {
    if (s->method != LLM_Q_RTN && s->method != LLM_Q_GPTQ) return 0;
    if (s->method == LLM_Q_GPTQ && s->bits < 8 && (s->tune_epochs > 0 || s->e2e_epochs > 0)) return 0;
    return 1;
}

void llm_stream_result_free(LlmStreamResult *r) {
    free(r->block_err);
    memset(r, 0, sizeof *r);
}

int64_t llm_stream_fp32_bytes(const char *model) {
    LlmConfig c;
    char p[4200];
    if (qpath_is_dir(model)) {
        snprintf(p, sizeof p, "%s/config.json", model);
        QErr e;
        if (llm_config_from_json(&c, p, &e)) return 0;
    } else {
        return 0; /* llama2.c: fp32 already, memory-mapped */
    }
    LlmModel shape;
    memset(&shape, 0, sizeof shape);
    shape.c = c;
    return llm_n_params(&shape) * 4;
}

/* ------------------------------------------------------------ the layout */
typedef struct Layout {
    int n, cap;
    StWriteTensor *t;
} Layout;

static void lay(Layout *L, const char *name, StDtype dt, int64_t n0, int64_t n1) {
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

static void layout_free(Layout *L) {
    for (int i = 0; i < L->n; i++) free((void *)L->t[i].name);
    free(L->t);
    memset(L, 0, sizeof *L);
}

/* A linear's scale count as the quantizer will make it (groups with the ragged tail merged). */
static int64_t scale_count(int bits, int sym, int64_t group, int64_t out, int64_t in) {
    QParams p;
    QErr e;
    if (qparams_init(&p, bits, sym, group > 0 ? QGRAN_GROUP : QGRAN_CHANNEL, group, out, in, &e)) return -1;
    qparams_merge_tail(&p);
    int64_t n = p.n;
    qparams_free(&p);
    return n;
}

static void lay_quant(Layout *L, const char *base, int bits, int sym, int64_t nweights, int64_t nscales) {
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

/* The linears of a block of config c, as llm_block_linears lists them. */
static int block_shape(const LlmConfig *c, const char *names[LLM_MAX_LINEARS], int in[LLM_MAX_LINEARS], int out[LLM_MAX_LINEARS]) {
    int hs = c->dim / c->n_heads, D = c->dim, F = c->hidden_dim, qd = c->n_heads * hs, kvd = c->n_kv_heads * hs, n = 0;
#define LIN(nm, i, o) (names[n] = (nm), in[n] = (i), out[n] = (o), n++)
    LIN("q", D, qd);
    LIN("k", D, kvd);
    LIN("v", D, kvd);
    LIN("o", qd, D);
    if (c->arch == LLM_ARCH_LLAMA) LIN("gate", D, F);
    LIN("up", D, F);
    LIN("down", F, D);
#undef LIN
    return n;
}

/* save.c's tensor list for this config and scheme (biases: GPT-2's, which has them all). */
static int layout_build(Layout *L, const LlmModel *m, const LlmWQuant *s, int emb_bits, QErr *err) {
    const LlmConfig *c = &m->c;
    const int64_t D = c->dim, V = c->vocab_size;
    const int gpt2 = c->arch == LLM_ARCH_GPT2;
    if (emb_bits > 0) lay_quant(L, "token_embd", emb_bits, 1, V * D, V);
    else lay(L, "token_embd.weight", ST_F32, V, D);
    if (!c->shared_head) lay(L, "output.weight", ST_F32, V, D);
    if (m->pos_emb) lay(L, "position_embd.weight", ST_F32, c->max_seq, D);
    lay(L, "output_norm.weight", ST_F32, D, 0);
    if (m->final_norm_b) lay(L, "output_norm.bias", ST_F32, D, 0);
    const char *names[LLM_MAX_LINEARS];
    int in[LLM_MAX_LINEARS], out[LLM_MAX_LINEARS];
    int nl = block_shape(c, names, in, out);
    int64_t ns[LLM_MAX_LINEARS];
    for (int k = 0; k < nl; k++)
        if ((ns[k] = scale_count(s->bits, s->symmetric, s->group_size, out[k], in[k])) < 0)
            return qerr_set(err, "unsupported scheme: %d bits, group %lld", s->bits, (long long)s->group_size);
    char name[160];
    for (int l = 0; l < c->n_layers; l++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        lay(L, name, ST_F32, D, 0);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        lay(L, name, ST_F32, D, 0);
        if (gpt2) {
            snprintf(name, sizeof name, "blk.%d.attn_norm.bias", l);
            lay(L, name, ST_F32, D, 0);
            snprintf(name, sizeof name, "blk.%d.ffn_norm.bias", l);
            lay(L, name, ST_F32, D, 0);
        }
        for (int k = 0; k < nl; k++) {
            char base[96];
            snprintf(base, sizeof base, "blk.%d.%s", l, names[k]);
            lay_quant(L, base, s->bits, s->symmetric, (int64_t)out[k] * in[k], ns[k]);
            if (gpt2) {
                snprintf(name, sizeof name, "%s.bias", base);
                lay(L, name, ST_F32, out[k], 0);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the writer */
typedef struct Out {
    QWriter w;
    const Layout *L;
    int next;          /* the layout entry the next bytes belong to */
    const char *path;
} Out;

static int put(Out *o, const char *name, const void *data, size_t nbytes, QErr *err) {
    if (o->next >= o->L->n || strcmp(o->L->t[o->next].name, name) != 0 || st_write_nbytes(&o->L->t[o->next]) != nbytes)
        return qerr_set(err, "internal: %s: tensor '%s' (%zu bytes) does not match the header's entry %d", o->path, name,
                        nbytes, o->next);
    o->next++;
    return qwriter_write(&o->w, data, nbytes, err);
}

static int put_quant(Out *o, const char *base, const QParams *p, const int8_t *codes, QErr *err) {
    char name[160];
    int64_t n = p->rows * p->cols;
    size_t nb = qpack_bytes(p->bits, n);
    uint8_t *packed = xmalloc(nb);
    qpack(p->bits, codes, n, packed);
    snprintf(name, sizeof name, "%s.qweight", base);
    int rc = put(o, name, packed, nb, err);
    free(packed);
    if (rc) return -1;
    uint16_t *sc = xmalloc((size_t)p->n * 2);
    for (int64_t k = 0; k < p->n; k++) sc[k] = qf32_to_f16(p->scale[k]);
    snprintf(name, sizeof name, "%s.scale", base);
    rc = put(o, name, sc, (size_t)p->n * 2, err);
    free(sc);
    if (rc || p->symmetric) return rc;
    int8_t *z = xmalloc((size_t)p->n);
    for (int64_t k = 0; k < p->n; k++) z[k] = (int8_t)p->zero[k];
    uint8_t *zp = xmalloc(qpack_bytes(p->bits, p->n));
    qpack(p->bits, z, p->n, zp);
    snprintf(name, sizeof name, "%s.zero", base);
    rc = put(o, name, zp, qpack_bytes(p->bits, p->n), err);
    free(z);
    free(zp);
    return rc;
}

static int put_f32(Out *o, const char *name, const float *x, int64_t n, QErr *err) {
    return put(o, name, x, (size_t)n * sizeof(float), err);
}

enum { ROWS_CHUNK = 2048 };

/* The embedding (head = 0) or head as F32, widened from the source a chunk of rows at a time. */
static int put_rows(Out *o, const char *name, LlmSource *src, const LlmModel *m, int head, QErr *err) {
    const int64_t V = m->c.vocab_size, D = m->c.dim;
    if (o->next >= o->L->n || strcmp(o->L->t[o->next].name, name) != 0 || st_write_nbytes(&o->L->t[o->next]) != (size_t)(V * D * 4))
        return qerr_set(err, "internal: %s: tensor '%s' does not match the header's entry %d", o->path, name, o->next);
    o->next++;
    float *x = xmalloc((size_t)ROWS_CHUNK * D * sizeof(float));
    int rc = 0;
    for (int64_t r0 = 0; r0 < V && rc == 0; r0 += ROWS_CHUNK) {
        int64_t nr = V - r0 < ROWS_CHUNK ? V - r0 : ROWS_CHUNK;
        rc = llm_source_rows(src, m, head, r0, nr, x, err) || qwriter_write(&o->w, x, (size_t)(nr * D) * sizeof(float), err) ? -1 : 0;
    }
    free(x);
    return rc;
}

/* llm_quantize_embedding's result (rows are independent: per-row scales), a chunk of rows at
 * a time from the file, for an embedding that was never widened whole. */
static int quantize_embedding_rows(LlmSource *src, const LlmModel *m, int emb_bits, LlmQuantized *q, QErr *err) {
    const int64_t V = m->c.vocab_size, D = m->c.dim;
    q->emb_bits = emb_bits;
    q->emb_codes = xmalloc((size_t)(V * D));
    if (qparams_init(&q->emb_p, emb_bits, 1, QGRAN_CHANNEL, 0, V, D, err)) return -1;
    q->emb_p.scale_f16 = 1;
    float *x = xmalloc((size_t)ROWS_CHUNK * D * sizeof(float));
    int rc = 0;
    for (int64_t r0 = 0; r0 < V && rc == 0; r0 += ROWS_CHUNK) {
        int64_t nr = V - r0 < ROWS_CHUNK ? V - r0 : ROWS_CHUNK;
        QParams cp;
        if ((rc = llm_source_rows(src, m, 0, r0, nr, x, err)) || (rc = qparams_init(&cp, emb_bits, 1, QGRAN_CHANNEL, 0, nr, D, err)))
            break;
        cp.scale_f16 = 1;
        qparams_fit_minmax(&cp, x);
        quantize(&cp, x, q->emb_codes + r0 * D);
        memcpy(q->emb_p.scale + r0, cp.scale, (size_t)nr * sizeof(float));
        memcpy(q->emb_p.zero + r0, cp.zero, (size_t)nr * sizeof(int32_t));
        qparams_free(&cp);
    }
    free(x);
    return rc;
}

/* ------------------------------------------------------------ the job */
int llm_quantize_stream(const char *model, const LlmCalib *c, const LlmWQuant *s, int emb_bits, const char *out_path,
                        const char *source, LlmStreamResult *r, QErr *err) {
    memset(r, 0, sizeof *r);
    double t_start = qtime_now();
    if (!llm_stream_supported(s)) return qerr_set(err, "internal: this variant cannot be streamed");
    const int gptq = llm_qmethod_gptq(s->method);
    const int n = gptq && c ? c->n : 0, S = c ? c->seq_len : 0;
    if (gptq && n < 1) return qerr_set(err, "GPTQ needs calibration windows");
    LlmSource *src;
    LlmModel m;
    /* the head is only copied out: it stays in the file, read in row chunks; so does the
     * embedding for RTN, which never embeds a token (GPTQ widens it below) */
    if (llm_source_open_ex(&src, &m, model, 1, err)) return -1;
    float *emb32 = NULL; /* GPTQ: the embedding widened here when the source left it in the file */
    const LlmConfig *cf = &m.c;
    const int L = cf->n_layers, D = cf->dim;
    int rc = -1;
    Layout lay0 = {0};
    Out o = {.L = &lay0, .path = out_path};
    int opened = 0;
    float *Xq = NULL, *Xf = NULL, *buf = NULL;
    LlmQuantized q;
    memset(&q, 0, sizeof q);
    q.scheme = *s;
    LlmQLinear ql[LLM_MAX_LINEARS];
    int nql = 0;
    double bits = 0, weights = 0;
    if (n > 0 && S > cf->max_seq) {
        qerr_set(err, "calibration windows of %d tokens exceed the model's context %d", S, cf->max_seq);
        goto out;
    }
    r->n_layers = L;
    r->block_err = xmalloc((size_t)L * sizeof(double));
    for (int l = 0; l < L; l++) r->block_err[l] = -1;
    if (layout_build(&lay0, &m, s, emb_bits, err)) goto out;

    /* the block inputs at the first boundary: the fp32 model's when refit needs them, then
     * the quantized model's (from the quantized embedding), as llm_quantize_model does */
    if (n > 0 && !m.tok_emb) {
        const int64_t V = cf->vocab_size;
        emb32 = xmalloc((size_t)(V * D) * sizeof(float));
        for (int64_t r0 = 0; r0 < V; r0 += ROWS_CHUNK)
            if (llm_source_rows(src, &m, 0, r0, V - r0 < ROWS_CHUNK ? V - r0 : ROWS_CHUNK, emb32 + r0 * D, err)) goto out;
        m.tok_emb = emb32;
    }
    const int need_f = gptq && s->refit;
    if (need_f) {
        Xf = xmalloc((size_t)n * S * D * sizeof(float));
        for (int i = 0; i < n; i++) llm_embed(&m, c->tokens + (size_t)i * S, S, 0, Xf + (size_t)i * S * D);
    }
    if (emb_bits > 0) {
        if (m.tok_emb) llm_quantize_embedding(&m, emb_bits, &q);
        else if (quantize_embedding_rows(src, &m, emb_bits, &q, err)) goto out;
    }
    if (n > 0) {
        Xq = xmalloc((size_t)n * S * D * sizeof(float));
        for (int i = 0; i < n; i++) llm_embed(&m, c->tokens + (size_t)i * S, S, 0, Xq + (size_t)i * S * D);
    }

    char v[LLM_QFILE_META_MAX][64];
    const char *keys[LLM_QFILE_META_MAX], *vals[LLM_QFILE_META_MAX];
    int nm = llm_qfile_meta(cf, s, emb_bits > 0 ? emb_bits : 0, source, v, keys, vals);
    if (qwriter_open(&o.w, out_path, err)) goto out;
    opened = 1;
    if (st_write_header(&o.w, lay0.t, lay0.n, keys, vals, nm, err)) goto out;
    const int64_t V = cf->vocab_size;
    if (emb_bits > 0 ? put_quant(&o, "token_embd", &q.emb_p, q.emb_codes, err)
                     : m.tok_emb ? put_f32(&o, "token_embd.weight", m.tok_emb, V * D, err)
                                 : put_rows(&o, "token_embd.weight", src, &m, 0, err))
        goto out;
    if (!cf->shared_head && put_rows(&o, "output.weight", src, &m, 1, err)) goto out;
    if (m.pos_emb && put_f32(&o, "position_embd.weight", m.pos_emb, (int64_t)cf->max_seq * D, err)) goto out;
    if (put_f32(&o, "output_norm.weight", m.final_norm, D, err)) goto out;
    if (m.final_norm_b && put_f32(&o, "output_norm.bias", m.final_norm_b, D, err)) goto out;

    buf = xmalloc(llm_source_block_floats(cf) * sizeof(float));
    QProgress prog;
    qprogress_init(&prog);
    for (int l = 0; l < L; l++) {
        qprogress_frac(&prog, (double)l / L);
        qprogress_update(&prog, "streamed %s w%d: block %d/%d", llm_qmethod_name(s->method), s->bits, l + 1, L);
        if (llm_source_block(src, &m, l, buf, err)) break;
        double tl[2];
        if (llm_quantize_block(&m, l, s, Xq, Xf, n, S, ql, &nql, &r->block_err[l], tl, &prog, err)) break;
        const LlmLayer *y = &m.layers[l];
        char name[160], base[96];
        int wrc = 0;
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        wrc = wrc || put_f32(&o, name, y->attn_norm, D, err);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        wrc = wrc || put_f32(&o, name, y->ffn_norm, D, err);
        if (y->attn_norm_b) {
            snprintf(name, sizeof name, "blk.%d.attn_norm.bias", l);
            wrc = wrc || put_f32(&o, name, y->attn_norm_b, D, err);
            snprintf(name, sizeof name, "blk.%d.ffn_norm.bias", l);
            wrc = wrc || put_f32(&o, name, y->ffn_norm_b, D, err);
        }
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears(&m, l, lin);
        for (int k = 0; k < nl && !wrc; k++) {
            snprintf(base, sizeof base, "blk.%d.%s", l, lin[k].name);
            wrc = put_quant(&o, base, &ql[k].p, ql[k].codes, err);
            if (!wrc && lin[k].b) {
                snprintf(name, sizeof name, "%s.bias", base);
                wrc = put_f32(&o, name, lin[k].b, lin[k].out, err);
            }
            double e = (double)ql[k].p.rows * ql[k].p.cols;
            bits += qparams_bits_per_weight(&ql[k].p) * e;
            weights += e;
        }
        for (int k = 0; k < nql; k++) {
            qparams_free(&ql[k].p);
            free(ql[k].codes);
        }
        nql = 0;
        llm_source_release(src, &m, l);
        if (wrc) break;
        if (l == L - 1) rc = 0;
    }
    qprogress_done(&prog);
    if (rc == 0 && o.next != lay0.n) rc = qerr_set(err, "internal: %s: %d of %d tensors written", out_path, o.next, lay0.n);
    if (rc == 0) {
        rc = qwriter_commit(&o.w, err);
        opened = 0;
    }
    if (rc == 0) {
        struct stat sb;
        r->bytes = stat(out_path, &sb) == 0 ? (int64_t)sb.st_size : 0;
        r->bpw = weights > 0 ? bits / weights : 0;
        r->seconds = qtime_now() - t_start;
    }
out:
    if (rc) qerr_prefix(err, "%s", model);
    for (int k = 0; k < nql; k++) {
        qparams_free(&ql[k].p);
        free(ql[k].codes);
    }
    if (opened) qwriter_abort(&o.w);
    llm_quantized_free(&q);
    layout_free(&lay0);
    free(buf);
    free(Xq);
    free(Xf);
    if (emb32) m.tok_emb = NULL;
    free(emb32);
    llm_source_close(src, &m);
    if (rc) llm_stream_result_free(r);
    return rc;
}
