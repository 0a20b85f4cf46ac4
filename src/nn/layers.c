/* layers.c — linear, ReLU, softmax cross-entropy, Adam (nn_layers.h). */
#include "quant/nn_layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void linear_forward(float *y, const float *x, const float *w, const float *b, int B, int K, int N) {
    if (b)
        for (int i = 0; i < B; i++) memcpy(y + (size_t)i * N, b, (size_t)N * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, N, K, 1.0f, x, K, w, K, b ? 1.0f : 0.0f, y, N);
}

void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                     int B, int K, int N) {
    if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, K, N, 1.0f, dy, N, w, K, 0.0f, dx, K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, B, 1.0f, dy, N, x, K, 0.0f, dw, K);
    if (db) {
        memset(db, 0, (size_t)N * sizeof(float));
        for (int i = 0; i < B; i++)
            for (int n = 0; n < N; n++) db[n] += dy[(size_t)i * N + n];
    }
}

void relu_forward(float *y, const float *x, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(float *dx, const float *dy, const float *y, int64_t n) {
    /* branch-free: the sign pattern of activations is random, a branch would mispredict */
#pragma omp simd
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (float)(y[i] > 0.0f);
}

int argmax_f32(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

float softmax_xent_forward(float *probs, const float *logits, const uint8_t *labels, int B, int C, int *correct) {
    double loss = 0;
    int hits = 0;
    for (int i = 0; i < B; i++) {
        const float *z = logits + (size_t)i * C;
        float *p = probs + (size_t)i * C;
        float mx = z[0];
        for (int c = 1; c < C; c++) mx = fmaxf(mx, z[c]);
        double sum = 0;
        for (int c = 0; c < C; c++) sum += (p[c] = expf(z[c] - mx));
        for (int c = 0; c < C; c++) p[c] = (float)(p[c] / sum);
        loss += -(z[labels[i]] - mx - log(sum));
        hits += argmax_f32(z, C) == labels[i];
    }
    if (correct) *correct = hits;
    return (float)(loss / B);
}

void softmax_xent_backward(float *dlogits, const float *probs, const uint8_t *labels, int B, int C) {
    float inv = 1.0f / (float)B;
    for (int i = 0; i < B; i++)
        for (int c = 0; c < C; c++)
            dlogits[(size_t)i * C + c] = (probs[(size_t)i * C + c] - (c == labels[i] ? 1.0f : 0.0f)) * inv;
}

void adam_update(float *param, const float *grad, float *m, float *v, int64_t n, float lr, int t) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
    float step = lr / c1, rc2 = 1.0f / sqrtf(c2);
    /* same arithmetic as torch.optim.Adam: p -= lr/c1 * m / (sqrt(v)/sqrt(c2) + eps) */
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * grad[i];
        v[i] = b2 * v[i] + (1.0f - b2) * grad[i] * grad[i];
        param[i] -= step * m[i] / (sqrtf(v[i]) * rc2 + eps);
    }
}
