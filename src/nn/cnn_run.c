/* cnn_run.c — the ptq-nn and qat jobs for the CNN (nn_cnn.h). The convolutions spread images
 * over the OpenMP threads, so BLAS stays single-threaded for the jobs' duration. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/nn_cnn.h"
#include "quant/nn_file.h"
#include "quant/observer.h"
#include "quant/qerror.h"

/* weights packed at their bit width, a float scale and a float (or int32) bias per row */
static size_t weights_bytes(int bits) {
    size_t b = 0;
    for (int l = 0; l < 3; l++)
        b += ((size_t)nn_cnn_wrows[l] * nn_cnn_wcols[l] * (size_t)bits + 7) / 8 + (size_t)nn_cnn_wrows[l] * 8;
    return b;
}

/* A copy of m with every weight matrix fake-quantized per output channel, ranges from obs;
 * with wh, the histogram's channel counted on its levels (wh->layer, wh->channel). */
static void quantize_weights(const NnCnn *m, NnCnn *q, int bits, QObserverKind obs, NnWeightHist *wh) {
    nn_cnn_copy(q, m);
    for (int l = 0; l < 3; l++) {
        QParams p;
        QErr e;
        qparams_init(&p, bits, 1, QGRAN_CHANNEL, 0, nn_cnn_wrows[l], nn_cnn_wcols[l], &e);
        qparams_fit_observer(&p, m->p[2 * l], obs);
        fake_quantize(&p, m->p[2 * l], q->p[2 * l]);
        if (wh && l == wh->layer && wh->n_q < 8 && p.qmax - p.qmin < 256 && p.scale[wh->channel] > 0) {
            /* every weight of the channel sits on a level s q: count them per code */
            const int K = nn_cnn_wcols[l];
            const float s = p.scale[wh->channel], *w = q->p[2 * l] + (size_t)wh->channel * K;
            wh->q[wh->n_q].bits = bits;
            wh->q[wh->n_q].qmin = p.qmin;
            wh->q[wh->n_q].qmax = p.qmax;
            wh->q[wh->n_q].scale = s;
            for (int j = 0; j < K; j++) {
                long c = lrintf(w[j] / s);
                c = c < p.qmin ? p.qmin : c > p.qmax ? p.qmax : c;
                wh->q[wh->n_q].counts[c - p.qmin]++;
            }
            wh->n_q++;
        }
        qparams_free(&p);
    }
}

/* the histogram before quantization: output channel 0 of the linear layer (800 weights, one
 * per-channel grid) over its own [-max|w|, max|w|] */
static void weight_hist_init(NnWeightHist *wh, const NnCnn *m) {
    wh->layer = 2;
    wh->in = nn_cnn_wcols[2];
    wh->out = nn_cnn_wrows[2];
    wh->per_channel = 1;
    wh->channel = 0;
    const float *w = m->p[4] + (size_t)wh->channel * wh->in;
    float amax = 0;
    for (int j = 0; j < wh->in; j++) amax = fmaxf(amax, fabsf(w[j]));
    wh->lo = -amax;
    wh->hi = amax;
    qhistogram(w, wh->in, wh->lo, wh->hi, NN_HIST_BINS, wh->counts);
}

static void free_act(QParams act[3]) {
    for (int l = 0; l < 3; l++)
        if (act[l].scale) qparams_free(&act[l]);
}

static int load_data(const char *dir, int64_t train_samples, NnDataset *train, NnDataset *test, QErr *err) {
    if (nn_dataset_load_split(train, dir, 1, err)) return -1;
    if (nn_dataset_load_split(test, dir, 0, err)) {
        nn_dataset_free(train);
        return -1;
    }
    if (train_samples > 0 && train_samples < train->n) train->n = train_samples;
    if (train->rows != CNN_IMAGE || train->cols != CNN_IMAGE || test->rows != CNN_IMAGE || test->cols != CNN_IMAGE) {
        qerr_set(err, "the CNN expects %dx%d images, the data in %s has %dx%d and %dx%d", CNN_IMAGE, CNN_IMAGE, dir,
                 train->rows, train->cols, test->rows, test->cols);
        nn_dataset_free(train);
        nn_dataset_free(test);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ ptq-nn */
static int cnn_ptq_run_impl(const NnPtqOpts *o, NnPtqReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    NnDataset train, test;
    if (load_data(o->data_dir, o->train_samples, &train, &test, err)) return -1;
    r->n_test = test.n;
    snprintf(r->isa, sizeof r->isa, "%s", kern_isa_name(kern_isa_best()));
    int rc = -1;
    NnCnn m = {0};
    QParams act[3];
    memset(act, 0, sizeof act);
    NnCnnQ q = {0};
    NnCnn sim = {0};
    uint8_t *p_sim = NULL, *p_int = NULL;
    char path[4096];
    if (o->save_dir && qmkdir_p(o->save_dir, err)) goto out;
    NnTrainStats st;
    if (nn_cnn_prepare(&m, o->from, &train, &o->train, &st, err)) goto out;
    if (!o->from) nn_ptq_report_training(r, &st, o->train.epochs);
    for (int l = 0; l < 3; l++) r->n_weights += (int64_t)nn_cnn_wrows[l] * nn_cnn_wcols[l];
    weight_hist_init(&r->whist, &m);
    NnPtqRow *row = nn_ptq_report_add(r, 32, 32, "-", "-", "fp32 (cnn)");
    row->acc = nn_cnn_accuracy(&m, &test, NULL);
    row->bytes = nn_file_size_cnn_fp32(&m);
    if (o->save_dir) {
        snprintf(path, sizeof path, "%s/cnn-fp32.qnn", o->save_dir);
        if (nn_save_cnn_fp32(path, &m, &row->bytes, err)) goto out;
        snprintf(row->file, sizeof row->file, "cnn-fp32.qnn");
    }
    /* weight-only, per output channel: every width with the chosen observer, then 2 bits MSE */
    for (int bi = 0; bi <= o->n_bits; bi++) {
        int bits = bi < o->n_bits ? o->bits[bi] : 2;
        QObserverKind obs = bi < o->n_bits ? o->observer : QOBS_MSE;
        if (bi == o->n_bits && o->observer == QOBS_MSE) break;
        NnCnn wq;
        quantize_weights(&m, &wq, bits, obs, bi < o->n_bits ? &r->whist : NULL);
        row = nn_ptq_report_add(r, bits, 32, "channel", qobserver_kind_name(obs), "weight-only sym");
        row->acc = nn_cnn_accuracy(&wq, &test, NULL);
        row->bytes = weights_bytes(bits);
        nn_cnn_free(&wq);
    }
    /* static W8A8: calibrated input grids, per-channel int8 weights; the float simulation of
     * exactly the converted integer CNN, then the integer CNN itself */
    if (nn_cnn_calibrate(&m, &train, o->calib_samples, o->observer, 8, act, err)) goto out;
    if (nn_cnn_convert(&m, act, 8, NULL, &q, err)) goto out;
    nn_cnn_q_simulation(&q, &sim);
    p_sim = xmalloc((size_t)test.n);
    p_int = xmalloc((size_t)test.n);
    row = nn_ptq_report_add(r, 8, 8, "channel", qobserver_kind_name(o->observer), "static (fake-quant)");
    row->acc = nn_cnn_accuracy_pred(&sim, &test, act, p_sim);
    row->bytes = nn_file_size_cnn_int8(&q);
    NnPtqRow *srow = row;
    row = &r->rows[r->n_rows++];
    *row = *srow;
    snprintf(row->method, sizeof row->method, "static (integer)");
    row->acc = nn_cnn_q_accuracy(&q, &test, p_int);
    int64_t agree = 0;
    for (int64_t i = 0; i < test.n; i++) agree += p_sim[i] == p_int[i];
    r->agreement = test.n ? (double)agree / (double)test.n : 0;
    if (o->save_dir) {
        snprintf(path, sizeof path, "%s/cnn-w8a8.qnn", o->save_dir);
        if (nn_save_cnn_int8(path, &q, &row->bytes, err)) goto out;
        snprintf(row->file, sizeof row->file, "cnn-w8a8.qnn");
        srow->bytes = row->bytes;
    }
    rc = 0;
out:
    free(p_sim);
    free(p_int);
    nn_cnn_free(&sim);
    nn_cnn_q_free(&q);
    free_act(act);
    nn_cnn_free(&m);
    nn_dataset_free(&train);
    nn_dataset_free(&test);
    return rc;
}

/* --------------------------------------------------------------------- qat */
/* Fills a row: with 8-bit activations the integer CNN converted from master (its weights at
 * wbits with scales wscale, NULL: min-max) and the float simulation of exactly that model
 * (saved to save when non-NULL); otherwise the fake-quant model fq alone. */
static int cnn_measure(NnQatRow *row, const NnCnn *master, const NnCnn *fq, const QParams act[3], int wbits,
                       float *const wscale[3], const NnDataset *test, const char *save, QErr *err) {
    row->acc_int = row->agreement = -1;
    row->packed_bytes = weights_bytes(wbits);
    if (act[0].bits != 8) {
        row->acc_fq = nn_cnn_accuracy(fq, test, act);
        return 0;
    }
    NnCnnQ q;
    if (nn_cnn_convert(master, act, wbits, wscale, &q, err)) return -1;
    NnCnn sim;
    nn_cnn_q_simulation(&q, &sim);
    uint8_t *p1 = xmalloc((size_t)test->n), *p2 = xmalloc((size_t)test->n);
    row->acc_fq = nn_cnn_accuracy_pred(&sim, test, act, p1);
    row->acc_int = nn_cnn_q_accuracy(&q, test, p2);
    int64_t same = 0;
    for (int64_t i = 0; i < test->n; i++) same += p1[i] == p2[i];
    row->agreement = test->n ? (double)same / (double)test->n : 0;
    row->file_bytes = nn_file_size_cnn_int8(&q);
    int rc = save ? nn_save_cnn_int8(save, &q, &row->file_bytes, err) : 0;
    free(p1);
    free(p2);
    nn_cnn_free(&sim);
    nn_cnn_q_free(&q);
    return rc;
}

static int cnn_qat_run_impl(const NnQatRunOpts *o, NnQatReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    NnDataset train, test;
    if (load_data(o->data_dir, o->train_samples, &train, &test, err)) return -1;
    r->n_test = test.n;
    int rc = -1;
    NnCnn m = {0};
    char path[4096], name[64];
    if (o->save_dir && qmkdir_p(o->save_dir, err)) goto out;
    NnTrainOpts to;
    nn_cnn_train_opts_default(&to);
    to.seed = o->seed;
    NnTrainStats st;
    if (!o->from) qlog("no --from model: training the fp32 CNN first (%d epochs)", to.epochs);
    if (nn_cnn_prepare(&m, o->from, &train, &to, &st, err)) goto out;
    for (int l = 0; l < 3; l++) r->n_weights += (int64_t)nn_cnn_wrows[l] * nn_cnn_wcols[l];
    NnQatRow *row = nn_qat_report_add(r, 32, 32, "fp32 (cnn)");
    row->acc_fq = nn_cnn_accuracy(&m, &test, NULL);
    row->acc_int = row->agreement = -1;
    row->packed_bytes = weights_bytes(32);
    row->file_bytes = nn_file_size_cnn_fp32(&m);
    row->seconds = st.total_seconds;
    /* the fair control: the same fine-tuning without quantization (constant lr, on pixels) */
    {
        NnCnn ft;
        nn_cnn_copy(&ft, &m);
        nn_train_opts_default(&to);
        to.epochs = o->epochs;
        to.lr = o->lr;
        to.seed = o->seed + 1;
        to.verbose = 0;
        double t0 = qtime_now();
        nn_cnn_train(&ft, &train, &to, &st);
        row = nn_qat_report_add(r, 32, 32, "fp32 fine-tuned");
        row->acc_fq = nn_cnn_accuracy(&ft, &test, NULL);
        row->acc_int = row->agreement = -1;
        row->packed_bytes = weights_bytes(32);
        row->file_bytes = nn_file_size_cnn_fp32(&ft);
        row->seconds = qtime_now() - t0;
        row->curve = st.curve;
        nn_cnn_free(&ft);
    }
    for (int bi = 0; bi < o->n_wbits; bi++)
        for (int ai = 0; ai < o->n_abits; ai++) {
            const int wb = o->wbits[bi], ab = o->abits[ai], save = o->save_dir && ab == 8;
            /* PTQ: per-channel min-max weights, min-max calibrated input grids */
            double t0 = qtime_now();
            QParams act[3];
            if (nn_cnn_calibrate(&m, &train, o->calib_samples, QOBS_MINMAX, ab, act, err)) goto out;
            NnCnn fq;
            nn_cnn_copy(&fq, &m);
            for (int l = 0; l < 3; l++) {
                const int N = nn_cnn_wrows[l], K = nn_cnn_wcols[l];
                float *s = xmalloc((size_t)N * sizeof(float));
                nn_qat_minmax_row_scales(m.p[2 * l], N, K, wb, s);
                nn_qat_quant_rows(m.p[2 * l], s, N, K, -(1 << (wb - 1)), (1 << (wb - 1)) - 1, fq.p[2 * l], NULL);
                free(s);
            }
            row = nn_qat_report_add(r, wb, ab, "PTQ");
            snprintf(name, sizeof name, "cnn-w%da%d-ptq.qnn", wb, ab);
            snprintf(path, sizeof path, "%s/%s", o->save_dir ? o->save_dir : "", name);
            int mrc = cnn_measure(row, &m, &fq, act, wb, NULL, &test, save ? path : NULL, err);
            if (save) snprintf(row->file, sizeof row->file, "%s", name);
            row->seconds = qtime_now() - t0;
            nn_cnn_free(&fq);
            free_act(act);
            if (mrc) goto out;
            for (int meth = 0; meth < 2; meth++) {
                if (!(o->methods & (1 << meth))) continue;
                NnQatOpts qo;
                nn_qat_opts_for_run(&qo, o, meth, wb, ab);
                NnCnnQatResult qr;
                if (nn_cnn_qat_train(&m, &train, &qo, &qr, err)) goto out;
                nn_cnn_qat_fake_model(&qr, &fq);
                row = nn_qat_report_add(r, wb, ab, "QAT %s", meth ? "LSQ" : "STE");
                snprintf(name, sizeof name, "cnn-w%da%d-qat-%s.qnn", wb, ab, meth ? "lsq" : "ste");
                snprintf(path, sizeof path, "%s/%s", o->save_dir ? o->save_dir : "", name);
                mrc = cnn_measure(row, &qr.master, &fq, qr.act, wb, qr.wscale, &test, save ? path : NULL, err);
                if (save) snprintf(row->file, sizeof row->file, "%s", name);
                row->seconds = qr.seconds;
                row->curve = qr.curve;
                nn_cnn_free(&fq);
                nn_cnn_qat_result_free(&qr);
                if (mrc) goto out;
            }
        }
    rc = 0;
out:
    nn_cnn_free(&m);
    nn_dataset_free(&train);
    nn_dataset_free(&test);
    return rc;
}

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
