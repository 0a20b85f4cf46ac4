/* tokenizer_hf_weak.c — a weak stand-in for tokenizer_load_hf() so the program links before
 * the Hugging Face tokenizers (src/llm/tokenizer_bpe*.c) land; their strong definition wins
 * (archive members are sorted, tokenizer_bpe* come first).  Delete once they are merged. */
#include "quant/tokenizer.h"

__attribute__((weak)) int tokenizer_load_hf(Tokenizer **t, const char *path, QErr *err) {
    *t = NULL;
    return qerr_set(err, "%s: Hugging Face tokenizers are not built into this version", path);
}
