/* nn_qat.h — quantization-aware training of the MLP: fine-tune an fp32 model with
 * fake-quantized weights (per-channel symmetric) and layer inputs (per-tensor affine), the
 * straight-through estimator (or LSQ's learned step sizes) in the backward pass and fp32
 * master weights; then the same convert step and integer path as PTQ. */
#ifndef QUANT_NN_QAT_H
#define QUANT_NN_QAT_H

#include "quant/nn_ptq.h"

typedef enum NnQatMethod { NN_QAT_STE = 0, NN_QAT_LSQ = 1 } NnQatMethod;

typedef struct NnQatOpts {
    NnQatMethod method;
    int wbits, abits;       /* weights 2..8, activations 2..8 (0 = fp32 activations) */
    int epochs, batch;      /* 2, 128 */
    float lr;               /* Adam, 1e-4 */
    int freeze_steps;       /* STE: activation ranges follow an EMA for this many steps, then freeze */
    uint64_t seed;
    int verbose;
} NnQatOpts;
void nn_qat_opts_default(NnQatOpts *o);

/* The result: the fine-tuned fp32 master model and the quantization grids it was trained with. */
typedef struct NnQatResult {
    NnModel master;                 /* fp32 weights */
    QParams act[NN_MAX_LAYERS];     /* per-tensor grids of every layer input (abits > 0) */
    float *wscale[NN_MAX_LAYERS];   /* per-row weight scales (LSQ: learned; STE: min-max) */
    int wbits, abits;
    double seconds;
    NnCurve curve;                  /* the training loss / accuracy (fake-quant forward) */
} NnQatResult;

/* Fine-tunes a copy of m on train. */
int  nn_qat_train(const NnModel *m, const NnDataset *train, const NnQatOpts *o, NnQatResult *r, QErr *err);
void nn_qat_result_free(NnQatResult *r);

/* The fake-quant model of a result: weights quantized with the result's scales (dequantized,
 * fp32 biases) plus the activation grids (aq); evaluates like nn_model_accuracy. */
void nn_qat_fake_model(const NnQatResult *r, NnModel *fq, NnActQuant *aq);

/* The weight grids both QAT methods share: per-row symmetric scales s = max|w| / qmax, and
 * wq = s_row clamp(round(w / s_row), qn, qp) with mask[i] = 1 inside the clamp (mask may be NULL). */
void nn_qat_minmax_row_scales(const float *w, int N, int K, int bits, float *s);
void nn_qat_quant_rows(const float *w, const float *s, int N, int K, int qn, int qp, float *wq, uint8_t *mask);

/* Integer model from fp32 weights, activation grids and per-row weight scales (NULL: per-row
 * min-max) at wbits: codes in [-2^(b-1), 2^(b-1) - 1] held in int8. act bits must be 8. */
int nn_qmodel_convert_scaled(const NnModel *m, const QParams act[NN_MAX_LAYERS], int wbits,
                             float *const wscale[NN_MAX_LAYERS], NnQModel *q, QErr *err);

/* ------------------------------------------------------ the qat command's job */
typedef struct NnQatRunOpts {
    const char *data_dir, *from, *save_dir;
    int wbits[4], n_wbits, abits[2], n_abits;
    int methods;            /* bit 0: STE, bit 1: LSQ */
    int epochs;             /* fine-tuning epochs (QAT and the fp32 control) */
    float lr;
    int64_t calib_samples;  /* PTQ rows */
    int64_t train_samples;  /* > 0: train on the first this many training images only */
    uint64_t seed;
    int threads;
} NnQatRunOpts;

typedef struct NnQatRow {
    char method[24];
    int wbits, abits;
    double acc_fq, acc_int;     /* acc_int < 0: no integer model (activations not 8-bit) */
    double agreement;           /* integer vs fake-quant predictions */
    size_t packed_bytes;        /* weights packed at wbits + scales + int32 biases */
    size_t file_bytes;          /* CNN: size of the row's .qnn file (fp32, or the integer CNN), 0: none */
    double seconds;
    char file[64];
    NnCurve curve;              /* fine-tuning curve (fp32 control and QAT rows; n = 0 otherwise) */
} NnQatRow;

typedef struct NnQatReport {
    int n_rows;
    NnQatRow rows[40];
    int64_t n_test;
    int64_t n_weights;          /* weights of the linear / conv layers (bits per weight = 8 bytes / n_weights) */
} NnQatReport;

int nn_qat_run(const NnQatRunOpts *o, NnQatReport *r, QErr *err);
/* For the jobs (MLP and CNN): appends a row with its method (printf format) and bit widths set,
 * everything else zero. */
NnQatRow *nn_qat_report_add(NnQatReport *r, int wbits, int abits, const char *method_fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The fine-tuning options of one QAT row of the job (shared by the MLP and CNN jobs). */
void nn_qat_opts_for_run(NnQatOpts *qo, const NnQatRunOpts *o, int lsq, int wbits, int abits);

#endif
