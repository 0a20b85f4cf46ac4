/* fuzz_vocab_merges.c — GPT-2's vocab.json, FZ_SEP, merges.txt, in one directory;
 * tokenizer_load_hf on it; ids inside the vocabulary, and decode(encode(x)) == x when the
 * vocabulary has every byte and gives every token its own id (a missing byte is dropped and a
 * shared id decodes to one of its strings, as in the reference library). */
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[2];
    size_t len[2];
    fz_split(data, size, part, len, 2);
    const char *d = fz_subdir("vm");
    fz_write("vm/vocab.json", part[0], len[0]);
    fz_write("vm/merges.txt", part[1], len[1]);
    Tokenizer *t;
    QErr err;
    if (tokenizer_load_hf(&t, d, &err) == 0) {
        cJSON *vocab = cJSON_ParseWithLength((const char *)part[0], len[0]);
        fz_check_tokenizer(t, fz_bytes_roundtrip(t) && fz_vocab_injective(vocab));
        cJSON_Delete(vocab);
        tokenizer_free(t);
    }
    return 0;
}
