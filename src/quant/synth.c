/* synth.c — synthetic tensors (synth.h). */
#include "quant/synth.h"

#include <math.h>
#include <string.h>

int qsynth_kind_parse(const char *name, QSynthKind *k, QErr *err) {
    static const char *names[] = {"gaussian", "uniform", "laplace", "outliers"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return *k = (QSynthKind)i, 0;
    return qerr_set(err, "unknown distribution '%s' (gaussian, uniform, laplace, outliers)", name);
}

void qsynth_fill(QRng *r, QSynthKind k, float *x, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; i++) {
        float scale = (float)(i + 1) / (float)rows;
        for (int64_t j = 0; j < cols; j++) {
            float v;
            switch (k) {
                case QSYNTH_UNIFORM: v = 2.0f * qrng_uniform(r) - 1.0f; break;
                case QSYNTH_LAPLACE: {
                    float u = qrng_uniform(r) - 0.5f;
                    v = (u < 0 ? 1.0f : -1.0f) * logf(1.0f - 2.0f * fabsf(u) + 1e-12f);
                    break;
                }
                case QSYNTH_OUTLIERS:
                    v = qrng_normal(r);
                    if (qrng_below(r, 1000) == 0) v *= 20.0f;
                    break;
                default: v = qrng_normal(r);
            }
            x[i * cols + j] = v * scale;
        }
    }
}
