/* smooth.c — SmoothQuant and AWQ on a language model (llm_ptq.h): per-site input-channel scales
 * searched on the calibration windows (src/quant/smooth.c) and folded into the model so the
 * fp32 function is unchanged; and the outlier fixture, the same fold run backwards.
 *
 * Folding a scale s [in] into a site (its input X becomes X / s, its linears' columns W_j s_j):
 *   q,k,v (attn-in) and gate,up (ffn-in): the norm before them, weight (and LayerNorm bias) / s;
 *   o (attn-out): v's output rows / s (and bv): attention mixes V's rows over positions with
 *                 weights that do not depend on V, so att_out column h*hs+d scales with v row
 *                 kvh*hs+d.  With grouped-query attention that v row feeds every query head of
 *                 its group, so s must be equal over the group (QSite.tie) — then it is exact;
 *   down (ffn-hidden): up's output rows / s (and b_up): silu(gate) * up is linear in up, exact
 *                 for SwiGLU; GPT-2's GELU(up) is not homogeneous, so that site is not folded. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "quant/llm_ptq.h"
#include "quant/smooth.h"

int llm_site_foldable(const LlmConfig *c, LlmSite s) { return !(s == LLM_SITE_DOWN && c->arch == LLM_ARCH_GPT2); }

int llm_site_tie(const LlmConfig *c, LlmSite s, int *tie) {
    if (s != LLM_SITE_O || c->n_kv_heads == c->n_heads) return 0;
    const int hs = c->dim / c->n_heads, rep = c->n_heads / c->n_kv_heads;
    for (int j = 0; j < c->n_heads * hs; j++) {
        int h = j / hs, d = j % hs;
        tie[j] = (h - h % rep) * hs + d; /* the group's first head: same v row */
    }
    return 1;
}

static void scale_cols(float *w, int out, int in, const float *s, int inverse) {
    for (int r = 0; r < out; r++)
        for (int j = 0; j < in; j++) w[(size_t)r * in + j] = inverse ? w[(size_t)r * in + j] / s[j] : w[(size_t)r * in + j] * s[j];
}

int llm_smooth_fold(LlmModel *m, int layer, LlmSite site, const float *s, QErr *err) {
    const LlmConfig *c = &m->c;
    LlmLayer *y = &m->layers[layer];
    if (!llm_site_foldable(c, site))
        return qerr_set(err, "block %d: GPT-2's ffn-down input (GELU of up) cannot absorb a scale exactly", layer);
    for (int j = 0, in = site == LLM_SITE_DOWN ? c->hidden_dim : c->dim; j < in; j++)
        if (!(s[j] > 0) || !isfinite(s[j])) return qerr_set(err, "block %d: scale %d is %g, expected a finite value > 0", layer, j, s[j]);
    LlmLinear lin[LLM_MAX_LINEARS];
    int nl = llm_block_linears(m, layer, lin);
    if (site == LLM_SITE_O) {
        const int hs = c->dim / c->n_heads, rep = c->n_heads / c->n_kv_heads, D = c->dim;
        for (int j = 0; j < c->n_heads * hs; j++) {
            int h = j / hs, d = j % hs, j0 = (h - h % rep) * hs + d;
            if (s[j] != s[j0])
                return qerr_set(err, "block %d: attn-out scales %d and %d differ but share one v row (grouped-query attention)",
                                layer, j0, j);
        }
        for (int kvh = 0; kvh < c->n_kv_heads; kvh++)
            for (int d = 0; d < hs; d++) {
                int row = kvh * hs + d;
                float sj = s[kvh * rep * hs + d];
                for (int i = 0; i < D; i++) y->wv[(size_t)row * D + i] /= sj;
                if (y->bv) y->bv[row] /= sj;
            }
    } else if (site == LLM_SITE_DOWN) {
        for (int j = 0; j < c->hidden_dim; j++) {
            for (int i = 0; i < c->dim; i++) y->w_up[(size_t)j * c->dim + i] /= s[j];
            if (y->b_up) y->b_up[j] /= s[j];
        }
    } else {
        float *g = site == LLM_SITE_QKV ? y->attn_norm : y->ffn_norm, *b = site == LLM_SITE_QKV ? y->attn_norm_b : y->ffn_norm_b;
        for (int j = 0; j < c->dim; j++) {
            g[j] /= s[j];
            if (b) b[j] /= s[j];
        }
    }
    for (int k = 0; k < nl; k++)
        if (lin[k].site == site) scale_cols(lin[k].w, lin[k].out, lin[k].in, s, 0);
    return 0;
}

int llm_inject_outliers(LlmModel *m, int channels, float factor, uint64_t seed, int *chosen, QErr *err) {
    const int D = m->c.dim;
    if (channels < 1 || channels > D) return qerr_set(err, "outliers: %d channels, expected 1..%d", channels, D);
    if (!(factor > 0) || !isfinite(factor)) return qerr_set(err, "outliers: factor %g, expected a finite value > 0", factor);
    /* the same channels in every block, as the residual-stream dimensions of real LLMs */
    int32_t *perm = xmalloc((size_t)D * sizeof(int32_t));
    for (int i = 0; i < D; i++) perm[i] = i;
    QRng r;
    qrng_seed(&r, seed ^ 0x0071e5ull);
    qrng_shuffle_i32(&r, perm, D);
    float *s = xmalloc((size_t)D * sizeof(float));
    for (int i = 0; i < D; i++) s[i] = 1.0f;
    for (int i = 0; i < channels; i++) {
        s[perm[i]] = 1.0f / factor; /* the norm's weight x factor, the columns after it / factor */
        if (chosen) chosen[i] = perm[i];
    }
    int rc = 0;
    for (int l = 0; l < m->c.n_layers && rc == 0; l++) {
        rc = llm_smooth_fold(m, l, LLM_SITE_QKV, s, err);
        if (rc == 0) rc = llm_smooth_fold(m, l, LLM_SITE_UP, s, err);
    }
    free(perm);
    free(s);
    return rc;
}

/* ------------------------------------------------------------ the search */

typedef struct Cap {
    float *const *X;  /* [LLM_N_SITES] each [rows, in] */
    size_t row0;
} Cap;

static void cap_hook(void *ctx, int layer, LlmSite site, float *X, int T, int in) {
    (void)layer;
    Cap *c = ctx;
    memcpy(c->X[site] + c->row0 * (size_t)in, X, (size_t)T * in * sizeof(float));
}

void llm_block_windows(const LlmModel *m, int layer, float *X, int nw, int S, float *const cap[LLM_N_SITES]) {
    const int D = m->c.dim;
    int old = qblas_threads_swap(1);
#pragma omp parallel
    {
        LlmState ls;
        llm_state_init(&ls, m, S);
        Cap c = {cap, 0};
#pragma omp for schedule(static)
        for (int i = 0; i < nw; i++) {
            c.row0 = (size_t)i * S;
            llm_block_forward(m, &ls, layer, X + (size_t)i * S * D, S, 0, cap ? cap_hook : NULL, cap ? &c : NULL);
        }
        llm_state_free(&ls);
    }
    qblas_threads_swap(old);
}

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}
/* max and median over channels of v [n] */
static void max_med(const float *v, int n, float *mx, float *med) {
    float *t = xmalloc((size_t)n * sizeof(float));
    memcpy(t, v, (size_t)n * sizeof(float));
    qsort(t, (size_t)n, sizeof(float), cmp_f);
    *mx = t[n - 1];
    *med = t[n / 2];
    free(t);
}

/* v [n] max-pooled into out[r->n_ch] (r->ch_pool channels per value) */
static void pool_channels(const float *v, int n, LlmScaleSite *r, float *out) {
    r->ch_pool = (n + LLM_SCALE_CH_MAX - 1) / LLM_SCALE_CH_MAX;
    r->n_ch = (n + r->ch_pool - 1) / r->ch_pool;
    for (int k = 0; k < r->n_ch; k++) out[k] = 0;
    for (int j = 0; j < n; j++) out[j / r->ch_pool] = fmaxf(out[j / r->ch_pool], v[j]);
}

void llm_scale_opts_default(LlmScaleOpts *o) {
    memset(o, 0, sizeof *o);
    o->t.wbits = 8;
    o->t.abits = 8;
    o->t.act = QACT_TENSOR;
    o->grid = 21;
    o->clip_ratios = 20;
    o->max_rows = 32768;
}

int llm_scale_model(LlmModel *m, const LlmCalib *c, const LlmScaleOpts *o, LlmScaleReport *rep, QErr *err) {
    const LlmConfig *cf = &m->c;
    const int L = cf->n_layers, D = cf->dim, S = c->seq_len;
    if (S > cf->max_seq) return qerr_set(err, "calibration windows of %d tokens exceed the model's context %d", S, cf->max_seq);
    int nw = c->n;
    if (o->max_rows > 0 && (int64_t)nw * S > o->max_rows) nw = (int)(o->max_rows / S > 0 ? o->max_rows / S : 1);
    const size_t rows = (size_t)nw * S;
    rep->n_layers = L;
    rep->s = xcalloc((size_t)L * LLM_N_SITES, sizeof(LlmScaleSite));
    float *Xs = xmalloc(rows * D * sizeof(float));
    for (int i = 0; i < nw; i++) llm_embed(m, c->tokens + (size_t)i * S, S, 0, Xs + (size_t)i * S * D);
    float *capx[LLM_N_SITES];
    for (int s = 0; s < LLM_N_SITES; s++) capx[s] = xmalloc(rows * (s == LLM_SITE_DOWN ? cf->hidden_dim : D) * sizeof(float));
    int rc = 0;
    for (int l = 0; l < L && rc == 0; l++) {
        /* every site's inputs in the model as it is (the earlier blocks already scaled) */
        float *Xb = xmalloc(rows * D * sizeof(float));
        memcpy(Xb, Xs, rows * D * sizeof(float));
        llm_block_windows(m, l, Xb, nw, S, capx);
        free(Xb);
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears(m, l, lin);
        float *sc[LLM_N_SITES] = {0};
        for (int s = 0; s < LLM_N_SITES && rc == 0; s++) {
            const int in = s == LLM_SITE_DOWN ? cf->hidden_dim : D;
            const float *X = capx[s];
            LlmScaleSite *r = &rep->s[l * LLM_N_SITES + s];
            float *amax = xcalloc((size_t)in, sizeof(float)), *amean = xcalloc((size_t)in, sizeof(float));
            double *acc = xcalloc((size_t)in, sizeof(double));
            for (size_t t = 0; t < rows; t++)
                for (int j = 0; j < in; j++) {
                    float v = fabsf(X[t * in + j]);
                    amax[j] = fmaxf(amax[j], v);
                    acc[j] += v;
                }
            for (int j = 0; j < in; j++) amean[j] = (float)(acc[j] / (double)rows);
            max_med(amax, in, &r->max_before, &r->med_before);
            r->max_after = r->max_before;
            r->med_after = r->med_before;
            pool_channels(amax, in, r, r->ch_before);
            pool_channels(amax, in, r, r->ch_after);
            r->v = -1;
            r->clip_mean = 1;
            r->aclip = 1;
            QSite site = {.in = in};
            int *tie = xmalloc((size_t)in * sizeof(int));
            if (llm_site_tie(cf, (LlmSite)s, tie)) site.tie = tie;
            for (int k = 0; k < nl; k++)
                if ((int)lin[k].site == s) {
                    site.W[site.nw] = lin[k].w;
                    site.out[site.nw++] = lin[k].out;
                }
            r->folded = llm_site_foldable(cf, (LlmSite)s);
            if (r->folded) {
                sc[s] = xmalloc((size_t)in * sizeof(float));
                if (o->awq) {
                    float *H = xmalloc((size_t)in * in * sizeof(float));
                    qsite_gram(X, (int64_t)rows, in, H);
                    rc = qawq_search(&site, H, amean, &o->t, o->grid, &r->v, sc[s], NULL, &r->err_none, err);
                    if (rc == 0) r->err_best = qawq_error(&site, H, sc[s], &o->t);
                    free(H);
                } else {
                    rc = qsmooth_search_clip(&site, X, (int64_t)rows, amax, &o->t, o->grid, &r->v, &r->aclip, sc[s],
                                             &r->err_none, &r->err_best, err);
                }
                if (rc == 0 && !(r->err_best < r->err_none)) {
                    /* the grid holds no s = 1: a site that no alpha / power improves stays as it is */
                    for (int j = 0; j < in; j++) sc[s][j] = 1.0f;
                    r->v = -1;
                    r->aclip = 1;
                    r->err_best = r->err_none;
                }
                if (rc == 0) rc = llm_smooth_fold(m, l, (LlmSite)s, sc[s], err);
                if (rc == 0) {
                    float lo = 0, hi = 0;
                    for (size_t t = 0; t < rows; t++)
                        for (int j = 0; j < in; j++) {
                            float v = X[t * in + j] / sc[s][j];
                            lo = fminf(lo, v);
                            hi = fmaxf(hi, v);
                        }
                    r->alo = lo * r->aclip;
                    r->ahi = hi * r->aclip;
                    for (int j = 0; j < in; j++) amax[j] /= sc[s][j];
                    max_med(amax, in, &r->max_after, &r->med_after);
                    pool_channels(amax, in, r, r->ch_after);
                }
            }
            free(tie);
            free(amax);
            free(amean);
            free(acc);
        }
        /* AWQ's clipping, once every scale of the block is folded: each linear against the
         * Gram matrix of its (scaled) inputs */
        for (int s = 0; s < LLM_N_SITES && rc == 0 && o->awq && o->clip_ratios > 0; s++) {
            const int in = s == LLM_SITE_DOWN ? cf->hidden_dim : D;
            float *Xc = xmalloc(rows * in * sizeof(float)), *H = xmalloc((size_t)in * in * sizeof(float));
            for (size_t t = 0; t < rows; t++)
                for (int j = 0; j < in; j++) Xc[t * in + j] = capx[s][t * in + j] / (sc[s] ? sc[s][j] : 1.0f);
            qsite_gram(Xc, (int64_t)rows, in, H);
            double sum = 0;
            int cnt = 0;
            for (int k = 0; k < nl; k++)
                if ((int)lin[k].site == s) {
                    sum += qawq_clip(lin[k].w, lin[k].out, lin[k].in, H, &o->t, o->clip_ratios, NULL);
                    cnt++;
                }
            rep->s[l * LLM_N_SITES + s].clip_mean = cnt ? (float)(sum / cnt) : 1.0f;
            free(Xc);
            free(H);
        }
        for (int s = 0; s < LLM_N_SITES; s++) free(sc[s]);
        /* the next block's inputs through this block as it now is */
        llm_block_windows(m, l, Xs, nw, S, NULL);
    }
    for (int s = 0; s < LLM_N_SITES; s++) free(capx[s]);
    free(Xs);
    if (rc) llm_scale_report_free(rep);
    return rc;
}

void llm_scale_report_free(LlmScaleReport *r) {
    free(r->s);
    memset(r, 0, sizeof *r);
}
