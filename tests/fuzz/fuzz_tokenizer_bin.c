/* fuzz_tokenizer_bin.c — a llama2.c tokenizer.bin.  The first two bytes give the model's
 * vocabulary size (1 + little-endian u16 % 4096), the rest is the file.  Encoded ids stay
 * inside the vocabulary (the byte fallback included). */
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int32_t vocab = 1 + (int32_t)((data[0] | data[1] << 8) % 4096);
    const char *p = fz_write("tokenizer.bin", data + 2, size - 2);
    Tokenizer *t;
    QErr err;
    if (tokenizer_load_llama2c(&t, p, vocab, &err) == 0) {
        if (t->vocab_size != vocab) fz_fail("vocab %d != %d", t->vocab_size, vocab);
        fz_check_tokenizer(t, 0);
        tokenizer_free(t);
    }
    return 0;
}
