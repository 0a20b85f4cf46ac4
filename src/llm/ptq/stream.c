/* stream.c — weight quantization of a model streamed block by block (llm_stream.h).
 *
 * The output is a quant-llm file (docs/formats.md) in exactly the tensor order save.c uses, so
 * its header is known before any block is quantized: the shapes follow from the config and
 * the scheme (a linear's scale count from qparams_init + merge_tail).  The header is written
 * first, then each tensor's bytes as its block completes; every block checks its linears'
 * parameters against the header it promised.  RTN of a Llama read from safetensors takes
 * stream_rtn.c's path instead (chunks of rows from the file; the same bytes). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "quant/llm_qfile.h"
#include "quant/llm_source.h"
#include "quant/llm_stream.h"
#include "quant/pack.h"
#include "quant/safetensors.h"
#include "stream_rtn.h"

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

/* ------------------------------------------------------------ the writer */
enum { ROWS_CHUNK = 2048 };

/* The embedding (head = 0) or head as F32, widened from the source a chunk of rows at a time. */
static int put_rows(LlmQfileSink *k, const char *name, LlmSource *src, const LlmModel *m, int head, QErr *err) {
    const int64_t V = m->c.vocab_size, D = m->c.dim;
    if (llm_qfile_claim(k, name, (size_t)(V * D * 4), err) < 0) return -1;
    float *x = xmalloc((size_t)ROWS_CHUNK * D * sizeof(float));
    int rc = 0;
    for (int64_t r0 = 0; r0 < V && rc == 0; r0 += ROWS_CHUNK) {
        int64_t nr = V - r0 < ROWS_CHUNK ? V - r0 : ROWS_CHUNK;
        rc = llm_source_rows(src, m, head, r0, nr, x, err) || qwriter_write(k->w, x, (size_t)(nr * D) * sizeof(float), err) ? -1 : 0;
    }
    free(x);
    return rc;
}

/* The embedding's (head = 0) or the classifier's codes on grid p (initialised for [V, D]), a
 * chunk of rows at a time from the file: llm_quantize_embedding's / llm_quantize_head's
 * codes (rows are independent) for a matrix that is never widened whole. */
static int quantize_rows(LlmSource *src, const LlmModel *m, int head, QParams *p, int8_t **codes, QErr *err) {
    const int64_t V = m->c.vocab_size, D = m->c.dim;
    *codes = xmalloc((size_t)(V * D));
    float *x = xmalloc((size_t)ROWS_CHUNK * D * sizeof(float));
    int rc = 0;
    for (int64_t r0 = 0; r0 < V && rc == 0; r0 += ROWS_CHUNK) {
        int64_t nr = V - r0 < ROWS_CHUNK ? V - r0 : ROWS_CHUNK;
        if ((rc = llm_source_rows(src, m, head, r0, nr, x, err))) break;
        llm_rtn_rows(p, x, r0, nr, *codes, 0);
    }
    free(x);
    return rc;
}

/* X [n * S, D]: the calibration windows' token embeddings (plus positions, as llm_embed).  An
 * embedding left in the file is read a row per token (widened whole, a 7B embedding is 0.5 GB);
 * with codes, the rows are the quantized embedding's (dequantized on p), else the source's. */
static int embed_calib(LlmSource *src, const LlmModel *m, const LlmCalib *c, const QParams *p, const int8_t *codes, float *X,
                       QErr *err) {
    const int S = c->seq_len, D = m->c.dim;
    if (m->tok_emb) { /* in memory (llama2.c), already dequantized in place when quantized */
        for (int i = 0; i < c->n; i++) llm_embed(m, c->tokens + (size_t)i * S, S, 0, X + (size_t)i * S * D);
        return 0;
    }
    for (size_t t = 0; t < (size_t)c->n * S; t++) {
        const int64_t tok = c->tokens[t];
        float *x = X + t * D;
        if (codes) {
            for (int j = 0; j < D; j++) {
                int64_t k = qparams_index(p, tok, j);
                x[j] = quant_value(codes[tok * D + j], p->scale[k], p->zero[k]);
            }
        } else if (llm_source_rows(src, m, 0, tok, 1, x, err)) {
            return -1;
        }
        if (m->pos_emb)
            for (int j = 0; j < D; j++) x[j] += m->pos_emb[(t % S) * D + j];
    }
    return 0;
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
    const LlmConfig *cf = &m.c;
    const int L = cf->n_layers, D = cf->dim;
    int rc = -1;
    LlmQfileLayout lay0 = {0};
    QWriter qw;
    LlmQfileSink o = {.L = &lay0, .path = out_path, .w = &qw};
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
    if (llm_qfile_layout(cf, m.pos_emb != NULL, m.final_norm_b != NULL, s, emb_bits, &lay0, err)) goto out;

    /* the block inputs at the first boundary: the fp32 model's when refit needs them, then
     * the quantized model's (from the quantized embedding), as llm_quantize_model does */
    const int need_f = gptq && s->refit;
    if (need_f) {
        Xf = xmalloc((size_t)n * S * D * sizeof(float));
        if (embed_calib(src, &m, c, NULL, NULL, Xf, err)) goto out;
    }
    /* RTN of a Llama read from its file: straight from the file's rows (stream_rtn.c), the same bytes */
    const int rows_path = n == 0 && llm_rtn_stream_ok(src, &m, s, emb_bits);
    if (rows_path) {
        /* nothing to quantize before the header */
    } else if (emb_bits > 0 && m.tok_emb) {
        if (llm_quantize_embedding(&m, emb_bits, s, &q, err)) goto out;
    } else if (emb_bits > 0) {
        q.emb_bits = emb_bits;
        if (llm_emb_qparams(&q.emb_p, emb_bits, llm_qfile_emb_group(cf, s, emb_bits), cf->vocab_size, D, err) ||
            quantize_rows(src, &m, 0, &q.emb_p, &q.emb_codes, err))
            goto out;
    }
    /* an untied classifier stays in the file: its codes from row chunks */
    if (!rows_path && llm_qfile_head_bits(cf, s) > 0 && (llm_rtn_init(&q.head_p, s->head_bits, 1, LLM_QFILE_HEAD_GROUP, cf->vocab_size, D, err) ||
                                           quantize_rows(src, &m, 1, &q.head_p, &q.head_codes, err)))
        goto out;
    if (n > 0) {
        Xq = xmalloc((size_t)n * S * D * sizeof(float));
        if (embed_calib(src, &m, c, &q.emb_p, q.emb_codes, Xq, err)) goto out;
    }

    char v[LLM_QFILE_META_MAX][64];
    const char *keys[LLM_QFILE_META_MAX], *vals[LLM_QFILE_META_MAX];
    int nm = llm_qfile_meta(cf, s, emb_bits > 0 ? emb_bits : 0, source, v, keys, vals);
    if ((rows_path ? qwriter_open_direct(&qw, out_path, err) : qwriter_open(&qw, out_path, err))) goto out;
    opened = 1;
    if (st_write_header(&qw, lay0.t, lay0.n, keys, vals, nm, err)) goto out;
    if (rows_path) {
        QProgress prog;
        qprogress_init(&prog);
        rc = llm_rtn_stream_write(src, &m, s, emb_bits, &o, &prog, &bits, &weights, err);
        qprogress_done(&prog);
        goto done;
    }
    const int64_t V = cf->vocab_size;
    if (emb_bits > 0 ? llm_qfile_put_quant(&o, "token_embd", &q.emb_p, q.emb_codes, err)
                     : m.tok_emb ? llm_qfile_put_f32(&o, "token_embd.weight", m.tok_emb, V * D, err)
                                 : put_rows(&o, "token_embd.weight", src, &m, 0, err))
        goto out;
    if (q.head_codes ? llm_qfile_put_quant(&o, "output", &q.head_p, q.head_codes, err)
                     : !cf->shared_head && put_rows(&o, "output.weight", src, &m, 1, err))
        goto out;
    /* written: the embedding's and classifier's codes are not read again (2 x V x D bytes) */
    if (q.emb_codes) {
        qparams_free(&q.emb_p);
        free(q.emb_codes);
        q.emb_codes = NULL;
    }
    if (q.head_codes) {
        qparams_free(&q.head_p);
        free(q.head_codes);
        q.head_codes = NULL;
    }
    if (m.pos_emb && llm_qfile_put_f32(&o, "position_embd.weight", m.pos_emb, (int64_t)cf->max_seq * D, err)) goto out;
    if (llm_qfile_put_f32(&o, "output_norm.weight", m.final_norm, D, err)) goto out;
    if (m.final_norm_b && llm_qfile_put_f32(&o, "output_norm.bias", m.final_norm_b, D, err)) goto out;

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
        wrc = wrc || llm_qfile_put_f32(&o, name, y->attn_norm, D, err);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        wrc = wrc || llm_qfile_put_f32(&o, name, y->ffn_norm, D, err);
        if (y->attn_norm_b) {
            snprintf(name, sizeof name, "blk.%d.attn_norm.bias", l);
            wrc = wrc || llm_qfile_put_f32(&o, name, y->attn_norm_b, D, err);
            snprintf(name, sizeof name, "blk.%d.ffn_norm.bias", l);
            wrc = wrc || llm_qfile_put_f32(&o, name, y->ffn_norm_b, D, err);
        }
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears(&m, l, lin);
        for (int k = 0; k < nl && !wrc; k++) {
            snprintf(base, sizeof base, "blk.%d.%s", l, lin[k].name);
            wrc = llm_qfile_put_quant(&o, base, &ql[k].p, ql[k].codes, err);
            if (!wrc && lin[k].b) {
                snprintf(name, sizeof name, "%s.bias", base);
                wrc = llm_qfile_put_f32(&o, name, lin[k].b, lin[k].out, err);
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
done:
    if (rc == 0) rc = llm_qfile_sink_done(&o, err);
    if (rc == 0) {
        rc = qwriter_commit(&qw, err);
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
    if (opened) qwriter_abort(&qw);
    llm_quantized_free(&q);
    llm_qfile_layout_free(&lay0);
    free(buf);
    free(Xq);
    free(Xf);
    llm_source_close(src, &m);
    if (rc) llm_stream_result_free(r);
    return rc;
}
