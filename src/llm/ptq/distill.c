/* distill.c — the data end-to-end tuning distills on (llm_ptq.h, LlmDistill).
 *
 * End-to-end tuning matches the quantized model's next-token distributions to the fp32
 * model's.  On the calibration windows alone it overfits them: the calibration KL keeps falling
 * while the evaluation perplexity stops improving (stories260K W4 g32: 8 epochs on 128 windows
 * lower the KL 0.0303 -> 0.0269 and raise the perplexity).  The teacher itself supplies more
 * contexts: windows sampled from the fp32 model (the data-free distillation of LLM-QAT, Liu et
 * al. 2023) follow the distribution the model was trained on, cost only forward passes, and
 * need no text beyond the calibration windows that seed them. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "quant/llm_eval.h"
#include "quant/llm_ptq.h"

int llm_calib_generate(const LlmModel *m, const LlmCalib *prompts, int n, int prefix, int32_t bos, int32_t eos,
                       uint64_t seed, LlmCalib *out, QErr *err) {
    memset(out, 0, sizeof *out);
    const int S = prompts->seq_len, V = m->c.vocab_size;
    if (n < 1) return qerr_set(err, "generated calibration: need at least one window, got %d", n);
    if (prompts->n < 1) return qerr_set(err, "generated calibration: no prompt windows");
    if (prefix < 1 || prefix >= S)
        return qerr_set(err, "generated calibration: prefix of %d tokens outside [1, %d)", prefix, S);
    if (S > m->c.max_seq) return qerr_set(err, "generated windows of %d tokens exceed the model's context %d", S, m->c.max_seq);
    if ((bos >= 0 && bos >= V) || (eos >= 0 && eos >= V))
        return qerr_set(err, "generated calibration: BOS %d / EOS %d outside the vocabulary of %d", bos, eos, V);
    out->n = n;
    out->seq_len = S;
    out->tokens = xmalloc((size_t)n * S * sizeof(int32_t));
    int old = qblas_threads_swap(1);
#pragma omp parallel
    {
        LlmState st;
        llm_state_init(&st, m, S);
        float *lg = xmalloc((size_t)V * sizeof(float));
#pragma omp for schedule(dynamic, 1)
        for (int g = 0; g < n; g++) {
            /* a generator per window: the tokens do not depend on the thread count */
            LlmSampler sm = {.temperature = 1.0f, .top_p = 1.0f};
            qrng_seed(&sm.rng, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(g + 1)));
            int32_t *w = out->tokens + (size_t)g * S;
            memcpy(w, prompts->tokens + (size_t)(g % prompts->n) * S, (size_t)prefix * sizeof(int32_t));
            const float *z = llm_forward(m, &st, w, prefix, 0, NULL, NULL) + (size_t)(prefix - 1) * V;
            for (int t = prefix; t < S; t++) {
                memcpy(lg, z, (size_t)V * sizeof(float));
                /* the evaluation stream has BOS once, at its start, and no EOS: a story that ends
                 * goes on into the next one, as in the text, instead of restarting the state */
                if (bos >= 0) lg[bos] = -INFINITY;
                if (eos >= 0) lg[eos] = -INFINITY;
                w[t] = llm_sample(&sm, lg, V);
                if (t + 1 < S) z = llm_forward(m, &st, &w[t], 1, t, NULL, NULL);
            }
        }
        free(lg);
        llm_state_free(&st);
    }
    qblas_threads_swap(old);
    return 0;
}

int llm_distill_build(const LlmModel *m, const LlmCalib *calib, int n_gen, int32_t bos, int32_t eos, uint64_t seed,
                      LlmDistill *d, QErr *err) {
    memset(d, 0, sizeof *d);
    if (n_gen < 0) return qerr_set(err, "generated calibration windows: %d is negative", n_gen);
    const int S = calib->seq_len, n = calib->n + n_gen;
    LlmCalib gen = {0};
    if (n_gen > 0 && llm_calib_generate(m, calib, n_gen, LLM_GEN_PREFIX < S ? LLM_GEN_PREFIX : 1, bos, eos, seed, &gen, err))
        return -1;
    d->win.n = n;
    d->win.seq_len = S;
    d->win.tokens = xmalloc((size_t)n * S * sizeof(int32_t));
    memcpy(d->win.tokens, calib->tokens, (size_t)calib->n * S * sizeof(int32_t));
    if (n_gen > 0) memcpy(d->win.tokens + (size_t)calib->n * S, gen.tokens, (size_t)n_gen * S * sizeof(int32_t));
    llm_calib_free(&gen);
    d->n_real = calib->n;
    d->teacher = m;
    return 0;
}

void llm_distill_free(LlmDistill *d) {
    llm_calib_free(&d->win);
    memset(d, 0, sizeof *d);
}
