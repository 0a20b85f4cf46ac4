/* fuzz_llama2c.c — a llama2.c checkpoint: llm_load_llama2c, then a short forward pass. */
#include <math.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fz_write("model.bin", data, size);
    LlmModel m;
    QErr err;
    if (llm_load_llama2c(&m, p, &err) == 0) {
        if ((size_t)28 + 4 * (size_t)m.c.vocab_size * m.c.dim > size) fz_fail("embedding past the end of the file");
        fz_forward(&m);
        llm_free(&m);
    }
    return 0;
}
