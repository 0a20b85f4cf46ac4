/* nn_model.h — the fp32 classifier (an MLP: linear layers with ReLU between them),
 * its training (softmax cross-entropy, Adam, shuffled mini-batches) and evaluation.
 *
 * Shapes: B = batch, dims[0] = input features (784), dims[L] = classes (10);
 * layer l maps dims[l] -> dims[l + 1] with w[l] [dims[l+1], dims[l]], b[l] [dims[l+1]]. */
#ifndef QUANT_NN_MODEL_H
#define QUANT_NN_MODEL_H

#include <stdint.h>

#include "quant/core.h"
#include "quant/nn_data.h"
#include "quant/qparams.h"

#define NN_MAX_LAYERS 8

typedef struct NnModel {
    int n_layers;                 /* linear layers L */
    int dims[NN_MAX_LAYERS + 1];  /* feature counts, input first */
    float *w[NN_MAX_LAYERS];      /* [dims[l+1], dims[l]] */
    float *b[NN_MAX_LAYERS];      /* [dims[l+1]] */
} NnModel;

/* PyTorch's default nn.Linear initialisation: w, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
int  nn_mlp_init(NnModel *m, int n_in, const int *hidden, int n_hidden, int n_out, QRng *rng, QErr *err);
void nn_model_copy(NnModel *dst, const NnModel *src);
void nn_model_free(NnModel *m);
int64_t nn_model_n_params(const NnModel *m);

/* Optional fake quantization of each linear layer's input (simulated W?A8): act[l] is the
 * per-tensor QParams applied to the input of layer l, or NULL to leave it in float. */
typedef struct NnActQuant {
    const QParams *act[NN_MAX_LAYERS];
} NnActQuant;

/* Scratch for a forward pass of up to max_batch rows. */
typedef struct NnWorkspace {
    int max_batch;
    float *a[NN_MAX_LAYERS + 1];  /* a[l] [B, dims[l]]: layer inputs; a[L] = logits */
} NnWorkspace;
void nn_workspace_init(NnWorkspace *ws, const NnModel *m, int max_batch);
void nn_workspace_free(NnWorkspace *ws);

/* logits = model(x[B, dims[0]]); returns ws->a[L] ([B, classes]). aq may be NULL.
 * When observe is non-NULL it is called with every layer's input (calibration). */
typedef void (*NnObserveFn)(void *ctx, int layer, const float *x, int64_t n);
const float *nn_model_forward(const NnModel *m, NnWorkspace *ws, const float *x, int B, const NnActQuant *aq,
                              NnObserveFn observe, void *ctx);

/* Accuracy on a dataset (fraction correct); pred [n] receives predicted classes if non-NULL. */
double nn_model_accuracy(const NnModel *m, const NnDataset *d, const NnActQuant *aq, uint8_t *pred);

typedef struct NnTrainOpts {
    int epochs;       /* 5 */
    int batch;        /* 128 */
    float lr;         /* 1e-3 */
    uint64_t seed;    /* shuffling */
    int verbose;      /* per-epoch line on stderr */
    int cosine;       /* 0: constant lr; 1: cosine decay from lr to 0 over all steps (per step, as
                       * torch's CosineAnnealingLR(T_max = steps) stepped every batch) */
    int normalize;    /* CNN only: train on (x - mean) / std of the training pixels, then fold
                       * the normalization into conv1 (the returned model takes pixels) */
} NnTrainOpts;
void nn_train_opts_default(NnTrainOpts *o);
/* The learning rate of 0-based step t of total (o->cosine: lr (1 + cos(pi t / total)) / 2). */
float nn_train_lr(const NnTrainOpts *o, int64_t t, int64_t total);

/* The training curve: mean loss and training accuracy over each 1/per_epoch of an epoch (at
 * most 8 points per epoch and NN_CURVE_MAX in all), for the reports' per-epoch plots. */
enum { NN_CURVE_MAX = 256 };
typedef struct NnCurve {
    int n, per_epoch;
    float loss[NN_CURVE_MAX], acc[NN_CURVE_MAX];
    double seg_loss;            /* the segment being summed */
    int64_t seg_hits, seg_seen;
} NnCurve;
void nn_curve_init(NnCurve *c, int epochs);
/* one batch (batch j of nb in its epoch; loss summed over its B samples, hits of them right) */
void nn_curve_batch(NnCurve *c, int64_t j, int64_t nb, double loss_sum, int64_t hits, int64_t B);

typedef struct NnTrainStats {
    double loss, train_acc, seconds;  /* of the last epoch */
    double total_seconds;
    NnCurve curve;                    /* per segment of an epoch (MLP and CNN training) */
} NnTrainStats;

/* Trains in place with Adam; a per-epoch line (loss, train accuracy, seconds) through qlog
 * when verbose. */
void nn_train(NnModel *m, const NnDataset *train, const NnTrainOpts *o, NnTrainStats *st);

#endif
