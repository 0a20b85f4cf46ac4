/* test_qat.c — fake quantization in training: forward equal to the core's quantize ->
 * dequantize, the straight-through estimator's mask, LSQ's step-size gradient against its
 * closed form (and a finite difference of the smooth part), the EMA observer. */
#include "quant/fakequant.h"
#include "test.h"

TEST(fake_quant_forward_equals_core) {
    QRng r;
    qrng_seed(&r, 1);
    QParams p;
    QErr e;
    CHECK(qparams_init(&p, 4, 0, QGRAN_GROUP, 16, 3, 40, &e) == 0);
    float x[120], y1[120], y2[120];
    uint8_t mask[120];
    for (int i = 0; i < 120; i++) x[i] = 2 * qrng_normal(&r);
    qparams_fit_minmax(&p, x);
    for (int i = 0; i < 120; i += 7) x[i] *= 3; /* some values now outside their group's grid */
    fq_forward(&p, x, y1, mask);
    int8_t q[120];
    quantize(&p, x, q);
    dequantize(&p, q, y2);
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    int outside = 0;
    for (int i = 0; i < 120; i++) {
        int k = (int)qparams_index(&p, i / 40, i % 40);
        float lo = p.scale[k] * (p.qmin - p.zero[k]), hi = p.scale[k] * (p.qmax - p.zero[k]);
        CHECK(mask[i] == (x[i] >= lo && x[i] <= hi));
        outside += !mask[i];
    }
    CHECK(outside > 0);
    qparams_free(&p);
}

TEST(ste_is_identity_inside_zero_outside) {
    /* grid over [-1, 1] at 8 bits, affine: values at 0.3 and -0.9 pass, 1.5 and -2 do not */
    QParams p;
    QErr e;
    qparams_init(&p, 8, 0, QGRAN_TENSOR, 0, 1, 4, &e);
    qparams_set_range(&p, 0, -1.0f, 1.0f);
    float x[4] = {0.3f, -0.9f, 1.5f, -2.0f}, y[4], dy[4] = {1.5f, -2.0f, 3.0f, 4.0f}, dx[4];
    uint8_t mask[4];
    fq_forward(&p, x, y, mask);
    fq_ste_backward(mask, dy, dx, 4);
    CHECK(dx[0] == 1.5f && dx[1] == -2.0f && dx[2] == 0.0f && dx[3] == 0.0f);
    qparams_free(&p);
}

TEST(lsq_gradient_closed_form) {
    /* s = 0.5, codes in [-4, 3] (3 bits): x/s = {0.6, -1.3, 2.8, 5.0, -9.0} */
    float x[5] = {0.3f, -0.65f, 1.4f, 2.5f, -4.5f}, y[5], dy[5] = {1, 1, 1, 1, 1}, dx[5];
    lsq_forward(x, y, 5, 0.5f, -4, 3);
    CHECK(y[0] == 0.5f && y[1] == -0.5f && y[2] == 1.5f && y[3] == 1.5f && y[4] == -2.0f);
    double ds = lsq_backward(x, dy, dx, 5, 0.5f, -4, 3);
    /* inside: round(v) - v = 0.4, 0.3, 0.2 ; clipped: qp = 3, qn = -4 ; g = 1/sqrt(5 * 3) */
    double want = (0.4 + 0.3 + 0.2 + 3 - 4) / sqrt(15.0);
    CHECK_NEAR(ds, want, 1e-6);
    CHECK(dx[0] == 1 && dx[1] == 1 && dx[2] == 1 && dx[3] == 0 && dx[4] == 0);
    /* away from rounding jumps, d/ds of sum y equals the unscaled gradient: finite difference */
    double h = 1e-4, yp = 0, ym = 0;
    float t[5];
    lsq_forward(x, t, 5, 0.5f + (float)h, -4, 3);
    for (int i = 0; i < 5; i++) yp += t[i];
    lsq_forward(x, t, 5, 0.5f - (float)h, -4, 3);
    for (int i = 0; i < 5; i++) ym += t[i];
    /* y = s * round(x/s): piecewise d y/d s = round(x/s) (the STE drops the -x/s term's jumps) */
    CHECK_NEAR((yp - ym) / (2 * h), 1 + -1 + 3 + 3 - 4, 1e-2); /* round(0.6), round(-1.3), round(2.8), qp, qn */
}

TEST(ema_observer) {
    FqEma e = {0, 0, 0.5f, 0};
    float a[3] = {-1, 0, 2}, b[2] = {-3, 4};
    fq_ema_update(&e, a, 3);
    CHECK(e.lo == -1 && e.hi == 2);
    fq_ema_update(&e, b, 2);
    CHECK_NEAR(e.lo, -2.0, 1e-7);
    CHECK_NEAR(e.hi, 3.0, 1e-7);
}

int main(void) {
    RUN(fake_quant_forward_equals_core);
    RUN(ste_is_identity_inside_zero_outside);
    RUN(lsq_gradient_closed_form);
    RUN(ema_observer);
    return test_summary("test_qat");
}
