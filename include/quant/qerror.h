/* qerror.h — how far a quantized tensor is from the original. */
#ifndef QUANT_QERROR_H
#define QUANT_QERROR_H

#include <stdint.h>

typedef struct QErrorStats {
    double mse;       /* mean (x - y)^2 */
    double sqnr_db;   /* 10 log10( sum x^2 / sum (x - y)^2 ), +inf when exact */
    double max_abs;   /* max |x - y| */
    double rel_l2;    /* ||x - y|| / ||x|| */
} QErrorStats;

QErrorStats qerror_stats(const float *x, const float *y, int64_t n);

#endif
