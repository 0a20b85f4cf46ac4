/* cnn_int.c — the integer CNN (nn_cnn.h): conversion from fp32 weights and input grids, int8
 * convolutions as im2row + the int8 linear kernel, its float simulation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/nn_cnn.h"

int nn_cnn_convert(const NnCnn *m, const QParams act[3], int wbits, float *const wscale[3], NnCnnQ *q, QErr *err) {
    memset(q, 0, sizeof *q);
    if (wbits < 2 || wbits > 8) return qerr_set(err, "the integer CNN needs 2..8-bit weights, got %d", wbits);
    const int qn = -(1 << (wbits - 1)), qp = (1 << (wbits - 1)) - 1;
    for (int l = 0; l < 3; l++) {
        if (act[l].bits != 8) return qerr_set(err, "the integer CNN needs 8-bit activations, layer %d has %d", l, act[l].bits);
        if (!(act[l].scale[0] > 0)) return qerr_set(err, "layer %d input grid has scale %g", l, act[l].scale[0]);
        q->act_scale[l] = act[l].scale[0];
        q->act_zero[l] = act[l].zero[0];
    }
    q->wbits = wbits;
    for (int l = 0; l < 3; l++) {
        const int N = nn_cnn_wrows[l], K = nn_cnn_wcols[l];
        const float *w = m->p[2 * l], *b = m->p[2 * l + 1];
        int8_t *codes = q->codes[l] = xmalloc((size_t)N * K);
        float *s = q->wscale[l] = xmalloc((size_t)N * sizeof(float));
        if (wscale && wscale[l]) memcpy(s, wscale[l], (size_t)N * sizeof(float));
        else nn_qat_minmax_row_scales(w, N, K, wbits, s);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                codes[(size_t)n * K + k] = (int8_t)nearbyintf(fminf(fmaxf(w[(size_t)n * K + k] / s[n], (float)qn), (float)qp));
        q->bias[l] = xmalloc((size_t)N * sizeof(int32_t));
        if (l < 2) {
            q->mult[l] = xmalloc((size_t)N * sizeof(int32_t));
            q->shift[l] = xmalloc((size_t)N * sizeof(int32_t));
        }
        for (int n = 0; n < N; n++) {
            double sb = (double)q->act_scale[l] * s[n];
            q->bias[l][n] = (int32_t)fmax(fmin(nearbyint(b[n] / sb), 2147483647.0), -2147483648.0);
            if (l < 2) kern_quantize_multiplier(sb / q->act_scale[l + 1], &q->mult[l][n], &q->shift[l][n]);
        }
    }
    nn_cnn_q_pack(q);
    return 0;
}

void nn_cnn_q_pack(NnCnnQ *q) {
    for (int l = 0; l < 3; l++) {
        const int N = nn_cnn_wrows[l], K = nn_cnn_wcols[l];
        kern_s8_weights_free(q->w[l]);
        if (l < 2) {
            q->w[l] = kern_s8_weights_pack(q->codes[l], N, K, kern_isa_best());
            continue;
        }
        /* the linear layer's inputs arrive as (h, w, c): permute its (c, h, w) columns */
        int8_t *perm = xmalloc((size_t)N * K);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) perm[(size_t)n * K + k] = q->codes[l][(size_t)n * K + (k % CNN_C2) * 25 + k / CNN_C2];
        q->w[l] = kern_s8_weights_pack(perm, N, K, kern_isa_best());
        free(perm);
    }
}

void nn_cnn_q_free(NnCnnQ *q) {
    for (int l = 0; l < 3; l++) {
        kern_s8_weights_free(q->w[l]);
        free(q->codes[l]);
        free(q->wscale[l]);
        free(q->bias[l]);
    }
    for (int l = 0; l < 2; l++) {
        free(q->mult[l]);
        free(q->shift[l]);
    }
    memset(q, 0, sizeof *q);
}

void nn_cnn_q_simulation(const NnCnnQ *q, NnCnn *sim) {
    for (int l = 0; l < 3; l++) {
        const int N = nn_cnn_wrows[l], K = nn_cnn_wcols[l];
        sim->p[2 * l] = xmalloc((size_t)N * K * sizeof(float));
        sim->p[2 * l + 1] = xmalloc((size_t)N * sizeof(float));
        for (int n = 0; n < N; n++) {
            for (int k = 0; k < K; k++) sim->p[2 * l][(size_t)n * K + k] = q->wscale[l][n] * (float)q->codes[l][(size_t)n * K + k];
            sim->p[2 * l + 1][n] = (float)((double)q->bias[l][n] * ((double)q->act_scale[l] * q->wscale[l][n]));
        }
    }
}

void nn_cnn_q_act_params(const NnCnnQ *q, QParams act[3]) {
    for (int l = 0; l < 3; l++) {
        QErr e;
        qparams_init(&act[l], 8, 0, QGRAN_TENSOR, 0, 1, 1, &e);
        act[l].scale[0] = q->act_scale[l];
        act[l].zero[0] = q->act_zero[l];
    }
}

/* rows[P, C*K*K] of an int8 image x[H, W, C] (channels last), columns ordered (c, ki, kj) */
static void im2row_s8(int8_t *rows, const int8_t *x, int H, int W, int C, int K) {
    const int OH = H - K + 1, OW = W - K + 1, CKK = C * K * K;
    for (int i = 0; i < OH; i++)
        for (int j = 0; j < OW; j++) {
            int8_t *r = rows + (size_t)(i * OW + j) * CKK;
            for (int c = 0; c < C; c++)
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) r[(c * K + ki) * K + kj] = x[((size_t)(i + ki) * W + j + kj) * C + c];
        }
}

/* 2x2 max-pool of int8 x[H, W, C] into y[H/2, W/2, C] */
static void maxpool2_s8(int8_t *y, const int8_t *x, int H, int W, int C) {
    for (int i = 0; i < H / 2; i++)
        for (int j = 0; j < W / 2; j++)
            for (int c = 0; c < C; c++) {
                int8_t m = x[((size_t)(2 * i) * W + 2 * j) * C + c];
                int8_t v[3] = {x[((size_t)(2 * i) * W + 2 * j + 1) * C + c], x[((size_t)(2 * i + 1) * W + 2 * j) * C + c],
                               x[((size_t)(2 * i + 1) * W + 2 * j + 1) * C + c]};
                for (int k = 0; k < 3; k++) m = v[k] > m ? v[k] : m;
                y[((size_t)i * (W / 2) + j) * C + c] = m;
            }
}

double nn_cnn_q_accuracy(const NnCnnQ *q, const NnDataset *d, uint8_t *pred) {
    int8_t x[784], rows1[676 * 9], c1[676 * CNN_C1], p1[169 * CNN_C1], rows2[121 * 144], c2[121 * CNN_C2], p2[CNN_FLAT];
    int32_t acc[10];
    int64_t hits = 0;
    for (int64_t i = 0; i < d->n; i++) {
        kern_quantize_f32_s8(784, d->images + i * 784, q->act_scale[0], q->act_zero[0], -128, 127, x, kern_isa_best());
        im2row_s8(rows1, x, 28, 28, 1, 3);
        KernRequant r1 = {q->mult[0], q->shift[0], q->act_zero[1], q->act_zero[1], 127};
        kern_qlinear_s8(676, rows1, q->act_zero[0], q->w[0], q->bias[0], &r1, c1);
        maxpool2_s8(p1, c1, 26, 26, CNN_C1);
        im2row_s8(rows2, p1, 13, 13, CNN_C1, 3);
        KernRequant r2 = {q->mult[1], q->shift[1], q->act_zero[2], q->act_zero[2], 127};
        kern_qlinear_s8(121, rows2, q->act_zero[1], q->w[1], q->bias[1], &r2, c2);
        maxpool2_s8(p2, c2, 11, 11, CNN_C2);
        kern_qlinear_s8_acc(1, p2, q->act_zero[2], q->w[2], q->bias[2], acc);
        int best = 0;
        float bv = -INFINITY;
        for (int c = 0; c < 10; c++) {
            float v = (float)acc[c] * q->act_scale[2] * q->wscale[2][c];
            if (v > bv) bv = v, best = c;
        }
        hits += best == d->labels[i];
        if (pred) pred[i] = (uint8_t)best;
    }
    return d->n ? (double)hits / (double)d->n : 0;
}
