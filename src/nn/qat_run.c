/* qat_run.c — the qat command's job: fp32, the fine-tuned fp32 control, PTQ, QAT-STE and
 * QAT-LSQ at each bit width, each as fake-quant and as a converted integer model (nn_qat.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/nn_file.h"
#include "quant/nn_qat.h"

NnQatRow *nn_qat_report_add(NnQatReport *r, int wbits, int abits, const char *method_fmt, ...) {
    if (r->n_rows >= (int)(sizeof r->rows / sizeof r->rows[0])) {
        fprintf(stderr, "nn_qat_report_add: more than %d rows\n", r->n_rows);
        abort();
    }
    NnQatRow *row = &r->rows[r->n_rows++];
    memset(row, 0, sizeof *row);
    va_list ap;
    va_start(ap, method_fmt);
    vsnprintf(row->method, sizeof row->method, method_fmt, ap);
    va_end(ap);
    row->wbits = wbits;
    row->abits = abits;
    return row;
}

static size_t packed_bytes(const NnModel *m, int wbits) {
    size_t b = 0;
    for (int l = 0; l < m->n_layers; l++) {
        size_t N = (size_t)m->dims[l + 1], K = (size_t)m->dims[l];
        b += (N * K * (size_t)wbits + 7) / 8 + N * 4 /* scales */ + N * 4 /* int32 biases */ + 8 /* act grid */;
    }
    return b;
}

/* Fills a row from a fake-quant model and (8-bit activations) its integer conversion. */
static int measure(NnQatRow *row, const NnModel *master, NnModel *fq, NnActQuant *aq, const QParams *act, int wbits,
                   int abits, float *const *wscale, const NnDataset *test, const char *save, QErr *err) {
    uint8_t *p1 = xmalloc((size_t)test->n), *p2 = xmalloc((size_t)test->n);
    row->acc_fq = nn_model_accuracy(fq, test, aq, p1);
    row->acc_int = -1;
    row->agreement = -1;
    row->packed_bytes = packed_bytes(master, wbits);
    int rc = 0;
    if (abits == 8) {
        NnQModel q;
        if (nn_qmodel_convert_scaled(master, act, wbits, wscale, &q, err) == 0) {
            nn_qmodel_pack(&q, kern_isa_best());
            /* the float simulation of exactly this converted model (its int32 biases too), as
             * ptq-nn does: what the integer path must agree with */
            NnModel sim;
            nn_w8a8_simulation(&q, &sim);
            row->acc_fq = nn_model_accuracy(&sim, test, aq, p1);
            nn_model_free(&sim);
            row->acc_int = nn_qmodel_accuracy(&q, test, p2);
            int64_t same = 0;
            for (int64_t i = 0; i < test->n; i++) same += p1[i] == p2[i];
            row->agreement = (double)same / (double)test->n;
            if (save) rc = nn_save_int8(save, &q, NULL, err);
            nn_qmodel_free(&q);
        } else {
            rc = -1;
        }
    }
    free(p1);
    free(p2);
    return rc;
}

void nn_qat_opts_for_run(NnQatOpts *qo, const NnQatRunOpts *o, int lsq, int wbits, int abits) {
    nn_qat_opts_default(qo);
    qo->method = lsq ? NN_QAT_LSQ : NN_QAT_STE;
    qo->wbits = wbits;
    qo->abits = abits;
    qo->epochs = o->epochs;
    qo->lr = o->lr;
    qo->seed = o->seed + 1; /* QAT's batches differ from the control's */
}

int nn_qat_run(const NnQatRunOpts *o, NnQatReport *r, QErr *err) {
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
    if (o->save_dir && qmkdir_p(o->save_dir, err)) goto out;
    {
        int hidden[2] = {256, 128};
        NnTrainOpts to;
        nn_train_opts_default(&to);
        to.seed = o->seed;
        if (!o->from) qlog("no --from model: training the fp32 MLP first (5 epochs)");
        if (nn_model_prepare(&m, o->from, &train, hidden, 2, &to, NULL, err)) goto out;
    }
    for (int l = 0; l < m.n_layers; l++) r->n_weights += (int64_t)m.dims[l] * m.dims[l + 1];
    NnQatRow *row = nn_qat_report_add(r, 32, 32, "fp32");
    row->acc_fq = nn_model_accuracy(&m, &test, NULL, NULL);
    row->acc_int = row->agreement = -1;
    row->packed_bytes = nn_file_size_fp32(&m);
    /* the fair control: the same fine-tuning without quantization */
    {
        double t0 = qtime_now();
        NnModel ft;
        nn_model_copy(&ft, &m);
        NnTrainOpts to;
        nn_train_opts_default(&to);
        to.epochs = o->epochs;
        to.lr = o->lr;
        to.seed = o->seed + 1;
        to.verbose = 0;
        NnTrainStats st;
        nn_train(&ft, &train, &to, &st);
        row = nn_qat_report_add(r, 32, 32, "fp32 fine-tuned");
        row->acc_fq = nn_model_accuracy(&ft, &test, NULL, NULL);
        row->acc_int = row->agreement = -1;
        row->packed_bytes = nn_file_size_fp32(&ft);
        row->seconds = qtime_now() - t0;
        row->curve = st.curve;
        nn_model_free(&ft);
    }
    for (int bi = 0; bi < o->n_wbits; bi++)
        for (int ai = 0; ai < o->n_abits; ai++) {
            int wb = o->wbits[bi], ab = o->abits[ai];
            char path[4096], name[64];
            /* PTQ: per-channel min-max weights, calibrated static activation grids */
            double t0 = qtime_now();
            QParams act[NN_MAX_LAYERS];
            memset(act, 0, sizeof act);
            if (nn_calibrate_activations(&m, &train, o->calib_samples, QOBS_MINMAX, ab, act, err)) goto out;
            NnQatResult pr;
            memset(&pr, 0, sizeof pr);
            nn_model_copy(&pr.master, &m);
            pr.wbits = wb;
            pr.abits = ab;
            for (int l = 0; l < m.n_layers; l++) {
                pr.act[l] = act[l];
                pr.wscale[l] = xmalloc((size_t)m.dims[l + 1] * sizeof(float));
                nn_qat_minmax_row_scales(m.w[l], m.dims[l + 1], m.dims[l], wb, pr.wscale[l]);
            }
            NnModel fq;
            NnActQuant aq;
            nn_qat_fake_model(&pr, &fq, &aq);
            row = nn_qat_report_add(r, wb, ab, "PTQ");
            snprintf(name, sizeof name, "mlp-w%da%d-ptq.qnn", wb, ab);
            snprintf(path, sizeof path, "%s/%s", o->save_dir ? o->save_dir : "", name);
            int mrc = measure(row, &m, &fq, &aq, pr.act, wb, ab, pr.wscale, &test, o->save_dir && ab == 8 ? path : NULL, err);
            if (o->save_dir && ab == 8) snprintf(row->file, sizeof row->file, "%s", name);
            row->seconds = qtime_now() - t0;
            nn_model_free(&fq);
            nn_qat_result_free(&pr);
            if (mrc) goto out;
            for (int meth = 0; meth < 2; meth++) {
                if (!(o->methods & (1 << meth))) continue;
                NnQatOpts qo;
                nn_qat_opts_for_run(&qo, o, meth, wb, ab);
                NnQatResult qr;
                if (nn_qat_train(&m, &train, &qo, &qr, err)) goto out;
                nn_qat_fake_model(&qr, &fq, &aq);
                row = nn_qat_report_add(r, wb, ab, "QAT %s", meth ? "LSQ" : "STE");
                snprintf(name, sizeof name, "mlp-w%da%d-qat-%s.qnn", wb, ab, meth ? "lsq" : "ste");
                snprintf(path, sizeof path, "%s/%s", o->save_dir ? o->save_dir : "", name);
                mrc = measure(row, &qr.master, &fq, &aq, qr.act, wb, ab, qr.wscale, &test, o->save_dir && ab == 8 ? path : NULL, err);
                if (o->save_dir && ab == 8) snprintf(row->file, sizeof row->file, "%s", name);
                row->seconds = qr.seconds;
                row->curve = qr.curve;
                nn_model_free(&fq);
                nn_qat_result_free(&qr);
                if (mrc) goto out;
            }
        }
    rc = 0;
out:
    nn_model_free(&m);
    nn_dataset_free(&train);
    nn_dataset_free(&test);
    return rc;
}
