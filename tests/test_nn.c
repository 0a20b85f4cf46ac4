/* test_nn.c — network layers (finite-difference gradients, Adam closed form), the IDX reader
 * on the real Fashion-MNIST files and on corrupted copies, integer-path closed forms, .qnn
 * round trip and corruption, and a short end-to-end training run. */
#include <zlib.h>

#include "quant/kernels.h"
#include "quant/nn_experiment.h"
#include "quant/nn_file.h"
#include "quant/nn_conv.h"
#include "quant/nn_layers.h"
#include "test.h"

static const char *fashion_dir(void) {
    const char *d = getenv("QUANT_FASHION_DIR");
    return d && *d ? d : NN_FASHION_DEFAULT_DIR;
}

/* loss = sum(y * g) for a fixed random g: dloss/dy = g */
TEST(linear_gradients_finite_difference) {
    QRng r;
    qrng_seed(&r, 1);
    int B = 3, K = 5, N = 4;
    float x[15], w[20], b[4], g[12], y[12], dx[15], dw[20] = {0}, db[4] = {0};
    for (int i = 0; i < 15; i++) x[i] = qrng_normal(&r);
    for (int i = 0; i < 20; i++) w[i] = qrng_normal(&r);
    for (int i = 0; i < 4; i++) b[i] = qrng_normal(&r);
    for (int i = 0; i < 12; i++) g[i] = qrng_normal(&r);
    linear_backward(dx, dw, db, g, x, w, B, K, N);
    float *params[3] = {x, w, b}, *grads[3] = {dx, dw, db};
    int sizes[3] = {15, 20, 4};
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < sizes[p]; i++) {
            double h = 1e-2, lp = 0, lm = 0;
            float keep = params[p][i];
            params[p][i] = keep + (float)h;
            linear_forward(y, x, w, b, B, K, N);
            for (int j = 0; j < 12; j++) lp += (double)y[j] * g[j];
            params[p][i] = keep - (float)h;
            linear_forward(y, x, w, b, B, K, N);
            for (int j = 0; j < 12; j++) lm += (double)y[j] * g[j];
            params[p][i] = keep;
            CHECK_NEAR(grads[p][i], (lp - lm) / (2 * h), 2e-3);
        }
}

/* conv2d and max-pool: every gradient against central differences of sum(y * g) */
TEST(conv_and_pool_gradients_finite_difference) {
    QRng r;
    qrng_seed(&r, 9);
    enum { B = 2, C = 2, H = 6, W = 5, OC = 3, K = 3, OH = 4, OW = 3 };
    float x[B * C * H * W], w[OC * C * K * K], b[OC], g[B * OC * OH * OW], y[B * OC * OH * OW];
    float dx[B * C * H * W], dw[OC * C * K * K], db[OC], col[C * K * K * OH * OW], dcol[C * K * K * OH * OW];
    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = qrng_normal(&r);
    for (size_t i = 0; i < sizeof w / 4; i++) w[i] = qrng_normal(&r);
    for (size_t i = 0; i < sizeof b / 4; i++) b[i] = qrng_normal(&r);
    for (size_t i = 0; i < sizeof g / 4; i++) g[i] = qrng_normal(&r);
    conv2d_backward(dx, dw, db, g, x, w, col, dcol, B, C, H, W, OC, K);
    float *params[3] = {x, w, b}, *grads[3] = {dx, dw, db};
    int sizes[3] = {B * C * H * W, OC * C * K * K, OC};
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < sizes[p]; i++) {
            double h = 1e-2, lp = 0, lm = 0;
            float keep = params[p][i];
            params[p][i] = keep + (float)h;
            conv2d_forward(y, x, w, b, col, B, C, H, W, OC, K);
            for (size_t j = 0; j < sizeof y / 4; j++) lp += (double)y[j] * g[j];
            params[p][i] = keep - (float)h;
            conv2d_forward(y, x, w, b, col, B, C, H, W, OC, K);
            for (size_t j = 0; j < sizeof y / 4; j++) lm += (double)y[j] * g[j];
            params[p][i] = keep;
            CHECK_NEAR(grads[p][i], (lp - lm) / (2 * h), 2e-3);
        }
    /* one output by hand: y[0,0,0,0] = b0 + sum_{c,ki,kj} w[0,c,ki,kj] x[0,c,ki,kj] */
    conv2d_forward(y, x, w, b, col, B, C, H, W, OC, K);
    double want = b[0];
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) want += (double)w[(c * K + ki) * K + kj] * x[(c * H + ki) * W + kj];
    CHECK_NEAR(y[0], want, 1e-5);
    /* max-pool 2x2 on 5x5 (floor to 2x2): the max of each window; gradient to the argmax only */
    float px[25], py[4], pg[4] = {1, 2, 3, 4}, pdx[25];
    int32_t arg[4];
    for (int i = 0; i < 25; i++) px[i] = (float)((i * 7) % 11);
    maxpool2_forward(py, arg, px, 1, 1, 5, 5);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            float m = -1;
            for (int di = 0; di < 2; di++)
                for (int dj = 0; dj < 2; dj++) m = fmaxf(m, px[(2 * i + di) * 5 + 2 * j + dj]);
            CHECK(py[i * 2 + j] == m && px[arg[i * 2 + j]] == m);
        }
    maxpool2_backward(pdx, pg, arg, 1, 1, 5, 5);
    double total = 0;
    for (int i = 0; i < 25; i++) total += pdx[i];
    CHECK_NEAR(total, 10.0, 1e-9);
    for (int k = 0; k < 4; k++) CHECK(pdx[arg[k]] == pg[k]);
}

TEST(relu_and_softmax_xent_gradients) {
    float x[6] = {-1.0f, 0.5f, 2.0f, -0.1f, 0.3f, 0.0f}, y[6], d[6], g[6] = {1, 2, 3, 4, 5, 6};
    relu_forward(y, x, 6);
    relu_backward(d, g, y, 6);
    for (int i = 0; i < 6; i++) CHECK(d[i] == (x[i] > 0 ? g[i] : 0.0f));
    QRng r;
    qrng_seed(&r, 2);
    int B = 2, C = 5;
    float z[10], p[10], dz[10];
    uint8_t lab[2] = {3, 0};
    for (int i = 0; i < 10; i++) z[i] = qrng_normal(&r);
    softmax_xent_forward(p, z, lab, B, C, NULL);
    softmax_xent_backward(dz, p, lab, B, C);
    for (int i = 0; i < 10; i++) {
        double h = 1e-3;
        float keep = z[i];
        z[i] = keep + (float)h;
        double lp = softmax_xent_forward(p, z, lab, B, C, NULL);
        z[i] = keep - (float)h;
        double lm = softmax_xent_forward(p, z, lab, B, C, NULL);
        z[i] = keep;
        CHECK_NEAR(dz[i], (lp - lm) / (2 * h), 1e-3);
    }
    /* loss of uniform logits is log(C) */
    float u[5] = {0}, pu[5];
    uint8_t l0 = 2;
    CHECK_NEAR(softmax_xent_forward(pu, u, &l0, 1, 5, NULL), log(5.0), 1e-6);
}

TEST(adam_first_step_closed_form) {
    /* after one step from m = v = 0, Adam moves each parameter by -lr * sign(g) (up to eps) */
    float p[3] = {1, 1, 1}, g[3] = {0.5f, -2.0f, 1e-3f}, m[3] = {0}, v[3] = {0};
    adam_update(p, g, m, v, 3, 0.1f, 1);
    CHECK_NEAR(p[0], 0.9, 1e-5);
    CHECK_NEAR(p[1], 1.1, 1e-5);
    CHECK_NEAR(p[2], 0.9, 1e-4);
}

TEST(idx_reads_fashion_mnist) {
    NnDataset d;
    QErr e;
    if (!qpath_exists(NN_FASHION_DEFAULT_DIR "/t10k-images-idx3-ubyte.gz") && !getenv("QUANT_FASHION_DIR"))
        SKIP("Fashion-MNIST not found in %s (apt-get install dataset-fashion-mnist)", fashion_dir());
    CHECK(nn_dataset_load_split(&d, fashion_dir(), 1, &e) == 0);
    CHECK(d.n == 60000 && d.rows == 28 && d.cols == 28);
    CHECK(d.labels[0] == 9);  /* the first training image is an ankle boot */
    int counts[10] = {0};
    for (int64_t i = 0; i < d.n; i++) counts[d.labels[i]]++;
    for (int c = 0; c < 10; c++) CHECK(counts[c] == 6000);
    for (int64_t i = 0; i < d.n * 784; i += 997) CHECK(d.images[i] >= 0.0f && d.images[i] <= 1.0f);
    nn_dataset_free(&d);
    CHECK(nn_dataset_load_split(&d, fashion_dir(), 0, &e) == 0 && d.n == 10000);
    nn_dataset_free(&d);
}

static void write_file(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

TEST(idx_rejects_corrupt_files) {
    char ip[512], lp[512];
    snprintf(ip, sizeof ip, "%s/img", test_tmpdir());
    snprintf(lp, sizeof lp, "%s/lab", test_tmpdir());
    uint8_t img[16 + 2 * 4] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t lab[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 7};
    NnDataset d;
    QErr e;
    write_file(ip, img, sizeof img);
    write_file(lp, lab, sizeof lab);
    CHECK(nn_dataset_load_idx(&d, ip, lp, &e) == 0 && d.n == 2 && d.labels[1] == 7);
    CHECK_NEAR(d.images[1], 2 / 255.0, 1e-7);
    nn_dataset_free(&d);
    /* truncated images */
    write_file(ip, img, sizeof img - 1);
    CHECK(nn_dataset_load_idx(&d, ip, lp, &e) == -1 && strstr(e.msg, "truncated") && strstr(e.msg, ip));
    /* bad magic (one flipped bit) */
    img[3] ^= 0x10;
    write_file(ip, img, sizeof img);
    CHECK(nn_dataset_load_idx(&d, ip, lp, &e) == -1 && strstr(e.msg, "magic"));
    img[3] ^= 0x10;
    /* count mismatch */
    lab[7] = 3;
    uint8_t lab3[11];
    memcpy(lab3, lab, 10);
    lab3[10] = 1;
    write_file(ip, img, sizeof img);
    write_file(lp, lab3, sizeof lab3);
    CHECK(nn_dataset_load_idx(&d, ip, lp, &e) == -1 && strstr(e.msg, "labels"));
    /* label out of range */
    lab[7] = 2;
    lab[9] = 12;
    write_file(lp, lab, sizeof lab);
    CHECK(nn_dataset_load_idx(&d, ip, lp, &e) == -1 && strstr(e.msg, "label"));
    /* a gzip stream cut short */
    lab[9] = 7;
    char gp[512];
    snprintf(gp, sizeof gp, "%s/lab.gz", test_tmpdir());
    gzFile g = gzopen(gp, "wb");
    gzwrite(g, lab, sizeof lab);
    gzclose(g);
    CHECK(nn_dataset_load_idx(&d, ip, gp, &e) == 0);
    nn_dataset_free(&d);
    uint8_t *gz;
    size_t gzn;
    CHECK(qfile_read_all(gp, &gz, &gzn, &e) == 0);
    write_file(gp, gz, gzn - 6);
    CHECK(nn_dataset_load_idx(&d, ip, gp, &e) == -1 && strstr(e.msg, gp));
    free(gz);
    CHECK(nn_dataset_load_idx(&d, "/nonexistent/x", lp, &e) == -1 && strstr(e.msg, "/nonexistent/x"));
}

TEST(bias_and_multiplier_closed_forms) {
    /* a 1-layer model: integer bias = round(b / (s_x s_w)), requant multiplier for 2 layers */
    NnModel m;
    QRng r;
    QErr e;
    qrng_seed(&r, 3);
    int hidden[1] = {3};
    CHECK(nn_mlp_init(&m, 4, hidden, 1, 2, &r, &e) == 0);
    QParams act[NN_MAX_LAYERS];
    memset(act, 0, sizeof act);
    for (int l = 0; l < 2; l++) {
        qparams_init(&act[l], 8, 0, QGRAN_TENSOR, 0, 1, 1, &e);
        qparams_set_range(&act[l], 0, 0.0f, l == 0 ? 1.0f : 2.0f);
    }
    NnQModel q;
    CHECK(nn_qmodel_convert(&m, act, &q, &e) == 0);
    for (int n = 0; n < 3; n++) {
        float amax = 0;
        for (int k = 0; k < 4; k++) amax = fmaxf(amax, fabsf(m.w[0][n * 4 + k]));
        CHECK_NEAR(q.w_scale[0][n], amax / 127.0, 1e-9);
        CHECK(q.bias[0][n] == (int32_t)lrint(m.b[0][n] / ((double)act[0].scale[0] * q.w_scale[0][n])));
        double M = (double)act[0].scale[0] * q.w_scale[0][n] / act[1].scale[0];
        CHECK_NEAR(q.rq_mult[0][n] * ldexp(1.0, -31 - q.rq_shift[0][n]), M, M * 1e-9);
    }
    nn_qmodel_free(&q);
    for (int l = 0; l < 2; l++) qparams_free(&act[l]);
    nn_model_free(&m);
}

/* Weight-only and int8 models survive save/load exactly; truncation and bit flips are caught. */
TEST(qnn_round_trip_and_corruption) {
    NnModel m;
    QRng r;
    QErr e;
    qrng_seed(&r, 4);
    int hidden[2] = {7, 5};
    CHECK(nn_mlp_init(&m, 6, hidden, 2, 3, &r, &e) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/m.qnn", test_tmpdir());
    NnWeightQuant s = {4, 0, QGRAN_GROUP, 4, QOBS_MINMAX};
    NnQuantWeights qw;
    CHECK(nn_quantize_weights(&m, &s, &qw, &e) == 0);
    size_t bytes;
    CHECK(nn_save_weight_only(path, &qw, &bytes, &e) == 0);
    CHECK(bytes == nn_file_size_weight_only(&qw));
    NnLoaded ld;
    CHECK(nn_load(path, &ld, &e) == 0 && ld.kind == NN_FILE_WEIGHT_ONLY);
    for (int l = 0; l < 3; l++)
        CHECK(memcmp(ld.model.w[l], qw.deq.w[l], sizeof(float) * m.dims[l] * m.dims[l + 1]) == 0);
    nn_loaded_free(&ld);
    uint8_t *buf;
    size_t n;
    CHECK(qfile_read_all(path, &buf, &n, &e) == 0);
    write_file(path, buf, n - 9);
    CHECK(nn_load(path, &ld, &e) == -1 && strstr(e.msg, path));
    for (size_t pos = 0; pos < n; pos += n / 13 + 1) {
        buf[pos] ^= 0x04;
        write_file(path, buf, n);
        CHECK_MSG(nn_load(path, &ld, &e) == -1, "bit flip at %zu accepted", pos);
        buf[pos] ^= 0x04;
    }
    free(buf);
    nn_quant_weights_free(&qw);
    nn_model_free(&m);
    CHECK(nn_load("/nonexistent.qnn", &ld, &e) == -1);
}

/* Two short epochs on 12000 images, then the whole PTQ pipeline on the test set. */
TEST(end_to_end_small) {
    NnDataset tr, te;
    QErr e;
    if (nn_dataset_load_split(&tr, fashion_dir(), 1, &e)) SKIP("%s", e.msg);
    CHECK(nn_dataset_load_split(&te, fashion_dir(), 0, &e) == 0);
    tr.n = 12000;
    NnModel m;
    QRng r;
    qrng_seed(&r, 0);
    int hidden[2] = {64, 32};
    nn_mlp_init(&m, 784, hidden, 2, 10, &r, &e);
    NnTrainOpts o;
    nn_train_opts_default(&o);
    o.epochs = 2;
    o.verbose = 0;
    NnTrainStats st;
    nn_train(&m, &tr, &o, &st);
    te.n = 2000;
    double acc = nn_model_accuracy(&m, &te, NULL, NULL);
    CHECK_MSG(acc > 0.70, "fp32 accuracy %.3f", acc);
    QParams act[NN_MAX_LAYERS];
    memset(act, 0, sizeof act);
    CHECK(nn_calibrate_activations(&m, &tr, 500, QOBS_MINMAX, 8, act, &e) == 0);
    NnQModel q;
    CHECK(nn_qmodel_convert(&m, act, &q, &e) == 0);
    nn_qmodel_pack(&q, kern_isa_best());
    NnModel sim;
    nn_w8a8_simulation(&q, &sim);
    NnActQuant aq;
    memset(&aq, 0, sizeof aq);
    for (int l = 0; l < 3; l++) aq.act[l] = &act[l];
    uint8_t *p1 = xmalloc((size_t)te.n), *p2 = xmalloc((size_t)te.n);
    double a_sim = nn_model_accuracy(&sim, &te, &aq, p1), a_int = nn_qmodel_accuracy(&q, &te, p2);
    int agree = 0;
    for (int64_t i = 0; i < te.n; i++) agree += p1[i] == p2[i];
    CHECK_MSG(agree >= te.n * 0.995, "integer vs fake-quant agree on %d of %lld", agree, (long long)te.n);
    CHECK(fabs(a_int - acc) < 0.02 && fabs(a_sim - acc) < 0.02);
    /* int8 file reproduces the integer accuracy exactly */
    char path[512];
    snprintf(path, sizeof path, "%s/w8a8.qnn", test_tmpdir());
    CHECK(nn_save_int8(path, &q, NULL, &e) == 0);
    NnLoaded ld;
    CHECK(nn_load(path, &ld, &e) == 0 && ld.kind == NN_FILE_INT8);
    CHECK(nn_qmodel_accuracy(&ld.qmodel, &te, NULL) == a_int);
    nn_loaded_free(&ld);
    /* a requantization multiplier outside [2^30, 2^31) behind a valid CRC is refused */
    {
        uint8_t *b;
        size_t n;
        CHECK(qfile_read_all(path, &b, &n, &e) == 0);
        uint32_t nt;
        memcpy(&nt, b + 60, 4);
        nt &= 0xff;
        size_t data0 = 64 + 48 * (size_t)nt, hit = 0;
        for (uint32_t i = 0; i < nt; i++) {
            const uint8_t *ent = b + 64 + 48 * (size_t)i;
            if (strcmp((const char *)ent, "rm0") == 0) {
                uint64_t off;
                memcpy(&off, ent + 32, 8);
                memset(b + data0 + off, 0, 4); /* the first multiplier: 0 */
                hit = 1;
            }
        }
        CHECK(hit);
        uint32_t crc = (uint32_t)crc32(0L, b, (uInt)(n - 4));
        memcpy(b + n - 4, &crc, 4);
        char bad[512];
        snprintf(bad, sizeof bad, "%s/w8a8-bad.qnn", test_tmpdir());
        FILE *f = fopen(bad, "wb");
        CHECK(f && fwrite(b, 1, n, f) == n);
        if (f) fclose(f);
        CHECK(nn_load(bad, &ld, &e) == -1 && strstr(e.msg, "requantization"));
        free(b);
    }
    free(p1);
    free(p2);
    nn_model_free(&sim);
    nn_qmodel_free(&q);
    for (int l = 0; l < 3; l++) qparams_free(&act[l]);
    nn_model_free(&m);
    tr.n = 60000;
    te.n = 10000;
    nn_dataset_free(&tr);
    nn_dataset_free(&te);
}

int main(void) {
    RUN(linear_gradients_finite_difference);
    RUN(conv_and_pool_gradients_finite_difference);
    RUN(relu_and_softmax_xent_gradients);
    RUN(adam_first_step_closed_form);
    RUN(idx_reads_fashion_mnist);
    RUN(idx_rejects_corrupt_files);
    RUN(bias_and_multiplier_closed_forms);
    RUN(qnn_round_trip_and_corruption);
    RUN(end_to_end_small);
    return test_summary("test_nn");
}
