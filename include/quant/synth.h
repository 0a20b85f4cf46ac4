/* synth.h — synthetic tensors with known distributions, for demonstrations and tests. */
#ifndef QUANT_SYNTH_H
#define QUANT_SYNTH_H

#include <stdint.h>

#include "quant/core.h"

typedef enum QSynthKind {
    QSYNTH_GAUSSIAN = 0,  /* N(0, 1) */
    QSYNTH_UNIFORM,       /* U(-1, 1) */
    QSYNTH_LAPLACE,       /* Laplace(0, 1): heavier tails, like trained weights */
    QSYNTH_OUTLIERS,      /* N(0, 1) with 0.1% of values x 20: like LLM activations */
} QSynthKind;

int  qsynth_kind_parse(const char *name, QSynthKind *k, QErr *err);
/* x[n] filled from the distribution; row r of a [rows, n/rows] view is scaled by
 * (1 + r) / rows so that per-channel ranges differ (as they do in real weights). */
void qsynth_fill(QRng *r, QSynthKind k, float *x, int64_t rows, int64_t cols);

#endif
