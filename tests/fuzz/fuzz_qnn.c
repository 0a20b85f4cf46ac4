/* fuzz_qnn.c — .qnn model files (nn_load).  The harness rewrites the trailing CRC-32 so that
 * mutations reach the field checks behind it (an input whose first byte is 'X' keeps its
 * CRC, to exercise the checksum path too).  A loaded MLP runs one forward pass. */
#include <zlib.h>

#include "fuzz_common.h"
#include "quant/nn_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size + 1);
    memcpy(buf, data, size);
    if (size >= 8 && data[0] != 'X') {
        uint32_t c = (uint32_t)crc32(0L, buf, (uInt)(size - 4));
        for (int i = 0; i < 4; i++) buf[size - 4 + i] = (uint8_t)(c >> (8 * i));
    }
    const char *p = fz_write("model.qnn", buf, size);
    free(buf);
    NnLoaded l;
    QErr err;
    if (nn_load(p, &l, &err) == 0) {
        if (l.kind == NN_FILE_FP32 || l.kind == NN_FILE_WEIGHT_ONLY) {
            NnWorkspace ws;
            nn_workspace_init(&ws, &l.model, 1);
            float *x = calloc((size_t)l.model.dims[0], sizeof(float));
            nn_model_forward(&l.model, &ws, x, 1, NULL, NULL, NULL);
            free(x);
            nn_workspace_free(&ws);
        } else if (l.kind == NN_FILE_INT8) {
            NnQWorkspace ws;
            nn_qworkspace_init(&ws, &l.qmodel, 1);
            float *x = calloc((size_t)l.qmodel.dims[0], sizeof(float));
            uint8_t pred;
            nn_qmodel_forward(&l.qmodel, &ws, x, 1, &pred, NULL);
            free(x);
            nn_qworkspace_free(&ws);
        }
        nn_loaded_free(&l);
    }
    return 0;
}
