/* gptq.h — GPTQ (Frantar et al., 2022): quantize a weight matrix column by column and
 * push each column's rounding error onto the columns not yet quantized, weighted by the
 * inverse Hessian of the layer's reconstruction loss ||W X - W_q X||^2, H = 2 X^T X.
 * Model-agnostic: the caller supplies W and H (accumulated from calibration inputs).
 * Used by the LLM drivers (src/llm/ptq) and by the network PTQ (src/nn). */
#ifndef QUANT_GPTQ_H
#define QUANT_GPTQ_H

#include <stdint.h>

#include "quant/core.h"
#include "quant/qparams.h"

/* Running accumulation of H = 2/n sum_i x_i x_i^T over calibration rows x_i (length K). */
typedef struct GptqHessian {
    int64_t K;
    int64_t nsamples;
    double *H;      /* [K, K] */
} GptqHessian;
void gptq_hessian_init(GptqHessian *h, int64_t K);
void gptq_hessian_add(GptqHessian *h, const float *X, int64_t rows);   /* X[rows, K] */
void gptq_hessian_free(GptqHessian *h);

typedef struct GptqOpts {
    double damp;        /* dampening, fraction of the mean diagonal added to H; default 0.01 */
    int block_size;     /* lazy-batch width; default 128 */
    int act_order;      /* quantize columns in order of decreasing H diagonal, then un-permute */
    /* scheme: bits, symmetric, granularity (channel or group; QGRAN_TENSOR is treated as
     * channel).  Scales/zeros are fitted by min-max, or MSE clipping (qclip_mse_search) when
     * mse_clip.  Per channel: from the original weights.  Groups (ragged last group allowed)
     * always follow the ORIGINAL column order, so files need no permutation: without
     * act_order a group is fitted from the error-updated weights when its first column is
     * reached, as in the reference implementation; with act_order every group is fitted up
     * front from the original weights (the reference's "static groups"). */
    int bits;
    int symmetric;
    QGranularity gran;
    int64_t group_size;
    int mse_clip;
    int scale_f16;      /* round scales to float16 (as stored in files) */
    int sym_full;       /* symmetric over all 2^b levels (qparams.h) */
    int merge_tail;     /* a ragged remainder joins the last full group (qparams_merge_tail) */
    int narrow;         /* symmetric codes in -qmax..qmax (never qmin): llama.cpp's Q8_0 grid */
} GptqOpts;
void gptq_opts_default(GptqOpts *o);

/* W[N, K] (rows = output channels) is quantized in place: on return W holds the
 * dequantized weights, q[N, K] the codes and p (initialised by this call) the scales.
 * H is not modified.  Dead inputs (H[i][i] == 0) get weight 0.
 * Returns -1 + err if the dampened H is not positive definite after retries. */
int gptq_quantize(float *W, int64_t N, int64_t K, const GptqHessian *H, const GptqOpts *opts,
                  QParams *p, int8_t *q, QErr *err);

/* The same in two steps, for linears that share a Hessian (q, k, v; gate, up): the column
 * order and U, the upper Cholesky factor of the dampened, permuted H^-1 (the O(K^3) part), once
 * per Hessian; then each linear's sweep.  A factor depends on H, act_order and damp only. */
typedef struct GptqFactor {
    int64_t K;
    int act_order;
    int64_t *perm;  /* [K] column order */
    double *U;      /* [K, K] */
} GptqFactor;
int  gptq_factor(const GptqHessian *H, const GptqOpts *opts, GptqFactor *f, QErr *err);
void gptq_factor_free(GptqFactor *f);
int  gptq_quantize_factored(float *W, int64_t N, int64_t K, const GptqHessian *H, const GptqFactor *f,
                            const GptqOpts *opts, QParams *p, int8_t *q, QErr *err);

/* The fp32 weights refitted to the inputs the quantized model really produces: W [N, K] is
 * replaced by argmin_W' ||Xq W'^T - Xf W^T||^2 / rows + ridge * mean(diag(Xq^T Xq / rows)) ||W' - W||^2,
 * where Xf [rows, K] are the layer's inputs in the fp32 model and Xq the same positions' inputs
 * in the partly quantized model.  GPTQ then quantizes the refitted W against H = 2 Xq^T Xq, so
 * the layer also undoes part of the error accumulated before it (the "asymmetric calibration"
 * of GPTAQ, Li et al. 2025).  Identical inputs return W unchanged. */
int gptq_refit_to_inputs(float *W, int64_t N, int64_t K, const float *Xf, const float *Xq, const float *Yadd, int64_t rows,
                         double ridge, QErr *err);
/* The same in two steps, for linears that share their inputs (q, k, v; gate, up): the
 * statistics A = Xq^T Xq / rows (half of H, the GPTQ Hessian of the same Xq rows, which the
 * caller has accumulated anyway) and C = Xq^T Xf / rows once per input site, then each
 * linear's solve (Xq is needed again only for Yadd). */
typedef struct GptqRefitStats {
    int64_t K, rows;
    double *A, *C;   /* [K, K] */
} GptqRefitStats;
void gptq_refit_stats(GptqRefitStats *st, const GptqHessian *H, const float *Xf, const float *Xq, int64_t rows);
void gptq_refit_stats_free(GptqRefitStats *st);
int  gptq_refit(float *W, int64_t N, int64_t K, const GptqRefitStats *st, const float *Xq, const float *Yadd, double ridge,
                QErr *err);

#endif
