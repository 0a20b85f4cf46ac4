/* test_quant.c — the quantization core against closed forms: grids, round trips, packing,
 * error metrics, observers on known distributions. */
#include "quant/observer.h"
#include "quant/pack.h"
#include "quant/qerror.h"
#include "quant/qparams.h"
#include "test.h"

/* 8-bit affine grid on [0, 1]: s = 1/255, z = -128; every value's error <= s/2, and 0.5372
 * lands on the nearest of the 256 levels, 137/255. */
TEST(grid_8bit_unit_interval) {
    QParams p;
    QErr e;
    CHECK(qparams_init(&p, 8, 0, QGRAN_TENSOR, 0, 1, 1, &e) == 0);
    qparams_set_range(&p, 0, 0.0f, 1.0f);
    CHECK_NEAR(p.scale[0], 1.0 / 255.0, 1e-9);
    CHECK(p.zero[0] == -128);
    float x = 0.5372f, y;
    int8_t q;
    quantize(&p, &x, &q);
    dequantize(&p, &q, &y);
    CHECK(q - p.zero[0] == 137);  /* round(0.5372 * 255) = round(136.986) */
    CHECK_NEAR(y, 137.0 / 255.0, 1e-6);
    double worst = 0;
    for (int i = 0; i <= 100000; i++) {
        float v = i / 100000.0f, r;
        fake_quantize(&p, &v, &r);
        worst = fmax(worst, fabs(v - r));
        /* nearest level: no other level is closer */
        int k = (int)lround(v * 255.0);
        CHECK(fabs(r - k / 255.0) < 1e-6 || fabs(v - r) <= fabs(v - k / 255.0) + 1e-7);
    }
    CHECK(worst <= p.scale[0] / 2 + 1e-7);
    qparams_free(&p);
}

/* Grid points survive quantize -> dequantize exactly, for every width, scheme and granularity,
 * including a ragged last group (172 columns in groups of 32). */
TEST(grid_points_round_trip) {
    QRng r;
    qrng_seed(&r, 1);
    QGranularity grans[] = {QGRAN_TENSOR, QGRAN_CHANNEL, QGRAN_GROUP};
    for (int bits = 2; bits <= 8; bits++)
        for (int sym = 0; sym <= 1; sym++)
            for (int g = 0; g < 3; g++) {
                int rows = 5, cols = 172;
                QParams p;
                QErr e;
                CHECK(qparams_init(&p, bits, sym, grans[g], 32, rows, cols, &e) == 0);
                float *x = xmalloc(sizeof(float) * rows * cols), *y = xmalloc(sizeof(float) * rows * cols);
                for (int i = 0; i < rows * cols; i++) x[i] = qrng_normal(&r);
                qparams_fit_minmax(&p, x);
                /* put x exactly on its grid, then it must come back unchanged */
                fake_quantize(&p, x, x);
                fake_quantize(&p, x, y);
                int bad = 0;
                for (int i = 0; i < rows * cols; i++) bad += x[i] != y[i];
                CHECK_MSG(bad == 0, "bits %d sym %d gran %d: %d values moved", bits, sym, g, bad);
                if (grans[g] == QGRAN_GROUP) CHECK(p.groups_per_row == 6 && p.n == rows * 6);
                free(x);
                free(y);
                qparams_free(&p);
            }
}

TEST(codes_in_range_and_error_bound) {
    QRng r;
    qrng_seed(&r, 2);
    for (int bits = 2; bits <= 8; bits++) {
        QParams p;
        QErr e;
        qparams_init(&p, bits, 1, QGRAN_CHANNEL, 0, 4, 333, &e);
        float *x = xmalloc(4 * 333 * sizeof(float)), *y = xmalloc(4 * 333 * sizeof(float));
        int8_t *q = xmalloc(4 * 333);
        for (int i = 0; i < 4 * 333; i++) x[i] = 3 * qrng_normal(&r);
        qparams_fit_minmax(&p, x);
        quantize(&p, x, q);
        dequantize(&p, q, y);
        for (int i = 0; i < 4 * 333; i++) {
            CHECK(q[i] >= -(1 << (bits - 1)) && q[i] <= (1 << (bits - 1)) - 1);
            /* inside the range the error is at most half a step */
            CHECK(fabsf(x[i] - y[i]) <= p.scale[i / 333] / 2 + 1e-6f);
        }
        free(x);
        free(y);
        free(q);
        qparams_free(&p);
    }
}

TEST(full_range_symmetric_grid) {
    /* sym_full: the extreme value lands exactly on qmin, all 16 levels used at 4 bits */
    QParams p;
    QErr e;
    qparams_init(&p, 4, 1, QGRAN_TENSOR, 0, 1, 4, &e);
    p.sym_full = 1;
    float x[4] = {-2.0f, 0.5f, 1.0f, 1.75f}, y[4];
    qparams_fit_minmax(&p, x);
    CHECK_NEAR(p.scale[0], 0.25, 1e-7);
    fake_quantize(&p, x, y);
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], x[i], 1e-7);
    float x2[4] = {2.0f, -1.0f, 0.0f, 0.5f};
    qparams_fit_minmax(&p, x2);
    CHECK_NEAR(p.scale[0], -0.25, 1e-7); /* sign follows the extreme */
    fake_quantize(&p, x2, y);
    CHECK_NEAR(y[0], 2.0, 1e-7);
    qparams_free(&p);
}

TEST(pack_round_trip_every_width) {
    QRng r;
    qrng_seed(&r, 3);
    int lens[] = {1, 2, 3, 7, 8, 9, 31, 1001};
    for (int bits = 2; bits <= 8; bits++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            int n = lens[li];
            int8_t *q = xmalloc((size_t)n), *back = xmalloc((size_t)n);
            for (int i = 0; i < n; i++) q[i] = (int8_t)((int)qrng_below(&r, 1u << bits) - (1 << (bits - 1)));
            uint8_t *buf = xmalloc(qpack_bytes(bits, n));
            CHECK(qpack_bytes(bits, n) == (size_t)((n * bits + 7) / 8));
            qpack(bits, q, n, buf);
            /* the stream bit by bit: bit j of code i (offset by 2^(bits-1)) is bit i*bits + j */
            int bad = 0;
            for (int64_t k = 0; k < (int64_t)n * bits; k++) {
                int want = (((int)q[k / bits] + (1 << (bits - 1))) >> (k % bits)) & 1;
                bad += ((buf[k / 8] >> (k % 8)) & 1) != want;
            }
            for (int64_t k = (int64_t)n * bits; k < (int64_t)qpack_bytes(bits, n) * 8; k++) bad += (buf[k / 8] >> (k % 8)) & 1;
            CHECK_MSG(bad == 0, "%d bits, %d codes: %d bits differ from the bit-by-bit layout", bits, n, bad);
            qunpack(bits, buf, n, back);
            CHECK(memcmp(q, back, (size_t)n) == 0);
            free(q);
            free(back);
            free(buf);
        }
    /* layout: 4-bit element 0 in the low nibble */
    int8_t q2[2] = {-8 + 3, -8 + 12};
    uint8_t b;
    qpack(4, q2, 2, &b);
    CHECK(b == 0xC3);
}

TEST(error_metrics_closed_form) {
    float x[4] = {1, 2, 3, 4}, y[4] = {1, 2, 3, 5};
    QErrorStats s = qerror_stats(x, y, 4);
    CHECK_NEAR(s.mse, 0.25, 1e-12);
    CHECK_NEAR(s.max_abs, 1.0, 1e-12);
    CHECK_NEAR(s.sqnr_db, 10 * log10(30.0 / 1.0), 1e-9);
    CHECK_NEAR(s.rel_l2, sqrt(1.0 / 30.0), 1e-9);
}

TEST(percentile_of_uniform) {
    QRng r;
    qrng_seed(&r, 4);
    int n = 200000;
    float *x = xmalloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) x[i] = qrng_uniform(&r) * 10.0f;  /* U(0, 10) */
    QObserverOpts o = {0, 99.0, 2048};
    QObserver *ob = qobserver_new(QOBS_PERCENTILE, &o);
    qobserver_update(ob, x, n / 2);
    qobserver_update(ob, x + n / 2, n / 2);
    float lo, hi;
    qobserver_range(ob, 8, 0, &lo, &hi);
    CHECK_NEAR(hi, 9.9, 0.05);  /* the 99th percentile of U(0, 10) */
    CHECK_NEAR(lo, 0.0, 0.01);
    qobserver_free(ob);
    free(x);
}

TEST(moving_average_closed_form) {
    QObserverOpts o = {0.25, 0, 0};
    QObserver *ob = qobserver_new(QOBS_MOVING_AVG, &o);
    float a[2] = {-1, 1}, b[2] = {-3, 5};
    qobserver_update(ob, a, 2);
    qobserver_update(ob, b, 2);
    float lo, hi;
    qobserver_range(ob, 8, 0, &lo, &hi);
    CHECK_NEAR(lo, 0.75 * -1 + 0.25 * -3, 1e-6);
    CHECK_NEAR(hi, 0.75 * 1 + 0.25 * 5, 1e-6);
    qobserver_free(ob);
}

/* Gaussian with a few huge outliers: MSE clipping gives lower 4-bit error than min-max;
 * entropy calibration picks a narrower range than min-max. */
TEST(mse_and_entropy_beat_minmax_with_outliers) {
    QRng r;
    qrng_seed(&r, 5);
    int n = 100000;
    float *x = xmalloc(sizeof(float) * n), *y = xmalloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) x[i] = qrng_normal(&r);
    x[10] = 40;
    x[20] = -35;
    x[30] = 50;
    double err[2];
    QObserverKind kinds[2] = {QOBS_MINMAX, QOBS_MSE};
    for (int k = 0; k < 2; k++) {
        QObserver *ob = qobserver_new(kinds[k], NULL);
        qobserver_update(ob, x, n);
        float lo, hi;
        qobserver_range(ob, 4, 1, &lo, &hi);
        QParams p;
        QErr e;
        qparams_init(&p, 4, 1, QGRAN_TENSOR, 0, 1, n, &e);
        qparams_set_range(&p, 0, lo, hi);
        fake_quantize(&p, x, y);
        err[k] = qerror_stats(x, y, n).mse;
        qparams_free(&p);
        qobserver_free(ob);
    }
    CHECK_MSG(err[1] < 0.5 * err[0], "mse %g vs minmax %g", err[1], err[0]);
    QObserver *ob = qobserver_new(QOBS_ENTROPY, NULL);
    qobserver_update(ob, x, n);
    float lo, hi;
    qobserver_range(ob, 8, 1, &lo, &hi);
    CHECK(hi < 25 && hi > 2);
    qobserver_free(ob);
    /* the direct search on an array agrees in spirit */
    float clo, chi;
    qclip_mse_search(x, n, 4, 1, &clo, &chi);
    CHECK(chi < 50 && chi > 1);
    free(x);
    free(y);
}

TEST(observer_names) {
    QObserverKind k;
    QErr e;
    CHECK(qobserver_kind_parse("entropy", &k, &e) == 0 && k == QOBS_ENTROPY);
    CHECK(qobserver_kind_parse("bogus", &k, &e) == -1 && strstr(e.msg, "bogus"));
    QParams p;
    CHECK(qparams_init(&p, 9, 1, QGRAN_TENSOR, 0, 1, 1, &e) == -1);
    CHECK(qparams_init(&p, 4, 1, QGRAN_GROUP, 0, 1, 1, &e) == -1);
}

/* a ragged remainder merged into the last group: one scale fewer per row, every element of the
 * 38-column last group on that group's grid (error <= s/2), its extreme exactly representable */
TEST(groups_merged_tail) {
    enum { R = 3, C = 70 };
    float x[R * C], y[R * C];
    QRng r;
    qrng_seed(&r, 3);
    for (int i = 0; i < R * C; i++) x[i] = qrng_normal(&r);
    x[1 * C + 69] = 9.0f; /* row 1's largest value sits in the tail */
    QParams p;
    QErr e;
    CHECK(qparams_init(&p, 4, 1, QGRAN_GROUP, 32, R, C, &e) == 0);
    CHECK(p.groups_per_row == 3 && p.n == 9);
    qparams_merge_tail(&p);
    CHECK(p.groups_per_row == 2 && p.n == 6 && p.merge_tail);
    CHECK(qparams_index(&p, 1, 31) == 2 && qparams_index(&p, 1, 32) == 3 && qparams_index(&p, 1, 69) == 3);
    int64_t c0, c1;
    qparams_unit_cols(&p, 1, &c0, &c1);
    CHECK(c0 == 32 && c1 == 70);
    qparams_fit_minmax(&p, x);
    CHECK_NEAR(p.scale[3], 9.0f / 7.0f, 1e-6); /* symmetric: max |x| of columns 32..69 of row 1 over qmax */
    fake_quantize(&p, x, y);
    for (int i = 0; i < R * C; i++) {
        float s = p.scale[qparams_index(&p, i / C, i % C)];
        CHECK_MSG(fabsf(x[i] - y[i]) <= 0.5f * s + 1e-6f, "element %d: |%g - %g| > s/2 = %g", i, x[i], y[i], 0.5f * s);
    }
    CHECK(y[1 * C + 69] == 9.0f);
    CHECK_NEAR(qparams_bits_per_weight(&p), 4.0 + 16.0 * 6 / (R * C), 1e-12);
    qparams_merge_tail(&p); /* idempotent */
    CHECK(p.n == 6);
    qparams_free(&p);
    QParams q;
    CHECK(qparams_init(&q, 4, 1, QGRAN_GROUP, 32, R, 64, &e) == 0); /* no remainder: unchanged */
    qparams_merge_tail(&q);
    CHECK(q.n == 6 && !q.merge_tail);
    qparams_free(&q);
}

int main(void) {
    RUN(groups_merged_tail);
    RUN(grid_8bit_unit_interval);
    RUN(grid_points_round_trip);
    RUN(codes_in_range_and_error_bound);
    RUN(full_range_symmetric_grid);
    RUN(pack_round_trip_every_width);
    RUN(error_metrics_closed_form);
    RUN(percentile_of_uniform);
    RUN(moving_average_closed_form);
    RUN(mse_and_entropy_beat_minmax_with_outliers);
    RUN(observer_names);
    return test_summary("test_quant");
}
