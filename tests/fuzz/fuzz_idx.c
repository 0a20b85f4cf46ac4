/* fuzz_idx.c — an IDX image file, FZ_SEP, an IDX label file (each raw or gzip: gzread
 * recognises the gzip magic); nn_dataset_load_idx.  Accepted data: labels 0..9, pixels in
 * [0, 1], counts as the headers say. */
#include "fuzz_common.h"
#include "quant/nn_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[2];
    size_t len[2];
    fz_split(data, size, part, len, 2);
    const char *ip = fz_write("images-idx3-ubyte", part[0], len[0]);
    const char *lp = fz_write("labels-idx1-ubyte", part[1], len[1]);
    NnDataset d;
    QErr err;
    if (nn_dataset_load_idx(&d, ip, lp, &err) == 0) {
        for (int64_t i = 0; i < d.n; i++)
            if (d.labels[i] > 9) fz_fail("label %u accepted", d.labels[i]);
        int64_t np = d.n * d.rows * d.cols;
        for (int64_t i = 0; i < np; i++)
            if (!(d.images[i] >= 0 && d.images[i] <= 1)) fz_fail("pixel %g accepted", d.images[i]);
        nn_dataset_free(&d);
    }
    return 0;
}
