/* test_gptq.c — GPTQ against an independent numpy implementation of the paper's
 * Algorithm 1 (tests/reference/gptq_ref.py), and against its defining property: a lower
 * layer-output error than round-to-nearest on correlated inputs. */
#include <unistd.h>

#include "quant/gptq.h"
#include "quant/qerror.h"
#include "test.h"

enum { N = 24, K = 70, NS = 400 };

static float W0[N * K], X[NS * K];

static void make_data(void) {
    QRng r;
    qrng_seed(&r, 11);
    float A[K * K];
    for (int i = 0; i < K * K; i++) A[i] = qrng_normal(&r) * (i % (K + 1) == 0 ? 1.0f : 0.3f);
    for (int s = 0; s < NS; s++)
        for (int k = 0; k < K; k++) {
            double v = 0;
            for (int j = 0; j < K; j++) v += (double)qrng_normal(&r) * A[j * K + k] * (j < 8 ? 3.0 : 1.0);
            X[s * K + k] = (float)v;
        }
    for (int i = 0; i < N * K; i++) W0[i] = qrng_normal(&r) * 0.2f;
    for (int s = 0; s < NS; s++) X[s * K + 5] = 0.0f; /* a dead input */
}

/* ||W X^T - V X^T||_F / ||W X^T||_F */
static double out_err(const float *W, const float *V) {
    double num = 0, den = 0;
    for (int n = 0; n < N; n++)
        for (int s = 0; s < NS; s++) {
            double a = 0, b = 0;
            for (int k = 0; k < K; k++) {
                a += (double)W[n * K + k] * X[s * K + k];
                b += (double)V[n * K + k] * X[s * K + k];
            }
            num += (a - b) * (a - b);
            den += a * a;
        }
    return sqrt(num / den);
}

static void write_raw(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

static int run_reference(int bits, int group, int act_order, float *deq, int8_t *codes) {
    char wp[512], xp[512], dp[512], qp[512], cmd[4096];
    const char *t = test_tmpdir();
    snprintf(wp, sizeof wp, "%s/W.bin", t);
    snprintf(xp, sizeof xp, "%s/X.bin", t);
    snprintf(dp, sizeof dp, "%s/D.bin", t);
    snprintf(qp, sizeof qp, "%s/Q.bin", t);
    write_raw(wp, W0, sizeof W0);
    write_raw(xp, X, sizeof X);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/reference/gptq_ref.py %s %s %d %d %d %d %d %d %s %s", wp, xp, N, K, NS,
             bits, group, act_order, dp, qp);
    if (system(cmd) != 0) return -1;
    FILE *f = fopen(dp, "rb"), *g = fopen(qp, "rb");
    int ok = f && g && fread(deq, 4, N * K, f) == N * K && fread(codes, 1, N * K, g) == N * K;
    if (f) fclose(f);
    if (g) fclose(g);
    return ok ? 0 : -1;
}

static void compare(int bits, int group, int act_order) {
    GptqHessian h;
    gptq_hessian_init(&h, K);
    gptq_hessian_add(&h, X, NS / 2); /* in two parts: the running mean must equal one pass */
    gptq_hessian_add(&h, X + (NS / 2) * K, NS - NS / 2);
    GptqOpts o;
    gptq_opts_default(&o);
    o.bits = bits;
    o.symmetric = 0;
    o.gran = group ? QGRAN_GROUP : QGRAN_CHANNEL;
    o.group_size = group;
    o.act_order = act_order;
    o.block_size = 16; /* several lazy batches over 70 columns */
    float W[N * K], ref[N * K];
    int8_t q[N * K], rq[N * K];
    memcpy(W, W0, sizeof W);
    QParams p;
    QErr e;
    CHECK(gptq_quantize(W, N, K, &h, &o, &p, q, &e) == 0);
    if (run_reference(bits, group, act_order, ref, rq)) {
        fprintf(stderr, "  (numpy reference failed to run)\n");
        test_cur_failed_++;
        return;
    }
    int same = 0;
    double maxd = 0;
    for (int i = 0; i < N * K; i++) {
        same += q[i] == rq[i];
        maxd = fmax(maxd, fabs(W[i] - ref[i]));
    }
    double e_ours = out_err(W0, W), e_ref = out_err(W0, ref);
    CHECK_MSG(same >= N * K * 99 / 100, "bits %d group %d act_order %d: %d of %d codes equal", bits, group, act_order, same,
              N * K);
    CHECK_MSG(fabs(e_ours - e_ref) <= 0.01 * e_ref, "output error %g vs numpy %g", e_ours, e_ref);
    if (same == N * K) CHECK_MSG(maxd < 1e-4, "max |ours - numpy| = %g", maxd);
    for (int n = 0; n < N; n++) CHECK(W[n * K + 5] == 0.0f || q[n * K + 5] == p.zero[qparams_index(&p, n, 5)]);
    /* GPTQ beats round-to-nearest on the layer output */
    QParams pr;
    qparams_init(&pr, bits, 0, o.gran, group, N, K, &e);
    float rtn[N * K];
    qparams_fit_minmax(&pr, W0);
    fake_quantize(&pr, W0, rtn);
    CHECK_MSG(e_ours < out_err(W0, rtn), "gptq %g not below rtn %g", e_ours, out_err(W0, rtn));
    qparams_free(&pr);
    qparams_free(&p);
    gptq_hessian_free(&h);
}

TEST(gptq_matches_numpy_per_channel) { compare(4, 0, 0); }
TEST(gptq_matches_numpy_groups_ragged) { compare(3, 32, 0); } /* 70 = 32 + 32 + 6 */
TEST(gptq_matches_numpy_act_order) { compare(4, 0, 1); }
TEST(gptq_matches_numpy_act_order_groups) { compare(2, 16, 1); }

TEST(hessian_running_mean) {
    GptqHessian a, b;
    gptq_hessian_init(&a, K);
    gptq_hessian_init(&b, K);
    gptq_hessian_add(&a, X, NS);
    for (int s = 0; s < NS; s += 50) gptq_hessian_add(&b, X + s * K, 50);
    double maxd = 0;
    for (int i = 0; i < K * K; i++) maxd = fmax(maxd, fabs(a.H[i] - b.H[i]));
    CHECK(maxd < 1e-9 * (1 + fabs(a.H[0])));
    /* H = 2/n X^T X at one entry */
    double h01 = 0;
    for (int s = 0; s < NS; s++) h01 += 2.0 * X[s * K] * X[s * K + 1] / NS;
    CHECK_NEAR(a.H[1], h01, 1e-9 * fabs(h01) + 1e-12);
    gptq_hessian_free(&a);
    gptq_hessian_free(&b);
}

int main(void) {
    make_data();
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("test_gptq: 0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    RUN(gptq_matches_numpy_per_channel);
    RUN(gptq_matches_numpy_groups_ragged);
    RUN(gptq_matches_numpy_act_order);
    RUN(gptq_matches_numpy_act_order_groups);
    RUN(hessian_running_mean);
    return test_summary("test_gptq");
}
