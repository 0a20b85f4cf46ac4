/* fakequant.h — quantization inside training: fake-quant forward (quantize -> dequantize,
 * identical to qparams.h), the straight-through estimator backward, learned step size (LSQ),
 * and the EMA range observer used while training.
 *
 * Why an estimator: round() is flat almost everywhere, so its true derivative is 0 and no
 * gradient would reach the weights.  The STE treats round() as the identity in the backward
 * pass inside the clipping range, and passes nothing where the value was clipped:
 *   dL/dx = dL/dy * [lo <= x <= hi]. */
#ifndef QUANT_FAKEQUANT_H
#define QUANT_FAKEQUANT_H

#include <stdint.h>

#include "quant/qparams.h"

/* y = dequantize(quantize(x)) with p (rows x cols as in qparams.h); mask[i] = 1 where x[i]
 * lies inside the grid's range (s (qmin - z) .. s (qmax - z), either order for s < 0). */
void fq_forward(const QParams *p, const float *x, float *y, uint8_t *mask);
/* dx = dy * mask (dx may equal dy) */
void fq_ste_backward(const uint8_t *mask, const float *dy, float *dx, int64_t n);

/* LSQ (Esser et al. 2020) on n values sharing one learned step s, codes in [qn, qp]
 * (qn <= 0 < qp):  y = s * clamp(round(x / s), qn, qp). */
void lsq_forward(const float *x, float *y, int64_t n, float s, int qn, int qp);
/* dx = dy where qn <= x/s <= qp, else 0; returns dL/ds with the LSQ gradient
 *   d y / d s = round(x/s) - x/s inside, qn or qp where clipped,
 * times the gradient scale g = 1 / sqrt(n * qp). */
double lsq_backward(const float *x, const float *dy, float *dx, int64_t n, float s, int qn, int qp);

/* Exponential moving average of batch min/max (the range of an activation during training). */
typedef struct FqEma {
    float lo, hi;
    float momentum;   /* 0.01: new = (1 - m) old + m batch */
    int seen;
} FqEma;
void fq_ema_update(FqEma *e, const float *x, int64_t n);

#endif
