/* actquant.c — activation statistics, int8 activation fake-quantization (per token or per
 * tensor) and the LLM.int8()-style outlier decomposition (llm_ptq.h). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "quant/llm_ptq.h"

static LlmSiteStats *site(const LlmActStats *st, int layer, LlmSite s) { return &st->s[layer * LLM_N_SITES + s]; }

typedef struct StatsCtx {
    LlmActStats st;
} StatsCtx;

static void stats_hook(void *ctx, int layer, LlmSite s, float *X, int T, int in) {
    LlmSiteStats *ss = site(&((StatsCtx *)ctx)->st, layer, s);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < in; i++) {
            float v = X[(size_t)t * in + i];
            if (v < ss->lo) ss->lo = v;
            if (v > ss->hi) ss->hi = v;
            if (fabsf(v) > ss->absmax[i]) ss->absmax[i] = fabsf(v);
        }
}

static void stats_init(LlmActStats *st, const LlmModel *m) {
    st->n_layers = m->c.n_layers;
    st->s = xcalloc((size_t)st->n_layers * LLM_N_SITES, sizeof(LlmSiteStats));
    for (int l = 0; l < st->n_layers; l++)
        for (int s = 0; s < LLM_N_SITES; s++) {
            LlmSiteStats *ss = site(st, l, (LlmSite)s);
            ss->in = s == LLM_SITE_DOWN ? m->c.hidden_dim : m->c.dim;
            ss->lo = INFINITY;
            ss->hi = -INFINITY;
            ss->absmax = xcalloc((size_t)ss->in, sizeof(float));
        }
}

int llm_act_stats_collect(const LlmModel *m, const LlmCalib *c, LlmActStats *out, QErr *err) {
    (void)err;
    int nt = omp_get_max_threads();
    StatsCtx *parts = xcalloc((size_t)nt, sizeof(StatsCtx));
    for (int t = 0; t < nt; t++) stats_init(&parts[t].st, m);
    int old = qblas_threads_swap(1);
    QProgress prog;
    qprogress_init(&prog);
    int done = 0;
#pragma omp parallel
    {
        LlmState st;
        llm_state_init(&st, m, c->seq_len);
        int tid = omp_get_thread_num();
        /* the blocks only: the statistics watch the linears' inputs, and the classifier would be
         * half the work of a GPT-2-sized vocabulary */
#pragma omp for schedule(static)
        for (int i = 0; i < c->n; i++) {
            llm_embed(m, c->tokens + (size_t)i * c->seq_len, c->seq_len, 0, st.x);
            for (int l = 0; l < m->c.n_layers; l++) llm_block_forward(m, &st, l, st.x, c->seq_len, 0, stats_hook, &parts[tid]);
            int d;
#pragma omp atomic capture
            d = ++done;
            if (tid == 0) {
                qprogress_frac(&prog, (double)d / c->n);
                qprogress_update(&prog, "calibration statistics: window %d/%d", d, c->n);
            }
        }
        llm_state_free(&st);
    }
    qblas_threads_swap(old);
    qprogress_done(&prog);
    *out = parts[0].st;  /* min/max merge: order does not matter */
    for (int t = 1; t < nt; t++) {
        for (int k = 0; k < out->n_layers * LLM_N_SITES; k++) {
            LlmSiteStats *a = &out->s[k], *b = &parts[t].st.s[k];
            a->lo = fminf(a->lo, b->lo);
            a->hi = fmaxf(a->hi, b->hi);
            for (int i = 0; i < a->in; i++) a->absmax[i] = fmaxf(a->absmax[i], b->absmax[i]);
        }
        llm_act_stats_free(&parts[t].st);
    }
    free(parts);
    return 0;
}

void llm_act_stats_free(LlmActStats *st) {
    for (int k = 0; k < st->n_layers * LLM_N_SITES; k++) free(st->s[k].absmax);
    free(st->s);
    memset(st, 0, sizeof *st);
}

/* symmetric fake-quant of x[n] (stride 1) with scale s onto [-qmax, qmax], skipping masked channels */
static void fq_row(float *x, int n, float s, int qmax, const float *absmax, float thr) {
    for (int i = 0; i < n; i++) {
        if (thr > 0 && absmax[i] > thr) continue;
        float v = nearbyintf(x[i] / s);
        if (v > qmax) v = (float)qmax;
        if (v < -qmax) v = (float)-qmax;
        x[i] = v * s;
    }
}

void llm_act_quant_hook(void *ctx, int layer, LlmSite s, float *X, int T, int in) {
    const LlmActQuant *a = ctx;
    if (a->mode == LLM_ACT_NONE) return;
    const int qmax = (1 << (a->bits - 1)) - 1;
    const LlmSiteStats *ss = a->stats ? site(a->stats, layer, s) : NULL;
    const float thr = a->outlier_threshold > 0 && ss ? a->outlier_threshold : 0.0f;
    if (a->mode == LLM_ACT_DYNAMIC) {
        /* per token: scale from the row's own |x| max over the channels that get quantized */
        for (int t = 0; t < T; t++) {
            float *x = X + (size_t)t * in, amax = 0;
            for (int i = 0; i < in; i++)
                if (!(thr > 0 && ss->absmax[i] > thr)) { float v = fabsf(x[i]); amax = v > amax ? v : amax; }
            if (amax > 0) fq_row(x, in, amax / qmax, qmax, ss ? ss->absmax : NULL, thr);
        }
        return;
    }
    /* static per tensor: affine int8 grid over the calibrated [lo, hi] */
    float lo = fminf(ss->lo, 0.0f), hi = fmaxf(ss->hi, 0.0f);
    if (thr > 0) {
        lo = 0;
        hi = 0;
        for (int i = 0; i < in; i++)
            if (ss->absmax[i] <= thr) hi = fmaxf(hi, ss->absmax[i]);
        lo = -hi;
    }
    int qmin_a = -(1 << (a->bits - 1)), qmax_a = (1 << (a->bits - 1)) - 1;
    float scale = (hi - lo) / (float)(qmax_a - qmin_a);
    if (!(scale > 0)) return;
    float zf = nearbyintf((float)qmin_a - lo / scale);
    int32_t z = (int32_t)fminf(fmaxf(zf, (float)qmin_a), (float)qmax_a);
    for (size_t i = 0; i < (size_t)T * in; i++) {
        if (thr > 0 && ss->absmax[i % in] > thr) continue;
        X[i] = quant_value(quant_code(X[i], scale, z, qmin_a, qmax_a), scale, z);
    }
}

void llm_int8_decompose_weights(LlmModel *m, const float *const *fp_weights, const LlmActStats *st, float threshold) {
    int idx = 0;
    for (int l = 0; l < m->c.n_layers; l++) {
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears(m, l, lin);
        for (int k = 0; k < nl; k++, idx++) {
            const LlmSiteStats *ss = site(st, l, lin[k].site);
            const float *fp = fp_weights[idx];
            for (int o = 0; o < lin[k].out; o++) {
                float *w = lin[k].w + (size_t)o * lin[k].in;
                const float *f = fp + (size_t)o * lin[k].in;
                float amax = 0;
                for (int i = 0; i < lin[k].in; i++)
                    if (ss->absmax[i] <= threshold) amax = fmaxf(amax, fabsf(f[i]));
                float s = amax > 0 ? amax / 127.0f : 1.0f;
                for (int i = 0; i < lin[k].in; i++) {
                    if (ss->absmax[i] > threshold) w[i] = f[i];  /* outlier column stays fp */
                    else w[i] = s * fminf(fmaxf(nearbyintf(f[i] / s), -127.0f), 127.0f);
                }
            }
        }
    }
}
