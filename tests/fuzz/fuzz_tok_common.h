/* fuzz_tok_common.h — the tokenizer properties the tokenizer harnesses assert: every id
 * encode() returns is inside the vocabulary, decode() of any ids (also out-of-range ones)
 * stays in bounds, and, where the tokenizer is lossless, decode(encode(x)) == x. */
#ifndef QUANT_FUZZ_TOK_COMMON_H
#define QUANT_FUZZ_TOK_COMMON_H

#include "fuzz_common.h"
#include "quant/tokenizer.h"

#include <cjson/cJSON.h>

static inline void fz_check_text(const Tokenizer *t, const char *text, size_t n, int lossless) {
    int32_t *ids = NULL;
    int64_t k = 0;
    QErr err;
    if (tokenizer_encode(t, text, n, 1, &ids, &k, &err)) fz_fail("encode failed: %s", err.msg);
    for (int64_t i = 0; i < k; i++)
        if (ids[i] < 0 || ids[i] >= t->vocab_size)
            fz_fail("%s: token %lld is id %d, vocabulary %d", t->vt->kind, (long long)i, ids[i], t->vocab_size);
    size_t dl;
    char *back = tokenizer_decode(t, ids, k, &dl);
    if (lossless && (dl != n || memcmp(back, text, n) != 0))
        fz_fail("%s: decode(encode(x)) != x for %zu bytes (got %zu)", t->vt->kind, n, dl);
    free(back);
    free(ids);
}

/* 1 when every single byte survives encode + decode: the vocabulary covers all 256 bytes (a
 * byte-level alphabet, or byte fallback with all <0xXX> tokens).  A vocabulary that lacks some
 * maps them to the unknown token or drops them, as the reference library does, and is then
 * not lossless by design. */
static inline int fz_bytes_roundtrip(const Tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        int32_t *ids = NULL;
        int64_t k = 0;
        QErr err;
        if (tokenizer_encode(t, &c, 1, 1, &ids, &k, &err)) return 0;
        size_t dl;
        char *back = tokenizer_decode(t, ids, k, &dl);
        int ok = dl == 1 && back[0] == c;
        free(back);
        free(ids);
        if (!ok) return 0;
    }
    return 1;
}

/* 1 when the {token: id} object gives every token its own id: where two strings share an id,
 * decoding that id gives one of them, so the other cannot round-trip (by design). */
static inline int fz_vocab_injective(const struct cJSON *vocab) {
    int n = cJSON_GetArraySize(vocab), ok = 1;
    unsigned char *seen = calloc((size_t)n + 1, 1);
    for (const cJSON *e = vocab ? vocab->child : NULL; e && ok; e = e->next) {
        double id = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (id < 0 || id > n || seen[(int)id]) ok = 0;
        else seen[(int)id] = 1;
    }
    free(seen);
    return ok;
}

/* Texts the harnesses of tokenizer files encode. */
static const char *const fz_texts[] = {
    "Hello world, it's 3 o'clock!",
    "  two  spaces\tand\nnewlines \n\n",
    "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x8e\x89 caf\xc3\xa9",
    "\xff\xfe\x01 broken \xc3 utf8 \xe2\x98",
    "",
};

static inline void fz_check_tokenizer(const Tokenizer *t, int lossless) {
    for (size_t i = 0; i < sizeof fz_texts / sizeof *fz_texts; i++)
        fz_check_text(t, fz_texts[i], strlen(fz_texts[i]), lossless);
    /* decode of ids the tokenizer never produced: negative, past the end, special */
    int32_t odd[6] = {-1, t->vocab_size, t->vocab_size - 1, 0, t->bos_id, t->eos_id};
    size_t dl;
    free(tokenizer_decode(t, odd, 6, &dl));
    /* the GGUF description an export writes (or its refusal): every array inside the vocabulary */
    TokenizerVocab v;
    QErr err;
    if (tokenizer_vocab_get(t, &v, &err) == 0) {
        for (int32_t i = 0; i < v.n; i++)
            if (!v.tok[i] || v.len[i] < 0 || v.type[i] < 1 || v.type[i] > 6) abort();
        for (int64_t i = 0; i < v.n_merges; i++)
            if (!v.merges[i]) abort();
        tokenizer_vocab_free(&v);
    }
}

#endif
