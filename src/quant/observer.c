/* observer.c — calibration observers (observer.h).
 * Histogram observers keep counts over [lo, hi] of everything seen; when a batch widens the
 * range, the old counts are re-binned into the new range by their bin centres. */
#include "quant/observer.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "quant/qparams.h"

struct QObserver {
    QObserverKind kind;
    QObserverOpts opts;
    int seen;
    float min, max;      /* running min/max (or moving average for QOBS_MOVING_AVG) */
    double *hist;        /* [bins] over [hmin, hmax] */
    float hmin, hmax;
};

int qobserver_kind_parse(const char *name, QObserverKind *kind, QErr *err) {
    static const char *names[] = {"minmax", "moving-avg", "percentile", "mse", "entropy"};
    for (int i = 0; i < 5; i++)
        if (strcasecmp(name, names[i]) == 0) return *kind = (QObserverKind)i, 0;
    if (strcasecmp(name, "moving_avg") == 0 || strcasecmp(name, "kl") == 0)
        return *kind = strcasecmp(name, "kl") == 0 ? QOBS_ENTROPY : QOBS_MOVING_AVG, 0;
    return qerr_set(err, "unknown observer '%s' (minmax, moving-avg, percentile, mse, entropy)", name);
}

const char *qobserver_kind_name(QObserverKind kind) {
    static const char *names[] = {"minmax", "moving-avg", "percentile", "mse", "entropy"};
    return (unsigned)kind < 5 ? names[kind] : "?";
}

QObserver *qobserver_new(QObserverKind kind, const QObserverOpts *opts) {
    QObserver *o = xcalloc(1, sizeof *o);
    o->kind = kind;
    o->opts.momentum = 0.01;
    o->opts.percentile = 99.99;
    o->opts.bins = 2048;
    if (opts) {
        if (opts->momentum > 0) o->opts.momentum = opts->momentum;
        if (opts->percentile > 0) o->opts.percentile = opts->percentile;
        if (opts->bins > 0) o->opts.bins = opts->bins;
    }
    if (kind >= QOBS_PERCENTILE) o->hist = xcalloc((size_t)o->opts.bins, sizeof(double));
    return o;
}

void qobserver_free(QObserver *o) {
    if (!o) return;
    free(o->hist);
    free(o);
}

static void hist_add(QObserver *o, const float *x, int64_t n) {
    const int B = o->opts.bins;
    float bmin = o->min, bmax = o->max;
    if (o->seen == 1 || bmin < o->hmin || bmax > o->hmax) {
        /* new range: re-bin the old counts by centre */
        double *nh = xcalloc((size_t)B, sizeof(double));
        if (o->seen > 1) {
            double ow = ((double)o->hmax - o->hmin) / B, nw = ((double)bmax - bmin) / B;
            for (int i = 0; i < B; i++) {
                if (o->hist[i] == 0) continue;
                double c = o->hmin + (i + 0.5) * ow;
                int j = nw > 0 ? (int)((c - bmin) / nw) : 0;
                if (j < 0) j = 0;
                if (j >= B) j = B - 1;
                nh[j] += o->hist[i];
            }
        }
        free(o->hist);
        o->hist = nh;
        o->hmin = bmin;
        o->hmax = bmax;
    }
    double w = ((double)o->hmax - o->hmin) / B;
    for (int64_t i = 0; i < n; i++) {
        int j = w > 0 ? (int)(((double)x[i] - o->hmin) / w) : 0;
        if (j < 0) j = 0;
        if (j >= B) j = B - 1;
        o->hist[j] += 1;
    }
}

void qobserver_update(QObserver *o, const float *x, int64_t n) {
    if (n <= 0) return;
    float mn = FLT_MAX, mx = -FLT_MAX;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    if (o->kind == QOBS_MOVING_AVG && o->seen) {
        float m = (float)o->opts.momentum;
        o->min = (1 - m) * o->min + m * mn;
        o->max = (1 - m) * o->max + m * mx;
    } else if (!o->seen) {
        o->min = mn;
        o->max = mx;
    } else {
        o->min = fminf(o->min, mn);
        o->max = fmaxf(o->max, mx);
    }
    o->seen++;
    if (o->hist) hist_add(o, x, n);
}

/* Value below which a fraction q of the histogram mass lies (linear within a bin). */
static float hist_quantile(const QObserver *o, double q) {
    const int B = o->opts.bins;
    double total = 0;
    for (int i = 0; i < B; i++) total += o->hist[i];
    double target = q * total, acc = 0, w = ((double)o->hmax - o->hmin) / B;
    for (int i = 0; i < B; i++) {
        if (acc + o->hist[i] >= target && o->hist[i] > 0) {
            double frac = (target - acc) / o->hist[i];
            return (float)(o->hmin + (i + frac) * w);
        }
        acc += o->hist[i];
    }
    return o->hmax;
}

/* Expected squared error of fake-quantizing the histogram with range [lo, hi]. */
static double hist_mse(const QObserver *o, int bits, int symmetric, float lo, float hi) {
    QParams p;
    QErr e;
    if (qparams_init(&p, bits, symmetric, QGRAN_TENSOR, 0, 1, 1, &e)) return INFINITY;
    qparams_set_range(&p, 0, lo, hi);
    const int B = o->opts.bins;
    double w = ((double)o->hmax - o->hmin) / B, err = 0;
    for (int i = 0; i < B; i++) {
        if (o->hist[i] == 0) continue;
        float c = (float)(o->hmin + (i + 0.5) * w);
        float y = quant_value(quant_code(c, p.scale[0], p.zero[0], p.qmin, p.qmax), p.scale[0], p.zero[0]);
        err += o->hist[i] * (double)(c - y) * (c - y);
    }
    qparams_free(&p);
    return err;
}

/* TensorRT-style entropy calibration on the |x| histogram: the threshold whose clipped and
 * quantized distribution Q is closest (KL) to the clipped reference P. */
static float entropy_threshold(const QObserver *o, int bits, int nonneg) {
    const int B = o->opts.bins;
    float amax = fmaxf(fabsf(o->hmin), fabsf(o->hmax));
    if (amax <= 0) return 0;
    double *h = xcalloc((size_t)B, sizeof(double));
    double w = ((double)o->hmax - o->hmin) / B, aw = (double)amax / B;
    for (int i = 0; i < B; i++) {
        if (o->hist[i] == 0) continue;
        double c = fabs(o->hmin + (i + 0.5) * w);
        int j = (int)(c / aw);
        if (j >= B) j = B - 1;
        h[j] += o->hist[i];
    }
    int levels = nonneg ? (1 << bits) : (1 << (bits - 1));
    if (levels > B) levels = B;
    double best_kl = INFINITY;
    int best_i = B;
    double *p = xmalloc((size_t)B * sizeof(double)), *q = xmalloc((size_t)B * sizeof(double));
    for (int i = levels; i <= B; i += (B >= 1024 ? 4 : 1)) {
        double outl = 0, ptot = 0;
        for (int j = i; j < B; j++) outl += h[j];
        for (int j = 0; j < i; j++) p[j] = h[j];
        p[i - 1] += outl;
        for (int j = 0; j < i; j++) ptot += p[j];
        if (ptot <= 0) continue;
        /* merge the i reference bins into `levels` quantized bins, spread back over nonzero bins */
        for (int l = 0; l < levels; l++) {
            int j0 = (int)((long long)l * i / levels), j1 = (int)((long long)(l + 1) * i / levels);
            double sum = 0;
            int nz = 0;
            for (int j = j0; j < j1; j++) {
                sum += h[j];
                nz += h[j] > 0;
            }
            for (int j = j0; j < j1; j++) q[j] = (h[j] > 0 && nz) ? sum / nz : 0;
        }
        double qtot = 0;
        for (int j = 0; j < i; j++) qtot += q[j];
        if (qtot <= 0) continue;
        double kl = 0;
        for (int j = 0; j < i; j++) {
            if (p[j] <= 0) continue;
            double pj = p[j] / ptot, qj = q[j] / qtot;
            kl += qj > 0 ? pj * log(pj / qj) : pj * 30.0; /* Q = 0 where P > 0: heavy penalty */
        }
        if (kl < best_kl) {
            best_kl = kl;
            best_i = i;
        }
    }
    free(p);
    free(q);
    free(h);
    return (float)((best_i + 0.5) * aw > amax ? amax : (best_i + 0.5) * aw);
}

void qobserver_range(const QObserver *o, int bits, int symmetric, float *lo, float *hi) {
    *lo = o->seen ? o->min : 0.0f;
    *hi = o->seen ? o->max : 0.0f;
    if (!o->seen || o->kind == QOBS_MINMAX || o->kind == QOBS_MOVING_AVG) return;
    if (o->kind == QOBS_PERCENTILE) {
        double q = o->opts.percentile / 100.0;
        *lo = o->min < 0 ? hist_quantile(o, 1.0 - q) : o->min;
        *hi = hist_quantile(o, q);
        if (symmetric) {
            float a = fmaxf(-*lo, *hi);
            *lo = -a;
            *hi = a;
        }
        return;
    }
    if (o->kind == QOBS_MSE) {
        float blo = *lo, bhi = *hi;
        double best = INFINITY;
        for (int i = 100; i >= 5; i--) {
            float f = i / 100.0f, l = o->min * f, h = o->max * f;
            if (symmetric) {
                float a = fmaxf(-o->min, o->max) * f;
                l = -a;
                h = a;
            }
            double e = hist_mse(o, bits, symmetric, l, h);
            if (e < best) {
                best = e;
                blo = l;
                bhi = h;
            }
        }
        *lo = blo;
        *hi = bhi;
        return;
    }
    /* entropy */
    int nonneg = o->min >= 0;
    float t = entropy_threshold(o, bits, nonneg && !symmetric);
    *lo = nonneg ? 0.0f : fmaxf(o->min, -t);
    *hi = fminf(o->max, t);
    if (symmetric) {
        *lo = -t;
        *hi = t;
    }
}

void qclip_mse_search(const float *x, int64_t n, int bits, int symmetric, float *lo, float *hi) {
    float mn = x[0], mx = x[0];
    for (int64_t i = 1; i < n; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
    }
    mn = fminf(mn, 0.0f);
    mx = fmaxf(mx, 0.0f);
    QParams p;
    QErr e;
    if (qparams_init(&p, bits, symmetric, QGRAN_TENSOR, 0, 1, 1, &e)) {
        *lo = mn;
        *hi = mx;
        return;
    }
    double best = INFINITY;
    *lo = mn;
    *hi = mx;
    for (int i = 100; i >= 20; i--) {
        float f = i / 100.0f;
        qparams_set_range(&p, 0, mn * f, mx * f);
        float s = p.scale[0];
        int32_t z = p.zero[0];
        double err = 0;
        for (int64_t k = 0; k < n && err < best; k++) {
            float d = x[k] - quant_value(quant_code(x[k], s, z, p.qmin, p.qmax), s, z);
            err += (double)d * d;
        }
        if (err < best) {
            best = err;
            *lo = mn * f;
            *hi = mx * f;
        }
    }
    qparams_free(&p);
}

void qparams_fit_observer(QParams *p, const float *x, QObserverKind kind) {
    if (kind == QOBS_MINMAX || kind == QOBS_MOVING_AVG) {
        qparams_fit_minmax(p, x);
        return;
    }
    /* a per-tensor grid sees the whole tensor as one row */
    const int tensor = p->gran == QGRAN_TENSOR;
    const int64_t units_per_row = tensor ? 1 : p->groups_per_row, rows = tensor ? 1 : p->rows;
    const int64_t rowlen = tensor ? p->rows * p->cols : p->cols;
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < units_per_row; j++) {
            int64_t c0 = 0, c1 = rowlen;
            if (!tensor) qparams_unit_cols(p, j, &c0, &c1);
            const float *u = x + r * rowlen + c0;
            float lo, hi;
            if (kind == QOBS_MSE) {
                qclip_mse_search(u, c1 - c0, p->bits, p->symmetric, &lo, &hi);
            } else {
                QObserver *o = qobserver_new(kind, NULL);
                qobserver_update(o, u, c1 - c0);
                qobserver_range(o, p->bits, p->symmetric, &lo, &hi);
                qobserver_free(o);
            }
            qparams_set_range(p, r * units_per_row + j, lo, hi);
        }
}
