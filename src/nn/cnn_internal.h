/* cnn_internal.h — what the CNN's source files share (not a public header). */
#ifndef QUANT_CNN_INTERNAL_H
#define QUANT_CNN_INTERNAL_H

#include <stdint.h>

/* Activations of one batch of up to B images. */
typedef struct Acts {
    float *x, *c1, *p1, *c2, *p2, *logits;   /* [B,1,28,28] [B,16,26,26] [B,16,13,13] [B,32,11,11] [B,32,5,5] [B,10] */
    int32_t *a1, *a2;                         /* pooling argmax */
    float *col, *dcol;                        /* im2col scratch [144, 676] */
} Acts;
void cnn_acts_init(Acts *a, int B);
void cnn_acts_free(Acts *a);

#endif
