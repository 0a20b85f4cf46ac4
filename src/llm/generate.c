/* generate.c — sampling (greedy, temperature, top-p) and the generation loop (llm_eval.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/llm_eval.h"

typedef struct ProbIndex {
    float p;
    int32_t i;
} ProbIndex;

static int cmp_desc(const void *a, const void *b) {
    float x = ((const ProbIndex *)a)->p, y = ((const ProbIndex *)b)->p;
    return x < y ? 1 : x > y ? -1 : 0;
}

int32_t llm_sample(LlmSampler *s, float *logits, int V) {
    int32_t best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (s->temperature <= 0.0f) return best;
    float mx = logits[best];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += (logits[i] = expf((logits[i] - mx) / s->temperature));
    for (int i = 0; i < V; i++) logits[i] = (float)(logits[i] / sum);
    float coin = qrng_uniform(&s->rng);
    if (s->top_p <= 0.0f || s->top_p >= 1.0f) {
        float cdf = 0;
        for (int i = 0; i < V; i++) {
            cdf += logits[i];
            if (coin < cdf) return i;
        }
        return V - 1;
    }
    /* top-p (nucleus): the smallest set of tokens whose probability reaches top_p */
    ProbIndex *pi = xmalloc((size_t)V * sizeof *pi);
    int n = 0;
    float cutoff = (1.0f - s->top_p) / (float)(V - 1);
    for (int i = 0; i < V; i++)
        if (logits[i] >= cutoff) pi[n++] = (ProbIndex){logits[i], i};
    qsort(pi, (size_t)n, sizeof *pi, cmp_desc);
    float cum = 0;
    int last = n - 1;
    for (int i = 0; i < n; i++) {
        cum += pi[i].p;
        if (cum > s->top_p) {
            last = i;
            break;
        }
    }
    float r = coin * cum, cdf = 0;
    int32_t out = pi[last].i;
    for (int i = 0; i <= last; i++) {
        cdf += pi[i].p;
        if (r < cdf) {
            out = pi[i].i;
            break;
        }
    }
    free(pi);
    return out;
}

int llm_generate(const LlmModel *m, const Tokenizer *tok, const char *prompt, int n_new, LlmSampler *s, FILE *out,
                 char **text, double *tokens_per_second, QErr *err) {
    int32_t *ids;
    int64_t n;
    if (tokenizer_encode(tok, prompt, strlen(prompt), tok->add_bos, &ids, &n, err)) return -1;
    if (n < 1) {
        free(ids);
        return qerr_set(err, "empty prompt and no BOS token to start from");
    }
    int S = m->c.max_seq;
    if (n >= S) {
        free(ids);
        return qerr_set(err, "the prompt has %lld tokens, the model's context is %d", (long long)n, S);
    }
    int total = (int)n + n_new < S ? (int)n + n_new : S;
    if (llm_check_context(&m->c, total, err)) {
        free(ids);
        return -1;
    }
    ids = xrealloc(ids, (size_t)total * sizeof(int32_t));
    LlmState st;
    llm_state_init(&st, m, (int)n);
    size_t cap = 256, used = 0;
    char *buf = xmalloc(cap), piece[512];
    for (int64_t i = 0; i < n; i++) {
        size_t k = tokenizer_piece(tok, i ? ids[i - 1] : -1, ids[i], piece, sizeof piece);
        if (used + k + 1 > cap) buf = xrealloc(buf, cap = (used + k + 1) * 2);
        memcpy(buf + used, piece, k);
        used += k;
    }
    if (out) {
        fwrite(buf, 1, used, out);
        fflush(out);
    }
    const int V = m->c.vocab_size;
    float *logits = llm_forward(m, &st, ids, (int)n, 0, NULL, NULL) + (size_t)(n - 1) * V;
    double t0 = qtime_now();
    int produced = 0;
    for (int pos = (int)n; pos < total; pos++) {
        int32_t next = llm_sample(s, logits, V);
        if (tokenizer_is_stop(tok, next) || next == tok->bos_id) break;
        ids[pos] = next;
        produced++;
        size_t k = tokenizer_piece(tok, ids[pos - 1], next, piece, sizeof piece);
        if (used + k + 1 > cap) buf = xrealloc(buf, cap = (used + k + 1) * 2);
        memcpy(buf + used, piece, k);
        used += k;
        if (out) {
            fwrite(piece, 1, k, out);
            fflush(out);
        }
        if (pos + 1 < total) logits = llm_forward(m, &st, &ids[pos], 1, pos, NULL, NULL);
    }
    double dt = qtime_now() - t0;
    if (tokens_per_second) *tokens_per_second = dt > 0 ? produced / dt : 0;
    buf[used] = 0;
    *text = buf;
    free(ids);
    llm_state_free(&st);
    return 0;
}
