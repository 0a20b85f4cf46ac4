/* linear_f32.c — fp32 linear layer through OpenBLAS. */
#include <cblas.h>
#include <string.h>

#include "quant/kernels.h"

void kern_linear_f32(int M, int N, int K, const float *X, const float *W, const float *b, float *Y) {
    if (M == 1) {
        if (b) memcpy(Y, b, (size_t)N * sizeof(float));
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, W, K, X, 1, b ? 1.0f : 0.0f, Y, 1);
        return;
    }
    if (b)
        for (int i = 0; i < M; i++) memcpy(Y + (size_t)i * N, b, (size_t)N * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, X, K, W, K, b ? 1.0f : 0.0f, Y, N);
}
