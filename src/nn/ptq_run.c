/* ptq_run.c — the ptq-nn job (nn_experiment.h). */
#include "quant/nn_experiment.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/nn_file.h"
#include "quant/qerror.h"

void nn_ptq_opts_default(NnPtqOpts *o) {
    memset(o, 0, sizeof *o);
    o->data_dir = NN_FASHION_DEFAULT_DIR;
    o->hidden[0] = 256;
    o->hidden[1] = 128;
    o->n_hidden = 2;
    nn_train_opts_default(&o->train);
    o->calib_samples = 1000;
    o->bits[0] = 8;
    o->bits[1] = 4;
    o->bits[2] = 2;
    o->n_bits = 3;
    o->observer = QOBS_MINMAX;
    o->threads = 0;
    o->bench = 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median batch-1 latency (ms) and batch-256 throughput (images/s) of a forward function. */
typedef void (*ForwardFn)(void *ctx, const float *x, int B);
static void measure(ForwardFn f, void *ctx, const NnDataset *d, double *lat_ms, double *thr) {
    enum { REPS = 301 };
    double t[REPS];
    for (int i = 0; i < 20; i++) f(ctx, d->images + (size_t)i * 784, 1); /* warm-up */
    for (int i = 0; i < REPS; i++) {
        double t0 = qtime_now();
        f(ctx, d->images + (size_t)(i % d->n) * 784, 1);
        t[i] = qtime_now() - t0;
    }
    qsort(t, REPS, sizeof t[0], cmp_double);
    *lat_ms = t[REPS / 2] * 1e3;
    int64_t nb = d->n / 256 < 20 ? d->n / 256 : 20;
    if (nb < 1) {
        *thr = 0;
        return;
    }
    f(ctx, d->images, 256);
    double t0 = qtime_now();
    for (int64_t b = 0; b < nb; b++) f(ctx, d->images + (size_t)b * 256 * 784, 256);
    *thr = (double)nb * 256 / (qtime_now() - t0);
}

typedef struct FpCtx {
    const NnModel *m;
    NnWorkspace ws;
} FpCtx;
static void fp_forward(void *ctx, const float *x, int B) {
    FpCtx *c = ctx;
    nn_model_forward(c->m, &c->ws, x, B, NULL, NULL, NULL);
}
typedef struct QCtx {
    const NnQModel *q;
    NnQWorkspace ws;
    uint8_t pred[256];
} QCtx;
static void q_forward(void *ctx, const float *x, int B) {
    QCtx *c = ctx;
    nn_qmodel_forward(c->q, &c->ws, x, B, c->pred, NULL);
}

NnPtqRow *nn_ptq_report_add(NnPtqReport *r, int wbits, int abits, const char *granularity, const char *observer,
                            const char *method_fmt, ...) {
    if (r->n_rows >= (int)(sizeof r->rows / sizeof r->rows[0])) {
        fprintf(stderr, "nn_ptq_report_add: more than %d rows\n", r->n_rows);
        abort();
    }
    NnPtqRow *row = &r->rows[r->n_rows++];
    memset(row, 0, sizeof *row);
    va_list ap;
    va_start(ap, method_fmt);
    vsnprintf(row->method, sizeof row->method, method_fmt, ap);
    va_end(ap);
    row->wbits = wbits;
    row->abits = abits;
    snprintf(row->granularity, sizeof row->granularity, "%s", granularity);
    snprintf(row->observer, sizeof row->observer, "%s", observer);
    return row;
}

void nn_ptq_report_training(NnPtqReport *r, const NnTrainStats *st, int epochs) {
    r->train_seconds = st->total_seconds;
    r->seconds_per_epoch = epochs ? st->total_seconds / epochs : 0;
    r->fp32_train_loss = st->loss;
}

static const char *gran_name(QGranularity g, int64_t group, char *buf, size_t n) {
    if (g == QGRAN_GROUP) snprintf(buf, n, "group %lld", (long long)group);
    else snprintf(buf, n, "%s", g == QGRAN_TENSOR ? "tensor" : "channel");
    return buf;
}

static int save_path(const NnPtqOpts *o, const char *name, char *path, size_t n) {
    if (!o->save_dir) return 0;
    snprintf(path, n, "%s/%s", o->save_dir, name);
    return 1;
}

int nn_ptq_run(const NnPtqOpts *o, NnPtqReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    if (o->threads > 0) qthreads_set(o->threads);
    NnDataset train, test;
    if (nn_dataset_load_split(&train, o->data_dir, 1, err)) return -1;
    if (nn_dataset_load_split(&test, o->data_dir, 0, err)) {
        nn_dataset_free(&train);
        return -1;
    }
    if (o->train_samples > 0 && o->train_samples < train.n) train.n = o->train_samples;
    r->n_test = test.n;
    int rc = -1;
    NnModel m = {0};
    char path[4096];
    if (o->save_dir && qmkdir_p(o->save_dir, err)) goto out_data;
    NnTrainStats st;
    if (nn_model_prepare(&m, o->from, &train, o->hidden, o->n_hidden, &o->train, &st, err)) goto out_data;
    if (!o->from) nn_ptq_report_training(r, &st, o->train.epochs);
    for (int l = 0; l < m.n_layers; l++) r->n_weights += (int64_t)m.dims[l] * m.dims[l + 1];
    /* the first layer's weights, for the histogram before / after quantization */
    NnWeightHist *wh = &r->whist;
    wh->layer = 0;
    wh->in = m.dims[0];
    wh->out = m.dims[1];
    {
        int64_t nw = (int64_t)wh->in * wh->out;
        float amax = 0;
        for (int64_t i = 0; i < nw; i++) amax = fmaxf(amax, fabsf(m.w[0][i]));
        wh->lo = -amax;
        wh->hi = amax;
        qhistogram(m.w[0], nw, wh->lo, wh->hi, NN_HIST_BINS, wh->counts);
    }
    NnPtqRow *row = nn_ptq_report_add(r, 32, 32, "-", "-", "fp32");
    row->acc = nn_model_accuracy(&m, &test, NULL, NULL);
    row->bytes = nn_file_size_fp32(&m);
    if (save_path(o, "mlp-fp32.qnn", path, sizeof path)) {
        if (nn_save_fp32(path, &m, &row->bytes, err)) goto out_model;
        snprintf(row->file, sizeof row->file, "mlp-fp32.qnn");
    }
    double fp_lat = 0, fp_thr = 0;
    if (o->bench) {
        FpCtx c = {&m, {0}};
        nn_workspace_init(&c.ws, &m, 256);
        measure(fp_forward, &c, &test, &fp_lat, &fp_thr);
        nn_workspace_free(&c.ws);
    }
    row->lat_b1_ms = fp_lat;
    row->thr_b256 = fp_thr;

    /* weight-only: each bit width x {tensor, channel[, group]} x {symmetric, affine} with the
     * chosen observer; then 2 bits per channel with every other observer */
    QGranularity grans[3] = {QGRAN_TENSOR, QGRAN_CHANNEL, QGRAN_GROUP};
    int ngran = o->group_size > 0 ? 3 : 2;
    int nvar = 0;
    NnWeightQuant schemes[64];
    for (int bi = 0; bi < o->n_bits; bi++)
        for (int g = 0; g < ngran; g++)
            for (int sym = 1; sym >= 0; sym--) {
                NnWeightQuant s = {o->bits[bi], sym, grans[g], grans[g] == QGRAN_GROUP ? o->group_size : 0, o->observer};
                schemes[nvar++] = s;
            }
    for (int k = 0; k < 5; k++) {
        if (k == (int)o->observer || k == QOBS_MOVING_AVG) continue;
        NnWeightQuant s = {2, 1, QGRAN_CHANNEL, 0, (QObserverKind)k};
        schemes[nvar++] = s;
    }
    for (int v = 0; v < nvar; v++) {
        NnQuantWeights q;
        if (nn_quantize_weights(&m, &schemes[v], &q, err)) goto out_model;
        char gran[24];
        row = nn_ptq_report_add(r, schemes[v].bits, 32, gran_name(schemes[v].gran, schemes[v].group_size, gran, sizeof gran),
                                qobserver_kind_name(schemes[v].observer), "weight-only %s",
                                schemes[v].symmetric ? "sym" : "affine");
        row->acc = nn_model_accuracy(&q.deq, &test, NULL, NULL);
        if (schemes[v].gran == QGRAN_TENSOR && schemes[v].symmetric && schemes[v].observer == o->observer && wh->n_q < 8 &&
            q.p[0].qmax - q.p[0].qmin < 256) {
            /* after quantization every weight sits on a level: count them per code */
            wh->q[wh->n_q].bits = schemes[v].bits;
            wh->q[wh->n_q].qmin = q.p[0].qmin;
            wh->q[wh->n_q].qmax = q.p[0].qmax;
            wh->q[wh->n_q].scale = q.p[0].scale[0];
            int64_t *c = wh->q[wh->n_q].counts, nw = (int64_t)wh->in * wh->out;
            for (int64_t i = 0; i < nw; i++) c[q.codes[0][i] - q.p[0].qmin]++;
            wh->n_q++;
        }
        row->bytes = nn_file_size_weight_only(&q);
        row->lat_b1_ms = fp_lat; /* runs as fp32 after dequantization */
        row->thr_b256 = fp_thr;
        char name[64];
        snprintf(name, sizeof name, "mlp-w%d-%s-%s%s.qnn", schemes[v].bits,
                 schemes[v].gran == QGRAN_TENSOR ? "tensor" : schemes[v].gran == QGRAN_CHANNEL ? "channel" : "group",
                 schemes[v].symmetric ? "sym" : "affine",
                 schemes[v].observer == o->observer ? "" : qobserver_kind_name(schemes[v].observer));
        if (schemes[v].observer != o->observer) {
            /* mlp-w2-channel-sym-mse.qnn */
            snprintf(name, sizeof name, "mlp-w%d-channel-sym-%s.qnn", schemes[v].bits,
                     qobserver_kind_name(schemes[v].observer));
        }
        if (save_path(o, name, path, sizeof path)) {
            if (nn_save_weight_only(path, &q, &row->bytes, err)) {
                nn_quant_weights_free(&q);
                goto out_model;
            }
            snprintf(row->file, sizeof row->file, "%s", name);
        }
        nn_quant_weights_free(&q);
    }

    /* static W8A8: calibrate, convert, simulate, run in integers */
    QParams act[NN_MAX_LAYERS];
    memset(act, 0, sizeof act);
    if (nn_calibrate_activations(&m, &train, o->calib_samples, o->observer, 8, act, err)) goto out_model;
    NnQModel qm;
    if (nn_qmodel_convert(&m, act, &qm, err)) goto out_act;
    KernIsa isa = kern_isa_best();
    snprintf(r->isa, sizeof r->isa, "%s", kern_isa_name(isa));
    nn_qmodel_pack(&qm, isa);
    NnModel sim;
    nn_w8a8_simulation(&qm, &sim);
    NnActQuant aq;
    memset(&aq, 0, sizeof aq);
    for (int l = 0; l < m.n_layers; l++) aq.act[l] = &act[l];
    uint8_t *p_sim = xmalloc((size_t)test.n), *p_int = xmalloc((size_t)test.n);
    row = nn_ptq_report_add(r, 8, 8, "channel", qobserver_kind_name(o->observer), "static (fake-quant)");
    row->acc = nn_model_accuracy(&sim, &test, &aq, p_sim);
    row->bytes = nn_file_size_int8(&qm);
    row->lat_b1_ms = fp_lat;
    row->thr_b256 = fp_thr;
    NnPtqRow *srow = row;
    row = &r->rows[r->n_rows++];
    *row = *srow;
    snprintf(row->method, sizeof row->method, "static (integer)");
    row->acc = nn_qmodel_accuracy(&qm, &test, p_int);
    int64_t agree = 0;
    for (int64_t i = 0; i < test.n; i++) agree += p_sim[i] == p_int[i];
    r->agreement = (double)agree / (double)test.n;
    if (o->bench) {
        QCtx c = {&qm, {0}, {0}};
        nn_qworkspace_init(&c.ws, &qm, 256);
        measure(q_forward, &c, &test, &row->lat_b1_ms, &row->thr_b256);
        nn_qworkspace_free(&c.ws);
    }
    if (save_path(o, "mlp-w8a8.qnn", path, sizeof path)) {
        if (nn_save_int8(path, &qm, &row->bytes, err)) goto out_all;
        snprintf(row->file, sizeof row->file, "mlp-w8a8.qnn");
        srow->bytes = row->bytes;
    }
    rc = 0;
out_all:
    free(p_sim);
    free(p_int);
    nn_model_free(&sim);
    nn_qmodel_free(&qm);
out_act:
    for (int l = 0; l < NN_MAX_LAYERS; l++)
        if (act[l].scale) qparams_free(&act[l]);
out_model:
    nn_model_free(&m);
out_data:
    nn_dataset_free(&train);
    nn_dataset_free(&test);
    return rc;
}
