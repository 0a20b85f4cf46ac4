/* smooth.h — per-input-channel scales that move quantization difficulty between a linear
 * layer's input and its weights, searched on calibration data (model-agnostic; the LLM driver
 * folds them into the model, src/llm/ptq/smooth.c):
 *
 *   Y = X W^T = (X diag(1/s)) (W diag(s))^T      for any s > 0 (exact in real arithmetic)
 *
 * SmoothQuant (Xiao et al. 2022): s_j = max|X_j|^a / max|W_j|^(1-a), a searched on a grid,
 * where W_j is column j of every linear that reads X ("a site": q, k, v read one input).
 * AWQ (Lin et al. 2023): s_j = mean|X_j|^p, normalised to geometric-mean 1, p searched on a
 * grid; then a per-group clipping ratio searched on the output error.
 * Both minimise the site's output error under the target grids:
 *   SmoothQuant: ||Q_a(X / s) Q_w(W s)^T - X W^T||^2 / ||X W^T||^2 on the rows X (the
 *                activation grid is nonlinear, so the rows themselves are needed);
 *   AWQ (weights only): sum_k tr(dW_k H dW_k^T) / sum_k tr(W_k H W_k^T), H = X^T X / rows,
 *                dW_k = Q_w(W_k s) / s - W_k.
 * Shapes: X [rows, in]; each W_k [out_k, in] row-major. */
#ifndef QUANT_SMOOTH_H
#define QUANT_SMOOTH_H

#include <stdint.h>

#include "quant/core.h"

enum { QSITE_MAX_W = 8, QSMOOTH_MAX_GRID = 64 };

typedef enum QActGrid { QACT_NONE = 0, QACT_TOKEN = 1, QACT_TENSOR = 2 } QActGrid;

/* The grids the output error is measured under.  Weights: RTN with min-max ranges, the LLM
 * quantizer's grid (symmetric over all 2^b levels, or affine; float16 scales; a ragged tail
 * group merged into the previous one).  Activations: symmetric per token (|x| max of the row /
 * qmax), or affine per tensor over the rows' [min, max] (a static range) — as the W8A8 hook. */
typedef struct QSiteTarget {
    int wbits;
    int64_t wgroup;      /* 0: per output channel */
    int affine;          /* weights affine instead of symmetric */
    QActGrid act;
    int abits;           /* 8 */
    float aclip;         /* per tensor: the static range is aclip * [min, max] of the rows (0 or 1: min-max) */
} QSiteTarget;

/* The linears that read one input. tie (optional): channels with equal tie[j] must get equal
 * scales (grouped-query attention: an o input column's scale can only be folded into v's row
 * that a whole group of heads shares); tie[j] is a channel index <= j of the class. */
typedef struct QSite {
    int in, nw;
    const float *W[QSITE_MAX_W];  /* [out[k], in] */
    int out[QSITE_MAX_W];
    const int *tie;               /* [in] or NULL */
} QSite;

/* SmoothQuant scales for migration strength alpha from the channel maxima of |X| (xabsmax [in]);
 * channels with a zero max get s = 1; s clamped to >= 1e-5. */
void qsmooth_scales(const QSite *site, const float *xabsmax, float alpha, float *s);
/* AWQ scales s_j = xmean_j^p / sqrt(max s * min s) from the channel means of |X|; a zero mean
 * gets the smallest nonzero one. */
void qawq_scales(const QSite *site, const float *xmean, float p, float *s);

/* SmoothQuant's relative output error with scales s (NULL: all 1) on the rows X. */
double qsmooth_error(const QSite *site, const float *X, int64_t rows, const float *s, const QSiteTarget *t);
/* AWQ's relative weight-only output error through H [in, in] (= X^T X / rows). */
double qawq_error(const QSite *site, const float *H, const float *s, const QSiteTarget *t);

/* Grid searches over v = 0, 1/(ngrid-1), ..., 1 (ngrid in 2..QSMOOTH_MAX_GRID): the best v,
 * its scales s [in], and optionally the error at every grid point (errs [ngrid]) and at s = 1
 * (*err_none).  The first minimum wins. */
int qsmooth_search(const QSite *site, const float *X, int64_t rows, const float *xabsmax, const QSiteTarget *t, int ngrid,
                   float *alpha, float *s, double *errs, double *err_none, QErr *err);
/* qsmooth_search, and with per-tensor activations then the static range's ratio c in
 * {1, 0.95, ..., 0.4} at that alpha, then alpha again at that c on the two grid points either
 * side (a static range set by min-max is wasted on a few tokens; the output error picks the
 * range, like an MSE observer).  *aclip gets c (1 per token); *err_best the error chosen. */
int qsmooth_search_clip(const QSite *site, const float *X, int64_t rows, const float *xabsmax, const QSiteTarget *t,
                        int ngrid, float *alpha, float *aclip, float *s, double *err_none, double *err_best, QErr *err);
int qawq_search(const QSite *site, const float *H, const float *xmean, const QSiteTarget *t, int ngrid, float *p, float *s,
                double *errs, double *err_none, QErr *err);

/* AWQ's clipping: for every weight group (row r, columns of one scale unit) the ratio c in
 * {1, 1 - 0.5/(nratio-1), ..., 0.5} that minimises d^T H_gg d, d = Q_w(clamp(w, c lo, c hi)) - w;
 * W [out, in] is clamped in place to the chosen range, so a min-max RTN of the result gives
 * exactly the chosen grid.  ratios (optional, [out * groups per row]) gets the chosen c.
 * Returns the mean chosen ratio. */
double qawq_clip(float *W, int out, int in, const float *H, const QSiteTarget *t, int nratio, float *ratios);

/* A static per-tensor activation range for the site, chosen on its output error (as PyTorch's
 * HistogramObserver and TensorRT's calibrators choose a range on a quantization error rather
 * than keep min-max, which a heavy-tailed input spends on a few values):
 *   error(lo, hi) = ||Qa(X; lo, hi) W^T - X W^T||^2 / ||X W^T||^2 over the rows X,
 * Qa the affine abits grid over [lo, hi] (the W8A8 hook's), the weights unquantized.  With
 * [lo0, hi0] = [min(X, 0), max(X, 0)] and the ratios c_i = qact_range_ratio(i, nratio):
 * first lo = c lo0, hi = c hi0 for every i; then hi = c_i hi0 alone, then lo = c_i lo0 alone,
 * each step keeping the best so far (the first minimum wins).  *lo, *hi the range chosen;
 * errs (optional) [nratio] the first stage's errors.  Returns the chosen error. */
double qact_range_search(const QSite *site, const float *X, int64_t rows, int abits, int nratio, float *lo, float *hi,
                         double *errs);
/* c_i = 1 - 0.75 i / (nratio - 1): min-max down to a quarter of it */
static inline float qact_range_ratio(int i, int nratio) { return nratio > 1 ? 1.0f - 0.75f * (float)i / (float)(nratio - 1) : 1.0f; }

/* H [in, in] = X^T X / rows. */
void qsite_gram(const float *X, int64_t rows, int in, float *H);

#endif
