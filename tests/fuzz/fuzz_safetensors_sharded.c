/* fuzz_safetensors_sharded.c — a sharded set: model.safetensors.index.json, then two shards
 * (model-00001-of-00002.safetensors, model-00002-of-00002.safetensors), separated by FZ_SEP;
 * st_open_dir and the same invariants as a single file, across shards. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[3];
    size_t len[3];
    fz_split(data, size, part, len, 3);
    const char *d = fz_subdir("sharded");
    fz_write("sharded/model.safetensors.index.json", part[0], len[0]);
    fz_write("sharded/model-00001-of-00002.safetensors", part[1], len[1]);
    fz_write("sharded/model-00002-of-00002.safetensors", part[2], len[2]);
    Safetensors st;
    QErr err;
    if (st_open_dir(&st, d, &err) == 0) {
        fz_check_safetensors(&st);
        st_close(&st);
    }
    return 0;
}
