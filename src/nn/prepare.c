/* prepare.c — the fp32 model a job starts from (nn_file.h). */
#include <string.h>

#include "quant/nn_file.h"

int nn_model_prepare(NnModel *m, const char *from, const NnDataset *train, const int *hidden, int n_hidden,
                     const NnTrainOpts *to, NnTrainStats *st, QErr *err) {
    memset(m, 0, sizeof *m);
    if (st) memset(st, 0, sizeof *st);
    if (from) {
        NnLoaded ld;
        if (nn_load(from, &ld, err)) return -1;
        if (ld.kind != NN_FILE_FP32) {
            qerr_set(err, "%s: an fp32 MLP is needed (mlp-fp32.qnn from ptq-nn --save-model), this file holds %s%s", from,
                     nn_file_kind_name(ld.kind), ld.kind == NN_FILE_CNN_FP32 ? " (use --arch cnn)" : "");
            nn_loaded_free(&ld);
            return -1;
        }
        *m = ld.model;
    } else {
        QRng rng;
        qrng_seed(&rng, to->seed);
        if (nn_mlp_init(m, train->rows * train->cols, hidden, n_hidden, 10, &rng, err)) return -1;
        NnTrainStats local;
        nn_train(m, train, to, st ? st : &local);
    }
    if (m->dims[0] != train->rows * train->cols) {
        qerr_set(err, "model input width %d does not match the %dx%d images", m->dims[0], train->rows, train->cols);
        nn_model_free(m);
        return -1;
    }
    return 0;
}
