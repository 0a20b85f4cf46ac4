/* llm_eval.h — perplexity protocols and text generation on an LlmModel. */
#ifndef QUANT_LLM_EVAL_H
#define QUANT_LLM_EVAL_H

#include <stdio.h>

#include "quant/llm.h"
#include "quant/tokenizer.h"

typedef enum LlmPplProtocol {
    /* Non-overlapping windows of seq_len tokens over the text tokenized once (BOS once at
     * the start when the tokenizer uses one); every predicted token scored (seq_len - 1 per
     * window); PPL = exp(mean NLL).  The GPTQ / SmoothQuant protocol.  With stride < seq_len:
     * sliding windows, each scoring only its last `stride` tokens (the first window all). */
    LLM_PPL_WINDOWS = 0,
    /* As llama.cpp's llama-perplexity: chunks of seq_len tokens, the first token of each
     * replaced by BOS, only the second half of each chunk scored (positions seq_len/2 ..
     * seq_len-2 predicting the next token). */
    LLM_PPL_LLAMACPP = 1,
} LlmPplProtocol;

typedef struct LlmPplOpts {
    LlmPplProtocol protocol;
    int seq_len;
    int stride;          /* 0: = seq_len */
    int64_t max_windows; /* 0: all */
    int quiet;           /* no progress line */
} LlmPplOpts;

typedef struct LlmPplResult {
    double ppl, mean_nll;
    int64_t tokens_scored, windows, tokens_in_text;
    double seconds, tokens_per_second;  /* tokens processed (not only scored) per second */
} LlmPplResult;

/* tokens: the whole text, already tokenized (with BOS first if the tokenizer adds one). */
int llm_perplexity(const LlmModel *m, const Tokenizer *tok, const int32_t *tokens, int64_t n, const LlmPplOpts *o,
                   LlmHook hook, void *ctx, LlmPplResult *r, QErr *err);
/* The pieces of llm_perplexity that the streamed evaluation (ptq/stream_run.c) shares, so both
 * score the same windows the same way: the number of windows the text gives under o (checked
 * against the model's context; -1 + err when none), window w's tokens into win[S] (BOS put
 * first under the llama.cpp protocol) with the first scored position returned, and
 * -log softmax(logits[V])[target]. */
int64_t llm_ppl_windows(const LlmModel *m, const Tokenizer *tok, int64_t n, const LlmPplOpts *o, QErr *err);
int     llm_ppl_window(const Tokenizer *tok, const LlmPplOpts *o, const int32_t *tokens, int64_t w, int32_t *win);
double  llm_token_nll(const float *logits, int V, int32_t target);
/* Fills r from the windows' NLL sums wnll[nwin] (added in window order) and the number of
 * predictions they scored; t0: when the evaluation started (qtime_now). */
void    llm_ppl_finish(LlmPplResult *r, const double *wnll, int64_t nwin, int64_t scored, int S, int64_t n, double t0);
/* A one-line description of the protocol for reports. */
void llm_ppl_describe(const LlmPplOpts *o, const Tokenizer *tok, char *buf, size_t n);

typedef struct LlmSampler {
    float temperature;   /* 0: greedy */
    float top_p;         /* 1: off */
    QRng rng;
} LlmSampler;
int32_t llm_sample(LlmSampler *s, float *logits, int V);

/* Generates up to n_new tokens after the prompt; streams text to out as it goes (if out)
 * and returns the full text (malloc'ed) through *text.  Stops at EOS/BOS or the context. */
int llm_generate(const LlmModel *m, const Tokenizer *tok, const char *prompt, int n_new, LlmSampler *s, FILE *out,
                 char **text, double *tokens_per_second, QErr *err);

#endif
