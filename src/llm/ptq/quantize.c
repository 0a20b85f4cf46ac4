/* quantize.c — block-by-block weight quantization of a language model (llm_ptq.h). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "quant/gptq.h"
#include "quant/llm_ptq.h"

/* Hessian capture: one accumulator per site, per thread. */
typedef struct Capture {
    GptqHessian h[LLM_N_SITES];
} Capture;

static void capture_hook(void *ctx, int layer, LlmSite site, float *X, int T, int in) {
    (void)layer;
    (void)in;
    Capture *c = ctx;
    gptq_hessian_add(&c->h[site], X, T);
}

/* Runs block `layer` on every window of X [n, S, D] in place; with capture, accumulates
 * Hessians (thread partials merged in thread order: deterministic for a thread count). */
static void run_block(const LlmModel *m, int layer, float *X, int n, int S, Capture *cap_out) {
    const int D = m->c.dim;
    int nt = omp_get_max_threads();
    Capture *parts = NULL;
    if (cap_out) {
        parts = xcalloc((size_t)nt, sizeof(Capture));
        for (int t = 0; t < nt; t++)
            for (int s = 0; s < LLM_N_SITES; s++) gptq_hessian_init(&parts[t].h[s], s == LLM_SITE_DOWN ? m->c.hidden_dim : D);
    }
    int old = qblas_threads_swap(1);
#pragma omp parallel
    {
        LlmState st;
        llm_state_init(&st, m, S);
        int tid = omp_get_thread_num();
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++)
            llm_block_forward(m, &st, layer, X + (size_t)i * S * D, S, 0, cap_out ? capture_hook : NULL,
                              cap_out ? &parts[tid] : NULL);
        llm_state_free(&st);
    }
    qblas_threads_swap(old);
    if (cap_out) {
        for (int s = 0; s < LLM_N_SITES; s++) {
            GptqHessian *h = &cap_out->h[s];
            int64_t K = h->K, tot = 0;
            for (int t = 0; t < nt; t++) tot += parts[t].h[s].nsamples;
            for (int t = 0; t < nt; t++) {
                double w = tot ? (double)parts[t].h[s].nsamples / (double)tot : 0;
                for (int64_t i = 0; i < K * K; i++) h->H[i] += w * parts[t].h[s].H[i];
                gptq_hessian_free(&parts[t].h[s]);
            }
            h->nsamples = tot;
        }
        free(parts);
    }
}

static void quantize_rtn(float *w, int out, int in, const LlmWQuant *s, QParams *p, int8_t *codes) {
    QErr e;
    qparams_init(p, s->bits, s->symmetric, s->group_size > 0 ? QGRAN_GROUP : QGRAN_CHANNEL, s->group_size, out, in, &e);
    p->scale_f16 = 1;
    p->sym_full = 1;
    qparams_fit_minmax(p, w);
    quantize(p, w, codes);
    dequantize(p, codes, w);
}

int llm_quantize_model(LlmModel *m, const LlmCalib *c, const LlmWQuant *s, int emb_bits, LlmQuantized *q, QErr *err) {
    memset(q, 0, sizeof *q);
    q->scheme = *s;
    double t0 = qtime_now();
    const LlmConfig *cf = &m->c;
    const int L = cf->n_layers, D = cf->dim, S = c->seq_len, n = c->n;
    if (S > cf->max_seq) return qerr_set(err, "calibration windows of %d tokens exceed the model's context %d", S, cf->max_seq);
    q->lin = xcalloc((size_t)L * LLM_MAX_LINEARS, sizeof(LlmQLinear));
    q->block_err = xcalloc((size_t)L, sizeof(double));
    /* two streams of block inputs: the quantized model's and the fp32 reference's */
    float *Xq = xmalloc((size_t)n * S * D * sizeof(float)), *Xf = xmalloc((size_t)n * S * D * sizeof(float));
    for (int i = 0; i < n; i++) llm_embed(m, c->tokens + (size_t)i * S, S, 0, Xf + (size_t)i * S * D);
    /* the embedding is quantized first, so the quantized stream starts from it */
    if (emb_bits > 0) {
        q->emb_bits = emb_bits;
        q->emb_codes = xmalloc((size_t)cf->vocab_size * D);
        qparams_init(&q->emb_p, emb_bits, 1, QGRAN_CHANNEL, 0, cf->vocab_size, D, err);
        q->emb_p.scale_f16 = 1;
        qparams_fit_minmax(&q->emb_p, m->tok_emb);
        quantize(&q->emb_p, m->tok_emb, q->emb_codes);
        dequantize(&q->emb_p, q->emb_codes, m->tok_emb);
    }
    for (int i = 0; i < n; i++) llm_embed(m, c->tokens + (size_t)i * S, S, 0, Xq + (size_t)i * S * D);
    QProgress prog;
    qprogress_init(&prog);
    int rc = 0;
    for (int l = 0; l < L && rc == 0; l++) {
        qprogress_update(&prog, "quantizing block %d/%d (%s, %d bits)", l + 1, L, s->method == LLM_Q_GPTQ ? "gptq" : "rtn",
                         s->bits);
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears(m, l, lin);
        /* the fp32 reference stream goes through the block before its weights change */
        run_block(m, l, Xf, n, S, NULL);
        Capture cap;
        if (s->method == LLM_Q_GPTQ)
            for (int k = 0; k < LLM_N_SITES; k++) gptq_hessian_init(&cap.h[k], k == LLM_SITE_DOWN ? cf->hidden_dim : D);
        float *tmp = s->method == LLM_Q_GPTQ ? xmalloc((size_t)n * S * D * sizeof(float)) : NULL;
        int captured_site = -1;
        for (int k = 0; k < nl && rc == 0; k++) {
            LlmQLinear *ql = &q->lin[q->n++];
            snprintf(ql->name, sizeof ql->name, "blk.%d.%s", l, lin[k].name);
            ql->codes = xmalloc((size_t)lin[k].out * lin[k].in);
            ql->bias = lin[k].b;
            if (s->method == LLM_Q_GPTQ && (int)lin[k].site != captured_site) {
                /* "true sequential": the inputs of this site come from the block with every
                 * linear before it already quantized (q, k, v before o; o before gate/up; ...) */
                for (int h = 0; h < LLM_N_SITES; h++) {
                    gptq_hessian_free(&cap.h[h]);
                    gptq_hessian_init(&cap.h[h], h == LLM_SITE_DOWN ? cf->hidden_dim : D);
                }
                memcpy(tmp, Xq, (size_t)n * S * D * sizeof(float));
                run_block(m, l, tmp, n, S, &cap);
                captured_site = (int)lin[k].site;
            }
            if (s->method == LLM_Q_GPTQ) {
                GptqOpts go;
                gptq_opts_default(&go);
                go.bits = s->bits;
                go.symmetric = s->symmetric;
                go.gran = s->group_size > 0 ? QGRAN_GROUP : QGRAN_CHANNEL;
                go.group_size = s->group_size;
                go.act_order = s->act_order;
                go.scale_f16 = 1;
                go.sym_full = 1;
                go.mse_clip = s->mse_clip;
                if (s->damp > 0) go.damp = s->damp;
                rc = gptq_quantize(lin[k].w, lin[k].out, lin[k].in, &cap.h[lin[k].site], &go, &ql->p, ql->codes, err);
                if (rc) qerr_prefix(err, "%s", ql->name);
            } else {
                quantize_rtn(lin[k].w, lin[k].out, lin[k].in, s, &ql->p, ql->codes);
            }
        }
        if (s->method == LLM_Q_GPTQ)
            for (int k = 0; k < LLM_N_SITES; k++) gptq_hessian_free(&cap.h[k]);
        free(tmp);
        run_block(m, l, Xq, n, S, NULL);
        double num = 0, den = 0;
        for (size_t i = 0; i < (size_t)n * S * D; i++) {
            double d = (double)Xq[i] - Xf[i];
            num += d * d;
            den += (double)Xf[i] * Xf[i];
        }
        q->block_err[l] = den > 0 ? sqrt(num / den) : 0;
    }
    qprogress_done(&prog);
    free(Xq);
    free(Xf);
    q->seconds = qtime_now() - t0;
    if (rc) llm_quantized_free(q);
    return rc;
}

void llm_quantized_free(LlmQuantized *q) {
    for (int i = 0; i < q->n; i++) {
        qparams_free(&q->lin[i].p);
        free(q->lin[i].codes);
    }
    free(q->lin);
    free(q->block_err);
    if (q->emb_codes) qparams_free(&q->emb_p);
    free(q->emb_codes);
    memset(q, 0, sizeof *q);
}

double llm_quantized_bits_per_weight(const LlmQuantized *q) {
    double bits = 0, n = 0;
    for (int i = 0; i < q->n; i++) {
        double e = (double)q->lin[i].p.rows * q->lin[i].p.cols;
        bits += qparams_bits_per_weight(&q->lin[i].p) * e;
        n += e;
    }
    return n > 0 ? bits / n : 0;
}
