/* fakequant.c — fake quantization, STE, LSQ, EMA observer (fakequant.h). */
#include "quant/fakequant.h"

#include <math.h>

void fq_forward(const QParams *p, const float *x, float *y, uint8_t *mask) {
    int64_t g = p->gran == QGRAN_GROUP ? p->group_size : p->cols;
    for (int64_t r = 0; r < p->rows; r++)
        for (int64_t c0 = 0; c0 < p->cols; c0 += g) {
            int64_t c1 = c0 + g < p->cols ? c0 + g : p->cols, k = qparams_index(p, r, c0);
            float s = p->scale[k];
            int32_t z = p->zero[k];
            float a = s * (float)(p->qmin - z), b = s * (float)(p->qmax - z);
            float lo = fminf(a, b), hi = fmaxf(a, b);
            for (int64_t c = c0; c < c1; c++) {
                int64_t i = r * p->cols + c;
                float v = x[i];
                if (mask) mask[i] = v >= lo && v <= hi;
                y[i] = quant_value(quant_code(v, s, z, p->qmin, p->qmax), s, z);
            }
        }
}

void fq_ste_backward(const uint8_t *mask, const float *dy, float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = mask[i] ? dy[i] : 0.0f;
}

void lsq_forward(const float *x, float *y, int64_t n, float s, int qn, int qp) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / s;
        if (v < (float)qn) v = (float)qn;
        if (v > (float)qp) v = (float)qp;
        y[i] = s * nearbyintf(v);
    }
}

double lsq_backward(const float *x, const float *dy, float *dx, int64_t n, float s, int qn, int qp) {
    double ds = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / s;
        double d;
        if (v < (float)qn) {
            d = qn;
            if (dx) dx[i] = 0.0f;
        } else if (v > (float)qp) {
            d = qp;
            if (dx) dx[i] = 0.0f;
        } else {
            d = (double)nearbyintf(v) - v;
            if (dx) dx[i] = dy[i];
        }
        ds += d * dy[i];
    }
    return ds / sqrt((double)n * qp);
}

void fq_ema_update(FqEma *e, const float *x, int64_t n) {
    if (n <= 0) return;
    float mn = x[0], mx = x[0];
    for (int64_t i = 1; i < n; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
    }
    if (!e->seen) {
        e->lo = mn;
        e->hi = mx;
    } else {
        float m = e->momentum > 0 ? e->momentum : 0.01f;
        e->lo = (1 - m) * e->lo + m * mn;
        e->hi = (1 - m) * e->hi + m * mx;
    }
    e->seen++;
}
