/* forward.c — the transformer forward pass for Llama and GPT-2 configurations (llm.h).
 * A call processes T tokens at positions pos0..pos0+T-1 with matrix-matrix products, and
 * appends their keys/values to the cache so later calls (generation) can continue. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "quant/kernels.h"
#include "quant/llm.h"

/* How much of the next linear's rows a pool worker may load while the caller computes alone
 * between two jobs (decode): more than a gap lasts; the worker stops when the job comes. */
enum { PREFETCH_BYTES = 1 << 20 };

void llm_state_init(LlmState *s, const LlmModel *m, int max_T) {
    const LlmConfig *c = &m->c;
    int D = c->dim, hs = D / c->n_heads, kvd = c->n_kv_heads * hs, F = c->hidden_dim;
    memset(s, 0, sizeof *s);
    s->max_T = max_T;
    s->x = xmalloc64((size_t)max_T * D * sizeof(float));
    s->xb = xmalloc64((size_t)max_T * D * sizeof(float));
    s->q = xmalloc64((size_t)max_T * D * sizeof(float));
    s->k = xmalloc64((size_t)max_T * kvd * sizeof(float));
    s->v = xmalloc64((size_t)max_T * kvd * sizeof(float));
    s->att_out = xmalloc64((size_t)max_T * D * sizeof(float));
    s->h1 = xmalloc64((size_t)max_T * F * sizeof(float));
    s->h2 = xmalloc64((size_t)max_T * F * sizeof(float));
    s->scores = xmalloc64((size_t)c->n_heads * max_T * c->max_seq * sizeof(float));
    s->kcache = xmalloc64((size_t)c->n_layers * c->max_seq * kvd * sizeof(float));
    s->vcache = xmalloc64((size_t)c->n_layers * c->max_seq * kvd * sizeof(float));
    s->logits = xmalloc64((size_t)max_T * c->vocab_size * sizeof(float));
    s->rope = xmalloc((size_t)c->max_seq * hs * sizeof(float));
    if (llm_has_packed(m)) { /* scratch for the packed linears, allocated once (none per token) */
        if (m->kernels == LLM_KERNELS_REF) {
            int64_t most = (int64_t)F * D > (int64_t)D * D ? (int64_t)F * D : (int64_t)D * D;
            s->wdeq = xmalloc((size_t)most * sizeof(float));
        } else {
            s->xa = xmalloc(sizeof *s->xa);
            kern_qact_init(s->xa, max_T, F > D ? F : D);
            /* the gated FFN's int8 output: decode steps only (ffn_in), and only a packed gate and up make it */
            int gated = 0;
            for (int l = 0; l < c->n_layers; l++) gated |= m->layers[l].p_gate && m->layers[l].p_up;
            if (gated) {
                s->xh = xmalloc(sizeof *s->xh);
                kern_qact_init(s->xh, max_T < KERN_QACT_DOT_T ? max_T : KERN_QACT_DOT_T, F);
            }
        }
    }
    for (int p = 0; p < c->max_seq; p++)
        for (int i = 0; i < hs / 2; i++) {
            double freq = 1.0 / pow((double)c->rope_theta, (double)(2 * i) / hs), a = p * freq;
            s->rope[(size_t)p * hs + 2 * i] = (float)cos(a);
            s->rope[(size_t)p * hs + 2 * i + 1] = (float)sin(a);
        }
}

void llm_state_free(LlmState *s) {
    free(s->x);
    free(s->xb);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att_out);
    free(s->h1);
    free(s->h2);
    free(s->scores);
    free(s->kcache);
    free(s->vcache);
    free(s->logits);
    free(s->rope);
    free(s->wdeq);
    if (s->xa) kern_qact_free(s->xa);
    free(s->xa);
    if (s->xh) kern_qact_free(s->xh);
    free(s->xh);
    memset(s, 0, sizeof *s);
}

void llm_embed(const LlmModel *m, const int32_t *tokens, int T, int pos0, float *x) {
    int D = m->c.dim;
    for (int t = 0; t < T; t++) {
        if (m->tok_emb) memcpy(x + (size_t)t * D, m->tok_emb + (size_t)tokens[t] * D, (size_t)D * sizeof(float));
        else kern_qmat_dequant_rows(m->p_emb, tokens[t], tokens[t] + 1, x + (size_t)t * D); /* packed: the row only */
        if (m->pos_emb)
            for (int i = 0; i < D; i++) x[(size_t)t * D + i] += m->pos_emb[(size_t)(pos0 + t) * D + i];
    }
}

/* out [T, D] = norm(x [T, D]): RMSNorm (Llama) or LayerNorm with bias (GPT-2). */
static void norm_rows(const LlmModel *m, float *out, const float *x, const float *w, const float *b, int T) {
    int D = m->c.dim;
    float eps = m->c.norm_eps;
    for (int t = 0; t < T; t++) {
        const float *xi = x + (size_t)t * D;
        float *o = out + (size_t)t * D;
        if (m->c.arch == LLM_ARCH_GPT2) {
            double mean = 0, var = 0;
            for (int i = 0; i < D; i++) mean += xi[i];
            mean /= D;
            for (int i = 0; i < D; i++) var += (xi[i] - mean) * (xi[i] - mean);
            var /= D;
            float r = 1.0f / sqrtf((float)var + eps);
            for (int i = 0; i < D; i++) o[i] = (float)(xi[i] - mean) * r * w[i] + (b ? b[i] : 0.0f);
        } else {
            float ss = 0;
            for (int i = 0; i < D; i++) ss += xi[i] * xi[i];
            float r = 1.0f / sqrtf(ss / D + eps);
            for (int i = 0; i < D; i++) o[i] = w[i] * (r * xi[i]);
        }
    }
}

typedef struct NormJob {
    const LlmModel *m;
    float *out;
    const float *x, *w, *b;
    int T;
} NormJob;

static void norm_tile(void *arg, int i) {
    const NormJob *j = arg;
    const size_t D = (size_t)j->m->c.dim, t0 = (size_t)i * 16;
    int n = j->T - (int)t0 < 16 ? j->T - (int)t0 : 16;
    norm_rows(j->m, j->out + t0 * D, j->x + t0 * D, j->w, j->b, n);
}

/* norm_rows, a prompt's tokens 16 to a pool tile (each row's sum is the same either way) */
static void norm(const LlmModel *m, float *out, const float *x, const float *w, const float *b, int T) {
    NormJob j = {m, out, x, w, b, T};
    kern_parallel_tiles((T + 15) / 16, norm_tile, &j, T >= 32);
}

/* Rotary embedding on vec [n_heads_here * hs] at position pos; tab holds cos/sin
 * [S, hs/2, 2] computed once per state. */
static void rope(const LlmConfig *c, const float *tab, float *vec, int nh, int hs, int pos) {
    const float *row = tab + (size_t)pos * hs;
    for (int h = 0; h < nh; h++) {
        float *v = vec + (size_t)h * hs;
        for (int i = 0; i < hs / 2; i++) {
            float cs = row[2 * i], sn = row[2 * i + 1];
            int i0 = c->rope_interleaved ? 2 * i : i, i1 = c->rope_interleaved ? 2 * i + 1 : i + hs / 2;
            float v0 = v[i0], v1 = v[i1];
            v[i0] = v0 * cs - v1 * sn;
            v[i1] = v0 * sn + v1 * cs;
        }
    }
}

/* A site's input X [T, K], once for all its linears: int8 blocks for the integer kernels. */
static void site_input(LlmState *s, const float *X, int T, int K) {
    if (s->xa) kern_qact_quantize(s->xa, X, T, K);
}

/* Y [T, N] = X [T, K] W^T + b for either kind of linear: fp32 W (BLAS), or packed P —
 * integer kernels on the site's quantized input, or (reference) dequantized then BLAS, which
 * gives exactly what an fp32 model holding the dequantized weights gives. */
static void linear_forward(const LlmModel *m, LlmState *s, const float *W, const KernQMat *P, const float *b, int T, int N,
                           int K, const float *X, float *Y) {
    if (!P) {
        kern_linear_f32(T, N, K, X, W, b, Y);
    } else if (s->xa) {
        kern_qmat_linear(P, s->xa, b, Y, m->isa);
    } else {
        kern_qmat_dequant(P, s->wdeq);
        kern_linear_f32(T, N, K, X, s->wdeq, b, Y);
    }
}

static float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

/* One head's causal attention for T queries at positions pos0..: keys and values of positions
 * 0 .. pos0+T-1 in k, v (row stride ldkv), queries q (stride ldq), output o (stride ldo), by
 * blocks of AB query rows: A [rows, n] = Q K^T / sqrt(hs) (masked beyond each token's
 * position), softmax by row, O = A V.  A block of rows ending at token t needs only the
 * n = pos0 + t + 1 keys before it, which halves the work of a full window.  A: scratch of
 * AB x (pos0 + T) floats. */
enum { AB = 64 };
static void attend_head(const float *q, int ldq, const float *k, const float *v, int ldkv, int hs, int T, int pos0, float *A,
                        float *o, int ldo) {
    const float scale = 1.0f / sqrtf((float)hs);
    for (int t0 = 0; t0 < T; t0 += AB) {
        const int rows = T - t0 < AB ? T - t0 : AB, n = pos0 + t0 + rows;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, hs, scale, q + (size_t)t0 * ldq, ldq, k, ldkv, 0.0f, A, n);
        for (int r = 0; r < rows; r++) {
            float *a = A + (size_t)r * n;
            int len = pos0 + t0 + r + 1;
            q_softmax_f32(a, len);
            if (len < n) memset(a + len, 0, (size_t)(n - len) * sizeof(float));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hs, n, 1.0f, A, n, v, ldkv, 0.0f, o + (size_t)t0 * ldo, ldo);
    }
}

/* The prompt's attention, one head per pool tile. */
typedef struct HeadsJob {
    const float *q, *kc, *vc;
    float *scores, *out;
    size_t kvh_stride;
    int D, ldkv, hs, T, pos0, S, group; /* group: query heads per key/value head */
} HeadsJob;

static void prompt_head(void *arg, int h) {
    const HeadsJob *j = arg;
    const int kvh = h / j->group;
    attend_head(j->q + (size_t)h * j->hs, j->D, j->kc + kvh * j->kvh_stride, j->vc + kvh * j->kvh_stride, j->ldkv, j->hs, j->T,
                j->pos0, j->scores + (size_t)h * j->T * j->S, j->out + (size_t)h * j->hs, j->D);
}

/* s->att_out [T, D] = causal attention of the block's q, k, v on norm(x) for positions pos0..
 * (the o linear's input), the keys and values appended to the cache; hooks at QKV. */
static void attn_in(const LlmModel *m, LlmState *s, int layer, const float *x, int T, int pos0, LlmHook hook, void *ctx) {
    const LlmConfig *c = &m->c;
    const LlmLayer *l = &m->layers[layer];
    const int D = c->dim, H = c->n_heads, Hkv = c->n_kv_heads, hs = D / H, kvd = Hkv * hs, S = c->max_seq;
    float *kc = s->kcache + (size_t)layer * S * kvd, *vc = s->vcache + (size_t)layer * S * kvd;

    norm(m, s->xb, x, l->attn_norm, l->attn_norm_b, T);
    if (hook) hook(ctx, layer, LLM_SITE_QKV, s->xb, T, D);
    site_input(s, s->xb, T, D);
    if (l->pq && l->pk && l->pv && s->xa) { /* one hand-off to the pool for the three */
        const KernQMat *W[3] = {l->pq, l->pk, l->pv};
        const float *b[3] = {l->bq, l->bk, l->bv};
        float *Y[3] = {s->q, s->k, s->v};
        kern_qmat_linear_n(3, W, s->xa, b, Y, m->isa);
        if (T <= KERN_QACT_DOT_T && l->po) kern_qmat_prefetch(1, &l->po, 0, PREFETCH_BYTES);
    } else {
        linear_forward(m, s, l->wq, l->pq, l->bq, T, D, D, s->xb, s->q);
        linear_forward(m, s, l->wk, l->pk, l->bk, T, kvd, D, s->xb, s->k);
        linear_forward(m, s, l->wv, l->pv, l->bv, T, kvd, D, s->xb, s->v);
    }
    const int ldkv = hs;                        /* the cache [L][Hkv][S][hs]: a kv head's rows */
    const size_t kvh_stride = (size_t)S * hs;  /* contiguous, read as one stream */
    for (int t = 0; t < T; t++) {
        if (c->arch == LLM_ARCH_LLAMA) {
            rope(c, s->rope, s->q + (size_t)t * D, H, hs, pos0 + t);
            rope(c, s->rope, s->k + (size_t)t * kvd, Hkv, hs, pos0 + t);
        }
        for (int h = 0; h < Hkv; h++) {
            const size_t at = h * kvh_stride + (size_t)(pos0 + t) * ldkv;
            memcpy(kc + at, s->k + (size_t)t * kvd + (size_t)h * hs, (size_t)hs * sizeof(float));
            memcpy(vc + at, s->v + (size_t)t * kvd + (size_t)h * hs, (size_t)hs * sizeof(float));
        }
    }
    if (T <= KERN_QACT_DOT_T) { /* decode: a few tokens against the cache, heads over the pool */
        kern_attention_f32(T, pos0, H, Hkv, hs, s->q, D, kc, vc, ldkv, kvh_stride, s->scores, s->att_out, D);
        return;
    }
    /* a prompt: heads over the kernels' pool, each head's products on one BLAS thread.  BLAS
     * threads inside the pool's would oversubscribe the cores and spin (a 128-token prompt of
     * a 1.1B model spent as long in OpenBLAS's spin-wait as in its linears); an OpenMP team
     * here left its threads spinning after the region, beside the pool's (9% of a prompt). */
    HeadsJob j = {s->q, kc, vc, s->scores, s->att_out, kvh_stride, D, ldkv, hs, T, pos0, S, H / Hkv};
    const int blas_old = qblas_threads_swap(1);
    kern_parallel_tiles(H, prompt_head, &j, (int64_t)T * (pos0 + T) * D > (1 << 22));
    qblas_threads_swap(blas_old);
}

/* s->h1 [T, F] = the FFN hidden of norm(x) (the down linear's input); hooks at UP.  Returns
 * the down linear's input already quantized (s->xh) when the gated FFN's job made it, else NULL. */
static KernQAct *ffn_in(const LlmModel *m, LlmState *s, int layer, const float *x, int T, LlmHook hook, void *ctx) {
    const LlmLayer *l = &m->layers[layer];
    const int D = m->c.dim, F = m->c.hidden_dim;
    norm(m, s->xb, x, l->ffn_norm, l->ffn_norm_b, T);
    if (hook) hook(ctx, layer, LLM_SITE_UP, s->xb, T, D);
    site_input(s, s->xb, T, D);
    if (l->p_gate && l->p_up && s->xa && T <= KERN_QACT_DOT_T) {
        /* decode: one hand-off for gate, up, SwiGLU and the down's int8 input; not with a hook
         * (at DOWN it may change h1 before h1 is quantized) or an fp32 down */
        KernQAct *hq = hook || !l->p_down ? NULL : s->xh;
        kern_qmat_swiglu(l->p_gate, l->p_up, s->xa, NULL, l->b_up, s->h1, s->h2, hq, m->isa);
        if (l->p_down) kern_qmat_prefetch(1, &l->p_down, 0, PREFETCH_BYTES);
        return hq;
    }
    if (l->p_gate && l->p_up && s->xa) { /* a prompt: one hand-off for the two, then the SwiGLU in
                                           * one pass (per tile, its 32-wide pieces cost 2%) */
        const KernQMat *W[2] = {l->p_gate, l->p_up};
        const float *b[2] = {NULL, l->b_up};
        float *Y[2] = {s->h1, s->h2};
        kern_qmat_linear_n(2, W, s->xa, b, Y, m->isa);
        kern_swiglu_f32((size_t)T * F, s->h1, s->h2);
        return NULL;
    }
    linear_forward(m, s, l->w_up, l->p_up, l->b_up, T, F, D, s->xb, s->h2);
    if (l->w_gate || l->p_gate) {
        linear_forward(m, s, l->w_gate, l->p_gate, NULL, T, F, D, s->xb, s->h1);
        kern_swiglu_f32((size_t)T * F, s->h1, s->h2);
    } else {
        for (size_t i = 0; i < (size_t)T * F; i++) s->h1[i] = gelu_tanh(s->h2[i]);
    }
    return NULL;
}

void llm_block_forward(const LlmModel *m, LlmState *s, int layer, float *x, int T, int pos0, LlmHook hook, void *ctx) {
    const LlmLayer *l = &m->layers[layer];
    const int D = m->c.dim, F = m->c.hidden_dim;
    attn_in(m, s, layer, x, T, pos0, hook, ctx);
    if (hook) hook(ctx, layer, LLM_SITE_O, s->att_out, T, D);
    site_input(s, s->att_out, T, D);
    linear_forward(m, s, l->wo, l->po, l->bo, T, D, D, s->att_out, s->xb);
    if (T <= KERN_QACT_DOT_T && s->xa && l->p_gate && l->p_up) {
        const KernQMat *W[2] = {l->p_gate, l->p_up};
        kern_qmat_prefetch(2, W, 1, PREFETCH_BYTES);
    }
    kern_add_f32((size_t)T * D, x, s->xb);

    KernQAct *hq = ffn_in(m, s, layer, x, T, hook, ctx);
    if (hook) hook(ctx, layer, LLM_SITE_DOWN, s->h1, T, F);
    if (hq) {
        kern_qmat_linear(l->p_down, hq, l->b_down, s->xb, m->isa);
        if (T <= KERN_QACT_DOT_T && layer + 1 < m->c.n_layers) {
            const LlmLayer *n = &m->layers[layer + 1];
            if (n->pq && n->pk && n->pv) {
                const KernQMat *W[3] = {n->pq, n->pk, n->pv};
                kern_qmat_prefetch(3, W, 0, PREFETCH_BYTES);
            }
        }
    } else {
        site_input(s, s->h1, T, F);
        linear_forward(m, s, l->w_down, l->p_down, l->b_down, T, D, F, s->h1, s->xb);
    }
    kern_add_f32((size_t)T * D, x, s->xb);
}

size_t llm_site_in_work_floats(const LlmConfig *c, int64_t rows) {
    const int64_t hs = c->dim / c->n_heads, qkv = c->dim + 2 * c->n_kv_heads * hs;
    return (size_t)(rows * (c->dim + (qkv > c->hidden_dim ? qkv : c->hidden_dim)));
}

void llm_block_site_in_windows(const LlmModel *m, const LlmState *s, int layer, LlmSite site, const float *x, int nw, int S,
                               float *work, float *out) {
    const LlmConfig *c = &m->c;
    const LlmLayer *l = &m->layers[layer];
    const int D = c->dim, H = c->n_heads, Hkv = c->n_kv_heads, hs = D / H, kvd = Hkv * hs, F = c->hidden_dim;
    const int rows = nw * S;
    const float *nw_ = site == LLM_SITE_QKV || site == LLM_SITE_O ? l->attn_norm : l->ffn_norm;
    const float *nb = site == LLM_SITE_QKV || site == LLM_SITE_O ? l->attn_norm_b : l->ffn_norm_b;
    /* work: the normed rows [rows, D], then q, k, v or the up products */
    float *xn = site == LLM_SITE_QKV || site == LLM_SITE_UP ? out : work, *rest = work + (size_t)rows * D;
#pragma omp parallel for schedule(static)
    for (int w = 0; w < nw; w++) norm(m, xn + (size_t)w * S * D, x + (size_t)w * S * D, nw_, nb, S);
    if (site == LLM_SITE_QKV || site == LLM_SITE_UP) return;
    int blas_old;
    if (site == LLM_SITE_O) {
        float *q = rest, *k = q + (size_t)rows * D, *v = k + (size_t)rows * kvd;
        kern_linear_f32(rows, D, D, xn, l->wq, l->bq, q);
        kern_linear_f32(rows, kvd, D, xn, l->wk, l->bk, k);
        kern_linear_f32(rows, kvd, D, xn, l->wv, l->bv, v);
        blas_old = qblas_threads_swap(1);
#pragma omp parallel
        {
            float *A = xmalloc((size_t)AB * S * sizeof(float));
            if (c->arch == LLM_ARCH_LLAMA)
#pragma omp for schedule(static)
                for (int r = 0; r < rows; r++) {
                    rope(c, s->rope, q + (size_t)r * D, H, hs, r % S);
                    rope(c, s->rope, k + (size_t)r * kvd, Hkv, hs, r % S);
                }
#pragma omp for schedule(static) collapse(2)
            for (int w = 0; w < nw; w++)
                for (int h = 0; h < H; h++) {
                    const size_t r0 = (size_t)w * S;
                    const int kvh = h / (H / Hkv);
                    attend_head(q + r0 * D + (size_t)h * hs, D, k + r0 * kvd + (size_t)kvh * hs, v + r0 * kvd + (size_t)kvh * hs,
                                kvd, hs, S, 0, A, out + r0 * D + (size_t)h * hs, D);
                }
            free(A);
        }
        qblas_threads_swap(blas_old);
        return;
    }
    /* DOWN: the up products in rest, the gate's (then the hidden) in out */
    float *up = rest;
    kern_linear_f32(rows, F, D, xn, l->w_up, l->b_up, up);
    if (l->w_gate) {
        kern_linear_f32(rows, F, D, xn, l->w_gate, NULL, out);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)rows * F; i++) {
            float g = out[i];
            out[i] = g / (1.0f + q_expf(-g)) * up[i];
        }
    } else {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)rows * F; i++) out[i] = gelu_tanh(up[i]);
    }
}

/* The classifier on x [T, D] (final norm in place); a packed one quantizes x into xa, or into
 * buffers of its own when xa is NULL or too small. */
static void head_forward(const LlmModel *m, KernQAct *xa, float *x, int T, float *logits) {
    norm(m, x, x, m->final_norm, m->final_norm_b, T);
    if (m->head) {
        kern_linear_f32(T, m->c.vocab_size, m->c.dim, x, m->head, NULL, logits); /* one product per call */
        return;
    }
    /* a packed classifier: the integer kernels on x in int8 blocks, one product per call */
    KernQAct own;
    const int mine = !xa || xa->max_T < T || xa->max_nb * 32 < m->c.dim;
    if (mine) kern_qact_init(xa = &own, T, m->c.dim);
    kern_qact_quantize(xa, x, T, m->c.dim);
    kern_qmat_linear(m->p_head, xa, NULL, logits, m->isa);
    if (mine) kern_qact_free(&own);
}

void llm_head_forward(const LlmModel *m, float *x, int T, float *logits) { head_forward(m, NULL, x, T, logits); }

float *llm_forward(const LlmModel *m, LlmState *s, const int32_t *tokens, int T, int pos0, LlmHook hook, void *ctx) {
    llm_embed(m, tokens, T, pos0, s->x);
    for (int l = 0; l < m->c.n_layers; l++) llm_block_forward(m, s, l, s->x, T, pos0, hook, ctx);
    head_forward(m, s->xa, s->x, T, s->logits); /* a token allocates nothing */
    return s->logits;
}
