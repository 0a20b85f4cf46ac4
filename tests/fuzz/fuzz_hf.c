/* fuzz_hf.c — a Hugging Face model directory: config.json, FZ_SEP, model.safetensors;
 * llm_load_hf, then a short forward pass.  Loaded weights are finite.  The same directory is
 * also quantized streamed (RTN W4 g32, embedding and head quantized: the path that reads rows
 * with pread straight from the file, src/llm/ptq/stream_rtn.c), which must fail cleanly or
 * write a file. */
#include <math.h>

#include "fuzz_common.h"
#include "quant/llm_stream.h"

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
    LlmWQuant s = {LLM_Q_RTN, 4, 32, 1, 0, 0.01, 0, 0, 0.001, 0, 0, 8, 32};
    LlmStreamResult r;
    char out[512];
    snprintf(out, sizeof out, "%s/rtn.safetensors", fz_dir());
    if (llm_quantize_stream(d, NULL, &s, 4, out, "fuzz", &r, &err) == 0) {
        FILE *f = fopen(out, "rb");
        if (!f) fz_fail("streamed RTN reported success but wrote no %s", out);
        fclose(f);
        remove(out);
        llm_stream_result_free(&r);
    }
    return 0;
}
