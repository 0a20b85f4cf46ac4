/* test_cnn.c — the CNN: input normalization folded into conv1 gives the same predictions, CNN
 * .qnn files round-trip exactly and every corruption is rejected with one message, QAT (STE and
 * LSQ) is deterministic and its integer CNN agrees with the float simulation. */
#include <zlib.h>

#include "quant/nn_cnn.h"
#include "quant/nn_file.h"
#include "test.h"

static const char *fashion_dir(void) {
    const char *d = getenv("QUANT_FASHION_DIR");
    return d && *d ? d : NN_FASHION_DEFAULT_DIR;
}

static void write_file(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void fix_crc(uint8_t *b, size_t n) { put_u32(b + n - 4, (uint32_t)crc32(0L, b, (uInt)(n - 4))); }

/* data of tensor `name` in a .qnn buffer (NULL if absent); *entry receives its table entry */
static uint8_t *tensor(uint8_t *b, const char *name, uint8_t **entry) {
    int n = (int)(get_u32(b + 60) & 0xff);
    size_t data = 64 + (size_t)n * 48;
    for (int i = 0; i < n; i++) {
        uint8_t *p = b + 64 + (size_t)i * 48;
        if (strncmp((const char *)p, name, 24) == 0) {
            if (entry) *entry = p;
            return b + data + get_u32(p + 32);
        }
    }
    return NULL;
}

/* n synthetic images with pixels k/255 (as IDX files give) and labels 0..9 */
static void synth_images(NnDataset *d, int64_t n, uint64_t seed) {
    QRng r;
    qrng_seed(&r, seed);
    d->n = n;
    d->rows = d->cols = 28;
    d->images = xmalloc((size_t)n * 784 * sizeof(float));
    d->labels = xmalloc((size_t)n);
    for (int64_t i = 0; i < n * 784; i++) d->images[i] = (float)(int)(qrng_uniform(&r) * 255.999f) / 255.0f;
    for (int64_t i = 0; i < n; i++) d->labels[i] = (uint8_t)(i % 10);
}

TEST(normalization_folds_into_conv1) {
    NnDataset raw, nrm;
    synth_images(&raw, 100, 1);
    synth_images(&nrm, 100, 1);
    float mean, rstd;
    nn_cnn_pixel_stats(&raw, &mean, &rstd);
    CHECK(fabs(mean - 0.5) < 0.01 && fabs(1 / rstd - 0.2887) < 0.01); /* uniform on [0, 1] */
    for (int64_t i = 0; i < nrm.n * 784; i++) nrm.images[i] = (nrm.images[i] - mean) * rstd;
    NnCnn m, f;
    QRng r;
    qrng_seed(&r, 2);
    nn_cnn_init(&m, &r);
    nn_cnn_copy(&f, &m);
    nn_cnn_fold_input_norm(&f, mean, rstd);
    uint8_t p1[100], p2[100];
    nn_cnn_accuracy_pred(&m, &nrm, NULL, p1);
    nn_cnn_accuracy_pred(&f, &raw, NULL, p2);
    CHECK(memcmp(p1, p2, sizeof p1) == 0);
    for (int k = 0; k < 9; k++) CHECK(f.p[0][k] == m.p[0][k] * rstd);
    nn_cnn_free(&m);
    nn_cnn_free(&f);
    nn_dataset_free(&raw);
    nn_dataset_free(&nrm);
}

/* a random CNN, its min-max calibrated grids and the integer CNN at wbits */
static void small_int_cnn(NnCnn *m, const NnDataset *d, int wbits, NnCnnQ *q) {
    QRng r;
    qrng_seed(&r, 3);
    nn_cnn_init(m, &r);
    QParams act[3];
    QErr e;
    CHECK(nn_cnn_calibrate(m, d, d->n, QOBS_MINMAX, 8, act, &e) == 0);
    /* pixels k/255 on the min-max grid of [0, 1]: the image quantizes exactly */
    CHECK(act[0].zero[0] == -128 && fabs(act[0].scale[0] * 255 - 1) < 1e-6);
    CHECK(nn_cnn_convert(m, act, wbits, NULL, q, &e) == 0);
    for (int l = 0; l < 3; l++) qparams_free(&act[l]);
}

TEST(cnn_files_round_trip) {
    NnDataset d;
    synth_images(&d, 50, 4);
    char path[512];
    snprintf(path, sizeof path, "%s/c.qnn", test_tmpdir());
    QErr e;
    NnLoaded ld;
    for (int wbits = 2; wbits <= 8; wbits += 6) {
        NnCnn m;
        NnCnnQ q;
        small_int_cnn(&m, &d, wbits, &q);
        size_t bytes;
        CHECK(nn_save_cnn_fp32(path, &m, &bytes, &e) == 0 && bytes == nn_file_size_cnn_fp32(&m));
        CHECK(nn_load(path, &ld, &e) == 0 && ld.kind == NN_FILE_CNN_FP32);
        for (int i = 0; i < CNN_NPARAM; i++)
            CHECK(memcmp(ld.cnn.p[i], m.p[i], (size_t)nn_cnn_param_size[i] * sizeof(float)) == 0);
        nn_loaded_free(&ld);
        CHECK(nn_save_cnn_int8(path, &q, &bytes, &e) == 0 && bytes == nn_file_size_cnn_int8(&q));
        CHECK(nn_load(path, &ld, &e) == 0 && ld.kind == NN_FILE_CNN_INT8 && ld.cnnq.wbits == wbits);
        for (int l = 0; l < 3; l++) {
            int N = nn_cnn_wrows[l], K = nn_cnn_wcols[l];
            CHECK(memcmp(ld.cnnq.codes[l], q.codes[l], (size_t)N * K) == 0);
            CHECK(memcmp(ld.cnnq.wscale[l], q.wscale[l], (size_t)N * 4) == 0);
            CHECK(memcmp(ld.cnnq.bias[l], q.bias[l], (size_t)N * 4) == 0);
            CHECK(ld.cnnq.act_scale[l] == q.act_scale[l] && ld.cnnq.act_zero[l] == q.act_zero[l]);
            if (l < 2) CHECK(memcmp(ld.cnnq.mult[l], q.mult[l], (size_t)N * 4) == 0 && memcmp(ld.cnnq.shift[l], q.shift[l], (size_t)N * 4) == 0);
        }
        uint8_t p1[50], p2[50];
        CHECK(nn_cnn_q_accuracy(&q, &d, p1) == nn_cnn_q_accuracy(&ld.cnnq, &d, p2) && memcmp(p1, p2, sizeof p1) == 0);
        nn_loaded_free(&ld);
        /* 2-bit codes are stored packed: the file is smaller than at 8 bits */
        if (wbits == 2) CHECK(bytes < 6000);
        nn_cnn_q_free(&q);
        nn_cnn_free(&m);
    }
    nn_dataset_free(&d);
}

/* Loads must fail with one message naming the file (and containing want, if given). */
static void expect_reject(const char *path, uint8_t *b, size_t n, const char *want, const char *what) {
    write_file(path, b, n);
    NnLoaded ld;
    QErr e;
    int rc = nn_load(path, &ld, &e);
    CHECK_MSG(rc == -1, "%s accepted", what);
    if (rc == -1) {
        CHECK_MSG(strstr(e.msg, path) && !strchr(e.msg, '\n'), "%s: message '%s'", what, e.msg);
        if (want) CHECK_MSG(strstr(e.msg, want) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, want);
    } else {
        nn_loaded_free(&ld);
    }
}

TEST(cnn_files_reject_corruption) {
    NnDataset d;
    synth_images(&d, 20, 5);
    NnCnn m;
    NnCnnQ q;
    small_int_cnn(&m, &d, 4, &q);
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/q.qnn", test_tmpdir());
    snprintf(bad, sizeof bad, "%s/bad.qnn", test_tmpdir());
    QErr e;
    CHECK(nn_save_cnn_int8(path, &q, NULL, &e) == 0);
    uint8_t *b, *c;
    size_t n;
    CHECK(qfile_read_all(path, &b, &n, &e) == 0);
    c = xmalloc(n);
    /* truncation anywhere, single bit flips anywhere */
    size_t cuts[] = {0, 10, 64, 100, n / 2, n - 5, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) expect_reject(bad, b, cuts[i], NULL, "truncation");
    for (size_t pos = 0; pos < n; pos += n / 17 + 1) {
        memcpy(c, b, n);
        c[pos] ^= 0x10;
        expect_reject(bad, c, n, NULL, "bit flip");
    }
    /* consistent CRCs, wrong contents: one 32-bit field changed, in the header (tensor NULL,
     * at byte off) or at the start of a tensor's data */
    const struct {
        const char *tensor;
        size_t off;
        uint32_t value;
        const char *want, *what;
    } fields[] = {
        {NULL, 16 + 4, 17, "CNN shape", "conv1 with 17 channels"},
        {NULL, 16 + 16, 32, "CNN shape", "32x28 images"},
        {NULL, 12, 4, "CNN shape", "4 layers"},
        {NULL, 52, 9, "bit", "9-bit weights"},
        {NULL, 52, 8, "bytes", "bits disagree with the packed codes"}, /* packed codes too short for 8 bits */
        {NULL, 8, 5, "unknown model kind", "kind 5"},
        {"rs1", 0, (uint32_t)-40, "out of range", "left shift of 40"},
        {"rm0", 0, 5, "out of range", "multiplier below 2^30"},
        {"as1", 0, 0, "activation grid", "zero activation scale"},
        {"s2", 0, 0x7fc00000u, "weight scale", "NaN weight scale"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        memcpy(c, b, n);
        uint8_t *at = fields[i].tensor ? tensor(c, fields[i].tensor, NULL) : c + fields[i].off;
        CHECK_MSG(at != NULL, "%s: no tensor %s", fields[i].what, fields[i].tensor);
        if (!at) continue;
        put_u32(at, fields[i].value);
        fix_crc(c, n);
        expect_reject(bad, c, n, fields[i].want, fields[i].what);
    }
    /* table entries: a short scale tensor, a missing tensor, a data offset past the end */
    uint8_t *ent;
    memcpy(c, b, n);
    CHECK(tensor(c, "s1", &ent) != NULL);
    put_u32(ent + 40, get_u32(ent + 40) - 4); /* 31 scales for 32 channels */
    fix_crc(c, n);
    expect_reject(bad, c, n, "s1", "short scale tensor");
    memcpy(c, b, n);
    CHECK(tensor(c, "rm0", &ent) != NULL);
    memcpy(ent, "xx0", 4); /* renamed: rm0 is missing */
    fix_crc(c, n);
    expect_reject(bad, c, n, "missing", "missing tensor");
    memcpy(c, b, n);
    CHECK(tensor(c, "q2", &ent) != NULL);
    put_u32(ent + 32, (uint32_t)n); /* data offset past the end */
    fix_crc(c, n);
    expect_reject(bad, c, n, "past the end", "offset past the end");
    /* a CNN file given to the MLP's job and an MLP file to the CNN's */
    CHECK(nn_save_cnn_fp32(path, &m, NULL, &e) == 0);
    NnModel mlp;
    CHECK(nn_model_prepare(&mlp, path, &d, NULL, 0, NULL, NULL, &e) == -1 && strstr(e.msg, "--arch cnn"));
    QRng r;
    qrng_seed(&r, 6);
    int hidden[1] = {5};
    CHECK(nn_mlp_init(&mlp, 784, hidden, 1, 10, &r, &e) == 0);
    char mp[512];
    snprintf(mp, sizeof mp, "%s/mlp.qnn", test_tmpdir());
    CHECK(nn_save_fp32(mp, &mlp, NULL, &e) == 0);
    NnCnn m2;
    CHECK(nn_cnn_prepare(&m2, mp, &d, NULL, NULL, &e) == -1 && strstr(e.msg, "fp32 CNN is needed") && strstr(e.msg, "MLP"));
    CHECK(nn_cnn_prepare(&m2, path, &d, NULL, NULL, &e) == 0);
    CHECK(memcmp(m2.p[4], m.p[4], (size_t)nn_cnn_param_size[4] * 4) == 0);
    nn_cnn_free(&m2);
    CHECK(nn_save_cnn_int8(path, &q, NULL, &e) == 0);
    CHECK(nn_cnn_prepare(&m2, path, &d, NULL, NULL, &e) == -1 && strstr(e.msg, "integer CNN"));
    nn_model_free(&mlp);
    free(b);
    free(c);
    nn_cnn_q_free(&q);
    nn_cnn_free(&m);
    nn_dataset_free(&d);
}

/* On 2000 training images: a short fp32 run, then STE and LSQ QAT; each converts to an integer
 * CNN that agrees with its float simulation, and STE gives the same weights twice. */
TEST(cnn_qat_converts_and_agrees) {
    NnDataset tr, te;
    QErr e;
    if (nn_dataset_load_split(&tr, fashion_dir(), 1, &e)) SKIP("%s", e.msg);
    CHECK(nn_dataset_load_split(&te, fashion_dir(), 0, &e) == 0);
    tr.n = 2000;
    te.n = 1000;
    NnTrainOpts to;
    nn_cnn_train_opts_default(&to);
    to.epochs = 1;
    to.verbose = 0;
    NnCnn m;
    NnTrainStats st;
    CHECK(nn_cnn_prepare(&m, NULL, &tr, &to, &st, &e) == 0);
    double acc = nn_cnn_accuracy(&m, &te, NULL);
    CHECK_MSG(acc > 0.5, "fp32 accuracy %.3f after one epoch on 2000 images", acc);
    for (int meth = 0; meth < 2; meth++) {
        NnQatOpts o;
        nn_qat_opts_default(&o);
        o.method = meth ? NN_QAT_LSQ : NN_QAT_STE;
        o.wbits = meth ? 2 : 4;
        o.abits = 8;
        o.epochs = 1;
        o.freeze_steps = 8;
        o.verbose = 0;
        NnCnnQatResult r;
        CHECK(nn_cnn_qat_train(&m, &tr, &o, &r, &e) == 0);
        if (!meth) {
            /* the image's EMA grid is the pixels' [0, 1]: exact on k/255 */
            CHECK(r.act[0].zero[0] == -128 && fabs(r.act[0].scale[0] * 255 - 1) < 1e-6);
            NnCnnQatResult r2;
            CHECK(nn_cnn_qat_train(&m, &tr, &o, &r2, &e) == 0);
            for (int i = 0; i < CNN_NPARAM; i++)
                CHECK(memcmp(r.master.p[i], r2.master.p[i], (size_t)nn_cnn_param_size[i] * 4) == 0);
            nn_cnn_qat_result_free(&r2);
        }
        NnCnnQ q;
        CHECK(nn_cnn_convert(&r.master, r.act, o.wbits, r.wscale, &q, &e) == 0);
        NnCnn sim, fq;
        nn_cnn_q_simulation(&q, &sim);
        nn_cnn_qat_fake_model(&r, &fq);
        /* the simulation's weights are the fake-quant weights (equal values; -0 == 0) */
        int64_t differ = 0;
        for (int l = 0; l < 3; l++)
            for (int64_t k = 0; k < nn_cnn_param_size[2 * l]; k++) differ += sim.p[2 * l][k] != fq.p[2 * l][k];
        CHECK_MSG(differ == 0, "%lld weights differ", (long long)differ);
        uint8_t *p1 = xmalloc((size_t)te.n), *p2 = xmalloc((size_t)te.n);
        double a_sim = nn_cnn_accuracy_pred(&sim, &te, r.act, p1), a_int = nn_cnn_q_accuracy(&q, &te, p2);
        int agree = 0;
        for (int64_t i = 0; i < te.n; i++) agree += p1[i] == p2[i];
        CHECK_MSG(agree >= 0.995 * te.n, "%s: integer and simulation agree on %d of %lld", meth ? "lsq" : "ste", agree,
                  (long long)te.n);
        CHECK_MSG(a_int > 0.5 && fabs(a_int - a_sim) < 0.01, "%s: integer %.3f, simulation %.3f", meth ? "lsq" : "ste",
                  a_int, a_sim);
        free(p1);
        free(p2);
        nn_cnn_free(&sim);
        nn_cnn_free(&fq);
        nn_cnn_q_free(&q);
        nn_cnn_qat_result_free(&r);
    }
    nn_cnn_free(&m);
    tr.n = 60000;
    te.n = 10000;
    nn_dataset_free(&tr);
    nn_dataset_free(&te);
}

int main(void) {
    RUN(normalization_folds_into_conv1);
    RUN(cnn_files_round_trip);
    RUN(cnn_files_reject_corruption);
    RUN(cnn_qat_converts_and_agrees);
    return test_summary("test_cnn");
}
