/* linear_f32.c — fp32 linear layer: Y = X W^T + b through kern_sgemm (OpenBLAS or quant's
 * kernels, gemm_f32.c). */
#include <cblas.h>
#include <string.h>

#include "quant/kernels.h"

void kern_linear_f32(int M, int N, int K, const float *X, const float *W, const float *b, float *Y) {
    if (b)
        for (int i = 0; i < M; i++) memcpy(Y + (size_t)i * N, b, (size_t)N * sizeof(float));
    const KernGemmChoice *c = kern_gemm_choice();
    if (M == 1 && c->gemv_blas) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, W, K, X, 1, b ? 1.0f : 0.0f, Y, 1);
        return;
    }
    kern_sgemm(0, 1, M, N, K, 1.0f, X, K, W, K, b ? 1.0f : 0.0f, Y, N);
}
