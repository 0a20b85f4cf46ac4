/* cnn.c — the small CNN: forward, backward, Adam training with input normalization folded into
 * conv1, evaluation, calibration of the input grids (nn_cnn.h). */
#include "quant/nn_cnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_internal.h"
#include "quant/fakequant.h"
#include "quant/nn_conv.h"
#include "quant/nn_file.h"
#include "quant/nn_layers.h"
#include "quant/observer.h"

const int64_t nn_cnn_param_size[CNN_NPARAM] = {CNN_C1 * 9, CNN_C1, CNN_C2 * CNN_C1 * 9, CNN_C2, 10 * CNN_FLAT, 10};
const int nn_cnn_wrows[3] = {CNN_C1, CNN_C2, CNN_CLASSES}, nn_cnn_wcols[3] = {9, CNN_C1 * 9, CNN_FLAT};
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

void cnn_acts_init(Acts *a, int B) {
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

void cnn_scratch_init(CnnScratch *s, int B, int64_t n) {
    s->probs = xmalloc((size_t)B * 10 * sizeof(float));
    s->dlog = xmalloc((size_t)B * 10 * sizeof(float));
    s->dp2 = xmalloc((size_t)B * CNN_FLAT * sizeof(float));
    s->dc2 = xmalloc((size_t)B * CNN_C2 * 121 * sizeof(float));
    s->dp1 = xmalloc((size_t)B * CNN_C1 * 169 * sizeof(float));
    s->dc1 = xmalloc((size_t)B * CNN_C1 * 676 * sizeof(float));
    s->yb = xmalloc((size_t)B);
    s->order = xmalloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) s->order[i] = (int32_t)i;
}

void cnn_batch_gather(Acts *a, uint8_t *yb, const NnDataset *d, const int32_t *idx, int B) {
    for (int j = 0; j < B; j++) {
        memcpy(a->x + (size_t)j * 784, d->images + (size_t)idx[j] * 784, 784 * sizeof(float));
        yb[j] = d->labels[idx[j]];
    }
}

void cnn_scratch_free(CnnScratch *s) {
    free(s->probs);
    free(s->dlog);
    free(s->dp2);
    free(s->dc2);
    free(s->dp1);
    free(s->dc1);
    free(s->yb);
    free(s->order);
}

void cnn_acts_free(Acts *a) {
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

double nn_cnn_accuracy_pred(const NnCnn *m, const NnDataset *d, const QParams *act, uint8_t *pred) {
    const int bs = 250;
    /* images spread over the threads, BLAS single-threaded inside: the same arithmetic for
     * every caller (a saved model evaluates exactly as it did before saving) */
    int old_blas = qblas_threads_swap(1);
    Acts a;
    cnn_acts_init(&a, bs);
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
    cnn_acts_free(&a);
    qblas_threads_swap(old_blas);
    return d->n ? (double)hits / (double)d->n : 0;
}

double nn_cnn_accuracy(const NnCnn *m, const NnDataset *d, const QParams *act) {
    return nn_cnn_accuracy_pred(m, d, act, NULL);
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
    cnn_acts_init(&a, Bmax);
    float *g[CNN_NPARAM], *mo[CNN_NPARAM], *ve[CNN_NPARAM];
    for (int i = 0; i < CNN_NPARAM; i++) {
        g[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
        mo[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
        ve[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
    }
    CnnScratch sc;
    cnn_scratch_init(&sc, Bmax, train->n);
    float *probs = sc.probs, *dlog = sc.dlog, *dp2 = sc.dp2, *dc2 = sc.dc2, *dp1 = sc.dp1, *dc1 = sc.dc1;
    uint8_t *yb = sc.yb;
    int32_t *order = sc.order;
    QRng rng;
    qrng_seed(&rng, o->seed);
    QProgress prog;
    qprogress_init(&prog);
    memset(st, 0, sizeof *st);
    nn_curve_init(&st->curve, o->epochs);
    const int64_t nbpe = (train->n + Bmax - 1) / Bmax;
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
            cnn_batch_gather(&a, yb, train, order + i0, B);
            if (o->normalize)
                for (int64_t k = 0; k < (int64_t)B * 784; k++) a.x[k] = (a.x[k] - mean) * rstd;
            forward(m, &a, B, NULL, NULL, NULL);
            int correct;
            double bl = softmax_xent_forward(probs, a.logits, yb, B, 10, &correct) * B;
            loss += bl;
            hits += correct;
            seen += B;
            nn_curve_batch(&st->curve, i0 / Bmax, nbpe, bl, correct, B);
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
            if ((step & 15) == 0) {
                qprogress_frac(&prog, (ep + (double)(i0 + B) / (double)train->n) / o->epochs);
                qprogress_update(&prog, "cnn epoch %d/%d  %5.1f%%  loss %.4f", ep + 1, o->epochs,
                                 100.0 * (double)(i0 + B) / (double)train->n, loss / (double)seen);
            }
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
    cnn_scratch_free(&sc);
    cnn_acts_free(&a);
}

/* ----------------------------------------------------------- calibration */
typedef struct ObsCtx {
    QObserver *o[3];
} ObsCtx;
static void observe(void *ctx, int layer, const float *x, int64_t n) { qobserver_update(((ObsCtx *)ctx)->o[layer], x, n); }

int nn_cnn_calibrate(const NnCnn *m, const NnDataset *d, int64_t n, QObserverKind kind, int abits, QParams act[3],
                     QErr *err) {
    memset(act, 0, 3 * sizeof *act);
    if (n < 1 || n > d->n)
        return qerr_set(err, "calibration samples must be in 1..%lld, got %lld", (long long)d->n, (long long)n);
    int old_blas = qblas_threads_swap(1);
    ObsCtx oc;
    for (int l = 0; l < 3; l++) oc.o[l] = qobserver_new(kind, NULL);
    Acts a;
    cnn_acts_init(&a, 250);
    for (int64_t i = 0; i < n; i += 250) {
        int B = (int)(n - i < 250 ? n - i : 250);
        memcpy(a.x, d->images + i * 784, (size_t)B * 784 * sizeof(float));
        forward(m, &a, B, NULL, observe, &oc);
    }
    cnn_acts_free(&a);
    qblas_threads_swap(old_blas);
    int rc = 0;
    for (int l = 0; l < 3; l++) {
        float lo, hi;
        qobserver_range(oc.o[l], abits, 0, &lo, &hi);
        if (rc == 0 && qparams_init(&act[l], abits, 0, QGRAN_TENSOR, 0, 1, 1, err) == 0) qparams_set_range(&act[l], 0, lo, hi);
        else rc = -1;
        qobserver_free(oc.o[l]);
    }
    if (rc)
        for (int l = 0; l < 3; l++)
            if (act[l].scale) qparams_free(&act[l]);
    return rc;
}

/* ------------------------------------------------------------ the start */
int nn_cnn_prepare(NnCnn *m, const char *from, const NnDataset *train, const NnTrainOpts *to, NnTrainStats *st,
                   QErr *err) {
    memset(m, 0, sizeof *m);
    if (st) memset(st, 0, sizeof *st);
    if (train->rows != CNN_IMAGE || train->cols != CNN_IMAGE)
        return qerr_set(err, "the CNN expects %dx%d images, the data has %dx%d", CNN_IMAGE, CNN_IMAGE, train->rows,
                        train->cols);
    if (from) {
        NnLoaded ld;
        if (nn_load(from, &ld, err)) return -1;
        if (ld.kind != NN_FILE_CNN_FP32) {
            qerr_set(err, "%s: an fp32 CNN is needed (cnn-fp32.qnn from ptq-nn --arch cnn --save-model), this file holds %s",
                     from, nn_file_kind_name(ld.kind));
            nn_loaded_free(&ld);
            return -1;
        }
        *m = ld.cnn;
        memset(&ld.cnn, 0, sizeof ld.cnn);
        nn_loaded_free(&ld);
        return 0;
    }
    QRng rng;
    qrng_seed(&rng, to->seed);
    nn_cnn_init(m, &rng);
    NnTrainStats local;
    nn_cnn_train(m, train, to, st ? st : &local);
    return 0;
}
