/* tokenizer.h — text <-> token ids for the language models.
 *
 * One interface, several implementations behind a small table of functions:
 *   llama2.c tokenizer.bin (SentencePiece-style BPE by merge scores, byte fallback)
 *   Hugging Face BPE      (tokenizer.json run as the tokenizers library runs it: added
 *                          tokens, normalizer, pre-tokenizer, BPE; or GPT-2's vocab.json +
 *                          merges.txt); kind "gpt2-bpe" when byte-level, else "llama-bpe"
 * encode() never fails on valid UTF-8 or arbitrary bytes: characters outside the vocabulary
 * go through byte fallback (or the byte-level alphabet), else become the unknown token, as the
 * reference library does. */
#ifndef QUANT_TOKENIZER_H
#define QUANT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "quant/core.h"

typedef struct Tokenizer Tokenizer;

/* A vocabulary in the terms of GGUF's tokenizer.ggml.* keys: what the GGUF writer stores and
 * what a tokenizer is rebuilt from when a GGUF file is read. */
typedef struct TokenizerVocab {
    const char *model;   /* "llama" (SentencePiece-style: pieces with U+2581 for spaces, scores,
                            byte fallback <0xXX>) or "gpt2" (byte-level BPE: tokens + merges) */
    int32_t n;           /* tokens */
    char **tok;          /* [n] token texts (not NUL-safe: use len) */
    int *len;            /* [n] */
    float *score;        /* [n] merge priority (llama) */
    int32_t *type;       /* [n] 1 normal, 2 unknown, 3 control, 6 byte */
    int64_t n_merges;
    char **merges;       /* [n_merges] "a b" in rank order (gpt2) */
    int32_t bos, eos, unk;  /* -1 if none */
    int add_bos;
    int no_space_prefix; /* llama: no space is put before the text (tokenizer.ggml.add_space_prefix false) */
    const char *pre;     /* gpt2: llama.cpp's pre-tokenizer name (tokenizer.ggml.pre); NULL: "gpt-2" */
} TokenizerVocab;
enum { TOKEN_TYPE_NORMAL = 1, TOKEN_TYPE_UNKNOWN = 2, TOKEN_TYPE_CONTROL = 3, TOKEN_TYPE_USER_DEFINED = 4,
       TOKEN_TYPE_UNUSED = 5, TOKEN_TYPE_BYTE = 6 };

/* Implementation table (src/llm/tokenizer_*.c fill it; callers use the functions below). */
typedef struct TokenizerVtbl {
    const char *kind;   /* "llama2c" | "gpt2-bpe" | "llama-bpe" */
    /* Appends the ids of text[0, len) to *ids (capacity *cap, grown with xrealloc). */
    int (*encode)(const Tokenizer *t, const char *text, size_t len, int32_t **ids, int64_t *n,
                  int64_t *cap, QErr *err);
    /* Bytes that token `id` adds to the text when it follows `prev` (-1 at the start);
     * writes at most cap bytes, returns the count.  Concatenating pieces gives decode(). */
    size_t (*piece)(const Tokenizer *t, int32_t prev, int32_t id, char *buf, size_t cap);
    void (*free)(Tokenizer *t);
    /* The id of the token spelled s[0, n) or -1 (NULL: not available). */
    int32_t (*lookup)(const Tokenizer *t, const char *s, size_t n);
    /* The vocabulary as GGUF describes it (tokenizer_vocab_get); NULL: not exportable. */
    int (*vocab)(const Tokenizer *t, struct TokenizerVocab *v, QErr *err);
} TokenizerVtbl;

enum { TOKENIZER_MAX_STOPS = 8 };

struct Tokenizer {
    const TokenizerVtbl *vt;
    int32_t vocab_size;
    int32_t bos_id, eos_id;   /* -1 when the vocabulary has none */
    int32_t unk_id, pad_id;   /* -1 when none (Hugging Face: from the config files) */
    int add_bos;              /* whether the model family expects BOS at the start of a text */
    /* Generation stops at these (generation_config.json / config.json eos_token_id, else EOS). */
    int32_t stop_ids[TOKENIZER_MAX_STOPS];
    int n_stop;
    void *impl;               /* implementation data */
};

/* llama2.c tokenizer.bin for a model with vocab_size tokens. */
int tokenizer_load_llama2c(Tokenizer **t, const char *path, int32_t vocab_size, QErr *err);
/* Hugging Face: a directory holding tokenizer.json (or vocab.json + merges.txt), or the
 * path of a tokenizer.json file.  The kind (GPT-2 byte-level or Llama) is read from it. */
int tokenizer_load_hf(Tokenizer **t, const char *path, QErr *err);
/* Hugging Face special tokens, as transformers resolves them, from the files in dir:
 * the strings bos/eos/unk/pad_token from tokenizer_config.json, overridden by
 * special_tokens_map.json when the config has no added_tokens_decoder (transformers' legacy
 * path), else the tokenizer class's defaults; add_bos from
 * tokenizer_config.json add_bos_token, else the post-processor's template; the stop ids from
 * generation_config.json eos_token_id, else config.json's, else EOS.  tokenizer_load_hf calls
 * it on the tokenizer's directory; call it again with the model's directory when the
 * tokenizer lives elsewhere (only the model's files then change the stop ids). */
int tokenizer_hf_model_stops(Tokenizer *t, const char *model_dir, QErr *err);
/* Whether generation ends at id. */
int tokenizer_is_stop(const Tokenizer *t, int32_t id);
void tokenizer_free(Tokenizer *t);

/* The tokenizer's vocabulary (llama2.c and GPT-2 byte-level tokenizers); -1 + err for kinds
 * that cannot be described this way.  tokenizer_vocab_free releases what get allocated. */
int  tokenizer_vocab_get(const Tokenizer *t, TokenizerVocab *v, QErr *err);
void tokenizer_vocab_free(TokenizerVocab *v);
/* A tokenizer from a vocabulary (a GGUF file's metadata); path names it in errors. */
int  tokenizer_from_vocab(Tokenizer **t, const TokenizerVocab *v, const char *path, QErr *err);
/* The two constructors behind it (tokenizer_llama2c.c, tokenizer_bpe.c). */
int  tokenizer_llama2c_from_vocab(Tokenizer **t, const TokenizerVocab *v, const char *path, QErr *err);
int  tokenizer_bpe_from_vocab(Tokenizer **t, const TokenizerVocab *v, const char *path, QErr *err);

/* ids (malloc'ed, caller frees) of text; BOS first when add_bos and the vocabulary has one. */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_bos, int32_t **ids,
                     int64_t *n, QErr *err);
/* The text of ids (malloc'ed, NUL-terminated); BOS/EOS contribute nothing. */
char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, int64_t n, size_t *len);
size_t tokenizer_piece(const Tokenizer *t, int32_t prev, int32_t id, char *buf, size_t cap);

#endif
