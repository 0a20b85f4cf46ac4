/* tokenizer_bpe.h — internals shared by the Hugging Face BPE tokenizer's files:
 *   tokenizer_bpe.c     the BPE model (vocabulary, merges by rank) and the encode/decode pipeline
 *   tokenizer_json.c    tokenizer.json -> the pipeline below (what is not implemented is refused)
 *   tokenizer_pretok.c  the GPT-2 and Llama-3 pre-tokenizer regexes
 *   tokenizer_special.c BOS/EOS/UNK/PAD, add_bos and the stop tokens from the config files
 * The pipeline is Hugging Face tokenizers' order: added tokens split off, normalizer,
 * pre-tokenizer (words), BPE on each word. */
#ifndef QUANT_LLM_TOKENIZER_BPE_H
#define QUANT_LLM_TOKENIZER_BPE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "quant/tokenizer.h"

/* Open-addressing maps (string -> id, id pair -> merge). */
typedef struct StrMap {
    const char **key;
    int *len;
    int32_t *val;
    uint32_t cap;
} StrMap;
typedef struct PairMap {
    uint64_t *key;   /* (a << 32 | b) + 1; 0 = empty */
    int32_t *rank, *merged;
    uint32_t cap;
} PairMap;

enum { NORM_PREPEND = 0, NORM_REPLACE = 1 };
typedef struct NormStep {
    int kind;
    char *a, *b;     /* PREPEND: a; REPLACE: every a -> b */
} NormStep;

enum { PRE_BYTELEVEL = 0, PRE_SPLIT_GPT2 = 1, PRE_SPLIT_LLAMA3 = 2, PRE_METASPACE = 3 };
enum { PREPEND_NEVER = 0, PREPEND_ALWAYS = 1, PREPEND_FIRST = 2 };
typedef struct PreStep {
    int kind;
    int prefix_space;   /* ByteLevel add_prefix_space */
    int use_regex;      /* ByteLevel: split by GPT-2's regex first */
    char repl[8];       /* Metaspace replacement (UTF-8) */
    int prepend;        /* Metaspace PREPEND_* */
    int split;          /* Metaspace: cut before each replacement character */
} PreStep;

typedef struct AddedTok {
    char *s;
    int len;
    int32_t id;
    int special, normalized, lstrip, rstrip;
} AddedTok;

enum { BPE_MAX_STEPS = 8 };

typedef struct Bpe {
    char **tok;           /* [V] a string of each id (NUL-terminated; "" for holes) */
    int *toklen;          /* [V] */
    StrMap vocab;         /* every string -> id (several strings may share an id) */
    char **extra;         /* strings the map holds beyond tok[] (owned) */
    int nextra;
    PairMap merges;
    /* pipeline */
    NormStep norm[BPE_MAX_STEPS];
    int nnorm;
    PreStep pre[BPE_MAX_STEPS];
    int npre;
    AddedTok *added;
    int nadded;
    unsigned char *is_special;   /* [V] special added tokens (decode to nothing) */
    int byte_level;       /* a ByteLevel step: words are mapped to bytes_to_unicode characters */
    int byte_fallback;    /* unknown characters -> <0xXX> tokens when all exist */
    int32_t unk_id;       /* -1: unknown characters are dropped */
    int fuse_unk;         /* consecutive unknown characters -> one unk */
    int ignore_merges;    /* a word found whole in the vocabulary is not merged */
    int strip_first;      /* decode: the leading space the normalizer / Metaspace added */
    char meta[8];         /* decode: the character standing for ' ' ("" for byte-level) */
    int32_t byte_tok[256];     /* byte-level: token of each byte's character; else <0xXX> or -1 */
    uint32_t byte_to_cp[256];  /* GPT-2's bytes_to_unicode */
    int32_t cp_to_byte[324];   /* its inverse (code points < 324), -1 elsewhere */
    /* tokenizer.json parts tokenizer_special.c reads (the post-processor's leading special) */
    char *template_first;
} Bpe;

int32_t bpe_lookup(const Bpe *b, const char *s, int n);
/* tokenizer.json -> b's pipeline, after the vocabulary is loaded (tokenizer_json.c). */
int bpe_parse_pipeline(Tokenizer *t, Bpe *b, const cJSON *root, const char *path, QErr *err);
/* shared loading steps (tokenizer_bpe.c) */
int bpe_load_vocab(Tokenizer *t, Bpe *b, const cJSON *vocab, const cJSON *added, const char *path, QErr *err);
int bpe_add_merge(Bpe *b, const char *a, size_t la, const char *c, size_t lc, int32_t rank, const char *path, QErr *err);
void bpe_pairmap_init(PairMap *m, int n);
int bpe_finish(Tokenizer *t, Bpe *b, const char *path, QErr *err);

extern const char *const bpe_regex_gpt2;
extern const char *const bpe_regex_llama3;
size_t bpe_next_gpt2(const uint32_t *cp, size_t n, size_t i);
size_t bpe_next_llama3(const uint32_t *cp, size_t n, size_t i);

/* BOS/EOS/UNK/PAD, add_bos and stop ids from the files beside the tokenizer (tokenizer_special.c). */
int bpe_resolve_specials(Tokenizer *t, const Bpe *b, const char *dir, QErr *err);

#endif
