/* observer.h — calibration observers: watch batches of values, then choose the
 * clipping range [lo, hi] that the quantization grid should cover.
 *
 *   QOBS_MINMAX       running min / max
 *   QOBS_MOVING_AVG   exponential moving average of each batch's min / max (momentum)
 *   QOBS_PERCENTILE   lo/hi at the given percentile of |x| (or of x for affine), from a histogram
 *   QOBS_MSE          search for the clip range minimising quantization MSE over the histogram
 *   QOBS_ENTROPY      TensorRT-style KL-divergence calibration over the histogram
 *
 * Histogram observers first see the running min/max; the histogram (2048 bins by default)
 * spans the range seen so far and is re-binned when a later batch widens it. */
#ifndef QUANT_OBSERVER_H
#define QUANT_OBSERVER_H

#include <stdint.h>

#include "quant/core.h"

typedef enum QObserverKind {
    QOBS_MINMAX = 0,
    QOBS_MOVING_AVG,
    QOBS_PERCENTILE,
    QOBS_MSE,
    QOBS_ENTROPY,
} QObserverKind;

typedef struct QObserverOpts {
    double momentum;    /* moving average: new = (1 - m) * old + m * batch; default 0.01 */
    double percentile;  /* percentile: default 99.99 */
    int bins;           /* histogram bins: default 2048 */
} QObserverOpts;

typedef struct QObserver QObserver;

/* Parses "minmax" | "moving-avg" | "percentile" | "mse" | "entropy"; -1 + err otherwise. */
int  qobserver_kind_parse(const char *name, QObserverKind *kind, QErr *err);
const char *qobserver_kind_name(QObserverKind kind);

QObserver *qobserver_new(QObserverKind kind, const QObserverOpts *opts);  /* opts may be NULL */
void qobserver_update(QObserver *o, const float *x, int64_t n);
/* The chosen range for a grid of `bits` bits, symmetric or affine. */
void qobserver_range(const QObserver *o, int bits, int symmetric, float *lo, float *hi);
void qobserver_free(QObserver *o);

/* Direct searches on a small array (e.g. one weight row), no histogram:
 * the clip range that minimises the MSE of fake-quantizing x over a grid of candidate
 * shrink factors of the min-max range. */
void qclip_mse_search(const float *x, int64_t n, int bits, int symmetric, float *lo, float *hi);

/* Fits every unit of p (tensor / row / group) of x[rows, cols] with a fresh observer of the
 * given kind (QOBS_MSE uses qclip_mse_search): weight quantization with a chosen observer. */
struct QParams;
void qparams_fit_observer(struct QParams *p, const float *x, QObserverKind kind);

#endif
