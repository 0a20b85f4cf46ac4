/* nn_cnn.h — the small CNN for Fashion-MNIST: conv 1->16 3x3, ReLU, max-pool 2, conv 16->32
 * 3x3, ReLU, max-pool 2, linear 800->10; fp32 training (Adam) and post-training quantization by
 * fake-quant (weights per output channel, layer inputs per tensor).  No integer path and no
 * file format for it yet. */
#ifndef QUANT_NN_CNN_H
#define QUANT_NN_CNN_H

#include "quant/nn_experiment.h"
#include "quant/nn_qat.h"

enum { CNN_C1 = 16, CNN_C2 = 32, CNN_FLAT = 800, CNN_NPARAM = 6 };

typedef struct NnCnn {
    float *p[CNN_NPARAM];   /* w1 [16, 9], b1 [16], w2 [32, 144], b2 [32], w3 [10, 800], b3 [10] */
} NnCnn;
extern const int64_t nn_cnn_param_size[CNN_NPARAM];

void nn_cnn_init(NnCnn *m, QRng *rng);   /* PyTorch's default initialisation */
void nn_cnn_copy(NnCnn *dst, const NnCnn *src);
void nn_cnn_free(NnCnn *m);
/* act: per-tensor grids of the inputs of conv1, conv2 and the linear layer, or NULL */
double nn_cnn_accuracy(const NnCnn *m, const NnDataset *d, const QParams *act);
/* Adam on shuffled mini-batches, o->cosine / o->normalize as nn_model.h describes: with
 * normalize, m's weights act on normalized images while training and the normalization is
 * folded into conv1 at the end, so the returned model takes pixels in [0, 1]. */
void nn_cnn_train(NnCnn *m, const NnDataset *train, const NnTrainOpts *o, NnTrainStats *st);
/* The CNN's recipe: nn_train_opts_default + cosine learning rate + input normalization. */
void nn_cnn_train_opts_default(NnTrainOpts *o);
/* Mean and 1/std of every pixel of d; folding (x - mean) * rstd into conv1. */
void nn_cnn_pixel_stats(const NnDataset *d, float *mean, float *rstd);
void nn_cnn_fold_input_norm(NnCnn *m, float mean, float rstd);

/* Quantization-aware fine-tuning with LSQ (learned per-row weight steps and per-layer input
 * steps, fp32 master weights), from m; act[3] receives the learned input grids (codes with
 * zero-point qmin, i.e. an unsigned grid), fq the fake-quantized weights (biases fp32). */
void nn_cnn_qat_lsq(const NnCnn *m, const NnDataset *train, int wbits, int abits, int epochs, float lr, uint64_t seed,
                    NnCnn *fq, QParams act[3], float *wscale[3]);  /* wscale[l]: malloc'ed [rows] learned steps */

/* ptq-nn --arch cnn: fp32, weight-only per-channel 8/4/2 bits (min-max; 2 bits also MSE), and
 * static W8A8 (fake-quant) rows. */
int nn_cnn_ptq_run(const NnPtqOpts *o, NnPtqReport *r, QErr *err);

/* The integer CNN: int8 convolutions as im2row + the int8 linear kernel (activations kept
 * height x width x channels), requantization with ReLU fused, max-pooling on int8 codes (max
 * commutes with the monotonic requantization), int32 logits dequantized at the end. */
typedef struct NnCnnQ {
    KernS8Weights *w[3];
    int32_t *bias[3];
    int32_t *mult[2], *shift[2];
    float wscale3[10];
    float act_scale[3];
    int32_t act_zero[3];
} NnCnnQ;
/* From fp32 weights m (quantized per output channel at wbits, the scales given or min-max)
 * and the 8-bit input grids act[3]. */
int  nn_cnn_convert(const NnCnn *m, const QParams act[3], int wbits, float *const wscale[3], NnCnnQ *q, QErr *err);
void nn_cnn_q_free(NnCnnQ *q);
double nn_cnn_q_accuracy(const NnCnnQ *q, const NnDataset *d, uint8_t *pred);
/* predictions of the fake-quant model (for agreement) */
double nn_cnn_accuracy_pred(const NnCnn *m, const NnDataset *d, const QParams *act, uint8_t *pred);

/* qat --arch cnn: trains the fp32 CNN (5 epochs), then per bit width PTQ and QAT-LSQ rows
 * (fake-quant accuracy only) against the fp32 model fine-tuned for the same epochs. */
int nn_cnn_qat_run(const NnQatRunOpts *o, NnQatReport *r, QErr *err);

#endif
