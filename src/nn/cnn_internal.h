/* cnn_internal.h — what the CNN's source files share (not a public header). */
#ifndef QUANT_CNN_INTERNAL_H
#define QUANT_CNN_INTERNAL_H

#include <stdint.h>

#include "quant/nn_data.h"

/* Activations of one batch of up to B images. */
typedef struct Acts {
    float *x, *c1, *p1, *c2, *p2, *logits;   /* [B,1,28,28] [B,16,26,26] [B,16,13,13] [B,32,11,11] [B,32,5,5] [B,10] */
    int32_t *a1, *a2;                         /* pooling argmax */
    float *col, *dcol;                        /* im2col scratch [144, 676] */
} Acts;
void cnn_acts_init(Acts *a, int B);
void cnn_acts_free(Acts *a);

/* What a training loop needs besides the activations: the backward pass's gradients of a batch
 * of up to B images, its labels, and the order of the n training images (0..n-1 to shuffle). */
typedef struct CnnScratch {
    float *probs, *dlog, *dp2, *dc2, *dp1, *dc1;  /* [B,10] [B,10] [B,800] [B,32,11,11] [B,16,13,13] [B,16,26,26] */
    uint8_t *yb;                                  /* [B] */
    int32_t *order;                               /* [n] */
} CnnScratch;
void cnn_scratch_init(CnnScratch *s, int B, int64_t n);
void cnn_scratch_free(CnnScratch *s);
/* images idx[0..B) of d into a->x, their labels into yb */
void cnn_batch_gather(Acts *a, uint8_t *yb, const NnDataset *d, const int32_t *idx, int B);

#endif
