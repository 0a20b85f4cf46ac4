/* gptq.c — GPTQ (gptq.h).  Frantar, Ashkboos, Hoefler, Alistarh 2022, Algorithm 1:
 * with U the upper Cholesky factor of H^-1 (H^-1 = U^T U), columns are quantized in order;
 * column i's error e = (w_i - q_i) / U_ii is subtracted from the later columns j as
 * e * U_ij — eagerly inside a block of columns, lazily (one matrix product) beyond it. */
#include "quant/gptq.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "quant/kernels.h"


void gptq_hessian_init(GptqHessian *h, int64_t K) {
    h->K = K;
    h->nsamples = 0;
    h->H = xcalloc((size_t)K * K, sizeof(double));
}

/* Rows are taken a chunk of CH at a time and X^T X is formed a band of TW rows at a time from
 * the diagonal rightwards: the upper triangle only, half a full product's work, in fp32 on
 * kern_sgemm (a chunk's sums have at most CH products; the reference implementation keeps all of
 * H in fp32), added into the double H.  X is read in place: the previous code made a double
 * copy of all of it (1.5 GB at 1.1B's down projection with 32768 calibration rows). */
enum { HESS_CH = 2048, HESS_TW = 256 };
void gptq_hessian_add(GptqHessian *h, const float *X, int64_t rows) {
    /* running mean of 2 x x^T:  H = H * n/(n+r) + 2/(n+r) * X^T X */
    const int64_t K = h->K, n = h->nsamples, tot = n + rows;
    if (rows <= 0) return;
    const double keep = (double)n / (double)tot, add = 2.0 / (double)tot;
    float *C = xmalloc((size_t)(HESS_TW * K) * sizeof(float));
    double *H = h->H;
#pragma omp parallel for schedule(static) if (K > 256)
    for (int64_t i = 0; i < K; i++)
        for (int64_t j = i; j < K; j++) H[i * K + j] *= keep;
    for (int64_t r0 = 0; r0 < rows; r0 += HESS_CH) {
        const int64_t m = rows - r0 < HESS_CH ? rows - r0 : HESS_CH;
        const float *Xc = X + r0 * K;
        for (int64_t i0 = 0; i0 < K; i0 += HESS_TW) {
            const int64_t tw = K - i0 < HESS_TW ? K - i0 : HESS_TW, w = K - i0;
            /* C [tw, w] = Xc[:, i0 .. i0+tw)^T Xc[:, i0 .. K) */
            kern_sgemm(1, 0, (int)tw, (int)w, (int)m, 1.0f, Xc + i0, (int)K, Xc + i0, (int)K, 0.0f, C, (int)w);
#pragma omp parallel for schedule(static) if (tw * w > 65536)
            for (int64_t a = 0; a < tw; a++)
                for (int64_t j = a; j < w; j++) H[(i0 + a) * K + i0 + j] += add * (double)C[a * w + j];
        }
    }
    /* the lower triangle from the upper, in 64 x 64 tiles (row by row, the strided reads missed
     * cache on every element) */
#pragma omp parallel for schedule(dynamic) if (K > 256)
    for (int64_t i0 = 0; i0 < K; i0 += 64)
        for (int64_t j0 = 0; j0 <= i0; j0 += 64)
            for (int64_t i = i0; i < i0 + 64 && i < K; i++)
                for (int64_t j = j0; j < j0 + 64 && j < i; j++) H[i * K + j] = H[j * K + i];
    h->nsamples = tot;
    free(C);
}

void gptq_hessian_free(GptqHessian *h) {
    free(h->H);
    memset(h, 0, sizeof *h);
}

void gptq_opts_default(GptqOpts *o) {
    memset(o, 0, sizeof *o);
    o->damp = 0.01;
    o->block_size = 128;
    o->bits = 4;
    o->symmetric = 0;
    o->gran = QGRAN_CHANNEL;
}

/* Reverses the order of rows and of columns of A [K, K] (J A J): the flat array reversed. */
static void reverse_both(double *A, int K) {
    const size_t n = (size_t)K * K;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n / 2; i++) {
        double t = A[i];
        A[i] = A[n - 1 - i];
        A[n - 1 - i] = t;
    }
}

/* U: the upper Cholesky factor of A^-1 (A^-1 = U^T U), in place in A [K, K] (row-major,
 * symmetric).  With J the order-reversing permutation, J A J = M M^T (M lower) gives
 * A = V V^T for the upper V = J M J, so A^-1 = V^-T V^-1 and U = V^-1: one factorization and
 * one triangular inverse (K^3 / 3 each) where factor, invert, factor again costs twice that,
 * all in A's own memory.  LAPACK is called column-major on the row-major array (the symmetric
 * A is its own transpose), so LAPACKE makes no transposed copy of a matrix that is 1 GB at 7B's
 * down projection. */
static int inverse_cholesky_upper(double *A, int K) {
    reverse_both(A, K);
    /* column-major upper R, J A J = R^T R: the row-major lower triangle holds M = R^T */
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', K, A, K) != 0) return -1;
    reverse_both(A, K); /* the row-major upper triangle holds V = J M J */
    for (int i = 0; i < K; i++)
        for (int j = 0; j < i; j++) A[(size_t)i * K + j] = 0.0;
    /* row-major upper V is column-major lower V^T; its inverse (V^-1)^T there is V^-1 here */
    if (LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'L', 'N', K, A, K) != 0) return -1;
    return 0;
}

/* Fits the (scale, zero) of unit k over vals[n]: min-max, or (mse) the shrink factor of the
 * min-max range in 1.00, 0.99, ..., 0.20 whose grid gives the least squared error.  The
 * search runs on p's own grid (full-range symmetric, float16 scales included), which
 * qclip_mse_search cannot see: it would pick a range for a different grid. */
static void fit_unit(QParams *p, int64_t k, const float *vals, int64_t n, int mse) {
    float lo = vals[0], hi = vals[0];
    for (int64_t i = 1; i < n; i++) {
        lo = fminf(lo, vals[i]);
        hi = fmaxf(hi, vals[i]);
    }
    if (!mse) {
        qparams_set_range(p, k, lo, hi);
        return;
    }
    double best = INFINITY;
    float bf = 1.0f;
    for (int i = 100; i >= 20; i--) {
        float f = (float)i / 100.0f;
        qparams_set_range(p, k, lo * f, hi * f);
        float s = p->scale[k];
        int32_t z = p->zero[k];
        double err = 0;
        for (int64_t j = 0; j < n && err < best; j++) {
            float d = vals[j] - quant_value(quant_code(vals[j], s, z, p->qmin, p->qmax), s, z);
            err += (double)d * d;
        }
        if (err < best) {
            best = err;
            bf = f;
        }
    }
    qparams_set_range(p, k, lo * bf, hi * bf);
}

/* The GPTQ sweep over W [N, K] with the permutation perm and U, the upper Cholesky factor of
 * the permuted, dampened H^-1: fits p's units (min-max or MSE, as the reference does), writes
 * the codes q and replaces W by its dequantized weights (both in the original column order). */
enum { TB = 16 }; /* rows of W per transposing tile: 16 floats, one cache line of WT */
static void gptq_sweep(float *W, int64_t N, int64_t K, const GptqHessian *Hs, const double *U, const int64_t *perm,
                       const GptqOpts *o, QParams *p, int8_t *q) {
    const int64_t g = p->gran == QGRAN_GROUP ? p->group_size : K;
    int64_t bs = o->block_size > 0 ? o->block_size : 128;
    if (p->gran == QGRAN_GROUP) bs = (bs + g - 1) / g * g; /* groups never straddle a block */
    /* working copy in permuted order: WT [K, N] (a column of W is a row of WT), TB rows of W at
     * a time: each permuted into a row of tile (in cache), then written down the columns of WT a
     * 64-byte line at a time (element by element, the strided walk missed cache on every access:
     * a third of a 7B block's time) */
    float *WT = xmalloc((size_t)K * N * sizeof(float));
    float *tile = xmalloc((size_t)TB * K * sizeof(float));
    for (int64_t n0 = 0; n0 < N; n0 += TB) {
        const int64_t nb = N - n0 < TB ? N - n0 : TB;
        for (int64_t r = 0; r < nb; r++)
            for (int64_t i = 0; i < K; i++) {
                const int64_t c = perm[i];
                tile[r * K + i] = Hs->H[c * K + c] == 0.0 ? 0.0f : W[(n0 + r) * K + c];
            }
#pragma omp parallel for schedule(static) if (K * nb > 65536)
        for (int64_t i = 0; i < K; i++)
            for (int64_t r = 0; r < nb; r++) WT[i * N + n0 + r] = tile[r * K + i];
    }
    /* with act-order, groups are fixed up front from the original weights (static groups) */
    if (o->act_order || p->gran == QGRAN_CHANNEL) {
#pragma omp parallel if (N * K > 65536)
        {
            float *buf = xmalloc((size_t)K * sizeof(float));
#pragma omp for schedule(static)
            for (int64_t n = 0; n < N; n++)
                for (int64_t j = 0; j < p->groups_per_row; j++) {
                    int64_t c0, c1;
                    qparams_unit_cols(p, j, &c0, &c1);
                    for (int64_t c = c0; c < c1; c++) buf[c - c0] = Hs->H[c * K + c] == 0.0 ? 0.0f : W[n * K + c];
                    fit_unit(p, n * p->groups_per_row + j, buf, c1 - c0, o->mse_clip);
                }
            free(buf);
        }
    }
    float *E = xmalloc((size_t)bs * N * sizeof(float));   /* scaled errors of the block [bs, N] */
    float *Uf = xmalloc((size_t)bs * K * sizeof(float));  /* U rows of the block, float */
    for (int64_t i1 = 0; i1 < K; i1 += bs) {
        int64_t i2 = i1 + bs < K ? i1 + bs : K, cnt = i2 - i1;
        /* inside a block, every row n of W (column of WT) is its own sequence of steps, so
         * threads split the rows: the same arithmetic for any thread count */
#pragma omp parallel if (N * cnt > 65536)
        {
            const int nt = omp_get_num_threads(), t = omp_get_thread_num();
            const int64_t per = (N + nt - 1) / nt, n_lo = t * per < N ? t * per : N, n_hi = n_lo + per < N ? n_lo + per : N;
            float *gbuf = xmalloc((size_t)K * sizeof(float));
            for (int64_t i = i1; i < i2; i++) {
                int64_t c = perm[i]; /* original column */
                if (!o->act_order && p->gran == QGRAN_GROUP && c % g == 0 && c / g < p->groups_per_row) {
                    /* fit this group from the error-updated weights (its columns are rows i .. of WT;
                     * a merged tail past the block's end has not had this block's lazy update yet) */
                    int64_t c0, c1;
                    qparams_unit_cols(p, c / g, &c0, &c1);
                    for (int64_t n = n_lo; n < n_hi; n++) {
                        for (int64_t cc = c; cc < c1; cc++) gbuf[cc - c] = WT[(i + cc - c) * N + n];
                        fit_unit(p, n * p->groups_per_row + c / g, gbuf, c1 - c, o->mse_clip);
                    }
                }
                double d = U[i * K + i];
                float *row = WT + i * N;
                float *e = E + (i - i1) * N;
                for (int64_t n = n_lo; n < n_hi; n++) {
                    int64_t k = qparams_index(p, n, c);
                    int32_t code = quant_code(row[n], p->scale[k], p->zero[k], p->qmin, p->qmax);
                    float deq = quant_value(code, p->scale[k], p->zero[k]);
                    q[n * K + c] = (int8_t)code;
                    e[n] = (float)((row[n] - deq) / d);
                    row[n] = deq;
                }
                /* eager update of the rest of the block (rows of WT never alias e: omp simd) */
                for (int64_t j = i + 1; j < i2; j++) {
                    float u = (float)U[i * K + j];
                    if (u == 0.0f) continue;
                    float *rj = WT + j * N;
#pragma omp simd
                    for (int64_t n = n_lo; n < n_hi; n++) rj[n] -= e[n] * u;
                }
            }
            free(gbuf);
        }
        /* lazy update of everything after the block: WT[i2:, :] -= U[i1:i2, i2:]^T E */
        if (i2 < K) {
            for (int64_t i = 0; i < cnt; i++)
                for (int64_t j = i2; j < K; j++) Uf[i * K + j] = (float)U[(i1 + i) * K + j];
            kern_sgemm(1, 0, (int)(K - i2), (int)N, (int)cnt, -1.0f, Uf + i2, (int)K,
                        E, (int)N, 1.0f, WT + i2 * N, (int)N);
        }
    }
    for (int64_t n0 = 0; n0 < N; n0 += TB) { /* back, as above in reverse */
        const int64_t nb = N - n0 < TB ? N - n0 : TB;
#pragma omp parallel for schedule(static) if (K * nb > 65536)
        for (int64_t i = 0; i < K; i++)
            for (int64_t r = 0; r < nb; r++) tile[r * K + i] = WT[i * N + n0 + r];
        for (int64_t r = 0; r < nb; r++)
            for (int64_t i = 0; i < K; i++) W[(n0 + r) * K + perm[i]] = tile[r * K + i];
    }
    free(tile);
    free(E);
    free(Uf);
    free(WT);
}

int gptq_factor(const GptqHessian *Hs, const GptqOpts *o, GptqFactor *f, QErr *err) {
    const int64_t K = Hs->K;
    memset(f, 0, sizeof *f);
    f->K = K;
    f->act_order = o->act_order;
    /* permutation (act-order): columns by decreasing H diagonal */
    int64_t *perm = xmalloc((size_t)K * sizeof(int64_t));
    for (int64_t i = 0; i < K; i++) perm[i] = i;
    if (o->act_order)
        for (int64_t i = 1; i < K; i++) { /* insertion sort, stable */
            int64_t v = perm[i], j = i;
            while (j > 0 && Hs->H[perm[j - 1] * K + perm[j - 1]] < Hs->H[v * K + v]) {
                perm[j] = perm[j - 1];
                j--;
            }
            perm[j] = v;
        }
    double mean_diag = 0;
    for (int64_t i = 0; i < K; i++) mean_diag += Hs->H[i * K + i] == 0.0 ? 1.0 : Hs->H[i * K + i];
    mean_diag /= (double)K;
    double *U = xmalloc((size_t)K * K * sizeof(double));
    double damp = o->damp > 0 ? o->damp : 0.01;
    int ok = 0;
    for (int attempt = 0; attempt < 6 && !ok; attempt++, damp *= 10) {
#pragma omp parallel for schedule(static) if (K > 256)
        for (int64_t i = 0; i < K; i++) { /* the permuted H, dead inputs on 1, dampened */
            int64_t c = perm[i];
            for (int64_t j = 0; j < K; j++) U[i * K + j] = Hs->H[c * K + perm[j]];
            if (Hs->H[c * K + c] == 0.0) U[i * K + i] = 1.0;
            U[i * K + i] += damp * mean_diag;
        }
        ok = inverse_cholesky_upper(U, (int)K) == 0;
    }
    if (!ok) {
        free(U);
        free(perm);
        return qerr_set(err, "GPTQ: the dampened Hessian (%lldx%lld) is not positive definite", (long long)K, (long long)K);
    }
    f->perm = perm;
    f->U = U;
    return 0;
}

void gptq_factor_free(GptqFactor *f) {
    free(f->perm);
    free(f->U);
    memset(f, 0, sizeof *f);
}

int gptq_quantize_factored(float *W, int64_t N, int64_t K, const GptqHessian *Hs, const GptqFactor *f, const GptqOpts *o,
                           QParams *p, int8_t *q, QErr *err) {
    memset(p, 0, sizeof *p);
    if (Hs->K != K || f->K != K)
        return qerr_set(err, "GPTQ: Hessian is %lldx%lld, weights have %lld inputs", (long long)Hs->K, (long long)Hs->K,
                        (long long)K);
    if (f->act_order != o->act_order) return qerr_set(err, "internal: GPTQ factor made for another column order");
    if (qparams_init(p, o->bits, o->symmetric, o->gran == QGRAN_TENSOR ? QGRAN_CHANNEL : o->gran, o->group_size, N, K, err))
        return -1;
    p->scale_f16 = o->scale_f16;
    p->sym_full = o->sym_full;
    if (o->narrow && o->symmetric && !o->sym_full) p->qmin = -p->qmax;
    if (o->merge_tail) qparams_merge_tail(p);
    gptq_sweep(W, N, K, Hs, f->U, f->perm, o, p, q);
    return 0;
}

int gptq_quantize(float *W, int64_t N, int64_t K, const GptqHessian *Hs, const GptqOpts *o, QParams *p, int8_t *q,
                  QErr *err) {
    if (Hs->K != K) return qerr_set(err, "GPTQ: Hessian is %lldx%lld, weights have %lld inputs", (long long)Hs->K,
                                    (long long)Hs->K, (long long)K);
    memset(p, 0, sizeof *p); /* freeable whatever fails */
    GptqFactor f;
    if (gptq_factor(Hs, o, &f, err)) return -1;
    int rc = gptq_quantize_factored(W, N, K, Hs, &f, o, p, q, err);
    gptq_factor_free(&f);
    return rc;
}

/* out [K, N] += alpha X^T Y for X [rows, K], Y [rows, N] in float, accumulated in double
 * a chunk of rows at a time (the products of many rows lose too much in float) */
static void xty_add(int64_t K, int64_t N, const float *X, const float *Y, int64_t rows, double alpha, double *out) {
    const int64_t CH = 2048;
    double *x = xmalloc((size_t)CH * K * sizeof(double)), *y = xmalloc((size_t)CH * N * sizeof(double));
    for (int64_t r0 = 0; r0 < rows; r0 += CH) {
        int64_t m = rows - r0 < CH ? rows - r0 : CH;
        for (int64_t i = 0; i < m * K; i++) x[i] = X[r0 * K + i];
        for (int64_t i = 0; i < m * N; i++) y[i] = Y[r0 * N + i];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)N, (int)m, alpha, x, (int)K, y, (int)N, 1.0, out,
                    (int)N);
    }
    free(x);
    free(y);
}

void gptq_refit_stats(GptqRefitStats *st, const GptqHessian *H, const float *Xf, const float *Xq, int64_t rows) {
    const int64_t K = H->K;
    st->K = K;
    st->rows = rows;
    /* A = Xq^T Xq / rows is half of GPTQ's H = 2 Xq^T Xq / rows, already accumulated */
    st->A = xmalloc((size_t)K * K * sizeof(double));
    for (int64_t i = 0; i < K * K; i++) st->A[i] = 0.5 * H->H[i];
    st->C = xcalloc((size_t)K * K, sizeof(double));
    xty_add(K, K, Xq, Xf, rows, 1.0 / (double)(rows > 0 ? rows : 1), st->C);
}

void gptq_refit_stats_free(GptqRefitStats *st) {
    free(st->A);
    free(st->C);
    memset(st, 0, sizeof *st);
}

int gptq_refit(float *W, int64_t N, int64_t K, const GptqRefitStats *st, const float *Xq, const float *Yadd, double ridge,
               QErr *err) {
    if (st->K != K || st->rows < 1) return qerr_set(err, "refit: statistics for %lld inputs, weights have %lld", (long long)st->K, (long long)K);
    const int64_t rows = st->rows;
    /* B = Xq^T (Xf W^T + Yadd) / rows = C W^T + Xq^T Yadd / rows */
    double *A = xmalloc((size_t)K * K * sizeof(double)), *B = xmalloc((size_t)K * N * sizeof(double));
    double *Wd = xmalloc((size_t)N * K * sizeof(double));
    for (int64_t i = 0; i < N * K; i++) Wd[i] = W[i];
    memcpy(A, st->A, (size_t)K * K * sizeof(double));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)K, (int)N, (int)K, 1.0, st->C, (int)K, Wd, (int)K, 0.0, B, (int)N);
    if (Yadd) xty_add(K, N, Xq, Yadd, rows, 1.0 / (double)rows, B);
    double mean_diag = 0;
    for (int64_t i = 0; i < K; i++) mean_diag += A[i * K + i];
    mean_diag /= (double)K;
    double lam = ridge * (mean_diag > 0 ? mean_diag : 1.0);
    /* (A + lam I) W'^T = B + lam W^T: the ridge pulls toward W, so identical inputs give W back */
    for (int64_t i = 0; i < K; i++) {
        A[i * K + i] += lam;
        for (int64_t n = 0; n < N; n++) B[i * N + n] += lam * Wd[n * K + i];
    }
    int rc = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (int)K, (int)N, A, (int)K, B, (int)N);
    if (rc == 0)
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < K; i++) W[n * K + i] = (float)B[i * N + n];
    free(A);
    free(B);
    free(Wd);
    if (rc != 0) return qerr_set(err, "refit: the %lldx%lld input covariance is not positive definite", (long long)K, (long long)K);
    return 0;
}

int gptq_refit_to_inputs(float *W, int64_t N, int64_t K, const float *Xf, const float *Xq, const float *Yadd, int64_t rows,
                         double ridge, QErr *err) {
    if (rows < 1) return qerr_set(err, "refit: no calibration rows");
    GptqHessian h;
    gptq_hessian_init(&h, K);
    gptq_hessian_add(&h, Xq, rows);
    GptqRefitStats st;
    gptq_refit_stats(&st, &h, Xf, Xq, rows);
    int rc = gptq_refit(W, N, K, &st, Xq, Yadd, ridge, err);
    gptq_refit_stats_free(&st);
    gptq_hessian_free(&h);
    return rc;
}
