/* fuzz_tokenizer_json.c — a Hugging Face tokenizer.json (BPE, GPT-2 byte-level or Llama).
 * Ids stay inside the vocabulary; the byte-level kind is lossless by construction (every
 * merge's result is the concatenation of its parts, every byte has a token), so for it
 * decode(encode(x)) == x is asserted. */
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fz_write("tokenizer.json", data, size);
    Tokenizer *t;
    QErr err;
    if (tokenizer_load_hf(&t, p, &err) == 0) {
        fz_check_tokenizer(t, strcmp(t->vt->kind, "gpt2-bpe") == 0);
        tokenizer_free(t);
    }
    return 0;
}
