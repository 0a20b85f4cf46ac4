/* fuzz_hf.c — a Hugging Face model directory: config.json, FZ_SEP, model.safetensors;
 * llm_load_hf, then a short forward pass.  Loaded weights are finite. */
#include <math.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[2];
    size_t len[2];
    fz_split(data, size, part, len, 2);
    const char *d = fz_subdir("hf");
    fz_write("hf/config.json", part[0], len[0]);
    fz_write("hf/model.safetensors", part[1], len[1]);
    LlmModel m;
    QErr err;
    if (llm_load_hf(&m, d, &err) == 0) {
        int64_t n = (int64_t)m.c.vocab_size * m.c.dim;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(m.tok_emb[i])) fz_fail("non-finite embedding %lld accepted", (long long)i);
        fz_forward(&m);
        llm_free(&m);
    }
    return 0;
}
