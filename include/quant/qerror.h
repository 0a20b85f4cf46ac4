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

/* counts[nbins]: how many finite x[i] fall in each of nbins equal bins over [lo, hi]; values
 * outside go to the end bins (so the counts add up to the finite values). */
void qhistogram(const float *x, int64_t n, double lo, double hi, int nbins, int64_t *counts);

#endif
