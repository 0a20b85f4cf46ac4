/* bench.c — prompt and decode speed of a model, and its memory (llm_bench.h). */
#include <stdlib.h>
#include <string.h>

#include "quant/kernels.h"
#include "quant/llm_bench.h"
#include "quant/llm_eval.h"

/* Bytes of a packed matrix's blocks and zero-points. */
static double qmat_bytes(const KernQMat *q) {
    if (kern_qtype_is_k(q->type)) return (double)q->N * (double)kern_qmat_row_bytes(q); /* superblocks as stored */
    return (double)q->N * q->nb * (double)kern_qtype_block_bytes(q->type) + (q->zero ? (double)q->N * q->nb : 0);
}

/* Bytes of one linear's weights as the model holds them. */
static double linear_bytes(const LlmLinear *l) { return l->packed ? qmat_bytes(l->packed) : 4.0 * l->in * l->out; }

/* The decode split (llm_bench.h): `passes` passes over every layer's linears at T = 1, each
 * site's input quantized before its first linear as a decode step does, then the classifier;
 * medians over the passes.  The model is far larger than the caches, so each pass streams the
 * weights from memory as decode does; each pass ends with one whole decode step, whose time
 * less the parts' is the rest. */
static void decode_split(LlmModel *m, LlmState *s, int passes, LlmBenchResult *r) {
    const LlmConfig *c = &m->c;
    const int D = c->dim, F = c->hidden_dim;
    double *lin = xcalloc((size_t)passes * LLM_MAX_LINEARS, sizeof(double));
    double *act = xcalloc((size_t)passes, sizeof(double)), *head = xcalloc((size_t)passes, sizeof(double));
    double *step = xcalloc((size_t)passes, sizeof(double));
    for (int i = 0; i < D; i++) s->xb[i] = (float)((i * 7919 % 2003) - 1001) / 1001.0f;
    for (int i = 0; i < F; i++) s->h1[i] = (float)((i * 104729 % 4001) - 2000) / 2000.0f;
    for (int p = 0; p < passes; p++) {
        for (int l = 0; l < c->n_layers; l++) {
            LlmLinear ls[LLM_MAX_LINEARS];
            int n = llm_block_linears(m, l, ls);
            r->split_n = n;
            for (int k = 0; k < n; k++) {
                const LlmLinear *q = &ls[k];
                const float *X = q->in == D ? s->xb : s->h1;
                float *Y = q->out == F ? s->h2 : s->q;
                r->split_names[k] = q->name;
                double t0 = qtime_now();
                if (q->packed && s->xa && (k == 0 || ls[k - 1].site != q->site)) {
                    kern_qact_quantize(s->xa, X, 1, q->in);
                    double t1 = qtime_now();
                    act[p] += t1 - t0;
                    t0 = t1;
                }
                if (!q->packed) kern_linear_f32(1, q->out, q->in, X, q->w, q->b, Y);
                else if (s->xa) kern_qmat_linear(q->packed, s->xa, q->b, Y, m->isa);
                else {
                    kern_qmat_dequant(q->packed, s->wdeq);
                    kern_linear_f32(1, q->out, q->in, X, s->wdeq, q->b, Y);
                }
                lin[(size_t)p * LLM_MAX_LINEARS + k] += qtime_now() - t0;
                if (p == 0) r->split_lin_bytes[k] += linear_bytes(q);
            }
        }
        double t0 = qtime_now();
        memcpy(s->x, s->xb, (size_t)D * sizeof(float));
        llm_head_forward(m, s->x, 1, s->logits);
        head[p] = qtime_now() - t0;
        /* a whole decode step in the same pass (the cache's last position), so that the
         * rest is taken from times measured under the same load */
        int32_t tok = 1;
        t0 = qtime_now();
        llm_forward(m, s, &tok, 1, c->max_seq - 1, NULL, NULL);
        step[p] = qtime_now() - t0;
    }
    double *col = xmalloc((size_t)passes * sizeof(double)), sum = 0;
    for (int k = 0; k < r->split_n; k++) {
        for (int p = 0; p < passes; p++) col[p] = lin[(size_t)p * LLM_MAX_LINEARS + k];
        r->split_lin[k] = qmedian(col, passes);
        sum += r->split_lin[k];
    }
    r->split_act = qmedian(act, passes);
    r->split_head = qmedian(head, passes);
    r->split_step = qmedian(step, passes);
    r->split_rest = r->split_step - sum - r->split_act - r->split_head;
    free(col);
    free(lin);
    free(act);
    free(head);
    free(step);
}

/* Round i's bandwidth: the mean of the measurements before and after its decode (the one
 * that worked if the other failed). */
static double round_bandwidth(const LlmBenchResult *r, int i) {
    double a = r->round_bw_before[i], b = r->round_bw_after[i];
    return a > 0 && b > 0 ? 0.5 * (a + b) : a > b ? a : b;
}

int llm_bench(LlmModel *m, const LlmBenchOpts *o, LlmBenchResult *r, QErr *err) {
    memset(r, 0, sizeof *r);
    LlmConfig *c = &m->c;
    if (o->prompt_tokens < 1 || o->gen_tokens < 1 || o->rounds < 1 || o->rounds > LLM_BENCH_MAX_ROUNDS)
        return qerr_set(err, "bench: tokens must be >= 1 and rounds 1..%d", LLM_BENCH_MAX_ROUNDS);
    int ctx = o->prompt_tokens + o->gen_tokens;
    if (ctx > c->max_seq) return qerr_set(err, "bench: %d prompt + %d generated tokens exceed the model's context %d",
                                          o->prompt_tokens, o->gen_tokens, c->max_seq);
    c->max_seq = ctx;
    r->context = ctx;
    const int64_t D = c->dim, F = c->hidden_dim, V = c->vocab_size, L = c->n_layers, H = c->n_heads;
    const int64_t hs = D / H, kvd = c->n_kv_heads * hs, T = o->prompt_tokens;
    /* memory: weights, KV cache, the state's scratch (as llm_state_init allocates it) */
    double lin = 0;
    for (int l = 0; l < L; l++) {
        LlmLinear ls[LLM_MAX_LINEARS];
        int n = llm_block_linears(m, l, ls);
        for (int k = 0; k < n; k++) {
            lin += linear_bytes(&ls[k]);
            if (ls[k].packed) r->packed_bytes += linear_bytes(&ls[k]);
        }
    }
    /* the classifier and the embedding as the model holds them: fp32 (one tensor when tied; a
     * packed classifier dequantized for --kernels ref keeps both kinds), or packed (a quantized
     * file's untied classifier and lookup-only embedding); llm.h */
    const double VD = (double)V * D;
    const double head_mem = (m->head ? 4 * VD : 0) + (m->p_head ? qmat_bytes(m->p_head) : 0);
    const double emb_mem = m->tok_emb ? (m->tok_emb == m->head ? 0 : 4 * VD) : (m->p_emb ? qmat_bytes(m->p_emb) : 0);
    r->head_bytes = m->head ? 4 * VD : m->p_head ? qmat_bytes(m->p_head) : 0; /* what a classifier product reads */
    const double emb_row = m->tok_emb ? 4.0 * D : m->p_emb ? qmat_bytes(m->p_emb) / V : 0;
    double other = head_mem + emb_mem + 4.0 * (L * 2 * D + D + (m->pos_emb ? (double)c->max_seq * D : 0));
    r->weight_bytes = lin + other;
    r->kv_bytes = 2.0 * L * ctx * kvd * 4;
    /* a decode step reads every linear, the classifier, one embedding row, the norms, and the
     * KV cache up to its position (mean position over the generated tokens) */
    double kv_read = 2.0 * L * kvd * 4 * (o->prompt_tokens + 0.5 * o->gen_tokens);
    r->bytes_per_token = lin + r->head_bytes + emb_row + 4.0 * (L * 2 * D + D) + kv_read;

    LlmState s;
    llm_state_init(&s, m, (int)T);
    /* the state's fp32 scratch, and the packed linears' (forward.c: int8 activation blocks, or
     * one dequantized linear for --kernels ref) as allocated */
    r->act_bytes = 4.0 * (T * (4 * D + 2 * kvd + 2 * F + V) + H * T * ctx + ctx * hs) +
                   (s.xa ? (double)kern_qact_bytes(s.xa) : 0) + (s.xh ? (double)kern_qact_bytes(s.xh) : 0) +
                   (s.wdeq ? 4.0 * (F > D ? F : D) * D : 0);
    int32_t *tok = xmalloc((size_t)T * sizeof *tok);
    QRng rng;
    qrng_seed(&rng, o->seed);
    for (int i = 0; i < T; i++) tok[i] = (int32_t)qrng_below(&rng, (uint32_t)V);
    double *pt = xmalloc((size_t)o->rounds * sizeof(double)), *dt = xmalloc((size_t)o->rounds * sizeof(double));
    if (o->bandwidth) {
        r->round_decode_tps = xcalloc((size_t)o->rounds, sizeof(double));
        r->round_bw_before = xcalloc((size_t)o->rounds, sizeof(double));
        r->round_bw_after = xcalloc((size_t)o->rounds, sizeof(double));
        r->round_fraction = xcalloc((size_t)o->rounds, sizeof(double));
    }
    LlmSampler greedy = {0.0f, 1.0f, {0}};
    for (int round = -1; round < o->rounds; round++) { /* round -1: warm-up (page faults, pool start) */
        double t0 = qtime_now();
        /* the prompt's blocks for all T tokens, the classifier for the last one only (what a
         * generator needs, and what llama.cpp computes) */
        llm_embed(m, tok, (int)T, 0, s.x);
        for (int l = 0; l < L; l++) llm_block_forward(m, &s, l, s.x, (int)T, 0, NULL, NULL);
        llm_head_forward(m, s.x + (size_t)(T - 1) * D, 1, s.logits);
        double t1 = qtime_now();
        if (round >= 0 && o->bandwidth) r->round_bw_before[round] = o->bandwidth(o->bandwidth_ctx);
        double t1d = qtime_now(); /* the decode starts after the measurement */
        int32_t next = llm_sample(&greedy, s.logits, (int)V);
        const float *logits;
        for (int g = 0; g < o->gen_tokens; g++) {
            logits = llm_forward(m, &s, &next, 1, (int)T + g, NULL, NULL);
            next = llm_sample(&greedy, (float *)logits, (int)V);
        }
        double t2 = qtime_now();
        if (round >= 0) {
            pt[round] = t1 - t0;
            dt[round] = t2 - t1d;
        }
        if (round >= 0 && o->bandwidth) {
            r->round_bw_after[round] = o->bandwidth(o->bandwidth_ctx);
            double bw = round_bandwidth(r, round);
            r->round_decode_tps[round] = o->gen_tokens / dt[round];
            r->round_fraction[round] = bw > 0 ? r->round_decode_tps[round] * r->bytes_per_token / bw : 0;
        }
    }
    if (o->bandwidth) {
        double *bw = xmalloc((size_t)o->rounds * sizeof(double));
        for (int i = 0; i < o->rounds; i++) bw[i] = round_bandwidth(r, i);
        r->bandwidth = qmedian(bw, o->rounds);
        memcpy(bw, r->round_fraction, (size_t)o->rounds * sizeof(double));
        r->fraction = qmedian(bw, o->rounds);
        free(bw);
    }
    r->prompt_s = qmedian(pt, o->rounds);
    r->decode_s = qmedian(dt, o->rounds);
    r->prompt_tps = T / r->prompt_s;
    r->decode_tps = o->gen_tokens / r->decode_s;
    free(pt);
    free(dt);
    free(tok);
    decode_split(m, &s, 5, r);
    llm_state_free(&s);
    return 0;
}

void llm_bench_result_free(LlmBenchResult *r) {
    free(r->round_decode_tps);
    free(r->round_bw_before);
    free(r->round_bw_after);
    free(r->round_fraction);
    r->round_decode_tps = r->round_bw_before = r->round_bw_after = r->round_fraction = NULL;
}
