/* tune.c — block-wise reconstruction after GPTQ (llm_ptq.h, llm_block_tune).
 *
 * GPTQ chooses every weight's integer code one layer at a time against that layer's own output.
 * Here, with the codes held fixed, the block's continuous quantization parameters (the scale of
 * every group, as a multiplier exp(theta) of GPTQ's scale) and its two RMSNorm weight vectors
 * (exp(phi) of theirs) are trained together with Adam so that the whole quantized block, fed the
 * quantized model's inputs Xq, reproduces the fp32 block's output on the fp32 model's inputs:
 *
 *     min  || block_q(Xq) - block_fp32(Xf) ||^2          (BRECQ / OmniQuant-style, scales only)
 *
 * The loss sees what a layer-wise objective cannot: how a q/k error moves the softmax, and
 * errors of one linear that another can cancel.  The gradient needs no straight-through
 * estimator: w = s * (q - z) is differentiable in s.  Forward and backward of a block are
 * written out below, one window at a time: Llama (RMSNorm, RoPE, causal grouped-query attention,
 * SwiGLU) and GPT-2 (LayerNorm, biases, GELU; the biases stay fixed);
 * tests/test_llm_tune.c checks them against the runtime's forward and finite differences. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "quant/kernels.h"
#include "quant/llm_ptq.h"

/* query rows per block of the causal attention (a test sets fewer, to cross block edges) */
#ifndef TUNE_ATT_ROWS
#define TUNE_ATT_ROWS 64
#endif
enum { AB = TUNE_ATT_ROWS };

/* Everything one window's forward keeps for its backward, and the backward's scratch. */
typedef struct Work {
    int T;
    float *xh1, *r1, *xn1, *q, *k, *v, *P, *ao, *x2, *xh2, *r2, *xn2, *a, *b, *hdn, *y;
    float *dy, *dxn, *dh, *da, *db, *dao, *dq, *dk, *dv, *dP, *dx2;
} Work;

typedef struct Grads {
    float *dW[LLM_MAX_LINEARS];   /* [out, in] */
    double *dg1, *dg2;            /* [D] norm weights */
    double loss;
} Grads;

/* The block's current parameters (effective weights, norms) and its shape. */
typedef struct Blk {
    const LlmConfig *c;
    int nl;
    int gpt2;                        /* LayerNorm, biases, GELU, no RoPE, no gate */
    int up, down;                    /* indices of up and down in W: 5, 6 (Llama) or 4, 5 (GPT-2) */
    const float *W[LLM_MAX_LINEARS]; /* q, k, v, o, [gate,] up, down */
    const float *bias[LLM_MAX_LINEARS]; /* GPT-2 biases (fixed) or NULL */
    int in[LLM_MAX_LINEARS], out[LLM_MAX_LINEARS];
    const float *g1, *g2;            /* norm weights (tuned) */
    const float *nb1, *nb2;          /* LayerNorm biases (fixed) or NULL */
    const float *rope;               /* [S, hs/2, 2] (Llama) */
} Blk;

static void work_init(Work *w, const LlmConfig *c, int T) {
    const int D = c->dim, F = c->hidden_dim, H = c->n_heads, kvd = c->n_kv_heads * (D / H);
    size_t td = (size_t)T * D, tf = (size_t)T * F, tk = (size_t)T * kvd;
    w->T = T;
    float **bufs[] = {&w->xh1, &w->xn1, &w->q, &w->ao, &w->x2, &w->xh2, &w->xn2, &w->y, &w->dy, &w->dxn, &w->dao, &w->dq, &w->dx2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) *bufs[i] = xmalloc(td * sizeof(float));
    float **fb[] = {&w->a, &w->b, &w->hdn, &w->dh, &w->da, &w->db};
    for (size_t i = 0; i < sizeof fb / sizeof *fb; i++) *fb[i] = xmalloc(tf * sizeof(float));
    w->k = xmalloc(tk * sizeof(float));
    w->v = xmalloc(tk * sizeof(float));
    w->dk = xmalloc(tk * sizeof(float));
    w->dv = xmalloc(tk * sizeof(float));
    w->r1 = xmalloc((size_t)T * sizeof(float));
    w->r2 = xmalloc((size_t)T * sizeof(float));
    w->P = xmalloc((size_t)H * T * T * sizeof(float));
    w->dP = xmalloc((size_t)T * T * sizeof(float));
}

static void work_free(Work *w) {
    float *all[] = {w->xh1, w->r1, w->xn1, w->q, w->k, w->v, w->P, w->ao, w->x2, w->xh2, w->r2, w->xn2, w->a, w->b,
                    w->hdn, w->y, w->dy, w->dxn, w->dh, w->da, w->db, w->dao, w->dq, w->dk, w->dv, w->dP, w->dx2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

/* Y [T, out] = X [T, in] W^T */
static void lin_fwd(int T, int in, int out, const float *X, const float *W, float *Y) {
    kern_sgemm(0, 1, T, out, in, 1.0f, X, in, W, in, 0.0f, Y, out);
}
/* dW += dY^T X;  dX (=, or += when acc) dY W */
static void lin_bwd(int T, int in, int out, const float *X, const float *W, const float *dY, float *dW, float *dX, int acc) {
    kern_sgemm(1, 0, out, in, T, 1.0f, dY, out, X, in, 1.0f, dW, in);
    if (dX) kern_sgemm(0, 0, T, in, out, 1.0f, dY, out, W, in, acc ? 1.0f : 0.0f, dX, in);
}

/* The block's norms as llm_block_forward computes them, xh the normalized input, out = g xh (+ bias):
 * RMSNorm (Llama) xh = x r, r = 1 / sqrt(mean(x^2) + eps); LayerNorm (GPT-2, ln)
 * xh = (x - mean) r, r = 1 / sqrt(var + eps). */
static void norm_fwd(int ln, int T, int D, float eps, const float *x, const float *g, const float *bias, float *xh, float *r,
                     float *out) {
    for (int t = 0; t < T; t++) {
        const float *xi = x + (size_t)t * D;
        float *h = xh + (size_t)t * D, *o = out + (size_t)t * D;
        if (ln) {
            double mean = 0, var = 0;
            for (int i = 0; i < D; i++) mean += xi[i];
            mean /= D;
            for (int i = 0; i < D; i++) var += (xi[i] - mean) * (xi[i] - mean);
            var /= D;
            r[t] = 1.0f / sqrtf((float)var + eps);
            for (int i = 0; i < D; i++) {
                h[i] = (float)(xi[i] - mean) * r[t];
                o[i] = h[i] * g[i] + (bias ? bias[i] : 0.0f);
            }
        } else {
            float ss = 0;
            for (int i = 0; i < D; i++) ss += xi[i] * xi[i];
            r[t] = 1.0f / sqrtf(ss / D + eps);
            for (int i = 0; i < D; i++) {
                h[i] = r[t] * xi[i];
                o[i] = g[i] * h[i];
            }
        }
    }
}
/* from dout: dg += sum_t dout xh;  with dxh = dout g,
 * RMSNorm dx += r (dxh - xh mean(dxh xh)),  LayerNorm dx += r (dxh - mean(dxh) - xh mean(dxh xh)) */
static void norm_bwd(int ln, int T, int D, const float *xh, const float *r, const float *g, const float *dout, double *dg,
                     float *dx) {
    for (int t = 0; t < T; t++) {
        const float *h = xh + (size_t)t * D, *d = dout + (size_t)t * D;
        double dot = 0, sum = 0;
        for (int i = 0; i < D; i++) {
            dg[i] += (double)d[i] * h[i];
            dot += (double)d[i] * g[i] * h[i];
            sum += (double)d[i] * g[i];
        }
        float m = (float)(dot / D), mu = ln ? (float)(sum / D) : 0.0f;
        for (int i = 0; i < D; i++) dx[(size_t)t * D + i] += r[t] * (d[i] * g[i] - mu - h[i] * m);
    }
}

/* GELU (tanh approximation, as the runtime) and its derivative */
static const float GELU_A = 0.7978845608028654f, GELU_B = 0.044715f;
static inline float gelu(float u) { return 0.5f * u * (1.0f + tanhf(GELU_A * (u + GELU_B * u * u * u))); }
static inline float gelu_grad(float u) {
    float t = tanhf(GELU_A * (u + GELU_B * u * u * u));
    return 0.5f * (1.0f + t) + 0.5f * u * (1.0f - t * t) * GELU_A * (1.0f + 3.0f * GELU_B * u * u);
}

static void add_bias(int T, int n, float *Y, const float *bias) {
    if (bias)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < n; j++) Y[(size_t)t * n + j] += bias[j];
}

/* rotate (dir = +1) or rotate back (dir = -1, the transpose: the backward) each head of vec */
static void rope_apply(const LlmConfig *c, const float *tab, float *vec, int nh, int hs, int pos, int dir) {
    const float *row = tab + (size_t)pos * hs;
    for (int h = 0; h < nh; h++) {
        float *v = vec + (size_t)h * hs;
        for (int i = 0; i < hs / 2; i++) {
            float cs = row[2 * i], sn = dir * row[2 * i + 1];
            int i0 = c->rope_interleaved ? 2 * i : i, i1 = c->rope_interleaved ? 2 * i + 1 : i + hs / 2;
            float v0 = v[i0], v1 = v[i1];
            v[i0] = v0 * cs - v1 * sn;
            v[i1] = v0 * sn + v1 * cs;
        }
    }
}

/* Forward of one window x [T, D] -> w->y, keeping what the backward needs. */
static void block_fwd(const Blk *b, Work *w, const float *x) {
    const LlmConfig *c = b->c;
    const int T = w->T, D = c->dim, H = c->n_heads, Hkv = c->n_kv_heads, hs = D / H, kvd = Hkv * hs, F = c->hidden_dim;
    norm_fwd(b->gpt2, T, D, c->norm_eps, x, b->g1, b->nb1, w->xh1, w->r1, w->xn1);
    lin_fwd(T, D, D, w->xn1, b->W[0], w->q);
    lin_fwd(T, D, kvd, w->xn1, b->W[1], w->k);
    lin_fwd(T, D, kvd, w->xn1, b->W[2], w->v);
    add_bias(T, D, w->q, b->bias[0]);
    add_bias(T, kvd, w->k, b->bias[1]);
    add_bias(T, kvd, w->v, b->bias[2]);
    if (!b->gpt2)
        for (int t = 0; t < T; t++) {
            rope_apply(c, b->rope, w->q + (size_t)t * D, H, hs, t, 1);
            rope_apply(c, b->rope, w->k + (size_t)t * kvd, Hkv, hs, t, 1);
        }
    /* by blocks of AB query rows, as in the runtime (forward.c): the rows [t0, t0 + rows) see
     * the n = t0 + rows first keys; P of head h keeps the block at P_h + t0 T, row stride n */
    const float scale = 1.0f / sqrtf((float)hs);
    for (int h = 0; h < H; h++) {
        int kvh = h / (H / Hkv);
        for (int t0 = 0; t0 < T; t0 += AB) {
            const int rows = T - t0 < AB ? T - t0 : AB, n = t0 + rows;
            float *A = w->P + (size_t)h * T * T + (size_t)t0 * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, hs, scale, w->q + (size_t)t0 * D + (size_t)h * hs, D,
                        w->k + (size_t)kvh * hs, kvd, 0.0f, A, n);
            for (int r = 0; r < rows; r++) {
                float *a = A + (size_t)r * n;
                q_softmax_f32(a, t0 + r + 1);
                memset(a + t0 + r + 1, 0, (size_t)(rows - r - 1) * sizeof(float));
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hs, n, 1.0f, A, n, w->v + (size_t)kvh * hs, kvd, 0.0f,
                        w->ao + (size_t)t0 * D + (size_t)h * hs, D);
        }
    }
    lin_fwd(T, D, D, w->ao, b->W[3], w->x2);
    add_bias(T, D, w->x2, b->bias[3]);
    for (size_t i = 0; i < (size_t)T * D; i++) w->x2[i] += x[i];
    norm_fwd(b->gpt2, T, D, c->norm_eps, w->x2, b->g2, b->nb2, w->xh2, w->r2, w->xn2);
    if (b->gpt2) { /* a = up pre-activation, hdn = gelu(a) */
        lin_fwd(T, D, F, w->xn2, b->W[b->up], w->a);
        add_bias(T, F, w->a, b->bias[b->up]);
        for (size_t i = 0; i < (size_t)T * F; i++) w->hdn[i] = gelu(w->a[i]);
    } else { /* a = gate, b = up, hdn = silu(a) b */
        lin_fwd(T, D, F, w->xn2, b->W[4], w->a);
        lin_fwd(T, D, F, w->xn2, b->W[5], w->b);
#pragma omp simd
        for (size_t i = 0; i < (size_t)T * F; i++) w->hdn[i] = w->a[i] / (1.0f + q_expf(-w->a[i])) * w->b[i];
    }
    lin_fwd(T, F, D, w->hdn, b->W[b->down], w->y);
    add_bias(T, D, w->y, b->bias[b->down]);
    for (size_t i = 0; i < (size_t)T * D; i++) w->y[i] += w->x2[i];
}

/* Backward of block_fwd from dy = dL/dy [T, D]: adds the weight and norm gradients to g and,
 * when dx != NULL, writes dL/dx (the block input's gradient) to dx. */
static void block_bwd_dy(const Blk *b, Work *w, const float *dy, Grads *g, float *dx) {
    const LlmConfig *c = b->c;
    const int T = w->T, D = c->dim, H = c->n_heads, Hkv = c->n_kv_heads, hs = D / H, kvd = Hkv * hs, F = c->hidden_dim;
    /* y = x2 + hdn Wd^T */
    memcpy(w->dx2, dy, (size_t)T * D * sizeof(float));
    lin_bwd(T, F, D, w->hdn, b->W[b->down], dy, g->dW[b->down], w->dh, 0);
    if (b->gpt2) {
        for (size_t i = 0; i < (size_t)T * F; i++) w->da[i] = w->dh[i] * gelu_grad(w->a[i]);
        lin_bwd(T, D, F, w->xn2, b->W[b->up], w->da, g->dW[b->up], w->dxn, 0);
    } else {
        for (size_t i = 0; i < (size_t)T * F; i++) {
            float a = w->a[i], sg = 1.0f / (1.0f + q_expf(-a));
            w->db[i] = w->dh[i] * a * sg;
            w->da[i] = w->dh[i] * w->b[i] * sg * (1.0f + a * (1.0f - sg));
        }
        lin_bwd(T, D, F, w->xn2, b->W[4], w->da, g->dW[4], w->dxn, 0);
        lin_bwd(T, D, F, w->xn2, b->W[5], w->db, g->dW[5], w->dxn, 1);
    }
    norm_bwd(b->gpt2, T, D, w->xh2, w->r2, b->g2, w->dxn, g->dg2, w->dx2);
    /* x2 = x + ao Wo^T */
    lin_bwd(T, D, D, w->ao, b->W[3], w->dx2, g->dW[3], w->dao, 0);
    memset(w->dk, 0, (size_t)T * kvd * sizeof(float));
    memset(w->dv, 0, (size_t)T * kvd * sizeof(float));
    const float scale = 1.0f / sqrtf((float)hs);
    for (int h = 0; h < H; h++) {
        int kvh = h / (H / Hkv);
        for (int t0 = 0; t0 < T; t0 += AB) { /* the forward's blocks of query rows */
            const int rows = T - t0 < AB ? T - t0 : AB, n = t0 + rows;
            const float *A = w->P + (size_t)h * T * T + (size_t)t0 * T;
            const float *dao = w->dao + (size_t)t0 * D + (size_t)h * hs;
            /* dP = dao_h V^T;  dV += P^T dao_h */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, hs, 1.0f, dao, D, w->v + (size_t)kvh * hs, kvd, 0.0f,
                        w->dP, n);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hs, rows, 1.0f, A, n, dao, D, 1.0f, w->dv + (size_t)kvh * hs,
                        kvd);
            /* softmax: dS = P (dP - sum_j P dP), times the 1/sqrt(hs) of the scores */
            for (int r = 0; r < rows; r++) {
                const int len = t0 + r + 1;
                const float *p = A + (size_t)r * n;
                float *d = w->dP + (size_t)r * n;
                const float dot = q_dot_f32(p, d, len);
#pragma omp simd
                for (int j = 0; j < len; j++) d[j] = scale * p[j] * (d[j] - dot);
                memset(d + len, 0, (size_t)(n - len) * sizeof(float));
            }
            /* dQ_h = dS K;  dK += dS^T Q_h */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hs, n, 1.0f, w->dP, n, w->k + (size_t)kvh * hs, kvd, 0.0f,
                        w->dq + (size_t)t0 * D + (size_t)h * hs, D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hs, rows, 1.0f, w->dP, n, w->q + (size_t)t0 * D + (size_t)h * hs,
                        D, 1.0f, w->dk + (size_t)kvh * hs, kvd);
        }
    }
    if (!b->gpt2)
        for (int t = 0; t < T; t++) {
            rope_apply(c, b->rope, w->dq + (size_t)t * D, H, hs, t, -1);
            rope_apply(c, b->rope, w->dk + (size_t)t * kvd, Hkv, hs, t, -1);
        }
    lin_bwd(T, D, D, w->xn1, b->W[0], w->dq, g->dW[0], w->dxn, 0);
    lin_bwd(T, D, kvd, w->xn1, b->W[1], w->dk, g->dW[1], w->dxn, 1);
    lin_bwd(T, D, kvd, w->xn1, b->W[2], w->dv, g->dW[2], w->dxn, 1);
    if (dx) { /* x feeds the residual (dx2) and the attention norm */
        memcpy(dx, w->dx2, (size_t)T * D * sizeof(float));
        norm_bwd(b->gpt2, T, D, w->xh1, w->r1, b->g1, w->dxn, g->dg1, dx);
    } else {
        for (int t = 0; t < T; t++)
            for (int i = 0; i < D; i++) g->dg1[i] += (double)w->dxn[(size_t)t * D + i] * w->xh1[(size_t)t * D + i];
    }
}

/* Backward of the loss sum (y - target)^2 * inv_n after block_fwd; adds to g. */
static void block_bwd(const Blk *b, Work *w, const float *target, double inv_n, Grads *g) {
    const int n = w->T * b->c->dim;
    double loss = 0;
    for (int i = 0; i < n; i++) {
        float d = w->y[i] - target[i];
        loss += (double)d * d;
        w->dy[i] = (float)(2.0 * inv_n) * d;
    }
    g->loss += loss * inv_n;
    block_bwd_dy(b, w, w->dy, g, NULL);
}

static void grads_init(Grads *g, const Blk *b) {
    for (int k = 0; k < b->nl; k++) g->dW[k] = xcalloc((size_t)b->out[k] * b->in[k], sizeof(float));
    g->dg1 = xcalloc((size_t)b->c->dim, sizeof(double));
    g->dg2 = xcalloc((size_t)b->c->dim, sizeof(double));
    g->loss = 0;
}
static void grads_zero(Grads *g, const Blk *b) {
    for (int k = 0; k < b->nl; k++) memset(g->dW[k], 0, (size_t)b->out[k] * b->in[k] * sizeof(float));
    memset(g->dg1, 0, (size_t)b->c->dim * sizeof(double));
    memset(g->dg2, 0, (size_t)b->c->dim * sizeof(double));
    g->loss = 0;
}
static void grads_free(Grads *g, const Blk *b) {
    for (int k = 0; k < b->nl; k++) free(g->dW[k]);
    free(g->dg1);
    free(g->dg2);
}

static float *rope_table(const LlmConfig *c, int S) {
    int hs = c->dim / c->n_heads;
    float *tab = xmalloc((size_t)S * hs * sizeof(float));
    for (int p = 0; p < S; p++)
        for (int i = 0; i < hs / 2; i++) {
            double freq = c->rope_theta > 0 ? 1.0 / pow((double)c->rope_theta, (double)(2 * i) / hs) : 0.0, a = p * freq;
            tab[(size_t)p * hs + 2 * i] = (float)cos(a);
            tab[(size_t)p * hs + 2 * i + 1] = (float)sin(a);
        }
    return tab;
}

/* tot += g (thread partials are merged in thread order: deterministic for a thread count) */
static void grads_add(Grads *tot, const Grads *g, const Blk *b) {
    for (int k = 0; k < b->nl; k++)
        for (size_t i = 0; i < (size_t)b->out[k] * b->in[k]; i++) tot->dW[k][i] += g->dW[k][i];
    for (int i = 0; i < b->c->dim; i++) {
        tot->dg1[i] += g->dg1[i];
        tot->dg2[i] += g->dg2[i];
    }
    tot->loss += g->loss;
}

/* Loss and gradients over windows idx[0..cnt) (threads over windows; partial sums merged in
 * thread order, so the result depends only on the thread count). */
static double batch_grads(const Blk *b, const float *X, const float *Y, int S, const int32_t *idx, int cnt, Grads *parts, int nt,
                          Work *works, Grads *tot) {
    const int D = b->c->dim;
    double inv_n = 1.0 / ((double)cnt * S * D);
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num();
        grads_zero(&parts[tid], b);
#pragma omp for schedule(static)
        for (int i = 0; i < cnt; i++) {
            block_fwd(b, &works[tid], X + (size_t)idx[i] * S * D);
            block_bwd(b, &works[tid], Y + (size_t)idx[i] * S * D, inv_n, &parts[tid]);
        }
    }
    grads_zero(tot, b);
    for (int t = 0; t < nt; t++) grads_add(tot, &parts[t], b);
    return tot->loss;
}

void llm_tune_opts_default(LlmTuneOpts *o) {
    o->epochs = 2;
    o->batch = 4;
    o->lr = 5e-3f;
    o->seed = 0;
}

/* Adam on one parameter vector */
static void adam(float *p, const double *g, float *m, float *v, int64_t n, float lr, int step) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    float c1 = 1.0f - powf(b1, (float)step), c2 = 1.0f - powf(b2, (float)step);
    for (int64_t i = 0; i < n; i++) {
        float gi = (float)g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= lr * (m[i] / c1) / (sqrtf(v[i] / c2) + eps);
    }
}

/* A parameter vector trained as log-multipliers of its starting values: x = x0 exp(theta). */
typedef struct LogParam {
    int64_t n;
    float *theta, *m, *v;
    double *g;
} LogParam;
static void lp_init(LogParam *p, int64_t n) {
    p->n = n;
    p->theta = xcalloc((size_t)n, sizeof(float));
    p->m = xcalloc((size_t)n, sizeof(float));
    p->v = xcalloc((size_t)n, sizeof(float));
    p->g = xcalloc((size_t)n, sizeof(double));
}
static void lp_free(LogParam *p) {
    free(p->theta);
    free(p->m);
    free(p->v);
    free(p->g);
}

/* One block's tunable state: group-scale multipliers of its linears (codes fixed) and the
 * multipliers of its two norm weight vectors, with the materialized weights the passes use. */
typedef struct TBlock {
    Blk b;
    LlmLayer *L;
    LlmLinear lin[LLM_MAX_LINEARS];
    LlmQLinear *ql;
    LogParam ts[LLM_MAX_LINEARS], tn;   /* scales; norms [2D]: attn, ffn */
    float *W[LLM_MAX_LINEARS], *sc[LLM_MAX_LINEARS];
    float *g1, *g2;
} TBlock;

static int tblock_init(TBlock *tb, LlmModel *m, int layer, LlmQLinear *ql, const float *rope, QErr *err) {
    memset(tb, 0, sizeof *tb);
    int nl = llm_block_linears(m, layer, tb->lin), gpt2 = m->c.arch == LLM_ARCH_GPT2;
    if (nl != (gpt2 ? 6 : 7)) return qerr_set(err, "tuning: expected %d linears in block %d, found %d", gpt2 ? 6 : 7, layer, nl);
    const int D = m->c.dim;
    tb->L = &m->layers[layer];
    tb->ql = ql;
    tb->b.c = &m->c;
    tb->b.nl = nl;
    tb->b.gpt2 = gpt2;
    tb->b.up = nl - 2;
    tb->b.down = nl - 1;
    tb->b.nb1 = tb->L->attn_norm_b;
    tb->b.nb2 = tb->L->ffn_norm_b;
    tb->b.rope = rope;
    for (int k = 0; k < nl; k++) {
        tb->b.in[k] = tb->lin[k].in;
        tb->b.out[k] = tb->lin[k].out;
        tb->W[k] = xmalloc((size_t)tb->lin[k].out * tb->lin[k].in * sizeof(float));
        tb->sc[k] = xmalloc((size_t)ql[k].p.n * sizeof(float));
        tb->b.W[k] = tb->W[k];
        tb->b.bias[k] = tb->lin[k].b;
        lp_init(&tb->ts[k], ql[k].p.n);
    }

    lp_init(&tb->tn, 2 * D);
    tb->g1 = xmalloc((size_t)D * sizeof(float));
    tb->g2 = xmalloc((size_t)D * sizeof(float));
    tb->b.g1 = tb->g1;
    tb->b.g2 = tb->g2;
    return 0;
}
static void tblock_free(TBlock *tb) {
    for (int k = 0; k < tb->b.nl; k++) {
        free(tb->W[k]);
        free(tb->sc[k]);
        lp_free(&tb->ts[k]);
    }
    lp_free(&tb->tn);
    free(tb->g1);
    free(tb->g2);
}

/* weights s0 exp(theta) (q - z) (scales float16-rounded when f16) and norms g0 exp(phi) */
static void tblock_materialize(TBlock *tb, int f16) {
    const int D = tb->b.c->dim;
    for (int k = 0; k < tb->b.nl; k++) {
        const QParams *p = &tb->ql[k].p;
        for (int64_t u = 0; u < p->n; u++) {
            float s = p->scale[u] * expf(tb->ts[k].theta[u]);
            if (f16) {
                float a = qf16_to_f32(qf32_to_f16(fabsf(s)));
                if (!(a > 0.0f)) a = qf16_to_f32(1);
                s = s < 0 ? -a : a;
            }
            tb->sc[k][u] = s;
        }
        for (int64_t r = 0; r < p->rows; r++)
            for (int64_t c = 0; c < p->cols; c++) {
                int64_t u = qparams_index(p, r, c), i = r * p->cols + c;
                tb->W[k][i] = quant_value(tb->ql[k].codes[i], tb->sc[k][u], p->zero[u]);
            }
    }
    for (int i = 0; i < D; i++) {
        tb->g1[i] = tb->L->attn_norm[i] * expf(tb->tn.theta[i]);
        tb->g2[i] = tb->L->ffn_norm[i] * expf(tb->tn.theta[D + i]);
    }
}

/* chain rule from g to the log-multipliers (dL/dtheta_u = s_u sum_{c in u} (q_c - z_u) dL/dW_c,
 * dL/dphi_i = g_i dL/dg_i), times norm, then one Adam step */
static void tblock_step(TBlock *tb, const Grads *g, double norm, float lr, int step) {
    const int D = tb->b.c->dim;
    for (int k = 0; k < tb->b.nl; k++) {
        const QParams *p = &tb->ql[k].p;
        double *gt = tb->ts[k].g;
        memset(gt, 0, (size_t)p->n * sizeof(double));
        for (int64_t r = 0; r < p->rows; r++)
            for (int64_t c = 0; c < p->cols; c++) {
                int64_t u = qparams_index(p, r, c), i = r * p->cols + c;
                gt[u] += (double)g->dW[k][i] * (tb->ql[k].codes[i] - p->zero[u]);
            }
        for (int64_t u = 0; u < p->n; u++) gt[u] *= tb->sc[k][u] * norm;
        adam(tb->ts[k].theta, gt, tb->ts[k].m, tb->ts[k].v, p->n, lr, step);
    }
    for (int i = 0; i < D; i++) {
        tb->tn.g[i] = g->dg1[i] * tb->g1[i] * norm;
        tb->tn.g[D + i] = g->dg2[i] * tb->g2[i] * norm;
    }
    adam(tb->tn.theta, tb->tn.g, tb->tn.m, tb->tn.v, 2 * D, lr, step);
}

/* the tuned scales, weights and norms into ql and the model */
static void tblock_commit(TBlock *tb) {
    tblock_materialize(tb, 1);
    const int D = tb->b.c->dim;
    for (int k = 0; k < tb->b.nl; k++) {
        memcpy(tb->ql[k].p.scale, tb->sc[k], (size_t)tb->ql[k].p.n * sizeof(float));
        memcpy(tb->lin[k].w, tb->W[k], (size_t)tb->lin[k].out * tb->lin[k].in * sizeof(float));
    }
    memcpy(tb->L->attn_norm, tb->g1, (size_t)D * sizeof(float));
    memcpy(tb->L->ffn_norm, tb->g2, (size_t)D * sizeof(float));
}

int llm_block_tune(LlmModel *m, int layer, LlmQLinear *ql, const float *Xq, const float *Yf, int n, int S,
                   const LlmTuneOpts *o, double *loss0, double *loss1, QErr *err) {
    const LlmConfig *c = &m->c;
    const int D = c->dim;
    float *rope = rope_table(c, S);
    TBlock tb;
    if (tblock_init(&tb, m, layer, ql, rope, err)) {
        free(rope);
        return -1;
    }
    int nt = omp_get_max_threads();
    Work *works = xmalloc((size_t)nt * sizeof(Work));
    Grads *parts = xmalloc((size_t)nt * sizeof(Grads)), tot;
    for (int t = 0; t < nt; t++) {
        work_init(&works[t], c, S);
        grads_init(&parts[t], &tb.b);
    }
    grads_init(&tot, &tb.b);
    int32_t *idx = xmalloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) idx[i] = i;
    QRng rng;
    qrng_seed(&rng, o->seed + 7919u * (uint64_t)layer);
    int old = qblas_threads_swap(1);
    double yy = 0;
    for (size_t i = 0; i < (size_t)n * S * D; i++) yy += (double)Yf[i] * Yf[i];
    double mean_y2 = yy / ((double)n * S * D);
    tblock_materialize(&tb, 0); /* theta = phi = 0: the GPTQ solution */
    *loss0 = batch_grads(&tb.b, Xq, Yf, S, idx, n, parts, nt, works, &tot) / mean_y2;
    int step = 0;
    const int B = o->batch > 0 ? o->batch : 4, total = o->epochs * ((n + B - 1) / B);
    for (int ep = 0; ep < o->epochs; ep++) {
        qrng_shuffle_i32(&rng, idx, n);
        for (int i0 = 0; i0 < n; i0 += B) {
            int cnt = n - i0 < B ? n - i0 : B;
            tblock_materialize(&tb, 0);
            batch_grads(&tb.b, Xq, Yf, S, idx + i0, cnt, parts, nt, works, &tot);
            step++;
            tblock_step(&tb, &tot, 1.0 / mean_y2, q_cosine_lr(o->lr, step - 1, total), step);
        }
    }
    tblock_materialize(&tb, 1);
    *loss1 = batch_grads(&tb.b, Xq, Yf, S, idx, n, parts, nt, works, &tot) / mean_y2;
    if (*loss1 < *loss0) tblock_commit(&tb); /* kept only if the block's loss went down */
    else *loss1 = *loss0;
    qblas_threads_swap(old);
    for (int t = 0; t < nt; t++) {
        work_free(&works[t]);
        grads_free(&parts[t], &tb.b);
    }
    grads_free(&tot, &tb.b);
    tblock_free(&tb);
    free(works);
    free(parts);
    free(idx);
    free(rope);
    return 0;
}

/* ------------------------------------------------------------- end to end */

/* log sum_v exp(z_v) over one row of logits */
static double log_sum_exp(const float *z, int V) {
    float mx = z[0];
    for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)z[v] - mx);
    return mx + log(sum);
}

/* The teacher's next-token log-probabilities on one window, lp [S, V]: computed when the window
 * comes up rather than stored for all windows, which would take n S V floats (GPT-2's
 * vocabulary, 128-token windows: 25 MB per window). */
static void teacher_window(const LlmModel *fp32, LlmState *ls, const int32_t *tokens, int S, float *lp) {
    const int V = fp32->c.vocab_size;
    const float *z = llm_forward(fp32, ls, tokens, S, 0, NULL, NULL);
    for (int t = 0; t < S; t++) {
        float lse = (float)log_sum_exp(z + (size_t)t * V, V);
        for (int v = 0; v < V; v++) lp[(size_t)t * V + v] = z[(size_t)t * V + v] - lse;
    }
}

/* Per-thread workspace of the whole model: a Work per block, the head's buffers. */
typedef struct MWork {
    Work *w;                       /* [L] */
    Grads *g;                      /* [L] */
    double *dgf;                   /* [D] final norm */
    float *x0, *xh, *r, *xn, *logits, *dx, *dx2;
    LlmState ls;                   /* the teacher's forward */
    float *lp;                     /* [T, V] its log-probabilities */
    double loss;
} MWork;

/* Forward of window tokens through every block and the head, then KL(teacher || model)
 * backward through everything; adds gradients to mw.  teacher: log-probabilities [T, V]. */
static void model_fwd_bwd(const LlmModel *m, TBlock *tb, const float *gf, const int32_t *tokens, const float *teacher,
                          double inv_n, MWork *mw) {
    const LlmConfig *c = &m->c;
    const int L = c->n_layers, D = c->dim, V = c->vocab_size, T = mw->w[0].T;
    llm_embed(m, tokens, T, 0, mw->x0);
    const float *x = mw->x0;
    for (int l = 0; l < L; l++) {
        block_fwd(&tb[l].b, &mw->w[l], x);
        x = mw->w[l].y;
    }
    const int ln = c->arch == LLM_ARCH_GPT2;
    norm_fwd(ln, T, D, c->norm_eps, x, gf, m->final_norm_b, mw->xh, mw->r, mw->xn);
    lin_fwd(T, D, V, mw->xn, m->head, mw->logits);
    /* loss = sum_t sum_v p_v (log p_v - log q_v);  dlogits = (q - p) * inv_n */
    double loss = 0;
    for (int t = 0; t < T; t++) {
        float *z = mw->logits + (size_t)t * V;
        const float *lp = teacher + (size_t)t * V;
        double lse = log_sum_exp(z, V);
        for (int v = 0; v < V; v++) {
            double lq = z[v] - lse, p = exp((double)lp[v]);
            loss += p * ((double)lp[v] - lq);
            z[v] = (float)((exp(lq) - p) * inv_n);
        }
    }
    mw->loss += loss * inv_n;
    /* xn = norm(x) gf (+ b);  dxn = dlogits E */
    float *dxn = mw->dx2;
    kern_sgemm(0, 0, T, D, V, 1.0f, mw->logits, V, m->head, D, 0.0f, dxn, D);
    memset(mw->dx, 0, (size_t)T * D * sizeof(float));
    norm_bwd(ln, T, D, mw->xh, mw->r, gf, dxn, mw->dgf, mw->dx);
    for (int l = L - 1; l >= 0; l--) {
        block_bwd_dy(&tb[l].b, &mw->w[l], mw->dx, &mw->g[l], l > 0 ? mw->dx2 : NULL);
        if (l > 0) memcpy(mw->dx, mw->dx2, (size_t)T * D * sizeof(float));
    }
}

/* KL over windows idx[0..cnt), gradients left per thread in mw (merged by the caller in thread order) */
static double e2e_pass(const LlmModel *m, TBlock *tb, const float *gf, const LlmCalib *cal, const LlmModel *fp32,
                       const int32_t *idx, int cnt, MWork *mw, int nt) {
    const int L = m->c.n_layers, D = m->c.dim, S = cal->seq_len;
    double inv_n = 1.0 / ((double)cnt * S);
#pragma omp parallel num_threads(nt)
    {
        MWork *w = &mw[omp_get_thread_num()];
        for (int l = 0; l < L; l++) grads_zero(&w->g[l], &tb[l].b);
        memset(w->dgf, 0, (size_t)D * sizeof(double));
        w->loss = 0;
#pragma omp for schedule(static)
        for (int i = 0; i < cnt; i++) {
            const int32_t *tokens = cal->tokens + (size_t)idx[i] * S;
            teacher_window(fp32, &w->ls, tokens, S, w->lp);
            model_fwd_bwd(m, tb, gf, tokens, w->lp, inv_n, w);
        }
    }
    double loss = 0;
    for (int t = 0; t < nt; t++) loss += mw[t].loss;
    return loss;
}

int llm_e2e_tune(LlmModel *m, LlmQuantized *q, const LlmDistill *d, const LlmTuneOpts *o, double *loss0, double *loss1,
                 QErr *err) {
    const LlmConfig *c = &m->c;
    const LlmCalib *cal = &d->win;
    const LlmModel *teacher = d->teacher;
    const int L = c->n_layers, D = c->dim, V = c->vocab_size, S = cal->seq_len, n = cal->n, nr = d->n_real;
    if (nr < 1 || nr > n) return qerr_set(err, "end-to-end tuning: %d calibration windows of %d", nr, n);
    if (S > c->max_seq) return qerr_set(err, "end-to-end tuning: windows of %d tokens exceed the model's context %d", S, c->max_seq);
    if (teacher->c.vocab_size != V || S > teacher->c.max_seq)
        return qerr_set(err, "end-to-end tuning: the teacher's vocabulary (%d) or context (%d) does not fit", teacher->c.vocab_size,
                        teacher->c.max_seq);
    const int per = c->arch == LLM_ARCH_GPT2 ? 6 : 7;
    if (q->n != L * per) return qerr_set(err, "end-to-end tuning: expected %d linears, found %d", L * per, q->n);
    float *rope = rope_table(c, S);
    TBlock *tb = xcalloc((size_t)L, sizeof(TBlock));
    for (int l = 0; l < L; l++)
        if (tblock_init(&tb[l], m, l, q->lin + (size_t)l * per, rope, err)) {
            for (int j = 0; j < l; j++) tblock_free(&tb[j]);
            free(tb);
            free(rope);
            return -1;
        }
    LogParam tf;
    lp_init(&tf, D);
    float *gf = xmalloc((size_t)D * sizeof(float));
    int nt = omp_get_max_threads();
    MWork *mw = xcalloc((size_t)nt, sizeof(MWork));
    for (int t = 0; t < nt; t++) {
        mw[t].w = xmalloc((size_t)L * sizeof(Work));
        mw[t].g = xmalloc((size_t)L * sizeof(Grads));
        for (int l = 0; l < L; l++) {
            work_init(&mw[t].w[l], c, S);
            grads_init(&mw[t].g[l], &tb[l].b);
        }
        mw[t].dgf = xcalloc((size_t)D, sizeof(double));
        float **bufs[] = {&mw[t].x0, &mw[t].xh, &mw[t].xn, &mw[t].dx, &mw[t].dx2};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) *bufs[i] = xmalloc((size_t)S * D * sizeof(float));
        mw[t].r = xmalloc((size_t)S * sizeof(float));
        mw[t].logits = xmalloc((size_t)S * V * sizeof(float));
        llm_state_init(&mw[t].ls, teacher, S);
        mw[t].lp = xmalloc((size_t)S * V * sizeof(float));
    }
    Grads *tot = xmalloc((size_t)L * sizeof(Grads));
    for (int l = 0; l < L; l++) grads_init(&tot[l], &tb[l].b);
    double *dgf = xmalloc((size_t)D * sizeof(double));
    int32_t *idx = xmalloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) idx[i] = i;
    QRng rng;
    qrng_seed(&rng, o->seed + 104729u);
    int old = qblas_threads_swap(1);

    for (int l = 0; l < L; l++) tblock_materialize(&tb[l], 0);
    for (int i = 0; i < D; i++) gf[i] = m->final_norm[i];
    *loss0 = e2e_pass(m, tb, gf, cal, teacher, idx, nr, mw, nt); /* idx is 0..n-1 until the first shuffle */
    int step = 0;
    const int B = o->batch > 0 ? o->batch : 4, total = o->epochs * ((n + B - 1) / B);
    QProgress prog;
    qprogress_init(&prog);
    for (int ep = 0; ep < o->epochs; ep++) {
        qrng_shuffle_i32(&rng, idx, n);
        for (int i0 = 0; i0 < n; i0 += B) {
            qprogress_frac(&prog, (ep + (double)i0 / n) / o->epochs);
            qprogress_update(&prog, "end-to-end tuning: epoch %d/%d, window %d/%d", ep + 1, o->epochs, i0, n);
            int cnt = n - i0 < B ? n - i0 : B;
            for (int l = 0; l < L; l++) tblock_materialize(&tb[l], 0);
            for (int i = 0; i < D; i++) gf[i] = m->final_norm[i] * expf(tf.theta[i]);
            e2e_pass(m, tb, gf, cal, teacher, idx + i0, cnt, mw, nt);
            step++;
            const float lr = q_cosine_lr(o->lr, step - 1, total);
            for (int l = 0; l < L; l++) {
                grads_zero(&tot[l], &tb[l].b);
                for (int t = 0; t < nt; t++) grads_add(&tot[l], &mw[t].g[l], &tb[l].b);
                tblock_step(&tb[l], &tot[l], 1.0, lr, step);
            }
            memset(dgf, 0, (size_t)D * sizeof(double));
            for (int t = 0; t < nt; t++)
                for (int i = 0; i < D; i++) dgf[i] += mw[t].dgf[i];
            for (int i = 0; i < D; i++) tf.g[i] = dgf[i] * gf[i];
            adam(tf.theta, tf.g, tf.m, tf.v, D, lr, step);
        }
    }
    qprogress_done(&prog);
    for (int l = 0; l < L; l++) tblock_materialize(&tb[l], 1);
    for (int i = 0; i < D; i++) gf[i] = m->final_norm[i] * expf(tf.theta[i]);
    for (int i = 0; i < nr; i++) idx[i] = i;
    *loss1 = e2e_pass(m, tb, gf, cal, teacher, idx, nr, mw, nt);
    if (*loss1 < *loss0) { /* kept only if the calibration KL went down */
        for (int l = 0; l < L; l++) tblock_commit(&tb[l]);
        memcpy(m->final_norm, gf, (size_t)D * sizeof(float));
    } else {
        *loss1 = *loss0;
    }
    qblas_threads_swap(old);
    for (int t = 0; t < nt; t++) {
        for (int l = 0; l < L; l++) {
            work_free(&mw[t].w[l]);
            grads_free(&mw[t].g[l], &tb[l].b);
        }
        free(mw[t].w);
        free(mw[t].g);
        free(mw[t].dgf);
        free(mw[t].x0);
        free(mw[t].xh);
        free(mw[t].xn);
        free(mw[t].dx);
        free(mw[t].dx2);
        free(mw[t].r);
        free(mw[t].logits);
        llm_state_free(&mw[t].ls);
        free(mw[t].lp);
    }
    for (int l = 0; l < L; l++) {
        grads_free(&tot[l], &tb[l].b);
        tblock_free(&tb[l]);
    }
    free(mw);
    free(tot);
    free(tb);
    free(dgf);
    free(idx);
    free(gf);
    lp_free(&tf);
    free(rope);
    return 0;
}
