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

static int run_reference(int bits, int group, int act_order, int sym, int merge, float *deq, int8_t *codes) {
    char wp[512], xp[512], dp[512], qp[512], cmd[4096];
    const char *t = test_tmpdir();
    snprintf(wp, sizeof wp, "%s/W.bin", t);
    snprintf(xp, sizeof xp, "%s/X.bin", t);
    snprintf(dp, sizeof dp, "%s/D.bin", t);
    snprintf(qp, sizeof qp, "%s/Q.bin", t);
    write_raw(wp, W0, sizeof W0);
    write_raw(xp, X, sizeof X);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/reference/gptq_ref.py %s %s %d %d %d %d %d %d %d %s %s %d", wp, xp, N,
             K, NS, bits, group, act_order, sym, dp, qp, merge);
    if (system(cmd) != 0) return -1;
    FILE *f = fopen(dp, "rb"), *g = fopen(qp, "rb");
    int ok = f && g && fread(deq, 4, N * K, f) == N * K && fread(codes, 1, N * K, g) == N * K;
    if (f) fclose(f);
    if (g) fclose(g);
    return ok ? 0 : -1;
}

static void compare_m(int bits, int group, int act_order, int sym, int block, int merge) {
    GptqHessian h;
    gptq_hessian_init(&h, K);
    gptq_hessian_add(&h, X, NS / 2); /* in two parts: the running mean must equal one pass */
    gptq_hessian_add(&h, X + (NS / 2) * K, NS - NS / 2);
    GptqOpts o;
    gptq_opts_default(&o);
    o.bits = bits;
    o.symmetric = sym != 0;
    o.sym_full = sym == 2;
    o.gran = group ? QGRAN_GROUP : QGRAN_CHANNEL;
    o.group_size = group;
    o.act_order = act_order;
    o.block_size = block; /* 16: several lazy batches over 70 columns; 128: one */
    o.merge_tail = merge;
    float W[N * K], ref[N * K];
    int8_t q[N * K], rq[N * K];
    memcpy(W, W0, sizeof W);
    QParams p;
    QErr e;
    CHECK(gptq_quantize(W, N, K, &h, &o, &p, q, &e) == 0);
    if (merge && group) CHECK_MSG(p.n == N * (K / group), "merged tail: %lld scales, expected %d", (long long)p.n, N * (K / group));
    if (run_reference(bits, group, act_order, sym, merge, ref, rq)) {
        fprintf(stderr, "  (numpy reference failed to run)\n");
        test_cur_failed_++;
        return;
    }
    /* A code that differs at a rounding tie changes the error pushed onto the rest of that
     * row, so compare values row by row: rows whose codes all agree must agree to 1e-4. */
    int same = 0, rows_same = 0;
    double maxd = 0;
    for (int n = 0; n < N; n++) {
        int row_same = 1;
        for (int k = 0; k < K; k++) {
            same += q[n * K + k] == rq[n * K + k];
            row_same &= q[n * K + k] == rq[n * K + k];
        }
        rows_same += row_same;
        if (row_same)
            for (int k = 0; k < K; k++) maxd = fmax(maxd, fabs(W[n * K + k] - ref[n * K + k]));
    }
    double e_ours = out_err(W0, W), e_ref = out_err(W0, ref);
    CHECK_MSG(same >= N * K * 99 / 100, "bits %d group %d act_order %d sym %d: %d of %d codes equal", bits, group,
              act_order, sym, same, N * K);
    CHECK_MSG(rows_same >= N * 3 / 4, "only %d of %d rows have every code equal to numpy's", rows_same, N);
    CHECK_MSG(maxd < 1e-4, "max |ours - numpy| over identical rows = %g", maxd);
    CHECK_MSG(fabs(e_ours - e_ref) <= 0.01 * e_ref, "output error %g vs numpy %g", e_ours, e_ref);
    /* the returned codes and scales reproduce the returned weights exactly */
    float deq[N * K];
    dequantize(&p, q, deq);
    int exact = 1;
    for (int i = 0; i < N * K; i++) exact &= deq[i] == W[i];
    CHECK_MSG(exact, "dequantize(codes, scales) differs from the returned weights");
    for (int n = 0; n < N; n++) CHECK_MSG(W[n * K + 5] == 0.0f, "dead input 5, row %d: weight %g", n, W[n * K + 5]);
    /* GPTQ beats round-to-nearest on the layer output */
    QParams pr;
    qparams_init(&pr, bits, sym != 0, o.gran, group, N, K, &e);
    pr.sym_full = sym == 2;
    if (merge) qparams_merge_tail(&pr);
    float rtn[N * K];
    qparams_fit_minmax(&pr, W0);
    fake_quantize(&pr, W0, rtn);
    CHECK_MSG(e_ours < out_err(W0, rtn), "gptq %g not below rtn %g", e_ours, out_err(W0, rtn));
    qparams_free(&pr);
    qparams_free(&p);
    gptq_hessian_free(&h);
}

static void compare(int bits, int group, int act_order, int sym, int block) { compare_m(bits, group, act_order, sym, block, 0); }

TEST(gptq_matches_numpy_per_channel) { compare(4, 0, 0, 0, 16); }
TEST(gptq_matches_numpy_per_channel_one_batch) { compare(4, 0, 0, 0, 128); }
TEST(gptq_matches_numpy_symmetric) { compare(4, 0, 0, 1, 16); }
TEST(gptq_matches_numpy_groups_ragged) { compare(3, 32, 0, 0, 16); } /* 70 = 32 + 32 + 6 */
TEST(gptq_matches_numpy_groups_sym) { compare(4, 32, 0, 1, 128); }
TEST(gptq_matches_numpy_groups_sym_full) { compare(4, 32, 0, 2, 16); } /* the LLM files' grid */
TEST(gptq_matches_numpy_sym_full_2bit_g16) { compare(2, 16, 0, 2, 16); }
TEST(gptq_matches_numpy_merged_tail) { compare_m(4, 32, 0, 2, 16, 1); }          /* 70 = 32 + 38 */
TEST(gptq_matches_numpy_merged_tail_act_order) { compare_m(3, 16, 1, 1, 128, 1); } /* 70 = 16 * 3 + 22 */
TEST(gptq_matches_numpy_act_order) { compare(4, 0, 1, 0, 16); }
TEST(gptq_matches_numpy_act_order_groups) { compare(2, 16, 1, 0, 16); }
TEST(gptq_matches_numpy_act_order_groups32) { compare(4, 32, 1, 1, 128); }

/* Strongly correlated inputs (rank 12 plus a little noise): GPTQ's compensation moves the
 * rounding error into directions the inputs never excite, so the layer-output error falls
 * far below round-to-nearest's (numpy on the same construction: 0.028 vs 0.092). */
TEST(gptq_beats_rtn_on_low_rank_inputs) {
    static float Xl[NS * K];
    QRng r;
    qrng_seed(&r, 5);
    float B[12 * K], Zs[12];
    for (int i = 0; i < 12 * K; i++) B[i] = qrng_normal(&r);
    for (int s = 0; s < NS; s++) {
        for (int j = 0; j < 12; j++) Zs[j] = qrng_normal(&r);
        for (int k = 0; k < K; k++) {
            double v = 0;
            for (int j = 0; j < 12; j++) v += (double)Zs[j] * B[j * K + k];
            Xl[s * K + k] = (float)v + 0.05f * qrng_normal(&r);
        }
    }
    GptqHessian h;
    gptq_hessian_init(&h, K);
    gptq_hessian_add(&h, Xl, NS);
    GptqOpts o;
    gptq_opts_default(&o);
    o.bits = 4;
    float W[N * K], rtn[N * K];
    int8_t q[N * K];
    memcpy(W, W0, sizeof W);
    QParams p, pr;
    QErr e;
    CHECK(gptq_quantize(W, N, K, &h, &o, &p, q, &e) == 0);
    qparams_init(&pr, 4, 0, QGRAN_CHANNEL, 0, N, K, &e);
    qparams_fit_minmax(&pr, W0);
    fake_quantize(&pr, W0, rtn);
    double eg = 0, er = 0, den = 0;
    for (int n = 0; n < N; n++)
        for (int s = 0; s < NS; s++) {
            double a = 0, b = 0, c = 0;
            for (int k = 0; k < K; k++) {
                a += (double)W0[n * K + k] * Xl[s * K + k];
                b += (double)W[n * K + k] * Xl[s * K + k];
                c += (double)rtn[n * K + k] * Xl[s * K + k];
            }
            eg += (a - b) * (a - b);
            er += (a - c) * (a - c);
            den += a * a;
        }
    eg = sqrt(eg / den);
    er = sqrt(er / den);
    CHECK_MSG(eg < 0.5 * er, "gptq %g vs rtn %g", eg, er);
    qparams_free(&p);
    qparams_free(&pr);
    gptq_hessian_free(&h);
}

/* The scheme the LLM files use: full-range symmetric grid, float16 scales, MSE clipping.
 * The returned codes and (f16-exact) scales must reproduce the returned weights bit for bit,
 * and the layer output must still beat round-to-nearest with the same grid. */
TEST(gptq_file_scheme_consistent) {
    static const int gs[] = {0, 32, 16};
    for (int gi = 0; gi < 3; gi++)
        for (int mse = 0; mse < 2; mse++) {
            GptqHessian h;
            gptq_hessian_init(&h, K);
            gptq_hessian_add(&h, X, NS);
            GptqOpts o;
            gptq_opts_default(&o);
            o.bits = gs[gi] == 16 ? 2 : 4;
            o.symmetric = 1;
            o.sym_full = 1;
            o.scale_f16 = 1;
            o.mse_clip = mse;
            o.gran = gs[gi] ? QGRAN_GROUP : QGRAN_CHANNEL;
            o.group_size = gs[gi];
            o.block_size = 16;
            float W[N * K], deq[N * K], rtn[N * K];
            int8_t q[N * K];
            memcpy(W, W0, sizeof W);
            QParams p, pr;
            QErr e;
            CHECK(gptq_quantize(W, N, K, &h, &o, &p, q, &e) == 0);
            dequantize(&p, q, deq);
            int exact = 1, f16 = 1;
            for (int i = 0; i < N * K; i++) exact &= deq[i] == W[i];
            for (int64_t k = 0; k < p.n; k++) f16 &= qf16_to_f32(qf32_to_f16(p.scale[k])) == p.scale[k] && p.zero[k] == 0;
            CHECK_MSG(exact, "group %d mse %d: codes and scales do not reproduce the weights", gs[gi], mse);
            CHECK_MSG(f16, "group %d mse %d: a scale is not a float16 value or a zero is not 0", gs[gi], mse);
            qparams_init(&pr, o.bits, 1, o.gran, o.group_size, N, K, &e);
            pr.sym_full = 1;
            pr.scale_f16 = 1;
            qparams_fit_minmax(&pr, W0);
            fake_quantize(&pr, W0, rtn);
            CHECK_MSG(out_err(W0, W) < out_err(W0, rtn), "group %d mse %d: gptq %g not below rtn %g", gs[gi], mse,
                      out_err(W0, W), out_err(W0, rtn));
            qparams_free(&p);
            qparams_free(&pr);
            gptq_hessian_free(&h);
        }
}

/* H = 0 (every input dead): every weight becomes 0, and the solver still succeeds */
TEST(gptq_all_dead) {
    GptqHessian h;
    gptq_hessian_init(&h, K);
    float Z[4 * K];
    memset(Z, 0, sizeof Z);
    gptq_hessian_add(&h, Z, 4);
    GptqOpts o;
    gptq_opts_default(&o);
    o.gran = QGRAN_GROUP;
    o.group_size = 32;
    float W[N * K];
    int8_t q[N * K];
    memcpy(W, W0, sizeof W);
    QParams p;
    QErr e;
    CHECK(gptq_quantize(W, N, K, &h, &o, &p, q, &e) == 0);
    int zeros = 0;
    for (int i = 0; i < N * K; i++) zeros += W[i] == 0.0f;
    CHECK_MSG(zeros == N * K, "%d of %d weights are 0", zeros, N * K);
    qparams_free(&p);
    gptq_hessian_free(&h);
}

TEST(gptq_rejects_bad_input) {
    GptqHessian h;
    gptq_hessian_init(&h, K - 1);
    GptqOpts o;
    gptq_opts_default(&o);
    float W[N * K];
    int8_t q[N * K];
    memcpy(W, W0, sizeof W);
    QParams p;
    QErr e;
    CHECK(gptq_quantize(W, N, K, &h, &o, &p, q, &e) == -1);
    CHECK(strstr(e.msg, "Hessian") != NULL);
    gptq_hessian_free(&h);
    /* a Hessian with a NaN cannot be factorised: an error, not garbage weights */
    gptq_hessian_init(&h, K);
    gptq_hessian_add(&h, X, NS);
    h.H[3 * K + 4] = h.H[4 * K + 3] = NAN;
    CHECK(gptq_quantize(W, N, K, &h, &o, &p, q, &e) == -1);
    CHECK(strstr(e.msg, "positive definite") != NULL);
    gptq_hessian_free(&h);
    o.bits = 9;
    gptq_hessian_init(&h, K);
    gptq_hessian_add(&h, X, NS);
    CHECK(gptq_quantize(W, N, K, &h, &o, &p, q, &e) == -1);
    gptq_hessian_free(&h);
}

/* H is summed in fp32 a chunk of rows at a time (at most 2048 products per sum) and kept in
 * double: each entry is within the fp32 bound n * eps * sum |x_si x_sj| of the exact sum. */
TEST(hessian_running_mean) {
    GptqHessian a, b;
    gptq_hessian_init(&a, K);
    gptq_hessian_init(&b, K);
    gptq_hessian_add(&a, X, NS);
    for (int s = 0; s < NS; s += 50) gptq_hessian_add(&b, X + s * K, 50);
    int bad = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double exact = 0, mag = 0;
            for (int s = 0; s < NS; s++) {
                exact += 2.0 * X[s * K + i] * X[s * K + j] / NS;
                mag += 2.0 * fabs((double)X[s * K + i] * X[s * K + j]) / NS;
            }
            double tol = NS * 6e-8 * mag + 1e-12;
            bad += fabs(a.H[i * K + j] - exact) > tol || fabs(b.H[i * K + j] - exact) > tol;
            bad += a.H[i * K + j] != a.H[j * K + i]; /* symmetric exactly */
        }
    CHECK(bad == 0);
    gptq_hessian_free(&a);
    gptq_hessian_free(&b);
}

/* Past one chunk of rows (2048) and one band of columns (256): 2100 rows of width 300, with
 * a mean so entries are far from zero, checked entry by entry against a double sum. */
TEST(hessian_chunks_and_bands) {
    enum { KB = 300, RB = 2100 };
    float *Xb = malloc((size_t)RB * KB * sizeof(float));
    QRng r;
    qrng_seed(&r, 3);
    for (int i = 0; i < RB * KB; i++) Xb[i] = qrng_normal(&r) + 0.5f;
    GptqHessian h;
    gptq_hessian_init(&h, KB);
    gptq_hessian_add(&h, Xb, RB);
    int bad = 0;
    for (int i = 0; i < KB; i += 7)
        for (int j = 0; j < KB; j += 5) {
            double exact = 0, mag = 0;
            for (int s = 0; s < RB; s++) {
                exact += 2.0 * Xb[s * KB + i] * Xb[s * KB + j] / RB;
                mag += 2.0 * fabs((double)Xb[s * KB + i] * Xb[s * KB + j]) / RB;
            }
            bad += fabs(h.H[i * KB + j] - exact) > 2048 * 6e-8 * mag;
        }
    CHECK(bad == 0);
    CHECK(h.nsamples == RB);
    gptq_hessian_free(&h);
    free(Xb);
}

/* gptq_refit_to_inputs against numpy's least squares on the stacked problem, with and without
 * an added target; identical inputs and no added target give W back. */
TEST(refit_matches_numpy_lstsq) {
    enum { NR = 400 };
    static float Xq[NR * K], Yadd[NR * N];
    QRng r;
    qrng_seed(&r, 5);
    for (int i = 0; i < NR * K; i++) Xq[i] = X[i] + 0.3f * qrng_normal(&r); /* the "quantized model's" inputs */
    for (int i = 0; i < NR * N; i++) Yadd[i] = 0.05f * qrng_normal(&r);
    const char *t = test_tmpdir();
    char wp[512], fp[512], qp[512], yp[512], op[512], cmd[4096];
    snprintf(wp, sizeof wp, "%s/RW.bin", t);
    snprintf(fp, sizeof fp, "%s/RXf.bin", t);
    snprintf(qp, sizeof qp, "%s/RXq.bin", t);
    snprintf(yp, sizeof yp, "%s/RY.bin", t);
    snprintf(op, sizeof op, "%s/RO.bin", t);
    write_raw(wp, W0, sizeof W0);
    write_raw(fp, X, sizeof X);
    write_raw(qp, Xq, sizeof Xq);
    write_raw(yp, Yadd, sizeof Yadd);
    for (int with_y = 0; with_y < 2; with_y++) {
        float W[N * K], ref[N * K];
        memcpy(W, W0, sizeof W);
        QErr e;
        CHECK(gptq_refit_to_inputs(W, N, K, X, Xq, with_y ? Yadd : NULL, NR, 0.01, &e) == 0);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/reference/refit_ref.py %s %s %s %s %d %d %d 0.01 %s", wp, fp, qp,
                 with_y ? yp : "-", N, K, NR, op);
        FILE *f = system(cmd) == 0 ? fopen(op, "rb") : NULL;
        int ok = f && fread(ref, 4, N * K, f) == N * K;
        if (f) fclose(f);
        CHECK_MSG(ok, "numpy reference failed to run");
        double md = 0, mw = 0, moved = 0;
        for (int i = 0; i < N * K; i++) {
            md = fmax(md, fabs((double)W[i] - ref[i]));
            mw = fmax(mw, fabs((double)ref[i]));
            moved = fmax(moved, fabs((double)ref[i] - W0[i]));
        }
        CHECK_MSG(md < 1e-4 * mw, "with_y %d: max |ours - numpy| %g (max |w| %g)", with_y, md, mw);
        CHECK_MSG(moved > 0.01, "with_y %d: the refit barely moved the weights (%g): a weak test", with_y, moved);
    }
    float W[N * K];
    memcpy(W, W0, sizeof W);
    QErr e;
    CHECK(gptq_refit_to_inputs(W, N, K, X, X, NULL, NS, 0.01, &e) == 0);
    double md = 0;
    for (int i = 0; i < N * K; i++) md = fmax(md, fabs((double)W[i] - W0[i]));
    CHECK_MSG(md < 1e-5, "identical inputs moved the weights by %g", md);
}

int main(void) {
    make_data();
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("test_gptq: 0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    RUN(gptq_matches_numpy_per_channel);
    RUN(gptq_matches_numpy_per_channel_one_batch);
    RUN(gptq_matches_numpy_symmetric);
    RUN(gptq_matches_numpy_groups_ragged);
    RUN(gptq_matches_numpy_groups_sym);
    RUN(gptq_matches_numpy_groups_sym_full);
    RUN(gptq_matches_numpy_sym_full_2bit_g16);
    RUN(gptq_matches_numpy_merged_tail);
    RUN(gptq_matches_numpy_merged_tail_act_order);
    RUN(gptq_matches_numpy_act_order);
    RUN(gptq_matches_numpy_act_order_groups);
    RUN(gptq_matches_numpy_act_order_groups32);
    RUN(gptq_beats_rtn_on_low_rank_inputs);
    RUN(gptq_file_scheme_consistent);
    RUN(gptq_all_dead);
    RUN(gptq_rejects_bad_input);
    RUN(hessian_running_mean);
    RUN(hessian_chunks_and_bands);
    RUN(refit_matches_numpy_lstsq);
    return test_summary("test_gptq");
}
