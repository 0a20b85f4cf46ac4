/* qparams.h — the quantization scheme: bits, symmetric/affine, granularity, and the
 * scales and zero-points that map floats to integer codes and back.
 *
 *   q = clamp(round(x / s) + z, qmin, qmax)        x_hat = s * (q - z)
 *
 * Codes are always held as int8_t in [qmin, qmax] = [-2^(b-1), 2^(b-1) - 1], for any
 * bits b in 2..8 (an unsigned uint8 activation with zero-point z_u is the same grid as
 * int8 with z = z_u - 128).  Symmetric means z = 0; affine lets z move so [lo, hi] maps
 * onto the whole code range with 0.0 exactly representable.
 *
 * A tensor is viewed as a matrix [rows, cols]; a "channel" is a row (the output channel
 * of a weight matrix W[out, in]).  Granularity:
 *   QGRAN_TENSOR   one (s, z) for everything                      n = 1
 *   QGRAN_CHANNEL  one per row                                    n = rows
 *   QGRAN_GROUP    one per run of group_size columns in each row  n = rows * ceil(cols / g)
 *                  (the last group of a row may be shorter: "ragged"; after
 *                  qparams_merge_tail the remainder joins the group before it instead:
 *                  n = rows * floor(cols / g), the last group up to 2g - 1 wide)
 * Scale/zero pair k for element (r, c) is qparams_index(p, r, c). */
#ifndef QUANT_QPARAMS_H
#define QUANT_QPARAMS_H

#include <math.h>
#include <stdint.h>

#include "quant/core.h"

typedef enum QGranularity {
    QGRAN_TENSOR = 0,
    QGRAN_CHANNEL = 1,
    QGRAN_GROUP = 2,
} QGranularity;

typedef struct QParams {
    int bits;                /* 2..8 */
    int symmetric;           /* 1: z = 0 */
    QGranularity gran;
    int64_t group_size;      /* columns per group (QGRAN_GROUP), else 0 */
    int64_t rows, cols;      /* the tensor as a matrix */
    int64_t groups_per_row;  /* 1 for tensor/channel, ceil(cols / group_size) for groups */
    int64_t n;               /* number of (scale, zero) pairs */
    int32_t qmin, qmax;      /* code range */
    int scale_f16;           /* scales rounded to float16 (what files store), set after init */
    int merge_tail;          /* groups: a ragged remainder belongs to the last full group */
    int sym_full;            /* symmetric over all 2^b levels (llama.cpp Q4_0 style): the scale takes the
                                sign of the extreme value so that value lands exactly on qmin; may be < 0 */
    float *scale;            /* [n] */
    int32_t *zero;           /* [n] */
} QParams;

/* Allocates scale/zero (scale = 1, zero = 0).  -1 + err on bits outside 2..8, group_size
 * < 1 with QGRAN_GROUP, or non-positive shape. */
int  qparams_init(QParams *p, int bits, int symmetric, QGranularity gran, int64_t group_size,
                  int64_t rows, int64_t cols, QErr *err);
void qparams_free(QParams *p);
int  qparams_copy(QParams *dst, const QParams *src);   /* deep copy */

/* Groups: the remainder of a row whose width is not a multiple of the group size joins the
 * previous group (172 columns, g = 32: groups of 32, 32, 32, 32 and 44), so the row needs one
 * scale fewer — what keeps 4-bit groups of 32 at 4.5 bits per weight on such rows.  Call
 * right after qparams_init; a no-op when there is no remainder or only one group. */
void qparams_merge_tail(QParams *p);

static inline int64_t qparams_index(const QParams *p, int64_t r, int64_t c) {
    switch (p->gran) {
        case QGRAN_TENSOR: return 0;
        case QGRAN_CHANNEL: return r;
        default: {
            int64_t j = c / p->group_size;
            return r * p->groups_per_row + (j < p->groups_per_row ? j : p->groups_per_row - 1);
        }
    }
}
/* Columns [*c0, *c1) of unit j within a row (channel: the whole row). */
static inline void qparams_unit_cols(const QParams *p, int64_t j, int64_t *c0, int64_t *c1) {
    if (p->gran != QGRAN_GROUP) {
        *c0 = 0;
        *c1 = p->cols;
        return;
    }
    *c0 = j * p->group_size;
    *c1 = j == p->groups_per_row - 1 ? p->cols : *c0 + p->group_size;
}

/* Scale and zero-point for one quantization unit whose values lie in [lo, hi].
 * The range is first widened to include 0. Symmetric: s = max(|lo|, |hi|) / qmax, z = 0
 * (with sym_full: s = e / qmin where e is lo or hi, whichever is larger in magnitude).
 * Affine: s = (hi - lo) / (qmax - qmin), z = round(qmin - lo / s) clamped to [qmin, qmax].
 * A degenerate range (lo == hi == 0) gives s = 1 (any positive s is exact for zeros). */
void qparams_set_range(QParams *p, int64_t k, float lo, float hi);
/* Min-max over the data x[rows, cols] for every unit (the simplest observer). */
void qparams_fit_minmax(QParams *p, const float *x);

/* round(x / scale) + zero, clamped to [qmin, qmax]; rounds half to even (as torch.round).
 * Clamping happens before rounding (the bounds are integers, so the result is the same)
 * which keeps |v| < 2^22, where adding and subtracting 1.5 * 2^23 rounds exactly in the
 * default rounding mode without a libm call.  NaN maps to qmin. */
static inline int32_t quant_code(float x, float scale, int32_t zero, int32_t qmin, int32_t qmax) {
    float v = x / scale, lo = (float)(qmin - zero), hi = (float)(qmax - zero);
    if (!(v >= lo)) v = lo;
    if (v > hi) v = hi;
    v = (v + 12582912.0f) - 12582912.0f;
    return (int32_t)v + zero;
}
static inline float quant_value(int32_t q, float scale, int32_t zero) { return scale * (float)(q - zero); }

/* x[rows, cols] -> codes q[rows, cols] */
void quantize(const QParams *p, const float *x, int8_t *q);
/* codes -> y[rows, cols] */
void dequantize(const QParams *p, const int8_t *q, float *y);
/* y = dequantize(quantize(x)); y may equal x */
void fake_quantize(const QParams *p, const float *x, float *y);

/* Storage cost of the scheme, in bits per element, counting codes at p->bits plus a
 * 16-bit scale (and a zero-point of p->bits when affine) per unit. */
double qparams_bits_per_weight(const QParams *p);

#endif
