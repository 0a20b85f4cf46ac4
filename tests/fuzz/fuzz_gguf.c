/* fuzz_gguf.c — libFuzzer target for the GGUF reader, the model loader and the tokenizer
 * loader (src/llm/io): the bytes become a file, which every loader must either accept or
 * reject with an error — never crash, hang or read outside the file.  Nothing runs on a
 * loaded model (the forward pass is not under test). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "quant/llm_gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_gguf_%d.gguf", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    QErr err;
    Gguf g;
    if (gguf_open(&g, path, &err) == 0) gguf_close(&g);
    LlmModel m;
    int quantized;
    if (llm_load_gguf(&m, path, &quantized, &err) == 0) llm_free(&m);
    Tokenizer *t;
    if (tokenizer_load_gguf(&t, path, &err) == 0) tokenizer_free(t);
    unlink(path);
    return 0;
}
