/* test_kernels.c — int8 kernels: every ISA equals a naive loop written here; the
 * requantization equals its closed form; fp32 linear equals a naive loop. */
#include "quant/kernels.h"
#include "quant/core.h"
#include "kernels/kernels_internal.h"
#include "test.h"

#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>

static void fill(QRng *r, int8_t *a, size_t n, int lo, int hi) {
    for (size_t i = 0; i < n; i++) a[i] = (int8_t)(lo + (int)qrng_below(r, (uint32_t)(hi - lo + 1)));
}

static const int shapes[][3] = {{1, 1, 1}, {1, 784, 256}, {3, 5, 7}, {4, 33, 17}, {7, 130, 31}, {256, 784, 10},
                                {5, 256, 128}, {1, 1023, 65}, {9, 4, 16}, {256, 784, 256}, {2, 65, 100}};

TEST(acc_all_isas_equal_naive) {
    QRng r;
    qrng_seed(&r, 1);
    KernIsa best = kern_isa_best();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        int8_t *X = xmalloc((size_t)M * K), *W = xmalloc((size_t)N * K);
        int32_t *bias = xmalloc((size_t)N * 4), *ref = xmalloc((size_t)M * N * 4), *got = xmalloc((size_t)M * N * 4);
        /* extremes included: -128..127 on both sides */
        fill(&r, X, (size_t)M * K, -128, 127);
        fill(&r, W, (size_t)N * K, -128, 127);
        for (int n = 0; n < N; n++) bias[n] = (int32_t)qrng_below(&r, 200001) - 100000;
        int32_t zx = (int32_t)qrng_below(&r, 256) - 128;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                int64_t a = bias[n];
                for (int k = 0; k < K; k++) a += (int64_t)(X[(size_t)m * K + k] - zx) * W[(size_t)n * K + k];
                ref[(size_t)m * N + n] = (int32_t)a;
            }
        for (int isa = 0; isa <= (int)best; isa++) {
            KernS8Weights *pw = kern_s8_weights_pack(W, N, K, (KernIsa)isa);
            kern_qlinear_s8_acc(M, X, zx, pw, bias, got);
            int bad = 0;
            for (int i = 0; i < M * N; i++) bad += got[i] != ref[i];
            CHECK_MSG(bad == 0, "isa %s shape M=%d K=%d N=%d: %d mismatches", kern_isa_name((KernIsa)isa), M, K, N, bad);
            kern_s8_weights_free(pw);
        }
        free(X);
        free(W);
        free(bias);
        free(ref);
        free(got);
    }
    CHECK(best == KERN_ISA_AVX512VNNI || best == KERN_ISA_AVX2 || best == KERN_ISA_SCALAR);
}

TEST(quantize_multiplier_reproduces_real_value) {
    const double ms[] = {1e-6, 0.000123, 0.0039215, 0.25, 0.5, 0.999999, 1.0, 3.7, 1000.5};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        int32_t mult, shift;
        kern_quantize_multiplier(ms[i], &mult, &shift);
        CHECK(mult >= (1 << 30));
        double back = (double)mult * ldexp(1.0, -31 - shift);
        CHECK_NEAR(back / ms[i], 1.0, ldexp(1.0, -30));
    }
}

TEST(requant_matches_closed_form) {
    QRng r;
    qrng_seed(&r, 7);
    for (int t = 0; t < 20000; t++) {
        double m = ldexp(0.5 + 0.5 * qrng_uniform(&r), -(int)qrng_below(&r, 20));
        int32_t mult, shift;
        kern_quantize_multiplier(m, &mult, &shift);
        int32_t acc = (int32_t)(qrng_u32(&r) >> (1 + qrng_below(&r, 24))) * (qrng_below(&r, 2) ? 1 : -1);
        int32_t zy = (int32_t)qrng_below(&r, 256) - 128;
        /* exact rational value acc * mult / 2^(31+shift), rounded half away from zero */
        long double v = (long double)acc * mult / powl(2.0L, 31 + shift);
        long double rv = v >= 0 ? floorl(v + 0.5L) : -floorl(-v + 0.5L);
        long double y = rv + zy;
        if (y < -128) y = -128;
        if (y > 127) y = 127;
        int32_t got = kern_requant_one(acc, mult, shift, zy, -128, 127);
        if (got != (int32_t)y) {
            CHECK_MSG(got == (int32_t)y, "acc %d mult %d shift %d: got %d want %d", acc, mult, shift, got, (int)y);
            break;
        }
    }
    /* ties round away from zero: 3 * 2^30 / 2^31 = 1.5 -> 2, and -1.5 -> -2 */
    CHECK(kern_requant_one(3, 1 << 30, 0, 0, -128, 127) == 2);
    CHECK(kern_requant_one(-3, 1 << 30, 0, 0, -128, 127) == -2);
    CHECK(kern_requant_one(1000, 1 << 30, 0, 5, 5, 127) == 127);  /* clamp high */
    CHECK(kern_requant_one(-1000, 1 << 30, 0, 5, 5, 127) == 5);   /* fused ReLU clamp */
}

/* Closed form of one requantized output, in long double (64-bit mantissa: acc * mult < 2^62
 * is exact), rounded half away from zero, plus zero-point, clamped. */
static int32_t requant_closed(int64_t acc, int32_t mult, int32_t shift, int32_t zy, int32_t lo, int32_t hi) {
    long double v = (long double)acc * mult / powl(2.0L, 31 + shift);
    long double rv = v >= 0 ? floorl(v + 0.5L) : -floorl(-v + 0.5L);
    long double y = rv + zy;
    if (y < lo) y = lo;
    if (y > hi) y = hi;
    return (int32_t)y;
}

/* Requantized int8 output of every ISA equals the closed form on odd shapes (K not a multiple
 * of 4/16/64, N not a multiple of 16, M = 1, large M that takes the threaded path), extreme
 * codes, random zero-points, fused ReLU or not, and multipliers from 2^-40 (outside the fused
 * SIMD epilogue's range: falls back) to 4 (negative shift). */
TEST(qlinear_requant_every_isa_equals_closed_form) {
    QRng r;
    qrng_seed(&r, 3);
    static const int qshapes[][3] = {{1, 1, 1},    {1, 784, 256}, {13, 77, 40},  {256, 784, 256}, {3, 5, 7},
                                     {4, 33, 17},  {7, 130, 31},  {256, 128, 10}, {5, 256, 128},  {1, 1023, 65},
                                     {9, 4, 16},   {6, 63, 48},   {2, 65, 100},  {64, 300, 130}};
    KernIsa best = kern_isa_best();
    for (size_t s = 0; s < sizeof qshapes / sizeof qshapes[0]; s++) {
        for (int variant = 0; variant < 3; variant++) {
            int M = qshapes[s][0], K = qshapes[s][1], N = qshapes[s][2];
            int8_t *X = xmalloc((size_t)M * K), *W = xmalloc((size_t)N * K), *Y = xmalloc((size_t)M * N);
            int32_t *ref = xmalloc((size_t)M * N * 4), *mult = xmalloc((size_t)N * 4), *shift = xmalloc((size_t)N * 4),
                    *bias = xmalloc((size_t)N * 4);
            fill(&r, X, (size_t)M * K, -128, 127);
            fill(&r, W, (size_t)N * K, -128, 127);
            int32_t zx = (int32_t)qrng_below(&r, 256) - 128, zy = (int32_t)qrng_below(&r, 256) - 128;
            int relu = qrng_below(&r, 2);
            for (int n = 0; n < N; n++) {
                /* variant 0: typical (2^-20..1/sqrt(K)-ish), 1: up to 4, 2: some tiny (2^-40) */
                int e = variant == 0 ? 6 + (int)qrng_below(&r, 14) : variant == 1 ? -2 + (int)qrng_below(&r, 12)
                                                                                  : 8 + (int)qrng_below(&r, 33);
                kern_quantize_multiplier(ldexp(0.5 + 0.5 * qrng_uniform(&r), -e), &mult[n], &shift[n]);
                bias[n] = (int32_t)qrng_below(&r, 200001) - 100000;
            }
            KernRequant rq = {mult, shift, zy, relu ? zy : -128, 127};
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    int64_t a = bias[n];
                    for (int k = 0; k < K; k++) a += (int64_t)(X[(size_t)m * K + k] - zx) * W[(size_t)n * K + k];
                    ref[(size_t)m * N + n] = requant_closed(a, mult[n], shift[n], zy, rq.lo, 127);
                }
            for (int isa = 0; isa <= (int)best; isa++) {
                KernS8Weights *pw = kern_s8_weights_pack(W, N, K, (KernIsa)isa);
                memset(Y, 0x55, (size_t)M * N);
                kern_qlinear_s8(M, X, zx, pw, bias, &rq, Y);
                int bad = 0;
                for (int i = 0; i < M * N; i++) bad += Y[i] != ref[i];
                CHECK_MSG(bad == 0, "isa %s M=%d K=%d N=%d variant %d: %d of %d differ",
                          kern_isa_name((KernIsa)isa), M, K, N, variant, bad, M * N);
                kern_s8_weights_free(pw);
            }
            free(X);
            free(W);
            free(Y);
            free(ref);
            free(mult);
            free(shift);
            free(bias);
        }
    }
}

/* Float -> int8 entry quantization on every ISA equals round-half-even(x / s) + z clamped,
 * written here with rintf (default rounding mode), including NaN (-> qmin), infinities,
 * exact ties, and lengths that leave SIMD tails. */
TEST(quantize_f32_s8_every_isa_equals_closed_form) {
    QRng r;
    qrng_seed(&r, 11);
    const int n = 1003;
    float *x = xmalloc((size_t)n * sizeof(float));
    int8_t *y = xmalloc((size_t)n), *ref = xmalloc((size_t)n);
    const float scale = 0.0371f;
    const int32_t zero = -17, qmin = -128, qmax = 127;
    for (int i = 0; i < n; i++) x[i] = qrng_normal(&r) * 3.0f;
    for (int i = 0; i < 40; i++) x[i * 7] = ((float)i - 20.5f) * scale; /* near ties */
    for (int i = 0; i < 16; i++) x[300 + i] = (float)(i - 8) + 0.5f;   /* exact ties at scale 1 below */
    x[1] = NAN;
    x[2] = INFINITY;
    x[3] = -INFINITY;
    x[4] = -0.0f;
    x[5] = 1e30f;
    for (int pass = 0; pass < 2; pass++) {
        float sc = pass ? 1.0f : scale;
        for (int i = 0; i < n; i++) {
            float v = x[i] / sc;
            double q = isnan(v) ? qmin : (double)rintf(v) + zero;
            ref[i] = (int8_t)(q < qmin ? qmin : q > qmax ? qmax : q);
        }
        for (int isa = 0; isa <= (int)kern_isa_best(); isa++) {
            for (int len = n; len >= n - 17; len -= 17) { /* tails of every length mod 16 */
                memset(y, 0x55, (size_t)n);
                kern_quantize_f32_s8(len, x, sc, zero, qmin, qmax, y, (KernIsa)isa);
                int bad = 0;
                for (int i = 0; i < len; i++) bad += y[i] != ref[i];
                for (int i = len; i < n; i++) bad += y[i] != 0x55; /* nothing written past n */
                CHECK_MSG(bad == 0, "isa %s len %d scale %g: %d wrong", kern_isa_name((KernIsa)isa), len, sc, bad);
            }
        }
    }
    CHECK(ref[1] == qmin && ref[2] == qmax && ref[3] == qmin);
    free(x);
    free(y);
    free(ref);
}

TEST(linear_f32_equals_naive) {
    QRng r;
    qrng_seed(&r, 5);
    int dims[][3] = {{1, 50, 30}, {17, 64, 9}};
    for (int s = 0; s < 2; s++) {
        int M = dims[s][0], K = dims[s][1], N = dims[s][2];
        float *X = xmalloc((size_t)M * K * 4), *W = xmalloc((size_t)N * K * 4), *b = xmalloc((size_t)N * 4),
              *Y = xmalloc((size_t)M * N * 4);
        for (int i = 0; i < M * K; i++) X[i] = qrng_normal(&r);
        for (int i = 0; i < N * K; i++) W[i] = qrng_normal(&r);
        for (int i = 0; i < N; i++) b[i] = qrng_normal(&r);
        kern_linear_f32(M, N, K, X, W, b, Y);
        double maxd = 0;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double a = b[n];
                for (int k = 0; k < K; k++) a += (double)X[m * K + k] * W[n * K + k];
                maxd = fmax(maxd, fabs(a - Y[m * N + n]));
            }
        CHECK(maxd < 1e-4);
        free(X);
        free(W);
        free(b);
        free(Y);
    }
}

/* One row against weights (the decode's classifier: kern_linear_f32 with M = 1, over the pool
 * in 256-row tiles, quant's AVX-512 rows or OpenBLAS's sgemv): a double sum, widths with and
 * without a 64-float tail, rows on and off cache lines, with and without bias; 1 and 2
 * threads give the same bits. */
TEST(linear_f32_one_row) {
    QRng r;
    qrng_seed(&r, 11);
    static const int dims[][3] = {/* K, N, float offset of W */ {2048, 700, 0}, {100, 3000, 0}, {2048, 513, 4}, {61, 5000, 1}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int bias = 0; bias < 2; bias++) {
            const int K = dims[d][0], N = dims[d][1], off = dims[d][2];
            float *X = xmalloc64((size_t)K * 4), *Wb = xmalloc64(((size_t)N * K + off) * 4), *W = Wb + off;
            float *b = xmalloc((size_t)N * 4), *Y1 = xmalloc((size_t)N * 4), *Y2 = xmalloc((size_t)N * 4);
            for (int i = 0; i < K; i++) X[i] = qrng_normal(&r);
            for (size_t i = 0; i < (size_t)N * K; i++) W[i] = qrng_normal(&r);
            for (int i = 0; i < N; i++) b[i] = qrng_normal(&r);
            omp_set_num_threads(1);
            kern_linear_f32(1, N, K, X, W, bias ? b : NULL, Y1);
            omp_set_num_threads(2);
            kern_linear_f32(1, N, K, X, W, bias ? b : NULL, Y2);
            int bad = 0;
            for (int n = 0; n < N; n++) {
                double a = bias ? b[n] : 0, mag = fabs(a);
                for (int k = 0; k < K; k++) {
                    a += (double)X[k] * W[(size_t)n * K + k];
                    mag += fabs((double)X[k] * W[(size_t)n * K + k]);
                }
                bad += fabs(a - Y1[n]) > 1e-6 * mag;
            }
            CHECK_MSG(bad == 0, "K %d N %d offset %d bias %d: %d rows off the double sum (%s)", K, N, off, bias, bad,
                      kern_gemm_choice()->why);
            CHECK_MSG(memcmp(Y1, Y2, (size_t)N * 4) == 0, "K %d N %d: 1 and 2 threads differ", K, N);
            free(X);
            free(Wb);
            free(b);
            free(Y1);
            free(Y2);
        }
}

/* Decode attention against a double-precision softmax(q k / sqrt(hs)) v over the cache, GQA
 * included, in both cache layouts: a position's kv heads side by side (row stride >= Hkv hs,
 * head stride hs) and each kv head's rows apart (the model's [Hkv][S][hs], padded here); 1 and
 * 2 threads agree bit for bit. */
TEST(attention_equals_naive) {
    QRng r;
    qrng_seed(&r, 9);
    static const int cfg[][5] = {/* T, pos0, H, Hkv, hs */ {1, 0, 4, 4, 16}, {1, 37, 8, 2, 64}, {3, 5, 6, 3, 24}, {2, 200, 32, 4, 64}, {1, 1, 2, 1, 7},
                                  {2, 50, 4, 2, 128}, {1, 16, 2, 2, 32}};
    for (size_t c = 0; c < 2 * sizeof cfg / sizeof cfg[0]; c++) {
        const int T = cfg[c / 2][0], pos0 = cfg[c / 2][1], H = cfg[c / 2][2], Hkv = cfg[c / 2][3], hs = cfg[c / 2][4], n = pos0 + T;
        const int apart = c % 2, ldq = H * hs + 3, ldkv = apart ? hs + 2 : Hkv * hs + 1, ldo = H * hs + 5;
        const size_t st = apart ? (size_t)(n + 3) * ldkv : (size_t)hs, cells = apart ? Hkv * st : (size_t)n * ldkv;
        float *q = xmalloc((size_t)T * ldq * 4), *k = xmalloc(cells * 4), *v = xmalloc(cells * 4);
        float *sc = xmalloc((size_t)H * n * 4), *o1 = xcalloc((size_t)T * ldo, 4), *o2 = xcalloc((size_t)T * ldo, 4);
        for (int i = 0; i < T * ldq; i++) q[i] = 2 * qrng_normal(&r);
        for (size_t i = 0; i < cells; i++) k[i] = qrng_normal(&r), v[i] = qrng_normal(&r);
        omp_set_num_threads(2);
        kern_attention_f32(T, pos0, H, Hkv, hs, q, ldq, k, v, ldkv, st, sc, o2, ldo);
        omp_set_num_threads(1);
        kern_attention_f32(T, pos0, H, Hkv, hs, q, ldq, k, v, ldkv, st, sc, o1, ldo);
        omp_set_num_threads(2);
        CHECK_MSG(memcmp(o1, o2, (size_t)T * ldo * 4) == 0, "config %zu: 1 and 2 threads differ", c);
        int bad = 0;
        double *a = xmalloc((size_t)n * sizeof(double));
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                const int kvh = h / (H / Hkv), len = pos0 + t + 1;
                double mx = -1e300, sum = 0;
                for (int i = 0; i < len; i++) {
                    double d = 0;
                    for (int e = 0; e < hs; e++) d += (double)q[t * ldq + h * hs + e] * k[i * ldkv + kvh * st + e];
                    a[i] = d / sqrt((double)hs);
                    mx = a[i] > mx ? a[i] : mx;
                }
                for (int i = 0; i < len; i++) sum += (a[i] = exp(a[i] - mx));
                for (int e = 0; e < hs; e++) {
                    double ref = 0, mag = 0;
                    for (int i = 0; i < len; i++) {
                        ref += a[i] / sum * v[i * ldkv + kvh * st + e];
                        mag += fabs(a[i] / sum * v[i * ldkv + kvh * st + e]);
                    }
                    bad += fabs(o1[t * ldo + h * hs + e] - ref) > 1e-5 * (mag + 1);
                }
            }
        CHECK_MSG(bad == 0, "config %zu: %d outputs off the double reference", c, bad);
        free(a);
        free(q);
        free(k);
        free(v);
        free(sc);
        free(o1);
        free(o2);
    }
}

/* SwiGLU and the residual add over the pool: against the closed form in double, and 1 and 2
 * threads bit for bit (sizes below, at and above the pool's threshold, ragged last tile). */
TEST(eltwise_equals_closed_form) {
    QRng r;
    qrng_seed(&r, 10);
    static const size_t ns[] = {1, 1000, 65536, 200003};
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        size_t n = ns[c];
        float *g = xmalloc(n * 4), *u = xmalloc(n * 4), *a1 = xmalloc(n * 4), *a2 = xmalloc(n * 4);
        for (size_t i = 0; i < n; i++) g[i] = 6 * qrng_normal(&r), u[i] = qrng_normal(&r);
        g[0] = -100.0f; /* silu's far tail: -100 e^-100, not NaN */
        memcpy(a1, g, n * 4);
        memcpy(a2, g, n * 4);
        omp_set_num_threads(1);
        kern_swiglu_f32(n, a1, u);
        omp_set_num_threads(2);
        kern_swiglu_f32(n, a2, u);
        CHECK_MSG(memcmp(a1, a2, n * 4) == 0, "swiglu n %zu: 1 and 2 threads differ", n);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            double x = g[i], ref = x / (1 + exp(-x)) * u[i];
            /* e^-x's float argument carries x's rounding: relative error grows by ~|x| 2^-24 */
            bad += !(fabs(a2[i] - ref) <= (1e-6 + 1e-7 * fabs(x)) * fabs(ref) + 1e-30);
        }
        CHECK_MSG(bad == 0, "swiglu n %zu: %d off x / (1 + e^-x) u", n, bad);
        memcpy(a1, g, n * 4);
        kern_add_f32(n, a1, u);
        bad = 0;
        for (size_t i = 0; i < n; i++) bad += a1[i] != g[i] + u[i];
        CHECK_MSG(bad == 0, "add n %zu: %d differ", n, bad);
        free(g);
        free(u);
        free(a1);
        free(a2);
    }
}

/* The pool runs every tile exactly once, past the 65535 units a range counts too, with 1 and
 * 2 threads (a tile run twice or skipped shows in its count). */
static void count_tile(void *arg, int t) { atomic_fetch_add(&((_Atomic int *)arg)[t], 1); }

TEST(pool_runs_every_tile_once) {
    static const int ns[] = {1, 2, 3, 1000, 65535, 65536, 200001};
    for (int th = 1; th <= 2; th++)
        for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
            _Atomic int *cnt = xcalloc((size_t)ns[c], sizeof *cnt);
            omp_set_num_threads(th);
            kern_parallel_tiles(ns[c], count_tile, (void *)cnt, 1);
            int bad = 0;
            for (int t = 0; t < ns[c]; t++) bad += atomic_load(&cnt[t]) != 1;
            CHECK_MSG(bad == 0, "%d tiles, %d threads: %d tiles not run exactly once", ns[c], th, bad);
            free((void *)cnt);
        }
    omp_set_num_threads(2);
}

/* An async job (kernels_internal.h) runs on a worker beside the caller, stops once the caller
 * posts a job (or calls kern_async_stop), and has ended when that job (or the stop) returns
 * (seen failing with the caller's wait for it taken out); the job still runs every tile once.  Posted and waited for, and posted just
 * before a job (it may then never start). */
static _Atomic int async_started, async_finished;
static void async_spin(void *arg, int t) {
    (void)arg;
    (void)t;
    atomic_store(&async_started, 1);
    double t0 = qtime_now();
    while (!kern_async_superseded() && qtime_now() - t0 < 5.0) {
    }
    for (t0 = qtime_now(); qtime_now() - t0 < 2e-4;) { /* a last stretch of work after the job came */
    }
    atomic_store(&async_finished, 1);
}

static void slow_count_tile(void *arg, int t) { /* long enough that the worker joins the job late */
    for (double t0 = qtime_now(); qtime_now() - t0 < 2e-6;) {
    }
    count_tile(arg, t);
}

TEST(pool_async_job) {
    omp_set_num_threads(2);
    _Atomic int *cnt = xcalloc(1000, sizeof *cnt);
    int never = 0;
    for (int rep = 0; rep < 100; rep++) {
        const int wait = rep % 2 == 0;
        atomic_store(&async_started, 0);
        atomic_store(&async_finished, 0);
        char arg[KERN_ASYNC_ARG_MAX] = {0};
        kern_parallel_async(async_spin, arg, sizeof arg);
        if (wait) {
            double t0 = qtime_now();
            while (!atomic_load(&async_started) && qtime_now() - t0 < 5.0) {
            }
            never += !atomic_load(&async_started);
        }
        if (rep % 3 == 2) { /* ended by kern_async_stop instead of a job */
            kern_async_stop();
            CHECK_MSG(!atomic_load(&async_started) || atomic_load(&async_finished), "rep %d: the async job outlived the stop", rep);
            continue;
        }
        for (int t = 0; t < 1000; t++) atomic_store(&cnt[t], 0);
        kern_parallel_tiles(1000, slow_count_tile, (void *)cnt, 1);
        int bad = 0;
        for (int t = 0; t < 1000; t++) bad += atomic_load(&cnt[t]) != 1;
        CHECK_MSG(bad == 0, "rep %d: %d tiles not run exactly once", rep, bad);
        CHECK_MSG(!atomic_load(&async_started) || atomic_load(&async_finished), "rep %d: the async job outlived the next job", rep);
    }
    CHECK_MSG(never == 0, "%d async jobs never started", never);
    free((void *)cnt);
}

int main(void) {
    RUN(acc_all_isas_equal_naive);
    RUN(quantize_multiplier_reproduces_real_value);
    RUN(requant_matches_closed_form);
    RUN(qlinear_requant_every_isa_equals_closed_form);
    RUN(quantize_f32_s8_every_isa_equals_closed_form);
    RUN(linear_f32_equals_naive);
    RUN(linear_f32_one_row);
    RUN(attention_equals_naive);
    RUN(eltwise_equals_closed_form);
    RUN(pool_runs_every_tile_once);
    RUN(pool_async_job);
    return test_summary("test_kernels");
}
