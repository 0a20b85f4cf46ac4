/* qparams.c — scales, zero-points, quantize / dequantize / fake-quantize (qparams.h). */
#include "quant/qparams.h"

#include <stdlib.h>
#include <string.h>

int qparams_init(QParams *p, int bits, int symmetric, QGranularity gran, int64_t group_size,
                 int64_t rows, int64_t cols, QErr *err) {
    memset(p, 0, sizeof *p);
    if (bits < 2 || bits > 8) return qerr_set(err, "bits must be in 2..8, got %d", bits);
    if (rows < 1 || cols < 1) return qerr_set(err, "bad tensor shape [%lld, %lld]", (long long)rows, (long long)cols);
    if (gran == QGRAN_GROUP && group_size < 1) return qerr_set(err, "group size must be >= 1, got %lld", (long long)group_size);
    p->bits = bits;
    p->symmetric = symmetric ? 1 : 0;
    p->gran = gran;
    p->rows = rows;
    p->cols = cols;
    p->qmin = -(1 << (bits - 1));
    p->qmax = (1 << (bits - 1)) - 1;
    p->group_size = gran == QGRAN_GROUP ? group_size : 0;
    p->groups_per_row = gran == QGRAN_GROUP ? (cols + group_size - 1) / group_size : 1;
    p->n = gran == QGRAN_TENSOR ? 1 : gran == QGRAN_CHANNEL ? rows : rows * p->groups_per_row;
    p->scale = xmalloc((size_t)p->n * sizeof(float));
    p->zero = xcalloc((size_t)p->n, sizeof(int32_t));
    for (int64_t k = 0; k < p->n; k++) p->scale[k] = 1.0f;
    return 0;
}

void qparams_merge_tail(QParams *p) {
    if (p->gran != QGRAN_GROUP || p->cols % p->group_size == 0 || p->groups_per_row < 2 || p->merge_tail) return;
    p->groups_per_row--;
    p->n = p->rows * p->groups_per_row;
    p->merge_tail = 1;
    /* the arrays only shrink: keep them (every unit is refitted by the caller) */
}

void qparams_free(QParams *p) {
    free(p->scale);
    free(p->zero);
    memset(p, 0, sizeof *p);
}

int qparams_copy(QParams *dst, const QParams *src) {
    *dst = *src;
    dst->scale = xmalloc((size_t)src->n * sizeof(float));
    dst->zero = xmalloc((size_t)src->n * sizeof(int32_t));
    memcpy(dst->scale, src->scale, (size_t)src->n * sizeof(float));
    memcpy(dst->zero, src->zero, (size_t)src->n * sizeof(int32_t));
    return 0;
}

void qparams_set_range(QParams *p, int64_t k, float lo, float hi) {
    /* The grid must contain 0 exactly (zero padding, ReLU outputs, sparse weights). */
    if (lo > 0.0f) lo = 0.0f;
    if (hi < 0.0f) hi = 0.0f;
    float s;
    int32_t z = 0;
    if (p->symmetric && p->sym_full) {
        float e = -lo > hi ? lo : hi;
        s = e / (float)p->qmin;
    } else if (p->symmetric) {
        float amax = fmaxf(-lo, hi);
        s = amax / (float)p->qmax;
    } else {
        s = (hi - lo) / (float)(p->qmax - p->qmin);
        if (s > 0.0f) {
            float zf = nearbyintf((float)p->qmin - lo / s);
            if (zf < (float)p->qmin) zf = (float)p->qmin;
            if (zf > (float)p->qmax) zf = (float)p->qmax;
            z = (int32_t)zf;
        }
    }
    if (s == 0.0f || !isfinite(s)) s = 1.0f; /* all zeros: any scale is exact */
    if (p->scale_f16) {
        /* round |s| to what a float16 can hold (never to 0, rounding up so the range stays
         * covered), keep the sign, and refit the zero-point to it */
        float a = fabsf(s), r = qf16_to_f32(qf32_to_f16(a));
        if (!(r > 0.0f)) r = qf16_to_f32(1); /* smallest subnormal */
        if (r < a) r = qf16_to_f32((uint16_t)(qf32_to_f16(a) + 1));
        s = s < 0 ? -r : r;
        if (!p->symmetric) {
            float zf = nearbyintf((float)p->qmin - lo / s);
            z = (int32_t)fminf(fmaxf(zf, (float)p->qmin), (float)p->qmax);
        }
    }
    p->scale[k] = s;
    p->zero[k] = z;
}

/* Min/max of row r, columns [c0, c1). */
static void row_range(const float *x, int64_t cols, int64_t r, int64_t c0, int64_t c1, float *lo, float *hi) {
    const float *row = x + r * cols;
    float mn = row[c0], mx = row[c0];
    for (int64_t c = c0 + 1; c < c1; c++) { /* comparisons, not fminf calls: they vectorize (finite weights) */
        mn = row[c] < mn ? row[c] : mn;
        mx = row[c] > mx ? row[c] : mx;
    }
    *lo = mn;
    *hi = mx;
}

void qparams_fit_minmax(QParams *p, const float *x) {
    if (p->gran == QGRAN_TENSOR) {
        float lo, hi;
        row_range(x, p->rows * p->cols, 0, 0, p->rows * p->cols, &lo, &hi);
        qparams_set_range(p, 0, lo, hi);
        return;
    }
#pragma omp parallel for schedule(static) if (p->rows * p->cols > 65536)
    for (int64_t r = 0; r < p->rows; r++)
        for (int64_t j = 0; j < p->groups_per_row; j++) {
            int64_t c0, c1;
            qparams_unit_cols(p, j, &c0, &c1);
            float lo, hi;
            row_range(x, p->cols, r, c0, c1, &lo, &hi);
            qparams_set_range(p, r * p->groups_per_row + j, lo, hi);
        }
}

/* Visits every (row, run of columns sharing one scale): the common loop of the three
 * element-wise transforms below. */
#define FOR_EACH_UNIT(p, BODY)                                                           \
    do {                                                                                 \
        int64_t g_ = (p)->gran == QGRAN_GROUP ? (p)->group_size : (p)->cols;             \
        _Pragma("omp parallel for schedule(static) if ((p)->rows * (p)->cols > 65536)")  \
        for (int64_t r = 0; r < (p)->rows; r++)                                          \
            for (int64_t c0 = 0; c0 < (p)->cols; c0 += g_) {                             \
                int64_t c1 = c0 + g_ < (p)->cols ? c0 + g_ : (p)->cols;                  \
                int64_t k = qparams_index((p), r, c0);                                   \
                float s = (p)->scale[k];                                                 \
                int32_t z = (p)->zero[k];                                                \
                for (int64_t c = c0; c < c1; c++) {                                      \
                    int64_t i = r * (p)->cols + c;                                       \
                    BODY;                                                                \
                }                                                                        \
            }                                                                            \
    } while (0)

void quantize(const QParams *p, const float *x, int8_t *q) {
    FOR_EACH_UNIT(p, q[i] = (int8_t)quant_code(x[i], s, z, p->qmin, p->qmax));
}

void dequantize(const QParams *p, const int8_t *q, float *y) {
    FOR_EACH_UNIT(p, y[i] = quant_value(q[i], s, z));
}

void fake_quantize(const QParams *p, const float *x, float *y) {
    FOR_EACH_UNIT(p, y[i] = quant_value(quant_code(x[i], s, z, p->qmin, p->qmax), s, z));
}

double qparams_bits_per_weight(const QParams *p) {
    double elems = (double)p->rows * (double)p->cols;
    double extra = (double)p->n * (16.0 + (p->symmetric ? 0.0 : p->bits));
    return p->bits + extra / elems;
}
