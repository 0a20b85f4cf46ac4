/* conv.c — convolution by im2col + GEMM, 2x2 max pooling (nn_conv.h). */
#include "quant/nn_conv.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "quant/core.h"

static void conv2d_backward_one(float *dxn, float *dw, float *db, const float *dyn, const float *xn, const float *w,
                                float *col, float *dcol, int C, int H, int W, int OC, int K);

void im2col(float *col, const float *x, int C, int H, int W, int K) {
    const int OH = H - K + 1, OW = W - K + 1;
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                const float *src = x + (size_t)c * H * W + (size_t)ki * W + kj;
                for (int i = 0; i < OH; i++) memcpy(row + (size_t)i * OW, src + (size_t)i * W, (size_t)OW * sizeof(float));
            }
}

/* x[C, H, W] += col2im(dcol) */
static void col2im_add(float *x, const float *dcol, int C, int H, int W, int K) {
    const int OH = H - K + 1, OW = W - K + 1;
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = dcol + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                float *dst = x + (size_t)c * H * W + (size_t)ki * W + kj;
                for (int i = 0; i < OH; i++)
                    for (int j = 0; j < OW; j++) dst[(size_t)i * W + j] += row[(size_t)i * OW + j];
            }
}

/* Images are independent: they are spread over the OpenMP threads, each with its own im2col
 * buffer (the caller's `col` serves the first thread); BLAS runs inside single-threaded. */
void conv2d_forward(float *y, const float *x, const float *w, const float *b, float *col, int B, int C, int H, int W,
                    int OC, int K) {
    const int OH = H - K + 1, OW = W - K + 1, CKK = C * K * K, P = OH * OW;
#pragma omp parallel if (B > 1)
    {
        float *mycol = omp_get_thread_num() == 0 ? col : xmalloc((size_t)CKK * P * sizeof(float));
#pragma omp for schedule(static)
        for (int n = 0; n < B; n++) {
            float *yn = y + (size_t)n * OC * P;
            im2col(mycol, x + (size_t)n * C * H * W, C, H, W, K);
            for (int o = 0; o < OC; o++)
                for (int p = 0; p < P; p++) yn[(size_t)o * P + p] = b ? b[o] : 0.0f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, P, CKK, 1.0f, w, CKK, mycol, P, 1.0f, yn, P);
        }
        if (mycol != col) free(mycol);
    }
}

void conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, float *col,
                     float *dcol, int B, int C, int H, int W, int OC, int K) {
    const int OH = H - K + 1, OW = W - K + 1, CKK = C * K * K, P = OH * OW;
    memset(dw, 0, (size_t)OC * CKK * sizeof(float));
    if (db) memset(db, 0, (size_t)OC * sizeof(float));
    /* per-thread partial dw / db, added in thread order: deterministic for a thread count */
    int nt = B > 1 ? omp_get_max_threads() : 1;
    float *part = nt > 1 ? xcalloc((size_t)(nt - 1) * (OC * CKK + OC), sizeof(float)) : NULL;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        float *mdw = t == 0 ? dw : part + (size_t)(t - 1) * (OC * CKK + OC);
        float *mdb = db ? (t == 0 ? db : mdw + (size_t)OC * CKK) : NULL;
        float *mcol = t == 0 ? col : xmalloc((size_t)CKK * P * sizeof(float));
        float *mdcol = t == 0 ? dcol : xmalloc((size_t)CKK * P * sizeof(float));
#pragma omp for schedule(static)
        for (int n = 0; n < B; n++)
            conv2d_backward_one(dx ? dx + (size_t)n * C * H * W : NULL, mdw, mdb, dy + (size_t)n * OC * P,
                                x + (size_t)n * C * H * W, w, mcol, mdcol, C, H, W, OC, K);
        if (t) {
            free(mcol);
            free(mdcol);
        }
    }
    for (int t = 1; t < nt; t++) {
        const float *pw = part + (size_t)(t - 1) * (OC * CKK + OC);
        for (int i = 0; i < OC * CKK; i++) dw[i] += pw[i];
        if (db)
            for (int o = 0; o < OC; o++) db[o] += pw[OC * CKK + o];
    }
    free(part);
}

/* one image: dw += dy_n col^T, db += sum dy_n, dx_n = col2im(w^T dy_n) */
static void conv2d_backward_one(float *dxn, float *dw, float *db, const float *dyn, const float *xn, const float *w,
                                float *col, float *dcol, int C, int H, int W, int OC, int K) {
    const int OH = H - K + 1, OW = W - K + 1, CKK = C * K * K, P = OH * OW;
    {
        im2col(col, xn, C, H, W, K);
        /* dw += dy_n col^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, CKK, P, 1.0f, dyn, P, col, P, 1.0f, dw, CKK);
        if (db)
            for (int o = 0; o < OC; o++) {
                float s = 0;
                for (int p = 0; p < P; p++) s += dyn[(size_t)o * P + p];
                db[o] += s;
            }
        if (dxn) {
            /* dcol = w^T dy_n, folded back onto the image */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, P, OC, 1.0f, w, CKK, dyn, P, 0.0f, dcol, P);
            memset(dxn, 0, (size_t)C * H * W * sizeof(float));
            col2im_add(dxn, dcol, C, H, W, K);
        }
    }
}

void maxpool2_forward(float *y, int32_t *arg, const float *x, int B, int C, int H, int W) {
    const int OH = H / 2, OW = W / 2;
    for (int bc = 0; bc < B * C; bc++) {
        const float *xi = x + (size_t)bc * H * W;
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                int best = (2 * i) * W + 2 * j;
                int cand[3] = {best + 1, best + W, best + W + 1};
                for (int k = 0; k < 3; k++)
                    if (xi[cand[k]] > xi[best]) best = cand[k];
                size_t o = (size_t)bc * OH * OW + (size_t)i * OW + j;
                y[o] = xi[best];
                arg[o] = best;
            }
    }
}

void maxpool2_backward(float *dx, const float *dy, const int32_t *arg, int B, int C, int H, int W) {
    const int OH = H / 2, OW = W / 2;
    memset(dx, 0, (size_t)B * C * H * W * sizeof(float));
    for (int bc = 0; bc < B * C; bc++)
        for (int p = 0; p < OH * OW; p++) dx[(size_t)bc * H * W + arg[(size_t)bc * OH * OW + p]] += dy[(size_t)bc * OH * OW + p];
}
