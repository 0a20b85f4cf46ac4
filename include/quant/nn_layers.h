/* nn_layers.h — network layers as plain forward/backward function pairs (llm.c style).
 * Shape legend: B = batch, K = input features, N = output features, C = classes.
 * All arrays row-major, float32. Backward functions overwrite the gradients they return. */
#ifndef QUANT_NN_LAYERS_H
#define QUANT_NN_LAYERS_H

#include <stdint.h>

/* y[B,N] = x[B,K] w[N,K]^T + b[N] */
void linear_forward(float *y, const float *x, const float *w, const float *b, int B, int K, int N);
/* dx[B,K] = dy[B,N] w[N,K] (skipped when dx is NULL); dw[N,K] = dy^T x; db[N] = sum_b dy */
void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                     int B, int K, int N);

/* y = max(x, 0), n elements (y may equal x) */
void relu_forward(float *y, const float *x, int64_t n);
/* dx = dy * (y > 0), using the forward output (dx may equal dy) */
void relu_backward(float *dx, const float *dy, const float *y, int64_t n);

/* Mean cross-entropy of softmax(logits[B,C]) against labels[B]; probs[B,C] kept for backward.
 * Returns the mean loss; *correct counts argmax hits (may be NULL). */
float softmax_xent_forward(float *probs, const float *logits, const uint8_t *labels, int B, int C, int *correct);
/* dlogits[B,C] = (probs - onehot) / B */
void softmax_xent_backward(float *dlogits, const float *probs, const uint8_t *labels, int B, int C);

/* One Adam step (Kingma & Ba, PyTorch defaults betas 0.9/0.999, eps 1e-8, no weight decay):
 * m, v are the moment buffers, t the 1-based step count. */
void adam_update(float *param, const float *grad, float *m, float *v, int64_t n, float lr, int t);

int argmax_f32(const float *x, int n);

#endif
