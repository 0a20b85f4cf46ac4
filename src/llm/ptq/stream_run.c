/* stream_run.c — ptq-llm's rows for a streamed model (llm_stream.h): the fp32 perplexity
 * block by block over the evaluation windows, each weight variant quantized by
 * llm_quantize_stream into its file, then evaluated from that file loaded packed (the
 * integer kernels of `quant eval`), so no fp32 copy of the model is ever built. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant/llm_gguf.h"
#include "quant/llm_ptq_run.h"
#include "quant/llm_qfile.h"
#include "quant/llm_source.h"
#include "quant/llm_stream.h"

int llm_perplexity_stream(LlmSource *src, LlmModel *m, const Tokenizer *tok, const int32_t *tokens, int64_t n,
                          const LlmPplOpts *o, LlmPplResult *r, QErr *err) {
    memset(r, 0, sizeof *r);
    const int S = o->seq_len, V = m->c.vocab_size, D = m->c.dim, L = m->c.n_layers;
    int64_t nwin = llm_ppl_windows(m, tok, n, o, err);
    if (nwin < 0) return -1;
    if (nwin > 4096) return qerr_set(err, "streamed evaluation keeps every window's activations: at most 4096 windows (--max-windows)");
    double t0 = qtime_now();
    /* the windows exactly as llm_perplexity builds them, all embedded, then every block over
     * all of them (one state per thread per block, BLAS single-threaded inside) */
    int32_t *win = xmalloc((size_t)nwin * S * sizeof(int32_t));
    int *first = xmalloc((size_t)nwin * sizeof(int));
    float *X = xmalloc((size_t)nwin * S * D * sizeof(float));
    for (int64_t w = 0; w < nwin; w++) {
        int32_t *t = win + (size_t)w * S;
        first[w] = llm_ppl_window(tok, o, tokens, w, t);
        llm_embed(m, t, S, 0, X + (size_t)w * S * D);
    }
    float *buf = xmalloc(llm_source_block_floats(&m->c) * sizeof(float));
    QProgress prog;
    qprogress_init(&prog);
    int rc = 0;
    int old_blas = qblas_threads_swap(1);
    for (int l = 0; l < L && rc == 0; l++) {
        if (!o->quiet) {
            qprogress_frac(&prog, (double)l / (L + 1));
            qprogress_update(&prog, "streamed perplexity: block %d/%d, %lld windows", l + 1, L, (long long)nwin);
        }
        if ((rc = llm_source_block(src, m, l, buf, err))) break;
#pragma omp parallel
        {
            LlmState st;
            llm_state_init(&st, m, S);
#pragma omp for schedule(dynamic, 1)
            for (int64_t w = 0; w < nwin; w++) llm_block_forward(m, &st, l, X + (size_t)w * S * D, S, 0, NULL, NULL);
            llm_state_free(&st);
        }
        llm_source_release(src, m, l);
    }
    double *wnll = xcalloc((size_t)nwin, sizeof(double));
    if (rc == 0) {
#pragma omp parallel
        {
            float *logits = xmalloc((size_t)S * V * sizeof(float));
#pragma omp for schedule(dynamic, 1)
            for (int64_t w = 0; w < nwin; w++) {
                llm_head_forward(m, X + (size_t)w * S * D, S, logits);
                const int32_t *t = win + (size_t)w * S;
                double sum = 0;
                for (int j = first[w]; j < S - 1; j++) sum += llm_token_nll(logits + (size_t)j * V, V, t[j + 1]);
                wnll[w] = sum;
            }
            free(logits);
        }
    }
    qblas_threads_swap(old_blas);
    if (!o->quiet) qprogress_done(&prog);
    int64_t scored = 0;
    for (int64_t w = 0; w < nwin; w++) scored += S - 1 - first[w];
    if (rc == 0) llm_ppl_finish(r, wnll, nwin, scored, S, n, t0);
    free(wnll);
    free(buf);
    free(X);
    free(first);
    free(win);
    return rc ? -1 : 0;
}

int llm_ptq_stream_plan(const LlmPtqOpts *o, char *why, size_t n) {
    const char *no = NULL;
    if (o->act_bits > 0) no = "W8A8 rows (--act-bits 8) need the fp32 model";
    else if (o->outlier_channels > 0) no = "the outlier fixture changes the fp32 model";
    else if (o->save_format != 0) no = "GGUF / GPTQ-layout export works from the in-memory model";
    else if (o->model && gguf_detect(o->model)) no = "the streamed reader takes Hugging Face directories and llama2.c checkpoints, not GGUF";
    for (int v = 0; v < o->n_variants && !no; v++)
        if (o->emb_bits != 0 && llm_qmethod_gptq(o->variants[v].method) && o->variants[v].bits >= 8)
            no = "8-bit GPTQ chooses a tied head's codes on the final hidden states of the whole model";
        else if (!llm_stream_supported(&o->variants[v]))
            no = o->variants[v].method == LLM_Q_AWQ || o->variants[v].method == LLM_Q_AWQ_GPTQ
                     ? "AWQ searches scales on the whole model"
                     : "block / end-to-end tuning (--tune-epochs, --e2e-epochs) need the fp32 model";
    if (why) snprintf(why, n, "%s", no ? no : "weight-only RTN/GPTQ without tuning");
    return !no;
}

int llm_ptq_run_stream(const LlmPtqOpts *o, LlmSource *src, LlmModel *m, Tokenizer *tok, const int32_t *etok, int64_t eval_n,
                       const LlmPplOpts *ppl, const LlmCalib *calib, LlmPtqReport *r, QErr *err) {
    LlmPtqRow *row = &r->rows[r->n_rows++];
    snprintf(row->method, sizeof row->method, "fp32");
    row->wbits = row->abits = 32;
    row->group = -1;
    row->bpw = 32;
    row->bytes = 0;
    LlmPplResult pr;
    if (llm_perplexity_stream(src, m, tok, etok, eval_n, ppl, &pr, err)) return -1;
    row->ppl = pr.ppl;
    row->seconds = pr.seconds;
    r->eval_windows = pr.windows;
    r->eval_tokens_scored = pr.tokens_scored;
    qlog("fp32 (streamed block by block): perplexity %.4f (%.1f s)", row->ppl, row->seconds);
    if (o->save_dir && qmkdir_p(o->save_dir, err)) return -1;
    const char *base = strrchr(o->model, '/');
    base = base ? base + 1 : o->model;
    char stem[48];
    snprintf(stem, sizeof stem, "%.*s", (int)(strchr(base, '.') ? strchr(base, '.') - base : (long)strlen(base)), base);
    for (int v = 0; v < o->n_variants; v++) {
        LlmWQuant sv = o->variants[v];
        const LlmWQuant *s = &sv;
        const int emb_bits = llm_ptq_emb_scheme(o, &m->c, s->bits, &sv);
        row = &r->rows[r->n_rows++];
        snprintf(row->method, sizeof row->method, "%s", llm_qmethod_name(s->method));
        row->wbits = s->bits;
        row->abits = 32;
        row->group = s->group_size;
        char path[4096], fname[128];
        llm_ptq_file_name(fname, sizeof fname, stem, s, ".safetensors");
        if (o->save_dir) snprintf(path, sizeof path, "%s/%s", o->save_dir, fname);
        else snprintf(path, sizeof path, "%s/quant-ptq-%ld-%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), fname);
        LlmStreamResult sr;
        if (llm_quantize_stream(o->model, calib, s, emb_bits, path, base, &sr, err)) return -1;
        row->bpw = sr.bpw;
        row->bytes = (size_t)sr.bytes;
        row->file_bpw = llm_file_bits_per_param(row->bytes, llm_n_params(m));
        for (int l = 0; l < m->c.n_layers && l < LLM_PTQ_MAX_LAYERS; l++) row->block_err[l] = sr.block_err[l]; /* -1: not measured (RTN reads no calibration) */
        double tq = sr.seconds;
        llm_stream_result_free(&sr);
        /* evaluated from the file, packed: what `quant eval` on it measures */
        LlmModel qm;
        int rc = llm_load_qfile(&qm, path, err);
        /* the reference kernels (dequantize, then the fp32 product): the in-memory path's
         * numbers exactly */
        if (rc == 0 && (rc = llm_kernels_set(&qm, "ref", err))) llm_free(&qm);
        if (rc == 0) {
            LlmPplResult qr;
            rc = llm_perplexity(&qm, tok, etok, eval_n, ppl, NULL, NULL, &qr, err);
            row->ppl = qr.ppl;
            row->seconds = tq + qr.seconds;
            llm_free(&qm);
        }
        if (rc == 0 && o->save_dir) snprintf(row->file, sizeof row->file, "%s", fname);
        if (!o->save_dir) unlink(path);
        if (rc) return -1;
        qlog("%s w%d %s (streamed, %.1f s; evaluated packed from the file): perplexity %.4f, %.2f bits/weight (linears), "
             "%.2f bits/parameter (the whole file)", row->method, s->bits, s->group_size > 0 ? "group" : "per-channel", tq, row->ppl,
             row->bpw, row->file_bpw);
    }
    return 0;
}
