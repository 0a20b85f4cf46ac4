/* cnn.c — the small CNN: forward, backward, Adam training, fake-quant PTQ (nn_cnn.h). */
#include "quant/nn_cnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/fakequant.h"
#include "quant/nn_conv.h"
#include "quant/nn_layers.h"
#include "quant/observer.h"

const int64_t nn_cnn_param_size[CNN_NPARAM] = {CNN_C1 * 9, CNN_C1, CNN_C2 * CNN_C1 * 9, CNN_C2, 10 * CNN_FLAT, 10};
static const int fan_in[CNN_NPARAM] = {9, 9, CNN_C1 * 9, CNN_C1 * 9, CNN_FLAT, CNN_FLAT};

void nn_cnn_init(NnCnn *m, QRng *rng) {
    for (int i = 0; i < CNN_NPARAM; i++) {
        m->p[i] = xmalloc((size_t)nn_cnn_param_size[i] * sizeof(float));
        float bound = 1.0f / sqrtf((float)fan_in[i]);
        for (int64_t k = 0; k < nn_cnn_param_size[i]; k++) m->p[i][k] = (2.0f * qrng_uniform(rng) - 1.0f) * bound;
    }
}

void nn_cnn_copy(NnCnn *dst, const NnCnn *src) {
    for (int i = 0; i < CNN_NPARAM; i++) {
        dst->p[i] = xmalloc((size_t)nn_cnn_param_size[i] * sizeof(float));
        memcpy(dst->p[i], src->p[i], (size_t)nn_cnn_param_size[i] * sizeof(float));
    }
}

void nn_cnn_free(NnCnn *m) {
    for (int i = 0; i < CNN_NPARAM; i++) free(m->p[i]);
    memset(m, 0, sizeof *m);
}

/* Activations of one batch of up to Bmax images. */
typedef struct Acts {
    float *x, *c1, *p1, *c2, *p2, *logits;   /* [B,1,28,28] [B,16,26,26] [B,16,13,13] [B,32,11,11] [B,32,5,5] [B,10] */
    int32_t *a1, *a2;                         /* pooling argmax */
    float *col, *dcol;                        /* im2col scratch [144, 676] */
} Acts;

static void acts_init(Acts *a, int B) {
    a->x = xmalloc((size_t)B * 784 * sizeof(float));
    a->c1 = xmalloc((size_t)B * CNN_C1 * 676 * sizeof(float));
    a->p1 = xmalloc((size_t)B * CNN_C1 * 169 * sizeof(float));
    a->c2 = xmalloc((size_t)B * CNN_C2 * 121 * sizeof(float));
    a->p2 = xmalloc((size_t)B * CNN_FLAT * sizeof(float));
    a->logits = xmalloc((size_t)B * 10 * sizeof(float));
    a->a1 = xmalloc((size_t)B * CNN_C1 * 169 * sizeof(int32_t));
    a->a2 = xmalloc((size_t)B * CNN_FLAT * sizeof(int32_t));
    a->col = xmalloc((size_t)144 * 676 * sizeof(float));
    a->dcol = xmalloc((size_t)144 * 676 * sizeof(float));
}

static void acts_free(Acts *a) {
    free(a->x);
    free(a->c1);
    free(a->p1);
    free(a->c2);
    free(a->p2);
    free(a->logits);
    free(a->a1);
    free(a->a2);
    free(a->col);
    free(a->dcol);
}

static void fq_tensor(const QParams *act, float *x, int64_t n) {
    if (!act) return;
    QParams p = *act;
    p.rows = 1;
    p.cols = n;
    fake_quantize(&p, x, x);
}

typedef void (*ObserveFn)(void *ctx, int layer, const float *x, int64_t n);

/* a->x holds the images; act (3 grids) fake-quantizes each layer's input when non-NULL */
static void forward(const NnCnn *m, Acts *a, int B, const QParams *act, ObserveFn obs, void *ctx) {
    if (obs) obs(ctx, 0, a->x, (int64_t)B * 784);
    fq_tensor(act ? &act[0] : NULL, a->x, (int64_t)B * 784);
    conv2d_forward(a->c1, a->x, m->p[0], m->p[1], a->col, B, 1, 28, 28, CNN_C1, 3);
    relu_forward(a->c1, a->c1, (int64_t)B * CNN_C1 * 676);
    maxpool2_forward(a->p1, a->a1, a->c1, B, CNN_C1, 26, 26);
    if (obs) obs(ctx, 1, a->p1, (int64_t)B * CNN_C1 * 169);
    fq_tensor(act ? &act[1] : NULL, a->p1, (int64_t)B * CNN_C1 * 169);
    conv2d_forward(a->c2, a->p1, m->p[2], m->p[3], a->col, B, CNN_C1, 13, 13, CNN_C2, 3);
    relu_forward(a->c2, a->c2, (int64_t)B * CNN_C2 * 121);
    maxpool2_forward(a->p2, a->a2, a->c2, B, CNN_C2, 11, 11);
    if (obs) obs(ctx, 2, a->p2, (int64_t)B * CNN_FLAT);
    fq_tensor(act ? &act[2] : NULL, a->p2, (int64_t)B * CNN_FLAT);
    linear_forward(a->logits, a->p2, m->p[4], m->p[5], B, CNN_FLAT, 10);
}

double nn_cnn_accuracy(const NnCnn *m, const NnDataset *d, const QParams *act) {
    const int bs = 250;
    Acts a;
    acts_init(&a, bs);
    int64_t hits = 0;
    for (int64_t i = 0; i < d->n; i += bs) {
        int B = (int)(d->n - i < bs ? d->n - i : bs);
        memcpy(a.x, d->images + i * 784, (size_t)B * 784 * sizeof(float));
        forward(m, &a, B, act, NULL, NULL);
        for (int j = 0; j < B; j++) hits += argmax_f32(a.logits + (size_t)j * 10, 10) == d->labels[i + j];
    }
    acts_free(&a);
    return (double)hits / (double)d->n;
}

void nn_cnn_train_opts_default(NnTrainOpts *o) {
    nn_train_opts_default(o);
    o->cosine = 1;
    o->normalize = 1;
}

void nn_cnn_pixel_stats(const NnDataset *d, float *mean, float *rstd) {
    const int64_t n = d->n * (int64_t)d->rows * d->cols;
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) s += d->images[i];
    double mu = n ? s / (double)n : 0;
    for (int64_t i = 0; i < n; i++) s2 += ((double)d->images[i] - mu) * ((double)d->images[i] - mu);
    double sd = n ? sqrt(s2 / (double)n) : 1;
    *mean = (float)mu;
    *rstd = (float)(sd > 0 ? 1.0 / sd : 1.0);
}

/* conv1(rstd (x - mean)) = conv1'(x): w' = rstd w, b' = b - rstd mean sum_k w_k (exact up to
 * rounding: the convolution has no padding, every output sees 9 pixels) */
void nn_cnn_fold_input_norm(NnCnn *m, float mean, float rstd) {
    for (int o = 0; o < CNN_C1; o++) {
        double sw = 0;
        for (int k = 0; k < 9; k++) {
            sw += m->p[0][o * 9 + k];
            m->p[0][o * 9 + k] *= rstd;
        }
        m->p[1][o] = (float)((double)m->p[1][o] - (double)rstd * mean * sw);
    }
}

void nn_cnn_train(NnCnn *m, const NnDataset *train, const NnTrainOpts *o, NnTrainStats *st) {
    const int Bmax = o->batch;
    /* many small per-image products: BLAS threads would only spin */
    int old_blas = qblas_threads_swap(1);
    Acts a;
    acts_init(&a, Bmax);
    float *g[CNN_NPARAM], *mo[CNN_NPARAM], *ve[CNN_NPARAM];
    for (int i = 0; i < CNN_NPARAM; i++) {
        g[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
        mo[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
        ve[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
    }
    float *probs = xmalloc((size_t)Bmax * 10 * sizeof(float)), *dlog = xmalloc((size_t)Bmax * 10 * sizeof(float));
    float *dp2 = xmalloc((size_t)Bmax * CNN_FLAT * sizeof(float)), *dc2 = xmalloc((size_t)Bmax * CNN_C2 * 121 * sizeof(float));
    float *dp1 = xmalloc((size_t)Bmax * CNN_C1 * 169 * sizeof(float)), *dc1 = xmalloc((size_t)Bmax * CNN_C1 * 676 * sizeof(float));
    uint8_t *yb = xmalloc((size_t)Bmax);
    int32_t *order = xmalloc((size_t)train->n * sizeof(int32_t));
    for (int64_t i = 0; i < train->n; i++) order[i] = (int32_t)i;
    QRng rng;
    qrng_seed(&rng, o->seed);
    QProgress prog;
    qprogress_init(&prog);
    memset(st, 0, sizeof *st);
    float mean = 0, rstd = 1;
    if (o->normalize) nn_cnn_pixel_stats(train, &mean, &rstd);
    const int64_t total = (int64_t)o->epochs * ((train->n + Bmax - 1) / Bmax);
    double t_all = qtime_now();
    int step = 0;
    for (int ep = 0; ep < o->epochs; ep++) {
        double t0 = qtime_now(), loss = 0;
        int64_t hits = 0, seen = 0;
        qrng_shuffle_i32(&rng, order, train->n);
        for (int64_t i0 = 0; i0 < train->n; i0 += Bmax) {
            int B = (int)(train->n - i0 < Bmax ? train->n - i0 : Bmax);
            for (int j = 0; j < B; j++) {
                memcpy(a.x + (size_t)j * 784, train->images + (size_t)order[i0 + j] * 784, 784 * sizeof(float));
                yb[j] = train->labels[order[i0 + j]];
            }
            if (o->normalize)
                for (int64_t k = 0; k < (int64_t)B * 784; k++) a.x[k] = (a.x[k] - mean) * rstd;
            forward(m, &a, B, NULL, NULL, NULL);
            int correct;
            loss += softmax_xent_forward(probs, a.logits, yb, B, 10, &correct) * B;
            hits += correct;
            seen += B;
            softmax_xent_backward(dlog, probs, yb, B, 10);
            linear_backward(dp2, g[4], g[5], dlog, a.p2, m->p[4], B, CNN_FLAT, 10);
            maxpool2_backward(dc2, dp2, a.a2, B, CNN_C2, 11, 11);
            relu_backward(dc2, dc2, a.c2, (int64_t)B * CNN_C2 * 121);
            conv2d_backward(dp1, g[2], g[3], dc2, a.p1, m->p[2], a.col, a.dcol, B, CNN_C1, 13, 13, CNN_C2, 3);
            maxpool2_backward(dc1, dp1, a.a1, B, CNN_C1, 26, 26);
            relu_backward(dc1, dc1, a.c1, (int64_t)B * CNN_C1 * 676);
            conv2d_backward(NULL, g[0], g[1], dc1, a.x, m->p[0], a.col, a.dcol, B, 1, 28, 28, CNN_C1, 3);
            float lr = nn_train_lr(o, step, total);
            step++;
            for (int i = 0; i < CNN_NPARAM; i++) adam_update(m->p[i], g[i], mo[i], ve[i], nn_cnn_param_size[i], lr, step);
            if ((step & 15) == 0)
                qprogress_update(&prog, "cnn epoch %d/%d  %5.1f%%  loss %.4f", ep + 1, o->epochs,
                                 100.0 * (double)(i0 + B) / (double)train->n, loss / (double)seen);
        }
        qprogress_done(&prog);
        st->loss = loss / (double)seen;
        st->train_acc = (double)hits / (double)seen;
        st->seconds = qtime_now() - t0;
        if (o->verbose)
            qlog("cnn epoch %d/%d  loss %.4f  train acc %.2f%%  %.2fs", ep + 1, o->epochs, st->loss, 100 * st->train_acc,
                 st->seconds);
    }
    st->total_seconds = qtime_now() - t_all;
    if (o->normalize) nn_cnn_fold_input_norm(m, mean, rstd);
    qblas_threads_swap(old_blas);
    for (int i = 0; i < CNN_NPARAM; i++) {
        free(g[i]);
        free(mo[i]);
        free(ve[i]);
    }
    free(probs);
    free(dlog);
    free(dp2);
    free(dc2);
    free(dp1);
    free(dc1);
    free(yb);
    free(order);
    acts_free(&a);
}

/* ----------------------------------------------------------------- PTQ */
static const int wrows[3] = {CNN_C1, CNN_C2, 10}, wcols[3] = {9, CNN_C1 * 9, CNN_FLAT};

/* A copy of m with every weight matrix fake-quantized per output channel. */
static void quantize_weights(const NnCnn *m, NnCnn *q, int bits, int symmetric, QObserverKind obs) {
    nn_cnn_copy(q, m);
    for (int l = 0; l < 3; l++) {
        QParams p;
        QErr e;
        qparams_init(&p, bits, symmetric, QGRAN_CHANNEL, 0, wrows[l], wcols[l], &e);
        qparams_fit_observer(&p, m->p[2 * l], obs);
        fake_quantize(&p, m->p[2 * l], q->p[2 * l]);
        qparams_free(&p);
    }
}

typedef struct ObsCtx {
    QObserver *o[3];
} ObsCtx;
static void observe(void *ctx, int layer, const float *x, int64_t n) { qobserver_update(((ObsCtx *)ctx)->o[layer], x, n); }

static size_t weights_bytes(int bits) {
    size_t b = 0;
    for (int l = 0; l < 3; l++) b += ((size_t)wrows[l] * wcols[l] * (size_t)bits + 7) / 8 + (size_t)wrows[l] * 8;
    return b;
}

static int cnn_ptq_run_impl(const NnPtqOpts *o, NnPtqReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    if (o->from || o->save_dir)
        return qerr_set(err, "--arch cnn: loading (--from) and saving (--save-model) CNNs are not supported yet");
    if (o->threads > 0) qthreads_set(o->threads);
    NnDataset train, test;
    if (nn_dataset_load_split(&train, o->data_dir, 1, err)) return -1;
    if (nn_dataset_load_split(&test, o->data_dir, 0, err)) {
        nn_dataset_free(&train);
        return -1;
    }
    if (train.rows != 28 || train.cols != 28) {
        nn_dataset_free(&train);
        nn_dataset_free(&test);
        return qerr_set(err, "the CNN expects 28x28 images, the data has %dx%d", train.rows, train.cols);
    }
    r->n_test = test.n;
    snprintf(r->isa, sizeof r->isa, "none");
    NnCnn m;
    QRng rng;
    qrng_seed(&rng, o->train.seed);
    nn_cnn_init(&m, &rng);
    NnTrainStats st;
    nn_cnn_train(&m, &train, &o->train, &st);
    r->train_seconds = st.total_seconds;
    r->seconds_per_epoch = o->train.epochs ? st.total_seconds / o->train.epochs : 0;
    NnPtqRow *row = &r->rows[r->n_rows++];
    snprintf(row->method, sizeof row->method, "fp32 (cnn)");
    row->wbits = row->abits = 32;
    snprintf(row->granularity, sizeof row->granularity, "-");
    snprintf(row->observer, sizeof row->observer, "-");
    row->acc = nn_cnn_accuracy(&m, &test, NULL);
    row->bytes = weights_bytes(32);
    for (int bi = 0; bi <= o->n_bits; bi++) {
        int bits = bi < o->n_bits ? o->bits[bi] : 2;
        QObserverKind obs = bi < o->n_bits ? o->observer : QOBS_MSE;
        if (bi == o->n_bits && o->observer == QOBS_MSE) break;
        NnCnn q;
        quantize_weights(&m, &q, bits, 1, obs);
        row = &r->rows[r->n_rows++];
        snprintf(row->method, sizeof row->method, "weight-only sym");
        row->wbits = bits;
        row->abits = 32;
        snprintf(row->granularity, sizeof row->granularity, "channel");
        snprintf(row->observer, sizeof row->observer, "%s", qobserver_kind_name(obs));
        row->acc = nn_cnn_accuracy(&q, &test, NULL);
        row->bytes = weights_bytes(bits);
        nn_cnn_free(&q);
    }
    /* static W8A8 (fake-quant): calibrated input grids, 8-bit per-channel weights */
    ObsCtx oc;
    for (int l = 0; l < 3; l++) oc.o[l] = qobserver_new(o->observer, NULL);
    Acts a;
    acts_init(&a, 250);
    for (int64_t i = 0; i < o->calib_samples; i += 250) {
        int B = (int)(o->calib_samples - i < 250 ? o->calib_samples - i : 250);
        memcpy(a.x, train.images + i * 784, (size_t)B * 784 * sizeof(float));
        forward(&m, &a, B, NULL, observe, &oc);
    }
    acts_free(&a);
    QParams act[3];
    for (int l = 0; l < 3; l++) {
        float lo, hi;
        qobserver_range(oc.o[l], 8, 0, &lo, &hi);
        qparams_init(&act[l], 8, 0, QGRAN_TENSOR, 0, 1, 1, err);
        qparams_set_range(&act[l], 0, lo, hi);
        qobserver_free(oc.o[l]);
    }
    NnCnn q;
    quantize_weights(&m, &q, 8, 1, QOBS_MINMAX);
    row = &r->rows[r->n_rows++];
    snprintf(row->method, sizeof row->method, "static (fake-quant)");
    row->wbits = row->abits = 8;
    snprintf(row->granularity, sizeof row->granularity, "channel");
    snprintf(row->observer, sizeof row->observer, "%s", qobserver_kind_name(o->observer));
    row->acc = nn_cnn_accuracy(&q, &test, act);
    row->bytes = weights_bytes(8);
    nn_cnn_free(&q);
    for (int l = 0; l < 3; l++) qparams_free(&act[l]);
    r->agreement = -1;
    nn_cnn_free(&m);
    nn_dataset_free(&train);
    nn_dataset_free(&test);
    return 0;
}

/* ----------------------------------------------------------------- QAT */
/* y = s_row * clamp(round(w / s_row), qn, qp) for every row */
static void lsq_rows(const float *w, const float *s, int rows, int cols, int qn, int qp, float *y) {
    for (int r = 0; r < rows; r++) lsq_forward(w + (size_t)r * cols, y + (size_t)r * cols, cols, s[r], qn, qp);
}

void nn_cnn_qat_lsq(const NnCnn *m0, const NnDataset *train, int wbits, int abits, int epochs, float lr, uint64_t seed,
                    NnCnn *fq, QParams act[3], float *wscale[3]) {
    const int Bmax = 128, qn = -(1 << (wbits - 1)), qp = (1 << (wbits - 1)) - 1, aqp = (1 << abits) - 1;
    NnCnn m, wq;
    nn_cnn_copy(&m, m0);
    nn_cnn_copy(&wq, m0);
    Acts a;
    acts_init(&a, Bmax);
    const int64_t in_n[3] = {784, (int64_t)CNN_C1 * 169, CNN_FLAT};
    float *xq[3], *dxq[3], *sw[3], *gsw[3], *msw[3], *vsw[3], sa[3], gsa[3], msa[3] = {0}, vsa[3] = {0};
    float *g[CNN_NPARAM], *mo[CNN_NPARAM], *ve[CNN_NPARAM];
    for (int i = 0; i < CNN_NPARAM; i++) {
        g[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
        mo[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
        ve[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
    }
    for (int l = 0; l < 3; l++) {
        xq[l] = xmalloc((size_t)Bmax * in_n[l] * sizeof(float));
        dxq[l] = xmalloc((size_t)Bmax * in_n[l] * sizeof(float));
        sw[l] = xmalloc((size_t)wrows[l] * sizeof(float));
        gsw[l] = xcalloc((size_t)wrows[l], sizeof(float));
        msw[l] = xcalloc((size_t)wrows[l], sizeof(float));
        vsw[l] = xcalloc((size_t)wrows[l], sizeof(float));
        for (int r = 0; r < wrows[l]; r++) { /* LSQ's initial step 2<|w|>/sqrt(qp) */
            double mean = 0;
            for (int c = 0; c < wcols[l]; c++) mean += fabsf(m.p[2 * l][(size_t)r * wcols[l] + c]);
            sw[l][r] = (float)fmax(2 * mean / wcols[l] / sqrt((double)qp), 1e-6);
        }
    }
    /* input steps from the first batch's mean |x| */
    {
        int B = Bmax;
        memcpy(a.x, train->images, (size_t)B * 784 * sizeof(float));
        forward(&m, &a, B, NULL, NULL, NULL);
        const float *src[3] = {a.x, a.p1, a.p2};
        for (int l = 0; l < 3; l++) {
            double mean = 0;
            for (int64_t i = 0; i < B * in_n[l]; i++) mean += fabsf(src[l][i]);
            sa[l] = (float)fmax(2 * mean / (double)(B * in_n[l]) / sqrt((double)aqp), 1e-6);
        }
    }
    float *probs = xmalloc((size_t)Bmax * 10 * sizeof(float)), *dlog = xmalloc((size_t)Bmax * 10 * sizeof(float));
    float *dp2 = xmalloc((size_t)Bmax * CNN_FLAT * sizeof(float)), *dc2 = xmalloc((size_t)Bmax * CNN_C2 * 121 * sizeof(float));
    float *dp1 = xmalloc((size_t)Bmax * CNN_C1 * 169 * sizeof(float)), *dc1 = xmalloc((size_t)Bmax * CNN_C1 * 676 * sizeof(float));
    uint8_t *yb = xmalloc((size_t)Bmax);
    int32_t *order = xmalloc((size_t)train->n * sizeof(int32_t));
    for (int64_t i = 0; i < train->n; i++) order[i] = (int32_t)i;
    QRng rng;
    qrng_seed(&rng, seed);
    int step = 0;
    for (int ep = 0; ep < epochs; ep++) {
        double t0 = qtime_now(), loss = 0;
        int64_t hits = 0, seen = 0;
        qrng_shuffle_i32(&rng, order, train->n);
        for (int64_t i0 = 0; i0 < train->n; i0 += Bmax) {
            int B = (int)(train->n - i0 < Bmax ? train->n - i0 : Bmax);
            for (int j = 0; j < B; j++) {
                memcpy(a.x + (size_t)j * 784, train->images + (size_t)order[i0 + j] * 784, 784 * sizeof(float));
                yb[j] = train->labels[order[i0 + j]];
            }
            for (int l = 0; l < 3; l++) lsq_rows(m.p[2 * l], sw[l], wrows[l], wcols[l], qn, qp, wq.p[2 * l]);
            /* forward with quantized weights and inputs */
            lsq_forward(a.x, xq[0], (int64_t)B * 784, sa[0], 0, aqp);
            conv2d_forward(a.c1, xq[0], wq.p[0], m.p[1], a.col, B, 1, 28, 28, CNN_C1, 3);
            relu_forward(a.c1, a.c1, (int64_t)B * CNN_C1 * 676);
            maxpool2_forward(a.p1, a.a1, a.c1, B, CNN_C1, 26, 26);
            lsq_forward(a.p1, xq[1], (int64_t)B * in_n[1], sa[1], 0, aqp);
            conv2d_forward(a.c2, xq[1], wq.p[2], m.p[3], a.col, B, CNN_C1, 13, 13, CNN_C2, 3);
            relu_forward(a.c2, a.c2, (int64_t)B * CNN_C2 * 121);
            maxpool2_forward(a.p2, a.a2, a.c2, B, CNN_C2, 11, 11);
            lsq_forward(a.p2, xq[2], (int64_t)B * CNN_FLAT, sa[2], 0, aqp);
            linear_forward(a.logits, xq[2], wq.p[4], m.p[5], B, CNN_FLAT, 10);
            int correct;
            loss += softmax_xent_forward(probs, a.logits, yb, B, 10, &correct) * B;
            hits += correct;
            seen += B;
            /* backward: straight through the quantizers inside their ranges, LSQ for the steps */
            softmax_xent_backward(dlog, probs, yb, B, 10);
            linear_backward(dxq[2], g[4], g[5], dlog, xq[2], wq.p[4], B, CNN_FLAT, 10);
            gsa[2] = (float)lsq_backward(a.p2, dxq[2], dp2, (int64_t)B * CNN_FLAT, sa[2], 0, aqp);
            maxpool2_backward(dc2, dp2, a.a2, B, CNN_C2, 11, 11);
            relu_backward(dc2, dc2, a.c2, (int64_t)B * CNN_C2 * 121);
            conv2d_backward(dxq[1], g[2], g[3], dc2, xq[1], wq.p[2], a.col, a.dcol, B, CNN_C1, 13, 13, CNN_C2, 3);
            gsa[1] = (float)lsq_backward(a.p1, dxq[1], dp1, (int64_t)B * in_n[1], sa[1], 0, aqp);
            maxpool2_backward(dc1, dp1, a.a1, B, CNN_C1, 26, 26);
            relu_backward(dc1, dc1, a.c1, (int64_t)B * CNN_C1 * 676);
            conv2d_backward(NULL, g[0], g[1], dc1, xq[0], wq.p[0], a.col, a.dcol, B, 1, 28, 28, CNN_C1, 3);
            for (int l = 0; l < 3; l++)
                for (int r = 0; r < wrows[l]; r++) {
                    float *gr = g[2 * l] + (size_t)r * wcols[l];
                    gsw[l][r] = (float)lsq_backward(m.p[2 * l] + (size_t)r * wcols[l], gr, gr, wcols[l], sw[l][r], qn, qp);
                }
            step++;
            for (int i = 0; i < CNN_NPARAM; i++) adam_update(m.p[i], g[i], mo[i], ve[i], nn_cnn_param_size[i], lr, step);
            for (int l = 0; l < 3; l++) {
                adam_update(sw[l], gsw[l], msw[l], vsw[l], wrows[l], lr, step);
                for (int r = 0; r < wrows[l]; r++) sw[l][r] = fmaxf(sw[l][r], 1e-8f);
                if (l > 0) adam_update(&sa[l], &gsa[l], &msa[l], &vsa[l], 1, lr, step); /* the image grid stays */
                sa[l] = fmaxf(sa[l], 1e-8f);
            }
        }
        qlog("cnn qat lsq W%dA%d epoch %d/%d  loss %.4f  train acc %.2f%%  %.2fs", wbits, abits, ep + 1, epochs,
             loss / (double)seen, 100.0 * (double)hits / (double)seen, qtime_now() - t0);
    }
    nn_cnn_copy(fq, &m);
    for (int l = 0; l < 3; l++) {
        lsq_rows(m.p[2 * l], sw[l], wrows[l], wcols[l], qn, qp, fq->p[2 * l]);
        QErr e;
        qparams_init(&act[l], abits, 0, QGRAN_TENSOR, 0, 1, 1, &e);
        act[l].scale[0] = sa[l];
        act[l].zero[0] = act[l].qmin; /* the unsigned grid [0, aqp] * s as signed codes */
        free(xq[l]);
        free(dxq[l]);
        wscale[l] = sw[l];
        free(gsw[l]);
        free(msw[l]);
        free(vsw[l]);
    }
    for (int i = 0; i < CNN_NPARAM; i++) {
        free(g[i]);
        free(mo[i]);
        free(ve[i]);
    }
    free(probs);
    free(dlog);
    free(dp2);
    free(dc2);
    free(dp1);
    free(dc1);
    free(yb);
    free(order);
    acts_free(&a);
    nn_cnn_free(&m);
    nn_cnn_free(&wq);
}

/* Fake-quant accuracy of fq (quantized weights, act grids) and, with 8-bit activations, the
 * integer CNN converted from master (whose weights quantize to fq's) and their agreement. */
static int cnn_measure(NnQatRow *row, const NnCnn *master, const NnCnn *fq, const QParams act[3], int wbits,
                       float *const wscale[3], const NnDataset *test, QErr *err) {
    uint8_t *p1 = xmalloc((size_t)test->n), *p2 = xmalloc((size_t)test->n);
    row->acc_fq = nn_cnn_accuracy_pred(fq, test, act, p1);
    row->acc_int = row->agreement = -1;
    int rc = 0;
    if (act[0].bits == 8) {
        /* the float simulation of exactly the converted model: biases as the integer model holds
         * them, round(b / (s_in s_w)) s_in s_w, as ptq-nn's W8A8 simulation does */
        NnCnn sim;
        nn_cnn_copy(&sim, fq);
        const int qp = (1 << (wbits - 1)) - 1;
        for (int l = 0; l < 3; l++)
            for (int n = 0; n < wrows[l]; n++) {
                float sw = 0;
                if (wscale && wscale[l]) {
                    sw = wscale[l][n];
                } else {
                    for (int k = 0; k < wcols[l]; k++) sw = fmaxf(sw, fabsf(master->p[2 * l][(size_t)n * wcols[l] + k]));
                    sw = sw > 0 ? sw / qp : 1.0f;
                }
                double sb = (double)act[l].scale[0] * sw;
                sim.p[2 * l + 1][n] = (float)(nearbyint(master->p[2 * l + 1][n] / sb) * sb);
            }
        row->acc_fq = nn_cnn_accuracy_pred(&sim, test, act, p1);
        nn_cnn_free(&sim);
        NnCnnQ q;
        rc = nn_cnn_convert(master, act, wbits, wscale, &q, err);
        if (rc == 0) {
            row->acc_int = nn_cnn_q_accuracy(&q, test, p2);
            int64_t same = 0;
            for (int64_t i = 0; i < test->n; i++) same += p1[i] == p2[i];
            row->agreement = (double)same / (double)test->n;
            nn_cnn_q_free(&q);
        }
    }
    free(p1);
    free(p2);
    return rc;
}

static int cnn_qat_run_impl(const NnQatRunOpts *o, NnQatReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    if (o->from || o->save_dir) return qerr_set(err, "--arch cnn: --from and --save-model are not supported for the CNN yet");
    if (!(o->methods & 2)) return qerr_set(err, "--arch cnn: only the LSQ method is built for the CNN");
    if (o->threads > 0) qthreads_set(o->threads);
    NnDataset train, test;
    if (nn_dataset_load_split(&train, o->data_dir, 1, err)) return -1;
    if (nn_dataset_load_split(&test, o->data_dir, 0, err)) {
        nn_dataset_free(&train);
        return -1;
    }
    r->n_test = test.n;
    NnCnn m;
    QRng rng;
    qrng_seed(&rng, o->seed);
    nn_cnn_init(&m, &rng);
    NnTrainOpts to;
    nn_cnn_train_opts_default(&to);
    to.seed = o->seed;
    NnTrainStats st;
    qlog("training the fp32 CNN (%d epochs)", to.epochs);
    nn_cnn_train(&m, &train, &to, &st);
    NnQatRow *row = &r->rows[r->n_rows++];
    snprintf(row->method, sizeof row->method, "fp32 (cnn)");
    row->wbits = row->abits = 32;
    row->acc_fq = nn_cnn_accuracy(&m, &test, NULL);
    row->acc_int = row->agreement = -1;
    row->packed_bytes = weights_bytes(32);
    row->seconds = st.total_seconds;
    NnCnn ft;
    nn_cnn_copy(&ft, &m);
    nn_train_opts_default(&to); /* the control fine-tunes the folded model on pixels, constant lr */
    to.epochs = o->epochs;
    to.lr = o->lr;
    to.seed = o->seed + 1;
    to.verbose = 0;
    double t0 = qtime_now();
    nn_cnn_train(&ft, &train, &to, &st);
    row = &r->rows[r->n_rows++];
    snprintf(row->method, sizeof row->method, "fp32 fine-tuned");
    row->wbits = row->abits = 32;
    row->acc_fq = nn_cnn_accuracy(&ft, &test, NULL);
    row->acc_int = row->agreement = -1;
    row->packed_bytes = weights_bytes(32);
    row->seconds = qtime_now() - t0;
    nn_cnn_free(&ft);
    for (int bi = 0; bi < o->n_wbits; bi++)
        for (int ai = 0; ai < o->n_abits; ai++) {
            int wb = o->wbits[bi], ab = o->abits[ai];
            /* PTQ: per-channel min-max weights, min-max calibrated inputs */
            t0 = qtime_now();
            NnCnn q;
            quantize_weights(&m, &q, wb, 1, QOBS_MINMAX);
            ObsCtx oc;
            for (int l = 0; l < 3; l++) oc.o[l] = qobserver_new(QOBS_MINMAX, NULL);
            Acts a;
            acts_init(&a, 250);
            for (int64_t i = 0; i < o->calib_samples; i += 250) {
                int B = (int)(o->calib_samples - i < 250 ? o->calib_samples - i : 250);
                memcpy(a.x, train.images + i * 784, (size_t)B * 784 * sizeof(float));
                forward(&m, &a, B, NULL, observe, &oc);
            }
            acts_free(&a);
            QParams act[3];
            for (int l = 0; l < 3; l++) {
                float lo, hi;
                qobserver_range(oc.o[l], ab, 0, &lo, &hi);
                qparams_init(&act[l], ab, 0, QGRAN_TENSOR, 0, 1, 1, err);
                qparams_set_range(&act[l], 0, lo, hi);
                qobserver_free(oc.o[l]);
            }
            row = &r->rows[r->n_rows++];
            snprintf(row->method, sizeof row->method, "PTQ");
            row->wbits = wb;
            row->abits = ab;
            if (cnn_measure(row, &m, &q, act, wb, NULL, &test, err)) return -1;
            row->packed_bytes = weights_bytes(wb);
            row->seconds = qtime_now() - t0;
            nn_cnn_free(&q);
            for (int l = 0; l < 3; l++) qparams_free(&act[l]);
            /* QAT with learned step sizes */
            t0 = qtime_now();
            float *sw[3];
            nn_cnn_qat_lsq(&m, &train, wb, ab, o->epochs, o->lr, o->seed + 1, &q, act, sw);
            row = &r->rows[r->n_rows++];
            snprintf(row->method, sizeof row->method, "QAT LSQ");
            row->wbits = wb;
            row->abits = ab;
            /* q's weights sit on their grids already: converting them with the learned steps recovers the codes */
            int mrc = cnn_measure(row, &q, &q, act, wb, sw, &test, err);
            for (int l = 0; l < 3; l++) free(sw[l]);
            if (mrc) return -1;
            row->packed_bytes = weights_bytes(wb);
            row->seconds = qtime_now() - t0;
            nn_cnn_free(&q);
            for (int l = 0; l < 3; l++) qparams_free(&act[l]);
        }
    nn_cnn_free(&m);
    nn_dataset_free(&train);
    nn_dataset_free(&test);
    return 0;
}

/* ------------------------------------------------------------ integer CNN */
double nn_cnn_accuracy_pred(const NnCnn *m, const NnDataset *d, const QParams *act, uint8_t *pred) {
    const int bs = 250;
    Acts a;
    acts_init(&a, bs);
    int64_t hits = 0;
    for (int64_t i = 0; i < d->n; i += bs) {
        int B = (int)(d->n - i < bs ? d->n - i : bs);
        memcpy(a.x, d->images + i * 784, (size_t)B * 784 * sizeof(float));
        forward(m, &a, B, act, NULL, NULL);
        for (int j = 0; j < B; j++) {
            int c = argmax_f32(a.logits + (size_t)j * 10, 10);
            hits += c == d->labels[i + j];
            if (pred) pred[i + j] = (uint8_t)c;
        }
    }
    acts_free(&a);
    return (double)hits / (double)d->n;
}

int nn_cnn_convert(const NnCnn *m, const QParams act[3], int wbits, float *const wscale[3], NnCnnQ *q, QErr *err) {
    memset(q, 0, sizeof *q);
    const int qn = -(1 << (wbits - 1)), qp = (1 << (wbits - 1)) - 1;
    for (int l = 0; l < 3; l++) {
        if (act[l].bits != 8) return qerr_set(err, "the integer CNN needs 8-bit activations");
        q->act_scale[l] = act[l].scale[0];
        q->act_zero[l] = act[l].zero[0];
    }
    for (int l = 0; l < 3; l++) {
        int N = wrows[l], K = wcols[l];
        const float *w = m->p[2 * l], *b = m->p[2 * l + 1];
        int8_t *codes = xmalloc((size_t)N * K);
        float *s = xmalloc((size_t)N * sizeof(float));
        for (int n = 0; n < N; n++) {
            if (wscale && wscale[l]) {
                s[n] = wscale[l][n];
            } else {
                float amax = 0;
                for (int k = 0; k < K; k++) amax = fmaxf(amax, fabsf(w[(size_t)n * K + k]));
                s[n] = amax > 0 ? amax / qp : 1.0f;
            }
            for (int k = 0; k < K; k++) {
                /* the linear layer's inputs arrive as (h, w, c): permute its (c, h, w) columns */
                int src = l == 2 ? (k % CNN_C2) * 25 + k / CNN_C2 : k;
                codes[(size_t)n * K + k] =
                    (int8_t)nearbyintf(fminf(fmaxf(w[(size_t)n * K + src] / s[n], (float)qn), (float)qp));
            }
        }
        q->w[l] = kern_s8_weights_pack(codes, N, K, kern_isa_best());
        q->bias[l] = xmalloc((size_t)N * sizeof(int32_t));
        if (l < 2) {
            q->mult[l] = xmalloc((size_t)N * sizeof(int32_t));
            q->shift[l] = xmalloc((size_t)N * sizeof(int32_t));
        }
        for (int n = 0; n < N; n++) {
            double sb = (double)q->act_scale[l] * s[n];
            q->bias[l][n] = (int32_t)fmax(fmin(nearbyint(b[n] / sb), 2147483647.0), -2147483648.0);
            if (l < 2) kern_quantize_multiplier(sb / q->act_scale[l + 1], &q->mult[l][n], &q->shift[l][n]);
            else q->wscale3[n] = s[n];
        }
        free(codes);
        free(s);
    }
    return 0;
}

void nn_cnn_q_free(NnCnnQ *q) {
    for (int l = 0; l < 3; l++) {
        kern_s8_weights_free(q->w[l]);
        free(q->bias[l]);
    }
    for (int l = 0; l < 2; l++) {
        free(q->mult[l]);
        free(q->shift[l]);
    }
    memset(q, 0, sizeof *q);
}

/* rows[P, C*K*K] of an int8 image x[H, W, C] (channels last), columns ordered (c, ki, kj) */
static void im2row_s8(int8_t *rows, const int8_t *x, int H, int W, int C, int K) {
    const int OH = H - K + 1, OW = W - K + 1, CKK = C * K * K;
    for (int i = 0; i < OH; i++)
        for (int j = 0; j < OW; j++) {
            int8_t *r = rows + (size_t)(i * OW + j) * CKK;
            for (int c = 0; c < C; c++)
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) r[(c * K + ki) * K + kj] = x[((size_t)(i + ki) * W + j + kj) * C + c];
        }
}

/* 2x2 max-pool of int8 x[H, W, C] into y[H/2, W/2, C] */
static void maxpool2_s8(int8_t *y, const int8_t *x, int H, int W, int C) {
    for (int i = 0; i < H / 2; i++)
        for (int j = 0; j < W / 2; j++)
            for (int c = 0; c < C; c++) {
                int8_t m = x[((size_t)(2 * i) * W + 2 * j) * C + c];
                int8_t v[3] = {x[((size_t)(2 * i) * W + 2 * j + 1) * C + c], x[((size_t)(2 * i + 1) * W + 2 * j) * C + c],
                               x[((size_t)(2 * i + 1) * W + 2 * j + 1) * C + c]};
                for (int k = 0; k < 3; k++) m = v[k] > m ? v[k] : m;
                y[((size_t)i * (W / 2) + j) * C + c] = m;
            }
}

double nn_cnn_q_accuracy(const NnCnnQ *q, const NnDataset *d, uint8_t *pred) {
    int8_t x[784], rows1[676 * 9], c1[676 * CNN_C1], p1[169 * CNN_C1], rows2[121 * 144], c2[121 * CNN_C2], p2[CNN_FLAT];
    int32_t acc[10];
    int64_t hits = 0;
    for (int64_t i = 0; i < d->n; i++) {
        kern_quantize_f32_s8(784, d->images + i * 784, q->act_scale[0], q->act_zero[0], -128, 127, x, kern_isa_best());
        im2row_s8(rows1, x, 28, 28, 1, 3);
        KernRequant r1 = {q->mult[0], q->shift[0], q->act_zero[1], q->act_zero[1], 127};
        kern_qlinear_s8(676, rows1, q->act_zero[0], q->w[0], q->bias[0], &r1, c1);
        maxpool2_s8(p1, c1, 26, 26, CNN_C1);
        im2row_s8(rows2, p1, 13, 13, CNN_C1, 3);
        KernRequant r2 = {q->mult[1], q->shift[1], q->act_zero[2], q->act_zero[2], 127};
        kern_qlinear_s8(121, rows2, q->act_zero[1], q->w[1], q->bias[1], &r2, c2);
        maxpool2_s8(p2, c2, 11, 11, CNN_C2);
        kern_qlinear_s8_acc(1, p2, q->act_zero[2], q->w[2], q->bias[2], acc);
        int best = 0;
        float bv = -INFINITY;
        for (int c = 0; c < 10; c++) {
            float v = (float)acc[c] * q->act_scale[2] * q->wscale3[c];
            if (v > bv) bv = v, best = c;
        }
        hits += best == d->labels[i];
        if (pred) pred[i] = (uint8_t)best;
    }
    return (double)hits / (double)d->n;
}

/* The jobs: convolutions spread images over the OpenMP threads, so BLAS stays single-threaded
 * for their duration. */
int nn_cnn_ptq_run(const NnPtqOpts *o, NnPtqReport *r, QErr *err) {
    if (o->threads > 0) qthreads_set(o->threads);
    int old = qblas_threads_swap(1);
    int rc = cnn_ptq_run_impl(o, r, err);
    qblas_threads_swap(old);
    return rc;
}

int nn_cnn_qat_run(const NnQatRunOpts *o, NnQatReport *r, QErr *err) {
    if (o->threads > 0) qthreads_set(o->threads);
    int old = qblas_threads_swap(1);
    int rc = cnn_qat_run_impl(o, r, err);
    qblas_threads_swap(old);
    return rc;
}
