/* nn_cnn.h — the small CNN for Fashion-MNIST: conv 1->16 3x3, ReLU, max-pool 2, conv 16->32
 * 3x3, ReLU, max-pool 2, linear 800->10.
 *   - fp32 training: Adam, shuffled mini-batches, inputs normalized by the training set's
 *     mean/std (folded into conv1 afterwards, so every model takes pixels in [0, 1]), cosine
 *     learning-rate decay;
 *   - post-training quantization: weight-only per output channel (fake-quant), static W8A8 as a
 *     float simulation and as an integer CNN (int8 convolutions on the int8 kernels);
 *   - quantization-aware training with the straight-through estimator or LSQ (same NnQatOpts
 *     semantics as the MLP's nn_qat_train), converted to the same integer CNN;
 *   - .qnn files (nn_file.h): kind 3 the fp32 CNN, kind 4 the integer CNN. */
#ifndef QUANT_NN_CNN_H
#define QUANT_NN_CNN_H

#include "quant/nn_experiment.h"
#include "quant/nn_qat.h"

enum { CNN_C1 = 16, CNN_C2 = 32, CNN_FLAT = 800, CNN_NPARAM = 6, CNN_CLASSES = 10, CNN_IMAGE = 28, CNN_KERNEL = 3 };

typedef struct NnCnn {
    float *p[CNN_NPARAM];   /* w1 [16, 9], b1 [16], w2 [32, 144], b2 [32], w3 [10, 800], b3 [10] */
} NnCnn;
extern const int64_t nn_cnn_param_size[CNN_NPARAM];
/* weight matrix l (0..2): rows (output channels / classes) and columns (inputs per output) */
extern const int nn_cnn_wrows[3], nn_cnn_wcols[3];

void nn_cnn_init(NnCnn *m, QRng *rng);   /* PyTorch's default initialisation */
void nn_cnn_copy(NnCnn *dst, const NnCnn *src);
void nn_cnn_free(NnCnn *m);
/* act: per-tensor grids of the inputs of conv1, conv2 and the linear layer, or NULL */
double nn_cnn_accuracy(const NnCnn *m, const NnDataset *d, const QParams *act);
/* the same, with the predicted classes in pred[d->n] (may be NULL) */
double nn_cnn_accuracy_pred(const NnCnn *m, const NnDataset *d, const QParams *act, uint8_t *pred);

/* Adam on shuffled mini-batches, o->cosine / o->normalize as nn_model.h describes: with
 * normalize, m's weights act on normalized images while training and the normalization is
 * folded into conv1 at the end, so the returned model (and every file) takes pixels in [0, 1]. */
void nn_cnn_train(NnCnn *m, const NnDataset *train, const NnTrainOpts *o, NnTrainStats *st);
/* The CNN's recipe: nn_train_opts_default + cosine learning rate + input normalization. */
void nn_cnn_train_opts_default(NnTrainOpts *o);
/* Mean and 1/std of every pixel of d; folding (x - mean) * rstd into conv1. */
void nn_cnn_pixel_stats(const NnDataset *d, float *mean, float *rstd);
void nn_cnn_fold_input_norm(NnCnn *m, float mean, float rstd);

/* The fp32 CNN a job starts from: loaded from a CNN fp32 .qnn file (from != NULL) or
 * initialised from to->seed and trained on train with to (st may be NULL). */
int nn_cnn_prepare(NnCnn *m, const char *from, const NnDataset *train, const NnTrainOpts *to, NnTrainStats *st,
                   QErr *err);

/* Per-tensor grids (abits, affine) of the three layer inputs from an observer watching the
 * first n images of d; act[3] initialised here. */
int nn_cnn_calibrate(const NnCnn *m, const NnDataset *d, int64_t n, QObserverKind kind, int abits, QParams act[3],
                     QErr *err);

/* ------------------------------------------------------------ QAT */
/* Quantization-aware fine-tuning of a copy of m, as nn_qat_train does for the MLP: weights
 * per output channel symmetric (STE: min-max scale every step; LSQ: learned step per row),
 * layer inputs per tensor (STE: affine grid from an EMA of the batch min/max, frozen after
 * o->freeze_steps; LSQ: a learned step on the unsigned grid), fp32 master weights, Adam at
 * o->lr (constant).  Where the CNN's LSQ differs from the MLP's: the steps learn at
 * lr / sqrt(qp) (LSQ's gradient scale, which Adam would cancel), and the image's step (not
 * learned) is the pixels' range / (2^abits - 1) instead of LSQ's initialisation. */
typedef struct NnCnnQatResult {
    NnCnn master;           /* fp32 weights */
    QParams act[3];         /* grids of the three layer inputs (abits > 0) */
    float *wscale[3];       /* per-row weight scales */
    int wbits, abits;
    double seconds;
    NnCurve curve;          /* training loss / accuracy of the fake-quant forward (nn_model.h) */
} NnCnnQatResult;
int  nn_cnn_qat_train(const NnCnn *m, const NnDataset *train, const NnQatOpts *o, NnCnnQatResult *r, QErr *err);
void nn_cnn_qat_result_free(NnCnnQatResult *r);
/* the master weights quantized with the result's scales (fp32 biases) */
void nn_cnn_qat_fake_model(const NnCnnQatResult *r, NnCnn *fq);

/* ------------------------------------------------------------ the integer CNN */
/* int8 convolutions as im2row + the int8 linear kernel (activations kept height x width x
 * channels), requantization with ReLU fused, max-pooling on int8 codes (max commutes with the
 * monotonic requantization), int32 logits dequantized at the end. */
typedef struct NnCnnQ {
    int wbits;              /* weight codes in [-2^(wbits-1), 2^(wbits-1) - 1], held in int8 */
    int8_t *codes[3];       /* [rows, cols] in the fp32 layout (linear columns (c, h, w)) */
    float *wscale[3];       /* [rows] per output channel */
    int32_t *bias[3];       /* round(b / (s_in s_w[n])) */
    int32_t *mult[2], *shift[2];  /* requantization of conv l's output to layer l+1's input grid */
    float act_scale[3];     /* input grids of conv1, conv2, linear (8-bit affine) */
    int32_t act_zero[3];
    KernS8Weights *w[3];    /* packed for the kernels by nn_cnn_q_pack (layer 2: columns (h, w, c)) */
} NnCnnQ;
/* From fp32 weights m quantized per output channel at wbits (scales wscale[l][rows], or per-row
 * min-max when wscale is NULL) and the 8-bit input grids act[3]; packed. */
int  nn_cnn_convert(const NnCnn *m, const QParams act[3], int wbits, float *const wscale[3], NnCnnQ *q, QErr *err);
void nn_cnn_q_pack(NnCnnQ *q);
void nn_cnn_q_free(NnCnnQ *q);
double nn_cnn_q_accuracy(const NnCnnQ *q, const NnDataset *d, uint8_t *pred);
/* The float simulation of exactly q: dequantized weights codes * s_w, biases bias * s_in s_w
 * (evaluate with q's input grids, nn_cnn_q_act_params). */
void nn_cnn_q_simulation(const NnCnnQ *q, NnCnn *sim);
void nn_cnn_q_act_params(const NnCnnQ *q, QParams act[3]);   /* initialised here */

/* ------------------------------------------------------------ the jobs */
/* ptq-nn --arch cnn: fp32 (trained or --from), weight-only per-channel rows at each width
 * (min-max; 2 bits also MSE), static W8A8 as fake-quant and as the integer CNN; --save-model
 * writes cnn-fp32.qnn and cnn-w8a8.qnn. */
int nn_cnn_ptq_run(const NnPtqOpts *o, NnPtqReport *r, QErr *err);

/* qat --arch cnn: the fp32 CNN (trained with the CNN recipe or --from), the fine-tuned fp32
 * control, then per weight x activation width the PTQ, QAT STE and QAT LSQ rows, with the
 * integer CNN, its agreement and file size for 8-bit activations; --save-model writes them as
 * cnn-w<W>a8-{ptq,qat-ste,qat-lsq}.qnn. */
int nn_cnn_qat_run(const NnQatRunOpts *o, NnQatReport *r, QErr *err);

#endif
