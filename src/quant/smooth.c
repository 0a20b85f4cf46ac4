/* smooth.c — SmoothQuant and AWQ scale searches and AWQ's clipping search (smooth.h). */
#include "quant/smooth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/kernels.h"
#include "quant/qparams.h"

/* ---------------------------------------------------------------- helpers */

static int site_rows(const QSite *site) {
    int o = 0;
    for (int k = 0; k < site->nw; k++) o += site->out[k];
    return o;
}

/* The site's weights stacked: Wc [O, in] (rows of every linear, in order). Row-wise grids make
 * quantizing the stack the same as quantizing each linear. */
static float *stack_w(const QSite *site) {
    const int O = site_rows(site), in = site->in;
    float *Wc = xmalloc((size_t)O * in * sizeof(float)), *p = Wc;
    for (int k = 0; k < site->nw; k++) {
        memcpy(p, site->W[k], (size_t)site->out[k] * in * sizeof(float));
        p += (size_t)site->out[k] * in;
    }
    return Wc;
}

/* v [in] replaced by its class maximum (mean = 0) or class mean (mean = 1) under tie */
static void tie_reduce(const int *tie, int in, float *v, int mean) {
    if (!tie) return;
    double *acc = xcalloc((size_t)in, sizeof(double));
    int *cnt = xcalloc((size_t)in, sizeof(int));
    for (int j = 0; j < in; j++) {
        int r = tie[j];
        acc[r] = mean ? acc[r] + v[j] : fmax(acc[r], v[j]);
        cnt[r]++;
    }
    for (int j = 0; j < in; j++) v[j] = (float)(mean ? acc[tie[j]] / cnt[tie[j]] : acc[tie[j]]);
    free(acc);
    free(cnt);
}

/* The LLM quantizer's weight grid on p (as llm/ptq/quantize.c): float16 scales; symmetric
 * below 8 bits over all 2^b levels (Q4_0), at 8 bits over -127..127 (Q8_0: scale = max|w| / 127),
 * so the searches measure the grid the weights really get. */
static void wgrid(QParams *p, int bits, int symmetric) {
    p->scale_f16 = 1;
    p->sym_full = bits < 8;
    if (bits == 8 && symmetric) p->qmin = -p->qmax;
}

/* Wq [O, in] = RTN of W [O, in] on the target weight grid (min-max ranges) */
static void wfake(const QSiteTarget *t, const float *W, int O, int in, float *Wq) {
    QParams p;
    QErr e;
    qparams_init(&p, t->wbits, !t->affine, t->wgroup > 0 ? QGRAN_GROUP : QGRAN_CHANNEL, t->wgroup, O, in, &e);
    wgrid(&p, t->wbits, !t->affine);
    qparams_merge_tail(&p);
    qparams_fit_minmax(&p, W);
    fake_quantize(&p, W, Wq);
    qparams_free(&p);
}

/* Xq [n] = X [n] on the affine grid of 2^bits levels over [lo, hi] (lo <= 0 <= hi; the
 * zero-point rounded and clamped), as llm_act_quant_hook's static per-tensor range; Xq may be X */
static void afake_range(const float *X, int64_t n, float lo, float hi, int bits, float *Xq) {
    const int qmax = (1 << (bits - 1)) - 1, qmin = -(1 << (bits - 1));
    float scale = (hi - lo) / (float)(qmax - qmin);
    if (!(scale > 0)) {
        if (Xq != X) memcpy(Xq, X, (size_t)n * sizeof(float));
        return;
    }
    float zf = nearbyintf((float)qmin - lo / scale);
    int32_t z = (int32_t)fminf(fmaxf(zf, (float)qmin), (float)qmax);
    for (int64_t i = 0; i < n; i++) Xq[i] = quant_value(quant_code(X[i], scale, z, qmin, qmax), scale, z);
}

/* X [rows, in] fake-quantized in place on the target activation grid (as llm_act_quant_hook) */
static void afake(const QSiteTarget *t, float *X, int64_t rows, int in) {
    if (t->act == QACT_NONE) return;
    const int qmax = (1 << (t->abits - 1)) - 1;
    if (t->act == QACT_TOKEN) {
        for (int64_t r = 0; r < rows; r++) {
            float *x = X + r * in, amax = 0;
            for (int i = 0; i < in; i++) amax = fmaxf(amax, fabsf(x[i]));
            if (!(amax > 0)) continue;
            float s = amax / qmax;
            for (int i = 0; i < in; i++) {
                float v = nearbyintf(x[i] / s);
                x[i] = fminf(fmaxf(v, (float)-qmax), (float)qmax) * s;
            }
        }
        return;
    }
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < rows * in; i++) {
        lo = fminf(lo, X[i]);
        hi = fmaxf(hi, X[i]);
    }
    if (t->aclip > 0 && t->aclip < 1) {
        lo *= t->aclip;
        hi *= t->aclip;
    }
    afake_range(X, rows * in, lo, hi, t->abits, X);
}

/* --------------------------------------------------------------- scales */

void qsmooth_scales(const QSite *site, const float *xabsmax, float alpha, float *s) {
    const int in = site->in;
    float *xm = xmalloc((size_t)in * sizeof(float)), *wm = xcalloc((size_t)in, sizeof(float));
    memcpy(xm, xabsmax, (size_t)in * sizeof(float));
    for (int k = 0; k < site->nw; k++)
        for (int r = 0; r < site->out[k]; r++)
            for (int j = 0; j < in; j++) wm[j] = fmaxf(wm[j], fabsf(site->W[k][(size_t)r * in + j]));
    tie_reduce(site->tie, in, xm, 0);
    tie_reduce(site->tie, in, wm, 0);
    for (int j = 0; j < in; j++) {
        if (!(xm[j] > 0) || !(wm[j] > 0)) {
            s[j] = 1.0f;
            continue;
        }
        double v = pow(xm[j], alpha) / pow(wm[j], 1.0 - alpha);
        s[j] = (float)fmax(v, 1e-5);
    }
    free(xm);
    free(wm);
}

void qawq_scales(const QSite *site, const float *xmean, float p, float *s) {
    const int in = site->in;
    float *xm = xmalloc((size_t)in * sizeof(float));
    memcpy(xm, xmean, (size_t)in * sizeof(float));
    tie_reduce(site->tie, in, xm, 1);
    float pos = INFINITY;
    for (int j = 0; j < in; j++)
        if (xm[j] > 0) pos = fminf(pos, xm[j]);
    if (!isfinite(pos)) pos = 1.0f;
    double lo = INFINITY, hi = 0;
    for (int j = 0; j < in; j++) {
        s[j] = (float)pow(xm[j] > 0 ? xm[j] : pos, p);
        lo = fmin(lo, s[j]);
        hi = fmax(hi, s[j]);
    }
    /* geometric-mean normalisation of the extremes, as the AWQ reference: keeps s near 1 */
    float norm = (float)sqrt(lo * hi);
    for (int j = 0; j < in; j++) s[j] /= norm;
    free(xm);
}

/* --------------------------------------------------------------- errors */

/* SmoothQuant error with the reference outputs Yref [rows, O] precomputed */
static double sq_error(const QSite *site, const float *Wc, const float *X, int64_t rows, const float *Yref, double ref,
                       const float *s, const QSiteTarget *t) {
    const int O = site_rows(site), in = site->in;
    float *Ws = xmalloc((size_t)O * in * sizeof(float)), *Xs = xmalloc((size_t)rows * in * sizeof(float));
    for (int r = 0; r < O; r++)
        for (int j = 0; j < in; j++) Ws[(size_t)r * in + j] = Wc[(size_t)r * in + j] * (s ? s[j] : 1.0f);
    wfake(t, Ws, O, in, Ws);
    for (int64_t r = 0; r < rows; r++)
        for (int j = 0; j < in; j++) Xs[r * in + j] = X[r * in + j] / (s ? s[j] : 1.0f);
    afake(t, Xs, rows, in);
    float *Y = xmalloc((size_t)rows * O * sizeof(float));
    kern_sgemm(0, 1, (int)rows, O, in, 1.0f, Xs, in, Ws, in, 0.0f, Y, O);
    double e = 0;
    for (int64_t i = 0; i < rows * O; i++) {
        double d = (double)Y[i] - Yref[i];
        e += d * d;
    }
    free(Ws);
    free(Xs);
    free(Y);
    return ref > 0 ? e / ref : e;
}

static float *sq_ref(const QSite *site, const float *Wc, const float *X, int64_t rows, double *ref) {
    const int O = site_rows(site), in = site->in;
    float *Y = xmalloc((size_t)rows * O * sizeof(float));
    kern_sgemm(0, 1, (int)rows, O, in, 1.0f, X, in, Wc, in, 0.0f, Y, O);
    double r = 0;
    for (int64_t i = 0; i < rows * O; i++) r += (double)Y[i] * Y[i];
    *ref = r;
    return Y;
}

double qsmooth_error(const QSite *site, const float *X, int64_t rows, const float *s, const QSiteTarget *t) {
    float *Wc = stack_w(site);
    double ref;
    float *Y = sq_ref(site, Wc, X, rows, &ref);
    double e = sq_error(site, Wc, X, rows, Y, ref, s, t);
    free(Y);
    free(Wc);
    return e;
}

/* sum(D .* (D H)) for D [O, in] */
static double quad_form(const float *D, int O, int in, const float *H) {
    float *E = xmalloc((size_t)O * in * sizeof(float));
    kern_sgemm(0, 0, O, in, in, 1.0f, D, in, H, in, 0.0f, E, in);
    double e = 0;
    for (size_t i = 0; i < (size_t)O * in; i++) e += (double)D[i] * E[i];
    free(E);
    return e;
}

double qawq_error(const QSite *site, const float *H, const float *s, const QSiteTarget *t) {
    const int O = site_rows(site), in = site->in;
    float *Wc = stack_w(site), *D = xmalloc((size_t)O * in * sizeof(float));
    double ref = quad_form(Wc, O, in, H);
    for (int r = 0; r < O; r++)
        for (int j = 0; j < in; j++) D[(size_t)r * in + j] = Wc[(size_t)r * in + j] * (s ? s[j] : 1.0f);
    wfake(t, D, O, in, D);
    for (int r = 0; r < O; r++)
        for (int j = 0; j < in; j++) {
            size_t i = (size_t)r * in + j;
            D[i] = D[i] / (s ? s[j] : 1.0f) - Wc[i];
        }
    double e = quad_form(D, O, in, H);
    free(Wc);
    free(D);
    return ref > 0 ? e / ref : e;
}

/* --------------------------------------------------------------- searches */

static int check_grid(int ngrid, QErr *err) {
    if (ngrid < 2 || ngrid > QSMOOTH_MAX_GRID) return qerr_set(err, "scale search: grid of %d points, expected 2..%d", ngrid, QSMOOTH_MAX_GRID);
    return 0;
}

int qsmooth_search(const QSite *site, const float *X, int64_t rows, const float *xabsmax, const QSiteTarget *t, int ngrid,
                   float *alpha, float *s, double *errs, double *err_none, QErr *err) {
    if (check_grid(ngrid, err)) return -1;
    const int in = site->in;
    float *Wc = stack_w(site), *sc = xmalloc((size_t)in * sizeof(float));
    double ref;
    float *Y = sq_ref(site, Wc, X, rows, &ref);
    if (err_none) *err_none = sq_error(site, Wc, X, rows, Y, ref, NULL, t);
    double best = INFINITY;
    for (int g = 0; g < ngrid; g++) {
        float a = (float)g / (float)(ngrid - 1);
        qsmooth_scales(site, xabsmax, a, sc);
        double e = sq_error(site, Wc, X, rows, Y, ref, sc, t);
        if (errs) errs[g] = e;
        if (e < best) {
            best = e;
            *alpha = a;
            memcpy(s, sc, (size_t)in * sizeof(float));
        }
    }
    free(Y);
    free(Wc);
    free(sc);
    return 0;
}

int qawq_search(const QSite *site, const float *H, const float *xmean, const QSiteTarget *t, int ngrid, float *p, float *s,
                double *errs, double *err_none, QErr *err) {
    if (check_grid(ngrid, err)) return -1;
    const int in = site->in;
    float *sc = xmalloc((size_t)in * sizeof(float));
    if (err_none) *err_none = qawq_error(site, H, NULL, t);
    double best = INFINITY;
    for (int g = 0; g < ngrid; g++) {
        float v = (float)g / (float)(ngrid - 1);
        qawq_scales(site, xmean, v, sc);
        double e = qawq_error(site, H, sc, t);
        if (errs) errs[g] = e;
        if (e < best) {
            best = e;
            *p = v;
            memcpy(s, sc, (size_t)in * sizeof(float));
        }
    }
    free(sc);
    return 0;
}

int qsmooth_search_clip(const QSite *site, const float *X, int64_t rows, const float *xabsmax, const QSiteTarget *t,
                        int ngrid, float *alpha, float *aclip, float *s, double *err_none, double *err_best, QErr *err) {
    QSiteTarget tt = *t;
    tt.aclip = 1;
    if (qsmooth_search(site, X, rows, xabsmax, &tt, ngrid, alpha, s, NULL, err_none, err)) return -1;
    *aclip = 1;
    if (t->act == QACT_TENSOR) {
        const int in = site->in;
        float *Wc = stack_w(site), *sc = xmalloc((size_t)in * sizeof(float));
        double ref;
        float *Y = sq_ref(site, Wc, X, rows, &ref);
        double best = INFINITY;
        for (int i = 0; i <= 12; i++) {
            tt.aclip = 1.0f - 0.05f * (float)i;
            double e = sq_error(site, Wc, X, rows, Y, ref, s, &tt);
            if (e < best) {
                best = e;
                *aclip = tt.aclip;
            }
        }
        /* alpha again at that range, on the grid points next to the first choice */
        tt.aclip = *aclip;
        float a0 = *alpha, step = 1.0f / (float)(ngrid - 1);
        for (int k = -2; k <= 2; k++) {
            float a = a0 + (float)k * step;
            if (k == 0 || a < -1e-6f || a > 1 + 1e-6f) continue;
            qsmooth_scales(site, xabsmax, a, sc);
            double e = sq_error(site, Wc, X, rows, Y, ref, sc, &tt);
            if (e < best) {
                best = e;
                *alpha = a;
                memcpy(s, sc, (size_t)in * sizeof(float));
            }
        }
        free(Y);
        free(Wc);
        free(sc);
    }
    tt.aclip = *aclip;
    *err_best = qsmooth_error(site, X, rows, s, &tt);
    return 0;
}

double qawq_clip(float *W, int out, int in, const float *H, const QSiteTarget *t, int nratio, float *ratios) {
    QParams p, u;
    QErr e;
    qparams_init(&p, t->wbits, !t->affine, t->wgroup > 0 ? QGRAN_GROUP : QGRAN_CHANNEL, t->wgroup, out, in, &e);
    qparams_merge_tail(&p);
    /* one scale unit at a time: the same range -> scale rule as the RTN that follows */
    qparams_init(&u, t->wbits, !t->affine, QGRAN_TENSOR, 0, 1, 1, &e);
    wgrid(&u, t->wbits, !t->affine);
    if (nratio < 1) nratio = 1;
    float *tmp = xmalloc((size_t)in * sizeof(float)), *d = xmalloc((size_t)in * sizeof(float));
    double sum = 0;
    for (int r = 0; r < out; r++)
        for (int64_t j = 0; j < p.groups_per_row; j++) {
            int64_t c0, c1;
            qparams_unit_cols(&p, j, &c0, &c1);
            float *w = W + (size_t)r * in;
            float lo = w[c0], hi = w[c0];
            for (int64_t c = c0; c < c1; c++) {
                lo = fminf(lo, w[c]);
                hi = fmaxf(hi, w[c]);
            }
            double best = INFINITY;
            float bc = 1.0f;
            for (int i = 0; i < nratio; i++) {
                float cr = nratio > 1 ? 1.0f - 0.5f * (float)i / (float)(nratio - 1) : 1.0f;
                float clo = cr * lo, chi = cr * hi, mn = INFINITY, mx = -INFINITY;
                for (int64_t c = c0; c < c1; c++) {
                    tmp[c] = fminf(fmaxf(w[c], clo), chi);
                    mn = fminf(mn, tmp[c]);
                    mx = fmaxf(mx, tmp[c]);
                }
                qparams_set_range(&u, 0, mn, mx);
                for (int64_t c = c0; c < c1; c++)
                    d[c] = quant_value(quant_code(tmp[c], u.scale[0], u.zero[0], u.qmin, u.qmax), u.scale[0], u.zero[0]) - w[c];
                double er = 0;
                for (int64_t a = c0; a < c1; a++) {
                    double acc = 0;
                    for (int64_t b = c0; b < c1; b++) acc += (double)H[a * in + b] * d[b];
                    er += d[a] * acc;
                }
                if (er < best) {
                    best = er;
                    bc = cr;
                }
            }
            for (int64_t c = c0; c < c1; c++) w[c] = fminf(fmaxf(w[c], bc * lo), bc * hi);
            if (ratios) ratios[(size_t)r * p.groups_per_row + j] = bc;
            sum += bc;
        }
    double mean = sum / ((double)out * p.groups_per_row);
    free(tmp);
    free(d);
    qparams_free(&p);
    qparams_free(&u);
    return mean;
}

void qsite_gram(const float *X, int64_t rows, int in, float *H) {
    kern_sgemm(1, 0, in, in, (int)rows, 1.0f / (float)rows, X, in, X, in, 0.0f, H, in);
}

/* ---------------------------------------------------- static activation range */

/* the relative output error with the inputs on the range [lo, hi] (Xq [rows, in], Y [rows, O]: scratch) */
static double range_err(const QSite *site, const float *Wc, const float *X, int64_t rows, const float *Yref, double ref, float lo,
                        float hi, int abits, float *Xq, float *Y) {
    const int O = site_rows(site), in = site->in;
    afake_range(X, rows * in, lo, hi, abits, Xq);
    kern_sgemm(0, 1, (int)rows, O, in, 1.0f, Xq, in, Wc, in, 0.0f, Y, O);
    double e = 0;
    for (int64_t i = 0; i < rows * O; i++) {
        double d = (double)Y[i] - Yref[i];
        e += d * d;
    }
    return ref > 0 ? e / ref : e;
}

double qact_range_search(const QSite *site, const float *X, int64_t rows, int abits, int nratio, float *lo, float *hi,
                         double *errs) {
    const int O = site_rows(site), in = site->in;
    float lo0 = 0, hi0 = 0;
    for (int64_t i = 0; i < rows * in; i++) {
        lo0 = fminf(lo0, X[i]);
        hi0 = fmaxf(hi0, X[i]);
    }
    *lo = lo0;
    *hi = hi0;
    if (nratio < 1) nratio = 1;
    float *Wc = stack_w(site), *Xq = xmalloc((size_t)rows * in * sizeof(float)), *Y = xmalloc((size_t)rows * O * sizeof(float));
    double ref;
    float *Yref = sq_ref(site, Wc, X, rows, &ref);
    double best = INFINITY;
    float cl = 1, ch = 1;
    /* both ends by one ratio, then the upper end alone, then the lower end alone */
    for (int stage = 0; stage < 3; stage++)
        for (int i = 0; i < nratio; i++) {
            float c = qact_range_ratio(i, nratio);
            float a = stage == 1 ? cl : c, b = stage == 2 ? ch : c;
            if ((stage == 1 && hi0 == 0) || (stage == 2 && lo0 == 0)) break; /* that end is 0 whatever c */
            if (stage > 0 && (stage == 1 ? b == ch : a == cl)) continue; /* the point already measured */
            double e = range_err(site, Wc, X, rows, Yref, ref, a * lo0, b * hi0, abits, Xq, Y);
            if (stage == 0 && errs) errs[i] = e;
            if (e < best) {
                best = e;
                if (stage == 0) cl = ch = c;
                else if (stage == 1) ch = b;
                else cl = a;
            }
        }
    *lo = cl * lo0;
    *hi = ch * hi0;
    free(Wc);
    free(Xq);
    free(Y);
    free(Yref);
    return best;
}
