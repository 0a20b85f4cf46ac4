/* nn_ptq.h — post-training quantization of the MLP:
 *   weight-only: every linear's weights fake-quantized (codes + scales kept), fp32 activations;
 *   static W8A8: per-channel symmetric int8 weights, per-tensor affine int8 inputs of every
 *   linear with ranges from an observer over calibration images; simulated in float
 *   (fake-quant) and converted into an integer-only model (NnQModel) that runs on the int8
 *   kernels: int8 x int8 -> int32, int32 bias, fixed-point requantization, ReLU fused. */
#ifndef QUANT_NN_PTQ_H
#define QUANT_NN_PTQ_H

#include "quant/kernels.h"
#include "quant/nn_model.h"
#include "quant/observer.h"
#include "quant/qparams.h"

/* ------------------------------------------------------------ weight-only */
typedef struct NnWeightQuant {
    int bits, symmetric;
    QGranularity gran;
    int64_t group_size;
    QObserverKind observer;   /* how each unit's range is chosen */
} NnWeightQuant;

/* A weight-quantized model: the codes and scales, and an fp32 model holding the
 * dequantized weights (what the accuracy is measured on). */
typedef struct NnQuantWeights {
    NnWeightQuant scheme;
    int n_layers;
    QParams p[NN_MAX_LAYERS];
    int8_t *codes[NN_MAX_LAYERS];  /* [dims[l+1], dims[l]] */
    NnModel deq;                   /* fp32 model with dequantized weights, fp32 biases */
} NnQuantWeights;
int  nn_quantize_weights(const NnModel *m, const NnWeightQuant *s, NnQuantWeights *out, QErr *err);
void nn_quant_weights_free(NnQuantWeights *q);

/* ------------------------------------------------------------ static W8A8 */
/* Per-tensor affine int8 QParams for the input of every linear layer, from an observer of
 * the given kind watching the first n_samples images of calib. act[l] initialised here. */
int nn_calibrate_activations(const NnModel *m, const NnDataset *calib, int64_t n_samples, QObserverKind kind,
                             int act_bits, QParams act[NN_MAX_LAYERS], QErr *err);

/* The integer-only model. */
typedef struct NnQModel {
    int n_layers;
    int dims[NN_MAX_LAYERS + 1];
    int8_t *wq[NN_MAX_LAYERS];        /* [N, K] int8 codes, per-channel symmetric */
    float *w_scale[NN_MAX_LAYERS];    /* [N] */
    int32_t *bias[NN_MAX_LAYERS];     /* [N] round(b / (s_x * s_w[n])) */
    float act_scale[NN_MAX_LAYERS];   /* input of layer l: per-tensor affine int8 */
    int32_t act_zero[NN_MAX_LAYERS];
    int32_t *rq_mult[NN_MAX_LAYERS];  /* [N] requantization to the next layer's input grid */
    int32_t *rq_shift[NN_MAX_LAYERS]; /* (absent for the last layer: int32 logits) */
    KernS8Weights *packed[NN_MAX_LAYERS];  /* kernel layout, built from wq */
} NnQModel;

/* Converts fp32 model + activation grids into the integer model. */
int  nn_qmodel_convert(const NnModel *m, const QParams act[NN_MAX_LAYERS], NnQModel *q, QErr *err);
/* Builds the packed kernel weights (after convert or load). */
void nn_qmodel_pack(NnQModel *q, KernIsa isa);
void nn_qmodel_free(NnQModel *q);

/* Scratch for the integer forward. */
typedef struct NnQWorkspace {
    int max_batch;
    int8_t *a[NN_MAX_LAYERS];   /* int8 inputs of each layer [B, dims[l]] */
    int32_t *acc;               /* last layer's accumulators [B, classes] */
} NnQWorkspace;
void nn_qworkspace_init(NnQWorkspace *ws, const NnQModel *q, int max_batch);
void nn_qworkspace_free(NnQWorkspace *ws);

/* Predicted classes for x[B, dims[0]] through integers only: the float images are quantized
 * on entry (as a QuantStub does), every layer is int8 x int8 -> int32 -> requantized int8,
 * and the class is the argmax of the dequantized int32 logits (logit_n = acc_n s_x s_w[n]).
 * logits [B, classes] (may be NULL) receives those dequantized logits. */
void nn_qmodel_forward(const NnQModel *q, NnQWorkspace *ws, const float *x, int B, uint8_t *pred, float *logits);
double nn_qmodel_accuracy(const NnQModel *q, const NnDataset *d, uint8_t *pred);

/* The float simulation of the same integer model: per-channel int8 fake-quantized weights
 * (same codes), fake-quantized inputs of every layer (NnActQuant from act). */
void nn_w8a8_simulation(const NnQModel *q, NnModel *sim);

#endif
