/* nn_conv.h — convolution and pooling layers (llm.c style forward/backward pairs) for the CNN.
 * Layout NCHW. Shape legend: B batch, C/OC input/output channels, H x W input, K x K kernel,
 * OH = H - K + 1, OW = W - K + 1 (stride 1, no padding). */
#ifndef QUANT_NN_CONV_H
#define QUANT_NN_CONV_H

#include <stdint.h>

/* col[C*K*K, OH*OW] from one image x[C, H, W] */
void im2col(float *col, const float *x, int C, int H, int W, int K);
/* y[B, OC, OH, OW] = conv(x[B, C, H, W], w[OC, C*K*K]) + b[OC]; col: scratch [C*K*K, OH*OW] */
void conv2d_forward(float *y, const float *x, const float *w, const float *b, float *col, int B, int C, int H, int W,
                    int OC, int K);
/* dx[B, C, H, W] (skipped when NULL), dw[OC, C*K*K], db[OC] (overwritten) from dy[B, OC, OH, OW] */
void conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, float *col,
                     float *dcol, int B, int C, int H, int W, int OC, int K);

/* 2x2 max pooling, stride 2 (odd sizes floor): y[B, C, H/2, W/2], arg[...] = index of the max in x */
void maxpool2_forward(float *y, int32_t *arg, const float *x, int B, int C, int H, int W);
/* dx[B, C, H, W] = 0 except dy routed to the argmax positions */
void maxpool2_backward(float *dx, const float *dy, const int32_t *arg, int B, int C, int H, int W);

#endif
