/* qerror.c — error metrics between a tensor and its quantized version (qerror.h). */
#include "quant/qerror.h"

#include <math.h>

QErrorStats qerror_stats(const float *x, const float *y, int64_t n) {
    double se = 0, sx = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)y[i];
        se += d * d;
        sx += (double)x[i] * x[i];
        if (fabs(d) > mx) mx = fabs(d);
    }
    QErrorStats s;
    s.mse = n ? se / (double)n : 0.0;
    s.sqnr_db = se > 0 ? 10.0 * log10(sx / se) : INFINITY;
    s.max_abs = mx;
    s.rel_l2 = sx > 0 ? sqrt(se / sx) : (se > 0 ? INFINITY : 0.0);
    return s;
}

void qhistogram(const float *x, int64_t n, double lo, double hi, int nbins, int64_t *counts) {
    for (int k = 0; k < nbins; k++) counts[k] = 0;
    if (nbins < 1) return;
    double w = hi > lo ? (hi - lo) / nbins : 1;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        double t = floor((x[i] - lo) / w);
        int k = t < 0 ? 0 : t >= nbins ? nbins - 1 : (int)t;
        counts[k]++;
    }
}
