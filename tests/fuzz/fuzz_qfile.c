/* fuzz_qfile.c — quant's own quantized LLM files (a safetensors file with quant-llm
 * metadata): llm_load_qfile, then a short forward pass. */
#include "fuzz_common.h"
#include "quant/llm_qfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fz_write("model.safetensors", data, size);
    (void)llm_qfile_detect(p);
    LlmModel m;
    QErr err;
    if (llm_load_qfile(&m, p, &err) == 0) {
        fz_forward(&m);
        llm_free(&m);
    }
    return 0;
}
