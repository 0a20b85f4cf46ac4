/* cmd_ptq_nn.c — `quant ptq-nn`: flags -> nn_ptq_run -> table / JSON. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "quant/nn_cnn.h"
#include "quant/report.h"

static const char *usage =
    "usage: quant ptq-nn [--arch mlp|cnn] [--hidden 256,128] [--epochs 5] [--batch 128] [--lr 1e-3] [--seed 0]\n"
    "                    [--lr-schedule constant|cosine (mlp: constant, cnn: cosine)]\n"
    "                    [--train-samples N (default all)] [--calib-samples 1000] [--bits 8,4,2] [--group-size G]\n"
    "                    [--observer minmax|moving-avg|percentile|mse|entropy] [--data DIR] [--from FP32.qnn]\n"
    "                    [--save-model DIR | --save_model=True] [--threads N] [--no-bench] [--json FILE]\n"
    "                    [--report FILE.html]\n";

int cmd_ptq_nn(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    NnPtqOpts o;
    nn_ptq_opts_default(&o);
    long v, *list = NULL;
    int n = 0;
    double lr;
    const char *arch = args_str(a, "arch", "mlp");
    int cnn = strcmp(arch, "cnn") == 0;
    if (!cnn && strcmp(arch, "mlp") != 0) return qerr_set(err, "--arch %s: expected mlp or cnn", arch), 2;
    if (args_int_list(a, "hidden", "256,128", 1, 65536, &list, &n, err)) return 2;
    if (n > NN_MAX_LAYERS - 1) return free(list), qerr_set(err, "--hidden: at most %d layers", NN_MAX_LAYERS - 1), 2;
    o.n_hidden = n;
    for (int i = 0; i < n; i++) o.hidden[i] = (int)list[i];
    free(list);
    if (args_int(a, "epochs", 5, 0, 1000, &v, err)) return 2;
    o.train.epochs = (int)v;
    if (args_int(a, "batch", 128, 1, 65536, &v, err)) return 2;
    o.train.batch = (int)v;
    if (args_double(a, "lr", 1e-3, 1e-9, 10, &lr, err)) return 2;
    o.train.lr = (float)lr;
    if (args_int(a, "seed", 0, 0, 2147483647L, &v, err)) return 2;
    o.train.seed = (uint64_t)v;
    /* the CNN's recipe: inputs normalized by the training set's mean/std (folded into conv1
     * after training), cosine learning-rate decay */
    o.train.normalize = cnn;
    const char *sched = args_str(a, "lr-schedule", cnn ? "cosine" : "constant");
    if (strcmp(sched, "cosine") == 0) o.train.cosine = 1;
    else if (strcmp(sched, "constant") == 0) o.train.cosine = 0;
    else return qerr_set(err, "--lr-schedule %s: expected constant or cosine", sched), 2;
    if (args_int(a, "calib-samples", 1000, 1, 60000, &v, err)) return 2;
    o.calib_samples = v;
    if (args_int(a, "train-samples", 0, 0, 100000000L, &v, err)) return 2;
    o.train_samples = v;
    if (args_int_list(a, "bits", "8,4,2", 2, 8, &list, &n, err)) return 2;
    if (n > 8) return free(list), qerr_set(err, "--bits: at most 8 widths"), 2;
    o.n_bits = n;
    for (int i = 0; i < n; i++) o.bits[i] = (int)list[i];
    free(list);
    if (args_int(a, "group-size", 0, 0, 65536, &v, err)) return 2;
    o.group_size = v;
    if (qobserver_kind_parse(args_str(a, "observer", "minmax"), &o.observer, err)) return 2;
    o.data_dir = args_str(a, "data", NN_FASHION_DEFAULT_DIR);
    o.from = args_str(a, "from", NULL);
    if (args_int(a, "threads", 0, 0, 1024, &v, err)) return 2;
    o.threads = (int)v;
    int nobench;
    if (args_bool(a, "no-bench", 0, &nobench, err)) return 2;
    o.bench = !nobench;
    /* --save_model=True (the original tool) saves under models/; --save-model DIR names the dir */
    const char *save = args_str(a, "save-model", NULL);
    if (save) {
        int b;
        QErr tmp;
        if (args_bool(a, "save-model", 0, &b, &tmp) == 0) o.save_dir = b ? "models" : NULL;
        else o.save_dir = save;
    }
    const char *json = args_str(a, "json", NULL), *report = args_str(a, "report", NULL);
    if (args_finish(a, err)) return 2;

    NnPtqReport r;
    if ((cnn ? nn_cnn_ptq_run(&o, &r, err) : nn_ptq_run(&o, &r, err))) return 1;
    if (cnn) o.bench = 0; /* no latency / throughput measurement for the CNN */

    const char *hdr[] = {"method", "W bits", "A bits", "granularity", "observer", "test acc", "vs fp32",
                         "bytes", "ratio", "b1 latency", "b256 img/s", "speed-up"};
    QTable t;
    qtable_init(&t, 12, hdr);
    for (int c = 1; c < 12; c++)
        if (c != 3 && c != 4) qtable_align_right(&t, c, 1);
    const NnPtqRow *fp = &r.rows[0];
    for (int i = 0; i < r.n_rows; i++) {
        const NnPtqRow *w = &r.rows[i];
        qtable_new_row(&t);
        qtable_cell(&t, "%s", w->method);
        qtable_cell(&t, w->wbits == 32 ? "fp32" : "%d", w->wbits);
        qtable_cell(&t, w->abits == 32 ? "fp32" : "%d", w->abits);
        qtable_cell(&t, "%s", w->granularity);
        qtable_cell(&t, "%s", w->observer);
        qtable_cell(&t, "%.2f%%", 100 * w->acc);
        qtable_cell(&t, i == 0 ? "-" : "%+.2f", 100 * (w->acc - fp->acc));
        qtable_cell(&t, "%zu", w->bytes);
        qtable_cell(&t, "%.2fx", (double)fp->bytes / (double)w->bytes);
        if (o.bench) {
            qtable_cell(&t, "%.1f us", w->lat_b1_ms * 1e3);
            qtable_cell(&t, "%.0f", w->thr_b256);
            qtable_cell(&t, "%.2fx", w->thr_b256 / fp->thr_b256);
        } else {
            qtable_cell(&t, "-");
            qtable_cell(&t, "-");
            qtable_cell(&t, "-");
        }
    }
    qtable_print(&t, stdout);
    qtable_free(&t);
    if (r.agreement >= 0)
        printf("\ntest images: %lld; int8 kernels: %s; integer path agrees with the fake-quant simulation on %.2f%% of predictions\n",
               (long long)r.n_test, r.isa, 100 * r.agreement);
    if (cnn)
        printf("CNN: bytes = .qnn file size for fp32 and W8A8; weights at their bit width + scales + biases for weight-only rows\n");
    if (r.train_seconds > 0) printf("training: %.1f s (%.2f s/epoch)\n", r.train_seconds, r.seconds_per_epoch);
    if (o.save_dir) printf("models saved in %s/\n", o.save_dir);

    if (json || report) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "command", "ptq-nn");
        cJSON_AddStringToObject(root, "arch", arch);
        cJSON_AddNumberToObject(root, "epochs", o.from ? 0 : o.train.epochs);
        cJSON_AddNumberToObject(root, "calib_samples", (double)o.calib_samples);
        cJSON_AddStringToObject(root, "observer", qobserver_kind_name(o.observer));
        if (r.n_weights > 0) cJSON_AddNumberToObject(root, "weights", (double)r.n_weights);
        cJSON_AddNumberToObject(root, "test_images", (double)r.n_test);
        cJSON_AddNumberToObject(root, "train_seconds", r.train_seconds);
        cJSON_AddNumberToObject(root, "seconds_per_epoch", r.seconds_per_epoch);
        cJSON_AddNumberToObject(root, "agreement_int_vs_fakequant", r.agreement);
        cJSON_AddStringToObject(root, "isa", r.isa);
        cJSON *rows = cJSON_AddArrayToObject(root, "rows");
        for (int i = 0; i < r.n_rows; i++) {
            const NnPtqRow *w = &r.rows[i];
            cJSON *o2 = cJSON_CreateObject();
            cJSON_AddStringToObject(o2, "method", w->method);
            cJSON_AddNumberToObject(o2, "weight_bits", w->wbits);
            cJSON_AddNumberToObject(o2, "act_bits", w->abits);
            cJSON_AddStringToObject(o2, "granularity", w->granularity);
            cJSON_AddStringToObject(o2, "observer", w->observer);
            cJSON_AddNumberToObject(o2, "accuracy", w->acc);
            cJSON_AddNumberToObject(o2, "delta_vs_fp32", w->acc - fp->acc);
            cJSON_AddNumberToObject(o2, "bytes", (double)w->bytes);
            cJSON_AddNumberToObject(o2, "latency_b1_ms", w->lat_b1_ms);
            cJSON_AddNumberToObject(o2, "throughput_b256_img_s", w->thr_b256);
            if (w->file[0]) cJSON_AddStringToObject(o2, "file", w->file);
            if (r.n_weights > 0) cJSON_AddNumberToObject(o2, "bits_per_weight", 8.0 * (double)w->bytes / (double)r.n_weights);
            cJSON_AddItemToArray(rows, o2);
        }
        const NnWeightHist *wh = &r.whist;
        if (wh->n_q > 0) {
            cJSON *h = cJSON_AddObjectToObject(root, "weight_histogram"), *c = cJSON_AddArrayToObject(h, "counts");
            cJSON_AddNumberToObject(h, "layer", wh->layer);
            cJSON_AddNumberToObject(h, "in", wh->in);
            cJSON_AddNumberToObject(h, "out", wh->out);
            if (wh->per_channel) cJSON_AddNumberToObject(h, "channel", wh->channel); /* counts: that output channel's */
            cJSON_AddNumberToObject(h, "lo", wh->lo);
            cJSON_AddNumberToObject(h, "hi", wh->hi);
            for (int k = 0; k < NN_HIST_BINS; k++) cJSON_AddItemToArray(c, cJSON_CreateNumber((double)wh->counts[k]));
            cJSON *qa = cJSON_AddArrayToObject(h, "quantized");
            for (int i = 0; i < wh->n_q; i++) {
                cJSON *x = cJSON_CreateObject(), *lc = cJSON_AddArrayToObject(x, "level_counts");
                cJSON_AddNumberToObject(x, "bits", wh->q[i].bits);
                cJSON_AddStringToObject(x, "scheme", wh->per_channel ? "symmetric, per channel" : "symmetric, per tensor");
                cJSON_AddNumberToObject(x, "scale", wh->q[i].scale);
                cJSON_AddNumberToObject(x, "qmin", wh->q[i].qmin);
                cJSON_AddNumberToObject(x, "qmax", wh->q[i].qmax);
                for (int k = 0; k <= wh->q[i].qmax - wh->q[i].qmin; k++)
                    cJSON_AddItemToArray(lc, cJSON_CreateNumber((double)wh->q[i].counts[k]));
                cJSON_AddItemToArray(qa, x);
            }
        }
        report_add_run_info(root, a->cmdline);
        int rc = json ? qjson_write_file(json, root, err) : 0;
        if (rc == 0 && report) rc = report_write(report, &root, NULL, 1, NULL, NULL, err);
        cJSON_Delete(root);
        if (rc) return 1;
    }
    return 0;
}
