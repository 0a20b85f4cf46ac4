/* perplexity.c — perplexity under two protocols (llm_eval.h). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "quant/llm_eval.h"

double llm_token_nll(const float *logits, int V, int32_t target) {
    float mx = logits[0];
    for (int i = 1; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
    return log(sum) + mx - logits[target];
}

void llm_ppl_describe(const LlmPplOpts *o, const Tokenizer *tok, char *buf, size_t n) {
    int stride = o->stride > 0 ? o->stride : o->seq_len;
    if (o->protocol == LLM_PPL_LLAMACPP)
        snprintf(buf, n, "llama.cpp protocol: chunks of %d tokens, BOS replaces each chunk's first token, the last %d "
                 "predictions of each chunk scored; tokenizer %s",
                 o->seq_len, o->seq_len - 1 - o->seq_len / 2, tok->vt->kind);
    else if (stride < o->seq_len)
        snprintf(buf, n, "sliding windows of %d tokens, stride %d (each window scores its last %d tokens); %s once at "
                 "the start; tokenizer %s",
                 o->seq_len, stride, stride, tok->add_bos && tok->bos_id >= 0 ? "BOS" : "no BOS", tok->vt->kind);
    else
        snprintf(buf, n, "non-overlapping windows of %d tokens, every prediction scored (%d per window); %s once at the "
                 "start of the text; tokenizer %s",
                 o->seq_len, o->seq_len - 1, tok->add_bos && tok->bos_id >= 0 ? "BOS" : "no BOS", tok->vt->kind);
}

int64_t llm_ppl_windows(const LlmModel *m, const Tokenizer *tok, int64_t n, const LlmPplOpts *o, QErr *err) {
    const int S = o->seq_len;
    if (S < 2 || S > m->c.max_seq) return qerr_set(err, "sequence length %d outside 2..%d (the model's context)", S, m->c.max_seq);
    if (llm_check_context(&m->c, S, err)) return -1;
    int stride = o->stride > 0 ? o->stride : S;
    if (stride > S) return qerr_set(err, "stride %d is larger than the window %d", stride, S);
    if (o->protocol == LLM_PPL_LLAMACPP && tok->bos_id < 0) return qerr_set(err, "the llama.cpp protocol needs a BOS token");
    int64_t nwin;
    if (o->protocol == LLM_PPL_LLAMACPP || stride == S) nwin = n / S;
    else nwin = n >= S ? (n - S) / stride + 1 : 0;
    if (o->max_windows > 0 && nwin > o->max_windows) nwin = o->max_windows;
    if (nwin < 1) return qerr_set(err, "the text has %lld tokens, fewer than one window of %d", (long long)n, S);
    return nwin;
}

int llm_ppl_window(const Tokenizer *tok, const LlmPplOpts *o, const int32_t *tokens, int64_t w, int32_t *win) {
    const int S = o->seq_len, stride = o->stride > 0 ? o->stride : S;
    int64_t start = o->protocol == LLM_PPL_LLAMACPP || stride == S ? w * S : w * stride;
    memcpy(win, tokens + start, (size_t)S * sizeof(int32_t));
    if (o->protocol == LLM_PPL_LLAMACPP) {
        win[0] = tok->bos_id;
        return S / 2;
    }
    return (stride == S || w == 0) ? 0 : S - stride - 1;
}

int llm_perplexity(const LlmModel *m, const Tokenizer *tok, const int32_t *tokens, int64_t n, const LlmPplOpts *o,
                   LlmHook hook, void *ctx, LlmPplResult *r, QErr *err) {
    memset(r, 0, sizeof *r);
    const int S = o->seq_len, V = m->c.vocab_size;
    int64_t nwin = llm_ppl_windows(m, tok, n, o, err);
    if (nwin < 0) return -1;
    /* Windows are independent: run them in parallel (one state each, BLAS single-threaded
     * inside) and add their NLLs up in window order, so the result does not depend on the
     * thread count. */
    double *wnll = xcalloc((size_t)nwin, sizeof(double));
    int64_t *wcount = xcalloc((size_t)nwin, sizeof(int64_t));
    int64_t done = 0;
    QProgress prog;
    qprogress_init(&prog);
    double t0 = qtime_now();
    int old_blas = qblas_threads_swap(1);
#pragma omp parallel
    {
        LlmState st;
        llm_state_init(&st, m, S);
        int32_t *win = xmalloc((size_t)S * sizeof(int32_t));
#pragma omp for schedule(dynamic, 1)
        for (int64_t w = 0; w < nwin; w++) {
            int first = llm_ppl_window(tok, o, tokens, w, win);
            const float *logits = llm_forward(m, &st, win, S, 0, hook, ctx);
            double sum = 0;
            for (int j = first; j < S - 1; j++) sum += llm_token_nll(logits + (size_t)j * V, V, win[j + 1]);
            wnll[w] = sum;
            wcount[w] = S - 1 - first;
            int64_t d;
#pragma omp atomic capture
            d = ++done;
            if (!o->quiet && omp_get_thread_num() == 0) {
                qprogress_frac(&prog, (double)d / (double)nwin);
                qprogress_update(&prog, "perplexity: window %lld/%lld", (long long)d, (long long)nwin);
            }
        }
        free(win);
        llm_state_free(&st);
    }
    qblas_threads_swap(old_blas);
    qprogress_done(&prog);
    int64_t scored = 0;
    for (int64_t w = 0; w < nwin; w++) scored += wcount[w];
    llm_ppl_finish(r, wnll, nwin, scored, S, n, t0);
    free(wnll);
    free(wcount);
    return 0;
}

void llm_ppl_finish(LlmPplResult *r, const double *wnll, int64_t nwin, int64_t scored, int S, int64_t n, double t0) {
    double total = 0;
    for (int64_t w = 0; w < nwin; w++) total += wnll[w];
    r->seconds = qtime_now() - t0;
    r->windows = nwin;
    r->tokens_scored = scored;
    r->tokens_in_text = n;
    r->mean_nll = total / (double)scored;
    r->ppl = exp(r->mean_nll);
    r->tokens_per_second = (double)nwin * S / r->seconds;
}
