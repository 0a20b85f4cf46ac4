/* cmd_qat.c — `quant qat`: flags -> nn_qat_run -> table / JSON. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "quant/nn_cnn.h"
#include "quant/report.h"

int cmd_qat(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        puts("usage: quant qat [--arch mlp|cnn] [--from DIR/mlp-fp32.qnn | DIR/cnn-fp32.qnn] [--bits 8,4,2] [--act-bits 8]\n"
             "                 [--epochs 2] [--lr 1e-4] [--method ste,lsq | --lsq] [--calib-samples 1000] [--seed 0]\n"
             "                 [--train-samples N (default all)] [--data DIR] [--save-model DIR] [--threads N]\n"
             "                 [--json FILE] [--report FILE.html]");
        return 0;
    }
    NnQatRunOpts o;
    memset(&o, 0, sizeof o);
    long v, *bits = NULL, *abits = NULL;
    int nb, na, lsq_only;
    double lr;
    const char *arch = args_str(a, "arch", "mlp");
    int cnn = strcmp(arch, "cnn") == 0;
    if (!cnn && strcmp(arch, "mlp") != 0) return qerr_set(err, "--arch %s: expected mlp or cnn", arch), 2;
    o.data_dir = args_str(a, "data", NN_FASHION_DEFAULT_DIR);
    o.from = args_str(a, "from", NULL);
    o.save_dir = args_str(a, "save-model", NULL);
    const char *json = args_str(a, "json", NULL), *report = args_str(a, "report", NULL);
    if (args_int_list(a, "bits", "8,4,2", 2, 8, &bits, &nb, err)) return 2;
    if (args_int_list(a, "act-bits", "8", 2, 8, &abits, &na, err) || nb > 4 || na > 2) {
        if (!err->msg[0] || nb > 4 || na > 2) qerr_set(err, "--bits: at most 4 widths; --act-bits: at most 2");
        free(bits);
        free(abits);
        return 2;
    }
    for (int i = 0; i < nb; i++) o.wbits[i] = (int)bits[i];
    for (int i = 0; i < na; i++) o.abits[i] = (int)abits[i];
    o.n_wbits = nb;
    o.n_abits = na;
    free(bits);
    free(abits);
    char **methods;
    int nm;
    if (args_bool(a, "lsq", 0, &lsq_only, err) || args_str_list(a, "method", lsq_only ? "lsq" : "ste,lsq", &methods, &nm, err)) return 2;
    for (int i = 0; i < nm; i++) {
        if (strcmp(methods[i], "ste") == 0) o.methods |= 1;
        else if (strcmp(methods[i], "lsq") == 0) o.methods |= 2;
        else {
            qerr_set(err, "--method %s: expected ste or lsq", methods[i]);
            args_free_list(methods, nm);
            return 2;
        }
    }
    args_free_list(methods, nm);
    if (args_int(a, "epochs", 2, 1, 1000, &v, err)) return 2;
    o.epochs = (int)v;
    if (args_double(a, "lr", 1e-4, 1e-9, 1.0, &lr, err)) return 2;
    o.lr = (float)lr;
    if (args_int(a, "calib-samples", 1000, 1, 60000, &v, err)) return 2;
    o.calib_samples = v;
    if (args_int(a, "train-samples", 0, 0, 100000000L, &v, err)) return 2;
    o.train_samples = v;
    if (args_int(a, "seed", 0, 0, 2147483647L, &v, err)) return 2;
    o.seed = (uint64_t)v;
    if (args_int(a, "threads", 0, 0, 1024, &v, err)) return 2;
    o.threads = (int)v;
    if (args_finish(a, err)) return 2;
    NnQatReport *r = xcalloc(1, sizeof *r);
    if (cnn ? nn_cnn_qat_run(&o, r, err) : nn_qat_run(&o, r, err)) {
        free(r);
        return 1;
    }
    /* CNN rows also give the size of their .qnn file */
    int files = 0;
    for (int i = 0; i < r->n_rows; i++) files |= r->rows[i].file_bytes > 0;
    const char *hdr[] = {"method", "W bits", "A bits", "fake-quant acc", "vs control", "integer acc", "agree", "packed bytes", "file bytes", "seconds"};
    const char *hdr_nf[] = {"method", "W bits", "A bits", "fake-quant acc", "vs control", "integer acc", "agree", "packed bytes", "seconds"};
    const int ncol = files ? 10 : 9;
    QTable t;
    qtable_init(&t, ncol, files ? hdr : hdr_nf);
    for (int c = 1; c < ncol; c++) qtable_align_right(&t, c, 1);
    double control = r->rows[1].acc_fq;
    for (int i = 0; i < r->n_rows; i++) {
        const NnQatRow *w = &r->rows[i];
        qtable_new_row(&t);
        qtable_cell(&t, "%s", w->method);
        qtable_cell(&t, w->wbits == 32 ? "fp32" : "%d", w->wbits);
        qtable_cell(&t, w->abits == 32 ? "fp32" : "%d", w->abits);
        qtable_cell(&t, "%.2f%%", 100 * w->acc_fq);
        qtable_cell(&t, i == 1 ? "-" : "%+.2f", 100 * (w->acc_fq - control));
        if (w->acc_int >= 0) {
            qtable_cell(&t, "%.2f%%", 100 * w->acc_int);
            qtable_cell(&t, "%.2f%%", 100 * w->agreement);
        } else {
            qtable_cell(&t, "-");
            qtable_cell(&t, "-");
        }
        qtable_cell(&t, "%zu", w->packed_bytes);
        if (files) qtable_cell(&t, w->file_bytes ? "%zu" : "-", w->file_bytes);
        qtable_cell(&t, "%.1f", w->seconds);
    }
    qtable_print(&t, stdout);
    qtable_free(&t);
    printf("\n%lld test images; 'vs control' compares with fp32 fine-tuned for the same %d epochs (Adam %g);\n"
           "integer rows run the converted int8 model (weights at W bits held in int8, 8-bit activations);\n"
           "'agree' = integer and fake-quant predictions that are equal.\n",
           (long long)r->n_test, o.epochs, o.lr);
    if (files)
        printf("'file bytes' = size of the row's .qnn file (fp32 CNN, or the integer CNN with its weights packed at W bits).\n");
    int rc = 0;
    if (json || report) {
        cJSON *root = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(root, "rows");
        cJSON_AddStringToObject(root, "command", "qat");
        cJSON_AddStringToObject(root, "arch", arch);
        cJSON_AddNumberToObject(root, "epochs", o.epochs);
        cJSON_AddNumberToObject(root, "lr", o.lr);
        cJSON_AddNumberToObject(root, "test_images", (double)r->n_test);
        if (r->n_weights > 0) cJSON_AddNumberToObject(root, "weights", (double)r->n_weights);
        for (int i = 0; i < r->n_rows; i++) {
            const NnQatRow *w = &r->rows[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "method", w->method);
            cJSON_AddNumberToObject(x, "weight_bits", w->wbits);
            cJSON_AddNumberToObject(x, "act_bits", w->abits);
            cJSON_AddNumberToObject(x, "accuracy_fake_quant", w->acc_fq);
            if (w->acc_int >= 0) {
                cJSON_AddNumberToObject(x, "accuracy_integer", w->acc_int);
                cJSON_AddNumberToObject(x, "agreement", w->agreement);
            }
            cJSON_AddNumberToObject(x, "packed_bytes", (double)w->packed_bytes);
            if (w->file_bytes) cJSON_AddNumberToObject(x, "file_bytes", (double)w->file_bytes);
            if (w->file[0]) cJSON_AddStringToObject(x, "file", w->file);
            if (r->n_weights > 0)
                cJSON_AddNumberToObject(x, "bits_per_weight", 8.0 * (double)w->packed_bytes / (double)r->n_weights);
            if (w->curve.n > 0) {
                cJSON *c = cJSON_AddObjectToObject(x, "curve"), *l = cJSON_AddArrayToObject(c, "loss"),
                      *ac = cJSON_AddArrayToObject(c, "train_accuracy");
                cJSON_AddNumberToObject(c, "points_per_epoch", w->curve.per_epoch);
                for (int k = 0; k < w->curve.n; k++) {
                    cJSON_AddItemToArray(l, cJSON_CreateNumber(w->curve.loss[k]));
                    cJSON_AddItemToArray(ac, cJSON_CreateNumber(w->curve.acc[k]));
                }
            }
            cJSON_AddItemToArray(rows, x);
        }
        report_add_run_info(root, a->cmdline);
        rc = json && qjson_write_file(json, root, err) ? 1 : 0;
        if (rc == 0 && report) rc = report_write(report, &root, NULL, 1, NULL, NULL, err) ? 1 : 0;
        cJSON_Delete(root);
    }
    free(r);
    return rc;
}
