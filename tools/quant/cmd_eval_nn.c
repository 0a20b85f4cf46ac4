/* cmd_eval_nn.c — `quant eval-nn --model FILE.qnn`: reload a saved network, test accuracy. */
#include <cjson/cJSON.h>

#include "cmd.h"
#include <stdio.h>

#include "quant/nn_file.h"

int cmd_eval_nn(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        puts("usage: quant eval-nn --model FILE.qnn [--data DIR] [--threads N] [--json FILE]");
        return 0;
    }
    const char *path = args_str(a, "model", NULL);
    const char *dir = args_str(a, "data", NN_FASHION_DEFAULT_DIR);
    const char *json = args_str(a, "json", NULL);
    long threads;
    if (args_int(a, "threads", 0, 0, 1024, &threads, err)) return 2;
    if (args_finish(a, err)) return 2;
    if (!path) return qerr_set(err, "--model FILE.qnn is required"), 2;
    if (threads > 0) qthreads_set((int)threads);
    NnLoaded ld;
    if (nn_load(path, &ld, err)) return 1;
    NnDataset test;
    if (nn_dataset_load_split(&test, dir, 0, err)) {
        nn_loaded_free(&ld);
        return 1;
    }
    double acc;
    const char *kind;
    char kbuf[64];
    if (ld.kind == NN_FILE_INT8) {
        acc = nn_qmodel_accuracy(&ld.qmodel, &test, NULL);
        kind = "int8 W8A8 (integer path)";
    } else if (ld.kind == NN_FILE_CNN_FP32 || ld.kind == NN_FILE_CNN_INT8) {
        if (test.rows != CNN_IMAGE || test.cols != CNN_IMAGE) {
            qerr_set(err, "the CNN expects %dx%d images, the data has %dx%d", CNN_IMAGE, CNN_IMAGE, test.rows, test.cols);
            nn_dataset_free(&test);
            nn_loaded_free(&ld);
            return 1;
        }
        if (ld.kind == NN_FILE_CNN_FP32) {
            acc = nn_cnn_accuracy(&ld.cnn, &test, NULL);
            kind = "CNN fp32";
        } else {
            acc = nn_cnn_q_accuracy(&ld.cnnq, &test, NULL);
            snprintf(kbuf, sizeof kbuf, "CNN int8 W%dA8 (integer path)", ld.cnnq.wbits);
            kind = kbuf;
        }
    } else {
        acc = nn_model_accuracy(&ld.model, &test, NULL, NULL);
        kind = ld.kind == NN_FILE_FP32 ? "fp32" : "weight-only (dequantized)";
    }
    printf("%s: %s, test accuracy %.2f%% on %lld images\n", path, kind, 100 * acc, (long long)test.n);
    int rc = 0;
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "model", path);
        cJSON_AddStringToObject(root, "kind", kind);
        cJSON_AddNumberToObject(root, "accuracy", acc);
        cJSON_AddNumberToObject(root, "test_images", (double)test.n);
        rc = qjson_write_file(json, root, err) ? 1 : 0;
        cJSON_Delete(root);
    }
    nn_dataset_free(&test);
    nn_loaded_free(&ld);
    return rc;
}
