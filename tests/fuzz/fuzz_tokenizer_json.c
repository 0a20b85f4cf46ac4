/* fuzz_tokenizer_json.c — a Hugging Face tokenizer.json (BPE, GPT-2 byte-level or Llama).
 * Ids stay inside the vocabulary.  A byte-level tokenizer with no normalizer and no added
 * tokens, whose vocabulary has every byte and one id per token, is lossless by construction (every merge's result
 * is the concatenation of its parts), so for it decode(encode(x)) == x is asserted; a
 * normalizer rewrites text, special added tokens decode to nothing, and a missing byte becomes
 * the unknown token, all as in the reference library. */
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fz_write("tokenizer.json", data, size);
    Tokenizer *t;
    QErr err;
    if (tokenizer_load_hf(&t, p, &err) == 0) {
        cJSON *root = cJSON_ParseWithLength((const char *)data, size);
        const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
        const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
        const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "vocab");
        int plain = (!norm || cJSON_IsNull(norm)) && (!added || cJSON_GetArraySize(added) == 0) && fz_vocab_injective(vocab);
        cJSON_Delete(root);
        fz_check_tokenizer(t, strcmp(t->vt->kind, "gpt2-bpe") == 0 && plain && fz_bytes_roundtrip(t));
        tokenizer_free(t);
    }
    return 0;
}
